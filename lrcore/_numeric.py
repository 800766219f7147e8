"""Small numeric helpers that stay finite for any finite float64 input (issue 27 item 2).

>>> median([1e308, 1.7e308])  # np.median: inf
1.35e+308
>>> ratio(1e308, 1e-308)
1e+300
"""

from __future__ import annotations

import numpy as np


def median(values) -> float:
    """``np.median`` of finite values, but the two middle values of an even count are
    averaged without overflowing (``(a + b) / 2`` of two 1e308s is inf; ``a/2 + b/2`` is not).
    Equal to ``np.median`` wherever that is finite."""
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if n == 0:
        raise ValueError("median: values must not be empty")
    k = n // 2
    if n % 2:
        return float(np.partition(x, k)[k])
    part = np.partition(x, (k - 1, k))
    lo, hi = float(part[k - 1]), float(part[k])
    mid = (lo + hi) / 2
    return mid if np.isfinite(mid) else lo / 2 + hi / 2


RATIO_LIMIT = 1e300  # ratios further from 1 than this are reported as this


def ratio(a: float, b: float) -> float:
    """``a / b`` for positive ``a`` and ``b``, clipped to ``[1e-300, 1e300]`` (1e308 / 1e-308
    is reported as 1e300, not inf)."""
    with np.errstate(all="ignore"):
        r = float(a) / float(b) if b else np.inf
    return min(max(r, 1 / RATIO_LIMIT), RATIO_LIMIT)
