"""AppTest checks of 'See it work': what it says is computed from runs it shows, and one
click opens the same setup on 'Train and check'."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from _apptest import _array, app, assert_clean, charts, layouts

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
import words  # noqa: E402

from lrcore.train import RunConfig, compare
from lrcore.train.experiments import best_rows, own_norm_bounds

PAGE = "app_pages/demo.py"


def metric(at, label: str) -> str:
    (m,) = [m.value for m in at.metric if m.label == label]
    return m


def test_flat_noise_experiment_matches_the_library_and_its_sentence():
    at = app(PAGE)
    at.segmented_control(key="demo_choice").set_value("flat").run()
    # nothing runs before the click (the language model's metrics are the study's numbers)
    study = {"Linear decay: excess loss", "refined: excess loss", "refined − linear"}
    assert not [m for m in at.metric if m.label not in study]
    at.button(key="demo_run").click().run(timeout=300)
    assert_clean(at)
    cfg = RunConfig(
        task="svm",
        dataset="synthetic",
        steps=1000,
        batch_size=16,
        noise="flat",
        noise_scale=2.0,
        eval_every=20,
    )
    table, runs = compare(
        cfg, ["linear", "refined"], (0, 1, 2), peak_lrs=[0.05, 0.1, 0.2], return_runs=True
    )
    best = best_rows(table).set_index("schedule")
    ratio = best.suboptimality_mean["refined"] / best.suboptimality_mean["linear"]
    bound = own_norm_bounds(best.reset_index(), runs).iloc[1]
    shown = float(metric(at, "measured refined ÷ Linear decay").rstrip("×"))
    assert shown == pytest.approx(ratio, abs=0.006)  # shown with 2 significant digits
    shown_bound = metric(at, "bound refined ÷ Linear decay")
    assert float(shown_bound.rstrip("×")) == pytest.approx(bound, abs=0.06)
    # each schedule's own metric: its registry label ("linear: ..." before), the table's value
    assert metric(at, "Linear decay: objective − f*") == words.fmt_sig(
        best.suboptimality_mean["linear"]
    )
    assert metric(at, "refined: objective − f*") == words.fmt_sig(
        best.suboptimality_mean["refined"]
    )
    assert not [m.label for m in at.metric if m.label.lower().startswith("linear:")]
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("**Measured:**")]
    assert f"**{metric(at, 'measured refined ÷ Linear decay')}** Linear decay's" in verdict
    assert f"**The bound predicted {shown_bound}**" in verdict
    # flat noise: the two are within noise of each other, and the bound agrees
    assert "about equal to Linear decay" in verdict and "they agree" in verdict
    # every legend names the schedules by their registry labels, as the other pages do
    names = set(charts(at))
    assert {"Linear decay", "refined", "Linear decay's runs (median)"} <= names
    assert not [n for n in names if n and n.startswith("linear")]
    # Linear decay's runs are drawn in Linear decay's colour (grey), not refined's (blue)
    (norms_spec,) = [
        json.loads(el.proto.spec)
        for el in at.get("plotly_chart")
        if "refined was built" in str(json.loads(el.proto.spec)["layout"].get("title"))
    ]
    norm_colours = {t["name"]: t["line"]["color"] for t in norms_spec["data"]}
    traces = charts(at)
    lin_colour, ref_colour = (traces[n]["line"]["color"] for n in ("Linear decay", "refined"))
    assert lin_colour != ref_colour
    assert norm_colours == {
        "Linear decay's runs (raw)": lin_colour,
        "Linear decay's runs (median)": lin_colour,
    }
    # no degenerate-schedule diagnostic here (the page's language-model section below warns
    # that refinement clearly hurt there: that one is the study's, not this experiment's)
    assert [w.value for w in at.warning if "language model" not in w.value] == []
    # the shape chart divides each schedule by its peak; its caption names both peaks and
    # the largest gap between the two shapes, computed from the drawn curves
    (spec,) = [
        json.loads(el.proto.spec)
        for el in at.get("plotly_chart")
        if "Schedule shapes" in str(json.loads(el.proto.spec)["layout"].get("title"))
    ]
    traces = {t["name"]: t for t in spec["data"]}
    lin, ref = (np.asarray(_array(traces[n]["y"])) for n in ("Linear decay", "refined"))
    assert lin.max() == pytest.approx(1.0) and ref.max() == pytest.approx(1.0)
    gap = float(np.max(np.abs(lin - ref)))
    (shape_caption,) = [c.value for c in at.caption if "the shapes differ by" in c.value]
    assert f"{gap:.0%} of the peak" in shape_caption
    peaks = (best.peak_lr["linear"], best.peak_lr["refined"])
    if peaks[0] != peaks[1]:
        assert f"(Linear decay {peaks[0]:.3g}, refined {peaks[1]:.3g})" in shape_caption


def test_full_batch_experiment_shows_the_diagnostic():
    at = app(PAGE)
    at.segmented_control(key="demo_choice").set_value("full").run()
    at.button(key="demo_run").click().run(timeout=300)
    assert not at.exception
    (warning,) = [w.value for w in at.warning if w.value.startswith("This refined")]
    assert warning.startswith("This refined schedule looks degenerate")
    peak = int(re.search(r"peaks at (\d+)% of the run", warning).group(1))
    assert peak > 50
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("**Measured:**")]
    assert "worse than Linear decay" in verdict and "they disagree" in verdict
    # no interior best peak lr here: the page says the comparison is at the cap, with the
    # peaks the grid reached (from the table behind it)
    (lrs,) = [c.value for c in at.caption if c.value.startswith("Suboptimality (objective")]
    ref_peak, lin_peak = re.search(r"at peak lrs (\S+) and (\S+)\.", lrs).groups()
    (edge,) = [w.value for w in at.warning if w.value.startswith("Best peak lr at the edge")]
    assert f"Linear decay ({words.fmt_sig(float(lin_peak))})" in edge
    if f"refined ({words.fmt_sig(float(ref_peak))})" in edge:  # both at the cap
        assert "depends on where the extension stopped" in edge
    # "noise none" yet jagged norms: the caption counts the rises in the norms shown
    norms = np.asarray(charts(at)["Linear decay's runs (raw)"]["y"])
    assert len(norms) == 1000  # every step drawn: the share below is of the drawn norms
    (norm_layout,) = [lay for lay in layouts(at) if "refined was built" in str(lay["title"])]
    labels = norm_layout["yaxis"]["ticktext"]
    assert all("e" in t for t in labels) or not any("e" in t for t in labels)  # one format
    (jag,) = [c.value for c in at.caption if c.value.startswith("No noise here")]
    assert f"they rise on {np.mean(np.diff(norms) > 0):.0%} of the steps" in jag


def test_open_on_train_prefills_the_same_setup():
    at = app(PAGE)
    at.segmented_control(key="demo_choice").set_value("rise").run()
    at.button(key="demo_open").click().run()
    assert_clean(at)
    assert at.segmented_control(key="tr_task").value == "svm"
    assert at.selectbox(key="tr_dataset_svm").value == "synthetic"
    assert at.selectbox(key="tr_noise").value == "rise"
    assert at.number_input(key="tr_noise_scale").value == 2.0
    assert at.number_input(key="tr_batch").value == 16
    assert at.text_input(key="tr_peaks_svm_sgd").value == "0.05, 0.1, 0.2"
    assert at.multiselect(key="tr_sched").value == ["linear", "refined (from a linear run first)"]
    assert any("(a) Noise that rises late" in i.value for i in at.info)


def test_a_student_is_told_when_other_experiments_compute_first(monkeypatch):
    """The demo pool runs one experiment at a time: a student who asks for another one while
    it computes waits, and the page said "Training…" all along."""
    import demo_runs
    from _pool_fakes import FakeExecutor

    from lrcore.train.pool import Pool

    ex = FakeExecutor()
    pool = Pool(1, fn=None, key=repr, executor_factory=lambda n: ex, reaper_every=None)
    monkeypatch.setattr(demo_runs, "_demo_pool", lambda: pool)
    first, second, third = list(demo_runs.EXPERIMENTS)[:3]
    try:
        assert demo_runs.computing_first(second) == 0  # nothing computing
        pool.submit("ann", demo_runs._spec(first))
        assert demo_runs.computing_first(first) == 0  # the same one: joined, not behind it
        assert demo_runs.computing_first(second) == 1
        pool.submit("bob", demo_runs._spec(third))  # queued behind ann's
        assert demo_runs.computing_first(second) == 2
        assert demo_runs.computing_first(third) == 1
    finally:
        pool.close()
