"""Speed of the ``lrcore`` log commands on a 10-million-row log (issue 10, item 5).

Baseline: ``load_log`` of the same file in the same run. Targets: ``inspect`` <= 1.3x
(the file is parsed once), ``refine --out`` writing 10M steps <= 3x, ``bound`` reported.
``refine()`` of the log's norms (the library call both commands make; its median filter
of width tau * n dominates at 10M points) is timed too, and the last line is
``refine --out`` less that call: the reading and writing the CLI adds.
Each command runs in-process through ``lrcore.cli.main`` (output to a temporary folder or
discarded), so the timings exclude interpreter start-up.

    python benchmarks/bench_cli.py [rows]
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import best_of

from lrcore import refine
from lrcore.cli import main as cli
from lrcore.logs import load_log


def write_log(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    norms = np.exp(0.3 * rng.normal(size=n)) * np.linspace(3.0, 1.0, n)
    pd.DataFrame({"step": np.arange(n), "grad_norm": norms}).to_csv(
        path, index=False, float_format="%.8g"
    )


def run(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli(argv) == 0, argv


def main() -> None:
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "big.csv", Path(tmp) / "refined.csv"
        write_log(path, n)
        base = best_of(lambda: load_log(path))
        norms = load_log(path).grad_norms
        rows = [
            ("inspect", ["inspect", str(path)], 1.3),
            ("refine --out", ["refine", str(path), "--out", str(out)], 3.0),
            ("bound", ["bound", str(path)], None),
        ]
        print(
            f"log: {n:,} rows, {path.stat().st_size / 1e6:.0f} MB; baseline load_log {base:.2f} s"
        )
        print(f"{'command':<14} {'seconds':>8} {'x load_log':>11} {'target':>7}")
        times = {}
        for name, argv, target in rows:
            times[name] = t = best_of(lambda a=argv: run(a), repeat=2)
            goal = f"<= {target}" if target else "-"
            print(f"{name:<14} {t:>8.2f} {t / base:>11.2f} {goal:>7}")
        t_refine = best_of(lambda: refine(norms), repeat=2)
        print(f"{'refine()':<14} {t_refine:>8.2f} {t_refine / base:>11.2f} {'-':>7}")
        io_part = times["refine --out"] - t_refine
        print(f"{'--out - refine':<14} {io_part:>8.2f} {io_part / base:>11.2f} {'<= 3.0':>7}")
        with open(out, "rb") as f:
            written = sum(1 for _ in f) - 1
        assert written == n, (written, n)  # refine --out wrote one row per step of the log


if __name__ == "__main__":
    main()
