"""Schedules: build any registry schedule (and the refined one), overlay them, compare their
bounds, export them."""

import charts
import numpy as np
import pandas as pd
import streamlit as st
import ui

from lrcore import REGISTRY

REFINED = "refined"
SAMPLE = "logreg_digits_sgd.csv"
REFINED_LOG = "the refined schedule's log"

st.title("Compare schedules")
st.caption(
    "Build schedules by name, overlay them, and see what the last-iterate bound says about "
    "each (the bound is explained on the Learn page)."
)

with st.sidebar:
    st.header("Run")
    total = int(st.number_input("Total steps", 2, 10**7, 1000, key="sch_total"))
    peak_lr = st.number_input("Peak learning rate", 1e-8, 1e3, 0.1, format="%g", key="sch_peak")
    log_y = st.toggle("Log-scale y axis", key="sch_logy")

chosen = st.multiselect(
    "Schedules",
    [REFINED, *REGISTRY],
    default=[REFINED, "linear", "cosine", "wsd"],
    format_func=lambda n: REFINED if n == REFINED else REGISTRY[n].label,
    key="sch_chosen",
)
if not chosen:
    st.info("Pick at least one schedule.")
    st.stop()


def _label(p) -> str:
    return p.help[0].upper() + p.help[1:]


def refined_source() -> tuple[ui.Analysis, str]:
    """The refined schedule of the Refine page's first log, else of a sample run."""
    results = st.session_state.get("refine_results")
    if results:
        r = results[0]
        return r, f"the log on 'Refine a log' ({r.log.source}, {r.optimizer} rule, τ = {r.tau})"
    log = ui.cached_log(ui.sample_source(SAMPLE), None)
    r = ui.analyse(log, 0.1, log.suggested_optimizer, 1000)
    return (
        r,
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
upload = None
if norm_choice == "upload a log":
    upload = st.file_uploader("Gradient-norm log", key="sch_upload")

# ----------------------------------------------------------------------------- compute
try:
    # one error path: parameters, schedules, norms and bounds
    specs = []  # (display name, registry name or REFINED, warm-up steps, params)
    with_settings = [n for n in chosen if n != REFINED]
    cols = param_area.columns(min(max(len(with_settings), 1), 4))
    for i, name in enumerate(chosen):
        if name == REFINED:
            specs.append((REFINED, REFINED, 0, {}))
            continue
        i = with_settings.index(name)
        spec = REGISTRY[name]
        with cols[i % len(cols)].expander(f"{spec.label}: settings", expanded=False):
            warmup = int(st.number_input("Warm-up steps", 0, total - 1, 0, key=f"sch_w_{name}"))
            params = {}
            for p in spec.params:
                key = f"sch_{name}_{p.name}"
                if p.choices:
                    params[p.name] = st.selectbox(_label(p), p.choices, key=key)
                else:
                    params[p.name] = st.number_input(
                        _label(p),
                        min_value=float(p.minimum) if p.minimum is not None else None,
                        max_value=float(p.maximum) if p.maximum is not None else None,
                        value=float(p.default),
                        format="%g",
                        key=key,
                    )
        specs.append((spec.label, name, warmup, params))

    shapes_at = {}  # display name -> f(steps) giving lrs at those steps
    notes = []
    for label, name, warmup, params in specs:
        if name == REFINED:
            r, where = refined_source()
            shapes_at[label] = lambda s, r=r: (
                peak_lr
                * np.interp(s / max(total - 1, 1), r.positions / max(r.steps - 1, 1), r.shape)
            )
            notes.append(f"Refined: from {where}, stretched to {total:,} steps.")
        else:
            sched = ui.registry_schedule(name, total, peak_lr, warmup, tuple(params.items()))
            shapes_at[label] = lambda s, sched=sched: np.asarray(sched(s), dtype=np.float64)
    log = None
    if upload is not None:
        logs, errors = ui.load_sources([ui.upload_source(upload)], "sch")
        if errors:
            raise ValueError(errors[0].removeprefix("Could not read "))
        log = logs[0]
    elif norm_choice == REFINED_LOG:
        log = refined_source()[0].log
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
    what = repr((specs, total, peak_lr, log and ui.log_key(log), notes[:1]))
    table = ui.bounds_at_full_length(shapes_at, total, log, what)
    if log is not None:
        notes.append(f"Norms of **{log.source}** ({log.metric}), stretched to {total:,} steps.")
    st.session_state["sch_last"] = (curves, table, notes, shapes_at)
except Exception as e:  # noqa: BLE001 - one error path: a message, never a traceback
    st.error(f"Could not build the schedules: {ui.error_text(e)}")
    if "sch_last" not in st.session_state:
        st.stop()
    curves, table, notes, shapes_at = st.session_state["sch_last"]
    st.warning("Still showing the last schedules that worked.")

# ----------------------------------------------------------------------------- show
chart_area.plotly_chart(charts.schedules_figure(curves, "step", log_y), key="sch_chart")
for note in notes:
    chart_area.caption(note)

best, worst = table.iloc[0], table.iloc[-1]
lin = table[table.schedule == "Linear decay"]
words = f"Lowest bound: **{best.schedule}**"
if len(table) > 1:
    words += f", {1 - best.bound / worst.bound:.0%} below {worst.schedule} (the highest)"
if len(lin) and best.schedule != "Linear decay":
    words += f" and {1 - best.bound / float(lin.bound.iloc[0]):.0%} below Linear decay"
st.markdown(words + ".")
shown = table.rename(
    columns={
        "bound": "bound at best scale (D = 1)",
        "best_peak_lr": "best peak lr (D = 1)",
        "bound_sqrt_T": "bound × √T",
    }
)
st.dataframe(
    shown,
    hide_index=True,
    column_config={
        c: st.column_config.NumberColumn(format="%.4g") for c in shown.columns if c != "schedule"
    },
)
st.caption(
    "Each shape is scored at its own best scale. D is the distance from the starting point to "
    "the solution, set to 1 here: the best peak lr for your problem is the one shown times "
    "your D (the bound itself scales with D too). 'bound × √T' makes runs of different "
    "lengths comparable. Lower is better."
)


def _csv() -> str:
    steps = np.arange(total)
    frame = pd.DataFrame({"step": steps, **{k: f(steps) for k, f in shapes_at.items()}})
    return frame.to_csv(index=False, float_format="%.10g")


st.download_button(
    "Download all as CSV",
    _csv if total > ui.LAZY_DOWNLOAD_STEPS else _csv(),
    "schedules.csv",
    "text/csv",
    key="sch_dl",
    help="Every step of every schedule; long runs are written when you click.",
)
