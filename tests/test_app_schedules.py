"""AppTest checks of the 'Schedules' page: the values it shows."""

import numpy as np
from _apptest import app, assert_clean, charts, csv_log, layouts, upload

from lrcore import best_scale, build_schedule, evaluate, refine, stretch
from lrcore._text import for_markdown as md

PAGE = "app_pages/schedules.py"


def test_schedules_are_drawn_and_scored_with_readable_names():
    at = app(PAGE)
    at.multiselect(key="sch_chosen").set_value(["linear", "constant", "polynomial"]).run()
    assert_clean(at)
    traces = charts(at)
    assert {"Linear decay", "Constant", "Polynomial decay"} == set(traces)
    np.testing.assert_allclose(
        traces["Polynomial decay"]["y"],
        0.1 * evaluate(build_schedule("polynomial", 1000, power=2.0), 1000),
        rtol=1e-9,
    )
    labels = {n.label for n in at.number_input}
    assert "Exponent of (1 - t/T)" in labels and "Final lr as a fraction of the peak lr" in labels
    assert not any("final_fraction" in label for label in labels)
    at.radio(key="sch_norms").set_value("constant").run()
    table = at.dataframe[0].value
    assert table.schedule.tolist()[0] == "Linear decay"  # sorted by bound
    lin, _ = best_scale(1 - np.arange(1000) / 1000, np.ones(1000))
    const, _ = best_scale(np.ones(1000), np.ones(1000))
    row = table.set_index("schedule")
    np.testing.assert_allclose(row.loc["Linear decay", "bound at best scale (D = 1)"], lin, 1e-9)
    np.testing.assert_allclose(row.loc["Constant", "bound at best scale (D = 1)"], const, 1e-9)
    assert "best peak lr (D = 1)" in table.columns
    # the ratio column is named after the label the sentence uses ("vs linear" before)
    assert list(table.columns[:2]) == ["schedule", "vs Linear decay"]
    np.testing.assert_allclose(
        row.loc[["Linear decay", "Constant"], "vs Linear decay"], [1.0, const / lin], 1e-9
    )
    words = [m.value for m in at.markdown if m.value.startswith("Lowest bound")]
    assert words == [
        f"Lowest bound: **Linear decay**, {1 - lin / const:.0%} below Constant (the highest)."
    ]


def test_refined_is_among_the_schedules_from_the_refine_page_log():
    norms = np.array([4.0, 3, 2, 1, 1, 1, 2, 3])
    at = upload(app(), "refine_uploads", ("mine.csv", csv_log(range(8), norms)))
    at.switch_page(PAGE).run()
    assert_clean(at)
    expected = 0.1 * stretch(refine(norms, 0.1, "sgd"), 1000)
    np.testing.assert_allclose(charts(at)["refined"]["y"], expected, rtol=1e-9, atol=1e-15)
    assert any(f"the log on 'Refine a log' ({md('mine.csv')}" in c.value for c in at.caption)
    # by default the bound uses the norms the refined schedule came from, stretched
    table = at.dataframe[0].value.set_index("schedule")
    bound, _ = best_scale(expected, stretch(norms, 1000))
    np.testing.assert_allclose(table.loc["refined", "bound at best scale (D = 1)"], bound, 1e-9)


def test_large_runs_build_the_csv_on_click():
    at = app(PAGE)
    at.number_input(key="sch_total").set_value(2_000_000).run()
    assert_clean(at)
    (button,) = at.get("download_button")
    assert not button.proto.url  # nothing was formatted on this rerun
    assert all(len(t["y"]) <= 4000 for t in charts(at).values())


GOOD = csv_log(range(100), np.linspace(3.0, 1.0, 100))


def test_a_bad_upload_shows_an_error_and_keeps_the_last_good_result():
    at = app(PAGE)
    at.radio(key="sch_norms").set_value("upload a log").run()
    assert any("constant norms until a log is uploaded" in c.value for c in at.caption)
    at.file_uploader(key="sch_upload").set_value(("good.csv", GOOD, "text/csv")).run()
    assert_clean(at)
    shown, table = charts(at), at.dataframe[0].value
    assert any(f"Norms of **{md('good.csv')}**" in c.value for c in at.caption)
    # the file replaced by a bad one: the good result stays
    at.file_uploader(key="sch_upload").set_value(
        ("bad.csv", b"step,grad_norm\n0,1\n1,abc\n", "text/csv")
    )
    at.run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert md("bad.csv, line 3") in err and err.count(md("bad.csv")) == 1, err
    assert err.startswith(f"Could not read {md('bad.csv')}") and "build the schedules" not in err, (
        err
    )
    assert any("Still showing the last schedules" in w.value for w in at.warning)
    assert charts(at) == shown
    assert at.dataframe[0].value.equals(table)
    assert any(f"Norms of **{md('good.csv')}**" in c.value for c in at.caption)
    assert not any("constant norms until" in c.value for c in at.caption)


def test_norms_that_overflow_the_bound_show_an_error_and_keep_the_last_chart():
    at = app(PAGE)
    at.radio(key="sch_norms").set_value("upload a log").run()
    shown, table = charts(at), at.dataframe[0].value  # on screen before the upload
    big = b"step,grad_norm\n0,1e308\n1,1e308\n2,5e307\n"
    at.file_uploader(key="sch_upload").set_value(("big.csv", big, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    if at.error:
        assert any(
            "overflows" in e.value or "outside the normal float64 range" in e.value
            for e in at.error
        ), [e.value for e in at.error]
        assert charts(at) == shown and at.dataframe[0].value.equals(table)
    else:  # the library scaled the norms: then every bound shown is finite
        assert np.all(np.isfinite(at.dataframe[0].value.iloc[:, 2:].to_numpy(dtype=float)))


def _refined_table_after(norms):
    at = upload(app(), "refine_uploads", ("grad_norms.csv", csv_log(range(8), norms)))
    at.switch_page(PAGE).run()
    at.radio(key="sch_norms").set_value("constant").run()
    assert_clean(at)
    return at.dataframe[0].value.set_index("schedule"), [m.value for m in at.markdown]


def test_two_uploads_with_the_same_name_give_their_own_bound_tables():
    falling, rising = np.array([4.0, 3, 2, 2, 1, 1, 1, 1]), np.array([1.0, 1, 1, 1, 2, 2, 3, 4])
    a, said_a = _refined_table_after(falling)
    b, said_b = _refined_table_after(rising)  # same file name, other norms: no stale cache
    for norms, table in ((falling, a), (rising, b)):
        shape = stretch(refine(norms, 0.1, "sgd"), 1000)
        bound, _ = best_scale(shape, np.ones(1000))
        np.testing.assert_allclose(table.loc["refined", "bound at best scale (D = 1)"], bound, 1e-9)
    assert a.loc["refined"].iloc[1] != b.loc["refined"].iloc[1]


def test_settings_survive_a_visit_to_another_page():
    at = app(PAGE)
    at.number_input(key="sch_total").set_value(500).run()
    at.radio(key="sch_norms").set_value("constant").run()
    at.switch_page("app_pages/learn.py").run()
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert at.number_input(key="sch_total").value == 500
    assert at.radio(key="sch_norms").value == "constant"
    assert len(charts(at)["Linear decay"]["y"]) == 500


def test_odd_parameters_warn_and_ties_are_named():
    at = app(PAGE)
    at.radio(key="sch_norms").set_value("constant").run()
    at.number_input(key="sch_w_wsd").set_value(999).run()
    assert_clean(at)
    (w,) = [w.value for w in at.warning if "Warmup-stable-decay" in w.value]
    assert "999 steps" in w and "200 steps" in w and "1,000 steps" in w
    at.number_input(key="sch_w_wsd").set_value(0).run()
    at.number_input(key="sch_total").set_value(2).run()
    assert_clean(at)
    assert any("2 steps is very short" in w.value for w in at.warning)
    table = at.dataframe[0].value
    b = table["bound at best scale (D = 1)"].to_numpy()
    (said,) = [m.value for m in at.markdown if m.value.startswith("Lowest bound")]
    tied = table.schedule[np.isclose(b, b[-1], rtol=1e-6, atol=0)].tolist()
    if len(tied) > 1:  # linear and cosine give the same 2-step bound: named as a tie
        assert " and ".join(tied) + " (the highest)" in said or "ties with" in said
    assert layouts(at)[0]["xaxis"]["dtick"] == 1  # whole-number ticks for 2 steps
    assert list(table.columns[:2]) == ["schedule", "vs Linear decay"]


def test_an_l1_log_is_labelled_indicative():
    norms = 1000 * np.array([4.0, 3, 2, 1, 1, 1, 2, 3])
    at = upload(app(), "refine_uploads", ("adam.csv", csv_log(range(8), norms, "grad_norm_l1")))
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert any("SGD bound applied to l1 norms: indicative only" in c.value for c in at.caption)


def test_the_toolbar_does_not_cover_the_title():
    at = app(PAGE)
    (lay,) = layouts(at)
    assert lay["margin"]["t"] >= 60 and lay["title"]["yref"] == "paper"
    assert lay["title"]["yanchor"] == "bottom"


def test_the_square_root_cool_down_is_named_in_words():
    at = app(PAGE)
    (box,) = [s for s in at.selectbox if s.key == "sch_wsd_cooldown"]
    box.set_value("1-sqrt").run()
    assert_clean(at)
    assert (
        at.selectbox(key="sch_wsd_cooldown").format_func("1-sqrt").startswith("square root: 1 - √q")
    )


def test_every_registry_schedule_builds_with_its_default_settings_and_list_parameters():
    from lrcore import REGISTRY

    at = app(PAGE)
    at.multiselect(key="sch_chosen").set_value(list(REGISTRY)).run()
    assert_clean(at)
    traces = charts(at)
    assert {spec.label for spec in REGISTRY.values()} <= set(traces)
    np.testing.assert_allclose(  # a list parameter, from its text field, reaches the schedule
        traces["Multi-step decay"]["y"],
        0.1 * evaluate(build_schedule("multistep", 1000, milestones="0.5,0.75"), 1000),
        rtol=1e-9,
    )
    at.text_input(key="sch_piecewise_values").set_value("1,0.5,0.25").run()
    assert_clean(at)
    np.testing.assert_allclose(
        charts(at)["Piecewise constant"]["y"],
        0.1 * evaluate(build_schedule("piecewise", 1000, values="1,0.5,0.25"), 1000),
        rtol=1e-9,
    )
    shown = charts(at)
    at.text_input(key="sch_piecewise_values").set_value("1,abc").run()  # nonsense: a message
    assert not at.exception and at.error and charts(at) == shown
    assert any("values" in e.value for e in at.error), [e.value for e in at.error]


def test_an_upload_survives_switching_the_norms_choice_away_and_back():
    at = app(PAGE)
    at.radio(key="sch_norms").set_value("upload a log").run()
    at.file_uploader(key="sch_upload").set_value(("good.csv", GOOD, "text/csv")).run()
    assert_clean(at)
    with_log = at.dataframe[0].value
    at.radio(key="sch_norms").set_value("constant").run()
    at.radio(key="sch_norms").set_value("upload a log").run()  # the uploader comes back empty
    assert_clean(at)
    assert any(f"Showing your upload **{md('good.csv')}**" in i.value for i in at.info)
    assert at.dataframe[0].value.equals(with_log)  # scored with the log's norms again
    at.button(key="sch_clear").click().run()  # 'clear' forgets it
    assert_clean(at)
    assert any("constant norms until a log is uploaded" in c.value for c in at.caption)
    assert not any("Showing your upload" in i.value for i in at.info)


def test_a_bad_upload_after_removing_the_good_one_keeps_what_was_shown():
    """Removing the file shows constant norms; a bad file then keeps that, not the removed
    file's result."""
    at = app(PAGE)
    at.radio(key="sch_norms").set_value("upload a log").run()
    at.file_uploader(key="sch_upload").set_value(("good.csv", GOOD, "text/csv")).run()
    at.file_uploader(key="sch_upload").set_value(None).run()
    assert_clean(at)
    assert any("constant norms until a log is uploaded" in c.value for c in at.caption)
    shown, table = charts(at), at.dataframe[0].value
    at.file_uploader(key="sch_upload").set_value(("bad.bin", b"\x00\x01" * 100, "text/csv")).run()
    assert not at.exception
    assert [e.value for e in at.error][0].startswith(f"Could not read {md('bad.bin')}")
    assert charts(at) == shown and at.dataframe[0].value.equals(table)
    assert not any("good.csv" in c.value for c in at.caption)
