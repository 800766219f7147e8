"""lrcore.train.findings: the language-model finding of the study, computed from its CSV
(fixtures in tests/data: one where refined clearly beats linear, one where it does not)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lrcore.train.findings import COLUMNS, fmt_short, lm_findings

DATA = Path(__file__).parent / "data"
HELPED, NO_GAIN, NO_LM = (DATA / f"results_{n}.csv" for n in ("lm_helped", "lm_no_gain", "no_lm"))


def edited(tmp_path, source: Path, schedule: str = "refined", **change) -> Path:
    """``source`` with ``schedule``'s lm row changed."""
    t = pd.read_csv(source)
    row = (t.task == "lm") & (t.schedule == schedule)
    for k, v in change.items():
        t.loc[row, k] = v
    out = tmp_path / "results.csv"
    t.to_csv(out, index=False)
    return out


def test_a_clear_gain_is_said_with_its_size_share_and_error():
    (f,) = lm_findings(HELPED)
    t = pd.read_csv(HELPED).set_index(["task", "schedule"]).loc["lm"]
    d, se, lin = (
        t.diff_vs_linear_mean["refined"],
        t.diff_vs_linear_sem["refined"],
        t.score_mean["linear"],
    )
    assert f.helped and f.problem == "lm markov order-2 (adamw)"
    assert f.diff == (d, se) and f.linear[0] == lin and f.p_holm == t.p_holm["refined"]
    assert f.n_seeds == 5
    assert f"**{-d:.4f} ± {se:.4f} nats/token lower**" in f.sentence  # 0.0126 ± 0.0021
    assert f"{-d / lin:.0%} of linear decay's excess loss" in f.sentence  # 15%
    assert "Holm-adjusted p = 0.031, 5 scoring seeds" in f.sentence
    assert "refined 0.0714 ± 0.0013, linear decay 0.0840 ± 0.0014 nats/token" in f.sentence
    assert "Train and check" not in f.sentence
    # the table: every schedule, the study's outcome, next-token accuracy
    assert f.table.schedule.tolist() == ["constant", "cosine", "linear", "refined"]
    row = f.table.set_index("schedule").loc["refined"]
    assert row["vs linear"] == "-0.013 ± 0.002" and row["outcome"] == "clearly better"
    assert row["accuracy"] == "39.3% ± 0.1%" and row["Holm p"] == "0.031"
    # short headers (the page's table fits 1280 px): no claim column (the caption says it);
    # the paired difference beside the excess loss, the held-out s.e. last (issue 24, item 6)
    assert f.table.columns.tolist() == [
        "schedule", "peak lr", "excess loss", "vs linear", "Holm p", "outcome", "accuracy",
        "held-out s.e.",
    ]  # fmt: skip
    assert f.table.set_index("schedule").loc["linear", "vs linear"] == ""


def test_no_clear_gain_gives_both_losses_the_difference_p_and_seeds_and_points_to_train():
    (f,) = lm_findings(NO_GAIN)
    assert not f.helped
    s = f.sentence
    assert s.startswith("**Refinement did not show a clear gain on the language model**")
    assert "refined's excess loss 0.0858 ± 0.0013 nats/token, linear decay's 0.0840 ± 0.0014" in s
    assert "refined's is higher (worse) by 0.0018 ± 0.0024" in s  # the direction in words
    assert "(Holm-adjusted p = 1, 5 scoring seeds)" in s  # p_t 0.37: no "before correction"
    assert "lowest excess loss" not in s  # linear's is the lowest
    assert "**Train and check**" in s and "lower" not in s


@pytest.mark.parametrize(
    ("change", "why"),
    [
        # a small p for a difference in refined's disfavour is not a gain
        (
            {"diff_vs_linear_mean": 0.0126, "p_holm": 0.01, "outcome": "clearly worse"},
            "clearly worse",
        ),
        # an inconclusive comparison has no Holm p: not a gain, and the reason is given
        ({"p_holm": float("nan"), "outcome": "inconclusive"}, "inconclusive"),
        # the clear threshold is Holm's p < 0.05, not the unadjusted one
        ({"p_holm": 0.05, "p_t": 0.004, "outcome": "no clear difference"}, None),
    ],
)
def test_the_gain_is_decided_from_the_numbers(tmp_path, change, why):
    (f,) = lm_findings(edited(tmp_path, HELPED, **change))
    assert not f.helped
    said = "clearly hurt" if why == "clearly worse" else "did not show a clear gain"
    assert said in f.sentence and "Train and check" in f.sentence
    assert f.hurt == (why == "clearly worse")
    if why and why != "clearly worse":
        assert why in f.sentence
    if change["p_holm"] != change["p_holm"]:
        assert "p = n/a" in f.sentence


def test_a_degenerate_refinement_is_said_even_when_it_won(tmp_path):
    (f,) = lm_findings(edited(tmp_path, HELPED, degenerate=True))
    assert f.helped and "flagged degenerate" in f.sentence


def test_missing_file_or_no_lm_rows_is_no_finding_and_a_bad_file_is_a_message(tmp_path):
    assert lm_findings(tmp_path / "results.csv") == []
    assert lm_findings(NO_LM) == []
    bad = tmp_path / "bad.csv"
    pd.read_csv(HELPED).drop(columns=["p_holm", "token_se"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"lm_findings: .*bad.csv has no column token_se, p_holm"):
        lm_findings(bad)
    assert set(COLUMNS) <= set(pd.read_csv(HELPED).columns)


def test_a_problem_without_a_refined_row_says_so(tmp_path):
    t = pd.read_csv(HELPED)
    t = t[~((t.task == "lm") & (t.schedule == "refined"))]
    t.to_csv(tmp_path / "r.csv", index=False)
    (f,) = lm_findings(tmp_path / "r.csv")
    assert not f.helped and "no refined result" in f.sentence


def test_a_p_below_alpha_only_before_correction_is_said_with_the_family_size(tmp_path):
    path = edited(tmp_path, NO_GAIN, p_t=0.026, p_holm=0.63)
    family = int(pd.read_csv(path).p_holm.notna().sum())
    (f,) = lm_findings(path)
    assert not f.helped and f.family == family == 4 and f.p_t == 0.026
    assert (
        "(p = 0.026 before correction, 0.63 after Holm's over the study's 4 comparisons; "
        "5 scoring seeds)" in f.sentence
    )


def test_a_lower_refined_not_clear_says_lower_and_a_tie_says_so(tmp_path):
    (f,) = lm_findings(edited(tmp_path, NO_GAIN, diff_vs_linear_mean=-0.0018))
    assert "refined's is lower (better) by 0.0018 ± 0.0024" in f.sentence
    (f,) = lm_findings(edited(tmp_path, NO_GAIN, diff_vs_linear_mean=1e-7))
    assert "the same to within rounding" in f.sentence


def test_a_lowest_schedule_other_than_linear_and_refined_is_named_with_its_numbers(tmp_path):
    path = edited(tmp_path, NO_GAIN, "constant", score_mean=0.0612, p_holm=0.22)
    t = pd.read_csv(path)
    (f,) = lm_findings(path)
    lin = t[(t.task == "lm") & (t.schedule == "linear")].score_mean.iloc[0]
    assert (
        f"**Constant** has the lowest excess loss, 0.061 vs linear decay's {lin:.3f} "
        "(its comparison with linear decay: Holm p = 0.22, clearly better)" in f.sentence
    )
    # the explanation is offered as a reading, not as a finding
    assert "One reading, which the study did not test" in f.sentence
    assert "may still be far from converged" in f.sentence
    (g,) = lm_findings(edited(tmp_path, HELPED, "cosine", score_mean=0.05))
    assert "**Cosine decay** has the lowest excess loss, 0.050" in g.sentence
    assert "converged" not in g.sentence  # the reading is about constant only


def test_fmt_short_fits_a_metric_tile():
    assert fmt_short(0.001969, 0.000572, signed=True) == "+0.0020 ± 0.0006"
    assert fmt_short(-0.0684, 0.0134, signed=True) == "-0.068 ± 0.013"
    assert len(fmt_short(0.001969146728515625, 0.0005716163940009911, signed=True)) <= 16


def test_lm_gap_closed_from_the_study_csv(tmp_path):
    """(ln 16 - linear's held-out CE) / (ln 16 - the true chain's CE), the chain's CE being
    linear's CE minus its excess loss; None without a CSV or without lm rows."""
    from lrcore.train.findings import lm_gap_closed

    rows = pd.DataFrame(
        {c: [np.nan] for c in COLUMNS}
        | {"task": ["lm"], "schedule": ["linear"], "objective_mean": [2.6], "score_mean": [0.5]}
    )
    rows.to_csv(tmp_path / "r.csv", index=False)
    want = (np.log(16) - 2.6) / (np.log(16) - 2.1)
    assert lm_gap_closed(tmp_path / "r.csv") == pytest.approx(want, rel=1e-12)
    assert lm_gap_closed(tmp_path / "missing.csv") is None
    rows.assign(task="svm").to_csv(tmp_path / "s.csv", index=False)
    assert lm_gap_closed(tmp_path / "s.csv") is None
