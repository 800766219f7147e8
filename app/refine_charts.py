"""The Refine page's two figures, from its analyses: :mod:`lrcore.plot`'s builders with the
title under Streamlit's toolbar."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from charts import title_under_toolbar

import lrcore.plot as lp
from lrcore import LogAnalysis


def refine_norms(traces: Sequence[tuple], x_title: str, log_y: bool, normalised: bool) -> go.Figure:
    """The Refine page's norms chart: :func:`lrcore.plot.norms_figure` of the page's cached,
    decimated traces, its title under the toolbar."""
    return title_under_toolbar(lp.norms_figure(traces, x_title, log_y, normalised=normalised))


def refine_schedules(
    views: Sequence[LogAnalysis],
    peak_lr: float,
    as_pct: bool,
    warmup_pct: float,
    extras: Sequence[str],
    log_y: bool,
) -> go.Figure:
    """The Refine page's schedules chart: :func:`lrcore.plot.refined`, its title under the
    toolbar."""
    fig = lp.refined(
        views, peak_lr, as_pct=as_pct, warmup_pct=warmup_pct, extras=extras, log_y=log_y
    )
    return title_under_toolbar(fig)
