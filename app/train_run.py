"""'Train and check': running the chosen setup (the library's compare, then refined from
linear's runs), with a progress line, an ETA and a live chart of each schedule's loss."""

import time
from dataclasses import dataclass

import charts
import numpy as np
import presets
import state
import streamlit as st
import ui
import words
from train_form import TASK_LABELS, TrainForm

from lrcore import refine
from lrcore._text import for_markdown
from lrcore.train import RunConfig, compare
from lrcore.train import cost as model
from lrcore.train.config import CONVEX_TASKS
from lrcore.train.cost import Cost, estimate_compare
from lrcore.train.experiments import MAX_EXTENSIONS, refine_from_runs, table_from_runs
from lrcore.train.loop import resolve_device
from lrcore.train.objective import f_star


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

    def text(self) -> str:
        done = self.banked + self.current
        share = done / self.expected if self.expected else 0.0
        eta = f" · about {self.elapsed * (1 - share) / share:.0f} s left" if share > 0.02 else ""
        return f"{self.elapsed:.0f} s elapsed{eta}"


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


def precompute_optimum(cfg: RunConfig, seeds: list[int], progress, clock) -> None:
    """Solve f* (float64) for each seed's data split before training, with a status line:
    the library caches it, so the rounds that follow no longer pause to compute it."""
    if cfg.task not in CONVEX_TASKS:
        return
    for i, seed in enumerate(seeds):
        progress.progress(
            i / len(seeds),
            text=f"Computing the optimum f* (float64 solver), seed {i + 1} of {len(seeds)} · "
            f"{clock.elapsed:.0f} s elapsed",
        )
        f_star(cfg.with_(seed=seed))


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
    return Setup(cfg, peaks, list(range(form.n_seeds)), list(form.chosen), presets.REFINED_RUN in form.chosen)


def estimate(s: Setup) -> Cost:
    """What Start costs (the library's cost model): the first compare, then refined's."""
    return estimate_compare(
        s.cfg,
        s.tuned_first,
        len(s.seeds),
        peaks=len(s.peaks),
        refined_rounds=int(s.want_refined),
        max_extensions=MAX_EXTENSIONS,
    )


def check(cost: Cost, device: str) -> None:
    """Refuse a setup past the page's time budget or the memory limit (``ValueError``)."""
    model.check(
        cost,
        "Train and check",
        lambda f: FORM_NAMES.get(f),
        max_seconds=model.APP_SECONDS if device == "cpu" else None,
        force_hint=" (or run it with `lrcore compare`)",
    )


def show_estimate(form: TrainForm) -> None:
    """The estimate of Start, under the form; a warning when Start would be refused."""
    try:
        s = setup(form)
        cost = estimate(s)
    except ValueError as e:
        st.caption(f"Estimate: not available ({for_markdown(str(e))})")
        return
    device = resolve_device(s.cfg.device, s.cfg.convex).type
    note = model.cpu_note(device)
    st.caption(f"**Estimate**: {cost.runs} runs, {cost.text()}{note}")
    try:
        check(cost, device)
    except ValueError as e:
        st.warning(for_markdown(str(e)))


def run(form: TrainForm) -> None:
    """Train ``form``'s setup; the result goes to session state (``train_result``), an error
    to ``tr_error``; then the page reruns."""
    task, optimizer, n_seeds = form.task, form.optimizer, form.n_seeds
    try:
        s = setup(form)
        cfg, peaks, seeds, chosen = s.cfg, s.peaks, s.seeds, s.names
        check(estimate(s), resolve_device(cfg.device, cfg.convex).type)
        schedules, want_refined = {}, False
        for name in chosen:
            if name == presets.REFINED_RUN:  # tune linear first, then refine from it
                want_refined = True
            elif name == presets.REFINED_LOG:
                logs = state.refine_results()[0]
                if not logs:
                    raise ValueError("no log is loaded on 'Refine a log'")
                log = logs[0]
                schedules[f"refined ({log.source})"] = tuple(
                    refine(log.grad_norms, 0.1, log.suggested_optimizer)
                )
            else:
                schedules[name] = name
        if want_refined and "linear" not in schedules:
            schedules = {"linear": "linear", **schedules}
        clock = Clock((len(schedules) + want_refined) * len(peaks) * n_seeds * cfg.steps)
        stop_slot = st.empty()
        stop_slot.button(
            "Stop",
            key="tr_stop",
            icon=":material/stop:",
            on_click=state.set_true,
            args=("train_stopped",),
            help="Stops the runs (the page reloads; earlier results stay).",
        )
        progress = st.progress(0.0, text="Starting…")
        live_slot = st.empty()
        live: dict[str, list[tuple[int, float]]] = {}  # schedule -> (step, mean loss)
        custom = [k for k, v in schedules.items() if not isinstance(v, str)]
        phase = {"name": ", ".join(schedules), "custom": ", ".join(custom) or "custom"}

        def on_step(p):
            clock.update(p)
            label = f"round {clock.batch}: {phase['name']}"
            done = p.fraction >= 1
            progress.progress(
                p.fraction,
                text=f"{label} ({p.total_runs} runs): step {p.step:,}/{p.total_steps:,} · "
                f"mean loss {p.loss:.3g} · "
                + ("scoring the runs on the full data…" if done else clock.text()),
            )
            for name, loss in p.losses.items():  # one line per schedule, its latest round
                points = live.setdefault(
                    phase["custom"] if name == "custom" else ui.schedule_label(name), []
                )
                if points and p.step < points[-1][0]:
                    points.clear()  # a new round of this schedule (a wider lr grid)
                points.append((p.step, loss))
            phase["reports"] = phase.get("reports", 0) + 1
            if done or phase["reports"] % 20 == 0:
                fig = charts.line_figure(
                    [
                        charts.Curve(name, *np.array(v).T, color=charts.colour_for(name, i))
                        for i, (name, v) in enumerate(live.items())
                        if v
                    ],
                    "Live: mean minibatch loss of each schedule's runs",
                    "step",
                    "loss",
                    log_y=True,
                )
                fig.update_layout(showlegend=True)
                live_slot.plotly_chart(fig, key=f"live_{clock.batch}_{phase['reports']}")

        precompute_optimum(cfg, seeds, progress, clock)
        table, runs = compare(
            cfg, schedules, seeds=seeds, peak_lrs=peaks, on_step=on_step, return_runs=True
        )
        failure, refined_from = None, None
        if want_refined:
            lin = table[(table.schedule == "linear") & table.best]
            if lin.empty:
                tried = sorted(table.peak_lr[table.schedule == "linear"])
                failure = linear_failure(tried, peaks, task, optimizer)
            else:
                peak = float(lin.peak_lr.iloc[0])
                shape, norms = refine_from_runs([runs[("linear", peak, s)] for s in seeds])
                phase["name"] = phase["custom"] = "refined"
                _, more = compare(
                    cfg,
                    {"refined": tuple(shape)},
                    seeds=seeds,
                    peak_lrs=peaks,
                    on_step=on_step,
                    return_runs=True,
                )
                runs = {**runs, **more}
                table = table_from_runs(runs, [*schedules, "refined"])
                refined_from = {"shape": shape, "norms": norms}
        stop_slot.empty()
        live_slot.empty()  # the results below replace it
        state.set_train_result(
            {
                "done": f"Done: {len(runs)} runs in {clock.batch} rounds on "
                f"{next(iter(runs.values())).device}, {clock.elapsed:.0f} s in all",
                "table": table,
                "runs": runs,
                "cfg": cfg,
                "refined_from": refined_from,
                "failure": failure,
            }
        )
    except ValueError as e:
        state.set_train_error(str(e))
    # a fresh run of the page: Start is clickable again, and no Stop button, progress line
    # or live chart is left over (an error is shown under Start; earlier results stay)
    st.rerun()
