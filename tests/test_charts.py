"""The pure plotly builders of app/charts.py (no streamlit involved)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
import charts  # noqa: E402


def test_decimate_keeps_extremes_and_caps_points():
    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 5000.0)
    y[123_457] = 50.0  # a spike must survive display decimation
    dx, dy = charts.decimate(x, y)
    assert len(dx) <= charts.MAX_POINTS and dy.max() == 50.0 and dx[0] == 0 and dx[-1] == x[-1]
    small = np.arange(10.0)
    assert charts.decimate(small, small)[0].tolist() == small.tolist()


def test_every_trace_is_decimated():
    n = 500_000
    fig = charts.norms_figure(
        [("g", np.arange(n), np.random.default_rng(0).random(n) + 1, np.ones(n))], "step"
    )
    assert charts.points_per_trace(fig) == [charts.MAX_POINTS, charts.MAX_POINTS]


def test_log_axis_shows_at_most_four_decades_below_the_top():
    t = np.arange(1000)
    y = 0.1 * (1 - t / 1000) ** 4  # reaches 1e-13: far below what the axis should show
    fig = charts.schedules_figure([charts.Curve("poly", t, y)], "step", log_y=True)
    low, high = fig.layout.yaxis.range
    assert fig.layout.yaxis.type == "log"
    assert high == np.log10(0.1) + 0.05 and low == np.log10(0.1 * 1e-4) - 0.05
    flat = charts.schedules_figure([charts.Curve("c", t, np.full(1000, 0.1))], "step", log_y=True)
    assert flat.layout.yaxis.range[0] == np.log10(0.1) - 0.05


def test_band_figure_has_a_band_and_a_line_per_group():
    x = np.arange(5)
    fig = charts.band_figure(
        [("a", x, x + 1.0, 0.1 * x), ("b", x, x + 2.0, 0.1 * x)], "t", "step", "loss"
    )
    assert [t.name for t in fig.data if t.showlegend is not False] == ["a", "b"]
    assert len(fig.data) == 4
