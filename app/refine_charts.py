"""The Refine page's two figures, from its analyses: data in, ``go.Figure`` out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from charts import (
    BASELINE_STYLE,
    COLOURS,
    LOG_COLOURS,
    Curve,
    colour_for,
    integer_ticks,
    norms_figure,
    schedules_figure,
    smoothed_band,
    title_under_toolbar,
)

from lrcore import REGISTRY, LogAnalysis, build_schedule, stretch
from lrcore.refine import evenly_spaced


def refine_norms(traces: Sequence[tuple], x_title: str, log_y: bool, normalised: bool) -> go.Figure:
    """The Refine page's norms chart: :func:`norms_figure`, its title under the toolbar."""
    fig = title_under_toolbar(norms_figure(traces, x_title, log_y))
    if normalised:
        fig.update_layout(yaxis_title="gradient norm / its median")
    return fig


def refine_schedules(
    views: Sequence[LogAnalysis],
    peak_lr: float,
    as_pct: bool,
    warmup_pct: float,
    extras: Sequence[str],
    log_y: bool,
) -> go.Figure:
    """Each analysed log's refined schedule at ``peak_lr`` over its next run (the numerical
    optimum, when computed, as a running median over its raw range), then linear, cosine and
    ``extras`` over the first log's next run. ``views`` are :class:`lrcore.LogAnalysis`."""
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
    grid = evenly_spaced(first.steps, 4000)
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
    return integer_ticks(title_under_toolbar(fig), first.steps if not as_pct else 10**9)
