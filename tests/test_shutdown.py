"""Stopping the hosted app (``lrcore app``, what the container runs) while a run trains: Ctrl-C
(SIGINT) or ``docker stop`` (SIGTERM). The training workers and the pool's queues are closed
before the server ends (app/serve.py's lifespan, :func:`lrcore.train.pool.close_all`); before
that the server ended by its signal with 4 worker processes still running half a second later,
and Python's resource tracker warned of 5 leaked semaphores."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "docs"))
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import make_screenshots as shots  # noqa: E402
from streamlit_client import Session  # noqa: E402

pytestmark = pytest.mark.browser


def _workers(proc: psutil.Process) -> list[psutil.Process]:
    """The server's spawned processes (training workers, the pool's manager)."""
    found = []
    for child in proc.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


async def _start_a_run(url: str) -> None:
    s = Session(url, timeout=shots.PAGE_TIMEOUT)
    await s.connect()
    await s.open("train")
    await s.click("Start")
    await asyncio.sleep(1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_server_while_a_run_trains_ends_its_workers_first(sig):
    port = shots.free_port()
    env = {**os.environ, "LRCORE_WORKERS": "1"}  # runs in a worker process, as hosted
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lrcore", "app", "--server.port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            shots.wait_for_health(url, proc, log)
            server = psutil.Process(proc.pid)
            asyncio.run(_start_a_run(url))
            deadline = time.time() + shots.PAGE_TIMEOUT
            while not (workers := _workers(server)) and time.time() < deadline:
                time.sleep(0.2)
            assert workers, "no worker process started for the run"
            time.sleep(1)  # the worker is importing or training: the run is under way
            workers = _workers(server)
            proc.send_signal(sig)
            proc.wait(30)
            gone, alive = psutil.wait_procs(workers, timeout=0.5)
            log.seek(0)
            output = log.read().decode(errors="replace")
            assert not alive, f"{len(alive)} of {len(workers)} worker processes outlived the server"
            assert "leaked semaphore" not in output, output[-2000:]
            assert "Traceback" not in output, output[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
