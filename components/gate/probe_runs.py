"""Running the hostile probes (`components/probes.py` builds them) through a signature and
classifying each answer: finite, non-finite, an error, or rightly rejected."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from nanguard.components import vocab
from nanguard.components.gate.records import example_to_dict
from nanguard.components.probes import NONFINITE_FAMILIES, REJECTABLE_FAMILIES, Probe
from nanguard.components.served_flags import REJECT_MESSAGE


def _probe_result(probe: Probe, status: str, outputs=None, error: str | None = None) -> dict:
    result = {
        "probe": probe.name,
        "family": probe.family,
        "feature": probe.feature,
        "status": status,
        "request": example_to_dict(probe.example.SerializeToString()),
    }
    if outputs is not None:
        result["outputs"] = vocab.jsonable(outputs)
        result["non_finite_outputs"] = sorted(
            name
            for name, value in outputs.items()
            if np.issubdtype(np.asarray(value).dtype, np.floating)
            and not np.all(np.isfinite(value))
        )
    if error is not None:
        result["error"] = error
    return result


def _predict_rows(
    predict: Callable[[Sequence[bytes]], Mapping[str, np.ndarray]], serialized: Sequence[bytes]
) -> list[dict[str, np.ndarray] | Exception]:
    """One batch; if it raises, each record alone, so that the failing ones are named."""
    if not serialized:
        return []
    try:
        outputs = predict(serialized)
        return [{k: np.asarray(v)[i] for k, v in outputs.items()} for i in range(len(serialized))]
    except Exception:  # noqa: BLE001 -- re-run one by one to name the failing probe
        per_row: list[dict[str, np.ndarray] | Exception] = []
        for record in serialized:
            try:
                single = predict([record])
                per_row.append({k: np.asarray(v)[0] for k, v in single.items()})
            except Exception as e:  # noqa: BLE001
                per_row.append(e)
        return per_row


def run_probes(
    predict: Callable[[Sequence[bytes]], Mapping[str, np.ndarray]], probes: Sequence[Probe]
) -> list[dict[str, Any]]:
    """Runs every probe through ``predict`` and classifies the answers.

    The probes go in one batch (the rejectable ones, which a typed signature raises on, in a
    batch of their own); if a batch raises, each of its probes is re-run alone so that the
    failing ones are named.

    Args:
        predict: Callable taking a batch of serialized tf.Examples and returning output arrays
            (e.g. ``signature.ModelSignature``).
        probes: The probes.

    Returns:
        One dict per probe, in the order given: ``probe``, ``family``, ``feature``, ``status``
        (``'ok'``; ``'non_finite'`` when any output value is NaN/+Inf/-Inf; ``'rejected'``
        when the signature raised on a probe of ``REJECTABLE_FAMILIES``, the right answer to
        a number sent as bytes, or refused a NaN/Inf probe with nanguard's ``reject`` policy
        error, ``served_flags.REJECT_MESSAGE``; ``'error'`` when it raised on any other
        probe), ``request``,
        ``outputs``/``non_finite_outputs`` or ``error``.
    """
    if not probes:
        return []
    lone = [i for i, p in enumerate(probes) if p.family in REJECTABLE_FAMILIES]
    together = [i for i, p in enumerate(probes) if p.family not in REJECTABLE_FAMILIES]
    serialized = [p.example.SerializeToString() for p in probes]
    per_probe: dict[int, dict[str, np.ndarray] | Exception] = dict(
        zip(together, _predict_rows(predict, [serialized[i] for i in together]), strict=True)
    )
    per_probe.update(zip(lone, _predict_rows(predict, [serialized[i] for i in lone]), strict=True))
    results = []
    for i, probe in enumerate(probes):
        out = per_probe[i]
        if isinstance(out, Exception):
            message = f"{type(out).__name__}: {str(out).splitlines()[0] if str(out) else ''}"
            refused = probe.family in NONFINITE_FAMILIES and REJECT_MESSAGE in str(out)
            status = "rejected" if probe.family in REJECTABLE_FAMILIES or refused else "error"
            results.append(_probe_result(probe, status, error=message[:500]))
            continue
        finite = all(
            np.all(np.isfinite(v))
            for v in out.values()
            if np.issubdtype(np.asarray(v).dtype, np.floating)
        )
        results.append(_probe_result(probe, "ok" if finite else "non_finite", outputs=out))
    bad = [r["probe"] for r in results if r["status"] in ("non_finite", "error")]
    if bad:
        logging.warning("Probes failed: %s", bad)
    rejected = [r["probe"] for r in results if r["status"] == "rejected"]
    if rejected:
        logging.info("Probes rejected by the signature (as they should be): %s", rejected)
    return results
