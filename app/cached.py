"""The library calls the pages make, cached at the page boundary (``st.cache_*``): each wraps
one lrcore function and adds nothing to it. Logs are never hashed: they are named by
:func:`state.log_key`, and the cached function takes the log as an unhashed ``_log``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st
from sources import _PerLog, log_key

import lrcore
from lrcore import best_scale, build_schedule, optimal_schedule, smooth_norms, stretch
from lrcore.export import to_snippet
from lrcore.logs import GradNormLog
from lrcore.refine import refine_smoothed


@st.cache_resource(show_spinner=False, max_entries=16)
def _analyse(_log, key: str, tau: float, optimizer: str, steps: int, extras: tuple, optimum: bool):
    return lrcore.analyse(_log, tau, optimizer, steps, extras, optimum)


def analyse(
    log: GradNormLog,
    tau: float = 0.1,
    optimizer: str | None = None,
    steps: int | None = None,
    extras: tuple = (),
    optimum: bool = False,
) -> lrcore.LogAnalysis:
    """:func:`lrcore.analyse`, cached by the log's name and the settings. The analysis holds
    no reference to the log, so the cache never keeps a removed log alive."""
    optimizer = log.suggested_optimizer if optimizer is None else optimizer
    if optimum:
        with st.spinner("Minimising the bound numerically…"):
            return _analyse(log, log_key(log), tau, optimizer, steps, tuple(extras), optimum)
    return _analyse(log, log_key(log), tau, optimizer, steps, tuple(extras), optimum)


@st.cache_resource(show_spinner="Refining every logged point…", max_entries=2)
def _full_shape(_log: GradNormLog, key: str, tau: float, optimizer: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        return refine_smoothed(smooth_norms(_log.grad_norms, tau), optimizer)


def full_shape(view: lrcore.LogAnalysis, log: GradNormLog) -> tuple[np.ndarray, np.ndarray]:
    """``view.full_shape(log)``, cached: the refined shape from every logged point."""
    if not view.sampled:
        return view.shape, view.computed_steps
    return _full_shape(log, log_key(log), view.tau, view.optimizer), log.steps


def full_values(view: lrcore.LogAnalysis, log: GradNormLog) -> np.ndarray:
    """The refined schedule at every step of the next run, from every point (downloads)."""
    shape, logged = full_shape(view, log)
    return stretch(shape, view.steps, steps=logged)


@st.cache_resource(show_spinner=False, max_entries=4)
def _smooth(_norms: np.ndarray, key: str, tau: float) -> np.ndarray:
    return smooth_norms(_norms, tau)


@st.cache_resource(show_spinner=False, max_entries=8)
def _refined(_norms: np.ndarray, key: str, tau: float, optimizer: str) -> np.ndarray:
    return refine_smoothed(_smooth(_norms, key, tau), optimizer)


def cached_refine(
    grad_norms: np.ndarray, tau: float, optimizer: str, key: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed norms, refined shape) on the logged points. ``key`` names the norms (a log's
    digest and metric) so that the cache does not hash them; without it they are hashed."""
    if key is None:
        key = hashlib.blake2b(
            np.ascontiguousarray(grad_norms).tobytes(), digest_size=12
        ).hexdigest()
    return _smooth(grad_norms, key, tau), _refined(grad_norms, key, tau, optimizer)


@st.cache_data(show_spinner="Minimising the bound numerically…", max_entries=16)
def cached_optimal(grad_norms: np.ndarray) -> np.ndarray:
    return optimal_schedule(grad_norms)


_LOG_STATS = _PerLog()  # log -> (median, min, max) of its norms


def norm_stats(log: GradNormLog, median: bool = True) -> tuple[float, float, float]:
    """``(median, min, max)`` of a log's norms, computed once per log object (the median only
    when asked for: nan otherwise; a 7.6-million-point median takes 0.1 s)."""
    hit = _LOG_STATS.get(log)
    if hit is not None and (not median or not np.isnan(hit[0])):
        return hit
    g = log.grad_norms
    stats = (float(np.median(g)) if median else float("nan"), float(g.min()), float(g.max()))
    _LOG_STATS.put(log, stats)
    return stats


@st.cache_data(show_spinner=False, max_entries=16)
def _snippet(
    _shape, _steps, total: int, flavour: str, what: str, key: str, tau_opt: tuple, optimizer
) -> str:
    return to_snippet(
        stretch(_shape, total, steps=_steps), flavour=flavour, what=what, optimizer=optimizer
    )


def cached_snippet(
    shape, log_steps, total: int, flavour: str, what: str, key: str, optimizer: str | None = None
) -> str:
    """``to_snippet`` of the refined schedule stretched to ``total`` steps (cached by key);
    ``optimizer`` is the rule it was refined for (named in the snippet's usage comment)."""
    return _snippet(shape, log_steps, total, flavour, what, key, (float(shape.sum()),), optimizer)


@st.cache_resource(show_spinner=False, max_entries=32)
def registry_schedule(name: str, total: int, peak_lr: float, warmup: int, params: tuple):
    """``build_schedule`` with hashable arguments (params as ``(name, value)`` pairs)."""
    return build_schedule(name, total, peak_lr=peak_lr, warmup_steps=warmup, **dict(params))


@st.cache_data(show_spinner="Scoring the schedules…", max_entries=16)
def _bounds_full(_shapes_at: dict, total: int, _log, what: str) -> pd.DataFrame:
    norms = np.ones(total) if _log is None else stretch(_log.grad_norms, total, steps=_log.steps)
    steps = np.arange(total)
    rows = []
    for label, f in _shapes_at.items():  # one schedule in memory at a time
        shape = f(steps)
        with np.errstate(over="ignore", invalid="ignore"):
            bound, scale = best_scale(shape, norms)
        rows.append({"schedule": label, "bound": bound, "best_peak_lr": scale * shape.max()})
    table = pd.DataFrame(rows).sort_values("bound", ignore_index=True)
    with np.errstate(over="ignore"):
        table["bound_sqrt_T"] = table.bound * np.sqrt(total)
    if not np.all(np.isfinite(table[["bound", "best_peak_lr", "bound_sqrt_T"]].to_numpy())):
        raise ValueError(
            f"the bound overflows for norms up to {float(norms.max()):.3g}; rescale them by a "
            "constant (the ranking of the schedules does not change)"
        )
    return table


def bounds_at_full_length(shapes_at: dict, total: int, log, what: str) -> pd.DataFrame:
    """Each schedule's bound at its best scale over all ``total`` steps, with constant norms
    or ``log``'s norms stretched to ``total`` steps; sorted, lowest first. ``what`` describes
    the inputs (the cache key: the schedules themselves are not hashed)."""
    return _bounds_full(shapes_at, total, log, what)


@st.cache_resource(show_spinner=False, max_entries=8)
def _raw_points(_log: GradNormLog, key: str) -> np.ndarray:
    import charts

    return charts.decimate_index(_log.steps, _log.grad_norms)


def raw_trace(log: GradNormLog, as_percent: bool, divide: bool) -> tuple[np.ndarray, np.ndarray]:
    """A log's raw norms for drawing (at most ``charts.MAX_POINTS`` points, extremes kept),
    optionally divided by their median. The points are chosen once per log: the choice does
    not change when the steps become percentages or the norms are divided by a constant."""
    idx = _raw_points(log, log_key(log))
    steps, y = log.steps[idx], log.grad_norms[idx]
    if as_percent:
        first, last = float(log.steps[0]), float(log.steps[-1])
        x = 100.0 * (steps - first) / (last - first) if last > first else np.zeros(len(idx))
    else:
        x = steps.astype(np.float64)
    return x, (y / norm_stats(log)[0] if divide else y.astype(np.float64))
