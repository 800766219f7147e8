"""One run of the converged language model (protocol v4, `--lm-size converged`) against the
named baseline, one run of the default small lm (TASK_DEFAULTS), in the same process on one
CPU thread: wall and CPU seconds, the ratio, and the share of the uniform-to-chain gap each
closes (the converged size must close >= 70 % in <= 30 s on a quiet 2-core machine).

    python benchmarks/bench_lm_size.py [--repeat 1]
"""

import argparse
import os
import time

from lrcore.train import RunConfig, train
from lrcore.train.findings import gap_closed


def one(cfg) -> tuple[float, float, float]:
    w, c = time.perf_counter(), time.process_time()
    r = train(cfg)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    return wall, cpu, gap_closed(r.final["objective"], r.final["suboptimality"], cfg.lm_vocab)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    print(f"1-minute load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rows = {}
    for name, cfg in (
        ("small (baseline)", RunConfig.for_task("lm", device="cpu")),
        ("converged", RunConfig.for_task("lm", size="converged", device="cpu")),
    ):
        runs = [one(cfg) for _ in range(args.repeat)]
        rows[name] = min(runs)  # the fastest: the least disturbed by other load
        wall, cpu, gap = rows[name]
        print(f"{name:17s} wall {wall:6.1f} s  cpu {cpu:6.1f} s  gap closed {gap:5.1%}")
    base, conv = rows["small (baseline)"], rows["converged"]
    print(f"converged / small: wall {conv[0] / base[0]:.2f}x, cpu {conv[1] / base[1]:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
