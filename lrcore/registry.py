"""Schedules by name: what the CLI (``lrcore schedule NAME``) and the app build.

Every registry schedule is ``factory(peak_lr, total_steps, **params)`` with typed
parameters (lengths are fractions of the run, so a default works at any length) plus
the warm-up parameters shared by all: ``warmup_steps`` (an argument of
:func:`build_schedule`), ``warmup_start`` and ``warmup_shape``. User text is never
evaluated as code: list parameters are comma-separated numbers or names.

>>> from lrcore.schedules import evaluate
>>> evaluate(build_schedule("multistep", 4, milestones="0.5,0.75", gamma=0.5), 4).tolist()
[1.0, 1.0, 0.5, 0.25]
>>> evaluate(build_schedule("join", 4, schedules="constant,linear", boundaries="0.5"), 4).tolist()
[1.0, 1.0, 1.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lrcore import schedules as S
from lrcore._validate import MAX_STEPS, check_int, check_lr
from lrcore.schedules import Schedule

__all__ = ["Param", "ScheduleSpec", "REGISTRY", "WARMUP_PARAMS", "build_schedule"]


@dataclass(frozen=True)
class Param:
    """One typed parameter of a registry schedule (what a form field or a CLI flag needs).

    ``kind`` is int, float or str; a str parameter without ``choices`` is a comma-separated
    list (``list_of`` says of what: ``"fractions"``, ``"numbers"`` or ``"names"``).
    ``label`` is a short human title for forms; ``help`` says what it does.
    """

    name: str
    kind: type  # int, float or str
    default: int | float | str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    label: str = ""
    list_of: str = ""


@dataclass(frozen=True)
class ScheduleSpec:
    """A named schedule: ``factory(peak_lr, total_steps, **params)`` and its parameters
    (the shared warm-up parameters :data:`WARMUP_PARAMS` come last)."""

    name: str
    label: str
    factory: Callable[..., Schedule]
    params: tuple[Param, ...] = ()


_FINAL = Param(
    "final_fraction",
    float,
    0.0,
    "final lr as a fraction of the peak lr",
    minimum=0.0,
    maximum=1.0,
    label="Final lr (fraction of peak)",
)
WARMUP_PARAMS = (
    Param(
        "warmup_start",
        float,
        0.0,
        "lr at step 0 of the warm-up, as a fraction of the peak (0: HF, optax, torch)",
        minimum=0.0,
        maximum=1.0,
        label="Warm-up start (fraction of peak)",
    ),
    Param(
        "warmup_shape",
        str,
        "linear",
        "shape of the warm-up ramp",
        choices=tuple(S.WARMUP_SHAPES),
        label="Warm-up shape",
    ),
)


def _final(factory):
    """Adapt ``factory(peak_lr, total_steps, ..., final_lr)`` to a relative ``final_fraction``."""

    def make(peak_lr, total_steps, final_fraction=0.0, **kw):
        final_lr = _fraction_of_peak("final_fraction", final_fraction, peak_lr)
        return factory(peak_lr, total_steps, final_lr=final_lr, **kw)

    return make


def _fraction_of_peak(name: str, fraction: float, peak_lr: float) -> float:
    """``fraction * peak_lr``; a subnormal result (a tiny peak lr times a small fraction) is
    raised to the smallest normal float64, 2.2e-308 (a change below 2.2e-308): lrcore takes
    no subnormal lr, where every multiple loses its precision."""
    lr = fraction * peak_lr
    return max(lr, _TINY) if lr > 0 else lr


_TINY = float(np.finfo(np.float64).tiny)


def _floats(where: str, text: str) -> np.ndarray:
    try:
        out = np.array([float(x) for x in str(text).split(",") if x.strip()], dtype=np.float64)
    except ValueError:
        raise ValueError(
            f"build_schedule: {where} must be comma-separated numbers, got {text!r}"
        ) from None
    if len(out) == 0 or not np.all(np.isfinite(out)):
        raise ValueError(f"build_schedule: {where} must be finite numbers, got {text!r}")
    return out


def _at_steps(where: str, text: str, total_steps: int) -> np.ndarray:
    """Fractions of the run (non-decreasing, in (0, 1)) -> rounded steps."""
    fr = _floats(where, text)
    if np.any(np.diff(fr) < 0) or fr[0] <= 0 or fr[-1] >= 1:
        raise ValueError(
            f"build_schedule: {where} must be non-decreasing fractions in (0, 1), got {text!r}"
        )
    return np.round(fr * total_steps)


def _pieces(bounds: np.ndarray, total_steps: int) -> np.ndarray:
    """Which pieces last at least one step (a rounded boundary may coincide with the next)."""
    edges = np.r_[0.0, bounds, float(total_steps)]
    return np.diff(edges) > 0


def _piecewise(peak_lr, total_steps, boundaries="0.5,0.75", values="1,0.1,0.01"):
    bnds = _at_steps("piecewise.boundaries", boundaries, total_steps)
    vals = _floats("piecewise.values", values)
    if len(vals) != len(bnds) + 1:
        raise ValueError(
            f"build_schedule: piecewise needs one more value than boundaries, got {len(vals)} "
            f"values and {len(bnds)} boundaries"
        )
    if np.any(vals < 0) or np.any(vals > 1):
        raise ValueError(
            f"build_schedule: piecewise.values must be fractions in [0, 1], got {values!r}"
        )
    keep = _pieces(bnds, total_steps)
    kept_bounds = np.r_[0.0, bnds][keep][1:]
    return S.piecewise_constant(peak_lr * vals[keep], kept_bounds.astype(int).tolist())


def _join(peak_lr, total_steps, schedules="constant,linear", boundaries="0.8"):
    names = [n.strip() for n in str(schedules).split(",") if n.strip()]
    bnds = _at_steps("join.boundaries", boundaries, total_steps)
    if len(names) != len(bnds) + 1:
        raise ValueError(
            f"build_schedule: join needs one more schedule than boundaries, got {len(names)} "
            f"schedules and {len(bnds)} boundaries"
        )
    for n in names:
        if n not in REGISTRY or n == "join":
            known = sorted(k for k in REGISTRY if k != "join")
            raise ValueError(f"build_schedule: join.schedules: unknown piece {n!r}; known: {known}")
    keep = _pieces(bnds, total_steps)
    edges = np.r_[0.0, bnds, float(total_steps)]
    starts, lengths = edges[:-1][keep], np.diff(edges)[keep]
    parts = [
        build_schedule(n, int(length), peak_lr=peak_lr)
        for n, length in zip(np.array(names)[keep], lengths, strict=True)
    ]
    return S.join(parts, starts[1:].astype(int).tolist())


def _cyclic(
    peak_lr,
    total_steps,
    cycle_fraction=0.25,
    up_fraction=0.5,
    base_fraction=0.1,
    mode="triangular",
    gamma=1.0,
):
    cycle = max(2, round(cycle_fraction * total_steps))
    up = min(max(1, round(up_fraction * cycle)), cycle - 1)
    base_lr = _fraction_of_peak("base_fraction", base_fraction, peak_lr)
    return S.cyclic(peak_lr, base_lr, up, cycle - up, mode=mode, gamma=gamma)


def _frac(name, default, help, label, minimum=0.0, maximum=1.0):
    return Param(name, float, default, help, minimum=minimum, maximum=maximum, label=label)


_SPECS = [
    ScheduleSpec("constant", "Constant", lambda peak_lr, total_steps: S.constant(peak_lr)),
    ScheduleSpec("linear", "Linear decay", _final(S.linear_decay), (_FINAL,)),
    ScheduleSpec("cosine", "Cosine decay", _final(S.cosine_decay), (_FINAL,)),
    ScheduleSpec(
        "cosine_restarts",
        "Cosine with restarts (SGDR)",
        _final(S.cosine_restarts),
        (
            Param(
                "num_cycles",
                int,
                2,
                "number of equal cosine cycles",
                minimum=1,
                maximum=1000,
                label="Cycles",
            ),
            _FINAL,
        ),
    ),
    ScheduleSpec(
        "polynomial",
        "Polynomial decay",
        _final(S.polynomial_decay),
        (
            Param(
                "power",
                float,
                2.0,
                "exponent of (1 - t/T)",
                minimum=0.01,
                maximum=20.0,
                label="Power",
            ),
            _FINAL,
        ),
    ),
    ScheduleSpec(
        "step",
        "Step decay",
        lambda peak_lr, total_steps, step_fraction=0.33, gamma=0.1: S.step_decay(
            peak_lr, max(1, round(step_fraction * total_steps)), gamma
        ),
        (
            _frac(
                "step_fraction",
                0.33,
                "fraction of the run between drops",
                "Steps between drops (fraction of run)",
                minimum=0.01,
            ),
            _frac("gamma", 0.1, "factor at each drop", "Factor per drop"),
        ),
    ),
    ScheduleSpec(
        "multistep",
        "Multi-step decay",
        lambda peak_lr, total_steps, milestones="0.5,0.75", gamma=0.1: S.multi_step(
            peak_lr, _at_steps("multistep.milestones", milestones, total_steps), gamma
        ),
        (
            Param(
                "milestones",
                str,
                "0.5,0.75",
                "comma-separated fractions of the run where the lr drops",
                label="Drops at (fractions of run)",
                list_of="fractions",
            ),
            _frac("gamma", 0.1, "factor at each drop", "Factor per drop"),
        ),
    ),
    ScheduleSpec(
        "piecewise",
        "Piecewise constant",
        _piecewise,
        (
            Param(
                "boundaries",
                str,
                "0.5,0.75",
                "comma-separated fractions of the run where the next value starts",
                label="Boundaries (fractions of run)",
                list_of="fractions",
            ),
            Param(
                "values",
                str,
                "1,0.1,0.01",
                "comma-separated lrs as fractions of the peak, one more than boundaries",
                label="Values (fractions of peak)",
                list_of="numbers",
            ),
        ),
    ),
    ScheduleSpec(
        "join",
        "Join named schedules",
        _join,
        (
            Param(
                "schedules",
                str,
                "constant,linear",
                "comma-separated registry names, each with its defaults over its own segment",
                label="Schedules",
                list_of="names",
            ),
            Param(
                "boundaries",
                str,
                "0.8",
                "comma-separated fractions of the run where the next schedule starts",
                label="Boundaries (fractions of run)",
                list_of="fractions",
            ),
        ),
    ),
    ScheduleSpec(
        "exponential",
        "Exponential decay",
        _final(S.exponential_decay),
        (
            _frac(
                "final_fraction",
                0.01,
                "final lr as a fraction of the peak lr (> 0)",
                "Final lr (fraction of peak)",
                minimum=1e-12,
            ),
        ),
    ),
    ScheduleSpec(
        "inverse_sqrt",
        "Inverse square root (HF)",
        lambda peak_lr, total_steps, timescale_fraction=0.05: S.inverse_sqrt(
            peak_lr, max(1, round(timescale_fraction * total_steps))
        ),
        (
            _frac(
                "timescale_fraction",
                0.05,
                "lr = peak / sqrt(1 + t / timescale); timescale as a fraction of the run",
                "Timescale (fraction of run)",
            ),
        ),
    ),
    ScheduleSpec(
        "rsqrt",
        "Flat, then 1/sqrt(t) (T5)",
        lambda peak_lr, total_steps, timescale_fraction=0.05: S.rsqrt(
            peak_lr, max(1, round(timescale_fraction * total_steps))
        ),
        (
            _frac(
                "timescale_fraction",
                0.05,
                "flat part before 1/sqrt(t), as a fraction of the run",
                "Flat part (fraction of run)",
            ),
        ),
    ),
    ScheduleSpec(
        "wsd",
        "Warmup-stable-decay",
        _final(S.warmup_stable_decay),
        (
            _frac(
                "decay_fraction",
                0.2,
                "fraction of the run spent cooling down",
                "Cool-down (fraction of run)",
                minimum=0.01,
            ),
            Param(
                "cooldown",
                str,
                "linear",
                "shape of the cool-down",
                choices=tuple(S._COOLDOWNS),
                label="Cool-down shape",
            ),
            _FINAL,
        ),
    ),
    ScheduleSpec(
        "one_cycle",
        "One cycle (torch OneCycleLR)",
        S.one_cycle,
        (
            _frac(
                "pct_start",
                0.3,
                "fraction of the run spent rising",
                "Rise (fraction of run)",
                minimum=1e-6,
                maximum=1 - 1e-6,
            ),
            Param(
                "div_factor",
                float,
                25.0,
                "start lr = peak / div_factor",
                minimum=1.0,
                maximum=1e6,
                label="Peak / start lr",
            ),
            Param(
                "final_div_factor",
                float,
                1e4,
                "final lr = start lr / final_div_factor",
                minimum=1.0,
                maximum=1e9,
                label="Start / final lr",
            ),
            Param(
                "anneal",
                str,
                "cos",
                "shape of both phases",
                choices=tuple(S._ANNEAL),
                label="Shape",
            ),
        ),
    ),
    ScheduleSpec(
        "cyclic",
        "Cyclic (torch CyclicLR)",
        _cyclic,
        (
            _frac(
                "cycle_fraction",
                0.25,
                "length of one full cycle as a fraction of the run",
                "Cycle (fraction of run)",
                minimum=1e-6,
            ),
            _frac(
                "up_fraction",
                0.5,
                "fraction of each cycle spent rising",
                "Rise (fraction of cycle)",
                minimum=1e-6,
                maximum=1 - 1e-6,
            ),
            _frac("base_fraction", 0.1, "lowest lr as a fraction of the peak", "Base lr"),
            Param(
                "mode",
                str,
                "triangular",
                "triangular, triangular2 (halve each cycle) or exp_range (gamma ** t)",
                choices=tuple(S._CYCLIC_SCALE),
                label="Mode",
            ),
            _frac("gamma", 1.0, "decay per step of exp_range", "Gamma (exp_range)", minimum=1e-6),
        ),
    ),
]

REGISTRY: dict[str, ScheduleSpec] = {
    s.name: ScheduleSpec(s.name, s.label, s.factory, s.params + WARMUP_PARAMS) for s in _SPECS
}


def build_schedule(
    name: str,
    total_steps: int,
    peak_lr: float = 1.0,
    warmup_steps: int = 0,
    **params,
) -> Schedule:
    """Build a registry schedule by name; the warm-up (if any) comes out of ``total_steps``.

    ``warmup_start`` (default 0) and ``warmup_shape`` (default ``linear``) shape the
    warm-up (see :func:`lrcore.schedules.warmup`).

    >>> from lrcore.schedules import evaluate
    >>> evaluate(build_schedule("linear", 4, peak_lr=2.0), 4).tolist()
    [2.0, 1.5, 1.0, 0.5]
    >>> evaluate(build_schedule("constant", 4, warmup_steps=2), 4).tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    if name not in REGISTRY:
        raise ValueError(f"build_schedule: unknown schedule {name!r}; known: {sorted(REGISTRY)}")
    spec = REGISTRY[name]
    check_int("build_schedule", "total_steps", total_steps, minimum=1, maximum=MAX_STEPS)
    check_lr("build_schedule", "peak_lr", peak_lr)
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
    kwargs = {p.name: _coerce(name, p, params.get(p.name, p.default)) for p in spec.params}
    start, shape = kwargs.pop("warmup_start"), kwargs.pop("warmup_shape")
    base = spec.factory(peak_lr, total_steps - warmup_steps, **kwargs)
    return S.warmup(base, warmup_steps, warmup_start=start, shape=shape)


def _coerce(schedule: str, p: Param, value):
    where = f"build_schedule: {schedule}.{p.name}"
    try:
        v = p.kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be {p.kind.__name__}, got {value!r}") from None
    if p.kind is int and isinstance(value, float) and value != v:
        raise ValueError(f"{where} must be an integer, got {value!r}")
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
