import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lrcore import best_scale, last_iterate_bound, optimal_schedule, refine
from lrcore.bound import OptimalScheduleWarning, _bound_and_grad, bound_reference, bound_terms

T = 200
t = np.arange(T)
G = np.ones(T)


@pytest.mark.parametrize(
    "shape,expected,tol",
    [
        (np.ones(T), 2.62, 0.005),
        (0.5 * (1 + np.cos(np.pi * t / T)), 2.075, 0.001),
        (1 - t / T, 2.02, 0.005),
        (refine(G), 2.027, 0.001),
    ],
)
def test_reference_figures(shape, expected, tol):
    assert best_scale(shape, G)[0] * np.sqrt(T) == pytest.approx(expected, abs=tol)


def test_numerical_optimum_about_2004_and_below_linear():
    lrs = optimal_schedule(G)
    opt = last_iterate_bound(lrs, G) * np.sqrt(T)
    assert opt == pytest.approx(2.004, abs=0.001)
    assert opt < best_scale(1 - t / T, G)[0] * np.sqrt(T)
    assert np.all(lrs >= 1e-8)


def test_optimal_schedule_10k_is_fast_enough_to_use():
    start = time.perf_counter()
    lrs = optimal_schedule(np.ones(10_000))
    assert time.perf_counter() - start < 30  # the benchmark measures it; this only guards hangs
    assert last_iterate_bound(lrs, 1.0) <= best_scale(1 - np.arange(10_000) / 10_000, 1.0)[0]


def test_optimal_schedule_converges_on_noisy_norms_and_beats_the_plain_parametrisation():
    # lognormal norms, T = 1,000: over plain lrs L-BFGS-B stopped at maxiter without a
    # word (relative error 1e-4 .. 5e-2); over log-lrs it converges and says so
    g = np.random.default_rng(1).lognormal(0.0, 1.0, 1000)
    res = optimal_schedule(g, full_output=True)
    assert res.converged and res.iterations < 20000, res.message
    assert res.bound == pytest.approx(last_iterate_bound(res.lrs, g), rel=1e-12)
    for shape in (1 - np.arange(1000) / 1000, refine(g, tau=0.0), refine(g)):
        assert res.bound <= best_scale(shape, g)[0]
    # a local perturbation of the optimum never lowers the bound (first-order optimality)
    rng = np.random.default_rng(0)
    for _ in range(5):
        bumped = res.lrs * np.exp(1e-3 * rng.normal(size=1000))
        assert last_iterate_bound(bumped, g) >= res.bound * (1 - 1e-9)


def test_optimal_schedule_warns_when_it_stops_early():
    g = np.random.default_rng(1).lognormal(0.0, 1.0, 300)
    with pytest.warns(OptimalScheduleWarning, match="stopped after 3 iterations without"):
        res = optimal_schedule(g, maxiter=3, full_output=True)
    assert not res.converged and res.iterations == 3
    with pytest.raises(ValueError, match="optimal_schedule: maxiter must be"):
        optimal_schedule(g, maxiter=0)


lrs_strategy = arrays(np.float64, st.integers(2, 60), elements=st.floats(1e-4, 10))


@given(lrs_strategy, st.floats(1e-3, 10), st.floats(0.1, 10))
def test_fast_bound_equals_paper_formula(lrs, g, D):
    gn = np.full(len(lrs), g) * np.linspace(1, 2, len(lrs))
    assert last_iterate_bound(lrs, gn, D) == pytest.approx(bound_reference(lrs, gn, D), rel=1e-10)


@given(lrs_strategy, st.floats(0.01, 100))
def test_scaling_split_and_best_scale(lrs, c):
    A, B = bound_terms(lrs, 1.0)
    assert last_iterate_bound(c * lrs, 1.0) == pytest.approx(A / c + B * c, rel=1e-9)
    best, cstar = best_scale(lrs, 1.0)
    assert best <= last_iterate_bound(c * lrs, 1.0) * (1 + 1e-9)
    assert last_iterate_bound(cstar * lrs, 1.0) == pytest.approx(best, rel=1e-9)


def test_trailing_zeros_are_dropped():
    lrs = np.array([1.0, 0.5, 0.25])
    assert last_iterate_bound(np.r_[lrs, 0, 0], 1.0) == last_iterate_bound(lrs, 1.0)


def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, g2 = rng.random(40) + 0.1, rng.random(40) + 0.1
    _, grad = _bound_and_grad(x, g2, 1.3)
    eps = 1e-6
    fd = [
        (_bound_and_grad(x + eps * e, g2, 1.3)[0] - _bound_and_grad(x - eps * e, g2, 1.3)[0])
        / (2 * eps)
        for e in np.eye(40)
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: last_iterate_bound([0.0, 0.0], 1.0), r"lrs are all zero"),
        (lambda: last_iterate_bound([1.0, -1.0], 1.0), r"lrs\[1\] = -1.0 must be >= 0"),
        (
            lambda: last_iterate_bound([1.0, 1.0], [1.0, 1.0, 1.0]),
            r"grad_norms must be a number or have the length",
        ),
        (lambda: last_iterate_bound([1.0, 1.0], 1.0, D=0), r"D must be > 0"),
        (lambda: best_scale([1.0, 1.0], 0.0), r"grad_norms are all zero"),
        (lambda: last_iterate_bound([1.0], 1.0), r"lrs needs at least 2 values"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
