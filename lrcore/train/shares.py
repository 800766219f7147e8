"""The share of a core a training worker gets while it runs a job (the worker pool's
estimates: :mod:`lrcore.train.pool`).

The pool's workers run below the server's priority. On a host busy drawing a class's pages they
got a fraction of a core (0.25-0.6 while 30 pages loaded on 2 cores; 0.06 beside two busy loops
at the server's priority), and their runs took that much longer than the cost model's estimate,
which is of CPU time. A worker reports, every :data:`SHARE_SECONDS` while it runs a job, the
share of a core its job's thread had of the time it wanted one (:func:`report`); the pool
keeps them (:class:`Shares`) and divides by the share of the moment.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

CPU_SHARE = "_cpu_share"  # the message's key (not a progress message)
SHARE_SECONDS = 0.5
SHARE_WINDOW = 3.0  # seconds of the workers' latest shares that make the share of the moment
SHARES_NEEDED = 3  # shares in that window before they count (a single 0.04 put a guess at 5x)
# fewer in the window (a worker between jobs, or starting): the last ones, this recent at most
SHARE_STALE = 30.0


def on_gpu() -> bool:
    """This process has started CUDA (its CPU then waits on the device: no share is reported).
    Asked from another thread than the job's, which may be importing torch at that moment (a
    partly imported torch has no ``cuda`` yet: a first version ended its thread there)."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    try:
        return bool(cuda is not None and cuda.is_initialized())
    except Exception:  # noqa: BLE001 - half imported: not started yet
        return False


def _clock(tid: int) -> tuple[float, float | None]:
    """(seconds the thread ``tid`` of this process ran on a core, seconds it waited for one):
    the kernel's ``schedstat`` (Linux); elsewhere (the process's CPU time, None)."""
    try:
        ran, waited, _ = Path(f"/proc/self/task/{tid}/schedstat").read_text().split()
        return int(ran) / 1e9, int(waited) / 1e9
    except (OSError, ValueError):
        return time.process_time(), None


def report(job_id: int, messages, done: threading.Event, tid: int) -> None:
    """Until ``done``: every :data:`SHARE_SECONDS`, ``(job_id, {CPU_SHARE: share})`` into
    ``messages``: of the time the job's thread ``tid`` wanted a core, the share it had one
    (a training job is one thread). A thread that waited on a file, the network or a device
    wanted no core: nothing is sent then (a reviewer's job reading for 4 s had put the queue
    at its 20x bound). Where the kernel does not say (not Linux): CPU time over time passed."""
    (cpu, waited), wall = _clock(tid), time.monotonic()
    while not done.wait(SHARE_SECONDS):
        if on_gpu():
            return
        (now_cpu, now_waited), now = _clock(tid), time.monotonic()
        ran = now_cpu - cpu
        wanted = now - wall if waited is None else ran + (now_waited - waited)
        cpu, waited, wall = now_cpu, now_waited, now
        if wanted < 0.1 * SHARE_SECONDS:  # asleep or waiting on I/O: no word of the cores
            continue
        with contextlib.suppress(Exception):  # the manager gone (the server stopping)
            messages.put((job_id, {CPU_SHARE: min(1.0, ran / wanted)}))


@contextlib.contextmanager
def reported(job_id: int, messages):
    """:func:`report` on a thread of its own while the block runs (in the job's thread)."""
    done = threading.Event()
    thread = threading.Thread(
        target=report,
        args=(job_id, messages, done, threading.get_native_id()),
        daemon=True,
        name="cpu-share",
    )
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


class Shares:
    """The shares the pool's workers reported, with the pool's ``clock``.

    >>> t = [0.0]
    >>> shares = Shares(lambda: t[0])
    >>> for s in (0.5, 0.25, 0.25):
    ...     shares.add(s)
    >>> shares.now()  # the median of the last SHARE_WINDOW seconds
    0.25
    >>> t[0] = SHARE_WINDOW + 1
    >>> shares.now()  # none in the window: the last ones
    0.25
    >>> t[0] = SHARE_STALE + 1
    >>> shares.now() is None  # none recent: not known
    True
    """

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._recent: deque[tuple[float, float]] = deque(maxlen=64)

    def add(self, share: float) -> None:
        self._recent.append((self.clock(), float(share)))

    def now(self) -> float | None:
        """The median share of the last :data:`SHARE_WINDOW` seconds; with fewer than
        :data:`SHARES_NEEDED` there, of the last :data:`SHARES_NEEDED` if the newest is at
        most :data:`SHARE_STALE` s old (between two jobs the queue fell back to the measured
        pace alone for ~2 s: a tenfold drop and back); else None."""
        now = self.clock()
        recent = [share for t, share in self._recent if t >= now - SHARE_WINDOW]
        if len(recent) >= SHARES_NEEDED:
            return statistics.median(recent)
        last = list(self._recent)[-SHARES_NEEDED:]
        if len(last) == SHARES_NEEDED and last[-1][0] >= now - SHARE_STALE:
            return statistics.median(share for _, share in last)
        return None

    def __len__(self) -> int:
        return len(self._recent)
