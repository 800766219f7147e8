"""Where commands write (issue 27 item 4): a closed pipe stops the command at once and
quietly; ``--out NAME/`` names a folder (refused by one-file commands, created by ``run``);
``--out /dev/null`` writes nowhere and succeeds; two commands writing one ``--out`` at the
same time: the second is refused, naming the first."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _measured import launcher, read_report

from lrcore._output import check_out, lock_file, release_locks
from lrcore.cli import main

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "sample_runs" / "logreg_digits_sgd.csv"
LRCORE = [sys.executable, "-m", "lrcore"]

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pipes, wait4, /dev/null")


def _read_then_close(argv: list[str], n: int, tmp: Path) -> tuple[bytes, float, int, float, bytes]:
    """Start ``lrcore argv`` with stdout to a pipe, read ``n`` bytes, close the pipe (as
    ``| head -c N``; ``head -1`` for a first line of ``n`` bytes). Returns (the bytes,
    seconds from the close to the exit, exit status, peak memory in MiB, stderr)."""
    report = tmp / "usage.txt"
    err = os.pipe2(0) if hasattr(os, "pipe2") else os.pipe()
    cmd = launcher(report, [*LRCORE, *argv])  # peak memory: see tests/_measured.py
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err[1])
    os.close(err[1])
    line = proc.stdout.read(n)
    proc.stdout.close()
    closed = time.monotonic()
    proc.wait()
    after = time.monotonic() - closed
    with os.fdopen(err[0], "rb") as f:
        stderr = f.read()
    code, _, rss_mib = read_report(report)
    return line, after, code, rss_mib, stderr


@posix_only
@pytest.mark.parametrize(
    "argv,first",
    [
        (["schedule", "linear", "--total-steps", "20000000"], b"step,lr\n"),
        (["schedule", "cosine", "--total-steps", "2000000", "--as", "json"], b'{"total_steps"'),
    ],
    ids=["csv-20M", "json-2M"],
)
def test_a_closed_pipe_stops_the_command_at_once_and_quietly(argv, first, tmp_path):
    """``lrcore schedule --total-steps 20000000 | head -1`` (``head -c 14`` for JSON, one line) built the whole 377 MB CSV
    (1.23 GB peak), wrote on after the reader left and said 'wrote 20,000,000 steps to
    stdout' with exit 0. Now it writes as it formats: exit 141 (SIGPIPE's status) soon after
    the close, no message, memory of the schedule and a few chunks only."""
    line, after, code, rss_mib, stderr = _read_then_close(argv, len(first), tmp_path)
    assert line == first
    assert code == 141, stderr
    assert stderr == b""  # quiet: no 'wrote ...', no 'Broken pipe', no traceback
    assert after < 5.0, f"ran {after:.1f} s after its reader left"  # ~0.9 s at load 10
    assert rss_mib < 800, f"peak {rss_mib:.0f} MiB"  # 539 MiB measured for 20M steps


def _held(lock: Path) -> bool:
    """Whether another process holds ``lock`` now (the file stays after its writer is done)."""
    import fcntl  # POSIX only

    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@posix_only
def test_two_writers_to_one_out_the_second_is_refused(tmp_path):
    target = tmp_path / "same.csv"
    first = subprocess.Popen(
        [*LRCORE, "schedule", "linear", "--total-steps", "5000000", "--out", str(target)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = lock_file(target)
        end = time.monotonic() + 120
        while not _held(lock) and first.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        assert _held(lock), "the first writer never locked its --out"
        # the first writer is paused while it holds the lock: on a loaded machine it could
        # otherwise finish before the second has started (CI at load 3: both succeeded)
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = subprocess.run(
                [*LRCORE, "schedule", "cosine", "--total-steps", "1000", "--out", str(target)],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            os.kill(first.pid, signal.SIGCONT)
        _, err_first = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err_first
    assert second.returncode == 2
    assert second.stderr == (
        f"lrcore: error: schedule: --out {target} is being written by another lrcore command "
        f"(pid {first.pid}); wait for it to finish or choose another path\n"
    )
    with open(target, "rb") as f:  # the first writer's schedule, whole
        assert f.readline() == b"step,lr\n" and f.readline() == b"0,1\n"
        f.seek(-30, os.SEEK_END)
        assert f.read().endswith(b"\n4999999,2e-7\n")
    assert not lock.exists()  # released (and removed) when the first ended
    # once the first is done, the second may write
    assert main(["schedule", "cosine", "--total-steps", "1000", "--out", str(target)]) == 0
    assert target.read_bytes().count(b"\n") == 1001


def test_a_lock_is_held_for_the_command_and_released(tmp_path):
    target = tmp_path / "o.csv"
    assert check_out("refine", str(target), []) == target
    assert lock_file(target).exists()
    assert check_out("refine", str(target), []) == target  # this process holds it already
    release_locks()
    assert not lock_file(target).exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["schedule", "linear", "--total-steps", "10"],
        ["refine", str(LOG)],
        ["compare", "--steps", "10"],
        ["study", "--smoke"],
    ],
    ids=["schedule", "refine", "compare", "study"],
)
def test_a_trailing_slash_names_a_folder_and_one_file_commands_refuse_it(
    tmp_path, monkeypatch, capsys, argv
):
    """``refine --out newdir/`` wrote a file named ``newdir``."""
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--out", "newdir/"]) == 2
    err = capsys.readouterr().err
    command = argv[0]
    assert err == (
        f"lrcore: error: {command}: --out newdir/ ends with '/', so it names a folder, and "
        f"{command} writes one file; name a file (inside that folder if you like)\n"
    )
    assert list(tmp_path.iterdir()) == []  # no file 'newdir', no folder either


def test_run_out_with_a_trailing_slash_creates_the_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert main(["run", "--steps", "10", "--out", "afile/"]) == 2
    assert "afile" in capsys.readouterr().err and (tmp_path / "afile").read_text() == "x"
    assert main(["run", "--steps", "10", "--out", "new/deeper/"]) == 0
    capsys.readouterr()
    made = tmp_path / "new" / "deeper"
    assert made.is_dir()
    assert sorted(p.name for p in made.iterdir()) == ["evals.csv", "grad_norms.csv", "result.json"]


@posix_only
@pytest.mark.parametrize(
    "argv",
    [
        ["schedule", "linear", "--total-steps", "100"],
        ["schedule", "linear", "--total-steps", "100", "--as", "json"],
        ["refine", str(LOG)],
        ["run", "--steps", "10"],
    ],
    ids=["schedule", "schedule-json", "refine", "run"],
)
def test_out_dev_null_writes_nowhere_and_succeeds(tmp_path, monkeypatch, capsys, argv):
    """It was refused as a character device (and a rename onto it, as root, would have
    replaced the system's /dev/null with a file)."""
    monkeypatch.chdir(tmp_path)
    before = os.stat(os.devnull)
    assert main([*argv, "--out", os.devnull]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") <= 2  # run prints its table; nothing of the schedule on stdout
    assert "step,lr" not in out and '"lr"' not in out
    assert "error" not in err
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert list(tmp_path.iterdir()) == []  # run saved no folder anywhere
    assert not [p for p in Path("/dev").glob(".null.*")]  # no temporary file beside it


@posix_only
@pytest.mark.parametrize("argv", [["inspect", str(LOG)], ["bound", str(LOG)]])
def test_a_reader_gone_before_the_output_is_a_quiet_exit_too(argv):
    """Output printed in pieces is flushed inside the command: a reader gone before it
    (``| true``) is a quiet exit 141, not Python's 'Exception ignored ... BrokenPipeError'
    at shutdown (exit 120)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as users run it
    proc = subprocess.Popen(
        [*LRCORE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert b"BrokenPipe" not in err and b"Exception ignored" not in err and b"error" not in err


def test_exports_refuse_a_folder_name_and_write_nothing_to_dev_null(tmp_path):
    from lrcore import export

    with pytest.raises(ValueError, match=r"newdir/: ends with '/', so it names a folder"):
        export.to_csv([1.0, 0.5], path=str(tmp_path / "newdir") + "/")
    assert list(tmp_path.iterdir()) == []
    before = os.stat(os.devnull)
    assert export.to_json([1.0, 0.5], path=os.devnull).startswith('{"total_steps": 2')
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
