"""The study: where do the paper's claims hold, on problems anyone can rerun?

Every problem runs constant, step, cosine and linear decay and **refined** (from the
seed-averaged norms of linear's runs at linear's best peak lr) through
:func:`lrcore.train.experiments.compare`: a factor-2 peak-lr grid around the problem's
centre lr, extended while a schedule's best sits at an edge, each schedule at its own best
peak lr by the final objective. Convex problems are scored by suboptimality
(objective - f_star, f_star from an exact solver), the CNNs by the objective. Wins are paired
per seed (a seed fixes the split, the initialisation, the batches and the gradient noise).
Problems, seeds and settings are fixed here before any result is seen; nothing is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lrcore.diagnose import diagnose_refined, refined_shape
from lrcore.train.config import RunConfig
from lrcore.train.experiments import best_rows, compare, own_norm_bounds, refine_from_runs
from lrcore.train.loop import OnStep

BASELINES = ("constant", "step", "cosine", "linear")
SCHEDULES = (*BASELINES, "refined")
CNN_SEEDS = 3  # the CNNs cost ~50x a logistic-regression run on the CPU: fewer seeds
# regime -> what the theory says there (the report prints it next to the verdicts)
REGIMES = {
    "logreg": "smooth convex (logistic regression + L2), batch 32, T = 1000",
    "hinge": "Lipschitz non-smooth convex (multiclass hinge), batch 32, T = 1000",
    "noise rise": "hinge, gradient noise rising x1 -> x5 over the second half (T = 2000)",
    "noise flat": "hinge, gradient noise of constant size (T = 2000)",
    "noise fall": "hinge, gradient noise falling x5 -> x1 over the first 30 % (T = 2000)",
    "small batch": "batch size 1, T = 2000",
    "long": "T = 5000, batch 32",
    "cnn": "small CNN with Adam, T = 500, 3 seeds: non-convex, interpolating, outside the theory",
}
CLAIMS = (
    ("linear beats cosine", "linear", "cosine"),
    ("refined beats linear", "refined", "linear"),
    ("linear beats constant", "linear", "constant"),
)


@dataclass(frozen=True)
class Problem:
    name: str
    regime: str  # a key of REGIMES
    config: RunConfig  # peak_lr is the centre of the grid; schedule and seed are set here
    max_seeds: int | None = None  # cap on the study's seeds (the CNNs)


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
    """The problems of docs/results.md (v1 problems plus the regimes added after pilots: see
    docs/protocol.md for which and when)."""
    hinge = {"task": "svm", "peak_lr": 0.1}
    out = [
        _p(f"logreg {d}", "logreg", dataset=d) for d in ("digits", "breast_cancer", "wine", "iris")
    ]
    out += [
        _p(f"logreg synthetic cond={c}", "logreg", synthetic_condition=float(v))
        for c, v in (("1", 1), ("100", 100), ("10^4", 1e4))
    ]
    out += [_p(f"hinge {d}", "hinge", dataset=d, **hinge) for d in ("synthetic", "iris", "digits")]
    for noise in ("rise", "flat", "fall"):
        out += [
            _p(
                f"hinge synthetic noise={noise}", f"noise {noise}", steps=2000, noise=noise, **hinge
            ),
            _p(f"logreg synthetic noise={noise}", f"noise {noise}", steps=2000, noise=noise),
        ]
    out += [
        _p("hinge synthetic batch=1", "small batch", steps=2000, batch_size=1, **hinge),
        _p(
            "logreg synthetic cond=100 batch=1",
            "small batch",
            steps=2000,
            batch_size=1,
            synthetic_condition=100.0,
            peak_lr=0.25,
        ),
        _p("logreg synthetic cond=100 T=5000", "long", steps=5000, synthetic_condition=100.0),
        _p("hinge synthetic noise=rise T=5000", "long", steps=5000, noise="rise", **hinge),
    ]
    for d in ("digits", "synthetic_images"):
        cfg = RunConfig(
            task="cnn",
            dataset=d,
            optimizer="adam",
            steps=500,  # the CNNs cost ~50x a convex run on one CPU thread
            batch_size=32,
            peak_lr=1e-3,
            eval_every=50,
        )
        out.append(Problem(f"cnn {d} (adam)", "cnn", cfg, max_seeds=CNN_SEEDS))
    return out


def smoke_problems() -> list[Problem]:
    """Two tiny problems (seconds): one convex with rising noise, one CNN."""
    return [
        Problem(
            "hinge synthetic noise=rise (smoke)",
            "noise rise",
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
        ),
        Problem(
            "cnn synthetic_images (smoke)",
            "cnn",
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
            max_seeds=2,
        ),
    ]


@dataclass
class ProblemResult:
    problem: Problem
    best: pd.DataFrame  # one row per schedule at its best peak lr (+ bound_vs_linear)
    scores: dict[str, np.ndarray]  # schedule -> score per seed at its best peak lr
    metric: str  # "suboptimality" (convex) or "objective" (CNN)
    peak_fraction: float  # refined shape: where it peaks (0 = start, 1 = end)
    above_half: float  # refined shape: share of the run at >= half its peak
    norm_fall: float  # early / late smoothed norms it was refined from
    warnings: list[str]  # lrcore.diagnose.diagnose_refined on the refined shape
    wall_time: float
    device: str

    def paired(self, a: str, b: str) -> tuple[float, float]:
        """Mean and standard error over seeds of ``score(b) - score(a)`` (> 0: a is better)."""
        la, lb = self.scores.get(a), self.scores.get(b)
        if la is None or lb is None or not (np.isfinite(la).all() and np.isfinite(lb).all()):
            return float("nan"), float("nan")
        d = lb - la
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.inf


@dataclass
class StudyResult:
    results: list[ProblemResult]
    seeds: tuple[int, ...]
    wall_time: float
    versions: dict = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """Every problem's best rows, with problem and regime columns."""
        return pd.concat(
            [r.best.assign(problem=r.problem.name, regime=r.problem.regime) for r in self.results],
            ignore_index=True,
        )

    def wins(self, a: str, b: str, regime: str | None = None) -> tuple[int, int, int, int]:
        """(a better on average, a clearly better, b clearly better, problems compared): clear =
        the paired per-seed difference is more than 2 standard errors from 0."""
        better = clear = lost = total = 0
        for r in self.results:
            if regime is not None and r.problem.regime != regime:
                continue
            mean, se = r.paired(a, b)
            if not np.isfinite(mean):
                continue
            total += 1
            better += mean > 0
            clear += mean > 2 * se
            lost += mean < -2 * se
        return better, clear, lost, total

    def bound_agrees(self, regime: str | None = None) -> tuple[int, int]:
        """(problems where the bound's refined-vs-linear call, from each schedule's own norms,
        matches the measured one, problems with an SGD bound)."""
        agree = total = 0
        for r in self.results:
            if regime is not None and r.problem.regime != regime:
                continue
            b = r.best.set_index("schedule").bound_vs_linear.get("refined", np.nan)
            mean, _ = r.paired("refined", "linear")
            if np.isfinite(b) and np.isfinite(mean):
                total += 1
                agree += (b < 1) == (mean > 0)
        return agree, total

    def verdicts(self) -> pd.DataFrame:
        """One row per claim, one column per regime: a verdict computed from the win counts."""
        regimes = [g for g in REGIMES if any(r.problem.regime == g for r in self.results)]
        rows = {claim: {g: verdict(self.wins(a, b, g)) for g in regimes} for claim, a, b in CLAIMS}
        rows["bound calls refined vs linear"] = {
            g: "n/a" if not n else f"{k}/{n} problems"
            for g, (k, n) in ((g, self.bound_agrees(g)) for g in regimes)
        }
        return pd.DataFrame(rows).T[regimes]


def verdict(wins: tuple[int, int, int, int]) -> str:
    """Words for (better, clear, clearly worse, n), e.g. ``holds (2/2 clear)``.

    >>> verdict((3, 3, 0, 3)), verdict((1, 0, 2, 3)), verdict((2, 0, 0, 3)), verdict((0, 0, 0, 0))
    ('holds (3/3 clear)', 'reversed (2/3 clearly worse)', 'no clear difference (2/3 better)', 'n/a')
    """
    better, clear, lost, n = wins
    if n == 0:
        return "n/a"
    if clear > n / 2:
        return f"holds ({clear}/{n} clear)"
    if lost > n / 2:
        return f"reversed ({lost}/{n} clearly worse)"
    if clear == 0 and lost == 0:
        return f"no clear difference ({better}/{n} better)"
    return f"mixed ({clear} clear wins, {lost} clear losses of {n})"


def run_study(
    problems: Sequence[Problem],
    seeds: Sequence[int] = tuple(range(10)),
    tau: float = 0.1,
    on_problem=None,
    on_step: OnStep | None = None,
) -> StudyResult:
    """Run every problem; ``on_problem(i, n, name)`` reports which one is running."""
    start = time.perf_counter()
    out = []
    for i, prob in enumerate(problems):
        if on_problem is not None:
            on_problem(i, len(problems), prob.name)
        out.append(_one_problem(prob, list(seeds)[: prob.max_seeds], tau, on_step))
    return StudyResult(out, tuple(seeds), time.perf_counter() - start, versions())


def _one_problem(prob: Problem, seeds, tau, on_step) -> ProblemResult:
    t0 = time.perf_counter()
    table, runs = compare(
        prob.config, SCHEDULES, seeds=seeds, return_runs=True, tau=tau, on_step=on_step
    )
    best = best_rows(table)
    best["bound_vs_linear"] = own_norm_bounds(best, runs)
    metric = "suboptimality" if best.suboptimality_mean.notna().all() else "objective"
    scores = {
        row.schedule: np.array([runs[(row.schedule, row.peak_lr, s)].final[metric] for s in seeds])
        for row in best.itertuples()
    }
    lin_peak = float(best.set_index("schedule").peak_lr["linear"])
    shape, norms = refine_from_runs([runs[("linear", lin_peak, s)] for s in seeds], tau)
    sh = refined_shape(shape, grad_norms=norms, tau=tau)
    return ProblemResult(
        prob,
        best,
        scores,
        metric,
        sh.peak_fraction,
        sh.above_half_fraction,
        float(sh.norm_fall),
        diagnose_refined(shape, norms, tau=tau),
        time.perf_counter() - t0,
        next(iter(runs.values())).device,
    )


def versions() -> dict:
    """Versions and CPU that the numbers came from (the report prints them)."""
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
    import os

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "cpu": f"{cpu} ({os.cpu_count()} cores)",
    }
