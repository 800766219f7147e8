"""The study's statistics: the claims it tests, paired t-tests Holm-corrected over the whole
study, the exact sign test per regime, and the outcome and verdict words (docs/protocol.md,
section 5). Functions of the per-problem results; nothing here runs a model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ALPHA = 0.05  # a comparison is clear when its Holm-adjusted p-value is below this
CLAIMS = (
    ("linear beats cosine", "linear", "cosine"),
    ("refined beats linear", "refined", "linear"),
    ("linear beats constant", "linear", "constant"),
)
# refined rounds 2 and 3 against linear (protocol v4): in the Holm family and the CSV, not in
# the verdict tables (which are per claim of CLAIMS)
ROUND_CLAIMS = (
    ("refined round 2 beats linear", "refined_2", "linear"),
    ("refined round 3 beats linear", "refined_3", "linear"),
)
CLAIM_OF = {
    "cosine": CLAIMS[0][0],
    "refined": CLAIMS[1][0],
    "constant": CLAIMS[2][0],
    "refined_2": ROUND_CLAIMS[0][0],
    "refined_3": ROUND_CLAIMS[1][0],
}
OUTCOMES = ("clearly better", "clearly worse", "no clear difference", "inconclusive", "degenerate")


def paired_p(d: np.ndarray) -> float:
    """Two-sided paired t-test p-value of mean(d) = 0 (1 when every difference is 0, 0 when
    they are equal and not 0)."""
    from scipy import stats

    d = np.asarray(d, dtype=float)
    if len(d) < 2 or not np.isfinite(d).all():
        return float("nan")
    if np.all(d == d[0]):
        return 1.0 if d[0] == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (nan stays nan and is not counted in the family).

    >>> holm([0.01, 0.04, 0.03, float("nan")]).round(3).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[i]))
        out[i] = running
    return out


def sign_test_p(k: int, n: int) -> float:
    """Exact one-sided sign-test p-value of k successes in n (binomial(n, 1/2)); nan if n = 0."""
    from scipy import stats

    return float(stats.binomtest(k, n, 0.5, alternative="greater").pvalue) if n else float("nan")


def comparisons(results) -> pd.DataFrame:
    """One row per problem x claim: the paired difference d = score(B) - score(A) over the
    scoring seeds (> 0: A better), its t-test p, the Holm-adjusted p over every conclusive
    comparison of the study, and the outcome. ``results``: the ProblemResults."""
    rows = []
    for r in results:
        best = r.best.set_index("schedule")
        for claim, a, b in CLAIMS + ROUND_CLAIMS:
            if a not in r.scores or b not in r.scores:
                continue
            mean, se = r.paired(a, b)
            d = r.scores[b] - r.scores[a]
            edge = [s for s in (a, b) if best.inconclusive[s]]
            rows.append(
                {
                    "problem": r.problem.name,
                    "regime": r.problem.regime,
                    "claim": claim,
                    "a": a,
                    "b": b,
                    "score_a": float(best.score_mean[a]),
                    "score_b": float(best.score_mean[b]),
                    "diff_mean": mean,
                    "diff_sem": se,
                    "ratio": float(best.score_mean[a] / best.score_mean[b])
                    if best.score_mean[b] != 0
                    else float("nan"),
                    "p_t": paired_p(d),
                    "inconclusive": ", ".join(f"{s} ({best.edge_reason[s]})" for s in edge),
                    "degenerate": a == "refined" and r.degenerate,
                    "diverged": not np.isfinite(mean),
                    "test_a": float(best.test_mean[a]),
                    "test_b": float(best.test_mean[b]),
                }
            )
    out = pd.DataFrame(rows)
    family = (out.inconclusive == "") & ~out.diverged
    out["p_holm"] = holm(out.p_t.where(family))
    out["outcome"] = [outcome(row) for row in out.itertuples()]
    return out


def counts(comp: pd.DataFrame, claim: str, regime: str | None = None) -> dict:
    """Per claim (and regime) of the comparisons ``comp``: better (lower mean score, however
    small) / clearly better / clearly worse among the counted problems (neither inconclusive
    nor degenerate), the inconclusive and degenerate ones apart (with what the degenerate
    ones measured), the exact sign-test p of 'better on k of n counted', and the verdict
    words."""
    c = comp[comp.claim == claim]
    if regime is not None:
        c = c[c.regime == regime]
    counted = c[c.outcome.isin(OUTCOMES[:3])]
    n = len(counted)
    better = int((counted.diff_mean > 0).sum())
    clear = int((counted.outcome == "clearly better").sum())
    lost = int((counted.outcome == "clearly worse").sum())
    deg = c[c.outcome == "degenerate"]
    deg_clear = deg.p_holm < ALPHA
    out = {
        "better": better,
        "clearly better": clear,
        "clearly worse": lost,
        "counted": n,
        "inconclusive": int((c.outcome == "inconclusive").sum()),
        "degenerate": len(deg),
        # what the degenerate comparisons measured, though they are not counted
        "degenerate clearly better": int((deg_clear & (deg.diff_mean > 0)).sum()),
        "degenerate clearly worse": int((deg_clear & (deg.diff_mean < 0)).sum()),
        "diverged": int(c.diverged.sum()),
        "sign_p": sign_test_p(better, n),
        "min_p": 0.5**n if n else float("nan"),
    }
    out["verdict"] = verdict(out)
    return out


def bound_agrees(results, comp: pd.DataFrame, regime: str | None = None) -> tuple[int, int, float]:
    """(problems where the bound's refined-vs-linear call, from each schedule's own norms on
    the scoring seeds, matches the measured sign, conclusive SGD problems, one-sided exact
    binomial p-value of that many agreements by chance)."""
    agree = total = 0
    c = comp.set_index(["problem", "claim"])
    for r in results:
        if regime is not None and r.problem.regime != regime:
            continue
        key = (r.problem.name, CLAIMS[1][0])
        if key not in c.index or c.outcome[key] == "inconclusive":
            continue
        b = r.best.set_index("schedule").bound_vs_linear.get("refined", np.nan)
        mean = c.diff_mean[key]
        if np.isfinite(b) and np.isfinite(mean):
            total += 1
            agree += (b < 1) == (mean > 0)
    return agree, total, sign_test_p(agree, total)


def outcome(row) -> str:
    """A claim's outcome from its first schedule's view."""
    if row.inconclusive:
        return "inconclusive"
    if row.diverged:
        return "inconclusive"
    if row.degenerate:
        return "degenerate"
    if np.isfinite(row.p_holm) and row.p_holm < ALPHA:
        return "clearly better" if row.diff_mean > 0 else "clearly worse"
    return "no clear difference"


def verdict(c: dict) -> str:
    """Words for a claim's counts in a regime.

    The words are v2's, as docs/protocol.md (section 5) fixes them: *mixed* is any other
    case with a clear result, e.g. 3 of 7 clearly better and none clearly worse.

    >>> verdict({"better": 3, "clearly better": 3, "clearly worse": 0, "counted": 3})
    'holds (3/3 clearly better)'
    >>> verdict({"better": 1, "clearly better": 0, "clearly worse": 2, "counted": 3})
    'reversed (2/3 clearly worse)'
    >>> verdict({"better": 2, "clearly better": 0, "clearly worse": 0, "counted": 3})
    'no clear difference (2/3 better)'
    >>> verdict({"better": 0, "clearly better": 0, "clearly worse": 0, "counted": 0})
    'n/a (no counted problem)'
    """
    better, clear, lost, n = c["better"], c["clearly better"], c["clearly worse"], c["counted"]
    if n == 0:
        return "n/a (no counted problem)"
    if clear > n / 2:
        return f"holds ({clear}/{n} clearly better)"
    if lost > n / 2:
        return f"reversed ({lost}/{n} clearly worse)"
    if clear == 0 and lost == 0:
        return f"no clear difference ({better}/{n} better)"
    return f"mixed ({clear} clearly better, {lost} clearly worse of {n})"
