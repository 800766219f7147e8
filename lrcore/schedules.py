"""Learning-rate schedules as pure, vectorised functions of the step.

Each factory returns a closure ``schedule(step) -> lr`` that accepts an ``int`` or a
numpy array of steps (0-indexed) and holds no state, in the style of optax. Compose
them with :func:`warmup` and :func:`join`, evaluate them with :func:`evaluate`, and
build them by name from :data:`REGISTRY` (what the app and the CLI do; user text is
never evaluated as code).

>>> evaluate(linear_decay(1.0, 4), 4).tolist()
[1.0, 0.75, 0.5, 0.25]
>>> evaluate(warmup(constant(2.0), 2), 4).tolist()
[0.6666666666666666, 1.3333333333333333, 2.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lrcore._validate import check_finite, check_int, check_nonneg

Schedule = Callable[[int | np.ndarray], float | np.ndarray]

__all__ = [
    "Schedule",
    "constant",
    "linear_decay",
    "cosine_decay",
    "polynomial_decay",
    "step_decay",
    "piecewise_constant",
    "exponential_decay",
    "inverse_sqrt",
    "warmup_stable_decay",
    "warmup",
    "join",
    "evaluate",
    "from_array",
    "Param",
    "ScheduleSpec",
    "REGISTRY",
    "build_schedule",
]


def _steps(step) -> np.ndarray:
    return np.asarray(step, dtype=np.float64)


def _out(step, values: np.ndarray):
    """Return a Python float for a scalar step, an array otherwise."""
    return float(values) if np.ndim(step) == 0 else values


def _progress(step, total_steps: int) -> np.ndarray:
    """Fraction of training done, t / T, clipped to [0, 1]."""
    return np.clip(_steps(step) / total_steps, 0.0, 1.0)


def constant(peak_lr: float) -> Schedule:
    """``lr_t = peak_lr``.

    >>> constant(0.1)(7)
    0.1
    """
    check_finite("constant", "peak_lr", peak_lr)

    def schedule(step):
        return _out(step, np.full(np.shape(step), float(peak_lr)))

    return schedule


def linear_decay(peak_lr: float, total_steps: int, final_lr: float = 0.0) -> Schedule:
    """``lr_t = final_lr + (peak_lr - final_lr) * (1 - t / T)``, then ``final_lr`` for t >= T.

    The worst-case optimal schedule for the last iterate of SGD (refinement.md, section 1).

    >>> linear_decay(1.0, 10)(5)
    0.5
    """
    _check_decay("linear_decay", peak_lr, total_steps, final_lr)

    def schedule(step):
        return _out(step, final_lr + (peak_lr - final_lr) * (1.0 - _progress(step, total_steps)))

    return schedule


def cosine_decay(peak_lr: float, total_steps: int, final_lr: float = 0.0) -> Schedule:
    """``lr_t = final_lr + (peak_lr - final_lr) * (1 + cos(pi * t / T)) / 2``, ``final_lr`` after T.

    Matches ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=T, eta_min=final_lr)`` on 0..T.

    >>> round(cosine_decay(1.0, 10)(5), 12)
    0.5
    """
    _check_decay("cosine_decay", peak_lr, total_steps, final_lr)

    def schedule(step):
        cos = 0.5 * (1.0 + np.cos(np.pi * _progress(step, total_steps)))
        return _out(step, final_lr + (peak_lr - final_lr) * cos)

    return schedule


def polynomial_decay(
    peak_lr: float, total_steps: int, power: float = 1.0, final_lr: float = 0.0
) -> Schedule:
    """``lr_t = final_lr + (peak_lr - final_lr) * (1 - t / T) ** power``.

    ``power=1`` is linear decay; matches ``torch.optim.lr_scheduler.PolynomialLR``.

    >>> polynomial_decay(1.0, 10, power=2.0)(5)
    0.25
    """
    _check_decay("polynomial_decay", peak_lr, total_steps, final_lr)
    check_nonneg("polynomial_decay", "power", power, strict=True)

    def schedule(step):
        frac = (1.0 - _progress(step, total_steps)) ** power
        return _out(step, final_lr + (peak_lr - final_lr) * frac)

    return schedule


def step_decay(peak_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr_t = peak_lr * gamma ** floor(t / step_size)`` (torch ``StepLR``).

    >>> step_decay(1.0, 3, 0.5)(7)
    0.25
    """
    check_finite("step_decay", "peak_lr", peak_lr)
    check_int("step_decay", "step_size", step_size, minimum=1)
    check_nonneg("step_decay", "gamma", gamma)

    def schedule(step):
        return _out(step, peak_lr * gamma ** np.floor(_steps(step) / step_size))

    return schedule


def piecewise_constant(values: Sequence[float], boundaries: Sequence[int]) -> Schedule:
    """``lr_t = values[i]`` where ``i`` is the number of boundaries ``<= t``.

    ``len(values) == len(boundaries) + 1``; boundaries must increase.

    >>> piecewise_constant([1.0, 0.1, 0.01], [2, 4])(3)
    0.1
    """
    vals = np.asarray(values, dtype=np.float64)
    bnds = np.asarray(boundaries, dtype=np.float64)
    if vals.ndim != 1 or len(vals) != len(bnds) + 1:
        raise ValueError(
            "piecewise_constant: need len(values) == len(boundaries) + 1, got "
            f"{len(vals)} values and {len(bnds)} boundaries"
        )
    if np.any(np.diff(bnds) <= 0):
        raise ValueError(
            f"piecewise_constant: boundaries must be strictly increasing, got {list(boundaries)}"
        )

    def schedule(step):
        return _out(step, vals[np.searchsorted(bnds, _steps(step), side="right")])

    return schedule


def exponential_decay(peak_lr: float, total_steps: int, final_lr: float = 0.01) -> Schedule:
    """``lr_t = peak_lr * (final_lr / peak_lr) ** (t / T)``: geometric decay to ``final_lr`` at T.

    >>> round(exponential_decay(1.0, 10, final_lr=0.01)(5), 12)
    0.1
    """
    _check_decay("exponential_decay", peak_lr, total_steps, final_lr)
    if final_lr <= 0 or peak_lr <= 0:
        raise ValueError(
            "exponential_decay: peak_lr and final_lr must be > 0, got "
            f"peak_lr={peak_lr}, final_lr={final_lr}"
        )

    def schedule(step):
        return _out(step, peak_lr * (final_lr / peak_lr) ** _progress(step, total_steps))

    return schedule


def inverse_sqrt(peak_lr: float, timescale: int = 1) -> Schedule:
    """``lr_t = peak_lr * sqrt(timescale / max(t + 1, timescale))``.

    Flat for the first ``timescale`` steps, then proportional to ``1 / sqrt(t)``
    (the Transformer schedule without its warm-up; add one with :func:`warmup`).

    >>> inverse_sqrt(1.0, 4)(15)
    0.5
    """
    check_finite("inverse_sqrt", "peak_lr", peak_lr)
    check_int("inverse_sqrt", "timescale", timescale, minimum=1)

    def schedule(step):
        t1 = np.maximum(_steps(step) + 1.0, timescale)
        return _out(step, peak_lr * np.sqrt(timescale / t1))

    return schedule


_COOLDOWNS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    # x = fraction of the cool-down done, in [0, 1]; returns the fraction of peak kept
    "linear": lambda x: 1.0 - x,
    "cosine": lambda x: 0.5 * (1.0 + np.cos(np.pi * x)),
    "1-sqrt": lambda x: 1.0 - np.sqrt(x),
}


def warmup_stable_decay(
    peak_lr: float,
    total_steps: int,
    decay_fraction: float = 0.2,
    cooldown: str = "linear",
    final_lr: float = 0.0,
) -> Schedule:
    """Warmup-stable-decay without its warm-up (wrap it in :func:`warmup`).

    ``lr_t = peak_lr`` until ``t0 = T * (1 - decay_fraction)``, then
    ``final_lr + (peak_lr - final_lr) * c((t - t0) / (T - t0))`` with the cool-down shape
    ``c`` one of ``linear`` (1 - x), ``cosine`` ((1 + cos(pi x)) / 2), ``1-sqrt`` (1 - sqrt(x)).

    >>> warmup_stable_decay(1.0, 10, decay_fraction=0.5)(8)
    0.4
    """
    _check_decay("warmup_stable_decay", peak_lr, total_steps, final_lr)
    if not 0.0 < decay_fraction <= 1.0:
        raise ValueError(
            f"warmup_stable_decay: decay_fraction must be in (0, 1], got {decay_fraction}"
        )
    if cooldown not in _COOLDOWNS:
        raise ValueError(
            f"warmup_stable_decay: cooldown must be one of {sorted(_COOLDOWNS)}, got {cooldown!r}"
        )
    shape = _COOLDOWNS[cooldown]
    t0 = total_steps * (1.0 - decay_fraction)

    def schedule(step):
        x = np.clip((_steps(step) - t0) / (total_steps - t0), 0.0, 1.0)
        return _out(step, final_lr + (peak_lr - final_lr) * shape(x))

    return schedule


def warmup(schedule: Schedule, warmup_steps: int) -> Schedule:
    """Prepend a linear warm-up: ``lr_t = schedule(0) * (t + 1) / (W + 1)`` for ``t < W``,
    then ``schedule(t - W)``. The wrapped schedule starts after the warm-up (as in
    nanoGPT and Hugging Face), so give it ``total_steps - W`` steps.

    >>> evaluate(warmup(linear_decay(1.0, 2), 1), 3).tolist()
    [0.5, 1.0, 0.5]
    """
    check_int("warmup", "warmup_steps", warmup_steps, minimum=0)
    if warmup_steps == 0:
        return schedule
    start = float(schedule(0))

    def wrapped(step):
        t = _steps(step)
        ramp = start * (t + 1.0) / (warmup_steps + 1.0)
        after = np.asarray(schedule(np.maximum(t - warmup_steps, 0.0)), dtype=np.float64)
        return _out(step, np.where(t < warmup_steps, ramp, after))

    return wrapped


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Run ``schedules[i]`` from ``boundaries[i-1]`` on, each restarted at its own step 0
    (optax ``join_schedules``).

    >>> evaluate(join([constant(1.0), linear_decay(0.5, 2)], [2]), 5).tolist()
    [1.0, 1.0, 0.5, 0.25, 0.0]
    """
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(
            "join: need len(schedules) == len(boundaries) + 1, got "
            f"{len(schedules)} schedules and {len(boundaries)} boundaries"
        )
    bnds = np.asarray(boundaries, dtype=np.float64)
    if np.any(np.diff(bnds) <= 0) or np.any(bnds < 0):
        raise ValueError(f"join: boundaries must be >= 0 and increasing, got {list(boundaries)}")
    starts = np.concatenate([[0.0], bnds])

    def joined(step):
        t = _steps(step)
        idx = np.searchsorted(bnds, t, side="right")
        out = np.empty(np.shape(t), dtype=np.float64)
        for i, sched in enumerate(schedules):
            mask = idx == i
            if np.any(mask):
                out[mask] = sched(t[mask] - starts[i])
        return _out(step, out)

    return joined


def evaluate(schedule: Schedule, total_steps: int) -> np.ndarray:
    """The schedule at steps ``0 .. total_steps - 1`` as a float64 array.

    >>> evaluate(constant(0.5), 3).tolist()
    [0.5, 0.5, 0.5]
    """
    check_int("evaluate", "total_steps", total_steps, minimum=1)
    return np.asarray(schedule(np.arange(total_steps)), dtype=np.float64)


def from_array(values: Sequence[float] | np.ndarray) -> Schedule:
    """A schedule that reads ``values[t]``; steps past the end keep the last value.

    >>> from_array([0.5, 1.0, 0.0])(np.array([0, 1, 5])).tolist()
    [0.5, 1.0, 0.0]
    """
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim != 1 or len(vals) == 0:
        raise ValueError(
            f"from_array: values must be a non-empty 1-D array, got shape {vals.shape}"
        )
    if not np.all(np.isfinite(vals)):
        bad = int(np.flatnonzero(~np.isfinite(vals))[0])
        raise ValueError(f"from_array: values[{bad}] = {vals[bad]} is not finite")

    def schedule(step):
        idx = np.clip(np.asarray(step, dtype=np.int64), 0, len(vals) - 1)
        return _out(step, vals[idx])

    return schedule


def _check_decay(fn: str, peak_lr: float, total_steps: int, final_lr: float) -> None:
    check_finite(fn, "peak_lr", peak_lr)
    check_finite(fn, "final_lr", final_lr)
    check_int(fn, "total_steps", total_steps, minimum=1)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Param:
    """One typed parameter of a registry schedule (what a form field or a CLI flag needs)."""

    name: str
    kind: type  # int, float or str
    default: int | float | str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleSpec:
    """A named schedule: ``factory(peak_lr, total_steps, **params)`` and its parameters."""

    name: str
    label: str
    factory: Callable[..., Schedule]
    params: tuple[Param, ...] = ()


_FINAL = Param(
    "final_fraction", float, 0.0, "final lr as a fraction of the peak lr", minimum=0.0, maximum=1.0
)


def _final(factory):
    """Adapt ``factory(peak_lr, total_steps, ..., final_lr)`` to a relative ``final_fraction``."""

    def make(peak_lr, total_steps, final_fraction=0.0, **kw):
        return factory(peak_lr, total_steps, final_lr=final_fraction * peak_lr, **kw)

    return make


REGISTRY: dict[str, ScheduleSpec] = {
    s.name: s
    for s in [
        ScheduleSpec("constant", "Constant", lambda peak_lr, total_steps: constant(peak_lr)),
        ScheduleSpec("linear", "Linear decay", _final(linear_decay), (_FINAL,)),
        ScheduleSpec("cosine", "Cosine decay", _final(cosine_decay), (_FINAL,)),
        ScheduleSpec(
            "polynomial",
            "Polynomial decay",
            _final(polynomial_decay),
            (
                Param("power", float, 2.0, "exponent of (1 - t/T)", minimum=0.01, maximum=20.0),
                _FINAL,
            ),
        ),
        ScheduleSpec(
            "step",
            "Step decay",
            lambda peak_lr, total_steps, step_fraction=0.33, gamma=0.1: step_decay(
                peak_lr, max(1, round(step_fraction * total_steps)), gamma
            ),
            (
                Param(
                    "step_fraction",
                    float,
                    0.33,
                    "fraction of the run between drops",
                    minimum=0.01,
                    maximum=1.0,
                ),
                Param("gamma", float, 0.1, "factor at each drop", minimum=0.0, maximum=1.0),
            ),
        ),
        ScheduleSpec(
            "exponential",
            "Exponential decay",
            _final(exponential_decay),
            (
                Param(
                    "final_fraction",
                    float,
                    0.01,
                    "final lr as a fraction of the peak lr (> 0)",
                    minimum=1e-12,
                    maximum=1.0,
                ),
            ),
        ),
        ScheduleSpec(
            "inverse_sqrt",
            "Inverse square root",
            lambda peak_lr, total_steps, timescale_fraction=0.05: inverse_sqrt(
                peak_lr, max(1, round(timescale_fraction * total_steps))
            ),
            (
                Param(
                    "timescale_fraction",
                    float,
                    0.05,
                    "flat part before 1/sqrt(t), as a fraction",
                    minimum=0.0,
                    maximum=1.0,
                ),
            ),
        ),
        ScheduleSpec(
            "wsd",
            "Warmup-stable-decay",
            _final(warmup_stable_decay),
            (
                Param(
                    "decay_fraction",
                    float,
                    0.2,
                    "fraction of the run spent cooling down",
                    minimum=0.01,
                    maximum=1.0,
                ),
                Param(
                    "cooldown", str, "linear", "shape of the cool-down", choices=tuple(_COOLDOWNS)
                ),
                _FINAL,
            ),
        ),
    ]
}


def build_schedule(
    name: str,
    total_steps: int,
    peak_lr: float = 1.0,
    warmup_steps: int = 0,
    **params,
) -> Schedule:
    """Build a registry schedule by name; the warm-up (if any) comes out of ``total_steps``.

    >>> evaluate(build_schedule("linear", 4, peak_lr=2.0), 4).tolist()
    [2.0, 1.5, 1.0, 0.5]
    """
    if name not in REGISTRY:
        raise ValueError(f"build_schedule: unknown schedule {name!r}; known: {sorted(REGISTRY)}")
    spec = REGISTRY[name]
    check_int("build_schedule", "total_steps", total_steps, minimum=1)
    check_int("build_schedule", "warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"build_schedule: warmup_steps must be < total_steps ({total_steps}), got {warmup_steps}"
        )
    known = {p.name: p for p in spec.params}
    unknown = set(params) - set(known)
    if unknown:
        raise ValueError(
            f"build_schedule: {name} takes no parameter {sorted(unknown)[0]!r}; "
            f"it takes {sorted(known) or 'none'}"
        )
    kwargs = {}
    for p in spec.params:
        kwargs[p.name] = _coerce(name, p, params.get(p.name, p.default))
    base = spec.factory(peak_lr, total_steps - warmup_steps, **kwargs)
    return warmup(base, warmup_steps)


def _coerce(schedule: str, p: Param, value):
    where = f"build_schedule: {schedule}.{p.name}"
    try:
        v = p.kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be {p.kind.__name__}, got {value!r}") from None
    if p.choices and v not in p.choices:
        raise ValueError(f"{where} must be one of {list(p.choices)}, got {v!r}")
    if p.kind is not str:
        if not np.isfinite(v):
            raise ValueError(f"{where} must be finite, got {v!r}")
        if p.minimum is not None and v < p.minimum:
            raise ValueError(f"{where} must be >= {p.minimum}, got {v!r}")
        if p.maximum is not None and v > p.maximum:
            raise ValueError(f"{where} must be <= {p.maximum}, got {v!r}")
    return v
