"""Check that a schedule helps: refine from a linear-decay run and retrain, or compare
schedules over seeds (and a grid of peak lrs, keeping each schedule's best, as the paper
tunes each schedule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lrcore.refine import refine
from lrcore.train.config import RunConfig
from lrcore.train.loop import OnStep, run_many
from lrcore.train.result import RunResult

METRICS = ("train_loss", "test_loss", "test_accuracy")


def _refine_variant(config: RunConfig) -> str:
    return "sgd" if config.optimizer == "sgd" else "adam"


@dataclass(frozen=True)
class RefineRetrain:
    linear: RunResult  # the first run, linear decay
    refined: RunResult  # the second run, with the schedule refined from the first
    schedule: np.ndarray  # the refined shape (peak 1) used by the second run


def refined_from_linear(
    config: RunConfig, seeds: Sequence[int] = (0,), tau: float = 0.1, on_step: OnStep | None = None
) -> tuple[np.ndarray, list[RunResult]]:
    """Run linear decay for each seed (batched), average the gradient norms over seeds (l2
    for SGD, l1 for Adam) and refine them. Returns the shape and the linear runs."""
    runs = run_many(
        [
            config.with_(schedule="linear", schedule_params={}, warmup_steps=0, seed=s)
            for s in seeds
        ],
        on_step=on_step,
    )
    bad = [r for r in runs if not r.ok]
    if bad:
        raise ValueError(
            f"refined_from_linear: the linear-decay run with seed {bad[0].config.seed} "
            f"{bad[0].status()}; lower peak_lr ({config.peak_lr:g})"
        )
    return refine_from_runs(runs, tau)[0], runs


def refine_from_runs(runs: Sequence[RunResult], tau: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(refined shape, the seed-averaged norms it came from): l2 norms and the sgd variant for
    SGD runs, l1 and the adam variant otherwise."""
    config = runs[0].config
    norms = np.mean([r.grad_norms() for r in runs], axis=0)
    return refine(norms, tau=tau, optimizer=_refine_variant(config)), norms


def refine_and_retrain(
    config: RunConfig, tau: float = 0.1, on_step: OnStep | None = None
) -> RefineRetrain:
    """Linear decay, then the schedule refined from that run's own gradient norms, same peak lr."""
    shape, (linear,) = refined_from_linear(config, (config.seed,), tau, on_step)
    refined = run_many(
        [config.with_(schedule=tuple(shape), schedule_params={}, warmup_steps=0)], on_step=on_step
    )[0]
    return RefineRetrain(linear=linear, refined=refined, schedule=shape)


def _as_schedules(schedules) -> dict[str, str | tuple]:
    if isinstance(schedules, Mapping):
        return {
            str(k): (v if isinstance(v, str) else tuple(np.ravel(v))) for k, v in schedules.items()
        }
    return {str(s): s for s in schedules}


def compare(
    config: RunConfig,
    schedules,
    seeds: Sequence[int] = (0, 1, 2),
    peak_lrs: Sequence[float] | None = None,
    on_step: OnStep | None = None,
    return_runs: bool = False,
):
    """Run every schedule x seed x peak lr as one batch; return a tidy table.

    ``schedules`` is a list of registry names or a mapping label -> registry name or shape.
    One row per (schedule, peak_lr): the number of seeds, how many diverged, and the mean
    and standard error over seeds of the final train loss, test loss and test accuracy.
    ``best`` marks each schedule's peak lr with the lowest mean final train loss (what the
    theory bounds); a peak lr where any seed diverged is never best. With ``return_runs``,
    also returns ``{(schedule, peak_lr, seed): RunResult}``.
    """
    named = _as_schedules(schedules)
    if not named:
        raise ValueError("compare: schedules is empty")
    if not seeds:
        raise ValueError("compare: seeds is empty")
    peaks = list(peak_lrs) if peak_lrs else [config.peak_lr]
    keys, configs = [], []
    for label, sched in named.items():
        for peak in peaks:
            for seed in seeds:
                keys.append((label, float(peak), int(seed)))
                configs.append(
                    config.with_(
                        schedule=sched,
                        peak_lr=float(peak),
                        seed=int(seed),
                        schedule_params=config.schedule_params
                        if isinstance(sched, str) and sched == config.schedule
                        else {},
                    )
                )
    runs = dict(zip(keys, run_many(configs, on_step=on_step), strict=True))
    table = table_from_runs(runs, list(named))
    return (table, runs) if return_runs else table


def table_from_runs(runs: Mapping[tuple, RunResult], order: Sequence[str]) -> pd.DataFrame:
    """:func:`summarize_runs` of ``{(schedule, peak_lr, seed): RunResult}``, in ``order``."""
    rows = pd.DataFrame(
        [
            {
                "schedule": k[0],
                "peak_lr": k[1],
                "seed": k[2],
                "diverged": r.diverged_at is not None,
                "cancelled": r.cancelled,
                **r.final,
            }
            for k, r in runs.items()
        ]
    )
    present = set(rows.schedule)
    return summarize_runs(rows, [s for s in order if s in present])


def summarize_runs(rows: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per (schedule, peak_lr): n, diverged, mean and standard error of each final metric."""

    def sem(x):
        return x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan")

    agg = {"n_seeds": ("seed", "size"), "diverged": ("diverged", "sum")}
    for m in METRICS:
        agg[f"{m}_mean"] = (m, "mean")
        agg[f"{m}_sem"] = (m, sem)
    table = rows.groupby(["schedule", "peak_lr"], sort=False).agg(**agg).reset_index()
    table["diverged"] = table["diverged"].astype(int)
    score = table["train_loss_mean"].where(table["diverged"] == 0)
    table["best"] = False
    for _, idx in table.groupby("schedule", sort=False).groups.items():
        s = score.loc[idx]
        if s.notna().any():
            table.loc[s.idxmin(), "best"] = True
    table["schedule"] = pd.Categorical(table["schedule"], categories=order, ordered=True)
    return table.sort_values(["schedule", "peak_lr"]).reset_index(drop=True)
