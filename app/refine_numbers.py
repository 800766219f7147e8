"""One analysed log on the Refine page: its numbers, warnings, plain config, bound table and
downloads. Every number and sentence comes from the :class:`lrcore.LogAnalysis`; this module
only lays them out.
"""

from __future__ import annotations

import cached
import streamlit as st
import ui
from sources import log_key

from lrcore import LogAnalysis
from lrcore._text import for_markdown as md
from lrcore.analysis import P_DEFINITION, fmt_pct
from lrcore.export import csv_bytes, json_bytes
from lrcore.logs import GradNormLog

TABLE_COLUMNS = {
    "bound": "bound at best scale (D = 1)",
    "best_peak_lr": "best peak lr (D = 1)",
    "vs_linear": "vs Linear decay",
}
L1_CAPTION = (
    "**SGD bound applied to l1 norms: indicative only.** The last-iterate bound is proved for "
    "SGD with l2 norms; the Adam rule refines with l1 norms, and this table scores every "
    "shape with the SGD bound on them."
)
TABLE_CAPTION = (
    "Each shape is scored by the last-iterate bound at its own best scale, with the logged "
    "norms and the distance to the solution D set to 1 (so the peak lrs are only comparable "
    "with each other). Lower is better."
)


def show(view: LogAnalysis, log: GradNormLog, peak_lr: float, many: bool) -> None:
    """Summary metrics (with the diagnostic's caveat when degenerate), warnings, the plain
    config, the bound table and its sentence, and the downloads."""
    s, fit = view.summary, view.fit
    c1, c2, c3, c4 = st.columns(4)
    # a degenerate shape's numbers say so where they are shown, in large type too
    caveat = {"delta": "degenerate: see the warning", "delta_color": "off", "delta_arrow": "off"}
    caveat = caveat if view.degenerate else {}
    c1.metric(
        "Implied warm-up",
        fmt_pct(s.warmup_fraction),
        help="Where the refined schedule peaks, as a fraction of the next run.",
        **caveat,
    )
    c2.metric(
        "Halves at",
        fmt_pct(s.half_fraction),
        help="First point after the peak at half the peak lr.",
        **caveat,
    )
    c3.metric("Mean lr / peak", f"{s.mean:.2f}")
    c4.metric(
        "Family fit R²",
        f"{fit.r2:.3f}",
        help="How well the best standard family (warm-up + polynomial, or WSD) matches the "
        "refined curve: 1 is a perfect match; 0 or less is no better than a flat line.",
    )
    if view.late_rise is not None:
        st.caption(f"**Late rise:** {md(view.late_rise_line)}.")
    for w in view.warnings:  # the log's own name the file: escaped
        st.warning(md(w) if w in view.log_warnings else w)
    st.markdown(view.fit_sentence)
    if view.show_fit:
        st.caption(P_DEFINITION)
        if view.warmup_note:
            st.caption(view.warmup_note)

    table = view.table.rename(columns=TABLE_COLUMNS)
    first = ["schedule", "vs Linear decay"]
    table = table[[*first, *[c for c in table.columns if c not in first]]]
    st.subheader("What the bound says for this log")
    st.markdown(view.bound_sentence)
    if view.optimum_caption:
        st.caption(view.optimum_caption)
    if view.optimizer == "adam":
        st.caption(L1_CAPTION)
    st.caption(TABLE_CAPTION)
    st.page_link(
        "app_pages/learn.py", label="What the bound is: the Learn page", icon=":material/menu_book:"
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            TABLE_COLUMNS["bound"]: st.column_config.NumberColumn(format="%.4g"),
            TABLE_COLUMNS["best_peak_lr"]: st.column_config.NumberColumn(format="%.4g"),
            TABLE_COLUMNS["vs_linear"]: st.column_config.NumberColumn(format="%.3f×"),
        },
    )
    offer_downloads(view, log, peak_lr, many)


def offer_downloads(view: LogAnalysis, log: GradNormLog, peak_lr: float, many: bool) -> None:
    """CSV, JSON and two snippets, from every logged point; long runs built on click."""
    st.subheader("Take it to your training code")
    stem = view.source.rsplit(".", 1)[0]
    what = f"refined from {view.source} ({view.optimizer}, tau={view.tau})"
    lazy = view.steps > ui.LAZY_DOWNLOAD_STEPS
    k = f"{log_key(log)}:{view.steps}"
    d1, d2, d3, d4 = st.columns(4)

    def snippet(flavour: str) -> str:  # from every logged point, like the CSV and JSON
        shape, logged = cached.full_shape(view, log)
        return cached.cached_snippet(
            shape, logged, view.steps, flavour, what, log_key(log), view.optimizer
        )

    files = (
        (d1, "Schedule as CSV", "csv", f"{stem}_refined.csv", "text/csv",
         lambda: csv_bytes(cached.full_values(view, log), peak_lr=peak_lr)),
        (d2, "Schedule as JSON", "json", f"{stem}_refined.json", "application/json",
         lambda: json_bytes(cached.full_values(view, log), peak_lr=peak_lr, source=view.source,
                            tau=view.tau, optimizer=view.optimizer)),
        (d3, "torch LambdaLR snippet", "torch", f"{stem}_lr_schedule.py", "text/x-python",
         lambda: snippet("torch")),
        (d4, "Hugging Face snippet", "hf", f"{stem}_hf_schedule.py", "text/x-python",
         lambda: snippet("hf")),
    )  # fmt: skip
    for column, label, kind, name, mime, make in files:
        key = f"dl_{kind}:{k}" if many else f"dl_{kind}"
        ui.download(column, label, make, name, mime, key, lazy)
    box = st.expander("Show the torch snippet", key=f"show_torch:{k}", on_change="rerun")
    if box.open:  # built only when opened
        box.code(ui.elide_tables(snippet("torch")), language="python")
        box.caption("Long tables are shortened here; the download holds every value.")


def describe(view: LogAnalysis, log: GradNormLog) -> None:
    """Where a log's curves and numbers come from (format, metric, cleaning, sample)."""
    st.caption(
        f"**{md(view.source)}** · {log.fmt} · metric {md(view.metric)} ({log.norm_type}) · "
        f"{view.points:,} points · {md(log.report.describe())} · {view.rule}"
    )
    if view.sampled:
        st.caption(
            f"This page computes on {len(view.computed_steps):,} evenly spaced points of the "
            f"{view.points:,} in **{md(view.source)}** (their steps kept), as `lrcore inspect` "
            "does, so that it redraws quickly: the curves and numbers below come from them. "
            "The downloads, the snippets and `lrcore refine` use every point; their schedule "
            "can peak a little elsewhere when its top is flat."
        )
