"""The plotly figure builders every chart is made of: curves in, ``go.Figure`` out.

Figures use the ``plotly_white`` template (:data:`TEMPLATE`) without changing plotly's
global default: the dashboard sets that default once (naming the template in each figure's
layout costs about 10 ms a figure); elsewhere each figure names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from lrcore._text import for_plotly
from lrcore.plot._style import (
    LOG_COLOURS,
    LOG_DECADES,
    PALETTE,
    colour_for,
    decimate,
    log_ticks,
    round_ticks,
)

TEMPLATE = "plotly_white"


@dataclass(frozen=True)
class Curve:
    """One line of a figure: ``y`` over ``x``, drawn decimated to at most ``MAX_POINTS``
    points; ``band`` (low, high) is shaded around it in its colour.

    >>> Curve("linear", np.arange(3), np.array([1.0, 0.5, 0.0]), dash="dash").width
    2.5
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    dash: str = "solid"
    width: float = 2.5
    color: str | None = None
    opacity: float = 1.0
    group: str | None = None  # legend group (raw and smoothed norms of one log)
    band: tuple[np.ndarray, np.ndarray] | None = None  # (low, high) shaded around the line


def _layout(
    fig: go.Figure,
    title: str,
    x_title: str,
    y_title: str,
    log_y: bool,
    height: int,
    max_decades: float = LOG_DECADES,
) -> go.Figure:
    if pio.templates.default != TEMPLATE:  # a notebook: this figure only, not the default
        fig.update_layout(template=TEMPLATE)
    for trace in fig.data:  # names carry file and column names: shown as text, never as HTML
        if trace.name:
            trace.name = for_plotly(trace.name)
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        # the legend sits under the x axis: it never meets the title or the toolbar, on a
        # phone either (plotly grows the bottom margin to fit its rows)
        legend={"orientation": "h", "yanchor": "top", "y": -0.3, "xanchor": "left", "x": 0.0},
        hovermode="x unified",
    )
    if log_y:
        ys = [np.asarray(t.y, dtype=np.float64) for t in fig.data if t.y is not None and len(t.y)]
        pos = np.concatenate(ys)[np.concatenate(ys) > 0] if ys else np.array([])
        if not len(pos):
            fig.update_yaxes(type="log")
            return fig
        # schedules end at 0: show at most LOG_DECADES decades below the top, not down to 1e-12
        low = max(pos.min(), pos.max() * 10.0**-max_decades)
        vals, text = log_ticks(low, pos.max())
        fig.update_yaxes(
            type="log",
            range=[np.log10(low) - 0.05, np.log10(pos.max()) + 0.05],
            tickvals=vals,
            ticktext=text,
        )
    return fig


def line_figure(
    curves: Sequence[Curve],
    title: str,
    x_title: str,
    y_title: str,
    log_y: bool = False,
    height: int = 380,
) -> go.Figure:
    """One line per :class:`Curve` (colour ``PALETTE[i]`` unless it names one), legend under
    the x axis; a log y axis shows at most ``LOG_DECADES`` decades below its top.

    >>> fig = line_figure([Curve("a", np.arange(3), np.ones(3))], "t", "step", "lr")
    >>> fig.layout.title.text, fig.data[0].line.color
    ('t', '#2563eb')
    """
    fig = go.Figure()
    for i, c in enumerate(curves):
        color = c.color or PALETTE[i % len(PALETTE)]
        if c.band is not None:
            (xl, lo), (xh, hi) = decimate(c.x, c.band[0]), decimate(c.x, c.band[1])
            fig.add_trace(
                go.Scatter(
                    x=np.r_[xh, xl[::-1]],
                    y=np.r_[hi, lo[::-1]],
                    name=f"{c.name} (middle 80%)",
                    fill="toself",
                    fillcolor=color,
                    opacity=0.15,
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=c.name,
                    showlegend=False,
                )
            )
        x, y = decimate(c.x, c.y)
        # SVG, not Scattergl: at most MAX_POINTS points a line, SVG draws them in a few ms,
        # while each WebGL chart makes its own context (0.7 s per chart in a browser without
        # a GPU; a cold Refine page drew in 2.84 s instead of 4.12 s once these were SVG)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=c.name,
                mode="lines",
                opacity=c.opacity,
                legendgroup=c.group or (c.name if c.band is not None else None),
                line={"dash": c.dash, "width": c.width, "color": color},
            )
        )
    return _layout(fig, title, x_title, y_title, log_y, height)


def norms_figure(
    logs: Sequence[tuple],
    x_title: str,
    log_y: bool = False,
    colors: Sequence[str] | None = None,
    normalised: bool = False,
) -> go.Figure:
    """Raw gradient norms (faint) with their running median (bold), one colour per log.
    Each item is ``(name, x, raw, smoothed)``, or ``(name, x, raw, smoothed, x_smoothed)``
    when the median was computed at other points (``None`` means ``x``). ``colors``: one
    per log (e.g. the runs of a schedule in its :func:`colour_for`), else ``LOG_COLOURS``.
    ``normalised``: the norms were divided by their median (the y axis says so).

    >>> x = np.arange(4)
    >>> [t.name for t in norms_figure([("g", x, x + 1.0, x + 1.0)], "step").data]
    ['g (raw)', 'g (median)']
    """
    curves = []
    for i, (name, x, raw, smooth, *rest) in enumerate(logs):
        color = colors[i] if colors is not None else LOG_COLOURS[i % len(LOG_COLOURS)]
        x_smooth = rest[0] if rest and rest[0] is not None else x
        curves.append(
            Curve(f"{name} (raw)", x, raw, width=1, color=color, opacity=0.35, group=name)
        )
        curves.append(
            Curve(f"{name} (median)", x_smooth, smooth, width=2.5, color=color, group=name)
        )
    y_title = "gradient norm / its median" if normalised else "gradient norm"
    return line_figure(curves, "Gradient norms", x_title, y_title, log_y)


def schedules_figure(
    curves: Sequence[Curve],
    x_title: str,
    log_y: bool = False,
    title: str = "Learning-rate schedules",
) -> go.Figure:
    """:func:`line_figure` with a learning-rate y axis."""
    return line_figure(curves, title, x_title, "learning rate", log_y)


def fit_linear_y(fig: go.Figure) -> go.Figure:
    """A linear y axis from the round tick at or below the lowest value of ``fig``'s traces to
    the one at or above the highest (bands included), labelled with :func:`round_ticks`."""
    ys = [np.asarray(t.y, dtype=np.float64) for t in fig.data if t.y is not None and len(t.y)]
    y = np.concatenate(ys) if ys else np.array([])
    y = y[np.isfinite(y)]
    if not len(y):
        return fig
    vals, text = round_ticks(float(y.min()), float(y.max()))
    return fig.update_yaxes(type="linear", range=[vals[0], vals[-1]], tickvals=vals, ticktext=text)


def band_figure(
    groups: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    title: str,
    x_title: str,
    y_title: str,
    log_y: bool = False,
    max_decades: float = LOG_DECADES,
) -> go.Figure:
    """Mean curves with a shaded band (mean ± standard error), one per ``(name, x, mean, sem)``;
    a log axis shows at most ``max_decades`` decades below the top."""
    fig = go.Figure()
    for i, (name, x, mean, sem) in enumerate(groups):
        color = colour_for(name, i)
        x, mean, sem = (np.asarray(a, dtype=np.float64) for a in (x, mean, sem))
        band = np.nan_to_num(sem)
        fig.add_trace(
            go.Scatter(
                x=np.r_[x, x[::-1]],
                y=np.r_[mean + band, (mean - band)[::-1]],
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean,
                name=name,
                mode="lines",
                legendgroup=name,
                line={"color": color, "width": 2.5},
            )
        )
    return _layout(fig, title, x_title, y_title, log_y, 380, max_decades)


def points_per_trace(fig: go.Figure) -> list[int]:
    """How many points each trace sends to the browser."""
    return [len(t.y) if t.y is not None else 0 for t in fig.data]


def integer_ticks(fig: go.Figure, total_steps: int, most: int = 20) -> go.Figure:
    """Whole-number x ticks for a run of at most ``most`` steps (not 0.2, 0.4 ...).

    >>> integer_ticks(go.Figure(), 3).layout.xaxis.dtick
    1
    """
    if total_steps <= most:
        fig.update_xaxes(dtick=1, tick0=0)
    return fig
