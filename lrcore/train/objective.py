"""The objective each convex task minimises, and its minimum ``f_star`` from an exact
float64 full-batch solver (numpy and scipy only: no torch here).

- ``logreg``: mean cross-entropy of ``X @ W + b`` + ``l2 / 2 * (|W|^2 + |b|^2)``; f_star by
  scipy's L-BFGS-B to a max-abs gradient of ``GTOL``.
- ``svm``: the multiclass hinge of Crammer & Singer,
  ``mean_i max(0, max_{j != y_i} 1 + s_ij - s_iy_i)`` with ``s = X @ W + b``, no L2 term;
  f_star is exactly 0 when a linear model separates the training set strictly (found by a
  short L-BFGS run on the logistic loss; scaling it up makes every margin >= 1), otherwise
  it comes from the hinge's linear program (HiGHS via ``scipy.optimize.linprog``), evaluated
  again at the solution the LP returns.

``l2`` is the weight decay when it is an L2 term of the objective (SGD, Adam), else 0.
Where no minimum can be certified (the hinge with an L2 term is a QP, logistic regression
whose solver stops before ``GTOL``), f_star is nan. Values are cached per data split and l2.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["F_STAR_TOL", "GTOL", "convex_objective", "f_star", "hinge_lp", "solve"]

GTOL = 1e-8  # L-BFGS-B stops when every gradient coordinate is below this
F_STAR_TOL = 1e-6  # |f_star - min f| is below this: suboptimality >= -F_STAR_TOL


def _scores(W, b, X):
    return X @ W + b


def _logreg(W, b, X, y, l2):
    s = _scores(W, b, X)
    m = s.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(s - m).sum(1))
    loss = np.mean(lse - s[np.arange(len(y)), y])
    p = np.exp(s - lse[:, None])
    p[np.arange(len(y)), y] -= 1.0
    p /= len(y)
    gW, gb = X.T @ p + l2 * W, p.sum(0) + l2 * b
    return loss + 0.5 * l2 * (np.sum(W * W) + np.sum(b * b)), gW, gb


def _hinge(W, b, X, y, l2):
    s = _scores(W, b, X)
    margins = 1.0 + s - s[np.arange(len(y)), y][:, None]
    margins[np.arange(len(y)), y] = 0.0
    return np.mean(margins.max(1)) + 0.5 * l2 * (np.sum(W * W) + np.sum(b * b))


def convex_objective(task: str, W, b, X, y, l2: float = 0.0) -> float:
    """The objective of ``task`` ("logreg" or "svm") at weights ``W`` (d, k), bias ``b`` (k,).

    >>> X, y = np.eye(2), np.array([0, 1])
    >>> round(convex_objective("logreg", np.zeros((2, 2)), np.zeros(2), X, y), 6)  # log 2
    0.693147
    >>> convex_objective("svm", 2 * np.eye(2), np.zeros(2), X, y)  # margins of 2: no loss
    0.0
    """
    if task not in _SOLVERS:
        raise ValueError(f"convex_objective: task must be one of {list(_SOLVERS)}, got {task!r}")
    W, b, X = (np.asarray(a, dtype=np.float64) for a in (W, b, X))
    y = np.asarray(y, dtype=np.int64)
    return float(_logreg(W, b, X, y, l2)[0] if task == "logreg" else _hinge(W, b, X, y, l2))


def _solve_logreg(X, y, k, l2, maxiter: int = 50_000) -> tuple[float, np.ndarray, np.ndarray]:
    from scipy.optimize import minimize

    d = X.shape[1]

    def fun(theta):
        f, gW, gb = _logreg(theta[: d * k].reshape(d, k), theta[d * k :], X, y, l2)
        return f, np.concatenate([gW.ravel(), gb])

    res = minimize(
        fun,
        np.zeros(d * k + k),
        jac=True,
        method="L-BFGS-B",
        options={
            "maxiter": maxiter,
            "maxfun": 2 * maxiter,
            "gtol": GTOL,
            "ftol": 0.0,
            "maxcor": 30,
        },
    )
    if np.max(np.abs(res.jac)) > 10 * GTOL:  # not converged: no certified minimum
        return float("nan"), res.x[: d * k].reshape(d, k), res.x[d * k :]
    return float(res.fun), res.x[: d * k].reshape(d, k), res.x[d * k :]


def _solve_hinge(X, y, k, l2) -> tuple[float, np.ndarray, np.ndarray]:
    n, d = X.shape
    if l2 > 0:  # a QP, not an LP: no exact solver here
        return float("nan"), np.zeros((d, k)), np.zeros(k)
    _, W, b = _solve_logreg(X, y, k, 0.0, maxiter=300)
    s = _scores(W, b, X)
    gap = s[np.arange(n), y] - np.where(np.arange(k) == y[:, None], -np.inf, s).max(1)
    if gap.min() > 0:  # strictly separable: W / min gap has every margin >= 1, hinge 0
        return 0.0, W / gap.min(), b / gap.min()
    return hinge_lp(X, y, k)


def hinge_lp(X, y, k: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The hinge's LP: min (1/n) sum xi_i s.t. s_ij - s_iy_i - xi_i <= -1 (j != y_i), xi >= 0,
    W and b free; returns (the hinge at the LP's solution, W, b)."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)
    n, d = X.shape
    i, j = np.nonzero(np.arange(k)[None, :] != y[:, None])  # one row per (example, wrong class)
    rows = np.arange(len(i))
    f = np.arange(d)
    cols = np.concatenate(
        [
            (f[None, :] * k + j[:, None]).ravel(),  # + x_i . w_j
            (f[None, :] * k + y[i][:, None]).ravel(),  # - x_i . w_y
            d * k + j,  # + b_j
            d * k + y[i],  # - b_y
            d * k + k + i,  # - xi_i
        ]
    )
    vals = np.concatenate(
        [X[i].ravel(), -X[i].ravel(), np.ones(len(i)), -np.ones(len(i)), -np.ones(len(i))]
    )
    rr = np.concatenate([np.repeat(rows, d), np.repeat(rows, d), rows, rows, rows])
    A = sp.csr_array((vals, (rr, cols)), shape=(len(i), d * k + k + n))
    c = np.concatenate([np.zeros(d * k + k), np.full(n, 1.0 / n)])
    bounds = [(None, None)] * (d * k + k) + [(0, None)] * n
    res = linprog(c, A_ub=A, b_ub=-np.ones(len(i)), bounds=bounds, method="highs-ipm")
    if res.status != 0:
        return float("nan"), np.zeros((d, k)), np.zeros(k)
    W, b = res.x[: d * k].reshape(d, k), res.x[d * k : d * k + k]
    return float(_hinge(W, b, X, y, 0.0)), W, b


_SOLVERS = {"logreg": _solve_logreg, "svm": _solve_hinge}


def f_star(config) -> float:
    """Minimum of the objective of ``config`` (a RunConfig of a convex task) on its training
    split, or nan where it cannot be certified (see the module docstring). For task "lm": the
    true Markov model's cross-entropy on the run's held-out tokens (the objective there is the
    held-out loss; its expectation is the source's entropy rate). Cached per
    (data split, task, l2), so a grid over schedules, peak lrs and seeds solves it once per seed.
    """
    if getattr(config, "task", None) == "lm":  # the true model's loss on the held-out tokens
        from lrcore.train.data import lm_dataset

        return float(lm_dataset(config).reference_test_loss.mean())
    if not config.convex:
        return float("nan")
    from lrcore.train.data import data_spec

    l2 = float(config.weight_decay) if config.l2_in_objective else 0.0
    return solve(data_spec(config), config.task, l2)[0]


@lru_cache(maxsize=256)
def solve(spec, task: str, l2: float) -> tuple[float, np.ndarray, np.ndarray]:
    """``(f_star, W*, b*)`` for the training split of ``spec`` (a DataSpec), cached."""
    from lrcore.train.data import _load

    data = _load(spec)
    X = np.asarray(data.X_train, dtype=np.float64)
    return _SOLVERS[task](X, data.y_train, data.n_classes, l2)
