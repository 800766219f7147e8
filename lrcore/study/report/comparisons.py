"""Every comparison (problem x claim) and every schedule at its best peak lr."""

from __future__ import annotations

import numpy as np

from lrcore.study.report._fmt import METRIC_WORDS, _g, _p, _pct_pm, _pm, _scale, _test
from lrcore.study.result import StudyResult


def comparisons(result: StudyResult) -> list[str]:
    """One row per problem and claim: scores, paired difference, ratio, scale, test, p."""
    comp = result.comparisons
    lines = [
        "",
        "## Every comparison",
        "",
        'Per problem and claim "A beats B": both scores (mean over the scoring seeds), the',
        "paired difference score(B) - score(A) with its standard error (> 0: A better), the",
        "ratio A / B, the scale (linear's objective on the convex problems, its held-out",
        "cross-entropy on the language model), the test metric of A vs B (test accuracy; next-token",
        "accuracy for the language model), the t-test p and the Holm-adjusted p.",
        "",
        "| problem | claim | A | B | B - A | A / B | scale | test A vs B | p | Holm p | outcome |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    scale = {
        r.problem.name: float(r.best.set_index("schedule").objective_mean.get("linear", np.nan))
        for r in result.results
    }
    r_metric = {r.problem.name: r.metric for r in result.results}
    for row in comp.itertuples():
        outcome = row.outcome + (f": {row.inconclusive}" if row.inconclusive else "")
        lines.append(
            f"| {row.problem} | {row.claim} | {_g(row.score_a)} | {_g(row.score_b)} | "
            f"{_pm(row.diff_mean, row.diff_sem) if not row.diverged else 'a seed diverged'} | "
            f"{_g(row.ratio)} | {_scale(scale[row.problem], r_metric[row.problem])} | "
            f"{_test(row)} | "
            f"{_p(row.p_t)} | {_p(row.p_holm)} | {outcome} |"
        )
    return lines


def schedules(result: StudyResult) -> list[str]:
    """One row per problem and schedule at its best peak lr, and what the scores are."""
    lines = [
        "",
        "## Every schedule at its best peak lr",
        "",
        "*tuning*: the mean score on the tuning seeds that chose the peak lr (reference only);",
        "*score*: mean ± standard error on the scoring seeds; *bound vs linear*: the schedule's",
        "last-iterate bound (D = 1, best scale) under the norms of its own scoring runs, relative",
        "to linear's (n/a for Adam). Flags: `edge` best at an edge of the grid, `tie` an edge ties",
        "the best.",
        "",
        "| problem | schedule | best peak lr (of tried) | flags | tuning | score | objective "
        "| test | bound vs linear |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.results:
        for row in r.best.itertuples():
            flags = " ".join(
                f for f, on in (("edge", row.at_grid_edge), ("tie", row.edge_tie)) if on
            )
            score = _pm(row.score_mean, row.score_sem)
            if np.isfinite(row.token_se):
                score += f" (held-out s.e. {row.token_se:.2g})"
            if row.diverged:
                score += f" ({row.diverged} diverged)"
            bound = _g(row.bound_vs_linear, 3)
            lines.append(
                f"| {r.problem.name} | {row.schedule} | {row.peak_lr:.4g} ({row.n_tried}) | "
                f"{flags or '-'} | {_g(row.tuning_score_mean)} | {score} | "
                f"{_g(row.objective_mean)} | {_pct_pm(row.test_mean, row.test_sem)} | "
                f"{bound} |"
            )
    lines += [
        "",
        "Scores are "
        + "; ".join(
            f"{METRIC_WORDS[m]} ({', '.join(sorted({r.problem.config.task for r in result.results if r.metric == m}))})"
            for m in sorted({r.metric for r in result.results})
        )
        + ".",
    ]
    return lines
