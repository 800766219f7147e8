"""See it work's experiment, computed where the page's worker pool runs it (a process of its
own; no Streamlit here): linear decay over the grid, refined from linear's runs at its best
peak lr, refined over the grid, and what the page draws from them."""

import numpy as np
import pandas as pd

from lrcore.diagnose import diagnose_refined
from lrcore.train import compare
from lrcore.train.experiments import best_rows, own_norm_bounds, refine_from_runs


def job(spec, on_progress=None, should_stop=None) -> dict:
    """:func:`experiment` as a :class:`lrcore.train.pool.Pool` job (``spec``: its arguments)."""
    return experiment(*spec)


def experiment(cfg, peaks: tuple[float, ...], seeds: tuple[int, ...]) -> dict:
    """The demo's numbers for ``cfg`` over the peak lrs ``peaks`` and ``seeds``."""
    table, runs = compare(
        cfg, ["linear", "refined"], list(seeds), peak_lrs=list(peaks), return_runs=True
    )
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
