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
