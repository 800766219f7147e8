"""Worker processes end with their parent, whatever ends it (issue 27 item 5).

Each test starts a parent in a subprocess, waits until its pool's workers are up (psutil
children), kills the parent and checks that every process it started is gone within seconds:
``lrcore study --jobs 2`` itself, and a small pool started from the main thread or from a
thread that ended (a Streamlit script thread) with :func:`lrcore._procs.die_with_parent`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

GONE_WITHIN_S = 5.0  # the fallback polls every 0.5 s; the kernel's signal is at once

POOL_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, threading, time
    from concurrent.futures import ProcessPoolExecutor
    from lrcore._procs import die_with_parent

    def work(folder):
        open(os.path.join(folder, str(os.getpid())), "w").close()  # after the initializer
        time.sleep(600)

    def pid(_):
        return os.getpid()

    if __name__ == "__main__":
        folder, where = sys.argv[1], sys.argv[2]
        pool = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"),
                                   initializer=die_with_parent)
        if where == "thread":  # workers started by a thread that then ends
            t = threading.Thread(target=lambda: [f.result() for f in
                                                 [pool.submit(pid, 0) for _ in range(4)]])
            t.start()
            t.join()
            time.sleep(1.5)  # the starting thread is gone: the workers must not be
        for _ in range(2):
            pool.submit(work, folder)
        time.sleep(600)
    """
)


def _wait_for(what, predicate, timeout: float):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _alive(procs) -> list:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _kill_and_check(parent: subprocess.Popen, sig: int) -> float:
    """Kill ``parent`` with ``sig``; every process under it must end within GONE_WITHIN_S.
    Returns the seconds it took."""
    children = psutil.Process(parent.pid).children(recursive=True)
    assert children
    os.kill(parent.pid, sig)
    parent.wait(timeout=30)
    start = time.monotonic()
    while _alive(children) and time.monotonic() - start < GONE_WITHIN_S:
        time.sleep(0.05)
    left = _alive(children)
    for p in left:  # do not leave them behind for the next test
        p.kill()
    assert not left, f"still running {GONE_WITHIN_S} s after the parent: {left}"
    return time.monotonic() - start


@pytest.mark.parametrize(
    "where,sig",
    [("main", signal.SIGKILL), ("thread", signal.SIGKILL), ("main", signal.SIGTERM)],
)
def test_pool_workers_end_with_their_parent(tmp_path, where, sig):
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    ready = tmp_path / "ready"
    ready.mkdir()
    parent = subprocess.Popen([sys.executable, str(script), str(ready), where])
    try:
        _wait_for("2 workers at work", lambda: len(os.listdir(ready)) >= 2, 120)
        workers = {int(n) for n in os.listdir(ready)}
        kids = {p.pid for p in psutil.Process(parent.pid).children(recursive=True)}
        assert workers <= kids  # the workers that ran work() are the parent's children
        if where == "thread":  # they outlived the thread that started them
            assert len(workers) == 2
        _kill_and_check(parent, sig)
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_study_workers_end_when_the_study_is_killed(tmp_path, sig):
    """``lrcore study --smoke --jobs 2``, killed once both workers are at work (torch
    imported: they took a problem, so the initializer has run), leaves no process; SIGINT to
    the parent alone (Ctrl-C's exception) ends the workers at once (they trained on for 13.6 s
    after "interrupted"); no resource-tracker warning about leaked semaphores is printed."""
    parent = subprocess.Popen(
        [sys.executable, "-m", "lrcore", "study", "--smoke", "--jobs", "2", "--out", os.devnull],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored
    )
    try:

        def working():
            kids = psutil.Process(parent.pid).children(recursive=True)
            busy = [
                p
                for p in kids
                if "spawn_main" in " ".join(p.cmdline()) and p.memory_info().rss > 150 * 2**20
            ]
            return len(busy) >= 2

        _wait_for("2 study workers holding a problem", working, 240)
        took = _kill_and_check(parent, sig)
        err = parent.stderr.read().decode(errors="replace")
        assert "leaked semaphore" not in err and "warnings.warn" not in err, err[-500:]
        if sig == signal.SIGINT:
            assert parent.returncode == 130 and "lrcore: interrupted" in err
            assert took < 5.0, f"workers ended {took:.1f} s after the parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_die_with_parent_keeps_a_worker_whose_parent_lives(tmp_path):
    """Called in a process whose parent is alive, it returns and the process goes on (and
    ends normally); the watch thread is a daemon."""
    code = "from lrcore._procs import die_with_parent; die_with_parent(); import time; "
    code += "time.sleep(1.2); print('still here')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "still here"


APP_POOL_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time
    from lrcore.train.pool import Pool
    import slowjob

    if __name__ == "__main__":
        pool = Pool(2, fn=slowjob.job, key=repr, reaper_every=None)
        # submitted from a thread that ends, as a Streamlit script thread does
        t = threading.Thread(target=lambda: [pool.submit(f"s{i}", i) for i in range(2)])
        t.start()
        t.join()
        time.sleep(600)
    """
)

SLOW_JOB = textwrap.dedent(
    """
    import os, time

    def job(spec, on_progress, should_stop):
        open(os.path.join(os.environ["READY_DIR"], str(os.getpid())), "w").close()
        time.sleep(600)
        return {}
    """
)


def test_the_app_pool_leaves_no_process_when_killed(tmp_path):
    """lrcore.train.pool.Pool: its workers and its multiprocessing Manager (a plain
    ``Manager()`` outlived a SIGKILLed parent, with the resource tracker)."""
    (tmp_path / "app_pool.py").write_text(APP_POOL_SCRIPT)
    (tmp_path / "slowjob.py").write_text(SLOW_JOB)
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "READY_DIR": str(ready), "PYTHONPATH": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, str(tmp_path / "app_pool.py")], env=env)
    try:
        _wait_for("2 pool jobs running", lambda: len(os.listdir(ready)) >= 2, 180)
        kids = psutil.Process(parent.pid).children(recursive=True)
        assert len(kids) >= 4  # 2 workers, the manager, the resource tracker
        _kill_and_check(parent, signal.SIGKILL)
    finally:
        if parent.poll() is None:
            parent.kill()
