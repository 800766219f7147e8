import numpy as np
import pytest
import torch
from _peers import torch_lrs
from hypothesis import given
from hypothesis import strategies as st

from lrcore import schedules as S
from lrcore.registry import REGISTRY, build_schedule


@pytest.mark.parametrize("T", [1, 7, 100])
def test_linear_matches_torch_linearlr(T):
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.0, total_iters=T), T + 3)
    np.testing.assert_allclose(S.evaluate(S.linear_decay(1.0, T), T + 3), ref, atol=1e-12)


@pytest.mark.parametrize("T,final", [(10, 0.0), (50, 0.1)])
def test_cosine_matches_torch_cosineannealing(T, final):
    ref = torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T, eta_min=final), T + 1
    )
    np.testing.assert_allclose(S.evaluate(S.cosine_decay(1.0, T, final), T + 1), ref, atol=1e-12)


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 3.0])
def test_polynomial_matches_torch_polynomiallr(power):
    T = 40
    ref = torch_lrs(
        lambda o: torch.optim.lr_scheduler.PolynomialLR(o, T, power), T + 2, base_lr=0.3
    )
    np.testing.assert_allclose(
        S.evaluate(S.polynomial_decay(0.3, T, power), T + 2), ref, atol=1e-12
    )


def test_step_decay_matches_torch_steplr():
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 5, 0.5), 23)
    np.testing.assert_allclose(S.evaluate(S.step_decay(1.0, 5, 0.5), 23), ref, atol=1e-12)


def test_scalar_and_array_agree_and_types():
    sched = S.cosine_decay(2.0, 30, 0.1)
    arr = sched(np.arange(30))
    assert isinstance(sched(3), float)
    assert arr.shape == (30,)
    np.testing.assert_allclose([sched(t) for t in range(30)], arr)


def test_wsd_cooldowns():
    T = 100
    for cooldown in ("linear", "cosine", "1-sqrt"):
        v = S.evaluate(S.warmup_stable_decay(1.0, T, decay_fraction=0.2, cooldown=cooldown), T + 1)
        assert np.all(v[:80] == 1.0)
        assert v[100] == pytest.approx(0.0)
        assert np.all(np.diff(v[80:]) <= 1e-12)
    sq = S.warmup_stable_decay(1.0, T, 0.2, "1-sqrt")(90)
    assert sq == pytest.approx(1 - np.sqrt(0.5))


def test_warmup_then_schedule():
    v = S.evaluate(S.warmup(S.linear_decay(1.0, 10), 5), 15)
    np.testing.assert_allclose(v[:5], np.arange(5) / 5)  # HF / optax / torch: lr_0 = 0
    np.testing.assert_allclose(v[5:], 1 - np.arange(10) / 10)


def test_warmup_start_gives_nanogpt_form_and_shapes_end_below_peak():
    W = 7
    v = S.evaluate(S.warmup(S.constant(2.0), W, warmup_start=1 / (W + 1)), W + 2)
    np.testing.assert_allclose(v[:W], 2.0 * (np.arange(W) + 1) / (W + 1), atol=1e-15)
    for shape, f in [
        ("cosine", lambda x: 0.5 * (1 - np.cos(np.pi * x))),
        ("1-sqrt", lambda x: 1 - np.sqrt(1 - x)),
    ]:
        v = S.evaluate(S.warmup(S.constant(1.0), W, warmup_start=0.2, shape=shape), W + 1)
        np.testing.assert_allclose(v[:W], 0.2 + 0.8 * f(np.arange(W) / W), atol=1e-15)
        assert v[0] == pytest.approx(0.2) and np.all(v[:W] < 1.0) and v[W] == 1.0


def test_registry_warmup_params_reach_build_schedule():
    v = S.evaluate(
        build_schedule("linear", 20, warmup_steps=4, warmup_start=0.5, warmup_shape="cosine"), 20
    )
    np.testing.assert_allclose(v[:4], 0.5 + 0.25 * (1 - np.cos(np.pi * np.arange(4) / 4)))
    np.testing.assert_allclose(v[4:], 1 - np.arange(16) / 16)


def test_build_schedule_warmup_comes_out_of_total():
    v = S.evaluate(build_schedule("cosine", 100, peak_lr=0.5, warmup_steps=10), 100)
    assert np.argmax(v) == 10 and v.max() == pytest.approx(0.5)
    assert v[-1] == pytest.approx(0.5 * 0.5 * (1 + np.cos(np.pi * 89 / 90)))


def test_join_restarts_each_piece():
    v = S.evaluate(S.join([S.constant(1.0), S.linear_decay(1.0, 4), S.constant(0.0)], [3, 7]), 9)
    np.testing.assert_allclose(v, [1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0])


def test_piecewise_and_inverse_sqrt_and_exponential():
    assert S.evaluate(S.piecewise_constant([3, 2, 1], [1, 3]), 5).tolist() == [3, 2, 2, 1, 1]
    v = S.evaluate(S.rsqrt(1.0, 4), 16)
    assert np.all(v[:4] == 1.0) and v[15] == pytest.approx(0.5)
    v = S.evaluate(S.inverse_sqrt(1.0, 4), 13)
    assert v[0] == 1.0 and v[12] == pytest.approx(0.5) and np.all(np.diff(v) < 0)
    e = S.evaluate(S.exponential_decay(1.0, 10, 0.001), 11)
    np.testing.assert_allclose(e, 0.001 ** (np.arange(11) / 10))


def test_from_array_clamps():
    f = S.from_array([3.0, 2.0, 1.0])
    assert f(-1) == 3.0 and f(10) == 1.0


@given(
    st.sampled_from(sorted(REGISTRY)),
    st.integers(2, 500),
    st.floats(1e-4, 10),
    st.integers(0, 50),
)
def test_every_registry_schedule_is_finite_nonneg_and_bounded_by_peak(name, T, peak, w):
    w = min(w, T - 1)
    v = S.evaluate(build_schedule(name, T, peak_lr=peak, warmup_steps=w), T)
    assert v.shape == (T,)
    assert np.all(np.isfinite(v)) and np.all(v >= 0)
    assert v.max() <= peak * (1 + 1e-12)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: S.cosine_decay(1.0, 0), r"cosine_decay: total_steps must be > 0, got 0"),
        (
            lambda: S.linear_decay(float("nan"), 10),
            r"linear_decay: peak_lr must be a finite number",
        ),
        (
            lambda: S.linear_decay(1.0, 2.5),
            r"linear_decay: total_steps must be an integer, got 2.5",
        ),
        (lambda: S.polynomial_decay(1.0, 10, power=0), r"polynomial_decay: power must be > 0"),
        (lambda: S.step_decay(1.0, 0), r"step_decay: step_size must be > 0, got 0"),
        (lambda: S.exponential_decay(1.0, 10, final_lr=0.0), r"exponential_decay: .* must be > 0"),
        (lambda: S.warmup_stable_decay(1.0, 10, cooldown="zigzag"), r"cooldown must be one of"),
        (lambda: S.warmup_stable_decay(1.0, 10, decay_fraction=0), r"decay_fraction must be in"),
        (lambda: S.warmup(S.constant(1.0), -1), r"warmup: warmup_steps must be >= 0, got -1"),
        (lambda: S.join([S.constant(1.0)], [3]), r"join: need len\(schedules\)"),
        (lambda: S.piecewise_constant([1, 2], [3, 4]), r"piecewise_constant: need len"),
        (lambda: S.piecewise_constant([1, 2, 3], [4, 4]), r"strictly increasing"),
        (lambda: S.from_array([]), r"from_array: values must be a non-empty"),
        (lambda: build_schedule("zigzag", 10), r"unknown schedule 'zigzag'; known:"),
        (
            lambda: build_schedule("linear", 10, warmup_steps=10),
            r"warmup_steps must be < total_steps",
        ),
        (lambda: build_schedule("linear", 10, power=2), r"linear takes no parameter 'power'"),
        (lambda: build_schedule("polynomial", 10, power="x"), r"polynomial.power must be float"),
        (lambda: build_schedule("polynomial", 10, power=-1), r"polynomial.power must be >= 0.01"),
        (lambda: build_schedule("wsd", 10, cooldown="zig"), r"wsd.cooldown must be one of"),
        (lambda: S.evaluate(S.constant(1.0), 0), r"evaluate: total_steps must be > 0"),
    ],
)
def test_errors_name_function_parameter_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "argv,first,last",
    [
        (["multistep", "--milestones", "0.5,0.75", "--gamma", "0.5"], 1.0, 0.25),
        (["piecewise", "--boundaries", "0.3", "--values", "1,0.2"], 1.0, 0.2),
        (["join", "--schedules", "constant,linear", "--boundaries", "0.5"], 1.0, 0.2),
        (["cosine_restarts", "--num-cycles", "2"], 1.0, 0.5 * (1 + np.cos(np.pi * 0.8))),
        (["one_cycle", "--anneal", "linear"], 0.04, 0.04 / 1e4),
        (["cyclic", "--mode", "triangular2"], 0.1, None),
        (["linear", "--warmup-steps", "2", "--warmup-start", "0.5"], 0.5, 0.125),
    ],
)
def test_new_names_reach_the_cli(argv, first, last, capsys):
    from lrcore.cli import main

    assert main(["schedule", argv[0], "--total-steps", "10", *argv[1:]]) == 0
    lrs = np.loadtxt(capsys.readouterr().out.splitlines()[1:], delimiter=",")[:, 1]
    assert len(lrs) == 10 and lrs[0] == pytest.approx(first)
    if last is not None:
        assert lrs[-1] == pytest.approx(last)


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda: S.multi_step(1.0, [3, 2]),
            r"multi_step: milestones must be >= 0 and non-decreasing",
        ),
        (
            lambda: S.cosine_restarts(1.0, 10, num_cycles=0),
            r"cosine_restarts: num_cycles must be > 0",
        ),
        (lambda: S.one_cycle(1.0, 10, pct_start=1.0), r"one_cycle: pct_start must be in \(0, 1\)"),
        (lambda: S.one_cycle(1.0, 10, anneal="x"), r"one_cycle: anneal must be one of"),
        (lambda: S.cyclic(1.0, 0.1, 0), r"cyclic: step_size_up must be > 0, got 0"),
        (lambda: S.cyclic(1.0, 0.1, 2, mode="x"), r"cyclic: mode must be one of"),
        (lambda: S.warmup(S.constant(1.0), 2, warmup_start=2), r"warmup: warmup_start must be in"),
        (lambda: S.warmup(S.constant(1.0), 2, shape="x"), r"warmup: shape must be one of"),
        (
            lambda: build_schedule("piecewise", 10, values="1,x"),
            r"piecewise.values must be comma-separated numbers, got '1,x'",
        ),
        (lambda: build_schedule("piecewise", 10, values="1"), r"piecewise needs one more value"),
        (
            lambda: build_schedule("multistep", 10, milestones="0.7,0.2"),
            r"multistep.milestones must be non-decreasing fractions in \(0, 1\)",
        ),
        (lambda: build_schedule("join", 10, schedules="linear,zig"), r"unknown piece 'zig'"),
        (lambda: build_schedule("join", 10, schedules="linear,join"), r"unknown piece 'join'"),
        (lambda: build_schedule("cosine_restarts", 10, num_cycles=1.5), r"must be an integer"),
        (
            lambda: build_schedule("linear", 10, warmup_shape="x"),
            r"linear.warmup_shape must be one",
        ),
    ],
)
def test_new_errors_name_function_parameter_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_registry_params_have_labels_and_list_kinds():
    for spec in REGISTRY.values():
        for p in spec.params:
            assert p.label and p.help, (spec.name, p.name)
            assert p.kind in (int, float, str)
            assert (p.kind is str) == bool(p.choices or p.list_of), (spec.name, p.name)
