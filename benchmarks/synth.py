"""A seeded generator of synthetic CSV tables with controllable gaps, NaN, +/-Inf and huge values.

    python benchmarks/synth.py --rows 100000 --out /tmp/t   # writes /tmp/t/data.csv

Numeric features alternate between normal and skewed (log-normal) distributions; categorical
features draw from a few strings; the label `label` (3 classes) depends on two numeric features,
so a model can learn it. Rates are per cell. Vectorised with numpy and written with pyarrow.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclasses.dataclass(frozen=True)
class Rates:
    missing: float = 0.05
    nan: float = 0.01
    pos_inf: float = 0.001
    neg_inf: float = 0.001
    huge: float = 0.0005  # finite values whose square overflows float32


def make_table(
    rows: int, numeric: int = 8, categorical: int = 2, rates: Rates = Rates(), seed: int = 0
) -> pa.Table:
    """The table as strings (CSV cells): '' is missing, 'nan'/'inf'/'-inf' are float tokens."""
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {}
    base = rng.normal(size=(rows, 2))
    for i in range(numeric):
        if i < 2:
            values = base[:, i] * 10 + 50
        elif i % 2:
            values = rng.lognormal(mean=3.0, sigma=1.0, size=rows)  # skewed
        else:
            values = rng.normal(loc=100.0, scale=15.0, size=rows)
        kind = rng.choice(5, size=rows, p=_probabilities(rates))
        values = np.where(kind == 4, 1e30, values)  # huge
        text = pc.cast(pa.array(np.round(values, 4)), pa.string())
        text = pc.if_else(pa.array(kind == 1), "nan", text)
        text = pc.if_else(pa.array(kind == 2), "inf", text)
        text = pc.if_else(pa.array(kind == 3), "-inf", text)
        text = pc.if_else(pa.array(rng.random(rows) < rates.missing), "", text)
        columns[f"num_{i}"] = text
    for i in range(categorical):
        values = rng.choice(np.array(["red", "green", "blue", "amber"]), size=rows)
        text = pa.array(values)
        columns[f"cat_{i}"] = pc.if_else(pa.array(rng.random(rows) < rates.missing), "", text)
    score = base[:, 0] + 0.5 * base[:, 1] + rng.normal(scale=0.3, size=rows)
    columns["label"] = pa.array(np.select([score < -0.5, score < 0.5], ["a", "b"], "c"))
    return pa.table(columns)


def _probabilities(rates: Rates) -> list[float]:
    special = [rates.nan, rates.pos_inf, rates.neg_inf, rates.huge]
    return [1.0 - sum(special), *special]


def finite_copy(table: pa.Table) -> pa.Table:
    """The table with every NaN, Inf and huge cell blanked (missing): what stock TFX can run."""
    out = {}
    for name in table.column_names:
        column = table.column(name)
        if name.startswith("num_"):
            bad = pc.is_in(column, pa.array(["nan", "inf", "-inf"]))
            bad = pc.or_(bad, pc.starts_with(column, "1e+30"))
            column = pc.if_else(bad, "", column)
        out[name] = column
    return pa.table(out)


def write_csv(table: pa.Table, folder: str) -> str:
    """Writes the string table as `folder/data.csv` (a new folder), '' as an empty cell."""
    from nanguard.pipelines.data import write_staged

    return os.path.join(write_staged(table, folder), "data.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--numeric", type=int, default=8)
    parser.add_argument("--categorical", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finite", action="store_true", help="blank NaN/Inf/huge cells")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    table = make_table(args.rows, args.numeric, args.categorical, seed=args.seed)
    path = write_csv(finite_copy(table) if args.finite else table, args.out)
    print(f"{path}: {table.num_rows} rows x {table.num_columns} columns")


if __name__ == "__main__":
    main()
