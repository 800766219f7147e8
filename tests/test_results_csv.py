"""docs/results.csv and docs/results.md come from one `lrcore study` run (protocol v3). Rerun a
subset of its problems here and compare them with the committed rows; check that the CSV's
Holm-adjusted p-values and the markdown's counts follow from the CSV's own numbers.

Tolerances: the convex problems run in float64 on one CPU thread from numpy-seeded data and
f_star comes from float64 solvers; across x86 CPUs (and ATEN_CPU_CAPABILITY=default or avx2,
OMP_NUM_THREADS=1: see ../shared/tools/on-other-cpus) their numbers agree to about 1e-12
relative, so 1e-6 leaves a margin of about 10^6. Best peak lrs, flags and outcomes must be
equal. The CNN and lm rows (float32) are not rerun here: their tolerance is 1e-3 and a rerun
costs minutes.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lrcore.study.problems import REGIMES, full_problems
from lrcore.study.run import run_study
from lrcore.study.stats import CLAIM_OF, CLAIMS, holm

DOCS = Path(__file__).parents[1] / "docs"
CSV = DOCS / "results.csv"
RTOL = 1e-6
# cheap problems from three regimes (2-12 s each in docs/results.md), the last one where refined
# clearly beats linear; not the smoke problem
RERUN = ("logreg iris", "hinge synthetic", "hinge synthetic noise=rise")
EXACT = [
    "schedule",
    "peak_lr",
    "peak_lrs_tried",
    "at_grid_edge",
    "edge_tie",
    "inconclusive",
    "degenerate",
    "claim",
    "diverged_scoring_seeds",
]
CLOSE = [
    "tuning_score_mean",
    "score_mean",
    "score_sem",
    "objective_mean",
    "linear_score_mean",
    "diff_vs_linear_mean",
    "diff_vs_linear_sem",
    "test_mean",
    "bound_vs_linear",
]


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return pd.read_csv(CSV, keep_default_na=False, na_values=["", "nan"])


def test_the_csv_covers_every_problem_and_schedule_of_the_study(committed):
    problems = full_problems()
    assert sorted(set(committed.problem)) == sorted(p.name for p in problems)
    for p in problems:
        rows = committed[committed.problem == p.name]
        assert rows.schedule.tolist() == list(p.schedules), p.name
        assert (rows.regime == p.regime).all() and (rows.status == REGIMES[p.regime].status).all()
        assert (rows.n_scoring_seeds == p.n_score).all() and (rows.steps == p.config.steps).all()


@pytest.mark.parametrize("name", RERUN)
def test_a_rerun_reproduces_the_committed_rows(name, committed):
    prob = next(p for p in full_problems() if p.name == name)
    got = run_study([prob]).csv_table()
    want = committed[committed.problem == name].reset_index(drop=True)
    assert len(got) == len(want)
    for col in EXACT:  # as text: floats are written in full precision, so equal means equal
        assert [str(x) for x in got[col].replace("", np.nan)] == [str(x) for x in want[col]], col
    for col in CLOSE:
        np.testing.assert_allclose(
            got[col].to_numpy(float),
            want[col].to_numpy(float),
            rtol=RTOL,
            atol=1e-12,
            err_msg=f"{name}: {col}",
        )
    # the t-test p-values (the Holm p depends on the whole family: checked below)
    np.testing.assert_allclose(got.p_t.to_numpy(float), want.p_t.to_numpy(float), atol=1e-6)


def test_the_holm_p_values_and_outcomes_follow_from_the_csv(committed):
    claims = committed[committed.claim.notna()].copy()
    # every schedule that a claim compares with linear carries it (rounds 2, 3: protocol v4)
    assert (committed.claim.notna() == committed.schedule.isin(list(CLAIM_OF))).all()
    family = ~claims.inconclusive.astype(bool) & claims.p_t.notna()
    family &= claims.diverged_scoring_seeds.eq(0)
    np.testing.assert_allclose(
        claims.p_holm.to_numpy(float), holm(claims.p_t.where(family)), rtol=1e-12
    )
    for row in claims.itertuples():
        if row.inconclusive or np.isnan(row.p_holm):
            assert row.outcome == "inconclusive", row
        elif row.claim == CLAIMS[1][0] and row.degenerate:
            assert row.outcome == "degenerate", row
        elif row.p_holm < 0.05:
            # the row's diff is score(schedule) - score(linear); the claim's first schedule is
            # linear except for "refined beats linear"
            first_better = (row.diff_vs_linear_mean < 0) == row.schedule.startswith("refined")
            assert row.outcome == ("clearly better" if first_better else "clearly worse"), row
        else:
            assert row.outcome == "no clear difference", row


def test_the_markdown_counts_are_the_csv_counts(committed):
    text = (DOCS / "results.md").read_text()
    claims = committed[committed.claim.notna()]
    for claim, *_ in CLAIMS:
        for regime in REGIMES:
            c = claims[(claims.claim == claim) & (claims.regime == regime)]
            if c.empty:
                continue
            counted = c[c.outcome.isin(["clearly better", "clearly worse", "no clear difference"])]
            sign = -1 if claim == CLAIMS[1][0] else 1
            better = int((sign * counted.diff_vs_linear_mean > 0).sum())
            row = (
                f"| {claim} | {regime} | {len(counted)} | {better} | "
                f"{(counted.outcome == 'clearly better').sum()} | "
                f"{(counted.outcome == 'clearly worse').sum()} | "
                f"{(c.outcome == 'inconclusive').sum()} | {(c.outcome == 'degenerate').sum()} ("
            )
            assert row in text, row
