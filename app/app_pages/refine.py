"""Refine a log: gradient norms in, the schedule theory recommends for the next run out.

widgets (refine_inputs) -> one library call per log (cached.analyse = lrcore.analyse) ->
chart builders (refine_charts) -> render (refine_numbers).
"""

import cached
import charts
import refine_charts
import refine_inputs
import refine_numbers
import state
import streamlit as st
import ui

from lrcore._text import for_markdown as md

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

logs, errors = refine_inputs.chosen_logs()
for msg in errors:
    st.error(md(msg))
opts = refine_inputs.options(logs)

views, shown_logs, failed = [], [], []
for log, settings in zip(logs, opts.per_log, strict=True):
    try:  # one error path per log: its settings, refinement, bounds and fit
        if isinstance(settings, Exception):
            raise settings
        log = settings.log  # the series the rule reads (as lrcore refine --optimizer picks it)
        view = cached.analyse(
            log, opts.tau, settings.optimizer, settings.steps, opts.extras, opts.optimum
        )
        views.append(view)
        shown_logs.append(log)
    except Exception as e:  # noqa: BLE001 - a message, never a traceback
        failed.append(log.source)
        st.error(f"Could not refine **{md(log.source)}**: {md(ui.error_text(e))}")
        continue
    if view.note:  # how the rule was chosen, when it was a guess (lrcore inspect's note:)
        st.info(f"**{md(log.source)}**: {md(view.note)}.")
    if view.steps < ui.FEW_STEPS:
        st.warning(
            f"**{md(log.source)}**: a next run of {view.steps:,} steps is very short; a schedule "
            f"over so few steps says little (the theory is about runs of many steps)."
        )
    if view.steps < len(log) / 2:
        st.warning(
            f"**{md(log.source)}**: the next run has {view.steps:,} steps, far fewer than the "
            f"{len(log):,} logged points; the refined schedule is drawn for those "
            f"{view.steps:,} steps (each step takes the lr of the logged run at the same "
            "fraction of training)."
        )

if views and not failed:
    state.remember_refine_results(shown_logs, views)
elif state.refine_results()[1] and (errors or failed):
    shown_logs, views = state.refine_results()  # a bad file never wipes what was on screen
    st.warning("Still showing the last log that loaded: " + ", ".join(md(r.source) for r in views))
if not views:
    st.info("Upload a gradient-norm log or pick a sample run to start.")
    st.stop()

# ----------------------------------------------------------------------------- charts
st.caption(
    "Settings (smoothing τ, peak lr, each log's rule and next-run steps) are in the sidebar: "
    "on a phone, open it with the arrow at the top left."
)
many = len(views) > 1
stats = [cached.norm_stats(log, median=many) for log in shown_logs]  # (median, min, max)
show = refine_inputs.display(shown_logs, stats)
norm_traces = []
for r, log, (median, _, _) in zip(views, shown_logs, stats, strict=True):
    x_raw, y_raw = cached.raw_trace(log, opts.as_pct, show.normalise)
    div = median if show.normalise else 1.0
    x_smooth = ui.x_axis(r.computed_steps, opts.as_pct)
    norm_traces.append((r.source if many else r.metric, x_raw, y_raw, r.smooth / div, x_smooth))
x_title = "% of training" if opts.as_pct else "step"
st.plotly_chart(
    refine_charts.refine_norms(norm_traces, x_title, show.log_y, show.normalise),
    key="norms_chart",
    config=charts.CONFIG,
)
if many and show.scale > 10:
    st.caption(
        f"The logs' median norms differ by {show.scale:,.0f}x, so each is shown relative to "
        "its own median (switch above)."
    )
st.plotly_chart(
    refine_charts.refine_schedules(
        views, opts.peak_lr, opts.as_pct, opts.warmup_pct, opts.extras, show.log_y_sched
    ),
    key="schedule_chart",
    config=charts.CONFIG,
)
st.caption(
    "The bumps in a refined curve come from the noise left in the norms after the running "
    f"median (τ = {opts.tau:g} of the run); a larger τ smooths them."
)
if many and len({r.steps for r in views}) > 1:
    st.caption(
        f"Linear decay and Cosine decay are drawn for {views[0].steps:,} steps (the first "
        "log's next run); each refined curve spans its own next run."
    )
for r, log in zip(views, shown_logs, strict=True):
    refine_numbers.describe(r, log)

# ----------------------------------------------------------------------------- per log
tabs = st.tabs([md(r.source) for r in views]) if many else [st.container()]
for tab, r, log in zip(tabs, views, shown_logs, strict=True):
    with tab:
        try:
            refine_numbers.show(r, log, opts.peak_lr, many)
        except Exception as e:  # noqa: BLE001 - one error path: a message, never a traceback
            st.error(f"Could not finish the numbers for **{md(r.source)}**: {md(ui.error_text(e))}")
