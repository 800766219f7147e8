"""Train and check: short runs that test whether a schedule really helps, over several seeds."""

import time

import charts
import numpy as np
import pandas as pd
import presets
import state
import streamlit as st
import ui
import words

from lrcore import REGISTRY, refine
from lrcore.diagnose import diagnose_refined
from lrcore.export import log_to_csv
from lrcore.train import RunConfig, compare
from lrcore.train.config import CONVEX_TASKS, NOISES, OPTIMIZERS, TASKS
from lrcore.train.experiments import (
    best_rows,
    own_norm_bounds,
    refine_from_runs,
    table_from_runs,
)
from lrcore.train.loop import resolve_device
from lrcore.train.objective import f_star

TASK_LABELS = {  # short: three fit side by side on a phone
    "logreg": "Logistic regression",
    "svm": "Hinge loss (SVM)",
    "cnn": "Small CNN",
}
TASK_BUTTONS = {"logreg": "Logistic regression", "svm": "Hinge (SVM)", "cnn": "CNN"}  # 390 px
TASK_NOTES = {
    "logreg": "convex and smooth; multinomial, zero init; scored by cross-entropy + L2",
    "svm": "linear SVM, multiclass hinge: convex and non-smooth, the theory's loss class",
    "cnn": "not convex; 2 conv layers, 8x8 images; outside the theory",
}
NOISE_LABELS = {
    "none": "none",
    "flat": "flat (same size all run)",
    "rise": "rises late (x1 → x5)",
    "fall": "falls early (x5 → x1)",
}

st.title("Train and check")
st.caption(
    "Run small, fast problems with several schedules and seeds, each at its best peak lr on a "
    "grid. Convex tasks (logistic regression, hinge loss) are scored by their distance to the "
    "optimum, which the theory bounds."
)
prefilled = st.session_state.pop("tr_prefilled", None)
if prefilled:
    st.info(f"Set up as in **{prefilled}** from 'See it work'. Press **Start** to run it here.")

st.session_state.setdefault("tr_task", presets.DEFAULTS["tr_task"])
st.session_state.setdefault("tr_opt", presets.DEFAULTS["tr_opt"])
c0, c1 = st.columns([3, 1])
task = c0.segmented_control(
    "Task", [t for t in TASKS if t in TASK_BUTTONS], key="tr_task", format_func=TASK_BUTTONS.get
)
task = task or "logreg"
optimizer = c1.selectbox(
    "Optimizer", list(OPTIMIZERS), key="tr_opt", format_func=words.optimizer_name
)
presets.init_form(task, optimizer)

c2, c3, c4, c5 = st.columns(4)
dataset = c2.selectbox("Dataset", list(TASKS[task]), key=f"tr_dataset_{task}")
steps = int(c3.number_input("Steps", 10, 100_000, key=f"tr_steps_{task}"))
n_seeds = int(c4.number_input("Seeds", 1, 10, key="tr_seeds"))
peaks_text = c5.text_input(
    "Peak lrs to try (a grid)",
    key=presets.peaks_key(task, optimizer),
    help="Comma-separated; the grid is extended by factors of 2 when a schedule's best sits "
    f"on its edge. Default for {TASK_LABELS[task].split(' (')[0].lower()} with {words.optimizer_name(optimizer)}: "
    f"{presets.default_peaks(task, optimizer)}.",
)
c6, c7, c8, c9 = st.columns(4)
batch = int(c6.number_input("Batch size", 1, 4096, key="tr_batch"))
wd = c7.number_input("Weight decay (L2)", 0.0, 1.0, format="%g", key=f"tr_wd_{task}")
noise = c8.selectbox(
    "Gradient noise",
    list(NOISES),
    key="tr_noise",
    format_func=NOISE_LABELS.get,
    help="Gaussian noise added to every stochastic gradient, with a size that follows a fixed "
    "profile over the run, identical for every schedule: norms that change for reasons "
    "outside the schedule, the textbook case for refinement. Rises late: x1, then up to x5 "
    "over the second half; falls early: x5 down to x1 by 30% of the run.",
)
noise_scale = c9.number_input(
    "Noise size", 0.0, 100.0, format="%g", key="tr_noise_scale", disabled=noise == "none"
)
st.caption(f"**{TASK_LABELS[task]}**: {TASK_NOTES[task]}.")
schedule_names = [*REGISTRY, presets.REFINED_RUN, presets.REFINED_LOG]
chosen = st.multiselect(
    "Schedules",
    schedule_names,
    format_func=ui.schedule_label,
    key="tr_sched",
)
# Start is greyed out while its runs go on (the click sets the flag; every run consumes it,
# and the page reruns when the runs end, so Start comes back)
busy = st.session_state.pop("tr_busy", False)
start = (
    st.button(
        "Start",
        type="primary",
        key="tr_start",
        on_click=state.set_true,
        args=("tr_busy",),
        disabled=busy,
    )
    or busy  # a disabled button reads False: the flag, set only by its click, says it was
)
if message := st.session_state.pop("tr_error", None):
    st.error(message)

if st.session_state.pop("train_stopped", False):
    kept = (
        " Results of the last finished training are kept below."
        if "train_result" in st.session_state
        else ""
    )
    st.warning("Training was stopped before it finished." + kept)

device = resolve_device("auto").type
st.caption(
    f"Runs on **{device.upper()}**" + (" (CUDA found)" if device == "cuda" else " (no CUDA found)")
)


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


if start:
    try:
        if not chosen:
            raise ValueError("pick at least one schedule")
        peaks = parse_peaks(peaks_text)
        cfg = RunConfig(
            task=task,
            dataset=dataset,
            optimizer=optimizer,
            steps=steps,
            batch_size=batch,
            peak_lr=peaks[len(peaks) // 2],
            weight_decay=float(wd),
            noise=noise,
            noise_scale=float(noise_scale),
            eval_every=max(1, steps // 50),
        )
        seeds = list(range(n_seeds))
        schedules, want_refined = {}, False
        for name in chosen:
            if name == presets.REFINED_RUN:  # tune linear first, then refine from it
                want_refined = True
            elif name == presets.REFINED_LOG:
                logs = st.session_state.get("refine_logs")
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
        clock = Clock((len(schedules) + want_refined) * len(peaks) * n_seeds * steps)
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
        live: dict[str, list[tuple[int, float]]] = {}
        phase = {"name": ", ".join(schedules)}

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
            points = live.setdefault(label, [])
            points.append((p.step, p.loss))
            if done or len(points) % 20 == 0:
                fig = charts.line_figure(
                    [charts.Curve(name, *np.array(v).T) for name, v in live.items() if v],
                    "Live: mean minibatch loss of the runs in each round",
                    "step",
                    "loss",
                    log_y=True,
                )
                fig.update_layout(showlegend=True)
                live_slot.plotly_chart(fig, key=f"live_{clock.batch}_{len(points)}")

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
                phase["name"] = "refined"
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
        st.session_state["train_result"] = {
            "done": f"Done: {len(runs)} runs in {clock.batch} rounds on "
            f"{next(iter(runs.values())).device}, {clock.elapsed:.0f} s in all",
            "table": table,
            "runs": runs,
            "cfg": cfg,
            "refined_from": refined_from,
            "failure": failure,
        }
    except ValueError as e:
        st.session_state["tr_error"] = str(e)
    # a fresh run of the page: Start is clickable again, and no Stop button, progress line
    # or live chart is left over (an error is shown under Start; earlier results stay)
    st.rerun()

result = st.session_state.get("train_result")
if result is None:
    st.info("Choose a problem and schedules, then press **Start**.")
    st.stop()

table, runs, cfg = result["table"], result["runs"], result["cfg"]
st.progress(1.0, text=result["done"])
convex = cfg.task in CONVEX_TASKS
score = "suboptimality" if convex else "objective"
best = best_rows(table).reset_index(drop=True)
if result.get("failure"):
    st.error(result["failure"])


def curves_of(schedule: str, peak: float):
    """(steps, mean, sem) over seeds of the objective (minus f* for convex tasks) of the
    finished runs of ``schedule`` at ``peak``; None when none finished."""
    chosen_runs = [
        r for (label, p, _), r in runs.items() if label == schedule and p == peak and r.ok
    ]
    if not chosen_runs:
        return None
    stacked = pd.concat([r.evals.set_index("step")["objective"] for r in chosen_runs], axis=1)
    if convex:
        stacked = stacked - np.array([r.final["f_star"] for r in chosen_runs])
    sem = (
        stacked.std(axis=1, ddof=1) / np.sqrt(stacked.shape[1])
        if stacked.shape[1] > 1
        else 0 * stacked.iloc[:, 0]
    )
    return stacked.index.to_numpy(), stacked.mean(axis=1).to_numpy(), np.asarray(sem)


curves = {str(r.schedule): curves_of(str(r.schedule), r.peak_lr) for r in best.itertuples()}
# share of the run each best row sat at its starting objective (lr ~0 for a degenerate
# refined schedule): "learned" must not hide it
flat = {
    name: words.flat_start(c[0], c[1], cfg.steps) if c is not None else float("nan")
    for name, c in curves.items()
}
at_optimum = {
    name: words.first_at_zero(c[0], c[1]) if c is not None and convex else None
    for name, c in curves.items()
}
learned = best.learned.astype(bool)
st.subheader(
    f"Results: each schedule at its best peak lr by {score}"
    if learned.any()
    else "Results: no schedule learned at any peak lr tried"
)
st.caption(
    f"{TASK_LABELS[cfg.task]} on {cfg.dataset}, {words.optimizer_name(cfg.optimizer)}, "
    f"{cfg.steps:,} steps, "
    f"noise {cfg.noise}{f' × {cfg.noise_scale:g}' if cfg.noise != 'none' else ''}, "
    f"{int(table.n_seeds.max())} seed{'s' * (int(table.n_seeds.max()) != 1)}; mean ± standard error over seeds. "
    + (
        "Suboptimality = objective (loss + L2 term, full training set, last iterate) minus its "
        "minimum f* from a float64 solver."
        if convex
        else "The objective is the full training loss + L2 term at the last iterate."
    )
)


def learned_word(name: str, ok: bool) -> str:
    if not ok:
        return "no"
    share = flat[name]
    return f"late: flat for {share:.0%}" if share > 0.5 else "yes"


def sub_text(name: str, mean: float, sem: float) -> str:
    step = at_optimum.get(name)
    if mean == 0 and step is not None:
        return f"0 (optimum reached at step {step:,})"
    return words.fmt_pm(mean, sem)


shown = {
    "schedule": best.schedule.astype(str),
    "peak lr": [f"{v:.3g}" for v in best.peak_lr],
    "best at grid edge": np.where(best.at_grid_edge, "yes", ""),
}
if convex:
    shown["suboptimality"] = [
        sub_text(n, m, s)
        for n, m, s in zip(
            best.schedule, best.suboptimality_mean, best.suboptimality_sem, strict=True
        )
    ]
shown["objective"] = [
    words.fmt_pm(m, s) for m, s in zip(best.objective_mean, best.objective_sem, strict=True)
]
shown["test accuracy"] = [
    words.fmt_pct_pm(m, s)
    for m, s in zip(best.test_accuracy_mean, best.test_accuracy_sem, strict=True)
]
if cfg.optimizer == "sgd" and "linear" in set(best.schedule):
    # each schedule's bound under the norms of its OWN runs (not linear's), over linear's
    shown["bound ÷ linear's (own norms)"] = [
        f"{words.fmt_sig(v)}×" if np.isfinite(v) else "" for v in own_norm_bounds(best, runs)
    ]
shown["diverged"] = best.diverged.astype(int)
shown["learned"] = [learned_word(n, ok) for n, ok in zip(best.schedule, learned, strict=True)]
st.dataframe(pd.DataFrame(shown), hide_index=True, key="train_table")
if cfg.optimizer != "sgd" and "linear" in set(best.schedule):
    st.caption(
        f"No bound column: the bound is for SGD; not shown for "
        f"{words.optimizer_name(cfg.optimizer)}."
    )

refined_from = result.get("refined_from")
if refined_from is not None and "refined" in set(best.schedule):
    for line in diagnose_refined(refined_from["shape"], refined_from["norms"]):
        st.warning("**refined**: " + line, icon=":material/warning:")
stuck = {n: v for n, v in flat.items() if np.isfinite(v) and v > 0.5}
if stuck:
    parts = [f"**{n}** for {v:.0%} of the run" for n, v in stuck.items()]
    st.warning(
        "Stuck at the starting objective: "
        + "; ".join(parts)
        + " (the objective stayed within 0.1% of where it started, mean over seeds). The lr "
        "was too small for that long; the run learned late, not well."
    )
reached = {n: s for n, s in at_optimum.items() if s is not None}
if reached:
    parts = [f"**{n}** at step {s:,}" for n, s in reached.items()]
    st.info(
        "Reached the optimum exactly (objective = f* = "
        f"{words.fmt_sig(float((best.objective_mean - best.suboptimality_mean).iloc[0]))}"
        + (
            ", the data are separable"
            if (best.objective_mean == best.suboptimality_mean).all()
            else ""
        )
        + "): "
        + "; ".join(parts)
        + ". From there the suboptimality is 0, "
        "which a log scale cannot draw, so those lines end there."
    )
if (~learned).any():
    parts = [
        f"**{r.schedule}** (peak lr {r.peak_lr:.3g}, test accuracy {r.test_accuracy_mean:.1%})"
        for r in best[~learned].itertuples()
    ]
    st.warning(
        "Did not learn: " + "; ".join(parts) + ": the objective ended higher than it started "
        "in at least one seed, even at the best peak lr tried. The peak lr is probably far off "
        f"for {words.optimizer_name(cfg.optimizer)}: try its default grid "
        f"({presets.default_peaks(cfg.task, cfg.optimizer)})."
    )
edge = best[best.at_grid_edge.astype(bool)]
if len(edge):
    lows, highs = table.peak_lr.min(), table.peak_lr.max()
    parts = [
        f"**{r.schedule}** at {r.peak_lr:.3g} "
        f"({'lowest' if r.peak_lr <= lows else 'highest' if r.peak_lr >= highs else 'edge'})"
        for r in edge.itertuples()
    ]
    st.warning(
        "Best peak lr at the edge of the grid, even after extending it: "
        + "; ".join(parts)
        + ". The true best may lie outside the grid; these rows may not be each schedule's best."
    )
if table.diverged.sum():
    st.warning(
        f"{int(table.diverged.sum())} run(s) diverged (loss became nan or inf); their peak lr "
        "is never picked as best."
    )
with st.expander("Every peak lr"):
    every = {
        "schedule": table.schedule.astype(str),
        "peak lr": [f"{v:.3g}" for v in table.peak_lr],
        "best": np.where(table.best, "yes", ""),
        "seeds": table.n_seeds,
        "diverged": table.diverged,
    }
    if convex:
        every["suboptimality"] = [
            words.fmt_pm(m, s)
            for m, s in zip(table.suboptimality_mean, table.suboptimality_sem, strict=True)
        ]
    every["objective"] = [
        words.fmt_pm(m, s) for m, s in zip(table.objective_mean, table.objective_sem, strict=True)
    ]
    every["test accuracy"] = [
        words.fmt_pct_pm(m, s)
        for m, s in zip(table.test_accuracy_mean, table.test_accuracy_sem, strict=True)
    ]
    every["learned"] = np.where(table.learned.astype(bool), "yes", "no")
    st.dataframe(pd.DataFrame(every), hide_index=True, key="train_every")

groups = [(n, *c) for n, c in curves.items() if c is not None]
if groups:
    st.plotly_chart(
        charts.band_figure(
            groups,
            f"{'Suboptimality' if convex else 'Objective'} over training",
            "step",
            "objective − f*" if convex else "objective",
            log_y=True,
            max_decades=6,  # a line that reaches the optimum would stretch the axis to 1e-12
        ),
        key="train_curves",
    )
    st.caption(
        "Each schedule at its best peak lr: mean over seeds (line) ± standard error (band), "
        "full training set, log scale (at most 6 decades below the top)."
    )

linear_best = best.peak_lr[best.schedule.astype(str) == "linear"]
linear_runs = [
    r
    for (label, peak, _), r in runs.items()
    if label == "linear" and r.ok and len(linear_best) and peak == linear_best.iloc[0]
]
if linear_runs:  # the linear run at linear's best peak lr, first seed
    run = min(linear_runs, key=lambda r: r.config.seed)
    kind = run.config.norm_type
    if st.button(f"Send the linear run's {kind} gradient norms to 'Refine a log'", key="send_log"):
        csv = log_to_csv(run.steps, run.grad_norms(), None).replace(
            "grad_norm", f"grad_norm_{kind}", 1
        )
        name = f"trained_{cfg.task}_{cfg.dataset}_{cfg.optimizer}_seed{run.config.seed}.csv"
        state.send_log(state.LogSource(name, data=csv.encode()))
        st.switch_page("app_pages/refine.py")
