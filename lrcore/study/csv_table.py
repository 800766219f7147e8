"""docs/results.csv: one row per problem x schedule at its best peak lr, in full precision,
and :data:`CSV_KEY`, the meaning of its columns (the report prints it).

To add a column: add it to the dict in :func:`_row` (its place there is its place in the
file) and a line to :data:`CSV_KEY`; a per-problem number comes from a field of
:class:`lrcore.study.result.ProblemResult`, filled in by :mod:`lrcore.study.run`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lrcore.study.problems import REGIMES
from lrcore.study.stats import CLAIM_OF

if TYPE_CHECKING:
    from lrcore.study.result import ProblemResult, StudyResult


def csv_table(result: StudyResult) -> pd.DataFrame:
    """One row per problem x schedule at its best peak lr (see :data:`CSV_KEY`)."""
    comp = result.comparisons.set_index(["problem", "claim"])
    rows = []
    for r in result.results:
        best = r.best.set_index("schedule")
        for s, row in best.iterrows():
            rows.append(_row(r, best, s, row, comp))
    return pd.DataFrame(rows)


def _row(r: ProblemResult, best: pd.DataFrame, s: str, row, comp: pd.DataFrame) -> dict:
    """The CSV row of schedule ``s`` (its best row ``row``) on problem ``r``."""
    claim = CLAIM_OF.get(s, "")
    key = (r.problem.name, claim)
    have = claim and key in comp.index
    mean, se = r.paired("linear", s)
    lin = float(best.score_mean.get("linear", np.nan))
    return {
        "problem": r.problem.name,
        "regime": r.problem.regime,
        "status": REGIMES[r.problem.regime].status,
        "task": r.problem.config.task,
        "optimizer": r.problem.config.optimizer,
        "steps": r.problem.config.steps,
        "metric": r.metric,
        "schedule": s,
        "peak_lr": row.peak_lr,
        "peak_lrs_tried": row.n_tried,
        "at_grid_edge": bool(row.at_grid_edge),
        "edge_tie": bool(row.edge_tie),
        "inconclusive": bool(row.inconclusive),
        "degenerate": r.degenerate,
        "n_tuning_seeds": r.problem.n_tune,
        "n_build_seeds": r.problem.n_build,
        "n_scoring_seeds": r.problem.n_score,
        "tuning_score_mean": row.tuning_score_mean,
        "score_mean": row.score_mean,
        "score_sem": row.score_sem,
        "token_se": row.token_se,
        "diverged_scoring_seeds": int(row.diverged),
        "objective_mean": row.objective_mean,
        "linear_score_mean": lin,
        "diff_vs_linear_mean": mean if s != "linear" else 0.0,
        "diff_vs_linear_sem": se if s != "linear" else 0.0,
        "ratio_vs_linear": row.score_mean / lin if lin else float("nan"),
        "seeds_better_than_linear": _seeds_better(r, s),
        "claim": claim,
        "p_t": comp.p_t[key] if have else float("nan"),
        "p_holm": comp.p_holm[key] if have else float("nan"),
        "outcome": comp.outcome[key] if have else "",
        "test_metric": "next_token_accuracy" if r.problem.config.is_lm else "test_accuracy",
        "test_mean": row.test_mean,
        "test_sem": row.test_sem,
        "bound_vs_linear": row.bound_vs_linear,
        **_rise_columns(r, row),
        "problem_wall_s": r.wall_time,
    }


def _seeds_better(r: ProblemResult, s: str) -> int:
    """On how many scoring seeds schedule ``s`` scored below linear decay (paired by seed)."""
    a, b = r.scores.get(s), r.scores.get("linear")
    if a is None or b is None or s == "linear":
        return 0
    return int(np.sum(np.asarray(a) < np.asarray(b)))


def _rise_columns(r: ProblemResult, row) -> dict:
    """Protocol v4.3: the late rise of the norms refined was built from (per problem), the
    refined shape, and for lm the share of the uniform-to-chain gap this schedule closed."""
    rise = getattr(r, "late_rise", None)
    nan = float("nan")
    cfg = r.problem.config
    gap = nan
    if cfg.is_lm and np.isfinite(row.objective_mean) and np.isfinite(row.score_mean):
        from lrcore.train.findings import gap_closed

        gap = gap_closed(row.objective_mean, row.score_mean, cfg.lm_vocab)
    return {
        "late_rise": rise.ratio if rise else nan,
        "rise_at": rise.rise_at if rise and rise.rise_at is not None else nan,
        "loss_drop": rise.loss_drop if rise and rise.loss_drop is not None else nan,
        "loss_drop_at": rise.loss_drop_at if rise and rise.loss_drop_at is not None else nan,
        "rise_with_loss_drop": bool(rise.coincides) if rise else False,
        "refined_peak_at": r.peak_fraction,
        "refined_above_half": r.above_half,
        "gap_closed": gap,
    }


CSV_KEY = (
    ("problem, regime, status, task, optimizer, steps", "what ran (status as in Provenance)"),
    ("metric", "suboptimality (convex), excess_loss (lm, nats/token), objective (CNN)"),
    ("schedule, peak_lr, peak_lrs_tried", "the schedule at its best peak lr, of how many tried"),
    ("at_grid_edge, edge_tie, inconclusive", "best at an edge / an edge ties it / either"),
    ("degenerate", "the problem's refinement is flagged by diagnose_refined"),
    ("n_tuning_seeds, n_build_seeds, n_scoring_seeds", "the three seed sets' sizes"),
    ("tuning_score_mean", "mean score on the tuning seeds (reference only)"),
    ("score_mean, score_sem", "mean and standard error on the scoring seeds"),
    ("token_se", "lm: s.e. of one seed's score over its held-out sequences, averaged"),
    ("diverged_scoring_seeds", "scoring seeds whose run diverged"),
    ("objective_mean", "the objective on the scoring seeds (lm: held-out cross-entropy)"),
    ("linear_score_mean", "linear decay's score_mean on the same problem"),
    (
        "diff_vs_linear_mean, diff_vs_linear_sem",
        "paired score(schedule) - score(linear): negative = the schedule is better than linear",
    ),
    ("ratio_vs_linear", "score_mean(schedule) / score_mean(linear): < 1 = better than linear"),
    ("seeds_better_than_linear", "scoring seeds on which the schedule scored below linear"),
    (
        "claim, p_t, p_holm, outcome",
        "the claim this row tests, its two-sided paired t-test p, "
        "Holm-adjusted p, and the outcome from the claim's first schedule's side (for 'refined "
        "beats linear': refined's; otherwise linear's)",
    ),
    ("test_metric, test_mean, test_sem", "test accuracy (lm: next-token accuracy)"),
    ("bound_vs_linear", "SGD only: the schedule's bound under its own norms / linear's"),
    (
        "late_rise, rise_at",
        "median norm (the one refined reads) of linear's build runs over the last tenth / over "
        "40-60 % of the run (lrcore.late_rise), and where the rise is halfway up (share of the run)",
    ),
    (
        "loss_drop, loss_drop_at, rise_with_loss_drop",
        "the share linear's training loss falls over the same stretch, where it is halfway down, "
        "and whether that comes within 0.15 of the norms' rise",
    ),
    ("refined_peak_at, refined_above_half", "refined (round 1): where it peaks, share >= half"),
    ("gap_closed", "lm: share of the uniform-to-true-chain gap this schedule closed"),
    ("problem_wall_s", "the problem's wall time (the only column that changes between runs)"),
)
