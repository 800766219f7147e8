"""Controlled gradient noise: norms that change for reasons outside the schedule.

``noise_profile(name, steps)`` is the multiplier of the noise std at every step (the app
plots it); the loop adds ``noise_scale * profile[t] / sqrt(P) * N(0, I_P)`` to each stochastic
gradient of P parameters, so ``noise_scale`` is the expected l2 norm of the noise vector
where the profile is 1 (up to a factor ``sqrt(1 - 1/(2P))``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["NOISE_PROFILES", "noise_profile"]


def _rise(p: np.ndarray) -> np.ndarray:
    return 1.0 + 4.0 * np.clip((p - 0.5) / 0.5, 0.0, 1.0)  # x1 until half-way, x5 at the end


def _fall(p: np.ndarray) -> np.ndarray:
    return 5.0 - 4.0 * np.clip(p / 0.3, 0.0, 1.0)  # x5 at the start, x1 from 30 % on


NOISE_PROFILES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": np.zeros_like,
    "flat": np.ones_like,
    "rise": _rise,
    "fall": _fall,
}


def noise_profile(name: str, steps: int) -> np.ndarray:
    """Multiplier of the gradient-noise std at steps ``0 .. steps-1``, a function of the
    progress ``p = t / (steps - 1)``: ``none`` 0, ``flat`` 1, ``rise`` 1 until p = 0.5 then
    linear to 5 at p = 1, ``fall`` 5 at p = 0 linear to 1 at p = 0.3, then 1.

    >>> noise_profile("rise", 5).tolist()
    [1.0, 1.0, 1.0, 3.0, 5.0]
    >>> noise_profile("fall", 11)[[0, 3, 10]].tolist()
    [5.0, 1.0, 1.0]
    """
    if name not in NOISE_PROFILES:
        raise ValueError(f"noise_profile: name must be one of {list(NOISE_PROFILES)}, got {name!r}")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 2:
        raise ValueError(f"noise_profile: steps must be an integer >= 2, got {steps!r}")
    p = np.arange(steps, dtype=np.float64) / (steps - 1)
    return NOISE_PROFILES[name](p).astype(np.float64)
