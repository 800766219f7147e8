"""Issue 27 items 2 and 6: every public function of the library is finite by contract.

For any input (floats subnormal, huge, NaN and inf included; empty and length-1 sequences),
each function either returns finite learning rates >= 0 and finite bounds, or raises a
``ValueError`` whose message starts with the function's name; exports never write inf or NaN.
Every property runs 50 examples in CI and 1,000 under ``-m fuzz``
(``python -m pytest -m fuzz tests/test_properties.py``).
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import lrcore
from lrcore import schedules as S
from lrcore._validate import MAX_EXACT_STEP
from lrcore.bound import OptimalScheduleWarning, bound_reference
from lrcore.export import csv_bytes, json_bytes, log_to_csv, to_csv, to_json, to_snippet
from lrcore.fit import fit_family
from lrcore.late_rise import late_rise
from lrcore.logs import load_log

FAST, FUZZ = 50, 1000
_relaxed = {"deadline": None, "suppress_health_check": list(HealthCheck)}
TINY = float(np.finfo(np.float64).tiny)
BIG = float(np.finfo(np.float64).max)


def both(*strategies):
    """The property at the CI budget, and the same at the fuzz budget (marked ``fuzz``)."""

    def deco(check):
        fast = settings(max_examples=FAST, **_relaxed)(given(*strategies)(check))
        slow = pytest.mark.fuzz(settings(max_examples=FUZZ, **_relaxed)(given(*strategies)(check)))
        return fast, slow

    return deco


# --------------------------------------------------------------------------- strategies

EDGES = [0.0, -0.0, 5e-324, 1e-310, TINY, 1e-300, 1e-8, 0.1, 0.5, 1.0, 2.0, 3.0, 1e8]
EDGES += [1e244, 1e300, 1e308, BIG, -1.0, -1e308, math.nan, math.inf, -math.inf]
anyfloat = st.one_of(st.floats(), st.sampled_from(EDGES))
nonneg = st.one_of(
    st.floats(min_value=0.0, max_value=BIG),
    st.sampled_from([x for x in EDGES if x >= 0]),
)
huge = st.floats(min_value=1e300, max_value=BIG)
tiny = st.floats(min_value=5e-324, max_value=1e-300)


def float_lists(max_size: int = 40):
    """Mostly valid sequences (so the deep code runs), some wild, some of one scale extreme."""
    return st.one_of(
        st.lists(nonneg, max_size=max_size),
        st.lists(anyfloat, max_size=max_size),
        st.lists(huge, max_size=max_size),
        st.lists(tiny, max_size=max_size),
        st.lists(st.one_of(huge, tiny), max_size=max_size),
        st.lists(st.floats(0.01, 100.0), min_size=2, max_size=max_size),
        st.lists(st.floats(0.0, 1e10), min_size=2, max_size=max_size),
    )


# mostly valid (the deep code runs), sometimes anything
positive = st.one_of(st.floats(TINY, 10.0), st.floats(TINY, BIG), anyfloat)
steps_n = st.one_of(st.integers(-3, 300), st.sampled_from([0, 1, 2, 3]))
fraction = st.one_of(st.floats(0.0, 1.0), anyfloat)

# --------------------------------------------------------------------------- helpers

_NAMED = re.compile(r"^[A-Za-z_][\w.]*(\(\))?: ")


def call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, or None when it raised a ValueError whose message names the
    function (``name: ...``); numpy's RuntimeWarnings (overflow, invalid) are failures."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", OptimalScheduleWarning)
        try:
            out = fn(*args, **kwargs)
        except ValueError as e:
            assert _NAMED.match(str(e)), f"unnamed ValueError: {e}"
            event(f"{getattr(fn, '__name__', fn)}: refused")
            return None
    event(f"{getattr(fn, '__name__', fn)}: returned")  # --hypothesis-show-statistics: how often
    return out


def assert_lrs(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    assert np.all(np.isfinite(v)), v
    assert np.all(v >= 0), v
    return v


def assert_finite(*numbers) -> None:
    for x in numbers:
        assert isinstance(x, float | int | np.floating | np.integer), type(x)
        assert math.isfinite(x), numbers


def no_inf_or_nan(text: str) -> None:
    low = text.lower()
    assert "inf" not in low and "nan" not in low, text[:200]


# --------------------------------------------------------------------------- schedules

peak = st.one_of(positive, st.sampled_from(EDGES))
final = st.one_of(st.just(0.0), positive)
factor = st.one_of(st.floats(0.0, 1.0), positive)  # decay factors: mostly in [0, 1]


def sorted_if_finite(xs):
    return sorted(xs) if all(math.isfinite(x) for x in xs) else xs


FACTORIES = {
    "constant": (S.constant, st.tuples(peak)),
    "linear_decay": (S.linear_decay, st.tuples(peak, steps_n, final)),
    "cosine_decay": (S.cosine_decay, st.tuples(peak, steps_n, final)),
    "polynomial_decay": (S.polynomial_decay, st.tuples(peak, steps_n, final, positive)),
    "step_decay": (S.step_decay, st.tuples(peak, steps_n, factor)),
    "exponential_decay": (S.exponential_decay, st.tuples(peak, steps_n, final)),
    "inverse_sqrt": (S.inverse_sqrt, st.tuples(peak, steps_n)),
    "rsqrt": (S.rsqrt, st.tuples(peak, steps_n)),
    "multi_step": (
        S.multi_step,
        st.tuples(
            peak,
            st.lists(st.one_of(st.integers(0, 50), anyfloat), max_size=5).map(sorted_if_finite),
            factor,
        ),
    ),
    "cosine_restarts": (
        S.cosine_restarts,
        st.tuples(peak, steps_n, st.integers(-1, 20), final),
    ),
    "one_cycle": (
        S.one_cycle,
        st.tuples(peak, steps_n, fraction, positive, positive, st.sampled_from(["cos", "linear"])),
    ),
    "cyclic": (
        S.cyclic,
        st.tuples(
            peak,
            final,
            steps_n,
            st.one_of(st.none(), steps_n),
            st.sampled_from(["triangular", "triangular2", "exp_range"]),
            factor,
        ),
    ),
    "warmup_stable_decay": (
        S.warmup_stable_decay,
        st.tuples(peak, steps_n, fraction, st.sampled_from(["linear", "cosine", "1-sqrt"]), final),
    ),
    "piecewise_constant": (
        S.piecewise_constant,
        st.integers(0, 4).flatmap(
            lambda k: st.tuples(
                st.lists(st.one_of(positive, anyfloat), min_size=k + 1, max_size=k + 1),
                st.lists(st.integers(0, 100), min_size=k, max_size=k, unique=True).map(sorted),
            )
        ),
    ),
    "from_array": (S.from_array, st.tuples(float_lists())),
}
# where a schedule is read: every step of a short run and far past its end
FAR = np.array([0, 1, 2, 10, 1000, 2**31, MAX_EXACT_STEP], dtype=np.float64)


def check_factory(name, args, total):
    factory, _ = FACTORIES[name]
    schedule = call(factory, *args)
    if schedule is None:
        return
    values = call(S.evaluate, schedule, total)
    if values is not None:
        assert_lrs(values)
        assert len(values) == total
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert_lrs(schedule(FAR))
        assert_finite(schedule(7))


def _factory_case():
    return st.sampled_from(sorted(FACTORIES)).flatmap(
        lambda n: st.tuples(st.just(n), FACTORIES[n][1], st.integers(-1, 300))
    )


@both(_factory_case())
def _schedule_factories(case):
    check_factory(*case)


test_schedule_factories, test_schedule_factories_fuzz = _schedule_factories


@st.composite
def warmup_cases(draw):
    base = draw(st.sampled_from(["linear", "constant", "join"]))
    peak = draw(anyfloat)
    schedule = call(S.linear_decay, peak, 50) if base == "linear" else call(S.constant, peak)
    if base == "join" and schedule is not None:
        schedule = call(S.join, [schedule, S.linear_decay(1.0, 10)], [draw(st.integers(-5, 60))])
    return (
        schedule,
        draw(st.integers(-2, 60)),
        draw(fraction),
        draw(st.sampled_from(list(S.WARMUP_SHAPES))),
    )


@both(warmup_cases(), st.integers(1, 200))
def _warmup_and_join(case, total):
    schedule, steps, start, shape = case
    if schedule is None:
        return
    wrapped = call(S.warmup, schedule, steps, start, shape)
    if wrapped is not None:
        assert_lrs(S.evaluate(wrapped, total))
        assert_lrs(wrapped(FAR))


test_warmup_and_join, test_warmup_and_join_fuzz = _warmup_and_join


@st.composite
def registry_cases(draw):
    name = draw(st.sampled_from(sorted(lrcore.REGISTRY)))
    params = {}
    for p in lrcore.REGISTRY[name].params:
        if not draw(st.booleans()):
            continue
        if p.choices:
            params[p.name] = draw(st.sampled_from(p.choices))
        elif p.kind is str:
            params[p.name] = draw(st.sampled_from([p.default, "0.1,0.5", "0.9", "1,0", "1e308"]))
        elif p.kind is int:
            params[p.name] = draw(st.integers(int(p.minimum or 0) - 1, int(p.maximum or 50)))
        else:  # the allowed range, its ends, or anything
            lo, hi = p.minimum or 0.0, p.maximum or 1e6
            params[p.name] = draw(
                st.one_of(st.floats(lo, hi), st.floats(lo, hi), st.sampled_from([lo, hi]), anyfloat)
            )
    total = draw(st.integers(0, 400))
    warm = draw(st.one_of(st.just(0), st.integers(0, max(0, total))))
    return name, total, draw(positive), warm, params


@both(registry_cases())
def _build_schedule(case):
    name, total, peak, warm, params = case
    schedule = call(lrcore.build_schedule, name, total, peak, warm, **params)
    if schedule is not None:
        values = assert_lrs(S.evaluate(schedule, total))
        assert values.max() <= max(peak, 0) * (1 + 1e-9) + TINY  # no lr above the peak
        assert_lrs(schedule(FAR))


test_build_schedule, test_build_schedule_fuzz = _build_schedule


# --------------------------------------------------------------------------- refinement


@both(float_lists(), fraction, st.sampled_from(["sgd", "adam", "x"]))
def _refine(norms, tau, optimizer):
    out = call(lrcore.refine, norms, tau, optimizer)
    if out is not None:
        v = assert_lrs(out)
        assert len(v) == len(norms) and v.max() == 1.0 and v[-1] == 0.0
        if len(norms) <= 12:  # the plain reference agrees, or refuses alike
            ref = call(lrcore.refine_reference, norms, tau, optimizer)
            if ref is not None:  # its plain sums may overflow where the fast path does not
                assert_lrs(ref)
    smooth = call(lrcore.smooth_norms, norms, tau)
    if smooth is not None:
        assert_lrs(smooth)
    width = call(lrcore.smoothing_width, tau, len(norms))
    if width is not None:
        assert width >= 1 and width % 2 == 1


test_refine, test_refine_fuzz = _refine


@st.composite
def stretch_cases(draw):
    values = draw(float_lists())
    kind = draw(st.sampled_from(["none", "increasing", "floats", "wild"]))
    n = len(values)
    if kind == "none":
        steps = None
    elif kind == "increasing":
        ints = st.integers(-(2**62), 2**62)
        steps = sorted(draw(st.lists(ints, min_size=n, max_size=n, unique=True)))
    elif kind == "floats":
        steps = sorted(
            draw(st.lists(st.floats(-1e300, 1e300), min_size=n, max_size=n, unique=True))
        )
    else:
        steps = draw(st.lists(st.one_of(st.integers(-(2**62), 2**62), anyfloat), max_size=n + 1))
    return values, draw(st.integers(-1, 500)), steps


@both(stretch_cases())
def _stretch(case):
    values, total, steps = case
    out = call(lrcore.stretch, values, total, steps)
    if out is not None:
        v = assert_lrs(out)
        assert len(v) == total
        assert v.max() <= max(values) * (1 + 1e-12)  # interpolation stays within the values


test_stretch, test_stretch_fuzz = _stretch


@both(float_lists())
def _summarize(values):
    s = call(lrcore.summarize, values)
    if s is not None:
        assert_finite(s.warmup_fraction, s.half_fraction, s.mean, s.final)
        assert 0 <= s.mean <= 1 and 0 <= s.final <= 1
        assert 0 <= s.warmup_fraction <= 1 and 0 <= s.half_fraction <= 1


test_summarize, test_summarize_fuzz = _summarize


@both(float_lists(), st.one_of(st.none(), float_lists()), fraction)
def _diagnose(schedule, norms, tau):
    shape = call(lrcore.refined_shape, schedule, grad_norms=norms, tau=tau)
    if shape is not None:
        assert_finite(shape.peak_fraction, shape.above_half_fraction, shape.rise_fraction)
        if shape.norm_fall is not None:
            assert_finite(shape.norm_fall)
    msgs = call(lrcore.diagnose_refined, schedule, grad_norms=norms, tau=tau)
    if msgs is not None:
        for m in msgs:
            no_inf_or_nan(m)


test_diagnose, test_diagnose_fuzz = _diagnose


@both(float_lists(), st.one_of(st.none(), float_lists()))
def _late_rise(norms, loss):
    if loss is not None and len(loss) != len(norms):
        loss = None
    r = call(late_rise, norms, loss=loss)
    if r is not None:
        assert_finite(r.ratio)
        for x in (r.rise_at, r.loss_drop, r.loss_drop_at):
            if x is not None:
                assert_finite(x)


test_late_rise, test_late_rise_fuzz = _late_rise


@both(float_lists(), st.sampled_from(["warmup_poly", "wsd", "best", "x"]), st.integers(2, 300))
def _fit_family(values, family, total):
    fit = call(fit_family, values, family)
    if fit is not None:
        assert_finite(fit.r2, *(v for v in fit.params.values() if not isinstance(v, str)))
        assert_lrs(S.evaluate(fit.to_schedule(total, 0.5), total))


test_fit_family, test_fit_family_fuzz = _fit_family


# --------------------------------------------------------------------------- the bound


@st.composite
def norms_for(draw, n: int):
    """Gradient norms for ``n`` lrs: one number, ``n`` values, or any list."""
    return draw(
        st.one_of(
            positive,
            st.lists(st.floats(0.01, 100.0), min_size=n, max_size=n),
            st.lists(nonneg, min_size=n, max_size=n),
            st.lists(st.one_of(huge, tiny), min_size=n, max_size=n),
            float_lists(12),
        )
    )


@st.composite
def bound_cases(draw):
    lrs = draw(float_lists(12))
    norms = draw(st.one_of(st.floats(0.01, 100.0), norms_for(len(lrs))))
    return lrs, norms, draw(st.one_of(st.just(1.0), positive))


@both(bound_cases())
def _bounds(case):
    lrs, norms, D = case
    b = call(lrcore.last_iterate_bound, lrs, norms, D)
    if b is not None:
        assert_finite(b)
        assert b >= 0
    terms = call(lrcore.bound_terms, lrs, norms, D)
    if terms is not None:
        assert_finite(*terms)
    best = call(lrcore.best_scale, lrs, norms, D)
    if best is not None:
        bound, scale = best
        assert_finite(bound, scale)
        assert scale >= TINY  # a normal lr scale, as every lr lrcore takes
        assert TINY <= scale * max(lrs) <= BIG
    if b is not None and len(lrs) <= 8 and b < 1e300:  # the plain loops agree where they can
        ref = call(bound_reference, lrs, norms, D)
        if ref is not None and math.isfinite(ref):
            assert b == pytest.approx(ref, rel=1e-6)


test_bounds, test_bounds_fuzz = _bounds


@st.composite
def compare_cases(draw):
    a = draw(float_lists(12))
    b = draw(
        st.one_of(st.lists(st.floats(0.0, 10.0), min_size=len(a), max_size=len(a)), float_lists(12))
    )
    norms = draw(st.one_of(st.floats(0.01, 100.0), norms_for(len(a))))
    return a, b, norms, draw(st.one_of(st.just(1.0), positive))


@both(compare_cases())
def _compare_bounds(case):
    a, b, norms, D = case
    table = call(lrcore.compare_bounds, {"linear": a, "other": b}, norms, D)
    if table is not None:
        numbers = table[["bound", "best_peak_lr", "vs_linear"]].to_numpy(dtype=np.float64)
        assert np.all(np.isfinite(numbers)), table
        assert np.all(table.best_peak_lr >= TINY)


test_compare_bounds, test_compare_bounds_fuzz = _compare_bounds


@both(float_lists(10), positive)
def _optimal_schedule(norms, D):
    out = call(lrcore.optimal_schedule, norms, D, maxiter=200, full_output=True)
    if out is not None:
        assert_lrs(out.lrs)
        assert np.all(out.lrs >= 1e-8 * (1 - 1e-12))
        assert_finite(out.bound)


test_optimal_schedule, test_optimal_schedule_fuzz = _optimal_schedule


# --------------------------------------------------------------------------- exports


def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"non-JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@both(float_lists(30), positive)
def _exports(values, peak):
    csv = call(to_csv, values, peak_lr=peak)
    if csv is not None:
        no_inf_or_nan(csv)
        lr = pd.read_csv(io.StringIO(csv)).lr.to_numpy(dtype=np.float64)
        assert_lrs(lr)
        assert len(lr) == len(values)
        assert csv_bytes(values, peak_lr=peak).decode() == csv
    doc = call(to_json, values, peak_lr=peak, note="x")
    if doc is not None:
        parsed = _strict_json(doc)
        assert_lrs(parsed["lr"])
        assert json_bytes(values, peak_lr=peak, note="x").decode() == doc
    snippet = call(to_snippet, values)
    if snippet is not None:
        ns: dict = {}
        exec(snippet, ns)  # noqa: S102 - our own generated code
        assert_lrs([ns["lr_factor"](t) for t in range(len(values) + 2)])


test_exports, test_exports_fuzz = _exports


@both(float_lists(20), anyfloat)
def _json_meta(values, meta):
    doc = call(to_json, values, note=meta)
    if doc is not None:
        _strict_json(doc)


test_json_meta, test_json_meta_fuzz = _json_meta


@st.composite
def log_cases(draw):
    norms = draw(float_lists(20))
    n = len(norms)
    steps = draw(
        st.one_of(
            st.lists(st.integers(0, 2**53), min_size=n, max_size=n),
            st.lists(st.one_of(st.integers(-(2**60), 2**60), anyfloat), max_size=20),
        )
    )
    return steps, norms


@both(log_cases())
def _log_to_csv(case):
    steps, norms = case
    text = call(log_to_csv, steps, norms)
    if text is not None:
        no_inf_or_nan(text)


test_log_to_csv, test_log_to_csv_fuzz = _log_to_csv


# --------------------------------------------------------------------------- analysis


@both(
    float_lists(60),
    st.one_of(st.none(), float_lists(60)),
    st.one_of(st.none(), st.integers(-1, 500)),
)
def _analyse(norms, loss, steps):
    rows = ["step,grad_norm" + (",loss" if loss is not None else "")]
    for i, g in enumerate(norms):
        extra = (
            f",{loss[i]!r}"
            if loss is not None and i < len(loss)
            else ("," if loss is not None else "")
        )
        rows.append(f"{i},{g!r}{extra}")
    try:
        log = load_log(("\n".join(rows) + "\n").encode())
    except ValueError:  # not a log: refused by the loader (its own tests cover how)
        return
    view = call(lrcore.analyse, log, steps=steps)
    if view is None:
        return
    assert_lrs(view.shape)
    assert_finite(
        view.summary.mean, view.summary.final, *view.rise, view.fit.r2, view.late_rise.ratio
    )
    numbers = view.table[["bound", "best_peak_lr", "vs_linear"]].to_numpy(dtype=np.float64)
    assert np.all(np.isfinite(numbers)) and np.all(numbers >= 0)  # vs_linear may underflow to 0
    assert np.all(view.table.best_peak_lr >= TINY)
    for text in (view.summary_sentence, view.fit_sentence, *view.warnings):
        no_inf_or_nan(text)


test_analyse, test_analyse_fuzz = _analyse


def test_every_public_name_is_covered():
    """A name added to ``lrcore.__all__`` must be added here too (and given a property)."""
    covered = {
        "LogAnalysis", "RefinementWarning", "ScheduleSummary", "MAX_STEPS", "REGISTRY",  # data
        "analyse", "best_scale", "bound_terms", "compare_bounds", "build_schedule",
        "diagnose_refined", "evaluate", "join", "last_iterate_bound", "optimal_schedule",
        "refine", "refine_reference", "refined_shape", "smooth_norms", "smoothing_width",
        "stretch", "summarize", "warmup", *FACTORIES,
    }  # fmt: skip
    assert set(lrcore.__all__) <= covered, sorted(set(lrcore.__all__) - covered)


def test_the_issues_examples_are_finite_or_refused():
    """The cases issue 27 names, each with its expected outcome."""
    out = lrcore.stretch([1e308, 1e308, 0, 1], 3)  # was [1e308, -inf, 1]
    assert out[0] == 1e308 and out[1] == pytest.approx(5e307, rel=1e-15) and out[2] == 1.0
    assert lrcore.summarize([1e308, 1e308]).mean == 1.0
    assert lrcore.last_iterate_bound([1e244] * 3, 1.0) == pytest.approx(1.25e244)
    with pytest.raises(
        ValueError, match=r"^last_iterate_bound: the distance term .* beyond float64"
    ):
        lrcore.last_iterate_bound([1.0, 1.0], 1.0, D=1e300)
    with pytest.raises(ValueError, match=r"^best_scale: the best scale c\* is 5e-309, outside"):
        lrcore.best_scale([1.0, 1.0], 1e308)
    with pytest.raises(ValueError, match=r"^to_json: peak_lr=1e\+308 times .* largest value 2"):
        to_json([1.0, 2.0], peak_lr=1e308)
    assert _strict_json(to_json([1.0, 0.5], peak_lr=1e308))["lr"] == [1e308, 5e307]
    with pytest.raises(ValueError, match=r"^step_decay: gamma must be in \[0, 1\]"):
        S.step_decay(1.0, 1, 2.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: S.piecewise_constant([1.0, -0.5], [3]), r"^piecewise_constant: values\[1\] = -0.5 must be a finite number >= 0$"),
        (lambda: S.from_array([1.0, math.inf]), r"^from_array: values\[1\] = inf must be a finite number >= 0$"),
        (lambda: S.multi_step(1e300, [1, 2], 1e10), r"^multi_step: peak_lr \* gamma \*\* 2 \(the lr after the last milestone\) must be finite, got peak_lr=1e\+300, gamma=10000000000.0$"),
        (lambda: S.one_cycle(1e308, 10, div_factor=0.001), r"^one_cycle: peak_lr / div_factor \(the start lr\) must be finite, got 1e\+308 / 0.001$"),
        (lambda: S.cyclic(1.0, 0.1, 2, mode="exp_range", gamma=1.5), r"^cyclic: gamma must be in \[0, 1\] \(a decay; above 1 the lr grows without bound\), got 1.5$"),
        (lambda: S.warmup(lambda t: math.nan, 3), r"^warmup: schedule\(0\) must be a finite lr >= 0, got nan$"),
        (lambda: to_csv([1.0, 2.0], peak_lr=1e308), r"^to_csv: peak_lr=1e\+308 times the schedule's largest value 2 is beyond float64"),
        (lambda: to_csv(lambda t: -t, 3), r"^to_csv: schedule\[1\] = -1.0 must be a finite number >= 0$"),
        (lambda: to_snippet([0.0, 0.0]), r"^to_snippet: schedule must have a positive lr \(all 2 are 0\)$"),
        (lambda: to_json([1.0, 0.5], name=math.nan), r"^to_json: meta name=nan is not a JSON value"),
        (lambda: log_to_csv([0, 1], [1.0, math.inf]), r"^log_to_csv: grad_norms\[1\] = inf must be a finite number >= 0$"),
        (lambda: log_to_csv([0, 0.5], [1.0, 1.0]), r"^log_to_csv: steps\[1\] = 0.5 must be a whole number within \+-2\^53$"),
        (lambda: lrcore.refine_reference([1e-100, 1e100]), r"^refine_reference: grad_norms span more than 1e140 \(from 1e-100 to 1e\+100\)"),
        (lambda: bound_reference([1.0, 1.0], 1e200), r"^bound_reference: the plain sums leave float64 .* grad_norms up to 1e\+200"),
        (lambda: lrcore.best_scale([1.0, 1.0], [1e-320, 1e-320]), r"^best_scale: the best scale c\* is inf, outside the normal float64 range"),
        (lambda: lrcore.compare_bounds({"linear": [1.0, 0.5]}, 1e308), r"^compare_bounds: the best scale c\* is .*e-309, outside"),
    ],
)  # fmt: skip
def test_new_refusals_name_the_function_the_parameter_and_the_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_values_at_the_ends_of_float64_are_exact_where_they_can_be():
    """Scale-free computing gives the right finite answer, not merely a finite one."""
    big = lrcore.stretch([1e308, 0.0], 3)
    assert big.tolist() == [1e308, 5e307, 0.0]
    assert lrcore.summarize([1.7e308, 0.85e308]).mean == pytest.approx(0.75)
    # the bound scales as D * G: norms of 1e300 give 1e300 times the bound of norms of 1
    lrs = [1.0, 0.75, 0.5, 0.25]
    b1, c1 = lrcore.best_scale(lrs, 1.0)
    b2, c2 = lrcore.best_scale(lrs, 1e300)
    assert b2 == pytest.approx(b1 * 1e300, rel=1e-12) and c2 == pytest.approx(c1 / 1e300, rel=1e-12)
    # the optimum for norms G is 1 / G times the optimum for norms 1 (floor kept in lr units)
    g = np.array([3.0, 1.0, 2.0, 1.0, 0.5])
    small = lrcore.optimal_schedule(g)
    scaled = lrcore.optimal_schedule(g * 1e-200)
    np.testing.assert_allclose(scaled, small * 1e200, rtol=1e-6)
    # a floor above the best peak lr binds at every step, and says so
    opt = lrcore.optimal_schedule([1e10, 1e10], D=1e-10, full_output=True)
    assert opt.lrs.tolist() == [1e-8, 1e-8] and opt.message == "the floor 1e-8 binds at every step"
    # exponential decay from a tiny peak to a huge final lr (the ratio leaves float64)
    v = S.evaluate(S.exponential_decay(1e-98, 2, final_lr=1e244), 3)
    assert v[0] == 1e-98 and v[1] == pytest.approx(1e73, rel=1e-9) and v[2] == pytest.approx(1e244)
    # a log's median of two 1e308s
    from lrcore._numeric import median

    assert median([1e308, 1.7e308]) == 1.35e308 and median([3.0, 1.0, 2.0, 4.0]) == 2.5
