"""See it work: three ready-made training experiments, real runs next to the bound."""

import charts
import numpy as np
import presets
import state
import streamlit as st
import words
from demo_runs import (
    EXPERIMENTS,
    SEEDS,
    computing_first,
    lm_section,
    norm_ticks,
    run_experiment,
)

from lrcore import REGISTRY, smooth_norms
from lrcore.diagnose import refined_shape

LIN = REGISTRY["linear"].label  # the registry's label, as on every page ("refined" stays)
NAMES = {"linear": LIN, "refined": "refined"}

st.title("See it work")
st.markdown(
    "Three ready-made experiments train a convex model with SGD, "
    f"{len(SEEDS)} seeds each, and compare **{LIN}** with the schedule **refined** from "
    f"{LIN}'s own gradient norms, each at the best peak lr of a grid (extended by "
    "factors of 2 while the best sits at an edge, up to 4 times). Each takes well "
    "under a minute on a laptop CPU, and results are kept: a second visit is instant. "
    "(a) and (b) use the **multiclass hinge loss** (convex, Lipschitz, non-smooth: the "
    "theory's own setting) with controlled gradient noise."
)

key = st.segmented_control(
    "Experiment",
    list(EXPERIMENTS),
    format_func={k: e.title for k, e in EXPERIMENTS.items()}.get,
    key="demo_choice",
    default="rise",
)
key = key or "rise"
exp = EXPERIMENTS[key]
s = exp.setup
st.markdown(f"**{exp.question}** {exp.theory}")
noise_text = s["noise"] + (f" × {s['noise_scale']:g}" if s["noise"] != "none" else "")
task_name = {"svm": "hinge loss", "logreg": "logistic regression"}[s["task"]]
st.caption(
    f"{task_name} on {s['dataset']}, SGD, {s['steps']:,} steps, batch {s['batch']:,}, "
    f"noise {noise_text}, "
    f"peak lrs {s['peaks']} (extended by factors of 2 at an edge), seeds {list(SEEDS)}."
)
c1, c2 = st.columns(2)
ran = c1.button("Run this experiment", type="primary", key="demo_run")
if c2.button("Open this setup on 'Train and check'", key="demo_open"):
    presets.open_on_train(
        {
            **s,
            "seeds": len(SEEDS),
            "schedules": ["linear", presets.REFINED_RUN],
            "title": f"{exp.title} from 'See it work'",
        }
    )

done = state.demos_done()
if ran:
    what = f"{exp.title[4:].lower()}: {LIN}, then refined…"
    ahead = computing_first(key)  # experiments run one at a time on this server
    if ahead:
        others = "Another experiment is" if ahead == 1 else f"{ahead} other experiments are"
        waiting = f"{others} computing first (one at a time on this server), then: training {what}"
    else:
        waiting = f"Training {what}"
    with st.spinner(waiting):
        try:
            run_experiment(key)
            done.add(key)
        except ValueError as e:
            st.error(str(e))
if key not in done:
    st.info("Press **Run this experiment** (under a minute; then instant).")
    lm_section()  # the study's language model: shown with or without an experiment run
    st.stop()

out = run_experiment(key)
best = out["best"]
sub_lin, sub_ref = best.suboptimality_mean["linear"], best.suboptimality_mean["refined"]
ratio = sub_ref / sub_lin
a, b, c, d = st.columns(4)
a.metric(f"{LIN}: objective − f*", words.fmt_sig(sub_lin))
b.metric("refined: objective − f*", words.fmt_sig(sub_ref))
c.metric(f"measured refined ÷ {LIN}", f"{words.fmt_sig(ratio, 2)}×")
d.metric(f"bound refined ÷ {LIN}", f"{words.fmt_sig(out['bound_ratio'], 2)}×")
st.markdown(
    words.demo_verdict(
        ratio, out["bound_ratio"], out["diff"], out["diff_sem"], out["refined_wins"], len(SEEDS)
    )
)
st.caption(
    "Suboptimality (objective − f*) at the last step, mean ± s.e. over seeds: refined "
    f"{words.fmt_pm(sub_ref, best.suboptimality_sem['refined'])}, {LIN} "
    f"{words.fmt_pm(sub_lin, best.suboptimality_sem['linear'])}, at peak lrs "
    f"{best.peak_lr['refined']:.3g} and {best.peak_lr['linear']:.3g}. The bound scores each "
    "schedule with the gradient norms of its own runs."
)
edge = [n for n in ("linear", "refined") if best.at_grid_edge[n]]
if edge:
    st.warning(
        words.edge_sentence({NAMES[n]: float(best.peak_lr[n]) for n in edge}, len(edge) == 2)
    )
shape = refined_shape(out["shape"], grad_norms=out["linear_norms"])
if out["diagnosis"]:
    for line in out["diagnosis"]:
        st.warning(line)
else:
    st.success(
        f"No warning: the refined schedule peaks at {shape.peak_fraction:.0%} of the run, "
        f"stays above half its peak for {shape.above_half_fraction:.0%} of it, and the norms "
        f"it was built from {words.fold_change(shape.norm_fall)} from 10-20% of the run to "
        "its last tenth."
    )

left, right = st.columns(2)
T = s["steps"]
t = np.arange(T)
lin_norms = out["linear_norms"]
norms_fig = charts.norms_figure(
    [(f"{LIN}'s runs", t, lin_norms, smooth_norms(lin_norms, 0.1))],
    "step",
    log_y=True,
    colors=[charts.colour_for("linear")],  # the schedule's colour, as on the shapes chart
).update_layout(title_text="Gradient norms refined was built from")
low, high = float(lin_norms[lin_norms > 0].min()), float(lin_norms.max())
ticks, labels = norm_ticks(low, high)  # the whole range: a collapse is the point of (c)
norms_fig.update_yaxes(
    range=[np.log10(min(low, ticks[0])) - 0.02, np.log10(high) + 0.05],
    tickvals=ticks,
    ticktext=labels,
)
left.plotly_chart(norms_fig, key="demo_norms")
right.plotly_chart(
    charts.schedules_figure(
        [
            charts.Curve(
                NAMES[n], np.arange(len(lr)), lr / lr.max(), color=charts.colour_for(n), **style
            )
            for (n, lr), style in zip(
                out["lrs"].items(), ({"dash": "dash"}, {"width": 3}), strict=True
            )
        ],
        "step",
        title="Schedule shapes (each divided by its peak lr)",
    ),
    key="demo_sched",
)
lrs = out["lrs"]
right.caption(
    words.shapes_sentence(
        float(lrs["linear"].max()),
        float(lrs["refined"].max()),
        float(
            np.max(
                np.abs(lrs["linear"] / lrs["linear"].max() - lrs["refined"] / lrs["refined"].max())
            )
        ),
    )
)
if s["noise"] == "none":
    ups = float(np.mean(np.diff(lin_norms) > 0))
    left.caption(
        f"No noise here, yet the norms are jagged: they rise on {ups:.0%} of the steps. "
        f"Full-batch steps at peak lr {words.fmt_sig(float(best.peak_lr['linear']))} overshoot "
        "and oscillate across the optimum's valley."
    )
st.plotly_chart(
    charts.band_figure(
        [(NAMES[n], *out["curves"][n]) for n in ("linear", "refined")],
        "Suboptimality over training",
        "step",
        "objective − f*",
        log_y=True,
        max_decades=12,
    ),
    key="demo_curves",
)
st.caption("Mean over seeds (line) ± standard error (band), full training set, log scale.")
lm_section()
