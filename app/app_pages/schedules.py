"""Schedules: build any registry schedule (and the refined one), overlay them, compare their
bounds, export them."""

import cached
import charts
import numpy as np
import schedule_inputs
import sources
import state
import streamlit as st
import ui

from lrcore import REGISTRY, LogAnalysis
from lrcore._text import for_markdown as md
from lrcore.export import csv_rows, short
from lrcore.logs import GradNormLog

REFINED = "refined"
SAMPLE = "logreg_digits_sgd.csv"
REFINED_LOG = "the refined schedule's log"
LIN = REGISTRY["linear"].label
VS_LIN = f"vs {LIN}"  # the ratio column, named after the label its sentences use

st.title("Compare schedules")
st.caption(
    "Build schedules by name, overlay them, and see what the last-iterate bound says about "
    "each (the bound is explained on the Learn page)."
)

with st.sidebar:
    st.header("Run")
    state.widget_default("sch_total", 1000)
    state.widget_default("sch_peak", 0.1)
    total = int(st.number_input("Total steps", 2, 10**7, key="sch_total"))
    peak_lr = st.number_input("Peak learning rate", 1e-8, 1e3, format="%g", key="sch_peak")
    log_y = st.toggle("Log-scale y axis", key="sch_logy")

state.widget_default("sch_chosen", [REFINED, "linear", "cosine", "wsd"])
chosen = st.multiselect(
    "Schedules",
    [REFINED, *REGISTRY],
    format_func=ui.schedule_label,
    key="sch_chosen",
)
if not chosen:
    st.info("Pick at least one schedule.")
    st.stop()


def refined_source() -> tuple[LogAnalysis, GradNormLog, str]:
    """The refined schedule of the Refine page's first log, else of a sample run."""
    logs, views = state.refine_results()
    if views:
        r = views[0]
        return (
            r,
            logs[0],
            f"the log on 'Refine a log' ({md(r.source)}, {r.optimizer} rule, τ = {r.tau})",
        )
    log = sources.cached_log(sources.sample_source(SAMPLE), None)
    r = cached.analyse(log, 0.1, None, 1000)
    return (
        r,
        log,
        f"the sample run {SAMPLE} ({r.optimizer} rule, τ = 0.1; load a log on 'Refine a log' to use yours)",
    )


param_area = st.container()  # filled inside the error path below, shown here
chart_area = st.container()
st.subheader("Bound under gradient norms")
norm_choice = st.radio(
    "Gradient norms",
    [REFINED_LOG, "constant", "upload a log"],
    horizontal=True,
    key="sch_norms",
)
uploaded = []
if norm_choice == "upload a log":
    upload = st.file_uploader("Gradient-norm log", key="sch_upload")
    # read once when it arrives; the page keeps the series, not Streamlit's copy of the bytes,
    # and keeps it when the uploader goes away (another choice above, another page)
    uploaded, restored = state.kept_uploads("sch_kept", [upload] if upload else [], "Schedules")
    del upload
    if restored:
        st.info(f"Showing your upload **{md(uploaded[0].name)}**")
        st.button("clear", key="sch_clear", on_click=state.forget_uploads, args=("sch_kept",))
else:
    state.uploader_hidden("sch_kept")


class _Unreadable(ValueError):
    """The uploaded log could not be read (its message is complete)."""


# ----------------------------------------------------------------------------- compute
try:
    # one error path: parameters, schedules, norms and bounds
    specs = schedule_inputs.settings(chosen, total, param_area, REFINED)

    shapes_at = {}  # display name -> f(steps) giving lrs at those steps
    notes, warnings = [], []
    refined_key = None  # the refined schedule's source, for the bound table's cache key
    for label, name, warmup, params in specs:
        if name == REFINED:
            r, r_log, where = refined_source()
            refined_key = (sources.log_key(r_log), r.steps, r.optimizer, r.tau)
            shapes_at[label] = lambda s, r=r: (
                peak_lr
                * np.interp(s / max(total - 1, 1), r.positions / max(r.steps - 1, 1), r.shape)
            )
            notes.append(f"Refined: from {where}, stretched to {total:,} steps.")
        else:
            decay = round(params.get("decay_fraction", 0) * total) if name == "wsd" else 0
            if decay and warmup + decay > total:
                warnings.append(
                    f"{label}: the warm-up ({warmup:,} steps) and the cool-down "
                    f"({decay:,} steps) add up to more than the run ({total:,} steps), so "
                    "they overlap and the schedule never holds its peak."
                )
            elif not decay and warmup > total / 2:
                warnings.append(
                    f"{label}: the warm-up takes {warmup:,} of the {total:,} steps, leaving "
                    f"{total - warmup:,} to decay."
                )
            sched = cached.registry_schedule(name, total, peak_lr, warmup, tuple(params.items()))
            shapes_at[label] = lambda s, sched=sched: np.asarray(sched(s), dtype=np.float64)
    log = None
    if uploaded:
        logs, errors = sources.load_sources(uploaded, "sch")
        if errors:
            raise _Unreadable(errors[0])
        log = logs[0]
    elif norm_choice == REFINED_LOG:
        log = refined_source()[1]
    elif norm_choice == "upload a log":
        notes.append("Using constant norms until a log is uploaded.")

    grid = ui.display_steps(total)
    curves = [
        charts.Curve(
            label,
            grid,
            f(grid),
            color=charts.colour_for(name, i),
            dash=charts.BASELINE_STYLE.get(name, "solid"),
            width=3 if name == REFINED else 2.5,
        )
        for i, ((label, f), (_, name, _, _)) in enumerate(
            zip(shapes_at.items(), specs, strict=True)
        )
    ]
    # everything the table depends on: the refined schedule's source log (its content
    # digest), its next-run steps, rule and tau, and the norms' log
    what = repr((specs, total, peak_lr, refined_key, log is not None and sources.log_key(log)))
    table = cached.bounds_at_full_length(shapes_at, total, log, what)
    if log is not None:
        notes.append(
            f"Norms of **{md(log.source)}** ({md(log.metric)}), stretched to {total:,} steps."
        )
    if total < ui.FEW_STEPS:
        warnings.append(
            f"A run of {total:,} steps is very short: the schedules and their bounds say "
            "little about it."
        )
    if log is not None and log.norm_type == "l1":
        notes.append(
            "**SGD bound applied to l1 norms: indicative only** (the bound is proved for SGD "
            "with l2 norms)."
        )
    state.schedules_shown((curves, table, notes, shapes_at, warnings))  # as shown
except Exception as e:  # noqa: BLE001 - one error path: a message, never a traceback
    # a log that cannot be read says so itself ("Could not read NAME: ...")
    st.error(
        md(str(e))
        if isinstance(e, _Unreadable)
        else f"Could not build the schedules. {md(ui.error_text(e))}"
    )
    if state.schedules_shown() is None:
        st.stop()
    curves, table, notes, shapes_at, warnings = state.schedules_shown()
    st.warning("Still showing the last schedules that worked.")

# ----------------------------------------------------------------------------- show
fig = charts.title_under_toolbar(charts.schedules_figure(curves, "step", log_y))
chart_area.plotly_chart(charts.integer_ticks(fig, total), key="sch_chart", config=charts.CONFIG)
for w in warnings:
    chart_area.warning(w)
for note in notes:
    chart_area.caption(note)

st.markdown(ui.schedules_sentence(table))
lin = table[table.schedule == LIN]
if len(lin):
    table = table.assign(vs_linear=table.bound / float(lin.bound.iloc[0]))
    table = table[
        ["schedule", "vs_linear", *[c for c in table.columns if c not in ("schedule", "vs_linear")]]
    ]
shown = table.rename(
    columns={
        "bound": "bound at best scale (D = 1)",
        "best_peak_lr": "best peak lr (D = 1)",
        "bound_sqrt_T": "bound × √T",
        "vs_linear": VS_LIN,
    }
)
st.space("small")  # room for the table's toolbar, which would cover the sentence's end
st.dataframe(
    shown,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="%.3f×" if c == VS_LIN else "%.4g")
        for c in shown.columns
        if c != "schedule"
    },
)
st.caption(
    "Each shape is scored at its own best scale. D is the distance from the starting point to "
    "the solution, set to 1 here: the best peak lr for your problem is the one shown times "
    "your D (the bound itself scales with D too). 'bound × √T' makes runs of different "
    "lengths comparable. Lower is better."
)


def _csv() -> bytes:
    peaks = {k: float(f(ui.display_steps(total)).max()) for k, f in shapes_at.items()}

    def columns(a: int, b: int) -> dict:
        steps = np.arange(a, b)
        return {"step": steps, **{k: short(f(steps), peaks[k]) for k, f in shapes_at.items()}}

    return csv_rows(total, columns)  # lrs rounded to 1e-12 of each schedule's peak


st.download_button(
    "Download all as CSV",
    _csv if total > ui.LAZY_DOWNLOAD_STEPS else _csv(),
    "schedules.csv",
    "text/csv",
    key="sch_dl",
    help="Every step of every schedule; long runs are written when you click.",
)
