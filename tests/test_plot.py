"""lrcore.plot: the dashboard's figures from plain data (no streamlit), its lazy import and the
error that names the extra."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

import lrcore
import lrcore.plot as lp
from lrcore import REGISTRY, build_schedule, smooth_norms
from lrcore.logs import load_log

SAMPLE = Path(__file__).parents[1] / "sample_runs" / "logreg_digits_sgd.csv"


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_lrcore_loads_no_plotly_and_lrcore_plot_does():
    code = (
        "import sys, lrcore; a = 'plotly' in sys.modules; import lrcore.plot; "
        "print(a, 'plotly' in sys.modules, 'streamlit' in sys.modules)"
    )
    assert run_python(code).stdout.split() == ["False", "True", "False"]


def test_without_plotly_the_error_names_the_app_extra():
    code = (  # a finder that answers for plotly as Python does when it is not installed
        "import sys\n"
        "class NoPlotly:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'plotly':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoPlotly())\n"
        "try:\n    import lrcore.plot\n"
        "except ModuleNotFoundError as e:\n    print(e.name, '|', e)"
    )
    out = run_python(code).stdout
    assert out.startswith("plotly |"), out
    assert "lrcore.plot needs the 'app' extra: pip install 'lrcore[app]'" in out


def test_without_tsdownsample_decimating_names_the_app_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tsdownsample", None)
    x = np.arange(lp.MAX_POINTS + 1.0)
    assert len(lp.decimate_index(x, x, n_out=x.size)) == x.size  # nothing to decimate: no import
    with pytest.raises(ModuleNotFoundError, match=r"needs the 'app' extra"):
        lp.decimate_index(x, x)


def test_schedules_from_names_arrays_and_functions():
    shape = np.linspace(0.2, 1.0, 50) ** 2  # an array of another length: stretched to 200 steps
    fig = lp.schedules(
        {"refined": shape, "linear": "linear", "mine": lrcore.cosine_decay(0.1, 200)},
        200,
        peak_lr=0.1,
    )
    refined, linear, mine = fig.data
    assert [t.name for t in fig.data] == ["refined", "Linear decay", "mine"]
    assert refined.line.color == lp.COLOURS["refined"] and refined.line.width == 3
    assert linear.line.color == lp.COLOURS["linear"] and linear.line.dash == "dash"
    assert len(refined.x) == 200 and refined.y[0] == pytest.approx(0.04)
    assert refined.y[-1] == pytest.approx(1.0)
    expected = build_schedule("linear", 200, peak_lr=0.1)(np.arange(200))
    np.testing.assert_allclose(linear.y, expected)
    np.testing.assert_allclose(mine.y, lrcore.cosine_decay(0.1, 200)(np.arange(200)))
    assert fig.layout.xaxis.dtick is None  # 200 steps: plotly's own ticks
    assert lp.schedules(["wsd"], 10).layout.xaxis.dtick == 1  # a short run: whole steps


def test_schedules_are_drawn_from_at_most_4000_points_at_any_length():
    fig = lp.schedules(["linear", "cosine"], 1_000_000)
    assert lp.points_per_trace(fig) == [lp.MAX_POINTS, lp.MAX_POINTS]
    assert fig.data[0].x[-1] == 999_999


def test_every_figure_draws_in_svg_not_one_webgl_context_per_chart():
    """Scattergl made each chart a WebGL context: 0.7 s a chart in a browser without a GPU."""
    log = load_log(SAMPLE)
    figs = [
        lp.schedules(["linear", "cosine"], 1_000_000),
        lp.norms(log),
        lp.refined([lrcore.analyse(log)], 0.1, extras=["cosine"]),
    ]
    types = {trace.type for fig in figs for trace in fig.data}
    assert types == {"scatter"}, types


@pytest.mark.parametrize(
    ("specs", "total", "match"),
    [
        ([], 10, "specs must name at least one schedule"),
        (["linear"], None, "total_steps must be a whole number >= 2"),
        (["linear"], 1, "total_steps must be a whole number >= 2"),
        ({"a": "no such"}, 10, "'a' must be a registry name"),
    ],
)
def test_schedules_errors_name_the_parameter(specs, total, match):
    with pytest.raises(ValueError, match=rf"schedules: {match}"):
        lp.schedules(specs, total)


def test_norms_of_a_log_keep_its_spike_under_the_point_cap_and_its_full_median():
    n = 50_000
    rng = np.random.default_rng(1)
    g = 1 + rng.random(n)
    g[31_337] = 40.0  # a spike must survive the decimation
    fig = lp.norms((np.arange(n) * 2, g), tau=0.05)
    raw, median = fig.data
    assert [raw.name, median.name] == ["grad_norm (raw)", "grad_norm (median)"]
    assert len(raw.y) == lp.MAX_POINTS and max(raw.y) == 40.0 and raw.x[-1] == 2 * (n - 1)
    assert len(median.y) == lp.MAX_POINTS  # decimated for display, computed on every point
    full = smooth_norms(g, 0.05)
    assert set(np.round(median.y, 12)) <= set(np.round(full, 12))
    assert fig.layout.yaxis.type is None  # 40x: under LOG_Y_SPAN, a linear axis


def test_norms_of_sample_logs_by_name_normalised_and_in_percent():
    log = load_log(SAMPLE)
    fig = lp.norms(log)
    assert fig.data[0].name == f"{log.metric} (raw)"
    many = lp.norms([log, 10 * log.grad_norms], normalise=True, as_pct=True)
    names = [t.name for t in many.data]
    assert names[0] == f"{log.source} (raw)" and names[2] == "grad_norm (raw)"
    assert many.layout.yaxis.title.text == "gradient norm / its median"
    assert many.data[0].x[-1] == pytest.approx(100.0)
    # divided by their medians, the two logs (one ten times the other) draw the same medians
    for i in (1, 3):  # (the decimated points may differ where the median is flat)
        assert many.data[i].y[-1] == pytest.approx(many.data[1].y[-1], rel=1e-12)
        assert max(many.data[i].y) == pytest.approx(max(many.data[1].y), rel=1e-12)
    wide = np.geomspace(500, 1, 300)  # spans 500x: a log axis by default
    assert lp.norms(wide).layout.yaxis.type == "log"
    assert lp.norms(wide, log_y=False).layout.yaxis.type is None


@pytest.mark.parametrize(
    "bad", [np.ones((3, 3)), np.array([1.0]), (np.arange(3), np.ones(4)), np.array([1, np.nan])]
)
def test_norms_refuse_what_is_not_a_series(bad):
    with pytest.raises(ValueError, match=r"^norms: "):
        lp.norms(bad)


def test_refined_draws_each_view_at_its_peak_and_the_baselines():
    log = load_log(SAMPLE)
    view = lrcore.analyse(log)  # a next run as long as the log: the shape's own points
    fig = lp.refined(view, peak_lr=0.5, extras=["wsd"], as_pct=True)
    names = [t.name for t in fig.data]
    assert names == ["refined", "Linear decay", "Cosine decay", REGISTRY["wsd"].label]
    refined, linear = fig.data[0], fig.data[1]
    assert max(refined.y) == pytest.approx(0.5)  # the shape's peak is 1
    at = (np.asarray(linear.x) / 100 * (view.steps - 1)).round()  # the steps drawn
    np.testing.assert_allclose(linear.y, build_schedule("linear", view.steps, peak_lr=0.5)(at))
    assert refined.x[-1] == pytest.approx(100.0) and linear.x[-1] == pytest.approx(100.0)
    short = lrcore.analyse(log, steps=500)  # shorter than the log: drawn at its own steps
    two = lp.refined([short, view], peak_lr=0.5)
    assert [t.name for t in two.data][:2] == [f"refined: {log.source}"] * 2
    assert two.data[0].x[-1] == 499 and two.data[1].x[-1] == view.steps - 1
    assert two.data[2].x[-1] == 499  # the baselines span the first view's next run
    with pytest.raises(ValueError, match="refined: peak_lr must be > 0, got 0"):
        lp.refined(view, peak_lr=0)


def fake_run(schedule, peak, seed, objective, ok=True, f_star=0.0):
    """What lp.runs reads of a RunResult (lrcore.train needs torch)."""
    steps = np.arange(0, 100, 10)
    evals = pd.DataFrame({"step": steps, "objective": objective, "test_accuracy": 0.5})
    return SimpleNamespace(
        config=SimpleNamespace(schedule=schedule, peak_lr=peak, seed=seed),
        evals=evals,
        final={"f_star": f_star},
        loss=np.full(100, float(seed)),
        steps=np.arange(100),
        ok=ok,
    )


def test_runs_draw_the_mean_and_standard_error_over_seeds():
    base = np.linspace(2, 1, 10)
    results = {
        ("linear", 0.1, 0): fake_run("linear", 0.1, 0, base, f_star=0.5),
        ("linear", 0.1, 1): fake_run("linear", 0.1, 1, base + 0.2, f_star=0.5),
        ("linear", 0.3, 0): fake_run("linear", 0.3, 0, base + 1),
        ("cosine", 0.1, 0): fake_run("cosine", 0.1, 0, base, ok=False),  # diverged: left out
    }
    fig = lp.runs(results, log_y=False)
    lines = {t.name: t for t in fig.data if t.showlegend is not False}
    assert set(lines) == {"Linear decay @ 0.1", "Linear decay @ 0.3"}
    np.testing.assert_allclose(lines["Linear decay @ 0.1"].y, base + 0.1)
    band = next(t for t in fig.data if t.showlegend is False and t.legendgroup.endswith("0.1"))
    sem = np.std([base, base + 0.2], axis=0, ddof=1) / np.sqrt(2)  # 0.1 at every step
    np.testing.assert_allclose(band.y[:10] - (base + 0.1), sem)
    table = pd.DataFrame({"schedule": ["linear", "linear"], "peak_lr": [0.1, 0.3]})
    best = lp.runs(results, table.assign(best=[False, True]), "suboptimality")
    assert [t.name for t in best.data if t.showlegend is not False] == ["Linear decay"]
    np.testing.assert_allclose(best.data[1].y, base + 1)  # f* = 0 for that run
    sub = lp.runs(list(results.values())[:2], metric="suboptimality", log_y=False)
    np.testing.assert_allclose(sub.data[1].y, base + 0.1 - 0.5)
    loss = lp.runs(list(results.values())[:2], metric="loss", log_y=False)
    assert len(loss.data[1].x) == 100 and loss.data[1].y[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="seed_curve: metric must be 'loss' or one of"):
        lp.runs(results, metric="accuracy")
    with pytest.raises(ValueError, match="runs: results must hold at least one finished run"):
        lp.runs({k: v for k, v in results.items() if k[0] == "cosine"})


def test_sweep_draws_each_schedule_against_its_peak_lrs():
    table = pd.DataFrame(
        {
            "schedule": ["cosine", "linear", "linear", "linear"],
            "peak_lr": [0.1, 1.0, 0.1, 0.3],
            "objective_mean": [0.4, 0.6, 0.5, 0.3],
            "objective_sem": [0.0, 0.01, 0.02, 0.03],
        }
    )
    fig = lp.sweep(table)
    lines = {t.name: t for t in fig.data if t.showlegend is not False}
    assert list(lines["Linear decay"].x) == [0.1, 0.3, 1.0]  # sorted by peak lr
    assert list(lines["Linear decay"].y) == [0.5, 0.3, 0.6]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="sweep: metric must name a '<metric>_mean' column"):
        lp.sweep(table, "test_accuracy")


def test_figures_look_like_the_app_without_changing_plotly_s_default(monkeypatch):
    monkeypatch.setattr(pio.templates, "default", "plotly")
    fig = lp.schedules(["linear"], 100)
    assert pio.templates.default == "plotly"
    white = pio.templates["plotly_white"].layout.plot_bgcolor
    assert (
        fig.layout.template.layout.plot_bgcolor
        == white
        != pio.templates["plotly"].layout.plot_bgcolor
    )


def test_names_from_files_reach_plotly_as_text():
    fig = lp.norms({"<b>x.csv": np.linspace(2, 1, 10)})
    assert fig.data[0].name == "&lt;b&gt;x.csv (raw)"
    assert "<b>" not in json.dumps([t.name for t in fig.data])


def test_the_readme_notebook_example_runs(monkeypatch):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("### In a notebook", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(Path(__file__).parents[1])
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["lp"] is lp and len(namespace["log"]) == 3000
