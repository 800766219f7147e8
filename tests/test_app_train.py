"""AppTest checks of 'Train and check': defaults that follow the task and optimizer, the
values in the results table, the flags, and the setups other pages open here."""

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _apptest import app, assert_clean, charts, layouts

from lrcore import REGISTRY
from lrcore.diagnose import diagnose_refined

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
import words  # noqa: E402

PAGE = "app_pages/train.py"


def label(name: str) -> str:
    """How the page names a schedule: its registry label (others as given)."""
    return REGISTRY[name].label if name in REGISTRY else name


def start(at, **values):
    """Set widgets by key (task and optimizer first: they choose the other widgets), press
    Start, return the page."""
    for key in ("tr_task", "tr_opt"):
        if key in values:
            next(w for w in at.main if getattr(w, "key", None) == key).set_value(values.pop(key))
            at.run()
    for key, value in values.items():
        next(w for w in at.main if getattr(w, "key", None) == key).set_value(value)
    at.button(key="tr_start").click().run()
    return at


def shown_table(at):
    return at.dataframe[0].value


def every_peak_shown(at):
    (table,) = [d.value for d in at.dataframe if "seeds" in d.value.columns]
    return table


def every_peak(at):
    """The library's full table (every peak lr): the numbers the results come from."""
    return at.session_state["train_result"]["table"]


def test_peak_lr_defaults_follow_the_optimizer_and_the_task():
    at = app(PAGE)
    assert at.text_input(key="tr_peaks_logreg_sgd").value == "0.5, 1, 2"
    # a little L2 for logistic regression (digits are separable: no finite optimum without it)
    assert at.number_input(key="tr_wd_logreg").value == 0.001
    at.selectbox(key="tr_opt").set_value("adam").run()
    assert_clean(at)
    # an Adam run never starts from SGD's lr (0.5 left every Adam run at chance)
    assert at.text_input(key="tr_peaks_logreg_adam").value == "0.01, 0.02, 0.04"
    at.text_input(key="tr_peaks_logreg_adam").set_value("0.03").run()
    at.segmented_control(key="tr_task").set_value("svm").run()
    assert at.text_input(key="tr_peaks_svm_adam").value == "0.005, 0.01, 0.02"
    assert at.number_input(key="tr_wd_svm").value == 0.0
    at.segmented_control(key="tr_task").set_value("cnn").run()
    assert at.number_input(key="tr_steps_cnn").value == 300  # a CNN step costs more
    assert at.text_input(key="tr_peaks_cnn_adam").value == "0.003, 0.006"
    at.segmented_control(key="tr_task").set_value("logreg").run()
    assert at.text_input(key="tr_peaks_logreg_adam").value == "0.03"  # the user's edit stays


def test_adam_with_its_defaults_learns_and_the_table_shows_the_library_values():
    at = start(
        app(PAGE), tr_opt="adam", tr_steps_logreg=100, tr_seeds=2, tr_sched=["linear", "cosine"]
    )
    assert_clean(at)
    table, full = shown_table(at), every_peak(at)
    assert table["schedule"].tolist() == ["Linear decay", "Cosine decay"]  # registry labels
    assert (table["learned"] == "yes").all()
    # flags read yes/no, never a blank cell; nothing diverged
    assert table["grid edge"].tolist() == ["no", "no"] and table["diverged"].tolist() == [0, 0]
    assert set(every_peak_shown(at)["best"]) == {"yes", "no"}
    for _, row in table.iterrows():
        best = full[(full.schedule.map(label) == row.schedule) & full.best].iloc[0]
        assert " ± " in row["test accuracy"], row["test accuracy"]  # every row, cosine too
        acc = float(re.match(r"([\d.]+)%", row["test accuracy"]).group(1)) / 100
        assert acc == pytest.approx(best.test_accuracy_mean, abs=0.0006)
        assert acc > 0.5  # digits has 10 classes: chance is 10%
        mean = float(row["suboptimality"].split(" ± ")[0].strip("()").split(")")[0])
        exp = re.search(r"\)e([+-]\d+)$", row["suboptimality"])
        mean *= 10.0 ** int(exp.group(1)) if exp else 1.0
        assert mean == pytest.approx(best.suboptimality_mean, rel=0.01)
        assert best.suboptimality_mean >= -1e-6  # never below the optimum beyond tolerance
        assert float(row["peak lr"]) == pytest.approx(best.peak_lr, rel=5e-3)
    assert not any("± 0.0000" in v for v in table["suboptimality"])
    # suboptimality over training, on a log axis
    (curves,) = [lay for lay in layouts(at) if "Suboptimality" in str(lay.get("title"))]
    assert curves["yaxis"]["type"] == "log"
    assert {"Linear decay", "Cosine decay"} <= set(charts(at))


def test_runs_that_do_not_learn_are_flagged_and_the_header_says_so():
    # Adam at an SGD-sized lr (the issue: every Adam run sat at loss 2.30 with lr 0.5)
    at = start(
        app(PAGE),
        tr_opt="adam",
        tr_peaks_logreg_adam="50",
        tr_steps_logreg=40,
        tr_seeds=1,
        tr_sched=["linear"],
    )
    assert not at.exception
    table, full = shown_table(at), every_peak(at)
    assert table["learned"].tolist() == ["no"] and not full.learned.any()
    acc = full[full.best].test_accuracy_mean.iloc[0]
    (warning,) = [w.value for w in at.warning if "Did not learn" in w.value]
    assert f"**Linear decay** (peak lr {table['peak lr'][0]}, test accuracy {acc:.1%})" in warning
    assert any("no schedule learned" in h.value for h in at.subheader)
    # the grid was extended down from 50 and the best is still at its lowest edge
    assert table["grid edge"].tolist() == ["yes"]
    assert float(table["peak lr"][0]) == pytest.approx(full.peak_lr.min(), rel=5e-3)


def test_a_best_peak_lr_at_the_grid_edge_is_flagged_from_the_table():
    at = start(
        app(PAGE),
        tr_peaks_logreg_sgd="0.001, 0.002",
        tr_steps_logreg=40,
        tr_seeds=1,
        tr_sched=["linear"],
    )
    assert not at.exception
    full = every_peak(at)
    best = full[full.best].iloc[0]
    # far too small: the grid was extended upwards (x2 each time, at most 4 times) and the
    # best is still its largest peak lr
    assert full.peak_lr.tolist() == pytest.approx([0.001, 0.002, 0.004, 0.008, 0.016, 0.032])
    assert best.peak_lr == pytest.approx(0.032) and best.at_grid_edge
    assert shown_table(at)["grid edge"].tolist() == ["yes"]
    (warning,) = [w.value for w in at.warning if "edge of the grid" in w.value]
    assert "**Linear decay** at 0.032 (highest)" in warning


def test_refined_runs_after_linear_and_the_timer_counts_both():
    at = start(
        app(PAGE),
        tr_task="svm",
        tr_dataset_svm="synthetic",
        tr_steps_svm=60,
        tr_seeds=2,
        tr_peaks_svm_sgd="0.05, 0.1",
        tr_noise="rise",
        tr_sched=["linear", "refined (from a linear run first)"],
    )
    assert_clean(at)
    table = shown_table(at)
    assert table["schedule"].tolist() == ["Linear decay", "refined"]
    assert table["bound ÷ linear"].iloc[0] == "1.00×"
    done = at.get("progress")[0].proto.text
    assert re.match(r"Done: \d+ runs in \d+ rounds on cpu, \d+ s in all", done), done
    n_runs = int(done.split()[1])
    assert n_runs == int(every_peak(at).n_seeds.sum())  # linear's runs are counted too


def test_bad_input_is_a_message():
    at = start(app(PAGE), tr_peaks_logreg_sgd="0.1, fast")
    assert not at.exception
    assert any("'0.1, fast' is not a number" in e.value for e in at.error)


def test_a_setup_sent_from_another_page_fills_the_widgets():
    at = app()
    at.session_state["tr_task"] = "svm"
    at.session_state["tr_dataset_svm"] = "synthetic"
    at.session_state["tr_noise"] = "rise"
    at.session_state["tr_steps_svm"] = 123
    at.session_state["tr_peaks_svm_sgd"] = "0.07"
    at.session_state["tr_prefilled"] = "(a) Noise that rises late"
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert at.segmented_control(key="tr_task").value == "svm"
    assert at.selectbox(key="tr_dataset_svm").value == "synthetic"
    assert at.selectbox(key="tr_noise").value == "rise"
    assert at.number_input(key="tr_steps_svm").value == 123
    assert at.text_input(key="tr_peaks_svm_sgd").value == "0.07"
    assert any("(a) Noise that rises late" in i.value for i in at.info)
    assert not at.warning  # no "widget default and session state" warning


def test_the_linear_run_is_sent_to_refine():
    at = start(app(PAGE), tr_steps_logreg=40, tr_seeds=1, tr_sched=["linear"])
    at.button(key="send_log").click().run()
    assert_clean(at)
    assert any("sent from 'Train and check'" in i.value for i in at.info)
    assert "refined" in charts(at)
    assert np.isfinite(charts(at)["refined"]["y"]).all()


def test_refined_from_the_log_on_the_refine_page_is_trained():
    at = app()  # 'Refine a log' opens with a sample log
    (log,) = at.session_state["refine_logs"]
    at.switch_page(PAGE).run()
    at = start(
        at,
        tr_steps_logreg=40,
        tr_seeds=1,
        tr_peaks_logreg_sgd="0.5, 1",
        tr_sched=["linear", "refined (from the log on 'Refine a log')"],
    )
    assert_clean(at)
    assert shown_table(at)["schedule"].tolist() == ["Linear decay", f"refined ({log.source})"]


def test_a_degenerate_refined_schedule_is_warned_and_a_flat_start_is_not_called_learned():
    # hinge loss on digits (separable, no L2): refined from linear's collapsing norms keeps the
    # lr near 0 for most of the run (the review's case, shortened)
    at = start(
        app(PAGE),
        tr_task="svm",
        tr_dataset_svm="digits",
        tr_steps_svm=200,
        tr_seeds=1,
        tr_peaks_svm_sgd="0.1, 0.2",
        tr_sched=["linear", "refined (from a linear run first)"],
    )
    assert_clean(at)
    result = at.session_state["train_result"]
    expected = diagnose_refined(result["refined_from"]["shape"], result["refined_from"]["norms"])
    assert expected  # the library finds it degenerate ...
    shown = [w.value for w in at.warning if w.value.startswith("**refined**: ")]
    caveat = " Its bound ratio in the table scores it on the norms of its own runs"
    assert [w.split(caveat)[0] for w in shown] == ["**refined**: " + line for line in expected]
    assert all(caveat in w for w in shown)  # ... and the page says so, bound ratio included
    table = shown_table(at)
    (ratio,) = table.loc[table.schedule == "refined", "bound ÷ linear"]
    assert ratio.endswith("× (degenerate: see below)")
    # the share of the run refined sat at its starting objective, from its runs' evaluations
    table = shown_table(at)
    (peak,) = table.loc[table.schedule == "refined", "peak lr"].astype(float)
    (run,) = [r for (s, p, _), r in result["runs"].items() if s == "refined" and p == peak]
    flat = words.flat_start(run.evals.step.to_numpy(), run.evals.objective.to_numpy(), 200)
    assert flat > 0.5
    (learned,) = table.loc[table.schedule == "refined", "learned"]
    assert learned == f"late: flat for {flat:.0%}"
    (stuck,) = [w.value for w in at.warning if w.value.startswith("Stuck at the starting")]
    assert f"**refined** for {flat:.0%} of the run" in stuck


def test_reaching_the_optimum_exactly_is_said_and_the_axis_is_capped():
    # hinge loss on wine, full batch: separable, so f* = 0 and the runs reach it exactly
    at = start(
        app(PAGE),
        tr_task="svm",
        tr_dataset_svm="wine",
        tr_batch=512,
        tr_steps_svm=100,
        tr_seeds=1,
        tr_peaks_svm_sgd="1, 2",
        tr_sched=["linear", "cosine"],
    )
    assert_clean(at)
    full = every_peak(at)
    best = full[full.best]
    assert (best.suboptimality_mean == 0).all()
    table = shown_table(at)
    (info,) = [i.value for i in at.info if i.value.startswith("Reached the optimum")]
    assert "f* = 0, the data are separable" in info
    raw = {label(n): n for n in best.schedule}  # the page names schedules by their labels
    for name, text in zip(table.schedule, table.suboptimality, strict=True):
        step = int(re.search(r"optimum reached at step ([\d,]+)", text).group(1).replace(",", ""))
        (run,) = [
            r
            for (s, p, _), r in at.session_state["train_result"]["runs"].items()
            if s == raw[name] and p == float(best.peak_lr[best.schedule == raw[name]].iloc[0])
        ]
        sub = run.evals.objective.to_numpy() - run.final["f_star"]
        assert step == int(run.evals.step.to_numpy()[np.argmax(sub <= 0)])  # the first 0
        assert f"**{name}** at step {step:,}" in info
    (curves,) = [lay for lay in layouts(at) if "Suboptimality" in str(lay.get("title"))]
    low, high = curves["yaxis"]["range"]
    assert high - low <= 6.5  # about 6 decades, not 13


def test_every_linear_run_diverging_is_explained_and_other_results_are_kept():
    at = start(
        app(PAGE),
        tr_steps_logreg=60,
        tr_seeds=1,
        tr_peaks_logreg_sgd="1e9",
        tr_sched=["linear", "cosine", "refined (from a linear run first)"],
    )
    assert not at.exception
    full = every_peak(at)
    lin = full[full.schedule == "linear"]
    assert (lin.diverged == lin.n_seeds).all()  # every linear run diverged
    (error,) = [e.value for e in at.error]
    halved = len(lin) - 1
    assert error.startswith(
        f"Every linear-decay run diverged, even at peak lr {lin.peak_lr.min():.3g} "
        f"(the grid was halved {halved} times)"
    )
    assert (
        "Try smaller peak lrs; the default for logistic regression with SGD is 0.5, 1, 2" in error
    )
    assert "compare" not in error  # no library function names
    assert not [b for b in at.button if b.key == "tr_stop"]  # no leftover Stop button
    assert not at.button(key="tr_start").disabled  # Start is clickable again
    assert "refined" not in set(full.schedule)
    assert "cosine" in set(full.schedule)  # cosine's results are kept


def test_an_empty_peak_grid_asks_for_one():
    at = start(app(PAGE), tr_peaks_logreg_sgd=" ")
    assert any("enter at least one peak lr" in e.value for e in at.error)


def test_the_hinge_task_opens_on_the_synthetic_problem_and_adam_hides_the_bound():
    at = app(PAGE)
    at.segmented_control(key="tr_task").set_value("svm").run()
    assert at.selectbox(key="tr_dataset_svm").value == "synthetic"
    at = start(
        app(PAGE), tr_opt="adam", tr_steps_logreg=30, tr_seeds=1, tr_sched=["linear", "cosine"]
    )
    assert_clean(at)
    assert not any(c.startswith("bound") for c in shown_table(at).columns)
    assert any("the bound is for SGD; not shown for Adam" in c.value for c in at.caption)
    # the every-peak-lr table uses the main table's names and formats
    every = at.expander[0].dataframe[0].value
    assert "objective_mean" not in every.columns
    assert {"schedule", "peak lr", "suboptimality", "test accuracy", "learned"} <= set(every)
    assert set(every.learned) <= {"yes", "no"}
    full = every_peak(at)
    assert every.suboptimality.tolist() == [
        words.fmt_pm(m, s)
        for m, s in zip(full.suboptimality_mean, full.suboptimality_sem, strict=True)
    ]


def test_the_live_chart_draws_one_line_per_schedule(monkeypatch):
    """While runs go on, the live chart has one line per schedule (its latest round), named
    as everywhere else, not one per round of runs."""
    import charts as app_charts  # the app's own module, the one AppTest runs
    import presets

    drawn = []
    original = app_charts.line_figure

    def spy(curves, title, *args, **kwargs):
        if title.startswith("Live:"):
            drawn.append([c.name for c in curves])
        return original(curves, title, *args, **kwargs)

    monkeypatch.setattr(app_charts, "line_figure", spy)
    at = start(
        app(PAGE),
        tr_steps_logreg=60,
        tr_seeds=1,
        tr_sched=["linear", "cosine", presets.REFINED_RUN],
    )
    assert_clean(at)
    assert drawn, "no live chart was drawn"
    assert all(len(names) == len(set(names)) for names in drawn)  # one line per schedule
    assert set(drawn[-1]) == {"Linear decay", "Cosine decay", "refined"}
    assert not any(n.startswith("round") for names in drawn for n in names)


def test_the_default_setup_is_labelled_a_contrast_and_loads_the_setting_where_refinement_applies():
    at = app(PAGE)
    assert_clean(at)
    (note,) = [i.value for i in at.info if "default setup is a contrast" in i.value]
    assert "diagnosed degenerate" in note and "refined beats linear decay" in note
    at.button(key="tr_load_rise").click().run()
    assert_clean(at)
    assert at.segmented_control(key="tr_task").value == "svm"
    assert at.selectbox(key="tr_dataset_svm").value == "synthetic"
    assert at.selectbox(key="tr_noise").value == "rise"
    assert at.number_input(key="tr_noise_scale").value == 2.0
    assert at.text_input(key="tr_peaks_svm_sgd").value == "0.05, 0.1, 0.2"
    assert not any("default setup is a contrast" in i.value for i in at.info)
    assert any("Set up as in **the rising-noise setup" in i.value for i in at.info)
    # and there the method applies: refined is not degenerate and ends lowest
    at.button(key="tr_start").click().run()
    assert_clean(at)
    best = every_peak(at)[every_peak(at).best].set_index("schedule").suboptimality_mean
    assert best.idxmin() == "refined" and best["refined"] < best["linear"]
    assert not [w.value for w in at.warning if w.value.startswith("**refined**: ")]


def test_a_refined_schedule_named_after_a_hostile_file_is_shown_as_text():
    """'refined (FILE)' reached the warnings' markdown and the chart's legend unescaped."""
    from _apptest import csv_log, upload

    name = "[x](http:e.vil)<b>y.csv"
    at = upload(app(), "refine_uploads", (name, csv_log(range(200), np.linspace(3, 1, 200))))
    at.switch_page(PAGE).run()
    at = start(
        at,
        tr_steps_logreg=40,
        tr_seeds=1,
        tr_peaks_logreg_sgd="1e-6",  # too small to move: both rows 'stuck at the start'
        tr_sched=["linear", "refined (from the log on 'Refine a log')"],
    )
    assert_clean(at)
    assert shown_table(at)["schedule"].tolist() == ["Linear decay", f"refined ({name})"]
    (stuck,) = [w.value for w in at.warning if w.value.startswith("Stuck at the starting")]
    assert r"**refined \(\[x\]\(http" in stuck and "](http" not in stuck
    assert "refined (&lt;b&gt;" not in stuck  # markdown escapes, not HTML entities, here
    assert "refined ([x](http:e.vil)&lt;b&gt;y.csv)" in charts(at)


def test_a_queued_run_shows_its_place_then_its_results_and_an_identical_one_is_not_rerun(
    monkeypatch,
):
    """With worker processes (here a fake executor the test finishes by hand): the queue line,
    Stop, Start greyed out while it waits, then the results; another session's identical setup is
    answered from the pool's cache."""
    import train_run
    from _pool_fakes import FakeExecutor

    from lrcore.train.job import train_job
    from lrcore.train.pool import Pool

    ex = FakeExecutor()
    pool = Pool(1, executor_factory=lambda n: ex, reaper_every=None)
    monkeypatch.setattr(train_run, "the_pool", lambda: pool)
    try:
        pool.submit("another student", "theirs", 30.0)  # holds the only worker
        at = start(app(PAGE), tr_steps_logreg=30, tr_seeds=1, tr_sched=["linear"])
        assert_clean(at)
        (line,) = [i.value for i in at.info if "queued: position" in i.value]
        assert re.match(r"Your run is queued: position 1 of 1, estimated wait ~\d+ s", line), line
        assert "a first guess" in line  # nothing has run on this pool: said, not hidden
        assert not [i for i in at.info if "then press **Start**" in i.value]  # it is pressed
        assert any(b.key.startswith("tr_stop_") for b in at.button)
        at.number_input(key="tr_steps_logreg").set_value(31).run()
        assert at.button(key="tr_start").disabled  # greyed out while this session's run waits
        ex.finish("theirs")
        (spec,) = [s for s in ex.specs() if s != "theirs"]  # this page's job reached a worker
        assert spec.cfg.steps == 30
        ex.finish(spec, train_job(spec))
        at.run()
        assert_clean(at)
        assert shown_table(at)["schedule"].tolist() == ["Linear decay"]
        assert at.get("progress")[0].proto.text.startswith("Done: ")
        other = start(app(PAGE), tr_steps_logreg=30, tr_seeds=1, tr_sched=["linear"])
        done = other.get("progress")[0].proto.text
        assert "identical setup's result, computed earlier" in done, done
        assert len(ex.specs()) == 2  # not computed again
        # a next run queued: the results below are said to be the previous run's, and no
        # "Done" bar sits under the queue line
        pool.submit("another student", "theirs again", 30.0)
        at.number_input(key="tr_steps_logreg").set_value(32).run()
        assert not at.button(key="tr_start").disabled  # back once the run has ended
        at.button(key="tr_start").click().run()
        assert_clean(at)
        assert [i for i in at.info if "queued: position" in i.value]
        assert not [p for p in at.get("progress") if p.proto.text.startswith("Done: ")]
        (said,) = [c.value for c in at.caption if "your previous run's results" in c.value]
        assert re.search(r"Done\\?: \d+ runs", said), said  # markdown-escaped
        assert shown_table(at)["schedule"].tolist() == ["Linear decay"]
        # that run fails: said, and the results below are said to be the last finished one's
        ex.finish("theirs again")
        future, _ = next(
            j for j in ex.jobs if not isinstance(j[1][1], str) and j[1][1].cfg.steps == 32
        )
        future.set_exception(ValueError("the data were bad"))
        at.run()
        deadline = time.time() + 10
        while not at.error and time.time() < deadline:
            time.sleep(0.2)
            at.run()
        (error,) = [e.value for e in at.error]
        assert error == "the data were bad. Results of the last finished training are kept below."
        assert shown_table(at)["schedule"].tolist() == ["Linear decay"]
    finally:
        pool.close()
