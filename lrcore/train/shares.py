"""The share of a core a training worker gets while it runs a job (the worker pool's
estimates: :mod:`lrcore.train.pool`).

The pool's workers run below the server's priority. On a host busy drawing a class's pages they
got a fraction of a core (0.25-0.6 while 30 pages loaded on 2 cores; 0.06 beside two busy loops
at the server's priority), and their runs took that much longer than the cost model's estimate,
which is of CPU time. A worker reports, every :data:`SHARE_SECONDS` while it runs a job, the CPU
time its process got over the time passed (:func:`report`); the pool keeps them
(:class:`Shares`) and divides by the share of the moment.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

CPU_SHARE = "_cpu_share"  # the message's key (not a progress message)
SHARE_SECONDS = 0.5
SHARE_WINDOW = 3.0  # seconds of the workers' latest shares that make the share of the moment
SHARES_NEEDED = 3  # shares in that window before they count (a single 0.04 put a guess at 5x)


def on_gpu() -> bool:
    """This process has started CUDA (its CPU then waits on the device: no share is reported).
    Asked from another thread than the job's, which may be importing torch at that moment (a
    partly imported torch has no ``cuda`` yet: a first version ended its thread there)."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    try:
        return bool(cuda is not None and cuda.is_initialized())
    except Exception:  # noqa: BLE001 - half imported: not started yet
        return False


def report(job_id: int, messages, done: threading.Event) -> None:
    """Until ``done``: every :data:`SHARE_SECONDS`, ``(job_id, {CPU_SHARE: share})`` into
    ``messages``, the share at most 1 (a training job is one thread)."""
    cpu, wall = time.process_time(), time.monotonic()
    while not done.wait(SHARE_SECONDS):
        if on_gpu():
            return
        now_cpu, now = time.process_time(), time.monotonic()
        share = min(1.0, (now_cpu - cpu) / max(now - wall, 1e-9))
        cpu, wall = now_cpu, now
        with contextlib.suppress(Exception):  # the manager gone (the server stopping)
            messages.put((job_id, {CPU_SHARE: share}))


@contextlib.contextmanager
def reported(job_id: int, messages):
    """:func:`report` on a thread of its own while the block runs."""
    done = threading.Event()
    thread = threading.Thread(
        target=report, args=(job_id, messages, done), daemon=True, name="cpu-share"
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
    >>> shares.now() is None  # none recent: not known
    True
    """

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._recent: deque[tuple[float, float]] = deque(maxlen=64)

    def add(self, share: float) -> None:
        self._recent.append((self.clock(), float(share)))

    def now(self) -> float | None:
        """The median share of the last :data:`SHARE_WINDOW` seconds, or None with fewer than
        :data:`SHARES_NEEDED` there."""
        since = self.clock() - SHARE_WINDOW
        recent = [share for t, share in self._recent if t >= since]
        return statistics.median(recent) if len(recent) >= SHARES_NEEDED else None

    def __len__(self) -> int:
        return len(self._recent)
