"""Speed of load_log against pandas.read_csv(path, engine="pyarrow") on the same file.

Writes a 10-million-row plain CSV and a 1-million-row W&B export to a temporary folder,
then prints each load time and its ratio to the pandas baseline (target <= 1.5).
TensorBoard event files (50,000 events of one scalar; a 40 MB file of 330,000 events of
four scalars) are timed against TensorBoard's own ``EventFileLoader``, in MB/s (lrcore reads
the records itself, checking every checksum with native CRC32C, so that corrupt or truncated
records are counted instead of ending the file silently). ``--events`` runs only those;
``--json``: a 300,000-entry trainer_state.json and JSON lines against ``json.loads``.

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


def bench_json(tmp: Path, n: int = 300_000) -> None:
    """A Hugging Face trainer_state.json (HF's own indent=2 layout) and the same entries as
    JSON lines, against ``json.loads`` of the file (the floor: parsing the text alone)."""
    import json

    rng = np.random.default_rng(3)
    norms = np.exp(rng.normal(size=n))
    history = [
        {
            "epoch": round(i / 1000, 4),
            "grad_norm": float(g),
            "learning_rate": 1e-4,
            "loss": 2.5,
            "step": i,
        }
        for i, g in enumerate(norms, start=1)
    ]
    state = tmp / "trainer_state.json"
    state.write_text(json.dumps({"global_step": n, "log_history": history}, separators=(",", ":")))
    lines = tmp / "log.jsonl"
    lines.write_text("".join(json.dumps(h) + "\n" for h in history))
    print(f"JSON logs; baseline: json.loads of the whole file ({n:,} entries)")
    print(f"{'file':<28} {'MB':>6} {'load_log s':>11} {'json.loads s':>13} {'ratio':>6}")
    for label, path in (("trainer_state.json", state), ("JSON lines", lines)):
        mb = path.stat().st_size / 1e6
        t_load = best_of(lambda p=path: load_log(p), repeat=2)
        text = path.read_text()
        floor = (
            (lambda text=text: json.loads(text))
            if path == state
            else (lambda text=text: [json.loads(ln) for ln in text.splitlines()])
        )
        t_json = best_of(floor, repeat=2)
        assert len(load_log(path)) == n
        print(f"{label:<28} {mb:>6.1f} {t_load:>11.2f} {t_json:>13.2f} {t_load / t_json:>6.2f}")


def main() -> None:
    import sys

    if "--events" in sys.argv or "--json" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            if "--json" in sys.argv:
                bench_json(Path(tmp))
            if "--events" in sys.argv:
                bench_events(Path(tmp))
        return
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
        bench_json(Path(tmp))


def write_events(path: Path, n: int, tags: tuple[str, ...]) -> None:
    """``n`` events of ``len(tags)`` scalars each, as PyTorch's SummaryWriter writes them."""
    import struct

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    from lrcore.logs._events import masked_crc

    out = bytearray()

    def record(payload: bytes) -> None:
        head = struct.pack("<Q", len(payload))
        out.extend(head + struct.pack("<I", masked_crc(head)) + payload)
        out.extend(struct.pack("<I", masked_crc(payload)))

    record(Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString())
    values = np.exp(np.random.default_rng(2).normal(size=(n, len(tags))))
    for i in range(n):
        summary = Summary(
            value=[
                Summary.Value(tag=t, simple_value=v) for t, v in zip(tags, values[i], strict=True)
            ]
        )
        record(Event(wall_time=1.7e9 + i, step=i, summary=summary).SerializeToString())
    path.write_bytes(bytes(out))


def bench_events(tmp: Path) -> None:
    """lrcore's reader against TensorBoard's EventFileLoader (which yields every event and
    checks every checksum too), in MB/s, on a 40 MB file of 4 scalars per step (and on the
    project's own 1-tag file); the CRC32C implementation in use is printed."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    from lrcore.logs._events import crc_backend

    rng = np.random.default_rng(2)
    small = write_log(tmp / "tb", np.arange(50_000), np.exp(rng.normal(size=50_000)), "tensorboard")
    big = tmp / "events.out.tfevents.1700000000.host"
    write_events(big, 330_000, ("train/loss", "train/grad_norm", "train/lr", "train/grad_norm_l1"))
    print(f"TensorBoard event files (CRC32C: {crc_backend()}); baseline: EventFileLoader")
    print(
        f"{'file':<28} {'MB':>6} {'load_log s':>11} {'MB/s':>7} {'loader s':>9} {'MB/s':>7} {'ratio':>6}"
    )
    for label, path, n in (
        ("1 tag x 50,000 steps", next(small.glob("*tfevents*")), 50_000),
        ("4 tags x 330,000 steps", big, 330_000),
    ):
        mb = path.stat().st_size / 1e6
        t_load = best_of(lambda p=path: load_log(p), repeat=2)
        t_tb = best_of(lambda p=path: sum(1 for _ in EventFileLoader(str(p)).Load()), repeat=2)
        assert len(load_log(path)) == n
        print(
            f"{label:<28} {mb:>6.1f} {t_load:>11.2f} {mb / t_load:>7.1f} {t_tb:>9.2f} "
            f"{mb / t_tb:>7.1f} {t_load / t_tb:>6.2f}"
        )


if __name__ == "__main__":
    main()
