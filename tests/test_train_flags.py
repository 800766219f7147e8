"""The two flags every task shares (issue 27 item 2): diverged when the objective leaves the
float range or ends orders of magnitude above its start, "did not learn" when it ends where
it started. Thresholds: lrcore.train.result (DIVERGE_FACTOR, LEARN_RTOL)."""

import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")

from lrcore.train.config import RunConfig  # noqa: E402
from lrcore.train.experiments import compare  # noqa: E402
from lrcore.train.loop import run_many  # noqa: E402
from lrcore.train.result import DIVERGE_FACTOR, LEARN_RTOL, learned, runaway_from  # noqa: E402

TINY = dict(steps=60, eval_every=20)


@pytest.mark.parametrize("task", ["logreg", "svm"])
def test_a_finite_objective_far_above_its_start_is_diverged_on_the_convex_tasks(task):
    huge, fine = run_many(
        [RunConfig(task=task, peak_lr=p, schedule="constant", **TINY) for p in (1e300, 0.1)]
    )
    # float64 and a loss linear in the weights: no nan/inf, but far above the start
    assert np.isfinite(huge.loss).all()
    assert huge.diverged_at is not None and not huge.ok
    assert huge.status() == f"diverged at step {huge.diverged_at}"
    assert math.isnan(huge.final["objective"]) and len(huge.loss) == huge.diverged_at + 1
    assert fine.ok and fine.learned and fine.status() == "finished"


def test_a_run_that_ends_where_it_started_did_not_learn(tmp_path):
    (run,) = run_many([RunConfig(peak_lr=1e-300, **TINY)])
    assert run.ok and not run.learned
    assert run.status() == "finished, did not learn"
    start = run.evals.objective.iloc[0]
    assert abs(run.final["objective"] - start) <= LEARN_RTOL * start
    meta = json.loads((run.save(tmp_path) / "result.json").read_text())
    assert meta["learned"] is False and meta["status"] == "finished, did not learn"


def test_compare_tables_carry_both_flags():
    table = compare(
        RunConfig(**TINY), ["constant"], seeds=[0], peak_lrs=[1e-300, 0.5, 1e300], extend_grid=False
    )
    by_peak = table.set_index("peak_lr")
    assert by_peak.loc[1e300, "diverged"] == 1 and not by_peak.loc[1e300, "best"]
    assert not by_peak.loc[1e-300, "learned"] and by_peak.loc[1e-300, "diverged"] == 0
    assert by_peak.loc[0.5, "learned"] and by_peak.loc[0.5, "best"]


def test_cli_run_says_why_a_run_is_flagged(capsys):
    from lrcore.cli import main

    assert main(["run", "--peak-lr", "1e-300", "--steps", "40"]) == 0
    out = capsys.readouterr()
    assert "finished, did not learn" in out.out
    assert f"not more than {LEARN_RTOL:.1%} below its start" in out.err
    assert main(["run", "--task", "svm", "--peak-lr", "1e300", "--steps", "40"]) == 1
    out = capsys.readouterr()
    assert "diverged at step" in out.out and f"{DIVERGE_FACTOR:,.0f} times its start" in out.err


def test_the_thresholds():
    start = 2.3
    # a spike the run recovers from is not a divergence; a run that stays up is, from where
    # it last rose past the threshold
    assert runaway_from(np.array([start, DIVERGE_FACTOR * start * 2, 1.0])) is None
    assert runaway_from(np.array([start, 1.0, DIVERGE_FACTOR * start * 2, 1.0, 1e300])) == 4
    assert runaway_from(np.array([start, 5e3 * start, 1e9, 1e300])) == 1
    assert runaway_from(np.array([start, DIVERGE_FACTOR * start])) is None  # at, not above
    assert runaway_from(np.array([0.0, 1e300])) is None  # no positive start to compare with
    assert not learned(start, start * (1 - LEARN_RTOL / 2))
    assert learned(start, start * (1 - LEARN_RTOL * 2))
    assert not learned(start, float("nan")) and not learned(start, start * 10)
