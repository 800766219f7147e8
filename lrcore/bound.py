"""The last-iterate bound of SGD for any schedule (Corollary 12 of arXiv:2310.07831 v2/v3).

For lrs ``lr_t >= 0``, gradient norms ``G_t`` and ``D = |x_0 - x*|``, with
``S_k = sum_{t >= k} lr_t`` and ``Q_k = sum_{t >= k} lr_t^2 G_t^2``::

    bound = D^2 / (2 S_0) + Q_0 / (2 S_0) + 1/2 sum_{k=0}^{T-2} (1/S_{k+1} - 1/S_k) Q_k

Telescoping gives the O(T) form used here, with ``a_t = lr_t^2 G_t^2``::

    bound = D^2 / (2 S_0) + 1/2 [ sum_{t=1}^{T-1} a_{t-1} / S_t  +  a_{T-1} / S_{T-1} ]

Trailing zero steps never move the iterate and are dropped first.

>>> T = 200
>>> round(best_scale(np.ones(T), np.ones(T))[0] * T ** 0.5, 2)   # constant
2.62
>>> round(best_scale(1 - np.arange(T) / T, np.ones(T))[0] * T ** 0.5, 2)   # linear decay
2.02
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from lrcore._validate import as_norms, check_finite, check_int

__all__ = [
    "OptimalSchedule",
    "OptimalScheduleWarning",
    "compare_bounds",
    "last_iterate_bound",
    "bound_reference",
    "bound_terms",
    "best_scale",
    "optimal_schedule",
]


def _inputs(fn: str, lrs, grad_norms, D: float) -> tuple[np.ndarray, np.ndarray]:
    lr = as_norms(fn, lrs, name="lrs", positive=False)
    check_finite(fn, "D", D)
    if D <= 0:
        raise ValueError(f"{fn}: D must be > 0, got {D!r}")
    g = np.asarray(grad_norms, dtype=np.float64)
    if g.ndim == 0:
        g = np.full_like(lr, float(g))
    if g.shape != lr.shape:
        raise ValueError(
            f"{fn}: grad_norms must be a number or have the length of lrs ({len(lr)}), "
            f"got shape {g.shape}"
        )
    g = as_norms(fn, g, positive=False) if len(g) >= 2 else g
    nonzero = lr != 0
    if not nonzero.any():
        raise ValueError(f"{fn}: lrs are all zero; the iterate never moves")
    last = len(lr) - int(np.argmax(nonzero[::-1]))  # drop trailing zero steps
    return lr[:last], g[:last]


def _scaled_terms(fn: str, lrs, grad_norms, D: float) -> tuple[float, float, float, float]:
    """``(A1, B1, L, m)`` with ``A = D^2 A1 / L`` and ``B = L m^2 B1``, computed on
    ``lrs / L`` (L the largest lr) and on ``lr_t G_t`` divided by its largest value
    (``m``), so no square or sum overflows or vanishes for any finite inputs (norms of
    1e-320 or 1e308 included): the largest term of ``B1`` is of order 1."""
    lr, g = _inputs(fn, lrs, grad_norms, D)
    L = float(lr.max())
    lr = lr / L
    q = lr * g
    Q = float(q.max()) or 1.0  # all-zero norms: B = 0 (best_scale refuses that)
    S = np.cumsum(lr[::-1])[::-1]
    del lr  # three arrays of the run's length at a time (10 million steps: 240 MB)
    a = np.square(np.divide(q, Q, out=q), out=q)  # (q / Q) ** 2, in place
    A1 = 1.0 / (2.0 * S[0])
    # a lr of ~1e-320 after a large one: the bound is inf (refused by the callers); a term
    # with a_t = 0 is 0 even where S underflowed to 0 (lrs below L * 1e-308 after scaling)
    with np.errstate(over="ignore", divide="ignore"):
        last = a[-1] / S[-1] if a[-1] > 0 else 0.0
        B1 = 0.5 * (np.sum(np.divide(a[:-1], S[1:], out=a[:-1], where=a[:-1] > 0)) + last)
    return float(A1), float(B1), L, Q


_TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64, 2.2e-308


def _ratio(num, den=()) -> float:
    """``prod(num) / prod(den)`` for positive (or zero, or inf) factors, without overflowing
    or vanishing on the way: directly when that stays in range, else in log space."""
    with np.errstate(all="ignore"):
        v = np.prod(num) / np.prod(den) if den else np.prod(num)  # numpy: x / 0 is inf
        if np.isfinite(v) and v > 0:
            return float(v)
        return float(np.exp(np.sum(np.log(num)) - np.sum(np.log(den))))


def _finite(fn: str, what: str, value: float, lrs_max: float, m: float, D: float) -> float:
    """``value`` when it is a finite float64, else the ValueError the contract promises."""
    if np.isfinite(value):
        return value
    raise ValueError(
        f"{fn}: {what} is beyond float64 (over 1.8e308) for D={D!r}, lrs up to {lrs_max:.3g} "
        f"and grad_norms up to about {m:.3g}; scale D, lrs or grad_norms down"
    )


def bound_terms(lrs, grad_norms, D: float = 1.0) -> tuple[float, float]:
    """``(A, B)`` with ``bound(c * lrs) = A / c + B * c``: A is the distance term, B the rest.

    Both are finite, or a ValueError says which exceeds float64 (``B`` grows as the norms
    squared); :func:`best_scale` combines them without overflowing.

    >>> bound_terms([1.0, 1.0], 1.0)
    (0.25, 1.0)
    """
    return _bound_terms("bound_terms", lrs, grad_norms, D)


def _bound_terms(fn: str, lrs, grad_norms, D: float) -> tuple[float, float]:
    """:func:`bound_terms`, its errors naming ``fn`` (the public function called)."""
    A1, B1, L, m = _scaled_terms(fn, lrs, grad_norms, D)
    A = _finite(fn, "the distance term D^2 / (2 sum lrs)", _ratio([D, D, A1], [L]), L, m, D)
    B = _finite(fn, "the gradient term", _ratio([L, m, m, B1]), L, m, D)
    return A, B


def last_iterate_bound(lrs, grad_norms, D: float = 1.0) -> float:
    """Upper bound on ``f(x_T) - f*`` for SGD run with ``lrs`` (see the module docstring).

    ``grad_norms`` is one number (constant norms) or one value per step.

    >>> round(last_iterate_bound([0.1] * 100, 1.0), 4)  # constant lr pays a log(T) factor
    0.3589
    """
    A, B = _bound_terms("last_iterate_bound", lrs, grad_norms, D)
    if not np.isfinite(A + B):
        raise ValueError(
            f"last_iterate_bound: the bound {A:.3g} + {B:.3g} is beyond float64 (over 1.8e308) "
            f"for D={D!r}; scale D, lrs or grad_norms down"
        )
    return A + B


def bound_reference(lrs, grad_norms, D: float = 1.0) -> float:
    """The bound exactly as written in the paper, with plain loops (the test oracle)."""
    lr, g = _inputs("bound_reference", lrs, grad_norms, D)
    D = np.float64(D)  # numpy scalars: an overflow is inf, not an OverflowError
    T = len(lr)
    with np.errstate(all="ignore"):
        S = [sum(lr[k:]) for k in range(T)]
        Q = [sum(lr[t] ** 2 * g[t] ** 2 for t in range(k, T)) for k in range(T)]
        total = D**2 / (2 * S[0]) + Q[0] / (2 * S[0])
        for k in range(T - 1):
            total += 0.5 * (1 / S[k + 1] - 1 / S[k]) * Q[k]
    if not np.isfinite(total):
        raise ValueError(
            f"bound_reference: the plain sums leave float64 for D={float(D)!r}, lrs up to "
            f"{float(lr.max()):.3g} and grad_norms up to {float(g.max()):.3g}; "
            "last_iterate_bound computes the bound without overflowing"
        )
    return float(total)


def best_scale(shape, grad_norms, D: float = 1.0) -> tuple[float, float]:
    """``(best bound, best scale c*)`` for ``lrs = c * shape``: ``c* = sqrt(A/B)``,
    bound ``2 sqrt(A B)``, in closed form.

    >>> bound, c = best_scale([1.0, 1.0], 1.0)
    >>> round(bound, 6), round(c, 6)
    (1.0, 0.5)
    """
    best = _best_scaled("best_scale", shape, grad_norms, D)
    return best.bound, best.scale


@dataclass(frozen=True)
class _Best:
    """The best scale of one shape, in factors of moderate size (``k``, ``r`` near 1) and of
    any size (``D``, ``L`` the largest lr of the shape, ``m`` the largest ``lr * G / L``):
    bound ``2 sqrt(A B) = k D m``, scale ``c* = sqrt(A / B) = r D / (L m)``, peak ``c* L``."""

    k: float
    r: float
    D: float
    L: float
    m: float
    bound: float
    scale: float
    peak_lr: float


def _best_scaled(fn: str, shape, grad_norms, D: float) -> _Best:
    """The best bound, scale and peak lr of ``shape``, each a finite float64 (the scale and
    the peak lr normal, as every lr lrcore accepts), or a ValueError saying which is not."""
    A1, B1, L, m = _scaled_terms(fn, shape, grad_norms, D)
    if B1 <= 0:
        raise ValueError(f"{fn}: grad_norms are all zero, the bound has no finite optimum")
    k, r = 2.0 * float(np.sqrt(A1 * B1)), float(np.sqrt(A1 / B1))
    bound = _finite(fn, "the best bound", _ratio([k, D, m]), L, m, D)
    scale, peak = _ratio([r, D], [L, m]), _ratio([r, D], [m])
    for what, v in (("best scale c*", scale), ("best peak lr", peak)):
        if not (np.isfinite(v) and v >= _TINY):
            raise ValueError(
                f"{fn}: the {what} is {v:.3g}, outside the normal float64 range lrcore accepts "
                f"for a learning rate ({_TINY:.3g} to 1.8e308) for D={D!r} and grad_norms up to "
                f"about {m:.3g}; scale D or grad_norms"
            )
    return _Best(k, r, D, L, m, bound, scale, peak)


def compare_bounds(shapes, grad_norms, D: float = 1.0, reference: str | None = "linear"):
    """One row per named shape: its bound at the best scale, the peak lr that scale gives
    (``c* * max(shape)``), and, when ``reference`` is among the shapes, the bound relative to it.

    >>> T = 200
    >>> t = compare_bounds({"linear": 1 - np.arange(T) / T, "constant": np.ones(T)}, 1.0)
    >>> t.schedule.tolist(), t.vs_linear.round(3).tolist()
    (['linear', 'constant'], [1.0, 1.297])
    """
    import pandas as pd

    if not hasattr(shapes, "items") or not len(shapes):
        raise ValueError(
            "compare_bounds: shapes must be a non-empty dict of name -> schedule values, got "
            f"{shapes!r}"[:300]
        )
    rows, best = [], []
    for name, shape in shapes.items():
        best.append(_best_scaled("compare_bounds", shape, grad_norms, D))
        rows.append({"schedule": name, "bound": best[-1].bound, "best_peak_lr": best[-1].peak_lr})
    table = pd.DataFrame(rows, columns=["schedule", "bound", "best_peak_lr"])
    if reference is not None and reference in shapes:
        ref = best[list(shapes).index(reference)]
        # ratios of the moderate factors: finite whenever both bounds are
        table[f"vs_{reference}"] = [(b.k / ref.k) * (b.m / ref.m) for b in best]
    return table


def _bound_and_grad(lr: np.ndarray, g2: np.ndarray, D: float) -> tuple[float, np.ndarray]:
    """The bound and its exact gradient in O(T) (all lrs > 0)."""
    S = np.cumsum(lr[::-1])[::-1]
    a = lr**2 * g2
    c = np.empty_like(lr)  # c_t = a_{t-1} / S_t for t >= 1, the last one counted twice
    c[0] = 0.0
    c[1:] = a[:-1] / S[1:]
    value = D**2 / (2 * S[0]) + 0.5 * (c.sum() + a[-1] / S[-1])
    # d/d lr_i: through S_0 (every i), a_i (via the c_{i+1} term, or the last term),
    # and every S_t with t <= i (prefix sums of c_t / S_t)
    grad = np.full_like(lr, -(D**2) / (2 * S[0] ** 2))
    grad[:-1] += lr[:-1] * g2[:-1] / S[1:]
    grad[-1] += 0.5 * g2[-1]  # a_{T-1}/S_{T-1} = lr_{T-1} G_{T-1}^2
    grad -= 0.5 * np.cumsum(c / S)
    return float(value), grad


@dataclass(frozen=True)
class OptimalSchedule:
    """What :func:`optimal_schedule` found, and whether L-BFGS-B says it converged."""

    lrs: np.ndarray  # absolute lrs (not peak-normalised), all >= 1e-8
    bound: float  # last_iterate_bound(lrs, grad_norms, D)
    converged: bool  # L-BFGS-B stopped on its tolerance, not on maxiter or an error
    iterations: int
    message: str  # L-BFGS-B's own words


class OptimalScheduleWarning(RuntimeWarning):
    """``optimal_schedule`` stopped before L-BFGS-B reported convergence."""


def optimal_schedule(
    grad_norms,
    D: float = 1.0,
    maxiter: int = 20000,
    ftol: float = 1e-13,
    full_output: bool = False,
):
    """The schedule minimising :func:`last_iterate_bound` for these norms (absolute lrs).

    L-BFGS-B with the analytic O(T) gradient over ``u = log(lr)`` with ``lr_t >= 1e-8`` as in
    the paper's code, started from linear decay or the unsmoothed refined schedule (the better
    one) at its best scale. Optimising over log-lrs matters on noisy norms: the optimal lrs span
    orders of magnitude, and over plain lrs L-BFGS-B stalls at ``maxiter`` (lognormal norms,
    T = 1,000: 5 % above the optimum after 20,000 iterations; over log-lrs it converges in
    about 3,000; see ``benchmarks/bench_optimal.py``). ``ftol`` is the relative change of the
    bound at which L-BFGS-B stops.

    It always says whether it converged: with ``full_output`` it returns an
    :class:`OptimalSchedule` (``converged``, ``iterations``, ``message``); when it did not
    converge it also warns with :class:`OptimalScheduleWarning`.

    >>> T = 200
    >>> lrs = optimal_schedule(np.ones(T))
    >>> round(last_iterate_bound(lrs, 1.0) * T ** 0.5, 3)
    2.004
    >>> optimal_schedule(np.ones(T), full_output=True).converged
    True
    """
    g_in = as_norms("optimal_schedule", grad_norms, positive=False)
    D_in = check_finite("optimal_schedule", "D", D)
    if D_in <= 0:
        raise ValueError(f"optimal_schedule: D must be > 0, got {D!r}")
    check_int("optimal_schedule", "maxiter", maxiter, minimum=1)
    if not g_in.max() > 0:
        raise ValueError("optimal_schedule: grad_norms are all zero, the bound has no optimum")
    # Solved for norms G / max(G) and D = 1 (the bound is D max(G) times that problem's at
    # lrs (D / max(G)) lr), so that no square overflows or vanishes; the floor lr_t >= 1e-8
    # is kept in the caller's units.
    m = float(g_in.max())
    g, D = g_in / m, 1.0
    to_caller = _ratio([D_in], [m])  # lrs in the caller's units = lrs here * to_caller
    floor = _ratio([_LR_FLOOR, m], [D_in])
    T = len(g)
    g2 = g**2
    # start from whichever is better: linear decay, or the unsmoothed refined schedule
    # (close to the optimum for noisy norms)
    from lrcore.refine import refine

    starts = [1.0 - np.arange(T) / T]
    if np.all(g > 0):
        starts.append(np.maximum(refine(g, tau=0.0), 1e-3))
    shape = min(starts, key=lambda s: best_scale(s, g, D)[0])
    _, c0 = best_scale(shape, g, D)
    if floor >= c0 * float(shape.max()):  # the floor is above the best peak lr: it binds everywhere
        lrs = np.full(T, _LR_FLOOR)
        return _optimum(lrs, g_in, D_in, full_output, True, 0, "the floor 1e-8 binds at every step")
    # lr = c0 * exp(u): u is O(1) and the objective is rescaled to ~1 at the start
    scale = 1.0 / max(last_iterate_bound(c0 * shape, g, D), 1e-300)

    def fun(u):
        with np.errstate(over="ignore", invalid="ignore"):  # a line search's far trial: inf
            lr = c0 * np.exp(u)
            value, grad = _bound_and_grad(lr, g2, D)
            return value * scale, grad * lr * scale

    res = minimize(
        fun,
        np.log(shape),
        jac=True,
        method="L-BFGS-B",
        bounds=[(np.log(_LR_FLOOR) + np.log(m) - np.log(D_in) - np.log(c0), None)] * T,
        options={"maxiter": maxiter, "maxfun": 2 * maxiter, "ftol": ftol, "gtol": 1e-12},
    )
    lrs = c0 * np.exp(res.x)
    with np.errstate(all="ignore"):
        if np.isfinite(to_caller) and to_caller >= _TINY:
            lrs = lrs * to_caller
        else:
            lrs = np.exp(np.log(lrs) + np.log(D_in) - np.log(m))
    lrs = np.maximum(lrs, _LR_FLOOR)  # what rounding put a hair below the floor
    if not np.all(np.isfinite(lrs)):
        raise ValueError(
            f"optimal_schedule: the best lrs are beyond float64 (over 1.8e308) for D={D_in!r} "
            f"and grad_norms up to {m:.3g}; scale D down or grad_norms up"
        )
    converged = bool(res.status == 0)
    message = str(res.message)
    if not converged:
        warnings.warn(
            f"optimal_schedule: L-BFGS-B stopped after {res.nit} iterations without converging "
            f"({message}); the schedule is the best found, not the optimum",
            OptimalScheduleWarning,
            stacklevel=2,
        )
    return _optimum(lrs, g_in, D_in, full_output, converged, int(res.nit), message)


_LR_FLOOR = 1e-8  # the smallest lr optimal_schedule considers, as in the paper's code


def _optimum(lrs, g, D, full_output, converged, iterations, message):
    if not full_output:
        return lrs
    return OptimalSchedule(lrs, last_iterate_bound(lrs, g, D), converged, iterations, message)
