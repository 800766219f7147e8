"""Schedules: build any registry schedule, overlay several, compare their bounds, export them."""

import charts
import numpy as np
import pandas as pd
import streamlit as st
import ui

from lrcore import REGISTRY, build_schedule, compare_bounds, evaluate, stretch

st.title("Compare schedules")
st.caption(
    "Build schedules by name, overlay them, and see what the last-iterate bound says about each."
)

with st.sidebar:
    st.header("Run")
    total = int(st.number_input("Total steps", 2, 10**7, 1000, key="sch_total"))
    peak_lr = st.number_input("Peak learning rate", 1e-8, 1e3, 0.1, format="%g", key="sch_peak")
    log_y = st.toggle("Log-scale y axis", key="sch_logy")

chosen = st.multiselect(
    "Schedules",
    list(REGISTRY),
    default=["linear", "cosine", "wsd"],
    format_func=lambda n: REGISTRY[n].label,
    key="sch_chosen",
)
if not chosen:
    st.info("Pick at least one schedule.")
    st.stop()

curves, shapes, errors = [], {}, []
cols = st.columns(min(len(chosen), 4))
for i, name in enumerate(chosen):
    spec = REGISTRY[name]
    with cols[i % len(cols)].expander(spec.label, expanded=False):
        warmup = int(st.number_input("Warm-up steps", 0, total - 1, 0, key=f"sch_w_{name}"))
        params = {}
        for p in spec.params:
            key = f"sch_{name}_{p.name}"
            if p.choices:
                params[p.name] = st.selectbox(p.help, p.choices, key=key)
            else:
                params[p.name] = st.number_input(
                    f"{p.name} ({p.help})",
                    min_value=float(p.minimum) if p.minimum is not None else None,
                    max_value=float(p.maximum) if p.maximum is not None else None,
                    value=float(p.default),
                    format="%g",
                    key=key,
                )
    try:
        values = evaluate(
            build_schedule(name, total, peak_lr=peak_lr, warmup_steps=warmup, **params), total
        )
    except ValueError as e:
        errors.append(f"{spec.label}: {e}")
        continue
    shapes[spec.label] = values
    curves.append(charts.Curve(spec.label, np.arange(total), values))
for msg in errors:
    st.error(msg)
if not curves:
    st.stop()
st.plotly_chart(charts.schedules_figure(curves, "step", log_y), key="sch_chart")

st.subheader("Bound under gradient norms")
norm_choice = st.radio(
    "Gradient norms",
    ["constant", "upload a log", "the log on 'Refine a log'"],
    horizontal=True,
    key="sch_norms",
)
grad_norms = np.ones(total)
log = None
if norm_choice == "upload a log":
    upload = st.file_uploader("Gradient-norm log", key="sch_upload")
    if upload is not None:
        logs, errors = ui.load_sources([ui.LogSource(upload.name, data=upload.getvalue())], "sch")
        for msg in errors:
            st.error(msg)
        log = logs[0] if logs else None
elif norm_choice != "constant":
    logs = st.session_state.get("refine_logs")
    log = logs[0] if logs else None
    if log is None:
        st.info("No log loaded on 'Refine a log' yet.")
if log is not None:
    grad_norms = stretch(log.grad_norms, total, steps=log.steps)
    st.caption(f"Norms of **{log.source}** ({log.metric}), stretched to {total:,} steps.")
elif norm_choice != "constant":
    st.caption("Using constant norms until a log is loaded.")
table = compare_bounds(shapes, grad_norms, reference=None).sort_values("bound")
table.insert(2, "× √T", table.bound * np.sqrt(total))
table = table.rename(
    columns={"bound": "bound at best scale", "best_peak_lr": "peak lr the bound picks"}
)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="%.4g") for c in table.columns if c != "schedule"
    },
)
st.caption(
    "Bounds use D = 1 and each shape at its own best scale; '× √T' makes them comparable "
    "across run lengths (constant ≈ 2.62, linear ≈ 2.02 for T = 200 and constant norms)."
)

frame = pd.DataFrame({"step": np.arange(total), **shapes})
st.download_button(
    "Download all as CSV",
    frame.to_csv(index=False, float_format="%.10g"),
    "schedules.csv",
    "text/csv",
    key="sch_dl",
)
