"""Refinement's two figures: a log's gradient norms, and the refined schedule beside the
baselines (what the dashboard's Refine page draws)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from lrcore.plot._figures import Curve, integer_ticks, norms_figure, schedules_figure
from lrcore.plot._style import (
    BASELINE_STYLE,
    COLOURS,
    LOG_COLOURS,
    colour_for,
    decimate_index,
    smoothed_band,
)
from lrcore.refine import evenly_spaced, smooth_norms, stretch
from lrcore.registry import REGISTRY, build_schedule

LOG_Y_SPAN = 50  # norms spanning more than this factor are drawn on a log y axis by default
SCHEDULE_POINTS = 4000  # baselines are drawn from this many steps


def _series(name: str, data, many: bool) -> tuple[str, np.ndarray, np.ndarray]:
    """``(name, steps, grad_norms)`` of a GradNormLog (named by its file among several logs,
    else by its series), a ``(steps, grad_norms)`` pair or a 1-D array of norms (steps 0, 1,
    ...)."""
    if hasattr(data, "grad_norms") and hasattr(data, "steps"):
        name = name or (data.source if many else data.metric)
        return name, np.asarray(data.steps), np.asarray(data.grad_norms, dtype=np.float64)
    if isinstance(data, tuple) and len(data) == 2:
        steps, g = (np.asarray(a) for a in data)
    else:
        g = np.asarray(data)
        steps = np.arange(g.size)
    if g.ndim != 1 or g.size < 2 or steps.shape != g.shape:
        raise ValueError(
            f"norms: logs must be GradNormLogs, 1-D arrays of at least 2 norms or (steps, "
            f"grad_norms) pairs of equal length, got {type(data).__name__} of shape "
            f"{np.shape(g)}"
        )
    if not np.all(np.isfinite(g)) or not np.all(np.diff(steps) > 0):
        raise ValueError(
            "norms: grad_norms must be finite and steps strictly increasing "
            f"(got {int(np.sum(~np.isfinite(g)))} non-finite norms)"
        )
    return name or "grad_norm", steps, g.astype(np.float64)


def norms(
    logs,
    *,
    tau: float = 0.1,
    as_pct: bool = False,
    normalise: bool = False,
    log_y: bool | None = None,
) -> go.Figure:
    """Gradient norms (faint, at most ``MAX_POINTS`` points chosen by MinMaxLTTB) with their
    running median over ``tau`` of the run (bold, :func:`lrcore.smooth_norms` on every point),
    one colour per log: the Refine page's first chart.

    ``logs``: a :class:`lrcore.logs.GradNormLog`, a 1-D array of norms, a ``(steps,
    grad_norms)`` tuple, or a list or a ``{name: log}`` dict of those. ``as_pct``: x in % of
    training; ``normalise``: each log divided by its median (logs of different scales);
    ``log_y``: default on when the norms span more than ``LOG_Y_SPAN`` x.

    >>> g = np.exp(-np.arange(100) / 30) + 0.1
    >>> fig = norms({"run a": g, "run b": (np.arange(0, 200, 2), 2 * g)}, tau=0.2)
    >>> [t.name for t in fig.data], fig.layout.yaxis.type
    (['run a (raw)', 'run a (median)', 'run b (raw)', 'run b (median)'], None)
    """
    if isinstance(logs, Mapping):
        items = list(logs.items())
    else:
        items = [("", x) for x in logs] if isinstance(logs, list) else [("", logs)]
    if not items:
        raise ValueError("norms: logs must hold at least one log, got none")
    series = [_series(str(name), data, len(items) > 1) for name, data in items]
    traces, ranges = [], []
    for name, steps, g in series:
        div = float(np.median(g)) if normalise else 1.0
        idx = decimate_index(steps, g)
        x = steps.astype(np.float64)
        if as_pct:
            span = x[-1] - x[0]
            x = 100.0 * (x - x[0]) / (span if span > 0 else 1.0)
        smooth = smooth_norms(g, tau) / div
        traces.append((name, x[idx], g[idx] / div, smooth, x))
        ranges.append((g.min() / div, g.max() / div))
    if log_y is None:
        low = min(lo for lo, _ in ranges)
        log_y = bool(low > 0 and max(hi for _, hi in ranges) / low > LOG_Y_SPAN)
    x_title = "% of training" if as_pct else "step"
    return norms_figure(traces, x_title, log_y, normalised=normalise)


def refined(
    views: Sequence | object,
    peak_lr: float = 1.0,
    *,
    as_pct: bool = False,
    warmup_pct: float = 0.0,
    extras: Sequence[str] = (),
    log_y: bool = False,
) -> go.Figure:
    r"""Each analysed log's refined schedule at ``peak_lr`` over its next run (the numerical
    optimum, when computed, as a running median over its raw range), then linear, cosine and
    the registry schedules ``extras`` (warm-up ``warmup_pct`` % of the run) over the first
    log's next run: the Refine page's second chart. ``views``: one or several
    :class:`lrcore.LogAnalysis` (from :func:`lrcore.analyse`).

    >>> import lrcore
    >>> from lrcore.logs import load_log
    >>> from lrcore.synthetic import synthetic_norms
    >>> g = synthetic_norms("rising", 500, seed=0)
    >>> csv = "step,grad_norm\n" + "".join(f"{i},{v}\n" for i, v in enumerate(g))
    >>> log = load_log(csv.encode())
    >>> [t.name for t in refined(lrcore.analyse(log), peak_lr=0.1).data]
    ['refined', 'Linear decay', 'Cosine decay']
    """
    views = list(views) if isinstance(views, Sequence) else [views]
    if not views:
        raise ValueError("refined: views must hold at least one LogAnalysis, got none")
    if not peak_lr > 0:
        raise ValueError(f"refined: peak_lr must be > 0, got {peak_lr!r}")
    many = len(views) > 1
    curves = []
    for i, r in enumerate(views):
        pos, y = r.positions, r.shape
        if r.steps < len(pos):  # a next run shorter than the log: its own steps
            pos = np.arange(r.steps, dtype=np.float64)
            y = stretch(r.shape, r.steps, steps=r.computed_steps)
        x = 100.0 * pos / max(r.steps - 1, 1) if as_pct else pos
        name = f"refined: {r.source}" if many else "refined"
        curves.append(Curve(name, x, peak_lr * y, color=LOG_COLOURS[i % len(LOG_COLOURS)], width=3))
        if r.optimum is not None and r.steps >= len(r.positions):
            mid, lo, hi = smoothed_band(peak_lr * r.optimum / r.optimum.max())
            name = f"numerical optimum: {r.source}" if many else "numerical optimum"
            colour = COLOURS["numerical optimum"]
            curves.append(Curve(name, x, mid, color=colour, width=1.5, band=(lo, hi)))
    first = views[0]
    grid = evenly_spaced(first.steps, SCHEDULE_POINTS)
    gx = 100.0 * grid / max(first.steps - 1, 1) if as_pct else grid
    warmup_steps = min(int(round(warmup_pct / 100 * first.steps)), first.steps - 1)
    for name in ("linear", "cosine", *extras):
        sched = build_schedule(name, first.steps, peak_lr=peak_lr, warmup_steps=warmup_steps)
        curves.append(
            Curve(
                REGISTRY[name].label,
                gx,
                np.asarray(sched(grid), dtype=np.float64),
                dash=BASELINE_STYLE.get(name, "solid"),
                color=colour_for(name),
                width=2,
            )
        )
    fig = schedules_figure(curves, "% of training" if as_pct else "step", log_y)
    return integer_ticks(fig, first.steps if not as_pct else 10**9)
