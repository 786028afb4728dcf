"""The finite-prediction check, artifact-free: counts on the data, probes, report and verdict.

Works on plain values (a SavedModel folder, TFRecord patterns, serialized tf.Examples or Arrow
tables, feature profiles), so it is tested and reused without a TFX pipeline. Two ways in, one
report: :func:`check_model` counts with a Beam pipeline (TFRecord splits: the TFX executor, or
``check-model --beam-arg``); :func:`check_tables` counts in this process (a local CSV read into
Arrow: ``nanguard check-model``) and imports no Beam. The counting conventions are in
``counts.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from absl import logging

from nanguard.components import probes as probes_lib
from nanguard.components import violations as violations_lib
from nanguard.components.gate import counts, local_counts, probe_runs
from nanguard.components.gate.config import GateConfig
from nanguard.components.gate.evaluation import EVALUATOR, NON_FINITE_ADVICE
from nanguard.components.gate.signature import ModelSignature, data_signature_name
from nanguard.components.profiles import FeatureProfile
from nanguard.components.violations import Violation

GATE = "FinitePredictionGate"
_UPSTREAM = "the Evaluator did not bless the model: "


def check_model(
    model_dir: str,
    sources: Mapping[str, str | Sequence[bytes]],
    config: GateConfig | None = None,
    profiles: Sequence[FeatureProfile] | None = None,
    upstream_blessed: bool | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
    work_dir: str | None = None,
    upstream_reasons: Sequence[str] = (),
    upstream_violations: Sequence[Violation] = (),
) -> dict[str, Any]:
    """Checks that a model's predictions are finite on data and on hostile probes.

    Args:
        model_dir: SavedModel directory.
        sources: Split -> TFRecord file pattern or sequence of serialized tf.Examples.
        config: The gate's settings (validated by ``GateConfig.from_dict``; None: the
            defaults). ``signature_name``, ``batch_size``, ``probe_families``,
            ``max_offending`` and ``block_on_probe_error`` are used here.
        profiles: Feature profiles to build probes from (see :mod:`.profiles`); None or empty
            runs no probe.
        upstream_blessed: Verdict of an upstream blessing (e.g. the Evaluator's); False blocks.
        beam_pipeline_args: Beam pipeline arguments.
        work_dir: A folder all Beam workers can write and this process can read (the output
            artifact's URI); the counts pass through a scratch folder inside it, removed
            afterwards. None: a local temporary folder (DirectRunner only), removed afterwards.
        upstream_reasons: Why the upstream blessing is negative (e.g.
            ``evaluation.failure_reasons``), named in the report's reasons; empty: unknown.
        upstream_violations: The same as records (``evaluation.violations``: the Evaluator's
            failed thresholds, with the key and value that would pass); they win over
            ``upstream_reasons``.

    Returns:
        The report: ``examples``, ``non_finite``, ``nan``, ``pos_inf``, ``neg_inf``,
        ``probes_failed`` (names of failed probes), ``blessed`` (bool), plus ``outputs``
        (per-output counts), ``splits`` (per-split counts), ``offending_examples``,
        ``probes_run``, ``probe_failures`` (the failed probes' requests, outputs or errors),
        ``probe_errors_ignored``, ``probes_rejected`` (probes the signature refused, e.g. a
        number sent as bytes: not failures), ``violations`` (why it is not blessed, as
        ``Violation.to_dict()`` records), ``reasons`` (their ``line()``s). The model is
        blessed only if no prediction on the data is NaN/+Inf/-Inf, no probe failed, the data
        was not empty and the upstream blessing (if any) is blessed.
    """
    from nanguard.components.gate import beam_counts  # Beam only on this path

    config = config or GateConfig()
    split_counts = beam_counts.count_predictions(
        model_dir,
        sources,
        signature_name=data_signature_name(model_dir, config.signature_name),
        batch_size=config.batch_size,
        max_offending=config.max_offending,
        beam_pipeline_args=beam_pipeline_args,
        work_dir=work_dir,
    )
    signature = None
    if profiles and config.probe_families:
        signature = ModelSignature(model_dir, config.signature_name)
    return report_from_counts(
        model_dir,
        split_counts,
        signature,
        config,
        profiles,
        upstream_blessed,
        upstream_reasons,
        upstream_violations,
    )


def check_tables(
    model_dir: str,
    tables: Mapping[str, pa.Table],
    config: GateConfig | None = None,
    profiles: Sequence[FeatureProfile] | None = None,
    upstream_blessed: bool | None = None,
    signature: ModelSignature | None = None,
) -> dict[str, Any]:
    """:func:`check_model` on Arrow tables, in this process: no Beam pipeline.

    The SavedModel is loaded once; each table is sent through it in batches of
    ``config.batch_size`` rows (see ``local_counts.count_table``: nulls are features without
    value, NaN and Inf float values), then the probes go through the same loaded signature.

    Args:
        model_dir: SavedModel directory.
        tables: Split -> raw rows (one scalar column per feature, e.g. ``inputs.read_csv``).
        config, profiles, upstream_blessed: As for :func:`check_model`.
        signature: The model's signature if already loaded (None: loaded here).

    Returns:
        The report of :func:`check_model`, with the same counts for the same rows.

    Raises:
        ValueError: no SavedModel or no such signature (from ``ModelSignature``); whatever the
            signature raises on a batch of the data (e.g. a string where it parses a float).
    """
    config = config or GateConfig()
    signature = signature or ModelSignature(model_dir, config.signature_name)
    data_signature = signature.for_data()
    split_counts = {
        split: local_counts.count_table(
            data_signature,
            table,
            batch_size=config.batch_size,
            max_offending=config.max_offending,
            split=split,
        )
        for split, table in tables.items()
    }
    return report_from_counts(
        model_dir, split_counts, signature, config, profiles, upstream_blessed
    )


def report_from_counts(
    model_dir: str,
    split_counts: Mapping[str, Mapping[str, Any]],
    signature: ModelSignature | None,
    config: GateConfig,
    profiles: Sequence[FeatureProfile] | None,
    upstream_blessed: bool | None,
    upstream_reasons: Sequence[str] = (),
    upstream_violations: Sequence[Violation] = (),
) -> dict[str, Any]:
    """The report and verdict from per-split counts; runs the probes through ``signature``.

    Args:
        model_dir: SavedModel directory (named in the log).
        split_counts: Split -> count accumulator (``counts.batch_counts`` merged).
        signature: The loaded signature the probes go through (needed only when ``profiles``
            and ``config.probe_families`` ask for probes).
        config, profiles, upstream_blessed, upstream_reasons, upstream_violations: As for
            :func:`check_model`.
    """
    report = counts.totals(split_counts)
    report["splits"] = {
        split: {k: v for k, v in acc.items() if k != "offending"}
        for split, acc in split_counts.items()
    }
    report["offending_examples"] = [ex for acc in split_counts.values() for ex in acc["offending"]]

    probe_results: list[dict[str, Any]] = []
    if profiles and config.probe_families:
        probe_list = probes_lib.build_probes(profiles, families=config.probe_families)
        probe_results = probe_runs.run_probes(signature, probe_list)
    block_on_error = config.block_on_probe_error
    failed = [
        r
        for r in probe_results
        if r["status"] == "non_finite" or (block_on_error and r["status"] == "error")
    ]
    report["probes_run"] = len(probe_results)
    report["probes_failed"] = [r["probe"] for r in failed]
    report["probe_failures"] = failed
    report["probe_errors_ignored"] = [
        r for r in probe_results if r["status"] == "error" and not block_on_error
    ]
    # A number sent as bytes that the signature refuses: the right answer, not a failure.
    report["probes_rejected"] = [r["probe"] for r in probe_results if r["status"] == "rejected"]
    found = verdict_violations(
        report, sorted(split_counts), upstream_blessed, upstream_reasons, upstream_violations
    )
    report["violations"] = [v.to_dict() for v in found]
    report["reasons"] = violations_lib.lines(found)
    report["blessed"] = not found
    if report["reasons"]:
        logging.warning("Model %s NOT blessed: %s", model_dir, "; ".join(report["reasons"]))
    else:
        logging.info(
            "Model %s blessed: %s examples and %s probes, all predictions finite.",
            model_dir,
            report["examples"],
            report["probes_run"],
        )
    return report


def verdict_violations(
    report: Mapping[str, Any],
    splits: Sequence[str],
    upstream_blessed: bool | None,
    upstream_reasons: Sequence[str] = (),
    upstream_violations: Sequence[Violation] = (),
) -> list[Violation]:
    """Why a model is not blessed, as `Violation`s (empty: blessed): no examples (reason
    `data`), a non-finite prediction on the data (NaN, +Inf or -Inf in any floating-point
    output) or a failed probe (reason `non_finite`), or an upstream blessing that is not
    blessed: `upstream_violations` as they are (the Evaluator's, reason `quality` or
    `non_finite`), else one per `upstream_reasons` ("the Evaluator did not bless the model:
    <reason>", reason `quality`)."""
    found = []
    if report["examples"] == 0:
        found.append(
            Violation(
                GATE,
                "empty",
                "data",
                f"no examples were read from splits {list(splits)}",
                key="gate.splits",
                advice="point the gate at splits that hold rows",
            )
        )
    if report["non_finite"]:
        bad_outputs = sorted(
            name
            for name, c in report["outputs"].items()
            if c["nan"] or c["pos_inf"] or c["neg_inf"]
        )
        found.append(
            Violation(
                GATE,
                "non_finite_prediction",
                "non_finite",
                f"{report['non_finite']} of {report['examples']} examples got non-finite "
                f"predictions (nan={report['nan']}, +inf={report['pos_inf']}, "
                f"-inf={report['neg_inf']}) in outputs {bad_outputs}",
                feature=", ".join(bad_outputs),
                split=", ".join(splits),
                observed=report["non_finite"],
                limit=0,
                advice=NON_FINITE_ADVICE,
                details={k: report[k] for k in ("nan", "pos_inf", "neg_inf", "examples")},
            )
        )
    failed = report["probe_failures"]
    if failed:
        found.append(
            Violation(
                GATE,
                "probe",
                "non_finite",
                f"{len(failed)} probe(s) failed: "
                + ", ".join(f"{r['probe']} ({r['status']})" for r in failed[:10]),
                observed=len(failed),
                limit=0,
                key="gate.block_on_probe_error"
                if all(r["status"] == "error" for r in failed)
                else "",
                passing_value=False if all(r["status"] == "error" for r in failed) else None,
                advice=NON_FINITE_ADVICE,
                details={"probes": [r["probe"] for r in failed]},
            )
        )
    if upstream_blessed is False:
        if upstream_violations:
            found += list(upstream_violations)
        elif upstream_reasons:
            found += [
                Violation(EVALUATOR, "threshold", "quality", f"{_UPSTREAM}{r}")
                for r in upstream_reasons
            ]
        else:
            found.append(
                Violation(
                    EVALUATOR, "threshold", "quality", "the upstream model_blessing is not blessed"
                )
            )
    return found


def verdict_reasons(
    report: Mapping[str, Any],
    splits: Sequence[str],
    upstream_blessed: bool | None,
    upstream_reasons: Sequence[str] = (),
) -> list[str]:
    """`verdict_violations` as lines (`Violation.line()`): message, key and advice."""
    return violations_lib.lines(
        verdict_violations(report, splits, upstream_blessed, upstream_reasons)
    )


def block_message(report: Mapping[str, Any]) -> str:
    """Human-readable reason a report is not blessed, naming outputs and probes."""
    return "Finite-prediction gate blocked the model: " + "; ".join(report["reasons"])
