"""AppTest (server-side) checks of every dashboard page."""

import pytest
from _apptest import app, assert_clean, charts

PAGES = [
    "app_pages/refine.py",
    "app_pages/schedules.py",
    "app_pages/train.py",
    "app_pages/learn.py",
    "app_pages/demo.py",
]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_loads_without_exception(page):
    assert_clean(app(page))


def test_sessions_do_not_share_uploads_or_runs():
    first = app()
    first.file_uploader(key="refine_uploads").set_value(
        ("mine.csv", b"step,grad_norm\n0,3\n1,2\n2,1\n", "text/csv")
    ).run()
    assert "refined" in charts(first) and first.session_state["refine_logs"][0].source == "mine.csv"
    second = app()  # a new browser tab is a new session
    assert second.session_state["refine_logs"][0].source == "logreg_digits_sgd.csv"
    assert "train_result" not in second.session_state


@pytest.mark.parametrize("page", [None, "app_pages/demo.py", "app_pages/train.py"])
def test_a_bad_pool_setting_is_said_on_every_page_not_raised(page, monkeypatch):
    """`streamlit run app/main.py` with LRCORE_WORKERS=two: See it work and Train raised
    (Streamlit's error box); every page now says which setting is wrong, and nothing else."""
    monkeypatch.setenv("LRCORE_WORKERS", "two")
    at = app(page)
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    shown = error.value.replace("\\", "")  # as drawn: the markdown escapes undone
    assert "LRCORE_WORKERS must be an integer >= 0, got 'two'" in shown
    assert not at.get("plotly_chart") and not at.button
