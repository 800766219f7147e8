"""Seeded synthetic gradient-norm sequences: for teaching (what shape gives which schedule)
and for trying the tools at the scale of real LLM logs without downloading anything.

>>> g = synthetic_norms("falling", 1000, seed=0)
>>> len(g), bool(g[:100].mean() > g[-100:].mean())
(1000, True)
"""

from __future__ import annotations

import numpy as np

from lrcore._validate import check_int

__all__ = ["SHAPES", "synthetic_norms"]


def _flat(p):
    return np.ones_like(p)


def _falling(p):  # large early norms: refinement warms up
    return 1.0 + 4.0 * np.exp(-p / 0.08)


def _rising(p):  # norms that grow at the end: refinement anneals fast
    return 1.0 + 3.0 * np.clip((p - 0.7) / 0.3, 0, 1) ** 2


def _spike(p):  # a short burst of large norms mid-run
    return 1.0 + 4.0 * np.exp(-(((p - 0.5) / 0.02) ** 2))


def _llm(p):  # early fall, long plateau, late rise: the shape of many LLM logs
    return 0.5 * _falling(p) + 0.5 * _rising(p) + 0.2 * p


SHAPES = {"flat": _flat, "falling": _falling, "rising": _rising, "spike": _spike, "llm": _llm}


def synthetic_norms(
    shape: str = "llm", n: int = 1000, seed: int = 0, noise: float = 0.2
) -> np.ndarray:
    """``n`` positive norms: the named trend times log-normal noise of scale ``noise``."""
    if shape not in SHAPES:
        raise ValueError(f"synthetic_norms: shape must be one of {list(SHAPES)}, got {shape!r}")
    check_int("synthetic_norms", "n", n, minimum=2)
    if not 0 <= noise <= 2:
        raise ValueError(f"synthetic_norms: noise must be in [0, 2], got {noise!r}")
    p = np.linspace(0.0, 1.0, n)
    rng = np.random.default_rng(seed)
    return SHAPES[shape](p) * np.exp(noise * rng.standard_normal(n))
