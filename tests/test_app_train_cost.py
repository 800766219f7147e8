"""Train and check shows the cost model's estimate before Start, for every task's default,
and refuses a setup past the page's budget with a message (never a traceback)."""

import re
import sys
from pathlib import Path

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
    # ~74 min by the cost model: past the 10 min budget at any pace the page may apply (1/5)
    at.number_input(key="tr_steps_lm").set_value(6000).run()
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


def test_the_estimate_follows_the_pace_runs_have_had_here(monkeypatch):
    """The cost model's speed is the CPU's alone; a run estimated at ~2 s took 84 s on a loaded
    server and the page said ~2 s. The Estimate, and the budget's refusal, now use the pool's
    pace (the last runs' measured times over their estimates); the pool still gets the model's
    own estimate. A fixed cost of 150 s here, so the numbers are exact."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
    import train_run

    from lrcore.train.pool import Pool

    pool = Pool(0, reaper_every=None)  # in the page's thread, as in every app test
    monkeypatch.setattr(train_run, "the_pool", lambda: pool)
    steps = cost.Term("training steps", 150.0, 40e6, ("steps",))
    fixed = cost.Cost(150.0, 40e6, 27, seconds_max=150.0, terms=(steps,))
    monkeypatch.setattr(train_run, "estimate", lambda s: fixed)
    at = app(PAGE)
    assert _estimate(at).startswith("**Estimate**: 27 runs, ~2 min 30 s, ~")
    assert "lately" not in _estimate(at) and not at.warning
    pool._paces.extend([(3.0, None)] * 3)  # three runs took 3x their estimates (no share said)
    at.run()
    assert _estimate(at).startswith("**Estimate**: 27 runs, ~7 min 30 s, ~")
    assert "runs here have taken 3.0x the cost model's estimate lately" in _estimate(at)
    assert not at.warning  # 450 s: within the 600 s budget
    pool._paces.extend([(9.0, None)] * 5)  # the median 9, taken as 5 (the pace's bound)
    at.run()
    assert f"27 runs, ~{cost.duration(750.0)}, ~" in _estimate(at)
    (warning,) = [w.value.replace("\\", "") for w in at.warning]
    assert warning.startswith(f"Train and check: this setup would take ~{cost.duration(750.0)}")
