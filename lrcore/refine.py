"""Schedule refinement (Defazio et al., arXiv:2310.07831): from observed gradient norms
to a learning-rate schedule for the next run of the same problem.

The fast path is vectorised; :func:`refine_reference` follows the paper line by line
and the tests check that both agree.

>>> refine([4, 2, 1, 1, 2], tau=0.1, optimizer="sgd").tolist()
[0.125, 0.45, 1.0, 0.2, 0.0]
>>> refine([1, 1, 1, 1, 1]).tolist()
[1.0, 0.75, 0.5, 0.25, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter

from lrcore._validate import MAX_STEPS, as_norms, as_reals, check_int, check_unit

__all__ = [
    "OPTIMIZERS",
    "SAMPLE_POINTS",
    "SUMMARY_GRID",
    "evenly_spaced",
    "smoothing_width",
    "smooth_norms",
    "refine",
    "refine_reference",
    "refine_smoothed",
    "stretch",
    "ScheduleSummary",
    "summarize",
]

# weight exponent per optimizer family: w_t = s_t ** -power
OPTIMIZERS: dict[str, int] = {"sgd": 2, "adam": 1}

# Summaries of a long log (``lrcore inspect``, the app's page) refine this many evenly spaced
# points of it and read the schedule at this many steps; ``lrcore refine`` uses every point.
SAMPLE_POINTS = 100_000
SUMMARY_GRID = 10_001


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """At most ``k`` indices spread evenly over ``0 .. n - 1``, both ends included (all of
    them when ``n <= k``).

    >>> evenly_spaced(10, 4).tolist(), evenly_spaced(3, 4).tolist()
    ([0, 3, 6, 9], [0, 1, 2])
    """
    if n <= k:
        return np.arange(n)
    # spaced more than 1 apart, so rounding keeps them distinct and increasing
    return np.linspace(0, n - 1, k).round().astype(np.int64)


def smoothing_width(tau: float, n: int) -> int:
    """Odd median-filter width ``2 * floor(floor(tau * n) / 2) + 1`` (1 = no smoothing).

    >>> smoothing_width(0.1, 100), smoothing_width(0.3, 10), smoothing_width(0.1, 5)
    (11, 3, 1)
    """
    check_unit("smoothing_width", "tau", tau)
    return 2 * (math.floor(tau * n) // 2) + 1


def smooth_norms(grad_norms, tau: float = 0.1) -> np.ndarray:
    """Running median of width :func:`smoothing_width` ``(tau, n)``.

    The end is padded by reflection (``2 * width`` values) and the filter's own
    boundary is nearest-value, so the start repeats its first value and a rise at the
    very end of training survives the smoothing.

    >>> smooth_norms([9, 1, 1, 1, 1, 1, 1, 1, 1, 9], tau=0.3).tolist()
    [9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    x = as_norms("smooth_norms", grad_norms, positive=False)
    width = smoothing_width(tau, len(x))
    if width == 1:
        return x.copy()
    # The spec pads 2 * width values; outputs 0..n-1 only ever see the first width // 2 of
    # them, so padding just those gives the same result with less filtering.
    padded = np.pad(x, (0, width // 2), mode="reflect")
    return median_filter(padded, size=width, mode="nearest")[: len(x)]


def _check_optimizer(fn: str, optimizer: str) -> int:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"{fn}: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    return OPTIMIZERS[optimizer]


def refine(grad_norms, tau: float = 0.1, optimizer: str = "sgd") -> np.ndarray:
    """Refined schedule, peak-normalised to 1, same length as ``grad_norms``, last value 0.

    ``s = smooth_norms(grad_norms, tau)``, ``w_t = s_t ** -2`` (sgd, l2 norms) or
    ``s_t ** -1`` (adam, l1 norms), ``eta_t = w_t * sum_{p > t} w_p``, ``eta / max(eta)``.

    >>> refine([4, 2, 1, 1, 2], optimizer="adam").round(7).tolist()
    [0.5, 0.8333333, 1.0, 0.3333333, 0.0]
    """
    power = _check_optimizer("refine", optimizer)
    check_unit("refine", "tau", tau)
    return _schedule(smooth_norms(as_norms("refine", grad_norms), tau), power)


def refine_smoothed(smoothed, optimizer: str = "sgd") -> np.ndarray:
    """:func:`refine` of norms that are already smoothed (steps 2-4 of the spec), for callers
    that show the smoothed curve too and should not run the median filter twice.

    >>> refine_smoothed([4, 2, 1, 1, 2]).tolist()
    [0.125, 0.45, 1.0, 0.2, 0.0]
    """
    power = _check_optimizer("refine_smoothed", optimizer)
    return _schedule(as_norms("refine_smoothed", smoothed, name="smoothed"), power)


# Norms within this factor of their median keep weights, tail sums and products finite and
# normal (w <= 1e140, sums <= 1e147, products <= 1e287); wider ranges are summed in log space.
_SAFE_RATIO = 1e70


def _schedule(smoothed: np.ndarray, power: int) -> np.ndarray:
    """Steps 2-4 on checked, smoothed norms: weights, tail sums, peak 1.

    The result does not change when the norms are scaled, so they are divided by the
    geometric middle of their range, ``sqrt(min * max)``, first (two passes, where a median
    would sort): norms of 1e-320 or 1e308 give the same finite schedule as norms near 1.
    """
    lo, hi = float(smoothed.min()), float(smoothed.max())
    if hi / _SAFE_RATIO > lo * _SAFE_RATIO:  # spans more than 1e140
        return _schedule_log(np.log(smoothed), power)
    scale = np.sqrt(lo) * np.sqrt(hi)  # scaled norms lie within 1e-70..1e70
    w = np.divide(scale, smoothed)  # a fresh array: the steps below work in place
    if power == 2:
        np.multiply(w, w, out=w)
    eta = np.empty_like(w)
    # sum_{p > t} w_p, summed from the end so small late weights are not lost
    np.cumsum(w[:0:-1], out=eta[-2::-1])
    eta[-1] = 0.0
    np.multiply(eta, w, out=eta)
    eta /= eta.max()
    return eta


def _schedule_log(log_s: np.ndarray, power: int) -> np.ndarray:
    """:func:`_schedule` in log space, for norms spanning more than 1e140 (finite for any
    positive float64 norms, subnormals included)."""
    log_w = -power * log_s
    log_tail = np.empty_like(log_w)
    log_tail[-1] = -np.inf  # sum_{p > t} w_p, accumulated from the end
    log_tail[-2::-1] = np.logaddexp.accumulate(log_w[:0:-1])
    log_eta = log_w + log_tail
    return np.exp(log_eta - log_eta.max())


def refine_reference(grad_norms, tau: float = 0.1, optimizer: str = "sgd") -> np.ndarray:
    """The paper's procedure written as plain loops (the oracle for :func:`refine`)."""
    power = _check_optimizer("refine_reference", optimizer)
    raw = as_norms("refine_reference", grad_norms)
    lo, hi = float(raw.min()), float(raw.max())
    if hi / _SAFE_RATIO > lo * _SAFE_RATIO:
        raise ValueError(
            f"refine_reference: grad_norms span more than 1e140 (from {lo:.3g} to {hi:.3g}), "
            "beyond what its plain sums of s ** -2 hold; refine sums them in log space"
        )
    # divided by the middle of their range (the schedule does not change): no weight overflows
    norms = [float(g) for g in raw / (np.sqrt(lo) * np.sqrt(hi))]
    n = len(norms)
    width = smoothing_width(tau, n)
    half = width // 2
    # pad the end by reflection (edge not repeated): bounce back and forth over the values
    padded, pos, direction = list(norms), n - 1, -1
    for _ in range(2 * width):
        if not 0 <= pos + direction <= n - 1:
            direction = -direction
        pos += direction
        padded.append(norms[pos])
    # centred median, indices outside the padded sequence take the nearest value
    smooth = []
    for t in range(n):
        window = [padded[min(max(j, 0), len(padded) - 1)] for j in range(t - half, t + half + 1)]
        smooth.append(sorted(window)[half])
    weights = [s**-power for s in smooth]
    eta = []
    for t in range(n):
        eta.append(weights[t] * sum(weights[t + 1 :]))
    peak = max(eta)
    return np.array([e / peak for e in eta])


def stretch(values, total_steps: int, steps=None) -> np.ndarray:
    """Resample a schedule defined at logged ``steps`` onto ``total_steps`` new steps.

    Logged steps map to progress ``(s_i - s_0) / (s_last - s_0)``; the result is the
    linear interpolation at ``k / (total_steps - 1)``. ``steps`` defaults to 0..n-1.

    >>> stretch([1.0, 0.5, 0.0], 5).tolist()
    [1.0, 0.75, 0.5, 0.25, 0.0]
    >>> stretch([1.0, 0.0], 3, steps=[10, 30]).tolist()
    [1.0, 0.5, 0.0]
    """
    v = as_norms("stretch", values, name="values", positive=False)
    check_int("stretch", "total_steps", total_steps, minimum=2, maximum=MAX_STEPS)
    n = len(v)
    if steps is None:
        raw = None
    else:
        raw = steps if isinstance(steps, np.ndarray) else None
        if raw is None or raw.dtype.kind not in "iuf":  # refuse bool, complex, text, 10**400
            reals = as_reals("stretch", "steps", steps)
            raw = np.asarray(steps) if np.asarray(steps).dtype.kind in "iu" else reals
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            i = int(np.argmin(np.isfinite(raw)))
            raise ValueError(f"stretch: steps[{i}] = {raw[i]} is not finite")
        if raw.shape != v.shape:
            raise ValueError(
                f"stretch: steps must have the same length as values ({n}), got {raw.shape}"
            )
        # increasing integers whose ends are within +-2^53 convert to float64 exactly, so
        # they are checked as they are (no 80 MB float copy of a 10-million-step log)
        exact_ints = raw.dtype.kind in "iu" and raw[0] >= -_EXACT and raw[-1] <= _EXACT
        s = raw if exact_ints else raw.astype(np.float64)
        if np.any(s[1:] <= s[:-1]):
            s = raw.astype(np.float64)
            down = np.diff(s) <= 0
            i = int(np.argmax(down)) + 1
            raise ValueError(f"stretch: steps must increase, but steps[{i}] = {s[i]:g} does not")
    queries = np.linspace(0.0, 1.0, total_steps)
    idx = None
    if total_steps <= _SPARSE_MAX and total_steps * _SPARSE < n:
        idx = _around(raw, n, queries)
    s = np.arange(n, dtype=np.float64) if raw is None else raw
    s = (s if idx is None else s[idx]).astype(np.float64)
    first, last = (0.0, float(n - 1)) if raw is None else (float(raw[0]), float(raw[-1]))
    progress = (s - first) / (last - first)
    vals = v if idx is None else v[idx]
    # huge values are interpolated divided by their largest, so that no slope overflows
    # ([1e308, 0] over a third of the run is a slope of -3e308): finite for any finite values
    # (by a power of two, which is exact: stretch([1e308, 0, 1], 3) keeps its 1.0)
    top = float(np.ldexp(1.0, np.frexp(vals.max())[1] - 1)) if vals.max() > _HUGE else 1.0
    return np.interp(queries, progress, vals / top) * top


_HUGE = 1e280  # values above this are interpolated as fractions of the largest (see stretch)
_EXACT = 2**53  # integers up to this convert to float64 exactly
# stretching to at most 20,000 steps and fewer than n / 16 reads only the points around each
# query (a summary of a 10-million-point log: no 80 MB copies of its steps)
_SPARSE, _SPARSE_MAX = 16, 20_000


def _around(raw, n: int, queries: np.ndarray) -> np.ndarray:
    """Indices of the logged points next to each query (three on each side, so that float
    rounding cannot miss the pair ``np.interp`` uses), the ends included: interpolating on
    them gives exactly what interpolating on every point gives, without converting and
    scaling millions of steps for a thousand queries."""
    if raw is None:
        j = np.floor(queries * (n - 1)).astype(np.int64) + 1
    else:
        first, last = float(raw[0]), float(raw[-1])
        target = first + queries * (last - first)
        if raw.dtype.kind in "iu":  # compare as integers: no float copy of the steps
            target = np.clip(np.floor(target), np.iinfo(np.int64).min, np.iinfo(np.int64).max)
            target = target.astype(raw.dtype if raw.dtype.kind == "i" else np.float64)
        j = np.searchsorted(raw, target, side="right")
    near = (j[:, None] + np.arange(-3, 3)).ravel()
    return np.unique(np.clip(np.r_[near, 0, n - 1], 0, n - 1))


@dataclass(frozen=True)
class ScheduleSummary:
    """Shape of a schedule, as fractions of the run (0 = first step, 1 = last step)."""

    peak_step: int  # index of the largest lr
    warmup_fraction: float  # where the peak sits: the length of the implied warm-up
    half_fraction: float  # first point after the peak where lr <= peak / 2 (1.0 if never)
    mean: float  # mean lr divided by the peak lr
    final: float  # last lr divided by the peak lr


def summarize(schedule) -> ScheduleSummary:
    """Warm-up length, where the schedule halves, and its mean, relative to its peak.

    >>> s = summarize([0.5, 1.0, 0.8, 0.4, 0.0])
    >>> s.warmup_fraction, s.half_fraction, round(s.mean, 3)
    (0.25, 0.75, 0.54)
    """
    v = as_norms("summarize", schedule, name="schedule", positive=False)
    peak_step = int(np.argmax(v))
    peak = v[peak_step]
    if peak <= 0:
        raise ValueError("summarize: schedule must have a positive value")
    span = len(v) - 1
    below = v[peak_step:] <= 0.5 * peak  # a mask, not an index array (80 MB at 10M steps)
    half = (peak_step + int(np.argmax(below))) / span if below.any() else 1.0
    return ScheduleSummary(
        peak_step=peak_step,
        warmup_fraction=peak_step / span,
        half_fraction=float(half),
        mean=float(np.mean(v / peak)),  # divided first: the sum of 1e308s is not finite
        final=float(v[-1] / peak),
    )
