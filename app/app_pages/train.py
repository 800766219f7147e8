"""Train and check: short runs that test whether a schedule really helps, over several seeds."""

import charts
import numpy as np
import pandas as pd
import streamlit as st
import ui

from lrcore import REGISTRY, refine
from lrcore.export import log_to_csv
from lrcore.train import RunConfig, compare
from lrcore.train.config import OPTIMIZERS, TASKS
from lrcore.train.experiments import refined_from_linear
from lrcore.train.loop import resolve_device

REFINED_LOG = "refined (from the log on 'Refine a log')"
REFINED_RUN = "refined (from a linear run first)"

st.title("Train and check")
st.caption(
    "Run small, fast problems (logistic regression is convex, so the theory applies) with several "
    "schedules and seeds, each at the same peak lr or at its best on a grid."
)

task = st.segmented_control(
    "Task",
    list(TASKS),
    default="logreg",
    key="tr_task",
    format_func={"logreg": "Logistic regression (convex)", "cnn": "Small CNN"}.get,
)
task = task or "logreg"
with st.form("train_form"):
    c1, c2, c3, c4 = st.columns(4)
    dataset = c2.selectbox("Dataset", list(TASKS[task]), key=f"tr_dataset_{task}")
    c1.markdown(
        f"**{'Logistic regression' if task == 'logreg' else 'Small CNN'}**  \n"
        f"{'multinomial, zero init' if task == 'logreg' else '2 conv layers, 8x8 images'}"
    )
    optimizer = c3.selectbox("Optimizer", list(OPTIMIZERS), key="tr_opt")
    steps = int(c4.number_input("Steps", 10, 100_000, 1000, key="tr_steps"))
    c5, c6, c7, c8 = st.columns(4)
    n_seeds = int(c5.number_input("Seeds", 1, 10, 3, key="tr_seeds"))
    peaks_text = c6.text_input(
        "Peak lr (or a grid: 0.1, 0.5, 2)", "0.5" if optimizer == "sgd" else "0.003", key="tr_peaks"
    )
    batch = int(c7.number_input("Batch size", 1, 4096, 32, key="tr_batch"))
    wd = c8.number_input("Weight decay", 0.0, 1.0, 0.0, format="%g", key="tr_wd")
    schedule_names = [*REGISTRY, REFINED_RUN, REFINED_LOG]
    chosen = st.multiselect(
        "Schedules",
        schedule_names,
        default=["linear", "cosine", REFINED_RUN],
        format_func=lambda n: REGISTRY[n].label if n in REGISTRY else n,
        key="tr_sched",
    )
    start = st.form_submit_button("Start", type="primary")

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
    return peaks


if start:
    try:
        if dataset not in TASKS[task]:
            raise ValueError(
                f"dataset {dataset!r} is not available for {task}; pick one of {list(TASKS[task])}"
            )
        if not chosen:
            raise ValueError("pick at least one schedule")
        peaks = parse_peaks(peaks_text)
        cfg = RunConfig(
            task=task,
            dataset=dataset,
            optimizer=optimizer,
            steps=steps,
            batch_size=batch,
            peak_lr=peaks[0],
            weight_decay=float(wd),
            eval_every=max(1, steps // 50),
        )
        seeds = list(range(n_seeds))
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
        live: list[tuple[int, float]] = []

        def on_step(p):
            progress.progress(
                p.fraction,
                text=f"{phase}: step {p.step:,}/{p.total_steps:,} · "
                f"mean loss {p.loss:.4g} · {p.device}",
            )
            live.append((p.step, p.loss))
            if p.step == p.total_steps or len(live) % 20 == 0:
                x, y = np.array(live).T
                live_slot.plotly_chart(
                    charts.line_figure(
                        [charts.Curve("mean minibatch loss", x, y)],
                        f"Live: {phase}",
                        "step",
                        "loss",
                        log_y=True,
                        height=260,
                    ),
                    key=f"live_{phase}_{len(live)}",
                )

        schedules = {}
        for name in chosen:
            if name == REFINED_RUN:
                phase = "linear run for refinement"
                live.clear()
                schedules["refined"], _ = refined_from_linear(cfg, seeds, tau=0.1, on_step=on_step)
            elif name == REFINED_LOG:
                logs = st.session_state.get("refine_logs")
                if not logs:
                    raise ValueError("no log is loaded on 'Refine a log'")
                log = logs[0]
                schedules[f"refined ({log.source})"] = refine(
                    log.grad_norms, 0.1, log.suggested_optimizer
                )
            else:
                schedules[name] = name
        phase = "comparison"
        live.clear()
        table, runs = compare(
            cfg, schedules, seeds=seeds, peak_lrs=peaks, on_step=on_step, return_runs=True
        )
        stop_slot.empty()
        first = next(iter(runs.values()))
        progress.progress(
            1.0, text=f"Done: {len(runs)} runs on {first.device} in {first.wall_time:.1f} s"
        )
        st.session_state["train_result"] = {"table": table, "runs": runs, "cfg": cfg}
    except ValueError as e:
        st.error(str(e))

result = st.session_state.get("train_result")
if result is None:
    st.info("Choose a problem and schedules, then press **Start**.")
    st.stop()

table, runs, cfg = result["table"], result["runs"], result["cfg"]
best = table[table.best]
st.subheader("Results (each schedule at its best peak lr)")
st.caption(
    f"{cfg.task} on {cfg.dataset}, {cfg.optimizer}, {cfg.steps:,} steps, "
    f"{int(table.n_seeds.max())} seeds; mean ± standard error over seeds; "
    f"device: {next(iter(runs.values())).device}."
)
shown = pd.DataFrame(
    {
        "schedule": best.schedule.astype(str),
        "peak lr": best.peak_lr,
        "final train loss": [
            f"{m:.4f} ± {s:.4f}"
            for m, s in zip(best.train_loss_mean, best.train_loss_sem, strict=True)
        ],
        "test loss": [
            f"{m:.4f} ± {s:.4f}"
            for m, s in zip(best.test_loss_mean, best.test_loss_sem, strict=True)
        ],
        "test accuracy": [
            f"{m:.2%} ± {s:.2%}"
            for m, s in zip(best.test_accuracy_mean, best.test_accuracy_sem, strict=True)
        ],
        "diverged": best.diverged,
    }
)
st.dataframe(shown, hide_index=True, key="train_table")
if table.diverged.sum():
    st.warning(
        f"{int(table.diverged.sum())} run(s) diverged (loss became nan or inf); their peak lr is never "
        "picked as best."
    )
with st.expander("Every peak lr"):
    st.dataframe(table, hide_index=True)

groups = []
for _, row in best.iterrows():
    chosen_runs = [
        r
        for (label, peak, _), r in runs.items()
        if label == row.schedule and peak == row.peak_lr and r.ok
    ]
    if not chosen_runs:
        continue
    stacked = pd.concat([r.evals.set_index("step").train_loss for r in chosen_runs], axis=1)
    sem = (
        stacked.std(axis=1, ddof=1) / np.sqrt(stacked.shape[1])
        if stacked.shape[1] > 1
        else 0 * stacked.iloc[:, 0]
    )
    groups.append(
        (
            str(row.schedule),
            stacked.index.to_numpy(),
            stacked.mean(axis=1).to_numpy(),
            sem.to_numpy(),
        )
    )
if groups:
    st.plotly_chart(
        charts.band_figure(
            groups, "Full training loss (mean ± s.e. over seeds)", "step", "train loss", log_y=True
        ),
        key="train_curves",
    )

linear_runs = [r for (label, _, _), r in runs.items() if label == "linear" and r.ok]
if linear_runs:
    run = min(linear_runs, key=lambda r: (r.config.seed, -r.config.peak_lr))
    kind = run.config.norm_type
    if st.button(f"Send the linear run's {kind} gradient norms to 'Refine a log'", key="send_log"):
        csv = log_to_csv(run.steps, run.grad_norms(), None).replace(
            "grad_norm", f"grad_norm_{kind}", 1
        )
        name = f"trained_{cfg.task}_{cfg.dataset}_{cfg.optimizer}_seed{run.config.seed}.csv"
        st.session_state["sent_logs"] = [ui.LogSource(name, data=csv.encode())]
        st.switch_page("app_pages/refine.py")
