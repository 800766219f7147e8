import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lrcore import refine, refine_reference, smooth_norms, smoothing_width, stretch, summarize
from lrcore.fit import fit_family
from lrcore.registry import build_schedule
from lrcore.schedules import evaluate

# refinement.md, "Golden values"
GOLDEN = [
    ([4, 2, 1, 1, 2], 0.1, "sgd", [0.125, 0.45, 1.0, 0.2, 0.0]),
    ([4, 2, 1, 1, 2], 0.1, "adam", [0.5, 0.8333333, 1.0, 0.3333333, 0.0]),
    ([1, 1, 1, 1, 1], 0.1, "sgd", [1.0, 0.75, 0.5, 0.25, 0.0]),
    ([1, 1, 1, 1, 1], 0.7, "adam", [1.0, 0.75, 0.5, 0.25, 0.0]),
    ([1, 1, 1, 1, 1], 1.0, "sgd", [1.0, 0.75, 0.5, 0.25, 0.0]),
]


@pytest.mark.parametrize("norms,tau,opt,expected", GOLDEN)
def test_golden_refine(norms, tau, opt, expected):
    np.testing.assert_allclose(
        refine(np.array(norms, float), tau=tau, optimizer=opt), expected, atol=5e-8
    )


@pytest.mark.parametrize(
    "norms,tau,expected",
    [
        ([9, 1, 1, 1, 1, 1, 1, 1, 1, 9], 0.3, [9, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        ([5, 4, 3, 2, 1, 1, 1, 2, 3, 4, 5, 6], 0.25, [5, 4, 3, 2, 1, 1, 1, 2, 3, 4, 5, 5]),
    ],
)
def test_golden_smoothing(norms, tau, expected):
    assert smoothing_width(tau, len(norms)) == 3
    np.testing.assert_array_equal(smooth_norms(norms, tau), expected)


norms_strategy = arrays(
    np.float64,
    st.integers(2, 300),
    elements=st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False),
)


@given(norms_strategy, st.floats(0, 1), st.sampled_from(["sgd", "adam"]))
def test_fast_equals_plain_loop_reference(g, tau, opt):
    np.testing.assert_allclose(
        refine(g, tau, opt), refine_reference(g, tau, opt), rtol=1e-9, atol=1e-12
    )


@given(norms_strategy, st.floats(0, 1), st.sampled_from(["sgd", "adam"]), st.floats(1e-3, 1e3))
def test_properties(g, tau, opt, c):
    r = refine(g, tau, opt)
    assert r.shape == g.shape
    assert np.all((r >= 0) & (r <= 1))
    assert r.max() == 1.0 and r[-1] == 0.0
    np.testing.assert_allclose(refine(c * g, tau, opt), r, rtol=1e-9, atol=1e-12)


@given(
    st.integers(2, 2000), st.floats(1e-3, 1e3), st.floats(0, 1), st.sampled_from(["sgd", "adam"])
)
def test_constant_norms_give_linear_decay(n, value, tau, opt):
    np.testing.assert_allclose(
        refine(np.full(n, value), tau, opt), 1 - np.arange(n) / (n - 1), atol=1e-9
    )


def test_large_early_norms_give_warmup_and_late_rise_gives_fast_annealing():
    n = 1000
    falling = np.r_[np.linspace(10, 1, 200), np.ones(800)]
    assert summarize(refine(falling)).warmup_fraction > 0.1
    rising = np.r_[np.ones(800), np.linspace(1, 5, 200)]
    assert summarize(refine(rising)).half_fraction < summarize(refine(np.ones(n))).half_fraction


def test_smoothing_keeps_a_late_rise():
    g = np.r_[np.ones(90), np.full(10, 5.0)]
    assert smooth_norms(g, 0.1)[-1] == 5.0


@settings(max_examples=50)
@given(norms_strategy, st.floats(0, 1))
def test_smoothing_is_within_range_and_width_is_odd(g, tau):
    s = smooth_norms(g, tau)
    assert smoothing_width(tau, len(g)) % 2 == 1
    assert np.all((s >= g.min()) & (s <= g.max()))


def test_stretch():
    np.testing.assert_allclose(stretch([1.0, 0.0], 5), [1, 0.75, 0.5, 0.25, 0])
    # logged every 10 steps from step 10: progress is measured from the first logged step
    out = stretch([0.5, 1.0, 0.0], 41, steps=[10, 20, 50])
    assert out[0] == 0.5 and out[-1] == 0.0 and out[10] == pytest.approx(1.0)


@given(arrays(np.float64, st.integers(2, 100), elements=st.floats(0, 1)), st.integers(2, 500))
def test_stretch_keeps_endpoints_and_range(v, n):
    out = stretch(v, n)
    assert out[0] == v[0] and out[-1] == v[-1] and len(out) == n
    assert out.min() >= v.min() - 1e-12 and out.max() <= v.max() + 1e-12


def test_summarize():
    s = summarize(refine(np.r_[np.linspace(5, 1, 50), np.ones(150)]))
    assert 0 < s.warmup_fraction < s.half_fraction < 1
    lin = summarize(1 - np.arange(101) / 100)
    assert lin.warmup_fraction == 0 and lin.half_fraction == 0.5 and lin.mean == pytest.approx(0.5)


def test_fit_family_recovers_known_parameters():
    T = 500
    target = evaluate(build_schedule("polynomial", T, warmup_steps=50, power=2.0), T)
    fit = fit_family(target)
    assert fit.family == "warmup_poly"
    assert fit.params["warmup_fraction"] == pytest.approx(0.1, abs=0.01)
    assert fit.params["power"] == pytest.approx(2.0, rel=0.02)
    assert fit.r2 > 0.999
    rebuilt = evaluate(fit.to_schedule(T), T)
    assert np.abs(rebuilt - target / target.max()).max() < 0.02
    wsd = evaluate(
        build_schedule("wsd", T, warmup_steps=0, decay_fraction=0.3, cooldown="cosine"), T
    )
    fw = fit_family(wsd, "best")
    assert fw.family == "wsd" and fw.params["cooldown"] == "cosine" and fw.r2 > 0.99
    assert "warm-up" in fw.describe() and "cool-down over the last 30%" in fw.describe()
    full = fit_family(
        evaluate(build_schedule("wsd", T, decay_fraction=1.0, cooldown="1-sqrt"), T), "wsd"
    )
    assert full.params["decay_fraction"] == 1.0 and "1-sqrt decay to the end" in full.describe()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: refine([1.0]), r"refine: grad_norms needs at least 2 values, got 1"),
        (lambda: refine([]), r"needs at least 2 values, got 0"),
        (lambda: refine([1.0, float("nan"), 2.0]), r"grad_norms\[1\] = nan is not finite"),
        (lambda: refine([1.0, float("inf")]), r"grad_norms\[1\] = inf is not finite"),
        (lambda: refine([1.0, 2.0, 0.0]), r"grad_norms\[2\] = 0.0 must be > 0"),
        (lambda: refine([1.0, -2.0]), r"grad_norms\[1\] = -2.0 must be > 0"),
        (lambda: refine([1.0, 2.0], tau=1.5), r"tau must be in \[0, 1\], got 1.5"),
        (lambda: refine([1.0, 2.0], tau=-0.1), r"tau must be in \[0, 1\], got -0.1"),
        (
            lambda: refine([1.0, 2.0], optimizer="lion"),
            r"optimizer must be one of \['adam', 'sgd'\], got 'lion'",
        ),
        (lambda: refine([[1.0, 2.0]]), r"grad_norms must be 1-D"),
        (lambda: refine(["a", "b"]), r"grad_norms must be a sequence of numbers"),
        (lambda: stretch([1.0, 0.0], 1), r"stretch: total_steps must be > 1"),
        (lambda: stretch([1.0, 0.0], 5, steps=[3, 3]), r"steps must increase"),
        (lambda: fit_family([1.0, 0.5], family="spline"), r"family must be one of"),
        (lambda: summarize([0.0, 0.0]), r"must have a positive value"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(norms_strategy, st.floats(0, 1), st.sampled_from(["sgd", "adam"]))
def test_refine_smoothed_is_refine_after_smoothing(g, tau, opt):
    from lrcore.refine import refine_smoothed

    np.testing.assert_array_equal(refine_smoothed(smooth_norms(g, tau), opt), refine(g, tau, opt))


@pytest.mark.parametrize("n", [10, 1000])
def test_the_vectorised_wsd_curves_are_the_registrys(n):
    """fit's WSD family is scored on curves built in one numpy expression per warm-up; they
    equal the registry's schedules for every warm-up, cool-down and decay fraction tried."""
    from lrcore.fit import _DECAY_FRACTIONS, _WSD_COOLDOWNS, _curve, _wsd_curves

    for w in sorted({0, 1, n // 10, n // 2, n - 2}):
        for cooldown in _WSD_COOLDOWNS:
            ds = _DECAY_FRACTIONS[~((w >= n * (1 - _DECAY_FRACTIONS)) & (_DECAY_FRACTIONS < 1))]
            got = _wsd_curves(n, w, cooldown, ds)
            for row, d in zip(got, ds, strict=True):
                want = _curve("wsd", n, w, decay_fraction=float(d), cooldown=cooldown)
                np.testing.assert_allclose(row, want, rtol=0, atol=1e-12)


def _stretch_by_definition(values, total_steps, steps=None):
    """stretch as the specification writes it: progress of every logged point, np.interp."""
    v = np.asarray(values, dtype=np.float64)
    s = np.arange(len(v), dtype=np.float64) if steps is None else np.asarray(steps, np.float64)
    return np.interp(np.linspace(0.0, 1.0, total_steps), (s - s[0]) / (s[-1] - s[0]), v)


def test_stretch_equals_its_definition_bit_for_bit():
    """stretch reads only the points around each query when it shrinks a long log; on 600
    random logs (steps from 0, irregular, near 2^53, fractional) and lengths that take both
    paths, it returns exactly what interpolating on every point returns."""
    from lrcore.refine import _SPARSE

    rng = np.random.default_rng(0)
    sparse = 0
    for trial in range(600):
        n = int(rng.integers(2, 4000))
        kind = trial % 4
        if kind == 0:
            steps = None
        elif kind == 1:
            steps = np.cumsum(rng.integers(1, 50, n)) + int(rng.integers(-(10**6), 10**6))
        elif kind == 2:  # dense steps just below 2^53, where floats are whole numbers only
            steps = np.cumsum(rng.integers(1, 3, n))
            steps = steps - steps[-1] + 2**53
        else:
            steps = np.cumsum(rng.random(n) + 1e-3) * 10.0 ** rng.uniform(-3, 12)
        total = int(rng.integers(2, max(3, n // int(rng.choice([1, 2, 20, 50, 1000])) + 3)))
        sparse += total * _SPARSE < n
        values = rng.random(n)
        np.testing.assert_array_equal(
            stretch(values, total, steps=steps), _stretch_by_definition(values, total, steps)
        )
    assert sparse > 100  # both paths were taken


def test_stretch_still_refuses_steps_that_do_not_increase():
    with pytest.raises(ValueError, match=r"steps\[2\] = 1 does not"):
        stretch([1.0, 0.5, 0.0], 5, steps=[0, 2, 1])
    with pytest.raises(ValueError, match="does not"):  # equal once converted to float64
        stretch([1.0, 0.0], 5, steps=np.array([2**60, 2**60 + 1]))
