"""The study under protocol v3 (docs/protocol.md): where do the paper's claims hold, on
problems anyone can rerun?

Every problem uses three disjoint seed sets (a seed fixes the data split or source, the
initialisation, the batches and the gradient noise):

- **tuning seeds** ``0 .. n-1``: each baseline schedule runs a factor-2 peak-lr grid around
  the problem's centre lr (:func:`lrcore.train.experiments.compare`), extended while its best
  sits at an edge, up to :data:`MAX_EXTENSIONS` extra peak lrs; the best peak lr is the lowest
  mean final objective with no diverged seed;
- **build seeds** ``100 ..``: linear decay runs at its best peak lr; **refined** is refined
  (tau) from the seed-averaged norms of these runs only (l2 and the SGD rule for SGD, l1 and
  the Adam rule for Adam/AdamW), then tuned on the tuning seeds like the others;
- **scoring seeds** ``1000 ..``: every schedule runs once more at its best peak lr; every
  verdict, win count and per-problem number comes from these runs.

A schedule whose best is still at an edge of its grid, or ties the edge's score, is
*inconclusive* there; a claim involving it is left out of the verdict counts. A refinement that
:func:`lrcore.diagnose.diagnose_refined` flags is *degenerate* and counted apart. Claims are
tested per problem by a two-sided paired t-test over the scoring seeds, Holm-corrected over the
whole study; per regime, an exact one-sided sign test. Nothing is dropped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from lrcore.diagnose import diagnose_refined, refined_shape
from lrcore.train.config import RunConfig
from lrcore.train.experiments import (
    best_rows,
    compare,
    own_norm_bounds,
    refine_from_runs,
    schedule_changes,
)
from lrcore.train.loop import OnStep, run_many

BASELINES = ("constant", "step", "cosine", "linear")
SCHEDULES = (*BASELINES, "refined")
DEEP_SCHEDULES = ("constant", "cosine", "linear", "refined")  # step left out (time budget)
MAX_EXTENSIONS = 8  # extra peak lrs per schedule while its best is at an edge (v2: 4)
BUILD_SEED0 = 100  # build seeds: 100, 101, ...
SCORE_SEED0 = 1000  # scoring seeds: 1000, 1001, ...
ALPHA = 0.05  # a comparison is clear when its Holm-adjusted p-value is below this
TIE_RTOL = 1e-9  # an edge whose mean objective is this close to the best's ties it
CLAIMS = (
    ("linear beats cosine", "linear", "cosine"),
    ("refined beats linear", "refined", "linear"),
    ("linear beats constant", "linear", "constant"),
)
CLAIM_OF = {"cosine": CLAIMS[0][0], "refined": CLAIMS[1][0], "constant": CLAIMS[2][0]}
OUTCOMES = ("clearly better", "clearly worse", "no clear difference", "inconclusive", "degenerate")


@dataclass(frozen=True)
class Regime:
    what: str  # what is in it (the report prints it)
    status: str  # pre-pilot | post-pilot | pre-registered (docs/protocol.md, section 1)
    apart: bool = False  # reported apart from the verdicts on the theory (the CNN)


REGIMES = {
    "logreg T=1000 b=32": Regime(
        "logistic regression + L2 1e-3 (smooth convex), SGD, batch 32, T = 1000, no noise",
        "pre-pilot",
    ),
    "hinge T=1000 b=32": Regime(
        "multiclass hinge (Lipschitz, non-smooth convex), SGD, batch 32, T = 1000, no noise",
        "post-pilot",
    ),
    "rising noise (hinge+logreg)": Regime(
        "gradient noise rising x1 -> x5 over the second half; hinge and logreg at T = 2000, "
        "hinge at T = 5000",
        "post-pilot",
    ),
    "flat noise (hinge+logreg)": Regime("gradient noise of constant size, T = 2000", "post-pilot"),
    "falling noise (hinge+logreg)": Regime(
        "gradient noise falling x5 -> x1 over the first 30 %, T = 2000", "post-pilot"
    ),
    "batch 1 (hinge+logreg)": Regime("batch size 1, T = 2000, no noise", "post-pilot"),
    "long T=5000 no noise (logreg)": Regime(
        "logreg synthetic cond 100, batch 32, T = 5000", "post-pilot"
    ),
    "lm: transformer, AdamW, Markov source": Regime(
        "decoder-only transformer (d_model 64, 2 layers) on an order-2 Markov chain over 16 "
        "tokens, AdamW with 5 % warm-up, scored by excess held-out loss (nats/token); "
        "non-convex and never reaching 0 like language-model pre-training (not interpolating), "
        "but a toy, far from converged at this size: not the paper's LLM runs",
        "pre-registered",
    ),
    "cnn: interpolating (Adam)": Regime(
        "small CNN with Adam, T = 500; its norms collapse (it interpolates): outside the "
        "paper's deep-learning regime and the theory",
        "pre-pilot",
        apart=True,
    ),
}


@dataclass(frozen=True)
class Problem:
    name: str
    regime: str  # a key of REGIMES
    config: RunConfig  # peak_lr is the centre of the grid
    n_tune: int = 10
    n_build: int = 10
    n_score: int = 10
    schedules: tuple[str, ...] = SCHEDULES
    max_extensions: int = MAX_EXTENSIONS

    @property
    def tune_seeds(self) -> list[int]:
        return list(range(self.n_tune))

    @property
    def build_seeds(self) -> list[int]:
        return list(range(BUILD_SEED0, BUILD_SEED0 + self.n_build))

    @property
    def score_seeds(self) -> list[int]:
        return list(range(SCORE_SEED0, SCORE_SEED0 + self.n_score))

    @property
    def convex(self) -> bool:
        return self.config.convex

    @property
    def metric(self) -> str:
        """The name of the score: suboptimality (convex), excess_loss (lm), objective (CNN)."""
        if self.config.is_lm:
            return "excess_loss"
        return "suboptimality" if self.convex else "objective"

    def with_seeds(self, n: int) -> Problem:
        """The same problem with ``n`` tuning, build and scoring seeds."""
        return replace(self, n_tune=n, n_build=n, n_score=n)


def _p(name, regime, task="logreg", dataset="synthetic", steps=1000, peak_lr=1.0, **kw) -> Problem:
    cfg = RunConfig(
        task=task,
        dataset=dataset,
        optimizer="sgd",
        steps=steps,
        batch_size=kw.pop("batch_size", 32),
        peak_lr=peak_lr,
        weight_decay=1e-3 if task == "logreg" else 0.0,  # L2 gives logreg a finite minimiser
        eval_every=max(steps // 10, 1),
        device="cpu",
        **kw,
    )
    return Problem(name, regime, cfg)


def full_problems() -> list[Problem]:
    """The problems of docs/results.md, as docs/protocol.md (section 4) lists them."""
    hinge = {"task": "svm", "peak_lr": 0.1}
    g = list(REGIMES)
    out = [_p(f"logreg {d}", g[0], dataset=d) for d in ("digits", "breast_cancer", "wine", "iris")]
    out += [
        _p(f"logreg synthetic cond={c}", g[0], synthetic_condition=float(v))
        for c, v in (("1", 1), ("100", 100), ("10^4", 1e4))
    ]
    out += [_p(f"hinge {d}", g[1], dataset=d, **hinge) for d in ("synthetic", "iris", "digits")]
    for noise, regime in (("rise", g[2]), ("flat", g[3]), ("fall", g[4])):
        out += [
            _p(f"hinge synthetic noise={noise}", regime, steps=2000, noise=noise, **hinge),
            _p(f"logreg synthetic noise={noise}", regime, steps=2000, noise=noise),
        ]
    out += [
        _p("hinge synthetic noise=rise T=5000", g[2], steps=5000, noise="rise", **hinge),
        _p("hinge synthetic batch=1", g[5], steps=2000, batch_size=1, **hinge),
        _p(
            "logreg synthetic cond=100 batch=1",
            g[5],
            steps=2000,
            batch_size=1,
            synthetic_condition=100.0,
            peak_lr=0.25,
        ),
        _p("logreg synthetic cond=100 T=5000", g[6], steps=5000, synthetic_condition=100.0),
    ]
    # TASK_DEFAULTS["lm"]: AdamW, 800 steps of 16 sequences, 5 % warm-up
    lm = RunConfig.for_task("lm", device="cpu")
    out.append(Problem("lm markov order-2 (adamw)", g[7], lm, 3, 3, 5, DEEP_SCHEDULES))
    for d in ("digits", "synthetic_images"):
        cfg = RunConfig(
            task="cnn",
            dataset=d,
            optimizer="adam",
            steps=500,
            batch_size=32,
            peak_lr=1e-3,
            eval_every=50,
            device="cpu",
        )
        out.append(Problem(f"cnn {d} (adam)", g[8], cfg, 3, 3, 3, DEEP_SCHEDULES))
    return out


def smoke_problems() -> list[Problem]:
    """Three tiny problems (seconds), 2 seeds per set: a convex one with rising noise, a CNN
    and a language model."""
    return [
        Problem(
            "hinge synthetic noise=rise (smoke)",
            "rising noise (hinge+logreg)",
            RunConfig(
                task="svm",
                dataset="synthetic",
                steps=300,
                eval_every=100,
                peak_lr=0.05,
                noise="rise",
                synthetic_samples=400,
                device="cpu",
            ),
            2,
            2,
            2,
        ),
        Problem(
            "cnn synthetic_images (smoke)",
            "cnn: interpolating (Adam)",
            RunConfig(
                task="cnn",
                dataset="synthetic_images",
                optimizer="adam",
                steps=20,
                eval_every=10,
                synthetic_samples=100,
                peak_lr=2e-3,
                device="cpu",
            ),
            2,
            2,
            2,
            DEEP_SCHEDULES,
            max_extensions=2,
        ),
        Problem(
            "lm markov (smoke)",
            "lm: transformer, AdamW, Markov source",
            RunConfig.for_task(
                "lm",
                steps=40,
                eval_every=20,
                batch_size=4,
                lm_d_model=8,
                lm_layers=1,
                lm_heads=2,
                lm_seq_len=8,
                lm_heldout=16,
                device="cpu",
            ),
            2,
            2,
            2,
            DEEP_SCHEDULES,
            max_extensions=2,
        ),
    ]


@dataclass
class ProblemResult:
    problem: Problem
    best: pd.DataFrame  # one row per schedule at its best peak lr (scored on the scoring seeds)
    scores: dict[str, np.ndarray]  # schedule -> score per scoring seed (nan: diverged)
    tests: dict[str, np.ndarray]  # schedule -> test accuracy per scoring seed
    metric: str  # "suboptimality", "excess_loss" or "objective"
    refined: np.ndarray  # the refined shape (peak 1), built from the build seeds
    peak_fraction: float  # refined shape: where it peaks (0 = start, 1 = end)
    above_half: float  # refined shape: share of the run at >= half its peak
    norm_fall: float  # early / late smoothed norms it was refined from
    warnings: list[str]  # diagnose_refined on the refined shape: non-empty = degenerate
    wall_time: float
    device: str
    phase_times: dict[str, float] = field(default_factory=dict)  # tune, build, score (s)

    @property
    def degenerate(self) -> bool:
        return bool(self.warnings)

    def paired(self, a: str, b: str) -> tuple[float, float]:
        """Mean and standard error over the scoring seeds of ``score(b) - score(a)`` (> 0: a is
        better); nan when either is missing or has a diverged seed."""
        la, lb = self.scores.get(a), self.scores.get(b)
        if la is None or lb is None or not (np.isfinite(la).all() and np.isfinite(lb).all()):
            return float("nan"), float("nan")
        d = lb - la
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.inf


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


@dataclass
class StudyResult:
    results: list[ProblemResult]
    wall_time: float
    versions: dict = field(default_factory=dict)
    jobs: int = 1

    @property
    def regimes(self) -> list[str]:
        return [g for g in REGIMES if any(r.problem.regime == g for r in self.results)]

    @property
    def table(self) -> pd.DataFrame:
        """Every problem's best rows, with problem and regime columns."""
        return pd.concat(
            [r.best.assign(problem=r.problem.name, regime=r.problem.regime) for r in self.results],
            ignore_index=True,
        )

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        """One row per problem x claim: the paired difference d = score(B) - score(A) over the
        scoring seeds (> 0: A better), its t-test p, the Holm-adjusted p over every conclusive
        comparison of the study, and the outcome."""
        rows = []
        for r in self.results:
            best = r.best.set_index("schedule")
            for claim, a, b in CLAIMS:
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
        out["outcome"] = [_outcome(row) for row in out.itertuples()]
        return out

    def counts(self, claim: str, regime: str | None = None) -> dict:
        """Per claim (and regime): better (lower mean score, however small) / clearly better /
        clearly worse among the counted problems (neither inconclusive nor degenerate), the
        inconclusive and degenerate ones apart (with what the degenerate ones measured), the
        exact sign-test p of 'better on k of n counted', and the verdict words."""
        c = self.comparisons
        c = c[c.claim == claim]
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

    def bound_agrees(self, regime: str | None = None) -> tuple[int, int, float]:
        """(problems where the bound's refined-vs-linear call, from each schedule's own norms on
        the scoring seeds, matches the measured sign, conclusive SGD problems, one-sided exact
        binomial p-value of that many agreements by chance)."""
        agree = total = 0
        c = self.comparisons.set_index(["problem", "claim"])
        for r in self.results:
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

    def verdicts(self) -> pd.DataFrame:
        """One row per claim, one column per regime: the verdict words."""
        rows = {
            claim: {g: self.counts(claim, g)["verdict"] for g in self.regimes}
            for claim, *_ in CLAIMS
        }
        return pd.DataFrame(rows).T[self.regimes]

    def csv_table(self) -> pd.DataFrame:
        """docs/results.csv: one row per problem x schedule at its best peak lr, full precision."""
        comp = self.comparisons.set_index(["problem", "claim"])
        rows = []
        for r in self.results:
            best = r.best.set_index("schedule")
            for s, row in best.iterrows():
                claim = CLAIM_OF.get(s, "")
                key = (r.problem.name, claim)
                have = claim and key in comp.index
                mean, se = r.paired("linear", s)
                lin = float(best.score_mean.get("linear", np.nan))
                rows.append(
                    {
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
                        "claim": claim,
                        "p_t": comp.p_t[key] if have else float("nan"),
                        "p_holm": comp.p_holm[key] if have else float("nan"),
                        "outcome": comp.outcome[key] if have else "",
                        "test_metric": "next_token_accuracy"
                        if r.problem.config.is_lm
                        else "test_accuracy",
                        "test_mean": row.test_mean,
                        "test_sem": row.test_sem,
                        "bound_vs_linear": row.bound_vs_linear,
                        "problem_wall_s": r.wall_time,
                    }
                )
        return pd.DataFrame(rows)


def _outcome(row) -> str:
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


def run_study(
    problems: Sequence[Problem],
    tau: float = 0.1,
    on_problem=None,
    on_step: OnStep | None = None,
    jobs: int = 1,
) -> StudyResult:
    """Run every problem (``jobs`` > 1: that many worker processes, one problem each at a time;
    every run uses one CPU thread, so the numbers do not depend on ``jobs``).
    ``on_problem(k, n, name, seconds)`` reports each problem as it finishes."""
    start = time.perf_counter()
    problems = list(problems)
    out: list[ProblemResult | None] = [None] * len(problems)
    if jobs <= 1 or len(problems) <= 1:
        for i, prob in enumerate(problems):
            out[i] = _one_problem(prob, tau, on_step)
            if on_problem is not None:
                on_problem(i + 1, len(problems), prob.name, out[i].wall_time)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # the costliest first, so that the last to finish is a short one
        order = sorted(range(len(problems)), key=lambda i: -_cost(problems[i]))
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            with _workers_skip_main():  # the workers start on the first submits
                futures = {pool.submit(_one_problem, problems[i], tau, None): i for i in order}
            for k, fut in enumerate(as_completed(futures), 1):
                i = futures[fut]
                out[i] = fut.result()
                if on_problem is not None:
                    on_problem(k, len(problems), problems[i].name, out[i].wall_time)
    return StudyResult(out, time.perf_counter() - start, versions(), max(int(jobs), 1))  # type: ignore[arg-type]


@contextmanager
def _workers_skip_main():
    """Spawned workers re-run the parent's ``__main__`` script before they start, unless it
    has no ``__file__``. Under Streamlit (AppTest included) or a notebook that script is not
    the caller's: a page's main.py would run in every worker and break it. The workers need
    only :func:`_one_problem`, which they import from this module, so hide the script while
    they start."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _cost(prob: Problem) -> float:
    per_step = {"lm": 60.0, "cnn": 25.0}.get(prob.config.task, 1.0)
    return per_step * prob.config.steps * prob.n_tune * len(prob.schedules)


def _edges(table: pd.DataFrame) -> dict[str, tuple[bool, bool, str, int]]:
    """Per schedule of a compare table: (best at an edge, an edge ties the best, why, tried)."""
    out = {}
    for s, rows in table.groupby("schedule", observed=True, sort=False):
        tried = len(rows)
        best = rows[rows.best]
        if best.empty:
            out[str(s)] = (True, False, "every peak lr diverged", tried)
            continue
        lo, hi = rows.peak_lr.min(), rows.peak_lr.max()
        b = float(best.objective_mean.iloc[0])
        peak = float(best.peak_lr.iloc[0])
        ok = rows[rows.diverged == 0]
        ties = ok[
            (ok.peak_lr != peak)
            & ok.peak_lr.isin([lo, hi])
            & ((ok.objective_mean - b).abs() <= TIE_RTOL * abs(b) + 1e-15)
        ]
        at_edge = peak in (lo, hi)
        if at_edge:
            why = f"best at the {'smallest' if peak == lo else 'largest'} of {tried} peak lrs"
        elif not ties.empty:
            why = f"ties the score at peak lr {float(ties.peak_lr.iloc[0]):g}, an edge"
        else:
            why = ""
        out[str(s)] = (at_edge, not ties.empty, why, tried)
    return out


def _one_problem(prob: Problem, tau: float, on_step: OnStep | None) -> ProblemResult:
    t0 = time.perf_counter()
    cfg, tune = prob.config, prob.tune_seeds
    baselines = [s for s in prob.schedules if s != "refined"]
    table, runs = compare(
        cfg,
        baselines,
        seeds=tune,
        return_runs=True,
        on_step=on_step,
        max_extensions=prob.max_extensions,
    )
    tables = [table]
    t1 = time.perf_counter()
    lin = table[(table.schedule == "linear") & table.best]
    if lin.empty:
        raise ValueError(
            f"study: every linear run of {prob.name} diverged; refined cannot be built"
        )
    lin_peak = float(lin.peak_lr.iloc[0])
    build = run_many(
        [
            cfg.with_(peak_lr=lin_peak, seed=s, **schedule_changes(cfg, "linear"))
            for s in prob.build_seeds
        ],
        on_step=on_step,
    )
    ok = [r for r in build if r.ok]
    if not ok:
        raise ValueError(f"study: linear diverged on every build seed of {prob.name}")
    shape, norms = refine_from_runs(ok, tau)
    t2 = time.perf_counter()
    if "refined" in prob.schedules:
        rtable, rruns = compare(
            cfg,
            {"refined": tuple(shape)},
            seeds=tune,
            return_runs=True,
            on_step=on_step,
            max_extensions=prob.max_extensions,
        )
        tables.append(rtable)
        runs.update(rruns)
    t3 = time.perf_counter()
    specs = {s: (s if s != "refined" else tuple(shape)) for s in prob.schedules}
    best = pd.concat([best_rows(t) for t in tables], ignore_index=True)
    edges = {k: v for t in tables for k, v in _edges(t).items()}
    best = best.rename(
        columns={
            "objective_mean": "tuning_objective_mean",
            "suboptimality_mean": "tuning_suboptimality_mean",
        }
    )
    key = "objective" if prob.metric == "objective" else "suboptimality"
    best["tuning_score_mean"] = best[f"tuning_{key}_mean"]
    best["at_grid_edge"] = [edges[s][0] for s in best.schedule]
    best["edge_tie"] = [edges[s][1] for s in best.schedule]
    best["edge_reason"] = [edges[s][2] for s in best.schedule]
    best["n_tried"] = [edges[s][3] for s in best.schedule]
    best["inconclusive"] = best.at_grid_edge | best.edge_tie
    # scoring: every schedule at its best peak lr on the held-out scoring seeds, one batch
    keys, configs = [], []
    for row in best.itertuples():
        for seed in prob.score_seeds:
            keys.append((row.schedule, float(row.peak_lr), seed))
            configs.append(
                cfg.with_(
                    peak_lr=float(row.peak_lr),
                    seed=seed,
                    **schedule_changes(cfg, specs[row.schedule]),
                )
            )
    scored = dict(zip(keys, run_many(configs, on_step=on_step), strict=True))
    t4 = time.perf_counter()

    def per_seed(s: str, p: float, what: str) -> np.ndarray:
        return np.array([scored[(s, p, seed)].final.get(what, np.nan) for seed in prob.score_seeds])

    scores, tests, cols = (
        {},
        {},
        {
            k: []
            for k in (
                "score_mean",
                "score_sem",
                "token_se",
                "objective_mean",
                "test_mean",
                "test_sem",
                "diverged",
            )
        },
    )
    for row in best.itertuples():
        s, p = row.schedule, float(row.peak_lr)
        sc = per_seed(s, p, key)
        sc = np.where([scored[(s, p, seed)].ok for seed in prob.score_seeds], sc, np.nan)
        scores[s], tests[s] = sc, per_seed(s, p, "test_accuracy")
        n = len(sc)
        cols["score_mean"].append(float(sc.mean()))
        cols["score_sem"].append(float(sc.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan)
        cols["token_se"].append(
            float(per_seed(s, p, "suboptimality_se").mean()) if cfg.is_lm else np.nan
        )
        cols["objective_mean"].append(float(per_seed(s, p, "objective").mean()))
        cols["test_mean"].append(float(tests[s].mean()))
        cols["test_sem"].append(float(tests[s].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan)
        cols["diverged"].append(sum(not scored[(s, p, seed)].ok for seed in prob.score_seeds))
    best = best.drop(columns=["diverged"], errors="ignore")
    for k, v in cols.items():
        best[k] = v
    best["bound_vs_linear"] = own_norm_bounds(best, scored)
    sh = refined_shape(shape, grad_norms=norms, tau=tau)
    return ProblemResult(
        prob,
        best,
        scores,
        tests,
        prob.metric,
        np.asarray(shape),
        sh.peak_fraction,
        sh.above_half_fraction,
        float(sh.norm_fall),
        diagnose_refined(shape, norms, tau=tau),
        time.perf_counter() - t0,
        next(iter(scored.values())).device,
        {"tune": t1 - t0 + t3 - t2, "build": t2 - t1, "score": t4 - t3},
    )


def versions() -> dict:
    """Versions and CPU that the numbers came from (the report prints them)."""
    import os
    import platform

    import scipy
    import sklearn
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "cpu": f"{cpu} ({os.cpu_count()} cores)",
    }
