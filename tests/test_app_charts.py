"""The app's chart rules: readable log-axis ticks, a fixed colour for every registry schedule."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from _apptest import app, assert_clean, csv_log, layouts, upload
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcore import REGISTRY

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
import charts  # noqa: E402


def bare_share(low: float, high: float, ticks) -> float:
    """The longest unlabelled stretch of a log axis, as a share of the axis."""
    edges = np.log10([low, *ticks, high])
    return float(np.diff(edges).max() / np.log10(high / low))


@settings(max_examples=300, deadline=None)
@given(st.floats(-6, 3), st.floats(0.02, 4))
def test_log_ticks_label_the_whole_axis(low_exp, decades):
    low, high = 10.0**low_exp, 10.0 ** (low_exp + decades)
    ticks, labels = charts.log_ticks(low, high)
    assert len(ticks) >= 3 and len(set(labels)) == len(labels)
    assert low * 0.999 <= min(ticks) and max(ticks) <= high * 1.001
    # no bare stretch over MAX_TICK_GAP of an axis of half a decade or more (narrower: half)
    assert bare_share(low, high, ticks) <= (charts.MAX_TICK_GAP if decades >= 0.5 else 0.5) + 1e-9


def test_the_cnn_chart_s_axis_is_labelled_in_its_lower_third_too():
    """The CNN objective axis (about 0.15 .. 2.5) was labelled only 2, 1, 0.5."""
    ticks, labels = charts.log_ticks(0.15, 2.5)
    assert labels == ["0.2", "0.5", "1", "2"] and bare_share(0.15, 2.5, ticks) <= 0.35


def test_every_registry_schedule_has_its_own_fixed_colour():
    names = [*REGISTRY, "refined", "numerical optimum"]
    colours = [charts.colour_for(n) for n in names]
    assert len(set(colours)) == len(names)  # no two schedules share a colour
    for name, spec in REGISTRY.items():  # the same colour by name, label, lowercase label
        assert charts.colour_for(spec.label) == charts.colour_for(name) == charts.COLOURS[name]
        assert charts.colour_for(spec.label.lower()) == charts.COLOURS[name]
    assert not set(colours[1:]) & set(charts.LOG_COLOURS[1:])  # logs never look like schedules


@pytest.mark.parametrize("extra", ["cyclic", "one_cycle", "rsqrt", "join"])
def test_the_refine_page_draws_extra_schedules_in_their_colour_and_log_axes_stay_labelled(extra):
    norms = np.exp(np.linspace(np.log(400), 0, 300))  # more than 50x: a log axis by default
    at = upload(app(), "refine_uploads", ("wide.csv", csv_log(range(300), norms)))
    at.multiselect(key="extras").set_value([extra]).run()
    assert_clean(at)
    import json

    traces = {
        t["name"]: t for el in at.get("plotly_chart") for t in json.loads(el.proto.spec)["data"]
    }
    assert traces[REGISTRY[extra].label]["line"]["color"] == charts.COLOURS[extra]
    (norm_axis,) = [lay["yaxis"] for lay in layouts(at)[:1]]
    assert norm_axis["type"] == "log"
    low, high = (10.0**v for v in norm_axis["range"])
    assert bare_share(low, high, norm_axis["tickvals"]) <= 0.25


@pytest.mark.parametrize(
    ("low", "high"), [(1e-6, 1.0), (3e-7, 1.2), (1.001e-5, 1.2e-5), (3e-6, 2e-5), (40, 3e5)]
)
def test_one_number_format_per_log_axis(low, high):
    """The See it work (c) axis read 1, 0.1, 0.01, 0.001, 0.0001, 1e-05, 1e-06."""
    ticks, labels = charts.log_ticks(low, high)
    assert len(set(labels)) == len(labels)
    scientific = ["e" in t for t in labels]
    assert all(scientific) or not any(scientific), labels
    assert all(
        abs(float(t.replace(",", "")) / v - 1) < 0.05 for t, v in zip(labels, ticks, strict=True)
    )


def test_file_and_column_names_reach_plotly_as_text_not_html():
    """Plotly renders <a href>, <b>, <br> in legend and hover names: a column named like a link
    drew a clickable link in the norms legend, a file named <b>x.csv a bold one."""
    norms = 1 + np.linspace(3, 0, 300) ** 2
    link = '<a href="http://x">click</a>'
    at = upload(
        app(),
        "refine_uploads",
        ("<b>x.csv", csv_log(range(300), norms, metric=f"{link} grad_norm")),
        ("<b>y.csv", csv_log(range(300), norms[::-1])),
    )
    assert_clean(at)
    names = [
        t.get("name") or ""
        for el in at.get("plotly_chart")
        for t in json.loads(el.proto.spec)["data"]
    ]
    assert "refined: &lt;b&gt;x.csv" in names and "&lt;b&gt;y.csv (median)" in names
    assert not any("<" in n for n in names), names
    at = upload(app(), "refine_uploads", ("one.csv", csv_log(range(300), norms, f"{link} g")))
    names = [
        t.get("name") or ""
        for el in at.get("plotly_chart")
        for t in json.loads(el.proto.spec)["data"]
    ]
    assert '&lt;a href="http://x"&gt;click&lt;/a&gt; g (raw)' in names, names
