"""Refine a log: gradient norms in, the schedule theory recommends for the next run out."""

import charts
import numpy as np
import streamlit as st
import ui

from lrcore import REGISTRY, build_schedule, compare_bounds, evaluate, stretch, summarize
from lrcore.export import to_csv, to_json, to_snippet
from lrcore.fit import fit_family

MAX_STEPS = 20_000_000  # 160 MB of lrs; beyond that the browser session would be the problem

st.title("Refine a gradient-norm log")
st.caption(
    "Give the gradient norms of a run you already did; get the learning-rate schedule that "
    "the last-iterate theory recommends for the next run of the same problem "
    "(Defazio et al., arXiv:2310.07831)."
)

# ----------------------------------------------------------------------------- inputs
col_up, col_sample = st.columns([3, 2])
uploads = col_up.file_uploader(
    "Upload gradient-norm logs (CSV, W&B, TensorBoard, trainer_state.json, "
    "Lightning, MLflow, JSON lines)",
    accept_multiple_files=True,
    key="refine_uploads",
)
samples = [ui.NONE, *ui.sample_names()]
sample = col_sample.selectbox(
    "…or a sample run",
    samples,
    index=samples.index("logreg_digits_sgd.csv"),
    key="refine_sample",
    disabled=bool(uploads),
    help="Logs made by this project's own runs (see sample_runs/README.md). "
    "Uploaded files take the sample's place.",
)
sources = [ui.LogSource(f.name, data=f.getvalue()) for f in uploads or []]
sent = st.session_state.get("sent_logs", [])
if sent:
    st.info(
        "Including the gradient norms sent from 'Train and check': "
        + ", ".join(s.name for s in sent)
    )
    if st.button("Remove the sent log", key="clear_sent"):
        st.session_state["sent_logs"] = sent = []
if not sources and not sent and sample != ui.NONE:
    sources = [ui.sample_source(sample)]
sources += sent

logs, errors = ui.load_sources(sources, "refine")
for msg in errors:
    st.error(msg)
if logs:
    st.session_state["refine_logs"] = logs
elif st.session_state.get("refine_logs"):
    logs = st.session_state["refine_logs"]  # a bad file never wipes what was on screen
    st.warning("Still showing the last log that loaded: " + ", ".join(log.source for log in logs))
else:
    st.info("Upload a gradient-norm log or pick a sample run to start.")
    st.stop()

primary = logs[0]
with st.sidebar:
    st.header("Refinement")
    tau = st.slider(
        "Smoothing τ (median width, fraction of the run)", 0.0, 0.5, 0.1, 0.01, key="tau"
    )
    variant = st.radio(
        "Optimizer family",
        ["sgd", "adam"],
        horizontal=True,
        index=0 if primary.suggested_optimizer == "sgd" else 1,
        format_func={"sgd": "SGD (l2 norms)", "adam": "Adam (l1 norms)"}.get,
        key=f"variant:{primary.source}:{primary.metric}",
        help="Pre-selected from the metric name: names with 'l1' are Adam-style norms.",
    )
    span = int(primary.steps[-1] - primary.steps[0] + 1)
    steps = int(
        st.number_input(
            "Steps of the next run",
            2,
            MAX_STEPS,
            min(span, MAX_STEPS),
            key=f"steps:{primary.source}",
            help=f"Up to {MAX_STEPS:,}: the schedule holds one lr per step.",
        )
    )
    peak_lr = st.number_input("Peak learning rate", 1e-8, 1e3, 0.1, format="%g", key="peak_lr")
    warmup_pct = st.number_input(
        "Warm-up for linear and cosine (% of run)", 0.0, 50.0, 0.0, 1.0, key="warmup_pct"
    )
    extras = st.multiselect(
        "Also show",
        [n for n in REGISTRY if n not in ("linear", "cosine")],
        format_func=lambda n: REGISTRY[n].label,
        key="extras",
    )
    log_y = st.toggle("Log-scale y axes", key="log_y")
    as_pct = st.radio("x axis", ["step", "% of training"], horizontal=True, key="x_axis") != "step"

x_title = "% of training" if as_pct else "step"

# ----------------------------------------------------------------------------- compute
results = []
for log in logs:
    smooth, shape = ui.cached_refine(log.grad_norms, tau, variant)
    results.append((log, smooth, shape, stretch(shape, steps, steps=log.steps)))

warmup_steps = min(int(round(warmup_pct / 100 * steps)), steps - 1)
baselines = {
    name: evaluate(build_schedule(name, steps, warmup_steps=warmup_steps), steps)
    for name in ("linear", "cosine", *extras)
}

# ----------------------------------------------------------------------------- charts
norm_traces = [
    (
        log.source if len(logs) > 1 else log.metric,
        ui.x_axis(log.steps, as_pct),
        log.grad_norms,
        smooth,
    )
    for log, smooth, _, _ in results
]
st.plotly_chart(charts.norms_figure(norm_traces, x_title, log_y), key="norms_chart")

next_x = ui.x_axis(np.arange(steps), as_pct)
curves = [
    charts.Curve(
        f"refined: {log.source}" if len(logs) > 1 else "refined",
        next_x,
        peak_lr * values,
        color=charts.PALETTE[i % len(charts.PALETTE)],
        width=3,
    )
    for i, (log, _, _, values) in enumerate(results)
]
curves += [
    charts.Curve(
        REGISTRY[n].label,
        next_x,
        peak_lr * v,
        dash=charts.BASELINE_STYLE.get(n, "dashdot"),
        color="#6b7280" if n in ("linear", "cosine") else None,
        width=2,
    )
    for n, v in baselines.items()
]
st.plotly_chart(charts.schedules_figure(curves, x_title, log_y), key="schedule_chart")

for log in logs:
    st.caption(
        f"**{log.source}** · {log.fmt} · metric `{log.metric}` ({log.norm_type}) · "
        f"{len(log):,} points · {log.report.describe()}"
    )

# ----------------------------------------------------------------------------- numbers
log, smooth, shape, values = results[0]
summary = summarize(values)
fit = fit_family(values, "best")
c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Implied warm-up", ui.fmt_pct(summary.warmup_fraction), help="Where the refined schedule peaks."
)
c2.metric(
    "Halves at",
    ui.fmt_pct(summary.half_fraction),
    help="First point after the peak at half the peak lr.",
)
c3.metric("Mean lr / peak", f"{summary.mean:.2f}")
c4.metric("Family fit R²", f"{fit.r2:.3f}")
st.markdown(f"**As a plain config:** {fit.describe()}.")

n = len(log)
shapes = {
    "refined": shape,
    "linear": evaluate(build_schedule("linear", n), n),
    "cosine": evaluate(build_schedule("cosine", n), n),
    "constant": np.ones(n),
    **{e: evaluate(build_schedule(e, n), n) for e in extras},
}
want_opt = st.toggle(
    "Also minimise the bound numerically (L-BFGS-B over every step; a few seconds)",
    key="want_opt",
    disabled=n > 5_000,
    help="Available up to 5,000 logged points." if n > 5_000 else None,
)
if want_opt and n <= 5_000:
    shapes["numerical optimum"] = ui.cached_optimal(log.grad_norms)
table = compare_bounds(shapes, log.grad_norms).rename(
    columns={
        "bound": "bound at best scale",
        "best_peak_lr": "best peak scale c*",
        "vs_linear": "vs linear",
    }
)
best = table.loc[table.schedule != "numerical optimum", "bound at best scale"].idxmin()
st.subheader("What the bound prefers for this log")
st.caption(
    "Last-iterate bound (refinement.md §3) of each shape at its best peak scale, with the "
    f"logged norms and D = 1. Lower is better; the theory prefers **{table.schedule[best]}**."
)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "bound at best scale": st.column_config.NumberColumn(format="%.4g"),
        "best peak scale c*": st.column_config.NumberColumn(format="%.4g"),
        "vs linear": st.column_config.NumberColumn(format="%.3f×"),
    },
)

# ----------------------------------------------------------------------------- downloads
st.subheader("Take it to your training code")
if len(logs) > 1:
    st.caption(f"Numbers above and downloads below are for the first log, **{log.source}**.")
stem = log.source.rsplit(".", 1)[0]
what = f"refined from {log.source} ({variant}, tau={tau})"
d1, d2, d3, d4 = st.columns(4)
lazy = len(values) > ui.LAZY_DOWNLOAD_STEPS
ui.download(
    d1,
    "Schedule as CSV",
    lambda: to_csv(values, peak_lr=peak_lr),
    f"{stem}_refined.csv",
    "text/csv",
    "dl_csv",
    lazy,
)
ui.download(
    d2,
    "Schedule as JSON",
    lambda: to_json(values, peak_lr=peak_lr, source=log.source, tau=tau, optimizer=variant),
    f"{stem}_refined.json",
    "application/json",
    "dl_json",
    lazy,
)
torch_code = to_snippet(values, flavour="torch", what=what)
hf_code = to_snippet(values, flavour="hf", what=what)
ui.download(
    d3,
    "torch LambdaLR snippet",
    lambda: torch_code,
    f"{stem}_lr_schedule.py",
    "text/x-python",
    "dl_torch",
    False,
)
ui.download(
    d4,
    "Hugging Face snippet",
    lambda: hf_code,
    f"{stem}_hf_schedule.py",
    "text/x-python",
    "dl_hf",
    False,
)
with st.expander("Show the torch snippet"):
    st.code(
        torch_code
        if len(torch_code) < 20_000
        else torch_code[:20_000] + "\n# … (download for the rest)",
        language="python",
    )
