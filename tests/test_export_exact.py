"""Exports reproduce the schedule within 1e-3 of the peak at EVERY step, sharp rises included."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrcore import build_schedule, evaluate, refine, stretch
from lrcore.cli import main
from lrcore.export import MAX_ERROR, knots, to_snippet

BOUND = 1e-3  # what the issue asks for, as a fraction of the peak


def _jump(n: int, at: int) -> np.ndarray:
    """Like the ImageNet log's refined schedule: 0.098 of peak, then 0.70 one step later."""
    return np.r_[np.full(at, 0.098), 0.7 * np.linspace(1.0, 0.0, n - at) ** 1.5]


def _snippet_factors(code: str, n: int) -> tuple[dict, np.ndarray]:
    """Run the snippet; its factor at every step 0..n-1 (vectorised with the same formula,
    tied to ``lr_factor`` itself at sampled steps)."""
    ns: dict = {}
    exec(code, ns)  # our own generated code
    assert ns["TOTAL_STEPS"] == n
    if "KNOTS" not in ns:
        got = np.array(ns["FACTORS"])
    else:
        k, f = np.array(ns["KNOTS"]), np.array(ns["FACTORS"])
        x = np.arange(n)
        i = np.minimum(np.searchsorted(k, x, side="right") - 1, len(k) - 2)
        got = f[i] + (x - k[i]) / (k[i + 1] - k[i]) * (f[i + 1] - f[i])
    sample = np.unique(
        np.r_[np.random.default_rng(0).integers(0, n, 2000), k if "KNOTS" in ns else []]
    )
    sample = np.unique(np.r_[sample, np.arange(max(0, n // 3 - 5), min(n, n // 3 + 5))]).astype(int)
    direct = np.array([ns["lr_factor"](int(t)) for t in sample])
    np.testing.assert_allclose(direct, got[sample], rtol=0, atol=1e-12)
    return ns, got


@pytest.mark.parametrize("n", [2_500, 50_000, 10_000_000])
@pytest.mark.parametrize("flavour", ["torch", "hf"])
def test_snippet_within_bound_at_every_step_on_a_one_step_jump(n, flavour):
    v = _jump(n, n // 3)  # an odd position, not on any uniform grid
    _, got = _snippet_factors(to_snippet(v, flavour=flavour), n)
    err = np.abs(got - v / v.max())
    assert err.max() <= MAX_ERROR < BOUND
    at = n // 3
    assert got[at - 1] == pytest.approx(0.098 / 0.7, abs=1e-12) and got[at] == pytest.approx(1.0)


def test_snippet_within_bound_on_smooth_10m_steps():
    n = 10_000_000
    v = evaluate(build_schedule("cosine", n, warmup_steps=20_000), n)
    ns, got = _snippet_factors(to_snippet(v), n)
    assert np.abs(got - v).max() <= MAX_ERROR
    assert len(ns["KNOTS"]) < 1000  # compressed: a smooth curve needs few knots


def test_small_schedules_embed_every_value_exactly():
    v = _jump(2_000, 700)
    _, got = _snippet_factors(to_snippet(v), 2_000)
    np.testing.assert_array_equal(got, v / v.max())


@given(
    st.integers(3, 20_000),
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8),
    st.sampled_from([1e-2, 1e-3, 1e-5]),
)
def test_knots_bound_holds_on_random_ramps_with_jumps(n, pieces, tol):
    edges = np.linspace(0, n, len(pieces) + 1).round().astype(int)
    v = np.concatenate(
        [
            np.linspace(a, b, hi - lo)
            for (a, b), lo, hi in zip(pieces, edges, edges[1:], strict=False)
        ]
    )
    k = knots(v, tol)
    assert k[0] == 0 and k[-1] == len(v) - 1 and np.all(np.diff(k) > 0)
    assert np.abs(np.interp(np.arange(len(v)), k, v[k]) - v).max() <= tol


def test_knots_rejects_non_positive_bound():
    with pytest.raises(ValueError, match=r"knots: max_error must be > 0, got 0"):
        knots(np.ones(5), 0)


def _sharp_log(path):
    """Norms that are large for the first 2% of steps: the refined schedule jumps up there."""
    g = np.r_[np.full(2_000, 50.0), np.linspace(1.2, 1.0, 98_000)]
    path.write_text("step,grad_norm\n" + "".join(f"{i},{x}\n" for i, x in enumerate(g)))
    return g


@pytest.mark.parametrize("flavour", ["torch", "hf"])
def test_cli_as_torch_hf_within_bound_at_every_step(tmp_path, flavour, capsys):
    g = _sharp_log(tmp_path / "g.csv")
    n = 1_000_000
    out = tmp_path / "s.py"
    argv = ["refine", str(tmp_path / "g.csv"), "--steps", str(n), "--as", flavour]
    assert main([*argv, "--out", str(out)]) == 0
    want = stretch(refine(g, tau=0.1, optimizer="sgd"), n, steps=np.arange(len(g)))
    want = want / want.max()
    assert np.max(np.diff(want)) > 0.05  # from ~0 to the peak within 10 steps
    _, got = _snippet_factors(out.read_text(), n)
    assert np.abs(got - want).max() <= MAX_ERROR


def test_optax_snippet_within_bound_under_jit():
    jax = pytest.importorskip("jax")
    n = 3_000_001
    v = _jump(n, 1_234_567)
    ns: dict = {}
    exec(to_snippet(v, flavour="optax"), ns)  # our own generated code
    fn = jax.jit(ns["lr_factor"])
    got = np.asarray(fn(np.arange(n, dtype=np.int32)), dtype=np.float64)
    assert np.abs(got - v / v.max()).max() <= MAX_ERROR + 1e-6  # + float32 rounding
    assert float(fn(1_234_566)) == pytest.approx(0.14, abs=1e-6) and float(fn(10**8)) == 0.0
    small: dict = {}
    exec(to_snippet([0.5, 1.0, 0.25], flavour="optax"), small)
    assert [float(small["lr_factor"](t)) for t in (0, 1, 2, 9)] == [0.5, 1.0, 0.25, 0.25]


@pytest.mark.parametrize(
    "flavour,optimizer,named",
    [
        ("torch", "adam", "#   optimizer = torch.optim.AdamW("),
        ("torch", None, "#   optimizer = torch.optim.SGD("),
        # HF: the Trainer builds its optimizer (its default is AdamW), the schedule is added
        ("hf", "sgd", '#   args = TrainingArguments(..., optim="sgd", learning_rate=PEAK_LR,'),
        ("hf", None, "#   args = TrainingArguments(..., learning_rate=PEAK_LR, max_steps="),
        ("optax", "sgd", "#   optimizer = optax.sgd("),
        ("optax", "adam", "#   optimizer = optax.adamw("),
    ],
)
def test_snippet_names_the_optimizer_of_the_refinement_rule(flavour, optimizer, named):
    text = to_snippet([1.0, 0.5, 0.0], flavour=flavour, optimizer=optimizer)
    assert named in text
    with pytest.raises(ValueError, match="to_snippet: optimizer must be 'sgd', 'adam' or None"):
        to_snippet([1.0, 0.5, 0.0], flavour=flavour, optimizer="lamb")
