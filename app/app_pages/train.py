"""Train and check: short runs that test whether a schedule really helps, over several seeds."""

import time

import charts
import numpy as np
import pandas as pd
import presets
import streamlit as st
import ui
import words

from lrcore import REGISTRY, refine
from lrcore.export import log_to_csv
from lrcore.train import RunConfig, compare
from lrcore.train.config import CONVEX_TASKS, NOISES, OPTIMIZERS, TASKS
from lrcore.train.experiments import best_rows, own_norm_bounds
from lrcore.train.loop import resolve_device

TASK_LABELS = {
    "logreg": "Logistic regression (convex)",
    "svm": "Hinge loss, linear SVM (convex, non-smooth)",
    "cnn": "Small CNN (not convex)",
}
TASK_NOTES = {
    "logreg": "multinomial, zero init; scored by cross-entropy + L2",
    "svm": "multiclass hinge; the theory's loss class",
    "cnn": "2 conv layers, 8x8 images; outside the theory",
}
NOISE_LABELS = {
    "none": "none",
    "flat": "flat (same size all run)",
    "rise": "rises late (x1 → x5 in the second half)",
    "fall": "falls early (x5 → x1 by 30%)",
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
task = c0.segmented_control("Task", list(TASKS), key="tr_task", format_func=TASK_LABELS.get)
task = task or "logreg"
optimizer = c1.selectbox("Optimizer", list(OPTIMIZERS), key="tr_opt")
presets.init_form(task, optimizer)

c2, c3, c4, c5 = st.columns(4)
dataset = c2.selectbox("Dataset", list(TASKS[task]), key=f"tr_dataset_{task}")
steps = int(c3.number_input("Steps", 10, 100_000, key=f"tr_steps_{task}"))
n_seeds = int(c4.number_input("Seeds", 1, 10, key="tr_seeds"))
peaks_text = c5.text_input(
    "Peak lrs to try (a grid)",
    key=presets.peaks_key(task, optimizer),
    help="Comma-separated; the grid is extended by factors of 2 when a schedule's best sits "
    f"on its edge. Default for {TASK_LABELS[task].split(' (')[0].lower()} with {optimizer}: "
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
    "outside the schedule, the textbook case for refinement.",
)
noise_scale = c9.number_input(
    "Noise size", 0.0, 100.0, format="%g", key="tr_noise_scale", disabled=noise == "none"
)
st.caption(f"**{TASK_LABELS[task]}**: {TASK_NOTES[task]}.")
schedule_names = [*REGISTRY, presets.REFINED_RUN, presets.REFINED_LOG]
chosen = st.multiselect(
    "Schedules",
    schedule_names,
    format_func=lambda n: REGISTRY[n].label if n in REGISTRY else n,
    key="tr_sched",
)
start = st.button("Start", type="primary", key="tr_start")

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
    if not peaks or any(not np.isfinite(p) or p <= 0 for p in peaks):
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
        schedules = {}
        for name in chosen:
            if name == presets.REFINED_RUN:  # compare tunes linear first and refines from it
                schedules["refined"] = "refined"
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
        n_sched = len(schedules) + ("refined" in schedules and "linear" not in schedules)
        clock = Clock(n_sched * len(peaks) * n_seeds * steps)
        stop_slot = st.empty()
        stop_slot.button(
            "Stop",
            key="tr_stop",
            icon=":material/stop:",
            on_click=lambda: st.session_state.update(train_stopped=True),
            help="Stops the runs (the page reloads; earlier results stay).",
        )
        progress = st.progress(0.0, text="Starting…")
        live_slot = st.empty()
        live: dict[str, list[tuple[int, float]]] = {}

        def on_step(p):
            clock.update(p)
            label = f"batch {clock.batch} ({p.total_runs} runs)"
            progress.progress(
                p.fraction,
                text=f"{label}: step {p.step:,}/{p.total_steps:,} · mean loss {p.loss:.3g} · "
                + clock.text(),
            )
            points = live.setdefault(label, [])
            points.append((p.step, p.loss))
            if p.fraction >= 1 or len(points) % 20 == 0:
                fig = charts.line_figure(
                    [charts.Curve(name, *np.array(v).T) for name, v in live.items() if v],
                    "Live: mean minibatch loss of the runs in progress",
                    "step",
                    "loss",
                    log_y=True,
                )
                fig.update_layout(showlegend=True)
                live_slot.plotly_chart(fig, key=f"live_{clock.batch}_{len(points)}")

        table, runs = compare(
            cfg, schedules, seeds=seeds, peak_lrs=peaks, on_step=on_step, return_runs=True
        )
        stop_slot.empty()
        live_slot.empty()  # the results below replace it
        progress.progress(
            1.0,
            text=f"Done: {len(runs)} runs in {clock.batch} batches on "
            f"{next(iter(runs.values())).device}, {clock.elapsed:.0f} s in all",
        )
        st.session_state["train_result"] = {"table": table, "runs": runs, "cfg": cfg}
    except ValueError as e:
        st.error(str(e))

result = st.session_state.get("train_result")
if result is None:
    st.info("Choose a problem and schedules, then press **Start**.")
    st.stop()

table, runs, cfg = result["table"], result["runs"], result["cfg"]
convex = cfg.task in CONVEX_TASKS
score = "suboptimality" if convex else "objective"
best = best_rows(table).reset_index(drop=True)
learned = best.learned.astype(bool)
st.subheader(
    f"Results: each schedule at its best peak lr by {score}"
    if learned.any()
    else "Results: no schedule learned at any peak lr tried"
)
st.caption(
    f"{TASK_LABELS[cfg.task]} on {cfg.dataset}, {cfg.optimizer}, {cfg.steps:,} steps, "
    f"noise {cfg.noise}{f' × {cfg.noise_scale:g}' if cfg.noise != 'none' else ''}, "
    f"{int(table.n_seeds.max())} seeds; mean ± standard error over seeds. "
    + (
        "Suboptimality = objective (loss + L2 term, full training set, last iterate) minus its "
        "minimum f* from a float64 solver."
        if convex
        else "The objective is the full training loss + L2 term at the last iterate."
    )
)
shown = {
    "schedule": best.schedule.astype(str),
    "peak lr": [f"{v:.3g}" for v in best.peak_lr],
    "best at grid edge": np.where(best.at_grid_edge, "yes", ""),
}
if convex:
    shown["suboptimality"] = [
        words.fmt_pm(m, s)
        for m, s in zip(best.suboptimality_mean, best.suboptimality_sem, strict=True)
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
        f"{v:.2f}×" if np.isfinite(v) else "" for v in own_norm_bounds(best, runs)
    ]
shown["diverged"] = best.diverged.astype(int)
shown["learned"] = np.where(learned, "yes", "no")
st.dataframe(pd.DataFrame(shown), hide_index=True, key="train_table")

if (~learned).any():
    parts = [
        f"**{r.schedule}** (peak lr {r.peak_lr:.3g}, test accuracy {r.test_accuracy_mean:.1%})"
        for r in best[~learned].itertuples()
    ]
    st.warning(
        "Did not learn: " + "; ".join(parts) + ": the objective ended higher than it started "
        "in at least one seed, even at the best peak lr tried. The peak lr is probably far off "
        f"for {cfg.optimizer}: try its default grid "
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
    st.dataframe(table, hide_index=True)


def curves_of(row) -> tuple[str, np.ndarray, np.ndarray, np.ndarray] | None:
    chosen_runs = [
        r
        for (label, peak, _), r in runs.items()
        if label == row.schedule and peak == row.peak_lr and r.ok
    ]
    if not chosen_runs:
        return None
    column = "objective"
    stacked = pd.concat([r.evals.set_index("step")[column] for r in chosen_runs], axis=1)
    if convex:
        stacked = stacked - np.array([r.final["f_star"] for r in chosen_runs])
    sem = (
        stacked.std(axis=1, ddof=1) / np.sqrt(stacked.shape[1])
        if stacked.shape[1] > 1
        else 0 * stacked.iloc[:, 0]
    )
    return (str(row.schedule), stacked.index.to_numpy(), stacked.mean(axis=1).to_numpy(), sem)


groups = [g for g in (curves_of(row) for row in best.itertuples()) if g is not None]
if groups:
    st.plotly_chart(
        charts.band_figure(
            [(n, x, m, np.asarray(s)) for n, x, m, s in groups],
            f"{'Suboptimality' if convex else 'Objective'} over training",
            "step",
            "objective − f*" if convex else "objective",
            log_y=True,
            max_decades=12,  # the curves end where they end: do not cut the tail off
        ),
        key="train_curves",
    )
    st.caption(
        "Each schedule at its best peak lr: mean over seeds (line) ± standard error (band), "
        "full training set, log scale."
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
        st.session_state["sent_logs"] = [ui.LogSource(name, data=csv.encode())]
        st.switch_page("app_pages/refine.py")
