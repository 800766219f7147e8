"""AppTest checks of 'See it work': what it says is computed from runs it shows, and one
click opens the same setup on 'Train and check'."""

import re

import pytest
from _apptest import app, assert_clean, charts

from lrcore.train import RunConfig, compare
from lrcore.train.experiments import best_rows, own_norm_bounds

PAGE = "app_pages/demo.py"


def metric(at, label: str) -> str:
    (m,) = [m.value for m in at.metric if m.label == label]
    return m


def test_flat_noise_experiment_matches_the_library_and_its_sentence():
    at = app(PAGE)
    at.segmented_control(key="demo_choice").set_value("flat").run()
    assert not at.metric  # nothing runs before the click
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
    shown = float(metric(at, "measured refined ÷ linear").rstrip("×"))
    assert shown == pytest.approx(ratio, abs=0.006)  # shown with 2 significant digits
    assert float(metric(at, "bound refined ÷ linear").rstrip("×")) == pytest.approx(bound, abs=0.06)
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("**Measured:**")]
    assert f"**{metric(at, 'measured refined ÷ linear')}** linear decay's" in verdict
    assert f"**The bound predicted {metric(at, 'bound refined ÷ linear')}**" in verdict
    # flat noise: the two are within noise of each other, and the bound agrees
    assert "about equal to linear decay" in verdict and "they agree" in verdict
    assert {"linear", "refined", "linear's runs (median)"} <= set(charts(at))
    assert not at.warning  # no degenerate-schedule diagnostic here


def test_full_batch_experiment_shows_the_diagnostic():
    at = app(PAGE)
    at.segmented_control(key="demo_choice").set_value("full").run()
    at.button(key="demo_run").click().run(timeout=300)
    assert not at.exception
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("This refined schedule looks degenerate")
    peak = int(re.search(r"peaks at (\d+)% of the run", warning).group(1))
    assert peak > 50
    (verdict,) = [m.value for m in at.markdown if m.value.startswith("**Measured:**")]
    assert "worse than linear decay" in verdict and "they disagree" in verdict


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
