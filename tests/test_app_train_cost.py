"""Train and check shows the cost model's estimate before Start, for every task's default,
and refuses a setup past the page's budget with a message (never a traceback)."""

import re

from _apptest import app

from lrcore.train import cost

PAGE = "app_pages/train.py"


def _estimate(at) -> str:
    (text,) = [c.value for c in at.caption if c.value.startswith("**Estimate**")]
    return text


def test_every_task_default_shows_an_estimate_before_start():
    at = app(PAGE)
    for task in ("logreg", "svm", "cnn", "lm"):
        at.segmented_control(key="tr_task").set_value(task).run()
        assert not at.exception
        text = _estimate(at)
        m = re.search(r"(\d+) runs, ~(\d+ (?:h|min|s))", text)
        assert m, text
        assert " MB" in text or " GB" in text
        # the runs the page will make: linear and cosine on the grid, then refined, x 3 seeds
        peaks = len(
            at.text_input(key=f"tr_peaks_{task}_{at.selectbox(key='tr_opt').value}").value.split(
                ","
            )
        )
        assert int(m.group(1)) == 3 * peaks * 3, (task, text)


def test_a_setup_past_the_budget_is_refused_with_the_estimate(monkeypatch):
    at = app(PAGE)
    at.segmented_control(key="tr_task").set_value("lm").run()
    at.number_input(key="tr_steps_lm").set_value(3000).run()
    at.number_input(key="tr_seeds").set_value(5).run()
    # the page escapes markdown: compare the text without its backslashes
    (warning,) = [w.value.replace("\\", "") for w in at.warning if "would take" in w.value]
    assert "Steps" in warning and "Estimate: ~" in warning and "lrcore compare" in warning
    at.button(key="tr_start").click().run()
    assert not at.exception
    (error,) = [e.value.replace("\\", "") for e in at.error]
    assert error.startswith("Train and check: this setup would take ~")
    assert "Steps" in error and "Estimate: ~" in error
    assert cost.APP_SECONDS == 600
