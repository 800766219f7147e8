"""Extreme inputs (issue 27): special files, huge files and a TensorBoard file of 100,000 tags
give a clear refusal or a correct result within ~10 s of CPU and 1.5 GB.

Each command runs in a subprocess; its CPU time and peak memory come from ``os.wait4`` (CPU
time, not wall time: other work on a shared machine slows the wall clock, not the work).
Inputs are generated here, with a seed; the huge ones are sparse files (no disk used).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _measured import launcher, read_report

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="devices, FIFOs, wait4")

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "sample_runs" / "logreg_digits_sgd.csv"
CPU_S = 10.0  # the 10 s, as CPU time of the command
MEMORY_MIB = 1536  # the 1.5 GB
HANG_S = 120.0  # wall clock after which a command counts as hung (and is killed)


def lrcore(argv: list[str], cwd: Path) -> tuple[int, str, float, float]:
    """(exit status, stderr, CPU seconds, peak MiB) of ``lrcore argv`` (see tests/_measured.py)."""
    report = Path(tempfile.mkdtemp()) / "usage.txt"
    cmd = launcher(report, [sys.executable, "-m", "lrcore", *argv], HANG_S)
    proc = subprocess.run(
        cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    code, cpu, peak = read_report(report)
    assert code != -9, f"lrcore {' '.join(argv)} still ran after {HANG_S:.0f} s"
    return code, proc.stderr.decode(), cpu, peak


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.fixture
def files(tmp_path) -> Path:
    os.mkfifo(tmp_path / "fifo.csv")
    _sparse(tmp_path / "huge_schedule.csv", 2 * 2**30)  # 2 GiB of zeros
    _sparse(tmp_path / "huge_log.csv", 2 * 2**30)  # a multiple of 512: once taken for a tar
    _sparse(tmp_path / "huge_odd.csv", 2 * 2**30 + 1)
    (tmp_path / "README.md").write_text("x\n")
    return tmp_path


# (argv, what stderr must say): every case a clear refusal, exit 2, one line
REFUSED = [
    (["run", "--steps", "10", "--schedule", "/dev/zero"], "--schedule /dev/zero"),
    (["compare", "--steps", "10", "--schedules", "linear,/dev/zero"], "/dev/zero"),
    (["run", "--steps", "10", "--schedule", "fifo.csv"], "fifo.csv"),
    (["run", "--steps", "10", "--schedule", "huge_schedule.csv"], "2,048 MiB"),
    (["refine", "/dev/zero"], "/dev/zero: is a character device"),
    (["refine", "/dev/urandom"], "/dev/urandom: is a character device"),
    (["inspect", "fifo.csv"], "fifo.csv: is a FIFO"),
    (["bound", "/dev/zero"], "/dev/zero"),
    (["refine", "huge_log.csv"], "huge_log.csv: binary content"),
    (["inspect", "huge_odd.csv"], "huge_odd.csv: binary content"),
    (["study", "--smoke", "--readme", "/dev/zero"], "/dev/zero is a character device"),
    (["refine", str(LOG), "--out", "/dev/zero"], "--out /dev/zero is a character device"),
]


@pytest.mark.parametrize("argv,says", REFUSED, ids=[" ".join(a[:3]) for a, _ in REFUSED])
def test_special_and_huge_files_are_refused_quickly(files, argv, says):
    code, err, cpu, mib = lrcore(argv, files)
    assert code == 2, err
    assert err.startswith("lrcore: error: ") and err.count("\n") == 1, err
    assert says in err
    assert "Traceback" not in err
    assert cpu < CPU_S, f"{cpu:.1f} s of CPU"
    assert mib < MEMORY_MIB, f"{mib:.0f} MiB"


def test_each_log_format_has_a_size_cap_checked_before_parsing(tmp_path, monkeypatch):
    """Caps (lrcore.logs._MAX_BYTES) made small here: a seeded log just over one is refused
    by name before any parsing, one under it is read exactly."""
    import lrcore.logs as logs

    rng = np.random.default_rng(27)
    norms = rng.lognormal(0.0, 0.3, 40_000)
    shown = [repr(float(x)) for x in norms]
    text = "step,grad_norm\n" + "".join(f"{i},{x}\n" for i, x in enumerate(shown))
    big = tmp_path / "big.csv"
    big.write_text(text)
    size = big.stat().st_size
    monkeypatch.setitem(logs._MAX_BYTES, "csv", size - 1)
    with pytest.raises(logs.LogError, match=r"big\.csv: .* MiB of plain CSV / TSV, more than"):
        logs.load_log(big)
    monkeypatch.setitem(logs._MAX_BYTES, "csv", size)
    log = logs.load_log(big)
    np.testing.assert_array_equal(log.grad_norms, norms)
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text("".join(f'{{"step": {i}, "grad_norm": {x}}}\n' for i, x in enumerate(shown)))
    monkeypatch.setattr(logs, "_MAX_JSON_BYTES", jsonl.stat().st_size - 1)
    with pytest.raises(logs.LogError, match=r"big\.jsonl: .* MiB of JSON lines, more than"):
        logs.load_log(jsonl)


# ------------------------------------------------------------- TensorBoard, 100,000 tags


def _record(payload: bytes) -> bytes:
    from lrcore.logs._events import masked_crc

    head = struct.pack("<Q", len(payload))
    crc = struct.pack
    return head + crc("<I", masked_crc(head)) + payload + crc("<I", masked_crc(payload))


def _many_tags(folder: Path, n_tags: int, per_record: int, seed: int) -> dict[str, np.ndarray]:
    """An event file of ``n_tags`` scalar tags over 2 steps, ``per_record`` values per
    record (1: PyTorch's SummaryWriter.add_scalar; many: one Summary per step). Returns
    each tag's values (float32, as the file stores them)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    rng = np.random.default_rng(seed)
    tags = [f"layers.{i}/grad_norm_{h:x}" for i, h in enumerate(rng.integers(1 << 40, size=n_tags))]
    values = rng.lognormal(0.0, 1.0, (2, n_tags)).astype(np.float32)
    out = [_record(Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())]
    for step in range(2):
        for a in range(0, n_tags, per_record):
            summary = Summary(
                value=[
                    Summary.Value(tag=t, simple_value=float(v))
                    for t, v in zip(
                        tags[a : a + per_record], values[step, a : a + per_record], strict=True
                    )
                ]
            )
            event = Event(wall_time=2.0 + step, step=step, summary=summary)
            out.append(_record(event.SerializeToString()))
    folder.mkdir()
    (folder / "events.out.tfevents.1700000000.host.1.0").write_bytes(b"".join(out))
    return {t: values[:, i].astype(np.float64) for i, t in enumerate(tags)}


@pytest.mark.parametrize(
    "per_record", [1, 100_000], ids=["a-record-per-tag", "one-record-per-step"]
)
def test_a_tensorboard_file_of_100000_tags_is_refused_or_read_in_seconds(tmp_path, per_record):
    """Over 240 s in the issue (a pass over every value per distinct tag): now the refusal
    ('several gradient-norm series') and a chosen tag's exact values, each within limits."""
    run = tmp_path / "run"
    expected = _many_tags(run, 100_000, per_record, seed=per_record)
    code, err, cpu, mib = lrcore(["inspect", "run"], tmp_path)
    assert code == 2 and "several gradient-norm series found" in err and "99,988 more" in err
    assert cpu < CPU_S and mib < MEMORY_MIB, (cpu, mib)
    tag = sorted(expected)[12_345]
    code, err, cpu, mib = lrcore(["refine", "run", "--metric", tag, "--out", "s.csv"], tmp_path)
    assert code == 0, err
    assert "refined 2 points of" in err and (tmp_path / "s.csv").read_text().count("\n") == 3
    assert cpu < CPU_S and mib < MEMORY_MIB, (cpu, mib)
    from lrcore.logs import load_log

    log = load_log(run, metric=tag)
    np.testing.assert_array_equal(log.grad_norms, expected[tag])
    np.testing.assert_array_equal(log.steps, [0, 1])
