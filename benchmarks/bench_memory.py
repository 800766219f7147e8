"""Peak memory (RSS) and time of ``lrcore inspect`` on compressed inputs: bombs (a small
gzip / zip / tar.gz / gz-in-gz that expands to about 1 GB) and the largest real log a
compressed file may hold (just under the unpack cap, lrcore.logs._source.MAX_UNPACKED).

Each input runs in its own process; its peak RSS comes from ``os.wait4``. Baseline: the
same process reading a small plain CSV (interpreter, numpy, pandas, pyarrow loaded). The
target (issue 18): no input of at most 200 MB compressed takes the CLI above 1.5 GB.

    python benchmarks/bench_memory.py [--big-mib 480] [--bomb-gib 1]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

TARGET = 1.5 * 1024**3
CHUNK = 4 * 1024**2


def _digits(gib: float):
    """~gib GiB of digit lines (what a bomb of 'numbers' expands to), in 4 MiB pieces."""
    piece = (b"1" * 63 + b"\n") * (CHUNK // 64)
    for _ in range(int(gib * 1024**3 // CHUNK)):
        yield piece


def gzip_bomb(path: Path, gib: float, inner: bytes = b"") -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as f:
        f.write(inner)
        for piece in _digits(gib):
            f.write(piece)


def zip_bomb(path: Path, gib: float) -> None:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z,
        z.open("log.csv", "w", force_zip64=True) as f,
    ):
        f.write(b"step,grad_norm\n")
        for piece in _digits(gib):
            f.write(piece)


def tar_gz_bomb(path: Path, gib: float) -> None:
    size = int(gib * 1024**3 // CHUNK) * CHUNK

    class Digits(io.RawIOBase):
        def __init__(self):
            self.gen = _digits(gib)
            self.buf = b""

        def readable(self):
            return True

        def readinto(self, b):
            while not self.buf:
                self.buf = next(self.gen, b"")
                if not self.buf:
                    return 0
            n = min(len(b), len(self.buf))
            b[:n], self.buf = self.buf[:n], self.buf[n:]
            return n

    with tarfile.open(path, "w:gz", compresslevel=9) as t:
        info = tarfile.TarInfo("log.csv")
        info.size = size
        t.addfile(info, io.BufferedReader(Digits(), CHUNK))


def gz_in_gz(path: Path, gib: float) -> None:
    inner = path.with_suffix(".inner.gz")
    gzip_bomb(inner, gib)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as f:
        f.write(inner.read_bytes())
    inner.unlink()


def big_log(path: Path, mib: float) -> int:
    """A real log (step, grad_norm with 17 significant digits), about ``mib`` MiB unpacked."""
    import numpy as np

    from lrcore.export import csv_rows

    rows = int(mib * 1024**2 / 28)
    rng = np.random.default_rng(0)
    norms = 1.0 + rng.random(rows)
    data = csv_rows(rows, lambda a, b: {"step": np.arange(a, b), "grad_norm": norms[a:b]})
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as f:
        f.write(data)
    return len(data)


def run(argv: list[str]) -> tuple[float, float, int, str]:
    """(peak RSS bytes, seconds, exit code, last stderr line) of one lrcore process."""
    t = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-m", "lrcore", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    err = p.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t
    return usage.ru_maxrss * 1024, seconds, p.returncode, (err.strip().splitlines() or [""])[-1]


def make(d: Path, bomb_gib: float, big_mib: float) -> None:
    """Write the inputs (run in its own process: the measuring one stays small, as a child
    process starts with its parent's peak RSS on Linux)."""
    small = d / "small.csv"
    small.write_text("step,grad_norm\n" + "".join(f"{i},{1 + 1 / (i + 1)}\n" for i in range(100)))
    gzip_bomb(d / "bomb.csv.gz", bomb_gib)
    zip_bomb(d / "bomb.zip", bomb_gib)
    tar_gz_bomb(d / "bomb.tar.gz", bomb_gib)
    gz_in_gz(d / "nested.csv.gz", bomb_gib)
    unpacked = big_log(d / "big.csv.gz", big_mib)
    (d / "big.size").write_text(str(unpacked))
    wandb_log(d / "wandb.csv.gz", big_mib)
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_load import write_events

    write_events(d / "events.out.tfevents.1700000000.host", 330_000, _TAGS)


_TAGS = ("train/loss", "train/grad_norm", "train/lr", "train/grad_norm_l1")


def wandb_log(path: Path, mib: float) -> None:
    """A W&B panel export (every field quoted: read by pandas' pyarrow engine, the reader that
    needs the most memory), about ``mib`` MiB unpacked."""
    import numpy as np

    from lrcore.export import csv_rows

    rows = int(mib * 1024**2 / 70)
    norms = 1.0 + np.random.default_rng(1).random(rows)
    body = csv_rows(
        rows, lambda a, b: {"Step": np.arange(a, b), "g": norms[a:b], "m": norms[a:b]}, header=False
    )
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as f:
        f.write(b'"Step","run - grad_norm","run - grad_norm__MIN"\n"')
        for start in range(0, len(body), 64 * 1024**2):  # quote every field, piece by piece
            piece = body[start : start + 64 * 1024**2]
            piece = piece.replace(b",", b'","').replace(b"\n", b'"\n"')
            f.write(piece[:-1] if start + 64 * 1024**2 >= len(body) else piece)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bomb-gib", type=float, default=1.0)
    ap.add_argument("--big-mib", type=float, default=370.0, help="unpacked size of the real logs")
    ap.add_argument("--make", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        return make(Path(args.make), args.bomb_gib, args.big_mib)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run(
            [sys.executable, __file__, "--make", str(d), "--bomb-gib", str(args.bomb_gib),
             "--big-mib", str(args.big_mib)],
            check=True,
        )  # fmt: skip
        unpacked = int((d / "big.size").read_text())
        cases = {
            f"gzip bomb ({args.bomb_gib:g} GiB of digits)": d / "bomb.csv.gz",
            "zip bomb": d / "bomb.zip",
            "tar.gz bomb": d / "bomb.tar.gz",
            "gz-in-gz bomb": d / "nested.csv.gz",
            f"real log, {unpacked / 1024**2:.0f} MiB unpacked": d / "big.csv.gz",
            "W&B export (quoted), .gz": d / "wandb.csv.gz",
            "TensorBoard event file, 4 tags": d / "events.out.tfevents.1700000000.host",
        }
        base_rss, base_s, code, _ = run(["inspect", str(d / "small.csv")])
        assert code == 0
        print(
            f"baseline (plain 100-row CSV): peak RSS {base_rss / 1024**2:,.0f} MiB, {base_s:.2f} s"
        )
        print(
            f"{'input':<34} {'compressed':>11} {'peak RSS':>10} {'x base':>7} {'time':>7}  result"
        )
        worst = 0.0
        for name, path in cases.items():
            rss, s, code, last = run(["inspect", str(path)])
            worst = max(worst, rss)
            size = path.stat().st_size / 1024**2
            result = "read" if code == 0 else last[:110]
            print(
                f"{name:<34} {size:>8.1f} MiB {rss / 1024**2:>6,.0f} MiB {rss / base_rss:>6.1f}x "
                f"{s:>6.1f}s  {result}"
            )
        verdict = "within" if worst <= TARGET else "ABOVE"
        print(f"worst peak RSS {worst / 1024**3:.2f} GiB: {verdict} the 1.5 GiB target")


if __name__ == "__main__":
    main()
