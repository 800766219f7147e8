"""'Train and check': Start hands the chosen setup to the app's worker pool (the library's
:func:`~lrcore.train.job.train_job`: compare, then refined from linear's runs) and the page
polls it: its place in the queue and the wait, then a progress line, an ETA and a live chart
of each schedule's loss. The runs never execute in the page's own thread (except with
``LRCORE_WORKERS=0``, for tests: see :mod:`lrcore.train.pool`)."""

import threading
import time
from dataclasses import dataclass

import charts
import machine
import numpy as np
import presets
import state
import streamlit as st
import ui
import words
from train_form import TASK_LABELS, TrainForm

from lrcore import refine
from lrcore._text import for_markdown
from lrcore.train import RunConfig
from lrcore.train import cost as model
from lrcore.train.cost import Cost, duration, estimate_compare
from lrcore.train.devices import device_type
from lrcore.train.experiments import MAX_EXTENSIONS
from lrcore.train.job import JobSpec
from lrcore.train.pool import CANCELLED, DONE, Pool, Status

POLL_SECONDS = 1.0  # the page asks the pool this often (a heartbeat: see lrcore.train.pool)


def parse_peaks(text: str) -> list[float]:
    try:
        peaks = [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise ValueError(
            f"peak lr: {text!r} is not a number or a comma-separated list of numbers"
        ) from None
    if not peaks:
        raise ValueError("peak lr: enter at least one peak lr (e.g. 0.1, 0.2)")
    if any(not np.isfinite(p) or p <= 0 for p in peaks):
        raise ValueError(f"peak lr: every value must be a number > 0, got {text!r}")
    return sorted(set(peaks))


def linear_failure(tried: list[float], grid: list[float], task: str, optimizer: str) -> str:
    """Why 'refined' could not be built, in words, with advice (no library names)."""
    halved = len(tried) - len(grid)
    return (
        f"Every linear-decay run diverged, even at peak lr {min(tried):.3g}"
        + (f" (the grid was halved {halved} time{'s' * (halved != 1)})" if halved > 0 else "")
        + ", so there are no gradient norms to refine and 'refined' was not run. Try smaller "
        f"peak lrs; the default for {TASK_LABELS[task].split(' (')[0].lower()} with "
        f"{words.optimizer_name(optimizer)} "
        f"is {presets.default_peaks(task, optimizer)}."
    )


# held-out scoring per run: the convex tasks score their whole (small) data set 50 times a
# run; the CNN and the language model, where one scoring pass costs many training steps, 10
# times (issue 25: the language model's scoring every 40 steps took most of its 17.7 min)
EVALS_PER_RUN = {"logreg": 50, "svm": 50, "cnn": 10, "lm": 10}
# what the page's refusal names (RunConfig field -> the form's words); others are not in it
FORM_NAMES = {
    "steps": "Steps",
    "batch_size": "Batch size",
    "runs": "Seeds, the peak lrs or the schedules",
    "eval_every": None,
}


@dataclass(frozen=True)
class Setup:
    """What Start runs: the config, the peak-lr grid, the seeds, the schedules."""

    cfg: RunConfig
    peaks: list[float]
    seeds: list[int]
    names: list[str]  # the picked schedules (presets.REFINED_RUN / REFINED_LOG for refined)
    want_refined: bool  # refined from linear's runs: linear is tuned first

    @property
    def tuned_first(self) -> int:
        """Schedules tuned in the first compare (linear added for refined)."""
        named = [n for n in self.names if n != presets.REFINED_RUN]
        return len(named) + (self.want_refined and "linear" not in named)


def setup(form: TrainForm) -> Setup:
    """The form's setup, checked (``ValueError`` in the form's words)."""
    if not form.chosen:
        raise ValueError("pick at least one schedule")
    peaks = parse_peaks(form.peaks_text)
    task, steps = form.task, form.steps
    # the task's own defaults (lm: its source and model sizes), then the form's values;
    # named schedules warm up as the task says (lm: 5 %), refined's shape never does
    cfg = RunConfig.for_task(
        task,
        dataset=form.dataset,
        optimizer=form.optimizer,
        steps=steps,
        batch_size=form.batch,
        peak_lr=peaks[len(peaks) // 2],
        weight_decay=float(form.wd),
        noise=form.noise,
        noise_scale=float(form.noise_scale),
        warmup_steps=presets.warmup_steps(task, steps),
        eval_every=max(1, steps // EVALS_PER_RUN[task]),
    )
    return Setup(
        cfg, peaks, list(range(form.n_seeds)), list(form.chosen), presets.REFINED_RUN in form.chosen
    )


def estimate(s: Setup) -> Cost:
    """What Start costs (the library's cost model): the first compare, then refined's."""
    return estimate_compare(
        s.cfg,
        s.tuned_first,
        len(s.seeds),
        peaks=len(s.peaks),
        refined_rounds=int(s.want_refined),
        max_extensions=MAX_EXTENSIONS,
        speed=machine.speed(),  # None: measured here
    )


def paced(cost: Cost) -> tuple[Cost, float]:
    """``cost`` at the pace runs have had on this server, and that pace (:meth:`Pool.pace`:
    the last runs' measured times over their estimates, within [1/5, 5]; 1 before any). The
    cost model's speed is the CPU's alone (app/machine.py): with the server's core loaded, a
    default run estimated at ~2 s took 84 s, and the page went on saying ~2 s."""
    pace = the_pool().pace()
    return cost.scaled(pace), pace


def check(cost: Cost, device: str, pace: float) -> None:
    """Refuse a setup past the page's time budget or the memory limit (``ValueError``);
    ``cost`` and ``pace`` as :func:`paced` gives them."""
    speed = machine.speed()
    model.check(
        cost,
        "Train and check",
        lambda f: FORM_NAMES.get(f),
        max_seconds=model.APP_SECONDS if device == "cpu" else None,
        force_hint=" (or run it with `lrcore compare`)",
        # not measured again in the server (that would import torch here)
        speed=pace * (speed if speed is not None else model.machine_speed()),
    )


MEASURING = "Estimate: measuring this server's speed (once, a few seconds)…"


def show_estimate(form: TrainForm) -> None:
    """The estimate of Start, under the form; a warning when Start would be refused. While
    the server's one speed measurement runs (its first minute), a line that says so, redrawn
    every 2 s until the estimate can be shown: the page does not wait for it (every student
    opening Train at once on a fresh server waited 5-10 s). With ``LRCORE_WORKERS=0`` (runs
    in the page's own thread: the tests) the page waits, as Start does. The pool's workers
    are started here, the first time the page opens (:meth:`Pool.warm`)."""
    pool = the_pool()
    pool.warm()  # the workers start now (once), while the student reads the form
    if not pool.inline and not machine.ready():
        _estimate_when_measured(form)
        return
    _show_estimate(form)


@st.fragment(run_every=2.0)
def _estimate_when_measured(form: TrainForm) -> None:
    if machine.ready():  # the whole page once: it then has no fragment left polling
        st.rerun(scope="app")
    st.caption(MEASURING)


def _show_estimate(form: TrainForm) -> None:
    try:
        s = setup(form)
        cost, pace = paced(estimate(s))
    except ValueError as e:
        st.caption(f"Estimate: not available ({for_markdown(str(e))})")
        return
    device = device_type(s.cfg.device, s.cfg.convex)
    note = model.cpu_note(device)
    if not 0.8 <= pace <= 1.25:
        note += f"; runs here have taken {pace:.1f}x the cost model's estimate lately"
    st.caption(f"**Estimate**: {cost.runs} runs, {cost.text()}{note}")
    try:
        check(cost, device, pace)
    except ValueError as e:
        st.warning(for_markdown(str(e)))


def _alive(session: str) -> bool:
    """The browser tab of ``session`` is still connected (a student on another page is)."""
    from streamlit.runtime import Runtime

    return Runtime.exists() and Runtime.instance().is_active_session(session)


@st.cache_resource(show_spinner=False)
def the_pool() -> Pool:
    """The process-wide pool (``LRCORE_WORKERS``, ``LRCORE_SESSION_RUNS``)."""
    return Pool.from_env(alive=_alive, startup_guess=machine.startup)


def job_spec(s: Setup) -> JobSpec:
    """What the pool runs for ``s``: the schedules resolved (a log's refined shape as numbers)."""
    schedules = {}
    for name in s.names:
        if name == presets.REFINED_LOG:
            logs = state.refine_results()[0]
            if not logs:
                raise ValueError("no log is loaded on 'Refine a log'")
            log = logs[0]
            schedules[f"refined ({log.source})"] = tuple(
                float(v) for v in refine(log.grad_norms, 0.1, log.suggested_optimizer)
            )
        elif name != presets.REFINED_RUN:
            schedules[name] = name
    if s.want_refined and "linear" not in schedules:
        schedules = {"linear": "linear", **schedules}
    return JobSpec(s.cfg, tuple(schedules.items()), tuple(s.peaks), tuple(s.seeds), s.want_refined)


def run(form: TrainForm) -> None:
    """Start: hand ``form``'s setup to the pool (a cached identical one is shown at once); an
    error goes to ``tr_error``; then the page reruns (Start is clickable again)."""
    pool, session = the_pool(), state.session_id()
    try:
        s = setup(form)
        cost = estimate(s)
        at_pace, pace = paced(cost)
        check(at_pace, device_type(s.cfg.device, s.cfg.convex), pace)
        # the pool gets the cost model's own estimate: it measures the pace against that
        status = pool.submit(session, job_spec(s), cost.seconds)
        if status.state == DONE:  # computed before (by anyone): no wait
            deliver(status)
        elif pool.inline:
            panel = Panel(status.job_id)
            pool.run_inline(session, panel.show_progress)
            for status in pool.poll(session):
                deliver(status)
    except ValueError as e:
        state.set_train_error(str(e))
    st.rerun()


def stop_run(job_id: int) -> None:
    """Stop's ``on_click``: this session leaves the job (cancelled if no one else watches)."""
    the_pool().cancel(state.session_id(), job_id)
    state.set_true("train_stopped")


def deliver(status: Status) -> None:
    """A finished job's result (or error) into session state."""
    if status.state == DONE:
        r = status.result
        cfg = r["cfg"]
        shared = {0: " (an identical setup's result, computed earlier: not run again)", 1: ""}.get(
            status.watchers, f" (computed once, shared by {status.watchers} sessions)"
        )
        failure = r["failure_tried"] and linear_failure(
            r["failure_tried"], r["peaks"], cfg.task, cfg.optimizer
        )
        state.set_train_result(
            {
                "done": r["done"] + shared,
                "table": r["table"],
                "runs": r["runs"],
                "cfg": cfg,
                "refined_from": r["refined_from"],
                "failure": failure or None,
            }
        )
    elif status.state != CANCELLED:
        state.set_train_error(status.error or "the run failed")


class Panel:
    """Stop, the queue line or the progress bar, and the live chart of one job."""

    def __init__(self, job_id: int):
        self.job_id, self.draws = job_id, 0
        st.button(
            "Stop",
            key=f"tr_stop_{job_id}",
            icon=":material/stop:",
            on_click=stop_run,
            args=(job_id,),
            help="Stops the runs (earlier results stay).",
        )
        self.line, self.chart = st.empty(), st.empty()

    def show(self, status: Status) -> None:
        if status.position:
            workers = the_pool().workers
            guess = (
                "; a first guess: no run has gone far enough on this server yet to show how "
                "long runs take while others train"
                if status.guessed
                else ""
            )
            self.line.info(
                f"Your run is queued: position {status.position} of {status.queued}, estimated "
                f"wait ~{duration(status.wait)} ({workers} run{'s' * (workers != 1)} at a time "
                f"on this server{guess})."
            )
        else:
            self.show_progress(status.progress, polled=True)

    def show_progress(self, msg: dict, polled: bool = False) -> None:
        """A progress message: the bar, and the live chart (every 20th report in the page's
        thread; on every poll from the pool, the job's figure built at most every
        ``FIGURE_SECONDS`` and shared by every session watching it)."""
        if not msg:
            self.line.progress(0.0, text="Starting…")
            return
        self.line.progress(min(1.0, msg["fraction"]), text=msg["text"])
        if not msg["live"]:
            return
        if polled:
            fig = _shared_figure(self.job_id, msg)
        elif msg["final"] or msg.get("reports", 0) % 20 == 0:
            fig = live_figure(msg["live"])
        else:
            return
        self.draws += 1
        self.chart.plotly_chart(fig, key=f"live_{self.job_id}_{self.draws}")


FIGURE_SECONDS = 2.0  # a running job's live figure is rebuilt at most this often
_FIGURES: dict[int, tuple[float, int, object]] = {}  # job id -> (built at, reports, figure)
_FIGURES_LOCK = threading.Lock()


def _shared_figure(job_id: int, msg: dict):
    """The live figure of ``msg``, rebuilt only when it is older than ``FIGURE_SECONDS`` (or
    the batch ended): building one takes 20-50 ms, and every watcher of the job polls."""
    now, reports = time.monotonic(), msg.get("reports", 0)
    with _FIGURES_LOCK:
        built, seen, fig = _FIGURES.get(job_id, (0.0, -1, None))
        if fig is None or (reports != seen and (now - built >= FIGURE_SECONDS or msg["final"])):
            fig = live_figure(msg["live"])
            _FIGURES[job_id] = (now, reports, fig)
            for old in sorted(_FIGURES)[:-16]:  # a few running jobs at a time
                del _FIGURES[old]
        return fig


def live_figure(live: dict):
    """One line per schedule (its latest round), named as everywhere else."""
    fig = charts.line_figure(
        [
            charts.Curve(label, *np.array(v).T, color=charts.colour_for(label, i))
            for i, (label, v) in enumerate((ui.schedule_label(k), v) for k, v in live.items())
            if len(v)
        ],
        "Live: mean minibatch loss of each schedule's runs",
        "step",
        "loss",
        log_y=True,
    )
    fig.update_layout(showlegend=True)
    return fig


def session_busy() -> bool:
    """This session has a run queued or running in the pool (Start is greyed out then)."""
    return the_pool().has_active(state.session_id())


def watch() -> bool:
    """The session's finished jobs into state; its active ones polled by a fragment. True
    while one is queued or running."""
    statuses = the_pool().poll(state.session_id())
    for status in statuses:
        if not status.active:
            deliver(status)
    busy = any(s.active for s in statuses)
    if busy:
        _poll_fragment()
    return busy


@st.fragment(run_every=POLL_SECONDS)
def _poll_fragment() -> None:
    statuses = the_pool().poll(state.session_id())
    active = [s for s in statuses if s.active]
    for status in statuses:
        if not status.active:
            deliver(status)
    if len(active) < len(statuses) or not active:
        st.rerun(scope="app")  # results, an error or Stop's note: the whole page
    for status in active:
        Panel(status.job_id).show(status)
