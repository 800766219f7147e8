"""Learning-rate schedules as pure, vectorised functions of the step.

Each factory returns a closure ``schedule(step) -> lr`` that accepts an ``int`` or a
numpy array of steps (0-indexed) and holds no state, in the style of optax. Compose
them with :func:`warmup` and :func:`join`, evaluate them with :func:`evaluate`, and
build them by name from :data:`REGISTRY` (what the app and the CLI do; user text is
never evaluated as code).

>>> evaluate(linear_decay(1.0, 4), 4).tolist()
[1.0, 0.75, 0.5, 0.25]
>>> evaluate(warmup(constant(2.0), 2), 4).tolist()
[0.0, 1.0, 2.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lrcore._validate import (
    MAX_STEPS,
    as_reals,
    check_decay_factor,
    check_finite,
    check_int,
    check_lr,
    check_lrs,
    check_nonneg,
    check_unit,
)

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
    "rsqrt",
    "multi_step",
    "cosine_restarts",
    "one_cycle",
    "cyclic",
    "warmup_stable_decay",
    "WARMUP_SHAPES",
    "warmup",
    "join",
    "evaluate",
    "from_array",
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
    check_lr("constant", "peak_lr", peak_lr, allow_zero=True)

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
    check_lr("step_decay", "peak_lr", peak_lr)
    check_int("step_decay", "step_size", step_size, minimum=1)
    check_decay_factor("step_decay", "gamma", gamma)

    def schedule(step):
        return _out(step, peak_lr * gamma ** np.floor(_steps(step) / step_size))

    return schedule


def piecewise_constant(values: Sequence[float], boundaries: Sequence[int]) -> Schedule:
    """``lr_t = values[i]`` where ``i`` is the number of boundaries ``<= t``.

    ``len(values) == len(boundaries) + 1``; boundaries must increase.

    >>> piecewise_constant([1.0, 0.1, 0.01], [2, 4])(3)
    0.1
    """
    vals = as_reals("piecewise_constant", "values", values)
    bnds = as_reals("piecewise_constant", "boundaries", boundaries)
    if vals.ndim != 1 or len(vals) != len(bnds) + 1:
        raise ValueError(
            "piecewise_constant: need len(values) == len(boundaries) + 1, got "
            f"{len(vals)} values and {len(bnds)} boundaries"
        )
    if not np.all(np.isfinite(bnds)) or np.any(np.diff(bnds) <= 0):
        raise ValueError(
            "piecewise_constant: boundaries must be strictly increasing numbers, got "
            f"{list(boundaries)}"[:300]
        )
    check_lrs("piecewise_constant", "values", vals)

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

    ratio = final_lr / peak_lr
    # final / peak may leave float64 (1e244 / 1e-98): then the same formula in log space
    log_ratio = None if np.isfinite(ratio) and ratio > 0 else np.log(final_lr) - np.log(peak_lr)

    def schedule(step):
        x = _progress(step, total_steps)
        if log_ratio is None:
            return _out(step, peak_lr * ratio**x)
        inside = np.exp(np.log(peak_lr) + log_ratio * x)
        return _out(step, np.where(x == 0, peak_lr, np.where(x == 1, final_lr, inside)))

    return schedule


def inverse_sqrt(peak_lr: float, timescale: int = 10_000) -> Schedule:
    """``lr_t = peak_lr / sqrt(1 + t / timescale)`` (Hugging Face ``get_inverse_sqrt_schedule``
    after its warm-up; wrap it in :func:`warmup` for the whole HF schedule).

    >>> inverse_sqrt(1.0, 4)(12)
    0.5
    """
    check_lr("inverse_sqrt", "peak_lr", peak_lr)
    check_int("inverse_sqrt", "timescale", timescale, minimum=1)

    def schedule(step):
        return _out(step, peak_lr / np.sqrt(1.0 + _steps(step) / timescale))

    return schedule


def rsqrt(peak_lr: float, timescale: int = 1) -> Schedule:
    """``lr_t = peak_lr * sqrt(timescale / max(t + 1, timescale))``: flat for ``timescale``
    steps, then proportional to ``1 / sqrt(t + 1)`` (the T5 / "Attention is all you need"
    shape without its warm-up; HF's ``inverse_sqrt`` is :func:`inverse_sqrt`).

    >>> rsqrt(1.0, 4)(15)
    0.5
    """
    check_lr("rsqrt", "peak_lr", peak_lr)
    check_int("rsqrt", "timescale", timescale, minimum=1)

    def schedule(step):
        t1 = np.maximum(_steps(step) + 1.0, timescale)
        return _out(step, peak_lr * np.sqrt(timescale / t1))

    return schedule


def multi_step(peak_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    """``lr_t = peak_lr * gamma ** (number of milestones <= t)`` (torch ``MultiStepLR``;
    a repeated milestone drops twice, as there).

    >>> evaluate(multi_step(1.0, [2, 3], 0.5), 5).tolist()
    [1.0, 1.0, 0.5, 0.25, 0.25]
    """
    check_lr("multi_step", "peak_lr", peak_lr)
    check_nonneg("multi_step", "gamma", gamma)
    ms = as_reals("multi_step", "milestones", milestones)
    if ms.ndim != 1 or not np.all(np.isfinite(ms)) or np.any(np.diff(ms) < 0) or np.any(ms < 0):
        raise ValueError(
            f"multi_step: milestones must be >= 0 and non-decreasing numbers, got {list(milestones)}"[
                :300
            ]
        )
    with np.errstate(over="ignore"):  # the lr after the last milestone is the largest or smallest
        highest = peak_lr * max(1.0, np.float64(gamma) ** len(ms))
    if not np.isfinite(highest):
        raise ValueError(
            f"multi_step: peak_lr * gamma ** {len(ms)} (the lr after the last milestone) must be "
            f"finite, got peak_lr={peak_lr!r}, gamma={gamma!r}"
        )

    def schedule(step):
        drops = np.searchsorted(ms, _steps(step), side="right")
        return _out(step, peak_lr * float(gamma) ** drops)

    return schedule


def cosine_restarts(
    peak_lr: float, total_steps: int, num_cycles: int = 1, final_lr: float = 0.0
) -> Schedule:
    """Cosine decay restarted ``num_cycles`` times (SGDR with equal cycles):
    ``x = (num_cycles * t / T) mod 1``, ``lr_t = final_lr + (peak_lr - final_lr) * (1 + cos(pi x)) / 2``
    for t < T, ``final_lr`` after. Matches HF ``get_cosine_with_hard_restarts_schedule_with_warmup``
    and torch ``CosineAnnealingWarmRestarts(T_0=T / num_cycles)``.

    >>> evaluate(cosine_restarts(1.0, 4, num_cycles=2), 5).round(12).tolist()
    [1.0, 0.5, 1.0, 0.5, 0.0]
    """
    _check_decay("cosine_restarts", peak_lr, total_steps, final_lr)
    check_int("cosine_restarts", "num_cycles", num_cycles, minimum=1)

    def schedule(step):
        t = _steps(step)
        x = np.mod(num_cycles * (t / total_steps), 1.0)
        cos = np.where(t >= total_steps, 0.0, 0.5 * (1.0 + np.cos(np.pi * x)))
        return _out(step, final_lr + (peak_lr - final_lr) * cos)

    return schedule


_ANNEAL: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    # x in [0, 1] -> fraction of the way from the start value to the end value
    "cos": lambda x: 0.5 * (1.0 - np.cos(np.pi * x)),
    "linear": lambda x: x,
}


def one_cycle(
    peak_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
) -> Schedule:
    """torch ``OneCycleLR`` (two phases): from ``peak_lr / div_factor`` up to ``peak_lr`` at
    step ``pct_start * T - 1``, then down to ``peak_lr / div_factor / final_div_factor`` at
    step ``T - 1``; ``anneal`` is ``cos`` or ``linear``. Steps after T keep the last lr.

    >>> s = one_cycle(1.0, 10, pct_start=0.5, div_factor=10.0, anneal="linear")
    >>> round(s(0), 6), round(s(4), 6)
    (0.1, 1.0)
    """
    check_lr("one_cycle", "peak_lr", peak_lr)
    check_int("one_cycle", "total_steps", total_steps, minimum=1)
    check_nonneg("one_cycle", "div_factor", div_factor, strict=True)
    check_nonneg("one_cycle", "final_div_factor", final_div_factor, strict=True)
    check_finite("one_cycle", "pct_start", pct_start)
    if not 0.0 < pct_start < 1.0:
        raise ValueError(f"one_cycle: pct_start must be in (0, 1), got {pct_start!r}")
    up_end = float(pct_start * total_steps) - 1.0  # torch's phase boundary (may be <= 0)
    if anneal not in _ANNEAL:
        raise ValueError(f"one_cycle: anneal must be one of {sorted(_ANNEAL)}, got {anneal!r}")
    shape = _ANNEAL[anneal]
    start = peak_lr / div_factor
    end = start / final_div_factor
    if not np.isfinite(start):
        raise ValueError(
            f"one_cycle: peak_lr / div_factor (the start lr) must be finite, got {peak_lr!r} / "
            f"{div_factor!r}"
        )
    if not np.isfinite(end):
        raise ValueError(
            f"one_cycle: peak_lr / div_factor / final_div_factor (the final lr) must be finite, "
            f"got {peak_lr!r} / {div_factor!r} / {final_div_factor!r}"
        )
    last = total_steps - 1.0

    def schedule(step):
        t = np.minimum(_steps(step), last)
        x_up = np.clip(t / up_end, 0.0, 1.0) if up_end > 0 else np.ones_like(t)
        up = start + (peak_lr - start) * shape(x_up)
        down = peak_lr + (end - peak_lr) * shape(np.clip((t - up_end) / (last - up_end), 0, 1))
        return _out(step, np.where(t <= up_end, up, down))

    return schedule


_CYCLIC_SCALE: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    # (cycle number from 1, step, gamma) -> factor on the amplitude (torch CyclicLR modes)
    "triangular": lambda cycle, t, gamma: np.ones_like(t),
    "triangular2": lambda cycle, t, gamma: 0.5 ** (cycle - 1.0),  # 2 ** -(cycle - 1)
    "exp_range": lambda cycle, t, gamma: gamma**t,
}


def cyclic(
    peak_lr: float,
    base_lr: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> Schedule:
    """torch ``CyclicLR``: triangles between ``base_lr`` and ``peak_lr``, rising for
    ``step_size_up`` steps and falling for ``step_size_down`` (default: the same);
    ``mode`` ``triangular2`` halves the amplitude each cycle, ``exp_range`` scales it by
    ``gamma ** t``.

    >>> evaluate(cyclic(1.0, 0.0, 2), 6).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    """
    check_lr("cyclic", "peak_lr", peak_lr)
    check_lr("cyclic", "base_lr", base_lr, allow_zero=True)
    check_int("cyclic", "step_size_up", step_size_up, minimum=1)
    down = step_size_up if step_size_down is None else step_size_down
    check_int("cyclic", "step_size_down", down, minimum=1)
    check_nonneg("cyclic", "gamma", gamma, strict=True)
    if mode not in _CYCLIC_SCALE:
        raise ValueError(f"cyclic: mode must be one of {sorted(_CYCLIC_SCALE)}, got {mode!r}")
    if mode == "exp_range":  # gamma ** t grows without bound for gamma > 1
        check_decay_factor("cyclic", "gamma", gamma)
    size = float(step_size_up + down)
    ratio = step_size_up / size
    scale = _CYCLIC_SCALE[mode]

    def schedule(step):
        t = _steps(step)
        cycle = np.floor(1.0 + t / size)
        x = 1.0 + t / size - cycle
        height = np.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        return _out(step, base_lr + (peak_lr - base_lr) * height * scale(cycle, t, gamma))

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
    span = total_steps - t0 if total_steps > t0 else total_steps * decay_fraction  # 5e-324: > 0

    def schedule(step):
        with np.errstate(over="ignore"):  # a span of 5e-324 steps: the drop is a step
            x = np.clip((_steps(step) - t0) / span, 0.0, 1.0)
        return _out(step, final_lr + (peak_lr - final_lr) * shape(x))

    return schedule


WARMUP_SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    # x = t / W in [0, 1) -> fraction of the way from the start value to the peak
    # (the shapes of HF get_wsd_schedule's warmup_type)
    "linear": lambda x: x,
    "cosine": lambda x: 0.5 * (1.0 - np.cos(np.pi * x)),
    "1-sqrt": lambda x: 1.0 - np.sqrt(1.0 - x),
}


def warmup(
    schedule: Schedule, warmup_steps: int, warmup_start: float = 0.0, shape: str = "linear"
) -> Schedule:
    """Prepend a warm-up: for ``t < W``, ``lr_t = p * (s + (1 - s) * shape(t / W))`` with
    ``p = schedule(0)`` and ``s = warmup_start`` (a fraction of ``p``); then
    ``schedule(t - W)``. The wrapped schedule starts after the warm-up, so give it
    ``total_steps - W`` steps.

    ``warmup_start=0`` with the linear shape is the convention of Hugging Face, optax and
    torch's ``LinearLR(start_factor=0)``: ``lr_0 = 0``, ``lr_t = p t / W``.
    ``warmup_start=1 / (W + 1)`` gives nanoGPT's ``p (t + 1) / (W + 1)``.

    >>> evaluate(warmup(linear_decay(1.0, 2), 2), 4).tolist()
    [0.0, 0.5, 1.0, 0.5]
    >>> evaluate(warmup(constant(1.0), 1, warmup_start=0.5), 2).tolist()
    [0.5, 1.0]
    """
    check_int("warmup", "warmup_steps", warmup_steps, minimum=0)
    check_unit("warmup", "warmup_start", warmup_start)
    if shape not in WARMUP_SHAPES:
        raise ValueError(f"warmup: shape must be one of {list(WARMUP_SHAPES)}, got {shape!r}")
    if warmup_steps == 0:
        return schedule
    peak = float(schedule(0))
    if not (np.isfinite(peak) and peak >= 0):
        raise ValueError(f"warmup: schedule(0) must be a finite lr >= 0, got {peak!r}")
    ramp_shape = WARMUP_SHAPES[shape]

    def wrapped(step):
        t = _steps(step)
        x = np.clip(t / warmup_steps, 0.0, 1.0)
        ramp = peak * (warmup_start + (1.0 - warmup_start) * ramp_shape(x))
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
    check_int("evaluate", "total_steps", total_steps, minimum=1, maximum=MAX_STEPS)
    return np.asarray(schedule(np.arange(total_steps)), dtype=np.float64)


def from_array(values: Sequence[float] | np.ndarray) -> Schedule:
    """A schedule that reads ``values[t]``; steps past the end keep the last value.

    >>> from_array([0.5, 1.0, 0.0])(np.array([0, 1, 5])).tolist()
    [0.5, 1.0, 0.0]
    """
    vals = as_reals("from_array", "values", values)
    if vals.ndim != 1 or len(vals) == 0:
        raise ValueError(
            f"from_array: values must be a non-empty 1-D array, got shape {vals.shape}"
        )
    check_lrs("from_array", "values", vals)

    def schedule(step):
        idx = np.clip(np.asarray(step, dtype=np.int64), 0, len(vals) - 1)
        return _out(step, vals[idx])

    return schedule


def _check_decay(fn: str, peak_lr: float, total_steps: int, final_lr: float) -> None:
    check_lr(fn, "peak_lr", peak_lr)
    check_lr(fn, "final_lr", final_lr, allow_zero=True)
    check_int(fn, "total_steps", total_steps, minimum=1)
