"""Fuzzing the input layer (issue #11, item 5): 300 seeded random CSVs through `nanguard scan
--json` (in-process) and the staging of `nanguard run` (`read_csv` + `write_staged`).

Every case must end in exit 0, 2 or 3 (staging: a table or InputError), never another
exception; exit 2 exactly for the files Python's csv module calls invalid (an empty or
repeated header name, a ragged row) or that hold strings in a mostly numeric column; for the rest
the per-column missing/NaN/+Inf/-Inf counts equal an independent count (csv + float(), float32
as tf.Example stores it), and staging writes every cell as read, missing tokens as empty cells.
The generator and the reference are in tests/pipelines/faults_data.py; `benchmarks/fuzz.py`
runs 10,000 cases.
"""

import pytest

from tests.pipelines import faults_data

CASES = 300
SEED = 11_000  # the seeds are SEED .. SEED + CASES - 1


@pytest.fixture
def fast_arrow_reads(monkeypatch):
    """pyarrow on Python 3.10 walks `gc.get_referrers` on every `read_csv` (a workaround for
    bpo-42248), ~0.15 s in a process holding TensorFlow; a no-op here changes no result."""
    import pyarrow.lib

    monkeypatch.setattr(pyarrow.lib, "_break_traceback_cycle_from_frame", lambda frame: None)


def test_random_csvs_end_in_0_2_or_3_and_count_like_python(tmp_path, fast_arrow_reads):
    failures = faults_data.run_cases(range(SEED, SEED + CASES), str(tmp_path))
    assert not failures, "\n".join(f"seed {s}: {p}" for s, p in failures.items())


def test_the_generator_covers_what_it_claims():
    """The 300 cases hold every kind of file the fuzzer is meant to produce."""
    kinds = {"bom": 0, "not_utf8": 0, "ragged": 0, "bad_header": 0, "empty": 0, "no_rows": 0}
    kinds |= {"quoted_newline": 0, "nan_or_inf": 0, "ok": 0}
    for seed in range(SEED, SEED + CASES):
        data = faults_data.random_csv(seed)
        kinds["bom"] += data.startswith(b"\xef\xbb\xbf")
        kinds["quoted_newline"] += b'\n"' in data or b'\nbreak"' in data
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            kinds["not_utf8"] += 1  # read as cp1252 / latin-1, as a spreadsheet's export
        try:
            header, rows, counts = faults_data.reference(data)
        except faults_data.Rejected as e:
            reason = str(e)
            kinds["ragged"] += reason == "ragged row"
            kinds["bad_header"] += "header" in reason
            kinds["empty"] += reason == "empty file"
            continue
        kinds["ok"] += 1
        kinds["no_rows"] += not rows
        kinds["nan_or_inf"] += any(c["nan"] + c["pos_inf"] + c["neg_inf"] for c in counts.values())
    assert all(kinds.values()), kinds
    assert kinds["ok"] > CASES // 2, kinds
