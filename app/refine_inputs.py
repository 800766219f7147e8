"""The Refine page's widgets: which logs (uploads, a sample, a log sent from training) and
the settings of each (sidebar). Widgets only: they return logs and a small dataclass; the
analysis is :func:`cached.analyse`'s.

The rule switch picks the series as ``lrcore refine --optimizer`` does: in a file with l1 and
l2 series, the series shown by default is the one the file's own rule reads, and another rule
reads its own norm (:meth:`lrcore.logs.LogFile.load` with ``optimizer``); a series the user
picked stays, as ``--metric`` does.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

import state
import streamlit as st
import ui
from sources import _PerLog, name_log, parsed

from lrcore import REGISTRY
from lrcore._text import for_markdown as md
from lrcore.analysis import OPTIMUM_POINTS, RULES, default_steps, steps_from_zero
from lrcore.logs import GradNormLog

RECIPES = (Path(__file__).parent / "app_pages" / "grad_norm_recipes.md").read_text()
FIRST_SAMPLE = "logreg_digits_sgd.csv"
RULE_NORMS = {"adam": "l1", "sgd": "l2"}  # the norms each rule is defined on


def chosen_logs() -> tuple[list[GradNormLog], list[str]]:
    """The uploader, the sample picker and the recipes expander; returns the logs in use and
    one message per source that could not be read. Stops the page when nothing is chosen."""
    sent = state.sent_logs()
    sent_names = {f"sent from 'Train and check': {s.name}": s for s in sent}
    samples = [state.NONE, *sent_names, *state.sample_names()]
    state.show_new_sent_log(sent_names, samples)
    col_up, col_sample = st.columns([3, 2])
    uploads = col_up.file_uploader(
        "Upload gradient-norm logs (CSV, W&B, TensorBoard, trainer_state.json, "
        "Lightning, MLflow, JSON lines)",
        accept_multiple_files=True,
        key="refine_uploads",
    )
    in_use = bool(uploads or state.has_kept_uploads("refine_kept"))
    state.default_sample(FIRST_SAMPLE, uploads_in_use=in_use)
    sample = col_sample.selectbox(
        "…or a sample run",
        samples,
        key="refine_sample",
        disabled=in_use,
        help="Logs made by this project's own runs, or one sent from 'Train and check'. "
        "Uploaded files take the sample's place; '(none)' clears the page.",
    )
    recipes = st.expander("How do I get gradient norms?", key="recipes", on_change="rerun")
    if recipes.open:  # built only when opened: its code blocks load a 1.5 MB highlighter
        recipes.markdown(RECIPES)

    kept, restored = state.kept_uploads("refine_kept", uploads, "Refine a log")
    del uploads  # Streamlit's copy of the bytes: read already, not held past this line
    if restored:
        st.info("Showing your upload " + ", ".join(f"**{md(s.name)}**" for s in kept))
        st.button("clear", key="clear_kept", on_click=state.forget_uploads, args=("refine_kept",))
    if kept:
        sources = kept
    elif sample in sent_names:
        sources = [sent_names[sample]]
        st.info(f"Showing the gradient norms sent from 'Train and check': {md(sources[0].name)}")
        st.button("Remove the sent log", key="clear_sent", on_click=state.remove_sent_logs)
    elif sample != state.NONE:
        sources = [state.sample_source(sample)]
    else:
        sources = []
    if not sources:
        state.forget_refine_results()
        st.info("Upload a gradient-norm log or pick a sample run to start.")
        st.stop()
    logs, errors = [], []
    for source in sources:  # one at a time: each log is paired with its file
        loaded, failed = state.load_sources([source], "refine")
        errors += failed
        for log in loaded:
            p = parsed(source)
            # several series and the box on auto: a rule may switch the series; a series
            # named in the box is kept (the same log object as auto's, so say it each run)
            auto = state.series_is_auto("refine", source)
            if p.file is not None and p.default is not None:
                _FILES.put(
                    log, (source.key, p.default.metric, weakref.ref(p.file)) if auto else None
                )
            logs.append(log)
    return logs, errors


# log -> (its source's key, the series the file's own rule reads, a weak reference to the
# parsed file): nothing here keeps a removed log or its file alive
_FILES = _PerLog()


@st.cache_resource(show_spinner=False, max_entries=8)
def _rule_log(_file, key: str, optimizer: str) -> GradNormLog:
    return _file.load(None, optimizer)  # the series lrcore refine --optimizer reads


def series_for_rule(log: GradNormLog, optimizer: str) -> GradNormLog:
    """The series ``optimizer``'s rule reads, chosen as ``lrcore refine --optimizer`` chooses
    it: ``log`` itself when it is what the file's rule reads already, when the file holds one
    series, or when the user named it in the series box (like ``--metric``); else the file's
    series for that rule (l1 norms for Adam's, l2 for SGD's)."""
    found = _FILES.get(log)
    if found is None or optimizer == log.suggested_optimizer:
        return log
    key, default_metric, file = found
    file = file()
    if file is None or log.metric != default_metric:  # (a named series is never registered)
        return log
    chosen = _rule_log(file, key, optimizer)
    name_log(chosen, f"{key}:{chosen.metric}:{optimizer}")
    return chosen


@dataclass(frozen=True)
class LogSettings:
    """One log's settings: the rule, the next run's length, the note on its default, and
    the series the rule reads (the shown log, or the file's other norm: see
    :func:`series_for_rule`)."""

    optimizer: str
    steps: int
    default_note: str
    log: GradNormLog


@dataclass(frozen=True)
class RefineOptions:
    tau: float
    peak_lr: float
    warmup_pct: float
    extras: tuple[str, ...]
    as_pct: bool  # x axis in % of training
    optimum: bool  # also minimise the bound numerically
    per_log: tuple[LogSettings | Exception, ...]  # an Exception: that log's settings failed


def options(logs: list[GradNormLog]) -> RefineOptions:
    """The sidebar: shared settings, then one box per log (rule, next-run steps)."""
    with st.sidebar:
        st.header("Refinement")
        for k, v in (("tau", 0.1), ("peak_lr", 0.1), ("warmup_pct", 0.0)):
            state.widget_default(k, v)
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
        state.widget_default(x_key, "% of training" if lengths_differ else "step")
        as_pct = st.radio("x axis", ["step", "% of training"], horizontal=True, key=x_key)
        optimum = st.toggle(
            "Also minimise the bound numerically",
            key="want_opt",
            disabled=max((len(log) for log in logs), default=0) > OPTIMUM_POINTS,
            help=f"L-BFGS-B over every logged point (a few seconds), up to "
            f"{OPTIMUM_POINTS:,} logged points; drawn as 'numerical optimum'.",
        )
    per_log = []
    for log in logs:
        try:
            per_log.append(_log_settings(log, many=len(logs) > 1))
        except Exception as e:  # noqa: BLE001 - reported by the page with the log's name
            per_log.append(e)
    return RefineOptions(
        tau, peak_lr, warmup_pct, tuple(extras), as_pct != "step", optimum, tuple(per_log)
    )


def _log_settings(log: GradNormLog, many: bool) -> LogSettings:
    lkey = state.widget_id(log)  # settings kept when the same file is uploaded again
    box = st.sidebar.container(border=many)
    if many:
        box.markdown(f"**{md(log.source)}** · {md(log.metric)}")
    state.widget_default(f"variant:{lkey}", log.suggested_optimizer)
    optimizer = box.radio(
        "Refinement rule",
        list(RULES),
        format_func=RULES.get,
        key=f"variant:{lkey}",
        help=f"Pre-selected: {md(log.rule_text)}. The optimizer decides the rule: Adam "
        "family -> l1 norms and the Adam rule, SGD -> l2 norms and the SGD rule.",
    )
    series = series_for_rule(log, optimizer)
    if series is not log:
        box.caption(
            f"{md(RULES[optimizer])} reads **{md(series.metric)}** ({series.norm_type} norms) "
            f"of {md(log.source)}, as `lrcore refine --optimizer {optimizer}` does."
        )
    elif series.norm_type != RULE_NORMS[optimizer]:
        box.caption(
            f"The {'Adam' if optimizer == 'adam' else 'SGD'} rule on **{md(series.metric)}**, "
            f"{series.norm_type} norms: the rule is defined on {RULE_NORMS[optimizer]} norms, "
            "so this is an approximation."
        )
    length, assumed = default_steps(series.steps, series.total_steps, steps_from_zero(series))
    capped = min(length, ui.MAX_STEPS)
    state.widget_default(f"steps:{lkey}", capped)
    steps = int(
        box.number_input(
            "Steps of the next run",
            2,
            ui.MAX_STEPS,
            key=f"steps:{lkey}",
            help=f"Up to {ui.MAX_STEPS:,}: the schedule holds one lr per step.",
        )
    )
    note = f"Default {capped:,}: {assumed}"
    box.caption(note + (f" (capped at {ui.MAX_STEPS:,})." if capped < length else "."))
    return LogSettings(optimizer, steps, assumed, series)


@dataclass(frozen=True)
class Display:
    normalise: bool  # each log's norms divided by its median
    log_y: bool  # norms chart
    log_y_sched: bool  # schedules chart
    scale: float  # largest median over smallest


def display(logs: list[GradNormLog], stats: list[tuple[float, float, float]]) -> Display:
    """The toggles above the charts (defaults from the norms' spread)."""
    many = len(logs) > 1
    scale = ui.median_scale([m for m, _, _ in stats]) if many else 1.0
    norm_key = f"normalise:{len(logs)}:{scale > 10}"
    state.widget_default(norm_key, scale > 10)
    normalise = many and st.toggle(
        "Show each log's norms divided by its median",
        key=norm_key,
        help="Logs whose norms differ by more than 10x (l1 and l2 norms, say) are drawn "
        "relative to their own median so that every curve stays readable.",
    )
    divisors = [m if normalise else 1.0 for m, _, _ in stats]
    span = ui.norm_span([(lo / d, hi / d) for (_, lo, hi), d in zip(stats, divisors, strict=True)])
    wide = span > ui.LOG_Y_SPAN
    state.widget_default(f"log_y:{wide}", wide)
    c_norms, c_sched = st.columns(2)
    log_y = c_norms.toggle(
        "Log-scale y axis: norms",
        key=f"log_y:{wide}",
        help=f"On by default when the norms span more than {ui.LOG_Y_SPAN}x (here {span:,.0f}x).",
    )
    log_y_sched = c_sched.toggle("Log-scale y axis: schedules", key="log_y_sched")
    return Display(bool(normalise), log_y, log_y_sched, scale)
