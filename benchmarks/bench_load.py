"""Speed of load_log against pandas.read_csv(path, engine="pyarrow") on the same file.

Writes a 10-million-row plain CSV and a 1-million-row W&B export to a temporary folder,
then prints each load time and its ratio to the pandas baseline (target <= 1.5).
A TensorBoard event file of 50,000 events is timed against TensorBoard's own
``EventFileLoader`` (lrcore reads the records itself, checking every checksum, so that
corrupt or truncated records are counted instead of ending the file silently).

    python benchmarks/bench_load.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import best_of

from lrcore.logs import load_log
from lrcore.logs._write import write_log


def write_plain(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"step": np.arange(n), "grad_norm": np.exp(rng.normal(size=n))})
    df.to_csv(path, index=False, float_format="%.8g")


def write_wandb(path: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    v = np.exp(rng.normal(size=n))
    col = "bench-run - grad_norm"
    df = pd.DataFrame({"Step": np.arange(n) * 10, col: v, f"{col}__MIN": v, f"{col}__MAX": v})
    df.to_csv(path, index=False, float_format="%.10g", quoting=1)  # QUOTE_ALL, as W&B does


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'file':<28} {'rows':>11} {'load_log s':>11} {'pandas s':>9} {'ratio':>6}")
        for name, writer, n in (
            ("plain.csv", write_plain, 10_000_000),
            ("wandb.csv", write_wandb, 1_000_000),
        ):
            path = Path(tmp) / name
            writer(path, n)
            t_load = best_of(lambda p=path: load_log(p))
            t_pd = best_of(lambda p=path: pd.read_csv(p, engine="pyarrow"))
            log = load_log(path)
            assert len(log) == n, (len(log), n)
            label = f"{name} ({path.stat().st_size / 1e6:.0f} MB)"
            print(f"{label:<28} {n:>11,} {t_load:>11.3f} {t_pd:>9.3f} {t_load / t_pd:>6.2f}")
        bench_events(Path(tmp))


def bench_events(tmp: Path, n: int = 50_000) -> None:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    rng = np.random.default_rng(2)
    folder = write_log(tmp / "tb", np.arange(n), np.exp(rng.normal(size=n)), "tensorboard")
    path = next(folder.glob("*tfevents*"))
    t_load = best_of(lambda: load_log(path), repeat=2)
    t_tb = best_of(lambda: sum(1 for _ in EventFileLoader(str(path)).Load()), repeat=2)
    assert len(load_log(path)) == n
    print(
        f"{'events (vs EventFileLoader)':<28} {n:>11,} {t_load:>11.3f} {t_tb:>9.3f} {t_load / t_tb:>6.2f}"
    )


if __name__ == "__main__":
    main()
