"""The 'Train and check' job as a plain function: the optimum f* first (convex tasks), then
:func:`~lrcore.train.experiments.compare` with its lr-grid extensions, then refined from
linear's runs and a second compare. Picklable in and out, no UI: it runs in the page's
thread, a local worker process or a Dask worker (:mod:`lrcore.train.pool`) with the same
numbers.

``on_progress`` gets plain dicts (see :func:`train_job`); ``should_stop`` is polled at every
progress report of the training loop (about 200 a batch of runs) and between phases.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import lrcore
from lrcore.train.config import CONVEX_TASKS, RunConfig

Progress = dict  # what on_progress receives (keys in train_job's docstring)


class Cancelled(Exception):
    """``should_stop`` said so: the job ends at once (raised from the loop's ``on_step``)."""


@dataclass(frozen=True)
class JobSpec:
    """What one Start runs: a picklable value that names the computation (see :func:`job_key`)."""

    cfg: RunConfig
    schedules: tuple[tuple[str, str | tuple], ...]  # (label, registry name or shape)
    peaks: tuple[float, ...]
    seeds: tuple[int, ...]
    want_refined: bool  # refined from linear's runs: linear is tuned first


def job_key(spec: JobSpec) -> str:
    """lrcore's version and the spec, digested: equal keys compute equal results.

    >>> s = JobSpec(RunConfig(steps=10), (("linear", "linear"),), (0.1,), (0,), False)
    >>> job_key(s) == job_key(s), job_key(s) == job_key(JobSpec(s.cfg, s.schedules, (0.2,), (0,), False))
    (True, False)
    """
    text = repr((lrcore.__version__, spec))  # floats' repr round-trips: exact values
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Clock:
    """Elapsed time over everything the user waits for (linear's runs for refinement, grid
    extensions, refined's runs), and an ETA from the run-steps done against those expected.

    ``compare`` calls the training loop several times; each call reports its own fraction,
    so a drop in the fraction starts a new batch and banks the last one."""

    def __init__(self, expected_run_steps: float):
        self.start, self.expected = time.perf_counter(), float(expected_run_steps)
        self.banked, self.current, self.last_fraction, self.batch = 0.0, 0.0, 0.0, 1

    def update(self, p) -> None:
        work = p.total_runs * p.total_steps
        if p.fraction < self.last_fraction:  # a new batch of runs began
            self.banked += self.current
            self.batch += 1
        self.current, self.last_fraction = p.fraction * work, p.fraction
        # grid extensions add runs: the expectation grows with what this batch still needs
        self.expected = max(self.expected, self.banked + work)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def share(self) -> float:
        """Run-steps done over those expected (0 to 1)."""
        return min(1.0, (self.banked + self.current) / self.expected) if self.expected else 0.0

    def text(self) -> str:
        share = self.share
        eta = f" · about {self.elapsed * (1 - share) / share:.0f} s left" if share > 0.02 else ""
        return f"{self.elapsed:.0f} s elapsed{eta}"


def _precompute_optimum(spec: JobSpec, send, stop, clock: Clock) -> None:
    """Solve f* (float64) for each seed's data split before training: the library caches it,
    so the rounds that follow no longer pause to compute it."""
    from lrcore.train.objective import f_star

    if spec.cfg.task not in CONVEX_TASKS:
        return

    def say(fraction: float, text: str) -> None:
        send(
            {
                "phase": "optimum",
                "fraction": fraction,
                "share": 0.0,
                "text": f"{text} · {clock.elapsed:.0f} s elapsed",
                "live": {},
                "final": False,
            }
        )

    n = len(spec.seeds)
    for i, seed in enumerate(spec.seeds):
        stop()
        say(i / n, f"Computing the optimum f* (float64 solver), seed {i + 1} of {n}")
        f_star(spec.cfg.with_(seed=seed))
    # the pool's lead-in (data and f*, kept by the worker) ends here, not at the last seed's start
    say(1.0, "Computed the optimum f*")


def warm() -> None:
    """What a worker imports before its first :func:`train_job` (torch, scikit-learn, SciPy's
    solvers, the experiments): :meth:`lrcore.train.pool.Pool.warm` runs it in each worker at
    once. The modules import them where they are used (``import lrcore.train.experiments``
    stays light), so they are named here: importing ``experiments`` alone left 2.4 s of
    imports (torch 1.5 s, scikit-learn 0.75 s) to a worker's first job, 5-9 s when a class
    opened Train together."""
    import scipy.optimize  # noqa: F401 - f* (objective.py)
    import scipy.sparse  # noqa: F401
    import sklearn.datasets  # noqa: F401 - data.py
    import sklearn.model_selection  # noqa: F401

    from lrcore.train import experiments, loop  # noqa: F401 - loop: torch, the models


def train_job(
    spec: JobSpec,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Run ``spec`` as the Train and check page does; returns ``{"table", "runs", "cfg",
    "refined_from", "failure_tried", "rounds", "elapsed", "device", "done"}`` or
    ``{"cancelled": True}`` when ``should_stop`` returned true.

    ``on_progress`` gets ``{"phase", "fraction" (of the current batch of runs), "share" (of
    the whole job), "text", "live" ({schedule: [(step, mean loss), ...]}, its latest round),
    "reports", "final" (the batch ended)}``; ``failure_tried`` is the linear peak lrs tried
    when every linear run diverged and refined could not be built (else None).
    """
    from lrcore.train.experiments import compare, refine_from_runs, table_from_runs

    send = on_progress or (lambda _msg: None)

    def stop() -> None:
        if should_stop is not None and should_stop():
            raise Cancelled

    schedules, seeds, peaks = dict(spec.schedules), list(spec.seeds), list(spec.peaks)
    clock = Clock((len(schedules) + spec.want_refined) * len(peaks) * len(seeds) * spec.cfg.steps)
    live: dict[str, list[tuple[int, float]]] = {}
    custom = [k for k, v in schedules.items() if not isinstance(v, str)]
    phase = {"name": ", ".join(schedules), "custom": ", ".join(custom) or "custom", "reports": 0}

    def on_step(p):
        stop()
        clock.update(p)
        done = p.fraction >= 1
        for name, loss in p.losses.items():  # one line per schedule, its latest round
            points = live.setdefault(phase["custom"] if name == "custom" else name, [])
            if points and p.step < points[-1][0]:
                points.clear()  # a new round of this schedule (a wider lr grid)
            points.append((p.step, loss))
        phase["reports"] += 1
        send(
            {
                "phase": "training",
                "fraction": p.fraction,
                "share": clock.share,
                "text": f"round {clock.batch}: {phase['name']} ({p.total_runs} runs): step "
                f"{p.step:,}/{p.total_steps:,} · mean loss {p.loss:.3g} · "
                + ("scoring the runs on the full data…" if done else clock.text()),
                "live": {k: list(v) for k, v in live.items()},
                "reports": phase["reports"],
                "final": done,
            }
        )

    try:
        _precompute_optimum(spec, send, stop, clock)
        table, runs = compare(
            spec.cfg, schedules, seeds=seeds, peak_lrs=peaks, on_step=on_step, return_runs=True
        )
        failure, refined_from = None, None
        if spec.want_refined:
            lin = table[(table.schedule == "linear") & table.best]
            if lin.empty:
                failure = sorted(float(p) for p in table.peak_lr[table.schedule == "linear"])
            else:
                peak = float(lin.peak_lr.iloc[0])
                shape, norms = refine_from_runs([runs[("linear", peak, s)] for s in seeds])
                stop()
                phase["name"] = phase["custom"] = "refined"
                _, more = compare(
                    spec.cfg,
                    {"refined": tuple(shape)},
                    seeds=seeds,
                    peak_lrs=peaks,
                    on_step=on_step,
                    return_runs=True,
                )
                runs = {**runs, **more}
                table = table_from_runs(runs, [*schedules, "refined"])
                refined_from = {"shape": shape, "norms": norms}
    except Cancelled:
        return {"cancelled": True}
    device = next(iter(runs.values())).device
    return {
        "done": f"Done: {len(runs)} runs in {clock.batch} rounds on {device}, "
        f"{clock.elapsed:.0f} s in all",
        "table": table,
        "runs": runs,
        "cfg": spec.cfg,
        "refined_from": refined_from,
        "failure_tried": failure,
        "peaks": peaks,
        "rounds": clock.batch,
        "elapsed": clock.elapsed,
        "device": device,
    }
