"""The dashboard's charts: the figure builders of :mod:`lrcore.plot` (data in, ``go.Figure``
out; importable in a notebook too) and the layout bits that only a Streamlit page needs (the
toolbar's room, the chart options). No streamlit here."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from lrcore.plot import (  # noqa: F401 - the pages use these through this module
    BAND_PERCENTILES,
    BAND_WIDTH,
    BASELINE_STYLE,
    COLOURS,
    LOG_COLOURS,
    LOG_DECADES,
    MAX_POINTS,
    MAX_TICK_GAP,
    PALETTE,
    TEMPLATE,
    Curve,
    band_figure,
    colour_for,
    decimate,
    decimate_index,
    fit_linear_y,
    integer_ticks,
    line_figure,
    log_ticks,
    norms_figure,
    points_per_trace,
    round_ticks,
    schedules_figure,
    smoothed_band,
)

# every figure's template, set once for the app: naming it in each figure's layout costs
# 7-12 ms a figure (lrcore.plot names it only when the default differs)
pio.templates.default = TEMPLATE

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
