"""The finite-prediction check, artifact-free: counts on the data, probes, report and verdict.

Works on plain values (a SavedModel folder, TFRecord patterns or serialized tf.Examples, feature
profiles), so it is tested and reused without a TFX pipeline: the executor and ``check-model``
are thin wrappers around :func:`check_model`. The counting conventions are in ``counts.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from absl import logging

from nanguard.components.gate import beam_counts, counts
from nanguard.components.gate import probes as probes_lib
from nanguard.components.gate.config import GateConfig
from nanguard.components.gate.profiles import FeatureProfile
from nanguard.components.gate.signature import ModelSignature


def check_model(
    model_dir: str,
    sources: Mapping[str, str | Sequence[bytes]],
    config: GateConfig | None = None,
    profiles: Sequence[FeatureProfile] | None = None,
    upstream_blessed: bool | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
    work_dir: str | None = None,
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

    Returns:
        The report: ``examples``, ``non_finite``, ``nan``, ``pos_inf``, ``neg_inf``,
        ``probes_failed`` (names of failed probes), ``blessed`` (bool), plus ``outputs``
        (per-output counts), ``splits`` (per-split counts), ``offending_examples``,
        ``probes_run``, ``probe_failures`` (the failed probes' requests, outputs or errors),
        ``probe_errors_ignored``, ``reasons`` (why it is not blessed). The model is blessed
        only if no prediction on the data is NaN/+Inf/-Inf, no probe failed, the data was not
        empty and the upstream blessing (if any) is blessed.
    """
    config = config or GateConfig()
    split_counts = beam_counts.count_predictions(
        model_dir,
        sources,
        signature_name=config.signature_name,
        batch_size=config.batch_size,
        max_offending=config.max_offending,
        beam_pipeline_args=beam_pipeline_args,
        work_dir=work_dir,
    )
    report = counts.totals(split_counts)
    report["splits"] = {
        split: {k: v for k, v in acc.items() if k != "offending"}
        for split, acc in split_counts.items()
    }
    report["offending_examples"] = [ex for acc in split_counts.values() for ex in acc["offending"]]

    probe_results: list[dict[str, Any]] = []
    if profiles and config.probe_families:
        probe_list = probes_lib.build_probes(profiles, families=config.probe_families)
        signature = ModelSignature(model_dir, config.signature_name)
        probe_results = probes_lib.run_probes(signature, probe_list)
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
    report["reasons"] = verdict_reasons(report, sorted(sources), upstream_blessed)
    report["blessed"] = not report["reasons"]
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


def verdict_reasons(
    report: Mapping[str, Any], splits: Sequence[str], upstream_blessed: bool | None
) -> list[str]:
    """Why a model is not blessed (empty: blessed): no examples, a non-finite prediction on the
    data (NaN, +Inf or -Inf in any floating-point output), a failed probe, or an upstream
    blessing that is not blessed."""
    reasons = []
    if report["examples"] == 0:
        reasons.append(f"no examples were read from splits {list(splits)}")
    if report["non_finite"]:
        bad_outputs = sorted(
            name
            for name, c in report["outputs"].items()
            if c["nan"] or c["pos_inf"] or c["neg_inf"]
        )
        reasons.append(
            f"{report['non_finite']} of {report['examples']} examples got non-finite predictions "
            f"(nan={report['nan']}, +inf={report['pos_inf']}, -inf={report['neg_inf']}) "
            f"in outputs {bad_outputs}"
        )
    failed = report["probe_failures"]
    if failed:
        reasons.append(
            f"{len(failed)} probe(s) failed: "
            + ", ".join(f"{r['probe']} ({r['status']})" for r in failed[:10])
        )
    if upstream_blessed is False:
        reasons.append("the upstream model_blessing is not blessed")
    return reasons


def block_message(report: Mapping[str, Any]) -> str:
    """Human-readable reason a report is not blessed, naming outputs and probes."""
    return "Finite-prediction gate blocked the model: " + "; ".join(report["reasons"])
