"""The study: do the paper's claims hold on small problems anyone can rerun?

For every problem: constant, step, cosine, linear decay and refined (from that problem's
own linear-decay runs), each at its best peak lr on a fixed grid, over several seeds.
The main metric is the final training loss (what the theory bounds); test accuracy is
reported too, with the last-iterate bound each schedule gets from the problem's
gradient norms. Everything is decided before any result is seen: no problem, seed or
schedule is dropped afterwards.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lrcore.bound import compare_bounds
from lrcore.train.config import RunConfig
from lrcore.train.experiments import refine_from_runs, table_from_runs
from lrcore.train.loop import OnStep, run_many

BASELINES = ("constant", "step", "cosine", "linear")
SCHEDULES = (*BASELINES, "refined")
SGD_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
ADAM_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)


@dataclass(frozen=True)
class Problem:
    name: str
    config: RunConfig  # schedule, peak_lr and seed are set by the study
    peak_lrs: tuple[float, ...]


def _logreg(name: str, dataset: str, steps: int, **kw) -> Problem:
    # a small L2 term gives every problem a finite minimiser (digits and iris are separable)
    cfg = RunConfig(
        task="logreg",
        dataset=dataset,
        optimizer="sgd",
        steps=steps,
        batch_size=32,
        weight_decay=1e-3,
        eval_every=max(steps // 20, 1),
        **kw,
    )
    return Problem(name, cfg, SGD_GRID)


def _cnn(name: str, dataset: str, steps: int, **kw) -> Problem:
    cfg = RunConfig(
        task="cnn",
        dataset=dataset,
        optimizer="adam",
        steps=steps,
        batch_size=32,
        eval_every=max(steps // 20, 1),
        **kw,
    )
    return Problem(name, cfg, ADAM_GRID)


def full_problems(steps: int = 1000, cnn_steps: int = 1000) -> list[Problem]:
    return [
        _logreg("logreg digits", "digits", steps),
        _logreg("logreg breast_cancer", "breast_cancer", steps),
        _logreg("logreg wine", "wine", steps),
        _logreg("logreg iris", "iris", steps),
        _logreg("logreg synthetic cond=1", "synthetic", steps, synthetic_condition=1.0),
        _logreg("logreg synthetic cond=100", "synthetic", steps, synthetic_condition=100.0),
        _logreg("logreg synthetic cond=10^4", "synthetic", steps, synthetic_condition=1e4),
        _cnn("cnn digits (adam)", "digits", cnn_steps),
        _cnn("cnn synthetic_images (adam)", "synthetic_images", cnn_steps),
    ]


def smoke_problems() -> list[Problem]:
    return [
        Problem(
            "logreg iris (smoke)",
            RunConfig(dataset="iris", steps=80, eval_every=40, weight_decay=1e-3),
            (0.1, 1.0),
        ),
        Problem(
            "cnn synthetic_images (smoke)",
            RunConfig(
                task="cnn",
                dataset="synthetic_images",
                optimizer="adam",
                steps=40,
                eval_every=20,
                synthetic_samples=200,
            ),
            (1e-3, 3e-3),
        ),
    ]


@dataclass
class StudyResult:
    table: pd.DataFrame  # one row per problem x schedule (at its best peak lr)
    seeds: tuple[int, ...]
    wall_time: float
    device: str
    problems: list[Problem] = field(default_factory=list)
    per_seed: dict = field(default_factory=dict)  # (problem, schedule) -> final train loss per seed

    def wins(self, a: str, b: str) -> tuple[int, int, int]:
        """(problems where a's mean final train loss < b's, where a is lower by more than 2
        standard errors of the paired per-seed difference, problems compared). Seeds pair up:
        a seed fixes the data split, the initialisation and the batches for every schedule."""
        better = significant = total = 0
        for problem in self.table.problem.unique():
            la, lb = self.per_seed.get((problem, a)), self.per_seed.get((problem, b))
            if la is None or lb is None or not (np.isfinite(la).all() and np.isfinite(lb).all()):
                continue
            total += 1
            diff = np.asarray(lb) - np.asarray(la)
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
            better += diff.mean() > 0
            significant += diff.mean() > 2 * se
        return int(better), int(significant), total

    def bound_agrees(self) -> tuple[int, int]:
        """(problems where the schedule with the lowest bound also has the lowest measured
        final train loss, problems with bounds)."""
        agree = total = 0
        for _, rows in self.table.groupby("problem", sort=False):
            rows = rows.dropna(subset=["bound", "train_loss_mean"])
            if len(rows):
                total += 1
                agree += rows.bound.idxmin() == rows.train_loss_mean.idxmin()
        return int(agree), total


def run_study(
    problems: Sequence[Problem],
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    tau: float = 0.1,
    on_problem=None,
    on_step: OnStep | None = None,
) -> StudyResult:
    """Run every problem; ``on_problem(i, n, name)`` reports which one is running."""
    start = time.perf_counter()
    rows, device, per_seed = [], "cpu", {}
    for i, prob in enumerate(problems):
        if on_problem is not None:
            on_problem(i, len(problems), prob.name)
        t0 = time.perf_counter()
        rows.append(_one_problem(prob, seeds, tau, on_step, per_seed))
        rows[-1]["wall_s"] = time.perf_counter() - t0
        device = rows[-1].attrs["device"]
    table = pd.concat(rows, ignore_index=True)
    return StudyResult(
        table, tuple(seeds), time.perf_counter() - start, device, list(problems), per_seed
    )


def _configs(prob: Problem, schedule, seeds, peaks) -> list[tuple[tuple, RunConfig]]:
    label = schedule if isinstance(schedule, str) else "refined"
    return [
        (
            (label, float(p), int(s)),
            prob.config.with_(schedule=schedule, peak_lr=float(p), seed=int(s)),
        )
        for p in peaks
        for s in seeds
    ]


def _one_problem(prob: Problem, seeds, tau, on_step, per_seed: dict) -> pd.DataFrame:
    jobs = [job for name in BASELINES for job in _configs(prob, name, seeds, prob.peak_lrs)]
    runs = dict(
        zip([k for k, _ in jobs], run_many([c for _, c in jobs], on_step=on_step), strict=True)
    )
    table = table_from_runs(runs, BASELINES)
    # refined from this problem's own linear-decay runs at linear's best peak lr (seed-averaged norms)
    lin_best = table[(table.schedule == "linear") & table.best]
    if len(lin_best):
        lin_peak = float(lin_best.peak_lr.iloc[0])
        lin_runs = [runs[("linear", lin_peak, s)] for s in seeds]
        shape, norms = refine_from_runs(lin_runs, tau)
        jobs = _configs(prob, tuple(shape), seeds, prob.peak_lrs)
        runs.update(
            zip([k for k, _ in jobs], run_many([c for _, c in jobs], on_step=on_step), strict=True)
        )
        shapes = {name: runs[(name, lin_peak, seeds[0])].config.lrs() for name in BASELINES}
        shapes["refined"] = shape
        # under the norms that refinement used
        bounds = compare_bounds(shapes, norms).set_index("schedule").bound.to_dict()
    else:  # every linear run diverged: refined cannot be built, and the table says so
        bounds = {}
    full = table_from_runs(runs, SCHEDULES)
    best = full[full.best].set_index("schedule").reindex(list(SCHEDULES)).reset_index()
    best["schedule"] = best["schedule"].astype(str)
    best.insert(0, "problem", prob.name)
    best["bound"] = best["schedule"].map(bounds)
    best["bound_vs_linear"] = best["bound"] / bounds.get("linear", np.nan)
    for _, row in best.dropna(subset=["peak_lr"]).iterrows():
        per_seed[(prob.name, row.schedule)] = np.array(
            [runs[(row.schedule, row.peak_lr, s)].final["train_loss"] for s in seeds]
        )
    best.attrs["device"] = next(iter(runs.values())).device
    return best


# --------------------------------------------------------------------------- report


def _pm(mean: float, sem: float, fmt: str) -> str:
    if not np.isfinite(mean):
        return "diverged"
    return f"{mean:{fmt}} ± {sem:{fmt}}"


def markdown_report(result: StudyResult, command: str) -> str:
    import torch

    t = result.table
    lines = [
        "# Do the paper's claims hold here? A reproducible mini-study",
        "",
        f"- Command: `{command}`",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
        f"device `{result.device}`",
        f"- Wall time: {result.wall_time / 60:.1f} min",
        f"- Seeds: {', '.join(map(str, result.seeds))} (every problem, every schedule, every peak lr)",
        "",
        "## Setup",
        "",
        "Each problem runs constant, step (×0.1 every third of the run), cosine and linear decay, each at",
        "every peak lr of a fixed grid, then **refined**: the schedule refined (τ = 0.1) from the",
        "seed-averaged gradient norms of that problem's linear-decay runs at linear's best peak lr",
        "(l2 norms for SGD, l1 for Adam), run on the same grid. Every schedule is reported at its",
        "best peak lr (lowest mean final training loss over seeds, no diverged seed). Logistic",
        "regression uses SGD with a small L2 term (1e-3) so every problem has a minimiser; the",
        "CNNs use Adam. The *bound* column is the last-iterate bound of each schedule's shape at",
        "its best scale under the problem's measured gradient norms (D = 1), relative to linear.",
        "Nothing was dropped after seeing results.",
        "",
    ]
    wins_lc = result.wins("linear", "cosine")
    wins_rl = result.wins("refined", "linear")
    wins_cl = result.wins("cosine", "linear")
    wins_lr = result.wins("linear", "refined")
    wins_lconst = result.wins("linear", "constant")
    agree, with_bounds = result.bound_agrees()
    lines += [
        "## Findings",
        "",
        *_findings(wins_lc, wins_cl, wins_rl, wins_lr, wins_lconst, agree, with_bounds),
        "",
        "## Win counts (final training loss)",
        "",
        "A win is a lower mean over seeds; a clear win is lower by more than 2 standard errors of",
        "the paired per-seed difference (a seed fixes the split, the initialisation and the batches).",
        "",
        "| comparison | wins | clear wins | problems |",
        "|---|---|---|---|",
        f"| linear beats cosine | {wins_lc[0]} | {wins_lc[1]} | {wins_lc[2]} |",
        f"| cosine beats linear | {wins_cl[0]} | {wins_cl[1]} | {wins_cl[2]} |",
        f"| refined beats linear | {wins_rl[0]} | {wins_rl[1]} | {wins_rl[2]} |",
        f"| linear beats refined | {wins_lr[0]} | {wins_lr[1]} | {wins_lr[2]} |",
        f"| linear beats constant | {wins_lconst[0]} | {wins_lconst[1]} | {wins_lconst[2]} |",
        f"| lowest bound = lowest measured loss | {agree} | - | {with_bounds} |",
        "",
        "## Per problem",
        "",
        "| problem | schedule | best peak lr | final train loss | test accuracy | bound vs linear |",
        "|---|---|---|---|---|---|",
    ]
    grids = {p.name: p.peak_lrs for p in result.problems}
    edge = 0
    for _, r in t.iterrows():
        bound = f"{r.bound_vs_linear:.3f}" if np.isfinite(r.bound_vs_linear) else "n/a"
        peak = f"{r.peak_lr:g}" if np.isfinite(r.peak_lr) else "n/a"
        grid = grids.get(r.problem, ())
        if grid and np.isfinite(r.peak_lr) and r.peak_lr in (min(grid), max(grid)):
            peak += " *"
            edge += 1
        lines.append(
            f"| {r.problem} | {r.schedule} | {peak} | {_pm(r.train_loss_mean, r.train_loss_sem, '.4f')} "
            f"| {_pm(100 * r.test_accuracy_mean, 100 * r.test_accuracy_sem, '.2f')}% | {bound} |"
        )
    grid_text = "; ".join(sorted({f"{', '.join(f'{x:g}' for x in g)}" for g in grids.values()}))
    lines += [
        "",
        f"Peak-lr grids: {grid_text}. "
        + (
            f"`*` marks {edge} best peak lr(s) at the edge of the grid: there the tuning may be incomplete."
            if edge
            else "Every best peak lr is inside its grid."
        ),
    ]
    lines += [
        "",
        "Mean ± standard error over seeds. For the Adam (CNN) problems the bound uses the l1",
        "norms refinement used; the theory behind it is for SGD, so there it is only indicative.",
        "",
        "Wall time per problem: "
        + ", ".join(
            f"{p} {w:.0f} s" for p, w in t.groupby("problem", sort=False).wall_s.first().items()
        ),
        "",
    ]
    return "\n".join(lines)


def _verdict(wins: tuple[int, int, int], a: str, b: str) -> str:
    better, clear, total = wins
    if total == 0:
        return f"{a} vs {b}: no problem could be compared."
    if clear > total / 2:
        word = "holds"
    elif better > total / 2:
        word = "holds only weakly (more wins than losses, few of them clear)"
    else:
        word = "does not hold"
    return (
        f"{a} had a lower final training loss than {b} on {better} of {total} problems "
        f"({clear} clearly): the claim {word} here."
    )


def _findings(lc, cl, rl, lr, lconst, agree, with_bounds) -> list[str]:
    out = [
        f"- **Linear decay vs cosine.** {_verdict(lc, 'Linear', 'cosine')} Cosine was clearly better "
        f"on {cl[1]} problem(s).",
        f"- **Refinement vs linear decay.** {_verdict(rl, 'Refined', 'linear')} Linear was clearly "
        f"better on {lr[1]} problem(s).",
        f"- **Decay vs constant.** {_verdict(lconst, 'Linear', 'constant')}",
        f"- **Bound vs measurement.** The schedule with the lowest bound also had the lowest measured "
        f"loss on {agree} of {with_bounds} problems.",
    ]
    return out
