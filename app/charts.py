"""Plotly figure builders: data in, ``go.Figure`` out. No streamlit here.

Every trace is decimated for display (MinMaxLTTB, at most ``MAX_POINTS`` points) so a
million-point log draws instantly; computations elsewhere use every point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from lrcore import REGISTRY
from lrcore._text import for_plotly

# every figure's template, set once: naming it in each figure's layout costs 7 ms a figure
pio.templates.default = "plotly_white"

MAX_POINTS = 2000
LOG_DECADES = 4  # a log-scale y axis spans at most this many decades below its top
MAX_TICK_GAP = 0.35  # no unlabelled stretch of a log axis longer than this share of it
# (0.35: the classic 0.1, 0.2, 0.5, 1, 2 of a loss curve passes; 2, 1, 0.5 alone on 0.15 .. 2.5 not)
PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"]
BASELINE_STYLE = {"linear": "dash", "cosine": "solid"}  # a dotted cosine looked broken up

# One colour per schedule on every page, for every registry schedule, by registry name and by
# display label (REGISTRY[name].label): refined is always blue, linear always grey, cosine
# always purple (pages look colours up here; a test checks that every registry name has one).
_SCHEDULE_COLOURS = {
    "refined": "#2563eb",
    "linear": "#4b5563",
    "cosine": "#9333ea",
    "constant": "#16a34a",
    "polynomial": "#ea580c",
    "step": "#0891b2",
    "exponential": "#be185d",
    "inverse_sqrt": "#4d7c0f",
    "wsd": "#dc2626",
    "cosine_restarts": "#c026d3",
    "multistep": "#0e7490",
    "piecewise": "#a16207",
    "join": "#6d28d9",
    "rsqrt": "#b91c1c",
    "one_cycle": "#15803d",
    "cyclic": "#0369a1",
    "numerical optimum": "#111827",
}
_LABELS = {name: spec.label for name, spec in REGISTRY.items()}
COLOURS: dict[str, str] = {
    **_SCHEDULE_COLOURS,
    **{_LABELS[n]: c for n, c in _SCHEDULE_COLOURS.items() if n in _LABELS},
    **{_LABELS[n].lower(): c for n, c in _SCHEDULE_COLOURS.items() if n in _LABELS},
}

# one colour per uploaded log, the same on the norms chart and for its refined schedule: the
# first is refined's blue, the others are colours no schedule uses
LOG_COLOURS = ["#2563eb", "#f59e0b", "#0d9488", "#7c2d12", "#db2777", "#65a30d", "#1e3a8a"]


def colour_for(name: str, i: int = 0) -> str:
    """The fixed colour of a schedule name or label (``"refined: a.csv"`` counts as refined);
    other names take ``PALETTE[i]``.

    >>> colour_for("linear") == colour_for("Linear decay") == COLOURS["linear"]
    True
    """
    key = name.split(":", 1)[0].strip()
    return COLOURS.get(key, COLOURS.get(key.lower(), PALETTE[i % len(PALETTE)]))


def decimate(
    x: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n_out`` points that keep the visual shape (peaks and dips) of the series."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(y) <= n_out:
        return x, y
    idx = decimate_index(x, y, n_out)
    return x[idx], y[idx]


def decimate_index(x: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS) -> np.ndarray:
    """Indices of the points :func:`decimate` keeps (``x`` increasing, int or float, not
    copied). Callers reuse them when only the axes' units change (steps to % of training,
    norms divided by their median): an affine change of an axis keeps LTTB's choice, up to
    rounding.

    >>> decimate_index(np.arange(5), np.ones(5), n_out=10).tolist()
    [0, 1, 2, 3, 4]
    """
    if len(y) <= n_out:
        return np.arange(len(y))
    from tsdownsample import MinMaxLTTBDownsampler

    return MinMaxLTTBDownsampler().downsample(x, y, n_out=n_out)


@dataclass(frozen=True)
class Curve:
    name: str
    x: np.ndarray
    y: np.ndarray
    dash: str = "solid"
    width: float = 2.5
    color: str | None = None
    opacity: float = 1.0
    group: str | None = None  # legend group (raw and smoothed norms of one log)
    band: tuple[np.ndarray, np.ndarray] | None = None  # (low, high) shaded around the line


BAND_WIDTH = 0.05  # a noisy curve is drawn as its running median over this share of points


BAND_PERCENTILES = (10, 90)  # ... with the middle 80% of its raw values shaded around it


def smoothed_band(y: np.ndarray, frac: float = BAND_WIDTH) -> tuple[np.ndarray, ...]:
    """(running median, running 10th, running 90th percentile) of ``y`` over windows of
    ``frac`` of its points: how a spiky curve (the numerical optimum) is drawn legibly, the
    spread of its raw values kept as a band.

    >>> [a.tolist() for a in smoothed_band(np.array([1.0, 9.0, 1.0, 1.0, 1.0]), frac=0.6)]
    [[1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0], [9.0, 9.0, 9.0, 1.0, 1.0]]
    """
    from scipy.ndimage import median_filter, percentile_filter

    y = np.asarray(y, dtype=np.float64)
    w = max(3, int(len(y) * frac) // 2 * 2 + 1)
    lo, hi = (percentile_filter(y, q, size=w, mode="nearest") for q in BAND_PERCENTILES)
    return median_filter(y, size=w, mode="nearest"), lo, hi


def _layout(
    fig: go.Figure,
    title: str,
    x_title: str,
    y_title: str,
    log_y: bool,
    height: int,
    max_decades: float = LOG_DECADES,
) -> go.Figure:
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


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis from ``low`` to ``high``: decades only over
    two decades or more, else 1-2-5 (or finer) steps, each labelled with its full value
    (plotly's own minor labels read "2, 1, 9, 8 ... 0.1, 9"). No stretch between two ticks,
    or between a tick and an end of the axis, spans more than ``MAX_TICK_GAP`` of the axis
    (a 0.15 .. 2.5 axis labelled only 2, 1, 0.5 left its lower third bare; 0.2 labels it).

    >>> log_ticks(0.15, 2.5)[1]
    ['0.2', '0.5', '1', '2']
    """
    decades = np.log10(high / low)
    sets = [
        [1.0],
        [1.0, 2.0, 5.0],
        [1, 1.5, 2, 3, 4, 5, 6, 7, 8],
        [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9],
    ]
    first = 0 if decades >= 2 else 1 if decades >= 0.7 else 2 if decades >= 0.3 else 3
    exps = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    best = None
    for steps in sets[first:]:  # the coarsest steps that give 3 ticks and no wide bare stretch
        vals = [
            m * 10.0**e for e in exps for m in steps if low * 0.999 <= m * 10.0**e <= high * 1.001
        ]
        if len(vals) >= 3:
            best = vals
            edges = np.log10([low, *vals, high])
            if np.diff(edges).max() <= MAX_TICK_GAP * max(decades, 1e-12):
                break
    else:  # a narrow range (under about half a decade): six values evenly spaced on the axis
        for sig in (2, 3, 4):  # the fewest significant digits that keep them apart
            grid = {float(f"{x:.{sig}g}") for x in np.geomspace(low, high, 6)}
            best = sorted(v for v in grid if low * 0.999 <= v <= high * 1.001)
            if len(best) >= 5:
                break
    vals = best if len(best or ()) >= 3 else [low, float(np.sqrt(low * high)), high]
    digits = max(3, *(len(f"{v:.4g}".replace(".", "").lstrip("0")) for v in vals))
    labels = [f"{v:.{digits}g}" for v in vals]
    if any("e" in t for t in labels):  # one number format per axis (not 0.0001 next to 1e-05)
        if all(v >= 1 and v == round(v) for v in vals):  # large norms: 1,000 .. 100,000
            return vals, [f"{v:,.0f}" for v in vals]
        sig = max(len(f"{v:.3e}".split("e")[0].replace(".", "").rstrip("0")) for v in vals)
        labels = [f"{v:.{sig - 1}e}" for v in vals]
    return vals, labels


def line_figure(
    curves: Sequence[Curve],
    title: str,
    x_title: str,
    y_title: str,
    log_y: bool = False,
    height: int = 380,
) -> go.Figure:
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
        fig.add_trace(
            go.Scattergl(
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
) -> go.Figure:
    """Raw gradient norms (faint) with their running median (bold), one colour per log.
    Each item is ``(name, x, raw, smoothed)``, or ``(name, x, raw, smoothed, x_smoothed)``
    when the median was computed at other points (``None`` means ``x``). ``colors``: one
    per log (e.g. the runs of a schedule in its :func:`colour_for`), else ``LOG_COLOURS``."""
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
    return line_figure(curves, "Gradient norms", x_title, "gradient norm", log_y)


def schedules_figure(
    curves: Sequence[Curve],
    x_title: str,
    log_y: bool = False,
    title: str = "Learning-rate schedules",
) -> go.Figure:
    return line_figure(curves, title, x_title, "learning rate", log_y)


def round_ticks(low: float, high: float, most: int = 6) -> tuple[list[float], list[str]]:
    """Round tick values for a linear axis covering ``low`` .. ``high``: a 1-2-2.5-5 step giving
    at most ``most`` ticks, the first at or below ``low`` and the last at or above ``high`` (so
    the axis can run from tick to tick), every label with the same decimals.

    >>> round_ticks(0.578, 0.672)[1]
    ['0.56', '0.58', '0.60', '0.62', '0.64', '0.66', '0.68']
    >>> round_ticks(0.55, 2.9)[1]
    ['0.5', '1.0', '1.5', '2.0', '2.5', '3.0']
    """
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        span = abs(low) if np.isfinite(low) and low else 1.0
        low, high = low - 0.05 * span, high + 0.05 * span
    raw = (high - low) / max(1, most - 1)
    base = 10.0 ** np.floor(np.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * base
        first, last = np.floor(low / step + 1e-9), np.ceil(high / step - 1e-9)
        if last - first + 1 <= most + 1:
            break
    vals = [float(v * step) for v in np.arange(first, last + 1)]
    decimals = max(0, int(-np.floor(np.log10(step) + 1e-9)) + (m == 2.5))
    return vals, [f"{v:.{decimals}f}" for v in vals]


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


# Plotly options for st.plotly_chart on the Refine and Schedules pages: no logo button
CONFIG = {"displaylogo": False}
TOOLBAR_MARGIN = 72  # px above the plot: the toolbar on top, the title under it


def title_under_toolbar(fig: go.Figure) -> go.Figure:
    """Put the title just above the plot area and leave room above it for Plotly's toolbar,
    so that the two never overlap (on a 390 px phone the toolbar spans most of the width).

    >>> title_under_toolbar(go.Figure(layout={"title": {"text": "t"}})).layout.margin.t
    72
    """
    fig.update_layout(
        title={"yref": "paper", "y": 1.0, "yanchor": "bottom", "pad": {"b": 8}},
        margin={"t": TOOLBAR_MARGIN},
    )
    return fig


def integer_ticks(fig: go.Figure, total_steps: int, most: int = 20) -> go.Figure:
    """Whole-number x ticks for a run of at most ``most`` steps (not 0.2, 0.4 ...).

    >>> integer_ticks(go.Figure(), 3).layout.xaxis.dtick
    1
    """
    if total_steps <= most:
        fig.update_xaxes(dtick=1, tick0=0)
    return fig
