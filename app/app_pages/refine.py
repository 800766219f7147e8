"""Refine a log: gradient norms in, the schedule theory recommends for the next run out."""

import charts
import numpy as np
import streamlit as st
import ui

from lrcore import REGISTRY, build_schedule, stretch
from lrcore._text import for_markdown as md
from lrcore.export import csv_bytes, json_bytes

MAX_STEPS = ui.MAX_STEPS
RULES = {"sgd": "SGD rule (l2 norms)", "adam": "Adam rule (l1 norms)"}

st.title("Refine a gradient-norm log")
st.caption(
    "Give the gradient norms of a run you already did; get the learning-rate schedule that "
    "the last-iterate theory recommends for the next run of the same problem "
    "(Defazio et al., arXiv:2310.07831)."
)
st.page_link(
    "app_pages/learn.py",
    label="The bound behind it and its notation: the Learn page",
    icon=":material/menu_book:",
)

# ----------------------------------------------------------------------------- inputs
sent = st.session_state.get("sent_logs", [])
sent_names = {f"sent from 'Train and check': {s.name}": s for s in sent}
samples = [ui.NONE, *sent_names, *ui.sample_names()]
if sent and st.session_state.get("_sent_seen") != [s.key for s in sent]:
    # a log just sent from training is what the picker shows (banner and picker agree)
    st.session_state["_sent_seen"] = [s.key for s in sent]
    st.session_state["refine_sample"] = next(iter(sent_names))
if st.session_state.get("refine_sample") not in (None, *samples):
    st.session_state["refine_sample"] = ui.NONE  # a sent log that was removed


col_up, col_sample = st.columns([3, 2])
uploads = col_up.file_uploader(
    "Upload gradient-norm logs (CSV, W&B, TensorBoard, trainer_state.json, "
    "Lightning, MLflow, JSON lines)",
    accept_multiple_files=True,
    key="refine_uploads",
)
if uploads or st.session_state.get("refine_kept"):
    st.session_state["refine_sample"] = ui.NONE  # the picker shows what is in use: the uploads
st.session_state.setdefault("refine_sample", "logreg_digits_sgd.csv")  # the first visit
sample = col_sample.selectbox(
    "…or a sample run",
    samples,
    key="refine_sample",
    disabled=bool(uploads or st.session_state.get("refine_kept")),
    help="Logs made by this project's own runs, or one sent from 'Train and check'. "
    "Uploaded files take the sample's place; '(none)' clears the page.",
)

with st.expander("How do I get gradient norms?"):
    st.markdown(ui.GRAD_NORM_RECIPES)

kept, restored = ui.kept_uploads("refine_kept", uploads, "Refine a log")
del uploads  # Streamlit's copy of the bytes: read already, not held past this line
if restored:
    st.info("Showing your upload " + ", ".join(f"**{md(s.name)}**" for s in kept))
    st.button("clear", key="clear_kept", on_click=ui.forget_uploads, args=("refine_kept",))
if kept:
    sources = kept
elif sample in sent_names:
    sources = [sent_names[sample]]
    st.info(f"Showing the gradient norms sent from 'Train and check': {md(sources[0].name)}")
    st.button("Remove the sent log", key="clear_sent", on_click=ui.remove_sent_logs)
elif sample != ui.NONE:
    sources = [ui.sample_source(sample)]
else:
    sources = []

if not sources:
    ui.drop("refine_results")
    ui.drop("refine_logs")
    st.info("Upload a gradient-norm log or pick a sample run to start.")
    st.stop()

logs, errors = ui.load_sources(sources, "refine")
for msg in errors:
    st.error(md(msg))

# ----------------------------------------------------------------------------- settings
with st.sidebar:
    st.header("Refinement")
    for k, v in (("tau", 0.1), ("peak_lr", 0.1), ("warmup_pct", 0.0)):
        ui.widget_default(k, v)
    tau = st.slider(
        "Smoothing τ (median width, fraction of the run)", 0.0, 0.5, step=0.01, key="tau"
    )
    peak_lr = st.number_input("Peak learning rate", 1e-8, 1e3, format="%g", key="peak_lr")
    warmup_pct = st.number_input(
        "Warm-up for linear and cosine (% of run)", 0.0, 50.0, step=1.0, key="warmup_pct"
    )
    extras = st.multiselect(
        "Also show",
        [n for n in REGISTRY if n not in ("linear", "cosine")],
        format_func=ui.schedule_label,
        key="extras",
    )
    lengths_differ = len({int(log.steps[-1] - log.steps[0]) for log in logs}) > 1
    x_key = f"x_axis:{lengths_differ}"  # logs of different lengths: % of training first
    ui.widget_default(x_key, "% of training" if lengths_differ else "step")
    as_pct = st.radio("x axis", ["step", "% of training"], horizontal=True, key=x_key) != "step"
    want_opt = st.toggle(
        "Also minimise the bound numerically",
        key="want_opt",
        disabled=max((len(log) for log in logs), default=0) > ui.OPTIMUM_POINTS,
        help=f"L-BFGS-B over every logged point (a few seconds), up to "
        f"{ui.OPTIMUM_POINTS:,} logged points; drawn as 'numerical optimum'.",
    )

results, failed = [], []
for log in logs:
    # one error path per log: its settings, refinement, bounds and fit
    try:
        lkey = ui.widget_id(log)  # settings kept when the same file is uploaded again
        length, assumed = ui.run_length(log.steps)
        box = st.sidebar.container(border=len(logs) > 1)
        if len(logs) > 1:
            box.markdown(f"**{md(log.source)}** · {md(log.metric)}")
        ui.widget_default(f"variant:{lkey}", log.suggested_optimizer)
        optimizer = box.radio(
            "Refinement rule",
            list(RULES),
            format_func=RULES.get,
            key=f"variant:{lkey}",
            help=f"Pre-selected from the metric name `{log.metric}`: names with 'l1' are "
            "Adam-style norms (Adam rule), others l2 norms (SGD rule).",
        )
        capped = min(length, MAX_STEPS)
        ui.widget_default(f"steps:{lkey}", capped)
        steps = int(
            box.number_input(
                "Steps of the next run",
                2,
                MAX_STEPS,
                key=f"steps:{lkey}",
                help=f"Up to {MAX_STEPS:,}: the schedule holds one lr per step.",
            )
        )
        note = f"Default {capped:,}: {assumed}"
        box.caption(note + (f" (capped at {MAX_STEPS:,})." if capped < length else "."))
        if steps < ui.FEW_STEPS:
            st.warning(
                f"**{md(log.source)}**: a next run of {steps:,} steps is very short; a schedule "
                f"over so few steps says little (the theory is about runs of many steps)."
            )
        if steps < len(log) / 2:
            st.warning(
                f"**{md(log.source)}**: the next run has {steps:,} steps, far fewer than the "
                f"{len(log):,} logged points; the refined schedule is drawn for those "
                f"{steps:,} steps (each step takes the lr of the logged run at the same "
                "fraction of training)."
            )
        results.append(ui.analyse(log, tau, optimizer, steps, extras, want_opt))
    except Exception as e:  # noqa: BLE001 - a message, never a traceback
        failed.append(log.source)
        st.error(f"Could not refine **{md(log.source)}**: {md(ui.error_text(e))}")

if results and not failed:
    st.session_state["refine_results"] = results
    st.session_state["refine_logs"] = [r.log for r in results]
elif st.session_state.get("refine_results") and (errors or failed):
    results = st.session_state["refine_results"]  # a bad file never wipes what was on screen
    st.warning(
        "Still showing the last log that loaded: " + ", ".join(md(r.log.source) for r in results)
    )
if not results:
    st.info("Upload a gradient-norm log or pick a sample run to start.")
    st.stop()

# ----------------------------------------------------------------------------- charts
st.caption(
    "Settings (smoothing τ, peak lr, each log's rule and next-run steps) are in the sidebar: "
    "on a phone, open it with the arrow at the top left."
)
x_title = "% of training" if as_pct else "step"
many = len(results) > 1
stats = [ui.norm_stats(r.log, median=many) for r in results]  # (median, min, max), once per log
scale = ui.median_scale([m for m, _, _ in stats]) if many else 1.0
norm_key = f"normalise:{len(results)}:{scale > 10}"
ui.widget_default(norm_key, scale > 10)
normalise = many and st.toggle(
    "Show each log's norms divided by its median",
    key=norm_key,
    help="Logs whose norms differ by more than 10x (l1 and l2 norms, say) are drawn relative "
    "to their own median so that every curve stays readable.",
)
divisors = [m if normalise else 1.0 for m, _, _ in stats]
span = ui.norm_span([(lo / d, hi / d) for (_, lo, hi), d in zip(stats, divisors, strict=True)])
wide = span > ui.LOG_Y_SPAN
ui.widget_default(f"log_y:{wide}", wide)
c_norms, c_sched = st.columns(2)
log_y = c_norms.toggle(
    "Log-scale y axis: norms",
    key=f"log_y:{wide}",
    help=f"On by default when the norms span more than {ui.LOG_Y_SPAN}x (here {span:,.0f}x).",
)
log_y_sched = c_sched.toggle("Log-scale y axis: schedules", key="log_y_sched")
norm_traces = []
for r, div in zip(results, divisors, strict=True):
    x_raw, y_raw = ui.raw_trace(r.log, as_pct, normalise)
    norm_traces.append(
        (
            r.log.source if many else r.log.metric,
            x_raw,
            y_raw,
            r.smooth / div,
            ui.x_axis(r.computed_steps, as_pct),
        )
    )
fig = charts.title_under_toolbar(charts.norms_figure(norm_traces, x_title, log_y))
if normalise:
    fig.update_layout(yaxis_title="gradient norm / its median")
st.plotly_chart(fig, key="norms_chart", config=charts.CONFIG)
if many and scale > 10:
    st.caption(
        f"The logs' median norms differ by {scale:,.0f}x, so each is shown relative to its "
        "own median (switch above)."
    )

curves = []
for i, r in enumerate(results):
    pos, y = r.positions, r.shape
    if r.steps < len(pos):  # a next run shorter than the log: its own steps
        pos = np.arange(r.steps, dtype=np.float64)
        y = stretch(r.shape, r.steps, steps=r.computed_steps)
    x = 100.0 * pos / max(r.steps - 1, 1) if as_pct else pos
    curves.append(
        charts.Curve(
            f"refined: {r.log.source}" if many else "refined",
            x,
            peak_lr * y,
            color=charts.LOG_COLOURS[i % len(charts.LOG_COLOURS)],
            width=3,
        )
    )
    if r.optimum is not None and r.steps >= len(r.positions):
        curves.append(
            charts.Curve(
                f"numerical optimum: {r.log.source}" if many else "numerical optimum",
                x,
                peak_lr * r.optimum / r.optimum.max(),
                color=charts.COLOURS["numerical optimum"],
                width=1.5,
            )
        )
first = results[0]
grid = ui.display_steps(first.steps)
gx = 100.0 * grid / max(first.steps - 1, 1) if as_pct else grid
warmup_steps = min(int(round(warmup_pct / 100 * first.steps)), first.steps - 1)
for name in ("linear", "cosine", *extras):
    sched = build_schedule(name, first.steps, peak_lr=peak_lr, warmup_steps=warmup_steps)
    curves.append(
        charts.Curve(
            REGISTRY[name].label,
            gx,
            np.asarray(sched(grid), dtype=np.float64),
            dash=charts.BASELINE_STYLE.get(name, "solid"),
            color=charts.colour_for(name),
            width=2,
        )
    )
st.plotly_chart(
    charts.integer_ticks(
        charts.title_under_toolbar(charts.schedules_figure(curves, x_title, log_y_sched)),
        first.steps if not as_pct else 10**9,
    ),
    key="schedule_chart",
    config=charts.CONFIG,
)
st.caption(
    "The bumps in a refined curve come from the noise left in the norms after the running "
    f"median (τ = {tau:g} of the run); a larger τ smooths them."
)
if many and len({r.steps for r in results}) > 1:
    st.caption(
        f"Linear and cosine are drawn for {first.steps:,} steps (the first log's next run); "
        "each refined curve spans its own next run."
    )

for r in results:
    st.caption(
        f"**{md(r.log.source)}** · {r.log.fmt} · metric {md(r.log.metric)} ({r.log.norm_type}) · "
        f"{len(r.log):,} points · {md(r.log.report.describe())} · {RULES[r.optimizer]}"
    )
    if r.sampled:
        st.caption(
            f"This page computes on {len(r.computed_steps):,} evenly spaced points of the "
            f"{len(r.log):,} in **{md(r.log.source)}** (their steps kept), as `lrcore inspect` "
            "does, so that it redraws quickly: the curves and numbers below come from them. "
            "The downloads, the snippets and `lrcore refine` use every point; their schedule "
            "can peak a little elsewhere when its top is flat."
        )

# ----------------------------------------------------------------------------- per log


def show_numbers(r: ui.Analysis, peak_lr: float, many: bool) -> None:
    """Summary, plain config (only when it fits), warnings, bound table and downloads."""
    s, fit = r.summary, r.fit
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Implied warm-up",
        ui.fmt_pct(s.warmup_fraction),
        help="Where the refined schedule peaks, as a fraction of the next run.",
    )
    c2.metric(
        "Halves at",
        ui.fmt_pct(s.half_fraction),
        help="First point after the peak at half the peak lr.",
    )
    c3.metric("Mean lr / peak", f"{s.mean:.2f}")
    c4.metric(
        "Family fit R²",
        f"{fit.r2:.3f}",
        help="How well the best standard family (warm-up + polynomial, or WSD) matches the "
        "refined curve: 1 is a perfect match; 0 or less is no better than a flat line.",
    )
    for w in r.warnings:
        st.warning(w)
    if fit.r2 < ui.LOW_R2:
        st.markdown(
            f"**No plain config matches this schedule**: the best standard family fits with "
            f"R² = {fit.r2:.3f} (below {ui.LOW_R2}). Use the refined schedule itself "
            "(downloads below) rather than a warm-up + decay config."
        )
    else:
        st.markdown(f"**As a plain config:** {ui.describe_fit(fit)}.")
        st.caption(ui.P_DEFINITION)
        fit_w = fit.params["warmup_fraction"]
        if abs(fit_w - s.warmup_fraction) > 0.02:
            grid = stretch(r.shape, min(r.steps, ui.GRID_POINTS), steps=r.computed_steps)
            half, near = (
                float(np.argmax(grid >= q * grid.max())) / (len(grid) - 1) for q in (0.5, 0.9)
            )
            st.caption(
                f"Why the warm-ups differ: the refined lr peaks at {ui.fmt_pct(s.warmup_fraction)} "
                f"of the run, but it rises along a curve (half its peak at {ui.fmt_pct(half)}, "
                f"90% at {ui.fmt_pct(near)}) and a config's warm-up is a straight ramp: "
                f"{ui.fmt_pct(fit_w)} is the ramp that, with the decay after it, matches the "
                "whole curve best."
            )
        elif ui.fmt_pct(fit_w) != ui.fmt_pct(s.warmup_fraction):
            st.caption(
                f"Implied warm-up {ui.fmt_pct(s.warmup_fraction)} is where the refined lr "
                f"peaks; the config's {ui.fmt_pct(fit_w)} is the straight ramp that, with the "
                "decay after it, fits the whole curve best: they differ by under 2 points."
            )

    table = r.table.rename(
        columns={
            "bound": "bound at best scale (D = 1)",
            "best_peak_lr": "best peak lr (D = 1)",
            "vs_linear": "vs linear",
        }
    )
    table = table[
        ["schedule", "vs linear", *[c for c in table.columns if c not in ("schedule", "vs linear")]]
    ]
    l1 = r.optimizer == "adam"
    st.subheader("What the bound says for this log")
    st.markdown(ui.bound_sentence(r))
    if r.optimum is not None:
        st.caption(ui.optimum_caption(r))
    if l1:
        st.caption(
            "**SGD bound applied to l1 norms: indicative only.** The last-iterate bound is "
            "proved for SGD with l2 norms; the Adam rule refines with l1 norms, and this "
            "table scores every shape with the SGD bound on them."
        )
    st.caption(
        "Each shape is scored by the last-iterate bound at its own best scale, with the logged "
        "norms and the distance to the solution D set to 1 (so the peak lrs are only "
        "comparable with each other). Lower is better."
    )
    st.page_link(
        "app_pages/learn.py", label="What the bound is: the Learn page", icon=":material/menu_book:"
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "bound at best scale (D = 1)": st.column_config.NumberColumn(format="%.4g"),
            "best peak lr (D = 1)": st.column_config.NumberColumn(format="%.4g"),
            "vs linear": st.column_config.NumberColumn(format="%.3f×"),
        },
    )

    st.subheader("Take it to your training code")
    stem = r.log.source.rsplit(".", 1)[0]
    what = f"refined from {r.log.source} ({r.optimizer}, tau={r.tau})"
    lazy = r.steps > ui.LAZY_DOWNLOAD_STEPS
    d1, d2, d3, d4 = st.columns(4)
    k = f"{r.key}:{r.steps}"
    ui.download(
        d1,
        "Schedule as CSV",
        lambda: csv_bytes(r.full_values(), peak_lr=peak_lr),
        f"{stem}_refined.csv",
        "text/csv",
        f"dl_csv:{k}" if many else "dl_csv",
        lazy,
    )
    ui.download(
        d2,
        "Schedule as JSON",
        lambda: json_bytes(
            r.full_values(), peak_lr=peak_lr, source=r.log.source, tau=r.tau, optimizer=r.optimizer
        ),
        f"{stem}_refined.json",
        "application/json",
        f"dl_json:{k}" if many else "dl_json",
        lazy,
    )

    def snippet(flavour: str) -> str:  # from every logged point, like the CSV and JSON
        shape, logged = r.full_shape()
        key = ui.log_key(r.log)
        return ui.cached_snippet(shape, logged, r.steps, flavour, what, key, r.optimizer)

    # long runs: the snippets' knots are found on click (a second at 10 million steps)
    ui.download(
        d3,
        "torch LambdaLR snippet",
        lambda: snippet("torch"),
        f"{stem}_lr_schedule.py",
        "text/x-python",
        f"dl_torch:{k}" if many else "dl_torch",
        lazy,
    )
    ui.download(
        d4,
        "Hugging Face snippet",
        lambda: snippet("hf"),
        f"{stem}_hf_schedule.py",
        "text/x-python",
        f"dl_hf:{k}" if many else "dl_hf",
        lazy,
    )
    box = st.expander("Show the torch snippet", key=f"show_torch:{k}", on_change="rerun")
    if box.open:  # built only when opened
        box.code(ui.elide_tables(snippet("torch")), language="python")
        box.caption("Long tables are shortened here; the download holds every value.")


tabs = st.tabs([md(r.log.source) for r in results]) if many else [st.container()]
for tab, r in zip(tabs, results, strict=True):
    with tab:
        try:
            show_numbers(r, peak_lr, many)
        except Exception as e:  # noqa: BLE001 - one error path: a message, never a traceback
            st.error(f"Could not finish the numbers for **{md(r.log.source)}**: {md(ui.error_text(e))}")
