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


def check_int(fn: str, name: str, value, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{fn}: {name} must be an integer, got {value!r}")
    if value < minimum:
        bound = f"> {minimum - 1}" if minimum > 0 else f">= {minimum}"
        raise ValueError(f"{fn}: {name} must be {bound}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{fn}: {name} must be at most {maximum:,}, got {value!r}")
    return int(value)


_TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64 (2.2e-308)


def check_lr(fn: str, name: str, value, allow_zero: bool = False) -> float:
    """A learning rate: a finite real number > 0 (>= 0 with ``allow_zero``), never subnormal
    (below 2.2e-308 every multiple of it loses precision: a schedule of one value).

    >>> check_lr("linear_decay", "peak_lr", 5e-324)
    Traceback (most recent call last):
    ...
    ValueError: linear_decay: peak_lr must be a finite number > 0 and not subnormal (at least 2.2250738585072014e-308), got 5e-324
    """
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    v = float(value) if ok else math.nan
    if not ok or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{fn}: {name} must be a finite number {rel}, got {value!r}")
    if 0 < v < _TINY:
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"{fn}: {name} must be a finite number {rel} and not subnormal (at least "
            f"{_TINY!r}), got {value!r}"
        )
    return v


def check_decay_factor(fn: str, name: str, value) -> float:
    """A factor applied once per drop or step: in [0, 1] (a larger one grows without bound,
    so the lr leaves float64 at some step).

    >>> check_decay_factor("step_decay", "gamma", 2.0)
    Traceback (most recent call last):
    ...
    ValueError: step_decay: gamma must be in [0, 1] (a decay; above 1 the lr grows without bound), got 2.0
    """
    v = check_finite(fn, name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(
            f"{fn}: {name} must be in [0, 1] (a decay; above 1 the lr grows without bound), "
            f"got {value!r}"
        )
    return v


def check_lrs(fn: str, name: str, values: np.ndarray) -> np.ndarray:
    """Learning rates, one per step: finite and >= 0 (the first offender is named).

    >>> check_lrs("from_array", "values", np.array([1.0, -0.5]))
    Traceback (most recent call last):
    ...
    ValueError: from_array: values[1] = -0.5 must be a finite number >= 0
    """
    bad = ~(np.isfinite(values) & (values >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{fn}: {name}[{i}] = {values[i]} must be a finite number >= 0")
    return values


def check_unit(fn: str, name: str, value) -> float:
    v = check_finite(fn, name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{fn}: {name} must be in [0, 1], got {value!r}")
    return v


def as_reals(fn: str, name: str, values) -> np.ndarray:
    """``values`` as float64, refusing what float64 would silently change: booleans, complex
    numbers, integers too large for a float (``10**400``), text, objects; a tensor that
    requires grad, or any array-like whose conversion fails, is a ValueError too.

    >>> as_reals("refine", "grad_norms", [True, False])
    Traceback (most recent call last):
    ...
    ValueError: refine: grad_norms must be real numbers, got booleans
    """
    if hasattr(values, "detach") and getattr(values, "requires_grad", False):
        raise ValueError(
            f"{fn}: {name} is a tensor that requires grad; pass tensor.detach() (the norms "
            "are data, not part of the graph)"
        )
    try:
        raw = np.asarray(values)
    except Exception as e:  # noqa: BLE001 - e.g. a ragged list, a broken __array__
        raise ValueError(
            f"{fn}: {name} must be a sequence of numbers ({type(e).__name__}: {e})"[:300]
        ) from None
    kind = raw.dtype.kind
    if kind == "b":
        raise ValueError(f"{fn}: {name} must be real numbers, got booleans")
    if kind == "c":
        raise ValueError(f"{fn}: {name} must be real numbers, got complex numbers")
    if kind in "iuf":
        return raw.astype(np.float64, copy=False)
    if kind == "O":
        for i, v in enumerate(raw.reshape(-1)):
            bad = isinstance(v, bool | complex) or not isinstance(v, numbers.Real)
            if not bad:
                try:
                    float(v)
                except (OverflowError, ValueError, TypeError):
                    bad = True
            if bad:
                where = f"[{i}]" if raw.ndim == 1 else f" (item {i})"
                shown = (
                    f"an integer of {int(v.bit_length() * 0.30103) + 1:,} digits"
                    if isinstance(v, int) and not isinstance(v, bool)
                    else repr(v)[:40]
                )
                raise ValueError(
                    f"{fn}: {name}{where} is {shown}, not a real number that fits a float64 "
                    "(at most 1.8e308 in size)"
                )
        return raw.astype(np.float64)
    raise ValueError(f"{fn}: {name} must be a sequence of numbers, got {raw.dtype} values")


def as_norms(fn: str, grad_norms, name: str = "grad_norms", positive: bool = True) -> np.ndarray:
    """A 1-D float64 array of at least 2 finite values (all > 0 when ``positive``)."""
    x = as_reals(fn, name, grad_norms)
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
    return check_lr(fn, name, value)


def name_list(names, limit: int = 8, quote: bool = True) -> str:
    """``'a', 'b', ... and N more``: long lists of names stay one short line.

    >>> name_list([f"c{i}" for i in range(100)], limit=3)
    "'c0', 'c1', 'c2' and 97 more"
    """
    names = list(names)
    show = repr if quote else str

    def clip(n) -> str:  # a clipped name says so: pasted back, it would not match
        n = str(n)
        return n if len(n) <= 60 else n[:59] + "…"

    shown = ", ".join(show(clip(n)) for n in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")
