"""Check that a schedule helps: compare schedules over seeds on a peak-lr grid (each schedule
tuned on its own, as the paper tunes each schedule), or refine from a run and retrain.

Every run is scored by the objective it minimises at its last iterate (data loss + the L2
term, on the full training set); for the convex tasks the tables also show the
suboptimality ``objective - f_star`` (same ranking: f_star is fixed per seed). For task
"lm" the objective is the held-out cross-entropy and the suboptimality the excess loss over
the true Markov model on the same held-out tokens (``suboptimality_se_mean``: its standard
error over held-out sequences, averaged over seeds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lrcore.bound import best_scale
from lrcore.refine import refine
from lrcore.train.config import RunConfig
from lrcore.train.result import RunResult

if TYPE_CHECKING:  # the loop (torch) is imported by the first run, not with this module
    from lrcore.train.loop import OnStep

METRICS = ("objective", "suboptimality", "train_loss", "test_loss", "test_accuracy")
SE_METRIC = "suboptimality_se"  # lm runs only: s.e. of the suboptimality over held-out tokens
GRID_FACTOR = 2.0  # neighbouring peak lrs of the default grid, and of each extension
GRID_POINTS = 5  # default grid: peak_lr * 2^-2 .. peak_lr * 2^2
NORM_FLOOR = 1e-12  # zero norms are raised to this times the largest before refinement
MAX_EXTENSIONS = 4  # at most this many extra peak lrs per schedule when the best is at an edge
# rounds of refinement a compare may run: each tunes a schedule of its own (the paper's
# refinement is one round; the cost of planning grows with the rounds: 100,000 took 31 s)
MAX_ROUNDS = 20
BEST_COLUMNS = [
    "schedule",
    "peak_lr",
    "at_grid_edge",
    "n_seeds",
    "diverged",
    "learned",
    "objective_mean",
    "objective_sem",
    "suboptimality_mean",
    "suboptimality_sem",
    "test_accuracy_mean",
    "test_accuracy_sem",
]


def _refine_variant(config: RunConfig) -> str:
    return "sgd" if config.optimizer == "sgd" else "adam"


def default_grid(peak_lr: float, points: int = GRID_POINTS) -> list[float]:
    """A factor-2 grid of ``points`` peak lrs centred (in log scale) on ``peak_lr``.

    >>> default_grid(1.0)
    [0.25, 0.5, 1.0, 2.0, 4.0]
    """
    lo = -(points // 2)
    return [float(peak_lr * GRID_FACTOR**k) for k in range(lo, lo + points)]


@dataclass(frozen=True)
class RefineRound:
    schedule: np.ndarray  # the refined shape (peak 1) this round ran
    result: RunResult  # the run with that schedule
    source_norms: np.ndarray  # the norms it was refined from (the previous round's run)


@dataclass(frozen=True)
class RefineRetrain:
    linear: RunResult  # the first run, linear decay
    rounds: list[RefineRound] = field(default_factory=list)  # round k refines round k-1's run

    @property
    def refined(self) -> RunResult:
        """The last round's run."""
        return self.rounds[-1].result

    @property
    def schedule(self) -> np.ndarray:
        """The last round's shape."""
        return self.rounds[-1].schedule


def run_many(configs: list[RunConfig], on_step: OnStep | None = None) -> list[RunResult]:
    """:func:`lrcore.train.loop.run_many`, imported on the first call: a page that shows this
    module's tables (the app's Train page) does not load torch (seconds, ~300 MB)."""
    from lrcore.train.loop import run_many as _run_many

    return _run_many(configs, on_step=on_step)


def refined_from_linear(
    config: RunConfig, seeds: Sequence[int] = (0,), tau: float = 0.1, on_step: OnStep | None = None
) -> tuple[np.ndarray, list[RunResult]]:
    """Run linear decay at ``config.peak_lr`` for each seed (batched), average the gradient
    norms over seeds (l2 for SGD, l1 for Adam) and refine them. Returns the shape and the
    linear runs. (:func:`compare` with ``"refined"`` first tunes linear's peak lr.)"""
    runs = run_many(
        [
            config.with_(schedule="linear", schedule_params={}, warmup_steps=0, seed=s)
            for s in seeds
        ],
        on_step=on_step,
    )
    _check_ok(runs, "refined_from_linear", "linear-decay", config.peak_lr)
    return refine_from_runs(runs, tau)[0], runs


def _check_ok(runs: Sequence[RunResult], fn: str, what: str, peak_lr: float) -> None:
    bad = [r for r in runs if not r.ok]
    if bad:
        raise ValueError(
            f"{fn}: the {what} run with seed {bad[0].config.seed} {bad[0].status()}; "
            f"lower peak_lr ({peak_lr:g})"
        )


def refine_from_runs(runs: Sequence[RunResult], tau: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(refined shape, the seed-averaged norms it came from): l2 norms and the sgd variant for
    SGD runs, l1 and the adam variant otherwise."""
    config = runs[0].config
    norms = np.mean([r.grad_norms() for r in runs], axis=0)
    # a step with no loss (the hinge once every margin in the batch is met) has norm 0;
    # refinement needs positive norms: floor them far below every other step
    norms = np.maximum(norms, NORM_FLOOR * norms.max())
    return refine(norms, tau=tau, optimizer=_refine_variant(config)), norms


def refine_and_retrain(
    config: RunConfig, tau: float = 0.1, rounds: int = 1, on_step: OnStep | None = None
) -> RefineRetrain:
    """Linear decay at ``config.peak_lr``, then ``rounds`` rounds of refinement: round 1 runs
    the schedule refined from the linear run's gradient norms, round k the schedule refined
    from round k-1's run; all at the same peak lr and seed. ``.rounds`` holds every round."""
    if isinstance(rounds, bool) or not isinstance(rounds, int | np.integer) or rounds < 1:
        raise ValueError(f"refine_and_retrain: rounds must be an integer >= 1, got {rounds!r}")
    shape, (linear,) = refined_from_linear(config, (config.seed,), tau, on_step)
    source, out = linear, []
    for k in range(int(rounds)):
        if k:
            _check_ok([source], "refine_and_retrain", f"round-{k} refined", config.peak_lr)
            shape = refine_from_runs([source], tau)[0]
        run = run_many(
            [config.with_(schedule=tuple(shape), schedule_params={}, warmup_steps=0)],
            on_step=on_step,
        )[0]
        out.append(RefineRound(np.asarray(shape), run, source.grad_norms()))
        source = run
    return RefineRetrain(linear=linear, rounds=out)


def _as_schedules(schedules) -> dict[str, str | tuple]:
    if isinstance(schedules, Mapping):
        return {
            str(k): (v if isinstance(v, str) else tuple(np.ravel(v))) for k, v in schedules.items()
        }
    return {str(s): s for s in schedules}


def _label(k: int) -> str:
    return "refined" if k == 1 else f"refined_{k}"


def compare(
    config: RunConfig,
    schedules,
    seeds: Sequence[int] = (0, 1, 2),
    peak_lrs: Sequence[float] | None = None,
    on_step: OnStep | None = None,
    return_runs: bool = False,
    extend_grid: bool = True,
    tau: float = 0.1,
    rounds: int = 1,
    max_extensions: int = MAX_EXTENSIONS,
    executor: Executor | None = None,
):
    """Run every schedule x seed x peak lr (batched); return the full table.

    ``schedules`` is a list of registry names or a mapping label -> registry name or shape;
    the name ``"refined"`` means: tune linear first, then refine (``tau``) from the
    seed-averaged norms of linear's runs at its best peak lr, and tune that shape (with
    ``rounds`` > 1, round k is refined from round k-1's runs at its best peak lr and is
    labelled ``refined_k``). ``peak_lrs`` defaults to :func:`default_grid` of
    ``config.peak_lr``. With ``extend_grid``, a schedule whose best peak lr is the smallest
    or largest it tried gets one more peak lr (x1/2 or x2), up to ``max_extensions`` times.

    One row per (schedule, peak_lr): seeds, diverged seeds, mean and standard error over
    seeds of the final objective, suboptimality, train/test loss and test accuracy;
    ``best`` marks each schedule's peak lr with the lowest mean objective (no diverged
    seed); ``at_grid_edge`` marks the smallest and largest peak lr a schedule tried;
    ``learned`` says every seed finished more than ``result.LEARN_RTOL`` below its initial
    objective (False: "did not learn"). With
    ``return_runs``, also returns ``{(schedule, peak_lr, seed): RunResult}``. With an
    ``executor`` (:func:`lrcore.executors.get_executor`: local processes or a Dask cluster),
    each batch of runs is one task there (:func:`run_batches`): the same numbers.
    """
    named = _as_schedules(schedules)
    if not named:
        raise ValueError("compare: schedules is empty")
    if not seeds:
        raise ValueError("compare: seeds is empty")
    if (
        isinstance(rounds, bool)
        or not isinstance(rounds, int | np.integer)
        or not 1 <= rounds <= MAX_ROUNDS
    ):
        raise ValueError(f"compare: rounds must be an integer in [1, {MAX_ROUNDS}], got {rounds!r}")
    grid = sorted({float(p) for p in peak_lrs}) if peak_lrs else default_grid(config.peak_lr)
    if any(not np.isfinite(p) or p <= 0 for p in grid):
        raise ValueError(f"compare: peak_lrs must be finite and > 0, got {list(peak_lrs or [])}")
    want_refined = named.get("refined") == "refined"
    if want_refined:
        named.pop("refined")
        if "linear" not in named:
            named = {"linear": "linear", **named}
    order = list(named) + ([_label(k) for k in range(1, rounds + 1)] if want_refined else [])
    runs: dict[tuple, RunResult] = {}
    tried: dict[str, set[float]] = {}
    todo = named
    for k in range(1, (rounds if want_refined else 0) + 2):
        _tune(
            config, todo, seeds, grid, runs, tried, on_step, extend_grid, max_extensions, executor
        )
        if k > (rounds if want_refined else 0):
            break
        source = "linear" if k == 1 else _label(k - 1)
        src = table_from_runs(runs, [source], tried)
        best = src[src.best]
        if best.empty:
            raise ValueError(f"compare: every {source} run diverged; 'refined' cannot be built")
        peak = float(best.peak_lr.iloc[0])
        shape, _ = refine_from_runs([runs[(source, peak, int(s))] for s in seeds], tau)
        todo = {_label(k): tuple(shape)}
    table = table_from_runs(runs, order, tried)
    return (table, runs) if return_runs else table


def schedule_changes(config: RunConfig, sched) -> dict:
    """The RunConfig changes that run ``sched`` (a registry name or a shape) in ``config``'s
    place: a name keeps the config's warm-up (and its params when it is the config's own
    schedule); a shape, such as a refined one, gets neither."""
    named = isinstance(sched, str)
    return {
        "schedule": sched,
        "schedule_params": config.schedule_params if named and sched == config.schedule else {},
        "warmup_steps": config.warmup_steps if named else 0,
    }


def _tune(
    config, named, seeds, grid, runs, tried, on_step, extend_grid, max_extensions, executor=None
) -> None:
    """Run ``named`` schedules on ``grid``, then extend each one whose best is at an edge."""
    pending = {label: list(grid) for label in named}
    for _ in range(max_extensions + 1):
        keys, configs = [], []
        for label, peaks in pending.items():
            sched = named[label]
            for peak in peaks:
                tried.setdefault(label, set()).add(peak)
                for seed in seeds:
                    keys.append((label, float(peak), int(seed)))
                    configs.append(
                        config.with_(
                            peak_lr=float(peak), seed=int(seed), **schedule_changes(config, sched)
                        )
                    )
        runs.update(zip(keys, run_batches(configs, on_step, executor), strict=True))
        if not extend_grid:
            return
        table = table_from_runs(runs, list(named), tried)
        pending = {}
        for label in named:
            rows = table[table.schedule == label]
            best = rows[rows.best]
            lo, hi = min(tried[label]), max(tried[label])
            if best.empty or float(best.peak_lr.iloc[0]) == lo:
                pending[label] = [lo / GRID_FACTOR]
            elif float(best.peak_lr.iloc[0]) == hi:
                pending[label] = [hi * GRID_FACTOR]
        if not pending:
            return


def run_batches(
    configs: list[RunConfig], on_step: OnStep | None = None, executor: Executor | None = None
) -> list[RunResult]:
    """:func:`run_many` of ``configs``, each batch (configs that share a ``batch_key``: one
    batched computation of run_many) as one task of ``executor`` (None: in this process).

    A batch is the unit because a run's float32 numbers depend on the batch it trains in;
    run_many trains each batch on its own, so a run's numbers are the same in-process or on any
    worker (one CPU thread either way). Device "auto" is resolved here, by this host, so a
    worker with a GPU does not change where the runs train. With an executor, ``on_step``
    hears of each batch when it ends (its last step; its return value is not used).
    """
    if executor is None:
        return run_many(configs, on_step=on_step)
    groups: dict[tuple, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(cfg.batch_key(), []).append(i)
    from lrcore.train.loop import Progress, resolve_device

    tasks = []
    for idx in groups.values():
        c0 = configs[idx[0]]
        device = str(resolve_device(c0.device, c0.convex))
        batch = [configs[i].with_(device=device) for i in idx]
        tasks.append((idx, executor.submit(run_many, batch)))
    results: list[RunResult | None] = [None] * len(configs)
    done = 0
    for idx, fut in tasks:
        for i, r in zip(idx, fut.result(), strict=True):
            results[i] = replace(r, config=configs[i])  # the config as given ("auto" stays)
        if on_step is not None:
            last = [results[i] for i in idx]
            loss = float(np.nanmean([r.loss[-1] if len(r.loss) else np.nan for r in last]))
            steps = configs[idx[0]].steps
            on_step(Progress(steps, steps, done, len(configs), loss, last[0].device))
        done += len(idx)
    return results  # type: ignore[return-value]


def table_from_runs(
    runs: Mapping[tuple, RunResult],
    order: Sequence[str],
    tried: Mapping[str, set[float]] | None = None,
) -> pd.DataFrame:
    """:func:`summarize_runs` of ``{(schedule, peak_lr, seed): RunResult}``, in ``order``
    (``tried``: the peak lrs each schedule tried, for ``at_grid_edge``; default: those in runs)."""
    rows = pd.DataFrame(
        [
            {
                "schedule": k[0],
                "peak_lr": k[1],
                "seed": k[2],
                "diverged": r.diverged_at is not None,
                "cancelled": r.cancelled,
                "learned": r.learned,  # the "did not learn" flag: result.LEARN_RTOL
                **{m: r.final[m] for m in METRICS},
                # lm: noise of the suboptimality estimate (s.e. over held-out sequences)
                **({SE_METRIC: r.final[SE_METRIC]} if SE_METRIC in r.final else {}),
            }
            for k, r in runs.items()
            if k[0] in order
        ]
    )
    present = set(rows.schedule)
    table = summarize_runs(rows, [s for s in order if s in present])
    lo_hi = {
        s: (min(p), max(p))
        for s, p in (
            tried.items() if tried else rows.groupby("schedule").peak_lr.apply(set).items()
        )
    }
    table["at_grid_edge"] = [
        p in lo_hi.get(s, ())
        for s, p in zip(table.schedule.astype(str), table.peak_lr, strict=True)
    ]
    return table


def summarize_runs(rows: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per (schedule, peak_lr): n, diverged, learned, mean and standard error of each metric;
    ``best`` = lowest mean objective with no diverged or cancelled seed."""

    def sem(x):
        return x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan")

    agg = {
        "n_seeds": ("seed", "size"),
        "diverged": ("diverged", "sum"),
        "cancelled": ("cancelled", "sum"),
        "learned": ("learned", "all"),
    }
    for m in METRICS:
        agg[f"{m}_mean"] = (m, "mean")
        agg[f"{m}_sem"] = (m, sem)
    if SE_METRIC in rows.columns:
        agg[f"{SE_METRIC}_mean"] = (SE_METRIC, "mean")
    table = rows.groupby(["schedule", "peak_lr"], sort=False).agg(**agg).reset_index()
    table["diverged"] = table["diverged"].astype(int)
    score = table["objective_mean"].where((table["diverged"] == 0) & (table["cancelled"] == 0))
    table = table.drop(columns="cancelled")
    table["best"] = False
    for _, idx in table.groupby("schedule", sort=False).groups.items():
        s = score.loc[idx]
        if s.notna().any():
            table.loc[s.idxmin(), "best"] = True
    table["schedule"] = pd.Categorical(table["schedule"], categories=order, ordered=True)
    return table.sort_values(["schedule", "peak_lr"]).reset_index(drop=True)


def best_rows(table: pd.DataFrame) -> pd.DataFrame:
    """One row per schedule at its best peak lr (what ``lrcore compare --out`` writes)."""
    best = table[table.best].copy()
    best["schedule"] = best["schedule"].astype(str)
    cols = [c for c in BEST_COLUMNS if c in best.columns]
    extra = [c for c in best.columns if c not in cols and c != "best"]
    return best[cols + extra].reset_index(drop=True)


def own_norm_bounds(best: pd.DataFrame, runs: Mapping[tuple, RunResult]) -> pd.Series:
    """Per row of ``best`` (schedule, peak_lr): the last-iterate bound (D = 1, at the best
    scale of the schedule's shape) under the seed-averaged l2 norms of that schedule's OWN
    runs at that peak lr, relative to linear's. nan for Adam runs (the bound is SGD's) and
    where runs diverged."""
    values = {}
    for _, row in best.iterrows():
        sel = [r for (s, p, _), r in runs.items() if s == str(row.schedule) and p == row.peak_lr]
        if not sel or sel[0].config.optimizer != "sgd" or not all(r.ok for r in sel):
            values[str(row.schedule)] = float("nan")
            continue
        norms = np.mean([r.grad_norm_l2 for r in sel], axis=0)
        values[str(row.schedule)] = best_scale(sel[0].lr, norms)[0]
    ref = values.get("linear", float("nan"))
    return pd.Series([values[str(s)] / ref for s in best.schedule], index=best.index)
