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

from lrcore._numeric import median, ratio
from lrcore._validate import as_norms, check_finite
from lrcore.refine import stretch

__all__ = [
    "FALL_FROM",
    "FALL_TO",
    "LATE_PEAK",
    "MAX_NORM_FALL",
    "MIN_ABOVE_HALF",
    "SLOW_START",
    "SPIKE_AFTER",
    "RefinedShape",
    "diagnose_refined",
]

# The thresholds, and why (checked against the labelled set in tests/test_diagnose_labelled.py:
# 36 norm sequences labelled by what their refined schedule looks like):
LATE_PEAK = 0.5  # the lr first reaches 90 % of its peak beyond this fraction of the run: the
# paper's refined schedules rise within the first few percent (a warm-up) and decay;
# refinement from collapsing norms pushes the rise towards the end (0.6-0.97 on the study's
# degenerate problems). The first 90 % point, not the argmax: a schedule with a broad flat
# top (norms falling x2) has its argmax anywhere on the top (0.41 on a log of every step,
# 0.67 on the same run logged every 5th step), its rise at the top's start either way.
MIN_ABOVE_HALF = 0.2  # the lr is above half its peak for less than this fraction of the run:
# linear decay spends 50 %, the paper's refined schedules 35-70 %; under 20 % is a spike
SPIKE_AFTER = 0.1  # ... a short high phase counts only when the peak sits after this fraction:
# a short high phase right at the start is the fast annealing that late-rising norms call for
SLOW_START = 0.25  # ... or the peak (argmax) sits beyond LATE_PEAK and the lr stays below half
# its peak for more than this fraction of the run: a warm-up takes a few percent, a quarter of
# the run at a low lr is refinement keeping the lr small while the norms were large (the
# full-batch demo: argmax at 69 %, 90 % reached at 46 %, half only at 28 %); a late argmax on
# a top reached early (the x2 fall logged every 5th step: half at 1 %) is not a late peak
MAX_NORM_FALL = 10.0  # the norms fall by more than this factor between the two windows below:
# a sustained collapse (interpolation, full batch) rather than the noise of a stochastic run
FALL_FROM = (0.1, 0.2)  # progress window of the "early" norms: after the first tenth, so
# warm-up transients and early spikes (norms x100 in the first 5 %, which refinement turns into
# a warm-up, not a degenerate schedule) do not count as a fall
FALL_TO = (0.9, 1.0)  # progress window of the "late" norms

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
    norm_fall: float | None  # median norm at 10-20 % of the run / at 90-100 % (None: no norms)
    rise_fraction: float = 0.0  # where the lr first reaches 90 % of its peak
    half_fraction: float = 0.0  # where the lr first reaches half its peak


def refined_shape(
    schedule, steps=None, grad_norms=None, tau: float = 0.1, smoothed=None
) -> RefinedShape:
    """Measure a schedule (values at ``steps``, default 0..n-1) over the run's progress.

    ``norm_fall`` is the median of the norms logged in the window :data:`FALL_FROM` of the run
    (10-20 %, by step) divided by the median of those in :data:`FALL_TO` (the last 10 %): 100
    means the norms fell a hundredfold. The windows are fractions of the run's steps, so a log
    sampled every step and the same run sampled every 5 or 10 steps give the same value up to
    sampling noise (the earlier definition, first tenth of the smoothed points, gave 7.5x and
    11.4x on one run: the median filter's padding at the start depends on the logging
    interval). It uses the raw ``grad_norms`` when given, else ``smoothed``.

    >>> s = refined_shape(1 - np.arange(101) / 101, grad_norms=np.ones(101))
    >>> round(s.peak_fraction, 2), round(s.above_half_fraction, 2), s.norm_fall
    (0.0, 0.51, 1.0)
    """
    return _shape("refined_shape", schedule, steps, grad_norms, tau, smoothed)


def _shape(fn: str, schedule, steps, grad_norms, tau, smoothed) -> RefinedShape:
    """:func:`refined_shape`, its errors naming ``fn`` (the public function called)."""
    v = as_norms(fn, schedule, name="schedule", positive=False)
    if v.max() <= 0:
        raise ValueError(f"{fn}: schedule must have a positive value")
    on_progress = stretch(v, 1001, steps=steps)  # evenly spaced in steps, gaps included
    peak = on_progress.max()
    fall = None
    if smoothed is not None or grad_norms is not None:
        check_finite(fn, "tau", tau)
        s = grad_norms if grad_norms is not None else smoothed
        s = as_norms(fn, s, name="grad_norms")
        fall = ratio(_window_median(s, steps, FALL_FROM), _window_median(s, steps, FALL_TO))
    return RefinedShape(
        peak_fraction=float(np.argmax(on_progress) / 1000),
        above_half_fraction=float(np.mean(on_progress >= 0.5 * peak)),
        norm_fall=fall,
        rise_fraction=float(np.argmax(on_progress >= 0.9 * peak) / 1000),
        half_fraction=float(np.argmax(on_progress >= 0.5 * peak) / 1000),
    )


def _window_median(values: np.ndarray, steps, window: tuple[float, float]) -> float:
    """Median of ``values`` logged at progress in ``window`` (fractions of the run by step);
    the nearest logged value when no step falls inside (a very short log)."""
    n = len(values)
    st = np.arange(n, dtype=np.float64) if steps is None else np.asarray(steps, dtype=np.float64)
    if len(st) != n:
        raise ValueError(f"diagnose_refined: steps has {len(st)} values but the norms have {n}")
    span = st[-1] - st[0]
    prog = (st - st[0]) / span if span > 0 else np.zeros(n)
    lo, hi = window
    inside = (prog >= lo) & ((prog < hi) if hi < 1 else (prog <= hi))
    if not inside.any():
        inside = np.zeros(n, dtype=bool)
        inside[int(np.argmin(np.abs(prog - (lo + hi) / 2)))] = True
    return median(values[inside])  # np.median of two 1e308s is inf


def diagnose_refined(
    schedule, grad_norms=None, steps=None, tau: float = 0.1, smoothed=None
) -> list[str]:
    """A warning, in plain words, for a refined ``schedule`` that looks degenerate: ``[]`` when
    it looks like the paper's (early peak, smooth decay), else one message that lists what was
    found, the likely cause and what to do.

    Three findings, thresholds explained where they are defined:

    - a late peak: the lr first reaches 90 % of its peak beyond half the run
      (:data:`LATE_PEAK`), or its argmax is beyond half the run and it stays below half its
      peak for more than the first quarter (:data:`SLOW_START`);
    - a spike: the lr is above half its peak for under 20 % of the run (:data:`MIN_ABOVE_HALF`)
      around a rise after the first 10 % (:data:`SPIKE_AFTER`: right at the start, a short high
      phase is the fast annealing that late-rising norms call for);
    - a collapse: the ``grad_norms`` fall by more than 10x (:data:`MAX_NORM_FALL`) from 10-20 %
      of the run to its last 10 % (:data:`FALL_FROM`, :data:`FALL_TO`, by step: the same on a
      log sampled every step or every 5 steps; an early spike or warm-up transient in the first
      tenth does not count).

    On the labelled set of tests/test_diagnose_labelled.py (36 sequences: collapses, early
    spikes, warm-up falls, late rises, the sample runs, every-step and every-5th-step logs of
    the same runs) it has no false positive and no false negative. ``steps`` are the logged
    steps of ``schedule`` and ``grad_norms`` (default 0..n-1); ``tau`` the smoothing width
    used for refinement (checked, not used here); ``smoothed`` the median-smoothed norms when
    the caller has no raw norms (the fall is then measured on them).

    >>> diagnose_refined(1 - np.arange(100) / 100, np.ones(100))
    []
    >>> from lrcore.refine import refine
    >>> norms = np.geomspace(100, 1, 200)   # norms that collapse a hundredfold
    >>> (warning,) = diagnose_refined(refine(norms), norms)
    >>> print(warning[:66])
    This refined schedule looks degenerate: it peaks at 92% of the run
    """
    shape = _shape("diagnose_refined", schedule, steps, grad_norms, tau, smoothed)
    found = []
    late_rise = shape.rise_fraction > LATE_PEAK
    if late_rise or (shape.peak_fraction > LATE_PEAK and shape.half_fraction > SLOW_START):
        found.append(
            f"it peaks at {shape.peak_fraction:.0%} of the run (the paper's peaks early, then "
            "decays)"
        )
    # a short high phase right at the start is what late-rising norms call for (fast
    # annealing); a short high phase later on is a spike
    if shape.above_half_fraction < MIN_ABOVE_HALF and shape.rise_fraction > SPIKE_AFTER:
        found.append(
            f"the lr is above half its peak for only {shape.above_half_fraction:.0%} of the run"
        )
    if shape.norm_fall is not None and shape.norm_fall > MAX_NORM_FALL:
        found.append(
            f"the gradient norms fall {shape.norm_fall:.3g}x from 10-20% of the run to its "
            "last tenth"
        )
    if not found:
        return []
    return [f"This refined schedule looks degenerate: {'; '.join(found)}. {_CAUSE} {_TODO}"]
