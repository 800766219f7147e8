"""optimal_schedule (L-BFGS-B over log-lrs) against its baseline, scipy L-BFGS-B over the plain
lrs (the paper's code's parametrisation), same start, same analytic gradient, same maxiter.

Prints, per input: wall time of each, the ratio, the bound each reached (relative to ours),
and whether L-BFGS-B reported convergence.

    python benchmarks/bench_optimal.py
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

from lrcore import best_scale, last_iterate_bound, optimal_schedule, refine
from lrcore.bound import _bound_and_grad

MAXITER = 20_000


def plain_lbfgsb(g: np.ndarray, D: float = 1.0):
    """The baseline: the same start and gradient, variables = lrs / c0, bounds lr >= 1e-8."""
    T = len(g)
    starts = [1.0 - np.arange(T) / T, np.maximum(refine(g, tau=0.0), 1e-3)]
    shape = min(starts, key=lambda s: best_scale(s, g, D)[0])
    c0 = best_scale(shape, g, D)[1]
    scale = 1.0 / last_iterate_bound(c0 * shape, g, D)

    def fun(x):
        v, grad = _bound_and_grad(c0 * x, g**2, D)
        return v * scale, grad * c0 * scale

    opts = {"maxiter": MAXITER, "maxfun": 2 * MAXITER, "ftol": 1e-13, "gtol": 1e-12}
    res = minimize(
        fun, shape, jac=True, method="L-BFGS-B", bounds=[(1e-8 / c0, None)] * T, options=opts
    )
    return c0 * res.x, res.status == 0, res.nit


def main() -> None:
    rng = np.random.default_rng(0)
    inputs = {
        "constant T=1,000": np.ones(1000),
        "uniform noise T=1,000": 1 + rng.random(1000),
        "lognormal T=1,000 (seed 0)": np.random.default_rng(0).lognormal(0, 1, 1000),
        "lognormal T=1,000 (seed 1)": np.random.default_rng(1).lognormal(0, 1, 1000),
        "lognormal T=3,000": np.random.default_rng(2).lognormal(0, 1, 3000),
    }
    head = f"{'input':<28} {'ours s':>8} {'plain s':>8} {'ratio':>6} {'plain/ours bound':>17}"
    print(head + f" {'ours conv (iters)':>18} {'plain conv (iters)':>19}")
    for name, g in inputs.items():
        t = time.perf_counter()
        ours = optimal_schedule(g, full_output=True)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        lrs, conv, nit = plain_lbfgsb(g)
        t_plain = time.perf_counter() - t
        rel = last_iterate_bound(lrs, g) / ours.bound
        print(
            f"{name:<28} {t_ours:>8.2f} {t_plain:>8.2f} {t_plain / t_ours:>6.1f} {rel:>17.5f}"
            f" {str(ours.converged) + f' ({ours.iterations})':>18}"
            f" {str(conv) + f' ({nit})':>19}",
            flush=True,
        )


if __name__ == "__main__":
    main()
