"""AppTest of 'See it work''s section 'Does refinement help a language model?': it lays out
lrcore.train.findings for the study's CSV (fixtures in tests/data), says when there is none,
and opens the language model on 'Train and check'."""

import sys
from pathlib import Path

import pytest
from _apptest import app, assert_clean

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
import demo_runs  # noqa: E402

from lrcore.train.findings import lm_findings

PAGE = "app_pages/demo.py"
DATA = Path(__file__).parent / "data"
TITLE = "Does refinement help a language model?"


@pytest.fixture
def results(monkeypatch):
    """Point the page at a CSV of the test's choosing."""

    def use(path):
        monkeypatch.setattr(demo_runs, "RESULTS_CSV", Path(path))
        return app(PAGE)

    return use


def metric(at, label: str) -> str:
    (m,) = [m.value for m in at.metric if m.label == label]
    return m


@pytest.mark.parametrize("name", ["lm_helped", "lm_no_gain"])
def test_the_section_shows_the_findings_sentence_numbers_and_table(results, name):
    path = DATA / f"results_{name}.csv"
    at = results(path)
    assert_clean(at)
    assert TITLE in [h.value for h in at.subheader]
    (f,) = lm_findings(path)
    box = at.success if f.helped else at.info
    assert f.sentence in [b.value for b in box]
    assert metric(at, "Linear decay: excess loss") == "0.0840 ± 0.0014"  # as the table
    # 2 significant digits: the tile shows it whole at 1280 px
    diff = {"lm_helped": "-0.013 ± 0.002", "lm_no_gain": "+0.0018 ± 0.0024"}[name]
    assert metric(at, "refined − linear") == diff
    (table,) = [d.value for d in at.dataframe]
    assert table.schedule.tolist() == ["Constant", "Cosine decay", "Linear decay", "refined"]
    assert table["excess loss"].tolist() == f.table["excess loss"].tolist()
    assert "accuracy" in table.columns and "suboptimality" not in table.columns
    assert "claim" not in table.columns and "held-out s.e." in table.columns
    (caption,) = [c.value for c in at.caption if "held-out s.e." in c.value]
    assert "over its held-out sequences" in caption and "tokens" not in caption.split(";")[1]
    assert "refined beats linear" in caption and "linear beats that schedule" in caption
    assert "clearly better, clearly worse, or neither, after Holm's correction" in caption
    assert "first schedule's view" not in caption
    if f.helped:
        assert "nats/token lower" in f.sentence
    else:
        assert "Train and check" in f.sentence


@pytest.mark.parametrize(
    ("path", "words"),
    [(DATA / "results_no_lm.csv", "has no rows with task lm"), (DATA / "nope.csv", "is not there")],
)
def test_no_lm_numbers_is_an_info_line_not_a_traceback(results, path, words):
    at = results(path)
    assert_clean(at)
    assert TITLE in [h.value for h in at.subheader]
    assert any(words in i.value and "Train and check" in i.value for i in at.info)
    assert not at.metric and not at.dataframe


def test_a_csv_without_the_columns_is_an_error_message(results, tmp_path):
    bad = tmp_path / "results.csv"
    bad.write_text("problem,task\nx,lm\n")
    at = results(bad)
    assert not at.exception
    assert any("lm_findings:" in e.value and "has no column" in e.value for e in at.error)


def test_the_button_opens_the_language_model_on_train(results):
    at = results(DATA / "results_lm_no_gain.csv")
    at.button(key="demo_lm_open").click().run()
    assert_clean(at)
    assert at.segmented_control(key="tr_task").value == "lm"
    assert at.selectbox(key="tr_opt").value == "adamw"
    assert at.number_input(key="tr_batch").value == 16
    assert at.number_input(key="tr_steps_lm").value == 800
    assert at.text_input(key="tr_peaks_lm_adamw").value == "0.00075, 0.0015, 0.003, 0.006, 0.012"
    # constant too: the study found it lowest
    assert at.multiselect(key="tr_sched").value == [
        "linear",
        "cosine",
        "constant",
        "refined (from a linear run first)",
    ]
    assert any("Markov" in i.value for i in at.info)


def test_v4_layout_test_first_mechanism_table_pre_transition_apart(results, tmp_path):
    """Protocol v4's CSV: the converged lm in full, the mechanism regimes in one table with
    their late rise, v3's pre-transition size in an expander that says it is not a test."""
    import pandas as pd

    base = pd.read_csv(DATA / "results_lm_no_gain.csv")
    lm = base[base.task == "lm"]
    parts = []
    for problem, regime, rise in (
        ("lm converged (adamw 0.1)", "lm converged (AdamW wd 0.1)", 6.5),
        ("lm converged (adamw 0)", "lm mechanism: weight decay", 5.9),
        ("lm chain B (adamw 0.1)", "lm mechanism: transition point", 0.7),
        ("lm markov order-2 (adamw)", "lm pre-transition (d64, T=800): not a test", 1.3),
    ):
        parts.append(lm.assign(problem=problem, regime=regime, late_rise=rise))
    path = tmp_path / "results.csv"
    pd.concat([base[base.task != "lm"], *parts]).to_csv(path, index=False)
    at = results(path)
    assert_clean(at)
    kinds = [f.kind for f in lm_findings(path)]
    assert kinds == ["test", "mechanism", "mechanism", "pre-transition"]
    (mech,) = [d.value for d in at.dataframe if "late rise" in d.value.columns]
    assert mech.problem.tolist() == [
        "lm converged (adamw 0.1)",
        "lm converged (adamw 0)",
        "lm chain B (adamw 0.1)",
    ]
    assert mech["late rise"].tolist() == ["6.5x", "5.9x", "0.7x"]
    assert mech["refined − linear"].tolist() == ["+0.0018 ± 0.0024"] * 3
    assert any("Refined lost on 3 of 3." in m.value for m in at.markdown)
    (exp,) = [e for e in at.expander if "not a test" in e.label]
    assert exp.label.startswith("lm markov order-2 (adamw)")
