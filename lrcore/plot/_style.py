"""Colours, axis ticks and display decimation shared by every figure (no plotly needed).

Every trace is decimated for display (MinMaxLTTB from ``tsdownsample``, at most
``MAX_POINTS`` points) so a million-point log draws instantly; computations use every point.
"""

from __future__ import annotations

import numpy as np

from lrcore._extras import missing_extra
from lrcore.registry import REGISTRY

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
    try:
        from tsdownsample import MinMaxLTTBDownsampler
    except ImportError as e:
        raise missing_extra("lrcore.plot", "app", e) from e

    return MinMaxLTTBDownsampler().downsample(x, y, n_out=n_out)


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
