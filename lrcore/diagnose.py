"""Plain-language warnings for refined schedules that the theory does not support.

Refinement assumes the gradient norms of the next run look like those of the logged run, and
that they do not depend on the schedule. When the logged norms collapse (the model converging
or interpolating, full-batch gradients, or norms that the first run's own schedule drove
down), refinement keeps the lr small while the norms were large and puts the peak late: the
refined schedule then peaks beyond half the run, stays above half its peak for a sliver of
the run, or both. :func:`diagnose_refined` finds these cases; the CLI prints its message as a
``warning:`` line on stderr and the app as ``st.warning``. A schedule like the paper's (an early peak,
then a smooth decay) gets no warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrcore._validate import as_norms, check_finite
from lrcore.refine import smooth_norms, stretch

__all__ = [
    "LATE_PEAK",
    "MAX_NORM_FALL",
    "MIN_ABOVE_HALF",
    "SPIKE_AFTER",
    "RefinedShape",
    "diagnose_refined",
]

LATE_PEAK = 0.5  # the peak sits beyond this fraction of the run
MIN_ABOVE_HALF = 0.2  # the lr is above half its peak for less than this fraction of the run
MAX_NORM_FALL = 10.0  # the smoothed norms fall by more than this factor
SPIKE_AFTER = 0.1  # ... a short high phase counts only when the peak sits after this fraction

_CAUSE = (
    "Likely cause: the gradient norms fell while the lr was high (the model converging or "
    "interpolating, full-batch gradients, or norms that the first run's own schedule drove "
    "down), so the next run's norms will not look like these."
)
_TODO = (
    "Check it with a short run against linear decay before using it, or refine again from a "
    "run that used this schedule and see whether it settles."
)


@dataclass(frozen=True)
class RefinedShape:
    """Where a schedule peaks and how long it stays high, as fractions of the run (by step)."""

    peak_fraction: float  # position of the peak: 0 = first step, 1 = last step
    above_half_fraction: float  # share of the run with lr >= half the peak
    norm_fall: float | None  # early / late smoothed norm (None when no norms were given)


def refined_shape(
    schedule, steps=None, grad_norms=None, tau: float = 0.1, smoothed=None
) -> RefinedShape:
    """Measure a schedule (values at ``steps``, default 0..n-1) over the run's progress.

    ``norm_fall`` is the median of the first 10 % of the median-smoothed norms divided by the
    median of the last 10 %: 100 means the norms fell a hundredfold. Pass ``smoothed``
    (``smooth_norms(grad_norms, tau)``) when it is at hand: the median filter is the slow part.

    >>> s = refined_shape(1 - np.arange(101) / 101, grad_norms=np.ones(101))
    >>> round(s.peak_fraction, 2), round(s.above_half_fraction, 2), s.norm_fall
    (0.0, 0.51, 1.0)
    """
    v = as_norms("diagnose_refined", schedule, name="schedule", positive=False)
    if v.max() <= 0:
        raise ValueError("diagnose_refined: schedule must have a positive value")
    on_progress = stretch(v, 1001, steps=steps)  # evenly spaced in steps, gaps included
    peak = on_progress.max()
    fall = None
    if smoothed is not None or grad_norms is not None:
        check_finite("diagnose_refined", "tau", tau)
        s = smoothed if smoothed is not None else smooth_norms(grad_norms, tau=tau)
        s = as_norms("diagnose_refined", s, name="smoothed")
        k = max(1, len(s) // 10)
        fall = float(np.median(s[:k]) / np.median(s[-k:]))
    return RefinedShape(
        peak_fraction=float(np.argmax(on_progress) / 1000),
        above_half_fraction=float(np.mean(on_progress >= 0.5 * peak)),
        norm_fall=fall,
    )


def diagnose_refined(
    schedule, grad_norms=None, steps=None, tau: float = 0.1, smoothed=None
) -> list[str]:
    """A warning, in plain words, for a refined ``schedule`` that looks degenerate: ``[]`` when
    it looks like the paper's (early peak, smooth decay), else one message that lists what was
    found, the likely cause and what to do.

    Three findings: the peak sits beyond half the
    run (:data:`LATE_PEAK`); the lr is above half its peak for under 20 % of the run
    (:data:`MIN_ABOVE_HALF`) around a peak after the first 10 % (:data:`SPIKE_AFTER`: right at
    the start, a short high phase is the fast annealing that late-rising norms call for); the median-smoothed ``grad_norms`` fall by more than 10x
    (:data:`MAX_NORM_FALL`). ``steps`` are the logged steps of ``schedule`` and ``grad_norms``
    (default 0..n-1); ``tau`` the smoothing width used for refinement; ``smoothed`` the
    median-smoothed norms when the caller has them (then ``grad_norms`` is not needed).

    >>> diagnose_refined(1 - np.arange(100) / 100, np.ones(100))
    []
    >>> from lrcore.refine import refine
    >>> norms = np.geomspace(100, 1, 200)   # norms that collapse a hundredfold
    >>> (warning,) = diagnose_refined(refine(norms), norms)
    >>> print(warning[:66])
    This refined schedule looks degenerate: it peaks at 92% of the run
    """
    shape = refined_shape(schedule, steps=steps, grad_norms=grad_norms, tau=tau, smoothed=smoothed)
    found = []
    if shape.peak_fraction > LATE_PEAK:
        found.append(
            f"it peaks at {shape.peak_fraction:.0%} of the run (the paper's peaks early, then "
            "decays)"
        )
    # a short high phase right at the start is what late-rising norms call for (fast
    # annealing); a short high phase later on is a spike
    if shape.above_half_fraction < MIN_ABOVE_HALF and shape.peak_fraction > SPIKE_AFTER:
        found.append(
            f"the lr is above half its peak for only {shape.above_half_fraction:.0%} of the run"
        )
    if shape.norm_fall is not None and shape.norm_fall > MAX_NORM_FALL:
        found.append(
            f"the smoothed gradient norms fall {shape.norm_fall:.3g}x from the first to the "
            "last tenth of the run"
        )
    if not found:
        return []
    return [f"This refined schedule looks degenerate: {'; '.join(found)}. {_CAUSE} {_TODO}"]
