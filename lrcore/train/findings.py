"""What the study found, in sentences computed from its committed numbers (docs/results.csv).

``lm_findings(path)``: for each language-model problem of the study, did refinement beat
linear decay? The See it work page lays the result out; this module needs no torch and no
Streamlit. The CSV has one row per problem x schedule at its best peak lr; for task "lm"
the score is the excess loss (model cross-entropy - the true chain's, nats/token),
``diff_vs_linear = score(schedule) - score(linear)`` (negative: better than linear) and
``p_holm`` the Holm-adjusted p-value of the claim the row tests ("refined beats linear"
on refined's row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lrcore._text import for_markdown
from lrcore.registry import REGISTRY

ALPHA = 0.05  # a comparison is clear when its Holm-adjusted p-value is below this
COLUMNS = (
    "problem",
    "regime",
    "status",
    "task",
    "metric",
    "schedule",
    "peak_lr",
    "inconclusive",
    "degenerate",
    "n_scoring_seeds",
    "score_mean",
    "score_sem",
    "token_se",
    "diff_vs_linear_mean",
    "diff_vs_linear_sem",
    "ratio_vs_linear",
    "claim",
    "p_t",
    "p_holm",
    "outcome",
    "test_metric",
    "test_mean",
    "test_sem",
)
UNIT = "nats/token"
# refinement rounds (the study's refined_2, refined_3: refined again from the previous round)
ROUND_LABEL = {"refined_2": "refined, round 2", "refined_3": "refined, round 3"}
# why a comparison is not a clear gain, when the study's outcome says more than the numbers
WHY = {
    "clearly worse": "Refined was clearly worse than linear decay.",
    "inconclusive": "The study calls this comparison inconclusive (a best peak lr at the edge "
    "of its grid, or a diverged seed), so it is left out of its tests.",
    "degenerate": "The refined schedule was flagged degenerate (its norms came from a run the "
    "schedule itself drove), so the study counts it apart.",
}
RERUN = "Rerun it yourself on **Train and check** (task *Language model*)."


@dataclass(frozen=True)
class LmFinding:
    """Refined vs linear decay on one language-model problem of the study."""

    problem: str
    regime: str
    helped: bool  # refined clearly better: Holm p < ALPHA and refined - linear < 0
    # (hurt: ``LmFinding.hurt``, refined clearly worse)
    sentence: str  # markdown, every number from the CSV
    refined: tuple[float, float]  # refined's excess loss: mean, s.e. over scoring seeds
    linear: tuple[float, float]  # linear decay's
    diff: tuple[float, float]  # refined - linear, paired over scoring seeds: mean, s.e.
    p_holm: float
    n_seeds: int
    table: pd.DataFrame  # one row per schedule, the columns the page shows
    p_t: float = float("nan")  # refined's claim before Holm's correction
    family: int = 0  # comparisons Holm's correction ran over (the CSV's rows with a p_holm)
    late_rise: float = float("nan")  # linear's norms: last tenth / 40-60 % (protocol v4)

    @property
    def hurt(self) -> bool:
        """Refined clearly worse: Holm p < ALPHA and refined - linear > 0."""
        return bool(np.isfinite(self.p_holm) and self.p_holm < ALPHA and self.diff[0] > 0)

    @property
    def kind(self) -> str:
        """'test' (a size where the model learns), 'mechanism' (protocol v4's dose-response
        regimes) or 'pre-transition' (v3's size: not a test), from the regime's name."""
        return regime_kind(self.regime)


def regime_kind(regime: str) -> str:
    """What an lm regime of the study is for (see :attr:`LmFinding.kind`).

    >>> regime_kind("lm converged (AdamW wd 0.1)"), regime_kind("lm mechanism: weight decay")
    ('test', 'mechanism')
    """
    if regime.startswith("lm pre-transition") or regime.startswith("lm: transformer"):
        return "pre-transition"
    return "mechanism" if regime.startswith("lm mechanism") else "test"


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def fmt_pm(mean: float, se: float, signed: bool = False) -> str:
    """``mean ± se``: the s.e. to 2 significant digits, the mean to the same decimal place.

    >>> fmt_pm(0.04127, 0.00213), fmt_pm(-0.0051, 0.0012, signed=True), fmt_pm(0.084, 0.0014)
    ('0.0413 ± 0.0021', '-0.0051 ± 0.0012', '0.0840 ± 0.0014')
    >>> fmt_pm(0.5, float("nan")), fmt_pm(float("nan"), 0.1), fmt_pm(-1e-9, 0.00026, signed=True)
    ('0.5', 'n/a', '+0.00000 ± 0.00026')
    """
    if not np.isfinite(mean):
        return "n/a"
    sign = "+" if signed else ""
    if not (np.isfinite(se) and se > 0):
        return f"{mean:{sign}.3g}"
    d = int(min(8, max(0, 1 - np.floor(np.log10(se)))))
    if round(mean, d) == 0:
        mean = 0.0  # no sign on a mean that rounds to 0 ("-0.00000")
    return f"{mean:{sign}.{d}f} ± {se:.{d}f}"


def fmt_short(mean: float, se: float, signed: bool = False) -> str:
    """``mean ± se`` short enough for a metric tile: the mean to 2 significant digits, the s.e.
    to the same decimal place (to its own 2 significant digits when it is the coarser).

    >>> fmt_short(0.001969, 0.000572, signed=True), fmt_short(-0.0126, 0.0021, signed=True)
    ('+0.0020 ± 0.0006', '-0.013 ± 0.002')
    >>> fmt_short(0.0018, 0.0024, signed=True), fmt_short(-1e-9, 0.00026, signed=True)
    ('+0.0018 ± 0.0024', '+0.00000 ± 0.00026')
    >>> fmt_short(0.5787, float("nan")), fmt_short(float("nan"), 0.1)
    ('0.58', 'n/a')
    """
    if not np.isfinite(mean):
        return "n/a"
    sign = "+" if signed else ""
    if not (np.isfinite(se) and se > 0):
        return f"{mean:{sign}.2g}"
    d_se = 1 - int(np.floor(np.log10(se)))
    d = d_se if mean == 0 else min(d_se, 1 - int(np.floor(np.log10(abs(mean)))))
    d = int(min(8, max(0, d)))
    if round(mean, d) == 0:
        mean = 0.0
    return f"{mean:{sign}.{d}f} ± {se:.{d}f}"


def _p(p: float) -> str:
    """
    >>> _p(0.0312), _p(2e-6), _p(float("nan"))
    ('0.031', '< 0.0001', 'n/a')
    """
    if not np.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def read_results(path: str | Path) -> pd.DataFrame | None:
    """The study's CSV, or None when ``path`` does not exist; ValueError naming the file
    when it cannot be read or lacks a column this module needs."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ValueError(f"lm_findings: cannot read {path}: {e}") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"lm_findings: {path} has no column {', '.join(missing)}")
    return table


def lm_findings(path: str | Path) -> list[LmFinding]:
    """One :class:`LmFinding` per language-model problem in the study's CSV at ``path``, in
    the CSV's order; [] when the file is missing or has no rows with task "lm"."""
    table = read_results(path)
    if table is None:
        return []
    lm = table[table.task.astype(str) == "lm"]
    family = int(table.p_holm.notna().sum())  # Holm's correction ran over every tested claim
    return [lm_finding(rows, family) for _, rows in lm.groupby("problem", sort=False)]


def _row(rows: pd.DataFrame, schedule: str):
    hit = rows[rows.schedule.astype(str) == schedule]
    return hit.iloc[0] if len(hit) else None


def _label(schedule: str) -> str:
    spec = REGISTRY.get(schedule)
    return spec.label if spec is not None else ROUND_LABEL.get(schedule, schedule)


def _direction(d: tuple[float, float]) -> str:
    """refined - linear in words.

    >>> _direction((0.001969, 0.000572)), _direction((-0.0126, 0.0021))
    ('higher (worse) by 0.0020 ± 0.0006', 'lower (better) by 0.013 ± 0.002')
    """
    if not np.isfinite(d[0]):
        return "not comparable"
    size = fmt_short(abs(d[0]), d[1])
    if float(size.split(" ")[0]) == 0:
        return f"the same to within rounding ({fmt_short(*d, signed=True)})"
    return f"{'higher (worse)' if d[0] > 0 else 'lower (better)'} by {size}"


def _p_words(p_t: float, p: float, n: int, family: int) -> str:
    """The p-value in brackets: before and after Holm's correction when only the
    uncorrected one is below ALPHA (the reader would otherwise not see why it is not clear)."""
    if np.isfinite(p_t) and p_t < ALPHA and np.isfinite(p) and p >= ALPHA and family:
        return (
            f"(p = {_p(p_t)} before correction, {_p(p)} after Holm's over the study's "
            f"{family} comparisons; {n} scoring seeds)"
        )
    return f"(Holm-adjusted p = {_p(p)}, {n} scoring seeds)"


def _lowest(rows: pd.DataFrame, linear: float) -> str:
    """A sentence when neither linear nor refined has the lowest excess loss: which did, and a
    reading of why (marked as one, not a finding)."""
    score = pd.to_numeric(rows.score_mean, errors="coerce")
    if not score.notna().any():
        return ""
    best = rows.loc[score.idxmin()]
    name = str(best.schedule)
    if name in ("linear", "refined"):
        return ""
    p = _num(best.p_holm)
    test = (
        f" (its comparison with linear decay: Holm p = {_p(p)}, {best.outcome})"
        if np.isfinite(p)
        else ""
    )
    reading = (
        " One reading, which the study did not test: at this size and step count the model "
        "may still be far from converged, so no decay pays off."
        if name == "constant"
        else ""
    )
    return (
        f" **{_label(name)}** has the lowest excess loss, {_num(best.score_mean):.3f} vs linear "
        f"decay's {linear:.3f}{test}.{reading}"
    )


def lm_finding(rows: pd.DataFrame, family: int = 0) -> LmFinding:
    """The finding of one problem's rows (one per schedule): whether refined beat linear
    decay clearly, and the sentence that says so with its numbers; ``family``: how many
    comparisons Holm's correction ran over (0: unknown)."""
    problem, regime = str(rows.problem.iloc[0]), str(rows.regime.iloc[0])
    ref, lin = _row(rows, "refined"), _row(rows, "linear")
    table = _table(rows)
    if ref is None or lin is None:
        gone = " and ".join(n for n, r in (("refined", ref), ("linear decay", lin)) if r is None)
        nan2 = (float("nan"), float("nan"))
        sentence = (
            f"The study has no {gone} result for **{for_markdown(problem)}**, so it cannot say "
            f"whether refinement helped. {RERUN}"
        )
        return LmFinding(problem, regime, False, sentence, nan2, nan2, nan2, np.nan, 0, table)
    r = (_num(ref.score_mean), _num(ref.score_sem))
    li = (_num(lin.score_mean), _num(lin.score_sem))
    d = (_num(ref.diff_vs_linear_mean), _num(ref.diff_vs_linear_sem))
    p, n, p_t = _num(ref.p_holm), int(_num(ref.n_scoring_seeds)), _num(ref.p_t)
    helped = bool(np.isfinite(p) and p < ALPHA and d[0] < 0)
    tail = _p_words(p_t, p, n, family)
    if helped:
        share = -d[0] / li[0] if li[0] > 0 else float("nan")
        sentence = (
            f"**Refinement helped the language model**: refined's excess loss was "
            f"**{fmt_pm(-d[0], d[1])} {UNIT} lower** than linear decay's"
            + (f", {share:.0%} of linear decay's excess loss" if np.isfinite(share) else "")
            + f" {tail}: refined {fmt_pm(*r)}, linear decay {fmt_pm(*li)} {UNIT}."
        )
    elif np.isfinite(p) and p < ALPHA and d[0] > 0:
        times = d[0] / li[0] if li[0] > 0 else float("nan")
        sentence = (
            f"**Refinement clearly hurt the language model**: refined's excess loss was "
            f"**{fmt_pm(d[0], d[1])} {UNIT} higher** than linear decay's"
            + (f", {times:.2g} times linear decay's excess loss" if np.isfinite(times) else "")
            + f" {tail}: refined {fmt_pm(*r)}, linear decay {fmt_pm(*li)} {UNIT}."
            + _lowest(rows, li[0])
            + f" {RERUN}"
        )
    else:
        sentence = (
            f"**Refinement did not show a clear gain on the language model**: refined's excess "
            f"loss {fmt_pm(*r)} {UNIT}, linear decay's {fmt_pm(*li)}; refined's is "
            f"{_direction(d)} {tail}."
        )
        why = WHY.get(str(ref.outcome))
        sentence += (f" {why}" if why else "") + _lowest(rows, li[0]) + f" {RERUN}"
    if helped:
        sentence += _lowest(rows, li[0])
    if helped and bool(ref.degenerate):
        sentence += " " + WHY["degenerate"]
    rise = _num(ref.late_rise) if "late_rise" in rows.columns else float("nan")
    return LmFinding(problem, regime, helped, sentence, r, li, d, p, n, table, p_t, family, rise)


def _table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per schedule: peak lr, excess loss ± s.e. over seeds, vs linear (paired over seeds, ±
    its paired s.e.), Holm p of the claim the row tests, the study's outcome, next-token
    accuracy, and last the held-out s.e. (over held-out sequences). Short headers: the page's
    table must fit a laptop's width."""
    return pd.DataFrame(
        {
            "schedule": [ROUND_LABEL.get(str(x), str(x)) for x in rows.schedule],
            "peak lr": [f"{_num(v):.3g}" for v in rows.peak_lr],
            "excess loss": [
                fmt_pm(_num(m), _num(s))
                for m, s in zip(rows.score_mean, rows.score_sem, strict=True)
            ],
            "vs linear": [
                "" if s == "linear" else fmt_short(_num(m), _num(e), signed=True)
                for s, m, e in zip(
                    rows.schedule, rows.diff_vs_linear_mean, rows.diff_vs_linear_sem, strict=True
                )
            ],
            "Holm p": ["" if pd.isna(p) else _p(_num(p)) for p in rows.p_holm],
            "outcome": ["" if pd.isna(o) else str(o) for o in rows.outcome],
            "accuracy": [
                f"{100 * _num(m):.1f}% ± {100 * _num(s):.1f}%"
                if np.isfinite(_num(s))
                else f"{100 * _num(m):.1f}%"
                for m, s in zip(rows.test_mean, rows.test_sem, strict=True)
            ],
            # the noise of one seed's score over its held-out sequences, not of the difference
            "held-out s.e.": [f"{_num(v):.2g}" for v in rows.token_se],
        }
    )


def lm_gap_closed(path: str | Path, vocab: int = 16) -> float | None:
    """The share of the gap between a uniform guess (ln ``vocab``) and the true chain that
    linear decay closes on the study's lm problem of the default (pre-transition) size, else
    its first lm problem, from its CSV (None without one).

    The true chain's cross-entropy is linear's held-out cross-entropy (``objective_mean``)
    minus its excess loss (``score_mean``).
    """
    try:
        rows = read_results(path)
    except ValueError:
        return None
    if rows is None:
        return None
    lin = rows[(rows.task == "lm") & (rows.schedule == "linear")]
    if "regime" in lin.columns:  # v3's size first (what the Train page's default trains)
        small = lin[[regime_kind(str(g)) == "pre-transition" for g in lin.regime]]
        lin = small if len(small) else lin
    if lin.empty or "objective_mean" not in lin.columns:
        return None
    share = gap_closed(_num(lin.objective_mean.iloc[0]), _num(lin.score_mean.iloc[0]), vocab)
    return share if np.isfinite(share) else None


def gap_closed(ce: float, excess: float, vocab: int) -> float:
    """The share of the gap between a uniform guess (ln ``vocab``) and the true chain that a
    model with held-out cross-entropy ``ce`` and excess loss ``excess`` closes (the chain's
    own cross-entropy is ``ce - excess``).

    >>> round(gap_closed(2.6, 0.5, 16), 4)
    0.2566
    """
    uniform = float(np.log(vocab))
    return float((uniform - ce) / (uniform - (ce - excess)))


def converged_summary(path: str | Path) -> str | None:
    """One sentence on the study's lm problem of a size where the model learns (kind
    'test'): refined minus linear decay, paired over its scoring seeds, with its Holm p and
    the late rise of linear's norms; None when the CSV has no such problem."""
    try:
        found = [f for f in lm_findings(path) if f.kind == "test"]
    except ValueError:
        return None
    if not found or not np.isfinite(found[0].diff[0]):
        return None
    f = found[0]
    word = "lost" if f.diff[0] > 0 else "gained"
    rise = f", its norms rising {f.late_rise:.2g}x late" if np.isfinite(f.late_rise) else ""
    return (
        f"refined {word} {fmt_pm(abs(f.diff[0]), f.diff[1])} {UNIT} against linear decay there "
        f"(paired over {f.n_seeds} scoring seeds, Holm p = {_p(f.p_holm)}{rise})"
    )
