"""'See it work': the three ready-made experiments and how each is run (cached per setup)."""

from dataclasses import dataclass

import charts
import numpy as np
import pandas as pd
import streamlit as st
from presets import HINGE, RISE

from lrcore import REGISTRY
from lrcore.diagnose import diagnose_refined
from lrcore.train import RunConfig, compare
from lrcore.train.experiments import best_rows, own_norm_bounds, refine_from_runs

SEEDS = (0, 1, 2)
LIN = REGISTRY["linear"].label  # "Linear decay", as on every page


@dataclass(frozen=True)
class Experiment:
    title: str
    question: str  # what the class should look for
    theory: str  # what the theory predicts, before running
    setup: dict  # RunConfig fields plus "peaks" (the grid)


EXPERIMENTS = {
    "rise": Experiment(
        "(a) Noise that rises late",
        "Hinge loss; gradient noise grows over the second half of training, whatever the "
        "schedule does.",
        "Late norms are large, so refinement anneals early; the bound expects refined to beat "
        f"{LIN} clearly.",
        RISE,
    ),
    "flat": Experiment(
        "(b) Flat noise",
        "The same problem with noise of one size all run.",
        f"Flat norms refine to the shape of {LIN} itself: the bound expects no difference.",
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
