"""See it work: three ready-made training experiments, real runs next to the bound."""

from dataclasses import dataclass

import charts
import numpy as np
import pandas as pd
import presets
import streamlit as st
import words

from lrcore import smooth_norms
from lrcore.diagnose import diagnose_refined, refined_shape
from lrcore.train import RunConfig, compare
from lrcore.train.experiments import best_rows, own_norm_bounds, refine_from_runs

SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Experiment:
    title: str
    question: str  # what the class should look for
    theory: str  # what the theory predicts, before running
    setup: dict  # RunConfig fields plus "peaks" (the grid)


HINGE = {
    "task": "svm",
    "dataset": "synthetic",
    "optimizer": "sgd",
    "steps": 1000,
    "batch": 16,
    "weight_decay": 0.0,
    "peaks": "0.05, 0.1, 0.2",
}
EXPERIMENTS = {
    "rise": Experiment(
        "(a) Noise that rises late",
        "Hinge loss; gradient noise grows over the second half of training, whatever the "
        "schedule does.",
        "Late norms are large, so refinement anneals early; the bound expects refined to beat "
        "linear decay clearly.",
        {**HINGE, "noise": "rise", "noise_scale": 2.0},
    ),
    "flat": Experiment(
        "(b) Flat noise",
        "The same problem with noise of one size all run.",
        "Flat norms refine to the shape of linear decay itself: the bound expects no difference.",
        {**HINGE, "noise": "flat", "noise_scale": 2.0},
    ),
    "full": Experiment(
        "(c) Full batch: the model interpolates",
        "Logistic regression on wine, which a linear model separates, with batches as large as "
        "the training set and no noise. (With the hinge loss the gradients would become exactly "
        "0 once every margin is met, and refinement could not even be computed.)",
        "The norms collapse as the model fits the data, so refinement trusts norms that the "
        "schedule itself drove: it peaks late, and the bound, fed those norms, is no longer "
        "a fair judge. With no noise and no L2, larger lrs keep helping: there is no best peak "
        "lr, only the largest the grid reached.",
        {
            **HINGE,
            "task": "logreg",
            "dataset": "wine",
            "batch": 512,
            "noise": "none",
            "noise_scale": 0.0,
            "peaks": "2, 4, 8",
        },
    ),
}


def config_of(setup: dict) -> RunConfig:
    return RunConfig(
        task=setup["task"],
        dataset=setup["dataset"],
        optimizer=setup["optimizer"],
        steps=setup["steps"],
        batch_size=setup["batch"],
        noise=setup["noise"],
        noise_scale=float(setup["noise_scale"]),
        weight_decay=float(setup["weight_decay"]),
        eval_every=max(1, setup["steps"] // 50),
    )


@st.cache_data(show_spinner=False, max_entries=8)
def run_experiment(key: str) -> dict:
    """Linear decay over the grid, refined from linear's runs at its best peak lr, refined
    over the grid; cached per setup, so a class demo reruns instantly."""
    setup = EXPERIMENTS[key].setup
    cfg = config_of(setup)
    peaks = [float(p) for p in setup["peaks"].split(",")]
    table, runs = compare(cfg, ["linear", "refined"], SEEDS, peak_lrs=peaks, return_runs=True)
    best = best_rows(table).set_index("schedule")
    chosen = {
        name: [r for (s, p, _), r in runs.items() if s == name and p == best.peak_lr[name]]
        for name in ("linear", "refined")
    }
    shape, norms = refine_from_runs(chosen["linear"])
    curves, norm_curves = {}, {}
    for name, rs in chosen.items():
        sub = pd.concat(
            [r.evals.set_index("step").objective - r.final["f_star"] for r in rs], axis=1
        )
        curves[name] = (
            sub.index.to_numpy(),
            sub.mean(axis=1).to_numpy(),
            sub.sem(axis=1).to_numpy(),
        )
        norm_curves[name] = np.mean([r.grad_norms() for r in rs], axis=0)
    # each schedule's bound under the norms of its own runs, over linear's
    bound = own_norm_bounds(best.reset_index(), runs)
    paired = np.array(
        [
            ref.final["suboptimality"] - lin.final["suboptimality"]
            for ref, lin in zip(chosen["refined"], chosen["linear"], strict=True)
        ]
    )
    return {
        "best": best,
        "curves": curves,
        "norms": norm_curves,
        "shape": shape,
        "linear_norms": norms,
        "lrs": {name: rs[0].lr for name, rs in chosen.items()},
        "bound_ratio": float(bound.iloc[list(best.index).index("refined")]),
        "refined_wins": int((paired < 0).sum()),
        "diff": float(paired.mean()),
        "diff_sem": float(paired.std(ddof=1) / np.sqrt(len(paired))),
        "diagnosis": diagnose_refined(shape, norms),
    }


def norm_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Log-axis ticks for the norms: round values 4-6 apart on a narrow range (under half a
    decade: not "2.11, 2.46, 2.86"), else the decades and 1-2-5 steps of ``charts.log_ticks``;
    one number format per axis (all plain, or all scientific when any label needs it)."""
    if high / low < 10**0.5:
        raw = (high - low) / 4
        step = min(
            (m * 10.0 ** np.floor(np.log10(raw)) for m in (1, 2, 2.5, 5, 10)),
            key=lambda v: abs(v - raw),
        )
        ticks = [float(v) for v in np.arange(np.floor(low / step), high / step + 1e-9) * step]
        ticks = [v for v in ticks if v <= high]
        decimals = max(0, int(-np.floor(np.log10(step))))
        return ticks, [f"{v:.{decimals}f}" for v in ticks]
    # start at a round value at or below the lowest norm, so the bottom of the data is labelled
    e = np.floor(np.log10(low))
    low = max(m * 10.0**e for m in (1, 1.5, 2, 3, 4, 5, 6, 7, 8) if m * 10.0**e <= low)
    ticks, labels = charts.log_ticks(low, high)
    if any("e" in t for t in labels):
        labels = [f"{v:.0e}" if v == float(f"{v:.0e}") else f"{v:.1e}" for v in ticks]
    return ticks, labels


st.title("See it work")
st.markdown(
    "Three ready-made experiments train a convex model with SGD, "
    f"{len(SEEDS)} seeds each, and compare **linear decay** with the schedule **refined** from "
    "linear decay's own gradient norms, each at the best peak lr of a grid (extended by "
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
        {**s, "seeds": len(SEEDS), "schedules": ["linear", presets.REFINED_RUN], "title": exp.title}
    )

done = st.session_state.setdefault("demo_done", set())
if ran:
    with st.spinner(f"Training {exp.title[4:].lower()}: linear decay, then refined…"):
        try:
            run_experiment(key)
            done.add(key)
        except ValueError as e:
            st.error(str(e))
if key not in done:
    st.info("Press **Run this experiment** (under a minute; then instant).")
    st.stop()

out = run_experiment(key)
best = out["best"]
sub_lin, sub_ref = best.suboptimality_mean["linear"], best.suboptimality_mean["refined"]
ratio = sub_ref / sub_lin
a, b, c, d = st.columns(4)
a.metric("linear: objective − f*", words.fmt_sig(sub_lin))
b.metric("refined: objective − f*", words.fmt_sig(sub_ref))
c.metric("measured refined ÷ linear", f"{words.fmt_sig(ratio, 2)}×")
d.metric("bound refined ÷ linear", f"{words.fmt_sig(out['bound_ratio'], 2)}×")
st.markdown(
    words.demo_verdict(
        ratio, out["bound_ratio"], out["diff"], out["diff_sem"], out["refined_wins"], len(SEEDS)
    )
)
st.caption(
    "Suboptimality (objective − f*) at the last step, mean ± s.e. over seeds: refined "
    f"{words.fmt_pm(sub_ref, best.suboptimality_sem['refined'])}, linear "
    f"{words.fmt_pm(sub_lin, best.suboptimality_sem['linear'])}, at peak lrs "
    f"{best.peak_lr['refined']:.3g} and {best.peak_lr['linear']:.3g}. The bound scores each "
    "schedule with the gradient norms of its own runs."
)
edge = [n for n in ("linear", "refined") if best.at_grid_edge[n]]
if edge:
    st.warning(words.edge_sentence({n: float(best.peak_lr[n]) for n in edge}, len(edge) == 2))
shape = refined_shape(out["shape"], grad_norms=out["linear_norms"])
if out["diagnosis"]:
    for line in out["diagnosis"]:
        st.warning(line)
else:
    st.success(
        f"No warning: the refined schedule peaks at {shape.peak_fraction:.0%} of the run, "
        f"stays above half its peak for {shape.above_half_fraction:.0%} of it, and the norms "
        f"it was built from {words.fold_change(shape.norm_fall)} from the first tenth of the "
        "run to the last."
    )

left, right = st.columns(2)
T = s["steps"]
t = np.arange(T)
lin_norms = out["linear_norms"]
norms_fig = charts.norms_figure(
    [("linear's runs", t, lin_norms, smooth_norms(lin_norms, 0.1))], "step", log_y=True
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
            charts.Curve(n, np.arange(len(lr)), lr / lr.max(), color=charts.colour_for(n), **style)
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
        [(n, *out["curves"][n]) for n in ("linear", "refined")],
        "Suboptimality over training",
        "step",
        "objective − f*",
        log_y=True,
        max_decades=12,
    ),
    key="demo_curves",
)
st.caption("Mean over seeds (line) ± standard error (band), full training set, log scale.")
