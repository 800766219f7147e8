"""Speed of refine() against its baseline, scipy's median filter alone, on the same input.

Prints, per size: refine time, median-filter time, their ratio (target <= 1.3 at 1e7), and
the speed-up over the plain-loop reference (timed on a prefix and scaled linearly, since
the reference is O(n * width) and too slow at full size). Also times optimal_schedule at
T = 10,000 (target < 5 s).

    python benchmarks/bench_refine.py
"""

from __future__ import annotations

import numpy as np
from _timing import best_of
from scipy.ndimage import median_filter

from lrcore import optimal_schedule, refine, refine_reference, smoothing_width


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'n':>10} {'refine s':>10} {'median s':>10} {'ratio':>7} {'vs plain loop':>14}")
    for n in (10**5, 10**6, 10**7):
        g = np.exp(rng.normal(size=n)) + np.linspace(2, 1, n)
        w = smoothing_width(0.1, n)
        repeat = 3 if n < 10**7 else 2
        t_ref = best_of(lambda g=g: refine(g, 0.1), repeat)
        t_med = best_of(lambda g=g, w=w: median_filter(g, size=w, mode="nearest"), repeat)
        m = 2000  # plain loop on a prefix with the same relative width, scaled up as O(n * w)
        t_loop = (
            best_of(lambda g=g, m=m: refine_reference(g[:m], 0.1), 1)
            * (n / m)
            * (w / smoothing_width(0.1, m))
        )
        print(
            f"{n:>10,} {t_ref:>10.3f} {t_med:>10.3f} {t_ref / t_med:>7.2f} {t_loop / t_ref:>13.0f}x"
        )
    for name, g in (("constant", np.ones(10_000)), ("noisy", 1 + rng.random(10_000))):
        t = best_of(lambda g=g: optimal_schedule(g), 1)
        print(f"optimal_schedule T=10,000 ({name} norms): {t:.2f} s")


if __name__ == "__main__":
    main()
