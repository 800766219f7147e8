"""lrcore run / compare: progress through tqdm, with a run counter that moves."""

import io
import re
from types import SimpleNamespace

from lrcore.train.cli import StderrProgress


def _report(progress, total_runs, groups, steps=100):
    """What run_many reports for one call: groups of runs, each stepping to ``steps``."""
    done = 0
    for size in groups:
        for step in (1, 50, steps):
            progress(SimpleNamespace(step=step, total_steps=steps, runs_done=done,
                                     total_runs=total_runs, loss=0.5, device="cpu"))  # fmt: skip
        done += size


def test_the_run_counter_moves_as_batches_of_runs_end_and_ends_full():
    out = io.StringIO()
    p = StderrProgress("compare", stream=out)
    _report(p, 30, [30])  # linear's grid: one batch of 30 runs
    p.bar.mininterval = 0  # every update drawn (the bar is made at the first report)
    _report(p, 6, [3, 3])  # then two batches of 3 (another call)
    p.close()
    counts = [(int(a), int(b)) for a, b in re.findall(r"runs (\d+)/(\d+)", out.getvalue())]
    done = [a for a, _ in counts]
    assert done == sorted(done), counts  # never goes back
    assert (30, 36) in counts and (33, 36) in counts  # moved at each batch's end
    assert counts[-1] == (36, 36)
    assert "step 100/100 loss 0.5 (cpu)" in out.getvalue()


def test_a_cancelled_run_is_not_counted_as_finished():
    out = io.StringIO()
    p = StderrProgress("run", stream=out)
    p(SimpleNamespace(step=10, total_steps=100, runs_done=0, total_runs=1, loss=1.0, device="cpu"))
    p.close()
    assert re.findall(r"runs (\d+)/(\d+)", out.getvalue())[-1] == ("0", "1")
