"""Plotly figures of schedules, gradient norms with the refined schedule, and training runs:
the dashboard's charts, for a notebook. Plain data in, ``plotly.graph_objects.Figure`` out.

Needs the ``app`` extra (plotly, tsdownsample): ``pip install 'lrcore[app]'``; ``import
lrcore`` itself never loads plotly.

>>> import lrcore.plot as lp
>>> fig = lp.schedules(["linear", "cosine", "wsd"], 1000, peak_lr=0.1)
>>> [t.name for t in fig.data]
['Linear decay', 'Cosine decay', 'Warmup-stable-decay']

A refined schedule, from a log (see ``docs/examples/notebook.ipynb``)::

    view = lrcore.analyse(lrcore.logs.load_log("grad_norms.csv"))
    lp.norms(log).show()                   # raw norms and their running median
    lp.refined(view, peak_lr=3e-4).show()  # refined beside linear and cosine
"""

from lrcore._extras import missing_extra

try:
    import plotly.graph_objects  # noqa: F401
except ImportError as e:  # name the extra, not just the module
    raise missing_extra("lrcore.plot", "app", e) from e

from lrcore.plot._figures import (
    TEMPLATE,
    Curve,
    band_figure,
    fit_linear_y,
    integer_ticks,
    line_figure,
    norms_figure,
    points_per_trace,
    schedules_figure,
)
from lrcore.plot._refine import LOG_Y_SPAN, norms, refined
from lrcore.plot._runs import EVAL_METRICS, runs, schedules, seed_curve, sweep
from lrcore.plot._style import (
    BAND_PERCENTILES,
    BAND_WIDTH,
    BASELINE_STYLE,
    COLOURS,
    LOG_COLOURS,
    LOG_DECADES,
    MAX_POINTS,
    MAX_TICK_GAP,
    PALETTE,
    colour_for,
    decimate,
    decimate_index,
    log_ticks,
    round_ticks,
    smoothed_band,
)

__all__ = [
    # figures from plain data
    "schedules",
    "norms",
    "refined",
    "runs",
    "sweep",
    "seed_curve",
    # the builders they are made of
    "Curve",
    "line_figure",
    "norms_figure",
    "schedules_figure",
    "band_figure",
    "fit_linear_y",
    "integer_ticks",
    "points_per_trace",
    # colours, ticks, decimation
    "colour_for",
    "decimate",
    "decimate_index",
    "log_ticks",
    "round_ticks",
    "smoothed_band",
    "BAND_PERCENTILES",
    "BAND_WIDTH",
    "BASELINE_STYLE",
    "COLOURS",
    "EVAL_METRICS",
    "LOG_COLOURS",
    "LOG_DECADES",
    "LOG_Y_SPAN",
    "MAX_POINTS",
    "MAX_TICK_GAP",
    "PALETTE",
    "TEMPLATE",
]
