"""'Train and check': the results of the last finished training (table, flags, curves, the
linear run to send to 'Refine a log')."""

import charts
import numpy as np
import pandas as pd
import presets
import state
import streamlit as st
import ui
import words
from train_form import TASK_LABELS

from lrcore._text import for_markdown
from lrcore.diagnose import diagnose_refined
from lrcore.export import log_to_csv
from lrcore.plot import seed_curve
from lrcore.train.config import CONVEX_TASKS
from lrcore.train.experiments import best_rows, own_norm_bounds
from lrcore.train.result import DIVERGE_FACTOR, LEARN_RTOL

# what the results call the score, the objective and the test metric, per kind of task
NAMES = {
    "convex": ("suboptimality", "objective", "test accuracy"),
    "lm": ("excess loss (nats/token)", "held-out loss (nats/token)", "next-token accuracy"),
    "other": ("objective", "objective", "test accuracy"),
}


# narrow columns for short values, so the results table keeps within a laptop's page
TABLE_COLUMNS = {
    "peak lr": st.column_config.TextColumn(width="small"),
    "grid edge": st.column_config.TextColumn(
        width="small", help="the best peak lr sat at an end of the grid, even after extending it"
    ),
    "held-out s.e.": st.column_config.TextColumn(width="small"),
    "bound ÷ linear": st.column_config.TextColumn(
        help="each schedule's bound under the gradient norms of its own runs, over linear "
        "decay's (SGD only)"
    ),
    "diverged": st.column_config.NumberColumn(width="small", help="seeds that diverged"),
    "learned": st.column_config.TextColumn(width="small"),
}


def names(task: str) -> tuple[str, str, str]:
    """(score, objective, test metric) column names for ``task``.

    >>> names("lm")[0], names("lm")[2], names("svm")[0]
    ('excess loss (nats/token)', 'next-token accuracy', 'suboptimality')
    """
    return NAMES["convex" if task in CONVEX_TASKS else task if task in NAMES else "other"]


def refined_caption(cfg) -> str:
    """How 'refined' was built for ``cfg``'s optimizer, and its warm-up (none)."""
    rule, norm = ("SGD", "l2") if cfg.norm_type == "l2" else ("Adam", "l1")
    warm = (
        f" The named schedules warmed up over the first {cfg.warmup_steps:,} steps (5 %); "
        "refined had no warm-up."
        if cfg.warmup_steps
        else ""
    )
    return (
        f"**refined** was built by the **{rule} rule** from the **{norm} gradient norms** of "
        f"{words.LINEAR}'s runs at its best peak lr (mean over seeds), τ = 0.1.{warm}"
    )


def _bold(name: str) -> str:
    """A schedule's label in bold markdown; 'refined (FILE)' carries a user's file name."""
    return f"**{for_markdown(ui.schedule_label(name))}**"


def show(hint: bool = True) -> None:
    """The last finished training's results, or (with ``hint``: no run queued or running) a
    hint to press Start. Without ``hint``, the results are said to be the previous run's."""
    result = state.train_result()
    if result is None:
        if hint:
            st.info("Choose a problem and schedules, then press **Start**.")
        st.stop()

    table, runs, cfg = result["table"], result["runs"], result["cfg"]
    if hint:
        st.progress(1.0, text=result["done"])
    else:  # a full "Done" bar under the queue line read as the new run's (a reviewer's shot)
        st.caption(
            "Below: your previous run's results, until the run above finishes. "
            + for_markdown(result["done"])
        )
    convex, lm = cfg.task in CONVEX_TASKS, cfg.task == "lm"
    scored = convex or lm  # f* is known: the score is objective - f*
    score, objective, acc = names(cfg.task)
    best = best_rows(table).reset_index(drop=True)
    if result.get("failure"):
        st.error(result["failure"])

    def curves_of(schedule: str, peak: float):
        """(steps, mean, sem) over seeds of the objective (minus f* for convex tasks and the
        language model) of the finished runs of ``schedule`` at ``peak``; None when none
        finished."""
        chosen_runs = [
            r for (label, p, _), r in runs.items() if label == schedule and p == peak and r.ok
        ]
        if not chosen_runs:
            return None
        return seed_curve(chosen_runs, "suboptimality" if scored else "objective")

    curves = {str(r.schedule): curves_of(str(r.schedule), r.peak_lr) for r in best.itertuples()}
    # share of the run each best row sat at its starting objective (lr ~0 for a degenerate
    # refined schedule): "learned" must not hide it
    flat = {
        name: words.flat_start(c[0], c[1], cfg.steps) if c is not None else float("nan")
        for name, c in curves.items()
    }
    at_optimum = {
        name: words.first_at_zero(c[0], c[1]) if c is not None and convex else None
        for name, c in curves.items()
    }
    learned = best.learned.astype(bool)
    st.subheader(
        f"Results: each schedule at its best peak lr by {score.split(' (')[0]}"
        if learned.any()
        else "Results: no schedule learned at any peak lr tried"
    )
    st.caption(
        f"{TASK_LABELS[cfg.task]} on {cfg.dataset}, {words.optimizer_name(cfg.optimizer)}, "
        f"{cfg.steps:,} steps, "
        f"noise {cfg.noise}{f' × {cfg.noise_scale:g}' if cfg.noise != 'none' else ''}, "
        f"{int(table.n_seeds.max())} seed{'s' * (int(table.n_seeds.max()) != 1)}; mean ± standard error over seeds. "
        + (
            "Suboptimality = objective (loss + L2 term, full training set, last iterate) minus its "
            "minimum f* from a float64 solver."
            if convex
            else "Excess loss = the model's cross-entropy minus the true Markov chain's on the same "
            "held-out tokens (last iterate; the chain's entropy rate is the floor, 0 here); "
            "held-out s.e.: the standard error of that difference over the held-out sequences, "
            "mean over seeds. Next-token accuracy on the held-out tokens."
            if lm
            else "The objective is the full training loss + L2 term at the last iterate."
        )
    )

    def learned_word(name: str, ok: bool) -> str:
        if not ok:
            return "no"
        share = flat[name]
        return f"late: flat for {share:.0%}" if share > 0.5 else "yes"

    def sub_text(name: str, mean: float, sem: float) -> str:
        step = at_optimum.get(name)
        if mean == 0 and step is not None:
            return f"0 (optimum reached at step {step:,})"
        return words.fmt_pm(mean, sem)

    shown = {
        "schedule": [ui.schedule_label(str(n)) for n in best.schedule],
        "peak lr": [f"{v:.3g}" for v in best.peak_lr],
        "grid edge": np.where(best.at_grid_edge.astype(bool), "yes", "no"),
    }
    if scored:
        shown[score] = [
            sub_text(n, m, s)
            for n, m, s in zip(
                best.schedule, best.suboptimality_mean, best.suboptimality_sem, strict=True
            )
        ]
    if lm:
        shown["held-out s.e."] = [words.fmt_sig(v, 2) for v in best.suboptimality_se_mean]
    shown[objective] = [
        words.fmt_pm(m, s) for m, s in zip(best.objective_mean, best.objective_sem, strict=True)
    ]
    shown[acc] = [
        words.fmt_pct_pm(m, s)
        for m, s in zip(best.test_accuracy_mean, best.test_accuracy_sem, strict=True)
    ]
    refined_from = result.get("refined_from")
    diagnosis = []
    if refined_from is not None and "refined" in set(best.schedule):
        diagnosis = diagnose_refined(refined_from["shape"], refined_from["norms"])
    if cfg.optimizer == "sgd" and "linear" in set(best.schedule):
        # each schedule's bound under the norms of its OWN runs (not linear's), over linear's;
        # a degenerate refined schedule's ratio carries the diagnostic's caveat
        shown["bound ÷ linear"] = [
            (f"{words.fmt_sig(v)}×" if np.isfinite(v) else "")
            + (" (degenerate: see below)" if diagnosis and n == "refined" else "")
            for n, v in zip(best.schedule, own_norm_bounds(best, runs), strict=True)
        ]
    shown["diverged"] = best.diverged.astype(int)
    shown["learned"] = [learned_word(n, ok) for n, ok in zip(best.schedule, learned, strict=True)]
    st.dataframe(
        pd.DataFrame(shown), hide_index=True, key="train_table", column_config=TABLE_COLUMNS
    )
    if refined_from is not None:
        st.caption(refined_caption(cfg))
    if cfg.optimizer != "sgd" and "linear" in set(best.schedule):
        st.caption(
            f"No bound column: the bound is for SGD; not shown for "
            f"{words.optimizer_name(cfg.optimizer)}."
        )

    for line in diagnosis:
        st.warning(
            "**refined**: " + line + " Its bound ratio in the table scores it on the norms of "
            "its own runs: a ratio below 1 does not show that the method works here.",
            icon=":material/warning:",
        )
    stuck = {n: v for n, v in flat.items() if np.isfinite(v) and v > 0.5}
    if stuck:
        parts = [f"{_bold(n)} for {v:.0%} of the run" for n, v in stuck.items()]
        st.warning(
            "Stuck at the starting objective: "
            + "; ".join(parts)
            + " (the objective stayed within 0.1% of where it started, mean over seeds). The lr "
            "was too small for that long; the run learned late, not well."
        )
    reached = {n: s for n, s in at_optimum.items() if s is not None}
    if reached:
        parts = [f"{_bold(n)} at step {s:,}" for n, s in reached.items()]
        st.info(
            "Reached the optimum exactly (objective = f* = "
            f"{words.fmt_sig(float((best.objective_mean - best.suboptimality_mean).iloc[0]))}"
            + (
                ", the data are separable"
                if (best.objective_mean == best.suboptimality_mean).all()
                else ""
            )
            + "): "
            + "; ".join(parts)
            + ". From there the suboptimality is 0, "
            "which a log scale cannot draw, so those lines end there."
        )
    if (~learned).any():
        parts = [
            f"{_bold(r.schedule)} (peak lr {r.peak_lr:.3g}, {acc} {r.test_accuracy_mean:.1%})"
            for r in best[~learned].itertuples()
        ]
        st.warning(
            "Did not learn: "
            + "; ".join(parts)
            + f": the objective ended less than {LEARN_RTOL:.1%} below where it started (or "
            "above it) in at least one seed, even at the best peak lr tried. The peak lr is "
            "probably far off "
            f"for {words.optimizer_name(cfg.optimizer)}: try its default grid "
            f"({presets.default_peaks(cfg.task, cfg.optimizer)})."
        )
    edge = best[best.at_grid_edge.astype(bool)]
    if len(edge):
        lows, highs = table.peak_lr.min(), table.peak_lr.max()
        parts = [
            f"{_bold(r.schedule)} at {r.peak_lr:.3g} "
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
            f"{int(table.diverged.sum())} run(s) diverged (loss became nan or inf, or the "
            f"objective ended over {DIVERGE_FACTOR:,.0f} times where it started); their peak lr "
            "is never picked as best."
        )
    with st.expander("Every peak lr"):
        every = {
            "schedule": [ui.schedule_label(str(n)) for n in table.schedule],
            "peak lr": [f"{v:.3g}" for v in table.peak_lr],
            "best": np.where(table.best, "yes", "no"),
            "seeds": table.n_seeds,
            "diverged": table.diverged,
        }
        if scored:
            every[score] = [
                words.fmt_pm(m, s)
                for m, s in zip(table.suboptimality_mean, table.suboptimality_sem, strict=True)
            ]
        every[objective] = [
            words.fmt_pm(m, s)
            for m, s in zip(table.objective_mean, table.objective_sem, strict=True)
        ]
        every[acc] = [
            words.fmt_pct_pm(m, s)
            for m, s in zip(table.test_accuracy_mean, table.test_accuracy_sem, strict=True)
        ]
        every["learned"] = np.where(table.learned.astype(bool), "yes", "no")
        st.dataframe(pd.DataFrame(every), hide_index=True, key="train_every")

    groups = [(ui.schedule_label(n), *c) for n, c in curves.items() if c is not None]
    if groups:
        # the language model's excess loss spans well under a decade (and can dip below 0 on
        # the held-out tokens): a linear axis fitted to the data, with round ticks
        fig = charts.band_figure(
            groups,
            f"{words.capitalised(score.split(' (')[0])} over training",
            "step",
            "objective − f*" if convex else score,
            log_y=not lm,
            max_decades=6,  # a line that reaches the optimum would stretch the axis to 1e-12
        )
        st.plotly_chart(charts.fit_linear_y(fig) if lm else fig, key="train_curves")
        st.caption(
            "Each schedule at its best peak lr: mean over seeds (line) ± standard error (band), "
            + (
                "held-out tokens, linear scale fitted to the curves."
                if lm
                else "full training set, log scale (at most 6 decades below the top)."
            )
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
        if st.button(
            f"Send the linear run's {kind} gradient norms to 'Refine a log'", key="send_log"
        ):
            csv = log_to_csv(run.steps, run.grad_norms(), None).replace(
                "grad_norm", f"grad_norm_{kind}", 1
            )
            name = f"trained_{cfg.task}_{cfg.dataset}_{cfg.optimizer}_seed{run.config.seed}.csv"
            state.send_log(state.LogSource(name, data=csv.encode()))
            st.switch_page("app_pages/refine.py")
