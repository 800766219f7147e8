"""Argument checks shared by the public functions.

Every failure is a ``ValueError`` naming the function, the parameter, the value and
what is allowed, e.g. ``cosine_decay: total_steps must be > 0, got 0``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def check_finite(fn: str, name: str, value) -> float:
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{fn}: {name} must be a finite number, got {value!r}")
    return float(value)


def check_nonneg(fn: str, name: str, value, strict: bool = False) -> float:
    v = check_finite(fn, name, value)
    if (v <= 0) if strict else (v < 0):
        raise ValueError(f"{fn}: {name} must be {'>' if strict else '>='} 0, got {value!r}")
    return v


def check_int(fn: str, name: str, value, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{fn}: {name} must be an integer, got {value!r}")
    if value < minimum:
        bound = f"> {minimum - 1}" if minimum > 0 else f">= {minimum}"
        raise ValueError(f"{fn}: {name} must be {bound}, got {value!r}")
    return int(value)


def check_unit(fn: str, name: str, value) -> float:
    v = check_finite(fn, name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{fn}: {name} must be in [0, 1], got {value!r}")
    return v


def as_norms(fn: str, grad_norms, name: str = "grad_norms", positive: bool = True) -> np.ndarray:
    """A 1-D float64 array of at least 2 finite values (all > 0 when ``positive``)."""
    try:
        x = np.asarray(grad_norms, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: {name} must be a sequence of numbers") from None
    if x.ndim != 1:
        raise ValueError(f"{fn}: {name} must be 1-D, got shape {x.shape}")
    if len(x) < 2:
        raise ValueError(f"{fn}: {name} needs at least 2 values, got {len(x)}")
    finite = np.isfinite(x)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"{fn}: {name}[{i}] = {x[i]} is not finite")
    bad = x <= 0 if positive else x < 0
    if bad.any():
        i = int(np.argmax(bad))
        rel = "> 0" if positive else ">= 0"
        raise ValueError(f"{fn}: {name}[{i}] = {x[i]} must be {rel}")
    return x


# --------------------------------------------------------------------------- ranges
# Shared by the CLI, the app and the loaders, so every entry point refuses the same inputs.

MAX_STEPS = 20_000_000  # longest schedule lrcore writes (--steps, --total-steps, a log's span)
MAX_EXACT_STEP = 2**53  # larger step numbers are not exact in float64 (logs store floats)


def validate_steps(fn: str, name: str, value, minimum: int = 2) -> int:
    """A step count: a whole number in ``[minimum, MAX_STEPS]`` (floats like ``1e3`` accepted).

    >>> validate_steps("lrcore refine", "--steps", 1000.0)
    1000
    >>> validate_steps("lrcore refine", "--steps", 0)
    Traceback (most recent call last):
    ...
    ValueError: lrcore refine: --steps must be a whole number from 2 to 20,000,000, got 0
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if ok and not isinstance(value, numbers.Integral):
        ok = math.isfinite(value) and float(value).is_integer()
    if not ok or not minimum <= value <= MAX_STEPS:
        raise ValueError(
            f"{fn}: {name} must be a whole number from {minimum:,} to {MAX_STEPS:,}, got {value!r}"
        )
    return int(value)


def validate_span(source: str, first: int, last: int) -> int:
    """The number of steps a log covers (``last - first + 1``), refused above ``MAX_STEPS``.

    >>> validate_span("run.csv", 0, 99)
    100
    """
    span = int(last) - int(first) + 1
    if span > MAX_STEPS:
        raise ValueError(
            f"{source}: steps {int(first):,}..{int(last):,} span {span:,} steps, more than the "
            f"{MAX_STEPS:,} a schedule may have; choose the length (CLI: --steps)"
        )
    return span


def validate_peak_lr(fn: str, name: str, value) -> float:
    """A peak learning rate: finite and > 0.

    >>> validate_peak_lr("lrcore refine", "--peak-lr", float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: lrcore refine: --peak-lr must be a finite number > 0, got nan
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{fn}: {name} must be a finite number > 0, got {value!r}")
    return float(value)


def name_list(names, limit: int = 8, quote: bool = True) -> str:
    """``'a', 'b', ... and N more``: long lists of names stay one short line.

    >>> name_list([f"c{i}" for i in range(100)], limit=3)
    "'c0', 'c1', 'c2' and 97 more"
    """
    names = list(names)
    show = repr if quote else str
    shown = ", ".join(show(str(n)[:60]) for n in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")
