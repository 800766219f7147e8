"""AppTest checks of the 'Refine a log' page: the values it shows."""

from pathlib import Path

import numpy as np
import pytest
from _apptest import app, assert_clean, charts, csv_log, download, layouts, media, upload  # noqa: F401

from lrcore import refine, smooth_norms, stretch, summarize
from lrcore._text import for_markdown as md
from lrcore.diagnose import diagnose_refined
from lrcore.fit import fit_family
from lrcore.logs._write import WRITERS, write_log

STEPS = np.arange(0, 200, 10)
NORMS = np.r_[np.linspace(4, 1, 10), np.linspace(1, 2, 10)]
SAMPLE = Path(__file__).parents[1] / "sample_runs" / "logreg_digits_sgd.csv"
SENT = "sent from 'Train and check': run.csv"


def positions(steps, total):
    s = np.asarray(steps, dtype=float)
    return (s - s[0]) / (s[-1] - s[0]) * (total - 1)


def test_first_visit_shows_a_sample_its_refined_schedule_and_its_numbers():
    at = app()
    assert_clean(at)
    assert at.selectbox(key="refine_sample").value == "logreg_digits_sgd.csv"
    traces = charts(at)
    assert {"refined", "Linear decay", "Cosine decay", "grad_norm (median)"} <= set(traces)
    assert len(at.get("download_button")) == 4
    (steps,) = [n for n in at.number_input if n.label == "Steps of the next run"]
    assert steps.value == 3000  # steps 0..2999: the run had 3,000
    norms = np.loadtxt(SAMPLE, delimiter=",", skiprows=1)[:, 1]
    shape = refine(norms, 0.1, "sgd")
    # 3,000 points are decimated to 2,000 for drawing: each drawn point is a refined point
    idx = np.rint(traces["refined"]["x"]).astype(int)
    assert len(idx) == 2000 and idx[0] == 0 and idx[-1] == 2999
    np.testing.assert_allclose(traces["refined"]["y"], 0.1 * shape[idx], rtol=1e-6, atol=1e-12)
    grid = stretch(shape, 3000)
    s, fit = summarize(grid), fit_family(grid, "best")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Implied warm-up"] == f"{100 * s.warmup_fraction:.1f}%"
    assert shown["Family fit R²"] == f"{fit.r2:.3f}"
    assert fit.r2 >= 0.9
    (config,) = [m.value for m in at.markdown if m.value.startswith("**As a plain config:**")]
    w = fit.params["warmup_fraction"]
    start = "no warm-up" if f"{100 * w:.1f}" == "0.0" else f"linear warm-up over {100 * w:.1f}%"
    assert start in config and f"(R² = {fit.r2:.3f})" in config
    if fit.family == "warmup_poly":
        assert f"(1 - p)^{fit.params['power']:.2f}" in config
        assert any(c.value.startswith("p = fraction of the run done") for c in at.caption)
    # the sentence over the bound table, computed from its rows (constant beats linear here)
    t = at.dataframe[0].value.set_index("schedule")
    assert list(at.dataframe[0].value.columns[:2]) == ["schedule", "vs Linear decay"]
    (said,) = [m.value for m in at.markdown if "Refined's bound is" in m.value]
    best = t["bound at best scale (D = 1)"].idxmin()
    assert said.startswith(f"The theory prefers **{best}**. ")
    ref = t.loc["refined", "vs Linear decay"]
    assert f"Refined's bound is {1 - ref:.0%} below Linear decay's" in said
    const = t.loc["Constant", "vs Linear decay"]
    if const < 1:
        smooth = smooth_norms(norms, 0.1)
        assert f"Constant's is also {1 - const:.0%} below Linear decay's" in said
        if smooth[0] > smooth[-1]:
            assert "the norms fall" in said and "early steps cost more" in said
    assert any("a larger τ smooths them" in c.value for c in at.caption)
    assert not any("docs/theory.md" in e.value for e in [*at.caption, *at.markdown])
    # the warm-ups differ by more than 2 points: the page says why, with both numbers
    why = [c.value for c in at.caption if c.value.startswith("Why the warm-ups differ")]
    assert f"{100 * s.warmup_fraction:.1f}%" in why[0]
    assert f"{100 * fit.params['warmup_fraction']:.1f}%" in why[0]
    assert not any("refinement.md" in e.value for e in [*at.caption, *at.markdown])
    expected = diagnose_refined(shape, norms, steps=np.arange(3000), tau=0.1)
    assert [w.value for w in at.warning] == expected


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_uploading_each_format_gives_the_refined_chart(tmp_path, fmt):
    path = write_log(tmp_path / f"log_{fmt}.txt", STEPS, NORMS, fmt)
    at = upload(app(), "refine_uploads", (path.name, path.read_bytes()))
    assert_clean(at)
    steps = STEPS if fmt != "text" else np.arange(len(NORMS))
    total = int(steps[-1]) + 1  # steps start at 0
    refined = charts(at)["refined"]
    np.testing.assert_allclose(refined["y"], 0.1 * refine(NORMS, 0.1, "sgd"), rtol=1e-6)
    np.testing.assert_allclose(refined["x"], positions(steps, total), rtol=1e-9)


def test_tensorboard_event_upload(tmp_path):
    folder = write_log(tmp_path / "tb", STEPS, NORMS, "tensorboard")
    event = next(folder.glob("*tfevents*"))
    at = upload(app(), "refine_uploads", (event.name, event.read_bytes()))
    assert_clean(at)
    np.testing.assert_allclose(charts(at)["refined"]["y"], 0.1 * refine(NORMS), rtol=1e-6)


def test_changing_tau_changes_the_schedule_and_the_csv_equals_refine(media):  # noqa: F811
    norms = np.r_[np.linspace(5, 1, 100), np.ones(200), np.linspace(1, 3, 100)] * (
        1 + 0.3 * np.sin(np.arange(400))
    )
    at = upload(app(), "refine_uploads", ("g.csv", csv_log(range(400), norms)))
    before = np.array(charts(at)["refined"]["y"])
    lr = np.loadtxt(download(at, media, "Schedule as CSV").splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(lr[:, 1], 0.1 * refine(norms, 0.1, "sgd"), rtol=1e-8, atol=1e-15)

    at.slider(key="tau").set_value(0.3).run()
    assert_clean(at)
    after = np.array(charts(at)["refined"]["y"])
    assert np.abs(after - before).max() > 1e-3 * 0.1  # more than 0.1% of the peak lr
    np.testing.assert_allclose(after, 0.1 * refine(norms, 0.3, "sgd"), rtol=1e-6, atol=1e-12)
    lr = np.loadtxt(download(at, media, "Schedule as CSV").splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(lr[:, 1], 0.1 * refine(norms, 0.3, "sgd"), rtol=1e-8, atol=1e-15)


def test_each_log_keeps_its_own_rule_and_length_and_overlays_stay_readable():
    a_norms = 15_000 * np.array([4.0, 2, 1, 1, 1.5])  # l1 (Adam) norms, logged 0..4
    b_norms = np.array([1.0, 1, 2, 3, 2, 1, 1, 0.5, 0.5, 0.5])  # l2 (SGD) norms, 10..100
    a = csv_log(range(5), a_norms, "grad_norm_l1")
    b = csv_log(range(10, 101, 10), b_norms)
    at = upload(app(), "refine_uploads", ("a.csv", a), ("b.csv", b))
    assert_clean(at)
    assert at.selectbox(key="refine_sample").value == "(none)"  # uploads take its place
    rules = [r for r in at.radio if r.label == "Refinement rule"]
    assert [r.value for r in rules] == ["adam", "sgd"]
    lengths = [n.value for n in at.number_input if n.label == "Steps of the next run"]
    assert lengths == [5, 100]
    traces = charts(at)
    np.testing.assert_allclose(traces["refined: a.csv"]["y"], 0.1 * refine(a_norms, 0.1, "adam"))
    np.testing.assert_allclose(traces["refined: b.csv"]["y"], 0.1 * refine(b_norms, 0.1, "sgd"))
    # the logs' lengths differ: the x axis shows % of training by default
    assert at.radio(key="x_axis:True").value == "% of training"
    np.testing.assert_allclose(
        traces["refined: b.csv"]["x"], 100 * positions(range(10, 101, 10), 100) / 99
    )
    # medians 22,500 vs 1: each log's norms are drawn relative to its own median
    (norm_toggle,) = [t for t in at.toggle if t.label.startswith("Show each log's norms divided")]
    assert norm_toggle.value
    np.testing.assert_allclose(traces["a.csv (raw)"]["y"], a_norms / np.median(a_norms))
    np.testing.assert_allclose(traces["b.csv (raw)"]["y"], b_norms / np.median(b_norms))
    assert any("differ by 22,500x" in c.value for c in at.caption)
    assert layouts(at)[0]["yaxis"]["title"]["text"] == "gradient norm / its median"

    rules[0].set_value("sgd").run()  # override the first log's rule only
    assert_clean(at)
    traces = charts(at)
    np.testing.assert_allclose(traces["refined: a.csv"]["y"], 0.1 * refine(a_norms, 0.1, "sgd"))
    np.testing.assert_allclose(traces["refined: b.csv"]["y"], 0.1 * refine(b_norms, 0.1, "sgd"))
    assert [t.label for t in at.tabs] == ["a\\.csv", "b\\.csv"]  # names escaped for markdown


def test_a_fit_that_does_not_fit_gives_no_config_and_the_diagnostic_shows():
    rng = np.random.default_rng(0)
    norms = np.r_[np.full(850, 8.0), np.linspace(8, 1, 50), np.full(100, 1.0)]
    norms = norms * np.exp(0.3 * rng.standard_normal(1000))
    at = upload(app(), "refine_uploads", ("collapse.csv", csv_log(range(1000), norms)))
    assert_clean(at)
    fit = fit_family(stretch(refine(norms, 0.1, "sgd"), 1000), "best")
    assert fit.r2 < 0.9
    assert {m.label: m.value for m in at.metric}["Family fit R²"] == f"{fit.r2:.3f}"
    assert not any("As a plain config" in m.value for m in at.markdown)
    (no_config,) = [m.value for m in at.markdown if "No plain config" in m.value]
    assert f"R² = {fit.r2:.3f}" in no_config
    expected = diagnose_refined(refine(norms, 0.1, "sgd"), norms, steps=np.arange(1000), tau=0.1)
    assert expected, "this log is degenerate: a warning is due"
    assert [w.value for w in at.warning] == expected
    # the numbers and the bound's sentence carry the diagnostic's caveat
    shown = {m.label: m for m in at.metric}
    assert (
        shown["Implied warm-up"].delta == shown["Halves at"].delta == "degenerate: see the warning"
    )
    (said,) = [m.value for m in at.markdown if "Refined's bound is" in m.value]
    assert said.startswith("**Caveat: the refined schedule looks degenerate (see its warning).**")


def test_steps_of_the_next_run_default_to_the_runs_length_and_say_so():
    steps = np.arange(10, 500_501, 10)  # logged every 10 steps from 10 to 500,500
    at = upload(app(), "refine_uploads", ("imagenet.csv", csv_log(steps, np.ones(len(steps)))))
    assert_clean(at)
    (n,) = [n for n in at.number_input if n.label == "Steps of the next run"]
    assert n.value == 500_500
    assert any(
        "the last logged step is 500,500; steps start at 10, so the run had 500,500 steps"
        in c.value
        for c in at.caption
    )
    n.set_value(1000).run()
    np.testing.assert_allclose(charts(at)["refined"]["x"][-1], 999.0)


def test_none_clears_the_page_and_a_sent_log_agrees_with_the_picker():
    at = app()
    at.selectbox(key="refine_sample").set_value("(none)").run()
    assert_clean(at)
    assert not at.get("plotly_chart") and "refine_results" not in at.session_state
    assert any("pick a sample run to start" in i.value for i in at.info)

    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
    import state  # the app's own module, the one AppTest runs

    norms = np.array([3.0, 2, 1, 1, 2])
    at.session_state["sent_logs"] = [state.LogSource("run.csv", data=csv_log(range(5), norms))]
    at.run()
    assert_clean(at)
    assert at.selectbox(key="refine_sample").value == SENT
    assert [i.value for i in at.info] == [
        f"Showing the gradient norms sent from 'Train and check': {md('run.csv')}"
    ]
    np.testing.assert_allclose(charts(at)["refined"]["y"], 0.1 * refine(norms))

    at.selectbox(key="refine_sample").set_value("logreg_digits_sgd.csv").run()
    assert not any("sent from" in i.value for i in at.info)  # banner follows the picker
    at.selectbox(key="refine_sample").set_value(SENT).run()
    at.button(key="clear_sent").click().run()
    assert_clean(at)
    assert at.selectbox(key="refine_sample").value == "(none)"
    assert SENT not in at.selectbox(key="refine_sample").options
    assert not at.get("plotly_chart")


def test_grad_norm_recipes_are_on_the_page_when_opened():
    at = app()
    (exp,) = [e for e in at.expander if e.label == "How do I get gradient norms?"]
    assert len(exp.markdown) == 0  # closed: nothing sent (its code blocks load a highlighter)
    at.session_state[exp.key] = True  # what clicking it does
    at.run()
    assert_clean(at)
    (exp,) = [e for e in at.expander if e.label == "How do I get gradient norms?"]
    text = " ".join(m.value for m in exp.markdown)
    for needle in (
        "lrcore.train import GradNormRecorder",
        "lrcore.integrations.hf import GradNormCallback",
        "lrcore.integrations.lightning import GradNormCallback",
        "grad_norm(self, norm_type=1)",
        "trainer_state.json",
    ):
        assert needle in text
    at.switch_page("app_pages/learn.py").run()  # another page, and back: still open
    at.switch_page("app_pages/refine.py").run()
    assert_clean(at)
    (exp,) = [e for e in at.expander if e.label == "How do I get gradient norms?"]
    assert "trainer_state.json" in " ".join(m.value for m in exp.markdown)


MALFORMED = {
    "bad number": ("bad.csv", b"step,grad_norm\n0,1\n1,abc\n"),
    "norms 1e308": ("big.csv", b"step,grad_norm\n0,1e308\n1,1e308\n2,5e307\n3,1e308\n"),
    "norms 1e-320": ("tiny.csv", b"step,grad_norm\n0,1e-320\n1,2e-320\n2,1e-320\n3,1e-320\n"),
    "steps beyond int64": ("int64.csv", b"step,grad_norm\n0,1\n1,2\n99999999999999999999,1\n"),
    "deep JSON": ("deep.json", b"[" * 100_000),
    "int too large for a float": (
        "huge.jsonl",
        b'{"step": 0, "grad_norm": 1}\n{"step": 1, "grad_norm": 1' + b"0" * 400 + b"}\n",
    ),
    "empty": ("empty.csv", b""),
    "binary": ("noise.bin", bytes(range(256)) * 8),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_upload_shows_an_error_and_keeps_the_last_chart(case):
    name, data = MALFORMED[case]
    at = app()
    shown = charts(at)["refined"]["y"]
    at = upload(at, "refine_uploads", (name, data))
    assert not at.exception, [e.value for e in at.exception]
    if at.error:
        assert any(md(name) in e.value for e in at.error), [e.value for e in at.error]
        assert any("Still showing the last log that loaded" in w.value for w in at.warning)
        assert charts(at)["refined"]["y"] == shown
    else:  # the library handled the extreme values: then every number shown is finite
        assert case.startswith("norms")
        assert np.all(np.isfinite(charts(at)["refined"]["y"]))


def test_sessions_do_not_share_uploads():
    first = upload(app(), "refine_uploads", ("mine.csv", b"step,grad_norm\n0,3\n1,2\n2,1\n"))
    assert first.session_state["refine_logs"][0].source == "mine.csv"
    second = app()  # a new browser tab is a new session
    assert second.session_state["refine_logs"][0].source == "logreg_digits_sgd.csv"


def test_wandb_with_two_runs_offers_a_select_box():
    text = (
        b'"Step","r1 - grad_norm","r1 - grad_norm__MIN","r2 - grad_norm","r2 - grad_norm__MIN"\n'
        b'"0","4","4","1","1"\n"1","2","2","1","1"\n"2","1","1","2","2"\n'
    )
    at = upload(app(), "refine_uploads", ("w.csv", text))
    assert_clean(at)
    box = [s for s in at.selectbox if "Series in" in s.label][0]
    assert box.options == ["r1 - grad_norm", "r2 - grad_norm"]
    box.set_value("r2 - grad_norm").run()
    assert_clean(at)
    np.testing.assert_allclose(charts(at)["refined"]["y"], 0.1 * refine([1, 1, 2.0]))


def test_a_long_log_is_shown_from_evenly_spaced_points_and_downloads_use_every_point(
    media,  # noqa: F811
    monkeypatch,
):
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
    import lrcore.analysis

    monkeypatch.setattr(lrcore.analysis, "SAMPLE_POINTS", 100)
    norms = np.r_[np.linspace(5, 1, 100), np.ones(200), np.linspace(1, 3, 100)] * (
        1 + 0.3 * np.sin(np.arange(400))
    )
    at = upload(app(), "refine_uploads", ("long.csv", csv_log(range(400), norms)))
    assert_clean(at)
    assert any(
        f"computes on 100 evenly spaced points of the 400 in **{md('long.csv')}**" in c.value
        for c in at.caption
    )
    idx = np.unique(np.linspace(0, 399, 100).round().astype(int))
    refined = charts(at)["refined"]
    np.testing.assert_allclose(refined["x"], idx)  # steps 0..399: a 400-step next run
    np.testing.assert_allclose(refined["y"], 0.1 * refine(norms[idx], 0.1, "sgd"), rtol=1e-6)
    assert len(charts(at)["grad_norm (raw)"]["y"]) == 400  # the raw norms: every point
    full = refine(norms, 0.1, "sgd")
    lr = np.loadtxt(download(at, media, "Schedule as CSV").splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(lr[:, 1], 0.1 * full, rtol=1e-8, atol=1e-15)
    ns: dict = {}  # the snippet too is refined from every point (400 steps: all embedded)
    exec(download(at, media, "torch LambdaLR snippet"), ns)
    np.testing.assert_allclose([ns["lr_factor"](t) for t in range(400)], full, atol=1e-15)


def test_the_snippet_preview_is_built_only_when_opened():
    at = upload(app(), "refine_uploads", ("a.csv", csv_log(range(50), np.linspace(2, 1, 50))))
    assert_clean(at)
    (box,) = [e for e in at.expander if e.label == "Show the torch snippet"]
    assert len(box.code) == 0  # closed: no code built or sent
    at.session_state[box.key] = True  # what clicking it does
    at.run()
    assert_clean(at)
    (box,) = [e for e in at.expander if e.label == "Show the torch snippet"]
    code = box.code[0].value
    assert code.startswith("# Learning-rate schedule exported by lrcore (refined from a.csv")
    assert "… 50 values]" in code and "def lr_factor(step):" in code  # the table shortened


def test_the_app_helpers_doctests():
    import doctest
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
    import cached
    import charts
    import refine_charts
    import sources
    import state
    import ui

    assert cached and refine_charts  # import cleanly (no doctests of their own)
    for module in (ui, charts, sources, state):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, (module.__name__, result)


def test_long_runs_build_their_downloads_on_click_from_every_step(monkeypatch):
    from streamlit.runtime.media_file_manager import MediaFileManager

    made = {}
    original = MediaFileManager.add_deferred

    def capture(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        made[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", capture)
    norms = np.array([4.0, 3, 2, 1, 1, 1, 2, 3, 2, 1])
    at = upload(app(), "refine_uploads", ("g.csv", csv_log(range(10), norms)))
    (n,) = [n for n in at.number_input if n.label == "Steps of the next run"]
    n.set_value(200_000).run()
    assert_clean(at)
    (button,) = [b for b in at.get("download_button") if b.proto.label == "Schedule as CSV"]
    assert not button.proto.url and button.proto.deferred_file_id  # nothing built yet
    csv = made[button.proto.deferred_file_id]()
    assert isinstance(csv, bytes)  # handed to Streamlit as is (no str copy)
    lr = np.loadtxt(csv.splitlines()[1:], delimiter=",")
    assert lr.shape == (200_000, 2)
    expected = 0.1 * stretch(refine(norms, 0.1, "sgd"), 200_000)
    # lrs are written rounded to 1e-12 of the peak lr (0.1): 1e-13 at most
    np.testing.assert_allclose(lr[:, 1], expected, rtol=0, atol=1e-13)


def test_an_upload_and_the_settings_survive_a_visit_to_another_page():
    at = upload(app(), "refine_uploads", ("mine.csv", csv_log(STEPS, NORMS)))
    at.number_input(key="peak_lr").set_value(0.5).run()
    at.slider(key="tau").set_value(0.2).run()
    (steps_key,) = [n.key for n in at.number_input if n.label == "Steps of the next run"]
    at.number_input(key=steps_key).set_value(400).run()
    before = charts(at)["refined"]
    at.switch_page("app_pages/learn.py").run()
    at.switch_page("app_pages/refine.py").run()
    assert_clean(at)
    assert any(f"Showing your upload **{md('mine.csv')}**" in i.value for i in at.info)
    assert at.number_input(key="peak_lr").value == 0.5
    assert at.slider(key="tau").value == 0.2
    assert at.number_input(key=steps_key).value == 400
    after = charts(at)["refined"]
    np.testing.assert_allclose(after["y"], 0.5 * refine(NORMS, 0.2, "sgd"), rtol=1e-6)
    assert after == before
    at.button(key="clear_kept").click().run()  # 'clear' forgets the upload
    assert not any("Showing your upload" in i.value for i in at.info)
    assert at.session_state["peak_lr"] == 0.5  # the settings stay
    assert "refined" not in charts(at)  # the page is cleared: nothing is in use


def test_an_upload_removed_on_the_page_is_forgotten():
    at = upload(app(), "refine_uploads", ("mine.csv", csv_log(STEPS, NORMS)))
    at.file_uploader(key="refine_uploads").set_value([]).run()
    assert not at.get("plotly_chart") or "refined" not in charts(at)
    assert not any("Showing your upload" in i.value for i in at.info)


def test_an_l1_log_gets_the_indicative_label_and_softer_words():
    norms = 15_000 * np.r_[np.linspace(4, 1, 10), np.linspace(1, 2, 10)]
    at = upload(app(), "refine_uploads", ("vit.csv", csv_log(STEPS, norms, "grad_norm_l1")))
    assert_clean(at)
    assert any("SGD bound applied to l1 norms: indicative only" in c.value for c in at.caption)
    (said,) = [m.value for m in at.markdown if "Refined's bound is" in m.value]
    assert said.startswith("With the SGD bound on these l1 norms (indicative only), the lowest")
    assert "prefers" not in said


def test_the_numerical_optimum_is_explained_as_a_lower_limit():
    at = upload(app(), "refine_uploads", ("mine.csv", csv_log(STEPS, NORMS)))
    at.toggle(key="want_opt").set_value(True).run()
    assert_clean(at)
    t = at.dataframe[0].value.set_index("schedule")
    opt = t.loc["numerical optimum", "bound at best scale (D = 1)"]
    ref = t.loc["refined", "bound at best scale (D = 1)"]
    assert opt <= ref * (1 + 1e-9)
    (cap,) = [c.value for c in at.caption if c.value.startswith("The numerical optimum")]
    assert f"Its bound, {opt:.4g}, is a lower limit" in cap and f"{ref / opt:.2f}×" in cap
    assert "drawn smoothed (a running median), with the middle 80% of its raw values" in cap
    # and so it is drawn: a running median, the middle 80% of its raw values shaded
    assert {"numerical optimum", "numerical optimum (middle 80%)"} <= set(charts(at))
    assert "not a schedule to use" in cap
    (said,) = [m.value for m in at.markdown if "Refined's bound is" in m.value]
    assert said.startswith("Of the schedules to use, the theory prefers")
    vs = t.loc["numerical optimum", "vs Linear decay"]
    assert f"numerical optimum's is {1 - vs:.0%} below Linear decay's (a lower limit" in said


def test_a_next_run_much_shorter_than_the_log_warns_and_draws_its_own_steps():
    at = upload(app(), "refine_uploads", ("mine.csv", csv_log(STEPS, NORMS)))
    (steps_key,) = [n.key for n in at.number_input if n.label == "Steps of the next run"]
    at.number_input(key=steps_key).set_value(2).run()
    assert not at.exception and not at.error
    warned = " ".join(w.value for w in at.warning)
    assert "2 steps is very short" in warned and "far fewer than the 20 logged points" in warned
    refined = charts(at)["refined"]
    assert refined["x"] == [0.0, 1.0]
    np.testing.assert_allclose(
        refined["y"], 0.1 * stretch(refine(NORMS, 0.1, "sgd"), 2, steps=STEPS), rtol=1e-9
    )
    assert layouts(at)[1]["xaxis"]["dtick"] == 1


def test_norms_spanning_more_than_50x_are_drawn_on_a_log_axis():
    norms = np.r_[np.full(10, 1.0), np.full(9, 2.0), 500.0]  # a spike 500x the rest
    at = upload(app(), "refine_uploads", ("spiky.csv", csv_log(STEPS, norms)))
    assert_clean(at)
    assert at.toggle(key="log_y:True").value
    assert layouts(at)[0]["yaxis"]["type"] == "log"
    assert layouts(at)[1]["yaxis"].get("type") != "log"  # the schedules keep a linear axis
    at = upload(app(), "refine_uploads", ("flat.csv", csv_log(STEPS, NORMS)))
    assert not at.toggle(key="log_y:False").value


def test_a_bad_file_is_named_once_in_its_error():
    at = upload(app(), "refine_uploads", ("junk.csv", bytes(range(256)) * 4))
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert err.startswith(f"Could not read {md('junk.csv')}"), err
    assert err.count(md("junk.csv")) == 1, err  # named once (escaped for markdown)


def test_a_removed_upload_is_freed_at_once():
    """Removing the file frees its parsed log in the same rerun (not when the next file
    arrives): nothing in session state, a widget or a previous run's state still holds it."""
    import gc
    import weakref

    at = upload(app(), "refine_uploads", ("a.csv", csv_log(range(5000), np.linspace(2, 1, 5000))))
    assert_clean(at)
    log = weakref.ref(at.session_state["refine_logs"][0])
    at.file_uploader(key="refine_uploads").set_value(None).run()
    assert_clean(at)
    assert any("Upload a gradient-norm log" in i.value for i in at.info)
    gc.collect()
    assert log() is None


def test_a_long_log_shows_the_numbers_lrcore_inspect_prints(tmp_path, capsys):
    """Page and CLI summarise a long log from the same evenly spaced points and grid."""
    import re

    from lrcore.cli import main
    from lrcore.refine import SAMPLE_POINTS

    n = SAMPLE_POINTS + 50_000
    rng = np.random.default_rng(3)
    norms = np.exp(0.3 * rng.normal(size=n)) * np.r_[np.linspace(4, 1, n // 3), np.ones(n - n // 3)]
    data = csv_log(range(n), norms)
    path = tmp_path / "long.csv"
    path.write_bytes(data)
    assert main(["inspect", str(path)]) == 0
    said = re.search(r"peak at ([\d.]+%) of the run, halves at ([\d.]+%)", capsys.readouterr().out)
    at = upload(app(), "refine_uploads", ("long.csv", data))
    assert_clean(at)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Implied warm-up"], shown["Halves at"]) == said.groups()
    assert any(
        f"computes on {SAMPLE_POINTS:,} evenly spaced points of the {n:,} in **{md('long.csv')}**"
        in c.value
        and "numbers below come from them" in c.value
        and "`lrcore refine` use every point" in c.value
        for c in at.caption
    )


def test_the_same_file_uploaded_again_keeps_its_settings():
    data = csv_log(range(50), np.linspace(2, 1, 50))
    at = upload(app(), "refine_uploads", ("a.csv", data))
    (n,) = [n for n in at.number_input if n.label == "Steps of the next run"]
    n.set_value(777).run()
    at.file_uploader(key="refine_uploads").set_value(None).run()
    at = upload(at, "refine_uploads", ("a.csv", data))  # a new upload of the same file
    assert_clean(at)
    (n,) = [n for n in at.number_input if n.label == "Steps of the next run"]
    assert n.value == 777
    other = csv_log(range(50), np.linspace(3, 1, 50))  # same name, other content: defaults
    at.file_uploader(key="refine_uploads").set_value(None).run()
    at = upload(at, "refine_uploads", ("a.csv", other))
    (n,) = [n for n in at.number_input if n.label == "Steps of the next run"]
    assert n.value == 50


def test_a_held_out_hf_log_shows_the_same_peak_halving_and_length_as_lrcore_inspect(
    tmp_path, capsys
):
    """One analysis (lrcore.analyse) behind the page and the CLI: a trainer_state.json logged
    every 5 steps from step 5 (where the CLI once said 1,196 steps and the page 1,200)."""
    import json
    import re

    from lrcore.cli import main

    steps = np.arange(5, 1201, 5)
    rng = np.random.default_rng(7)
    norms = np.exp(0.2 * rng.normal(size=len(steps))) * np.linspace(3, 1, len(steps)) ** 0.5
    history = [
        {"step": int(s), "grad_norm": float(g), "loss": 1.0}
        for s, g in zip(steps, norms, strict=True)
    ]
    data = json.dumps({"log_history": history}).encode()
    path = tmp_path / "trainer_state.json"
    path.write_bytes(data)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    peak, half = re.search(r"peak at ([\d.]+%) of the run, halves at ([\d.]+%)", out).groups()
    (length,) = re.findall(r"^next run: ([\d,]+) steps", out, re.M)
    at = upload(app(), "refine_uploads", ("trainer_state.json", data))
    assert_clean(at)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Implied warm-up"], shown["Halves at"]) == (peak, half)
    (box,) = [n for n in at.number_input if n.label == "Steps of the next run"]
    assert f"{box.value:,}" == length == "1,200"
    # the Schedules page refines the same log from the same analysis
    at.switch_page("app_pages/schedules.py").run()
    assert_clean(at)
    assert any("the log on 'Refine a log' (trainer\\_state\\.json" in c.value for c in at.caption)


def test_rule_notes_on_the_page_name_the_app_s_switch_and_the_rule_preselected():
    """The page pre-selects the rule the log's optimizer calls for and its st.info says how to
    switch in the app (the trainer_state note named only the CLI's --optimizer)."""
    samples = SAMPLE.parent
    state = (samples / "cnn_digits_adam_trainer_state.json").read_bytes()
    at = upload(app(), "refine_uploads", ("trainer_state.json", state))
    assert_clean(at)
    (note,) = [i.value for i in at.info if "Hugging Face does not log" in i.value]
    assert md("app: 'Refinement rule'") in note
    assert [r.value for r in at.sidebar.radio if r.label == "Refinement rule"] == ["sgd"]
    body = "step,grad_norm_l2,grad_norm_l1\n" + "".join(
        f"{s},{g},{40 * g}\n" for s, g in zip(range(300), np.linspace(3, 1, 300), strict=True)
    )
    for first, rule in (("# lrcore: optimizer=adam (AdamW)\n", "adam"), ("", "sgd")):
        at = upload(app(), "refine_uploads", ("grad_norms.csv", (first + body).encode()))
        assert_clean(at)
        assert [r.value for r in at.sidebar.radio if r.label == "Refinement rule"] == [rule]
        notes = [i.value for i in at.info if "does not say which optimizer" in i.value]
        assert len(notes) == (rule == "sgd")  # a note only where the log does not say
        assert all(md("app: 'Refinement rule'") in n for n in notes)


def test_the_series_box_is_on_auto_until_a_series_is_named():
    """A file with l1 and l2 norms: on auto the rule picks the series (Adam l1, SGD l2), as
    `lrcore refine --optimizer` does; a series named in the box is kept whatever the rule, as
    with --metric (fresh-eyes review: the box said l1 while the page refined l2, and naming a
    series there was ignored)."""
    l1, l2 = [8.0, 6.0, 5.0, 9.0], [1.0, 2.0, 2.0, 1.0]
    text = "step,grad_norm_l1,grad_norm_l2\n" + "".join(
        f"{i},{a},{b}\n" for i, (a, b) in enumerate(zip(l1, l2, strict=True))
    )
    at = upload(app(), "refine_uploads", ("both.csv", text.encode()))
    assert_clean(at)

    def box():
        return [s for s in at.selectbox if "Series in" in s.label][0]

    def rule():
        return [r for r in at.sidebar.radio if r.label == "Refinement rule"][0]

    assert box().options[0].startswith("auto: the rule's norm") and len(box().options) == 3
    assert rule().value == "sgd"  # nothing recorded: l2 and the SGD rule
    np.testing.assert_allclose(charts(at)["refined"]["y"], 0.1 * refine(l2, 0.1, "sgd"))
    rule().set_value("adam").run()  # on auto, Adam's rule reads the l1 series
    assert_clean(at)
    np.testing.assert_allclose(charts(at)["refined"]["y"], 0.1 * refine(l1, 0.1, "adam"))
    box().set_value("grad_norm_l2").run()  # named: kept under Adam's rule too
    rule().set_value("adam").run()
    assert_clean(at)
    assert box().value == "grad_norm_l2" and rule().value == "adam"
    np.testing.assert_allclose(charts(at)["refined"]["y"], 0.1 * refine(l2, 0.1, "adam"))
