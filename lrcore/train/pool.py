"""A bounded pool of training jobs with its own FIFO queue (the app's runner; no UI).

At most ``workers`` jobs are handed to the executor at once; the rest wait in the pool's
queue, so it knows each job's position and estimates the wait from the cost model (the
estimates of the jobs ahead and the running jobs' remaining time, laid onto ``workers``
slots). Jobs are keyed (:func:`lrcore.train.job.job_key`): a session submitting a key that is
queued or running joins that job; a finished key is answered from a small LRU cache.

Sessions watch jobs; a session that cancels only detaches, and the job is cancelled when its
last watcher leaves (a queued job is dropped, a running one stops at its next training step
through a flag its worker polls). A reaper cancels jobs whose every watcher is silent
(no :meth:`Pool.poll` or :meth:`Pool.heartbeat`) for ``stale_after`` seconds and not
reported alive by ``alive`` (the app passes "is the browser tab still connected").

Settings from the environment (:meth:`Pool.from_env`): ``LRCORE_WORKERS`` (default: the
host's cores; ``0`` runs each job in the submitting thread, as the page did before: for
tests), ``LRCORE_SESSION_RUNS`` (active jobs per session, default 1).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq
import itertools
import logging
import os
import statistics
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lrcore.train import shares
from lrcore.train.job import job_key, train_job, warm
from lrcore.train.shares import CPU_SHARE, Shares

log = logging.getLogger("lrcore.pool")
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
PACE_JOBS = 8  # finished jobs whose measured / estimated time scales the queue's waits
# a running job's share done from which its progress tells its pace and remaining time: at
# 2-5 %, a class's first jobs (their first steps and scoring) extrapolated to 4.6x, then 2.4x
MEASURED_SHARE = 0.2
MESSAGES_PER_SECOND = 5.0  # progress messages a worker sends at most (final ones always)
BEGUN = "_begun"  # a worker's first message for a job: it began it (not a progress message)
QUEUE_PACE = (0.2, 20.0)  # the queue's pace at least and at most (a tenth of a core: 16x)
_OPEN: weakref.WeakSet[Pool] = weakref.WeakSet()  # pools not closed yet: close_all()


def close_all() -> int:
    """Close every pool of this process not closed yet (:meth:`Pool.close`: jobs cancelled,
    workers ended); how many. For a server's shutdown: the app's pools live in Streamlit's
    cache, and a server stopped by a signal otherwise ended with its workers and the
    executor's queues still open (Python's resource tracker warned of 5 leaked semaphores)."""
    pools = list(_OPEN)
    for pool in pools:
        pool.close()
    # a closed executor's queues sit in reference cycles until the collector runs; a server
    # then ended by its signal (no exit handlers) left their semaphores, and the resource
    # tracker warned. Collected now, their finalizers release them.
    gc.collect()
    return len(pools)


class SessionLimit(ValueError):
    """A session already has as many active jobs as it may."""


@dataclass
class _Job:
    id: int
    key: str
    spec: object
    estimate: float  # seconds, from the cost model
    watchers: dict[str, float]  # session -> last time it was heard from
    state: str = QUEUED
    started: float | None = None  # handed to the executor
    begun: float | None = None  # a worker began it (after its start and imports, if cold)
    working: float | None = None  # its first progress with a share done: training began
    lead: float = 0.0  # seconds from its own start (Pool._origin) to its last progress before
    # any share done: the data and the exact optimum f*
    progress: dict = field(default_factory=dict)
    result: object = None
    error: str | None = None
    # the shares of a core its worker reported while it trained (not in its lead-in, which
    # is not in its pace either)
    shares: list = field(default_factory=list)

    @property
    def share(self) -> float | None:
        """The mean share of a core its worker got while it trained (None: no word)."""
        return statistics.fmean(self.shares) if self.shares else None


@dataclass(frozen=True)
class Status:
    """What a session sees of one job."""

    job_id: int
    state: str  # queued, running, done, failed, cancelled
    position: int = 0  # 1-based place in the queue (0 when not queued)
    queued: int = 0  # jobs in the queue
    wait: float = 0.0  # estimated seconds before it starts
    progress: dict = field(default_factory=dict)  # the job's latest progress message
    result: object = None
    error: str | None = None
    watchers: int = 1  # sessions sharing it (0: answered from the cache)
    # no run has finished or progressed far enough to show how long runs take on this server
    # now (a busy host makes them take longer): the wait is the cost model's, with the
    # measured worker start (Pool.startup)
    guessed: bool = False

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)


def _portable(proxy) -> functools.partial:
    """A manager proxy rebuilt with its manager's key wherever it is unpickled: a spawned
    child inherits the key, a Dask worker (no child of this process) would not."""
    from multiprocessing.managers import AutoProxy, RebuildProxy

    kwds = {"authkey": bytes(proxy._authkey)}
    if getattr(proxy, "_isauto", False):
        kwds["exposed"] = proxy._exposed_
    kind = AutoProxy if getattr(proxy, "_isauto", False) else type(proxy)
    return functools.partial(RebuildProxy, kind, proxy._token, proxy._serializer, kwds)


# training workers run at this lower priority (os.nice), so that the server's page renders come
# first on a small host: with 10 students on 2 cores, pages' p95 was 30 s while two workers
# trained at the server's priority (benchmarks/bench_classroom.py)
WORKER_NICE = int(os.environ.get("LRCORE_WORKER_NICE", "10"))
_niced = False


def _lower_priority(home: int | None) -> None:
    """Once per worker process, and never in the server's own process (``home``)."""
    global _niced  # noqa: PLW0603
    if _niced or home is None or os.getpid() == home or not hasattr(os, "nice"):
        return
    _niced = True
    with contextlib.suppress(OSError):  # not permitted here: the same priority
        os.nice(WORKER_NICE)


def _work(fn, spec, job_id: int, messages, flags, home: int | None = None):
    """In the worker: run ``fn`` with throttled progress into ``messages`` and the stop flag
    ``flags[job_id]`` (both :func:`_portable`), at :data:`WORKER_NICE` below the server
    (``home``: its pid); its share of a core meanwhile (:func:`lrcore.train.shares.report`)."""
    _lower_priority(home)
    messages, flags, last = messages(), flags(), [0.0]
    messages.put((job_id, {BEGUN: True}))  # the time before this was the worker's, not the job's

    def on_progress(msg: dict) -> None:
        now = time.monotonic()
        if not msg.get("share"):  # a phase before training: always sent (it ends the lead-in),
            messages.put((job_id, msg))  # and the first training message after it too
        elif msg.get("final") or now - last[0] >= 1 / MESSAGES_PER_SECOND:
            last[0] = now
            messages.put((job_id, msg))

    with shares.reported(job_id, messages):
        return fn(spec, on_progress, lambda: bool(flags.get(job_id, False)))


def _warm_worker(warm: Callable[[], None], home: int | None = None) -> None:
    """In a worker, once: its priority as :func:`_work` sets it, then ``warm``. (Its share of a
    core is not reported: a class opens its pages, and the workers warm up, in a heavier burst
    than when it presses Start; shares of 2-5 % there would have put a first guess at 5x.)"""
    _lower_priority(home)
    warm()


def _say_if_failed(future, closed: threading.Event) -> None:
    """A worker that could not start (or import) says so in the server's log now; the first
    job on it reports the error to its student. Not when its pool was closed meanwhile (the
    server stopping while its workers started: they were ended on purpose)."""
    if closed.is_set():
        return
    if not future.cancelled() and future.exception() is not None:
        log.warning("starting a worker: %s", future.exception())


def _cores() -> int:
    """The cores this process may use (``nproc``: a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _default_executor(workers: int, scheduler: str | None):
    """:func:`lrcore.executors.get_executor` (a context manager: entered here, left by close)."""
    from lrcore.executors import get_executor

    return get_executor(workers, scheduler)


def _env_int(name: str, default: int | None, least: int) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < least:
        raise ValueError(f"environment variable {name} must be an integer >= {least}, got {text!r}")
    return int(text)


def check_env() -> None:
    """The pool's settings in the environment (``LRCORE_WORKERS``, ``LRCORE_SESSION_RUNS``):
    ValueError naming the one that is not a number it allows. ``lrcore app`` checks them
    before it starts the server, and the app's pages before anything else (a bad value broke
    See it work and Train with Streamlit's error box)."""
    env_workers()
    _env_int("LRCORE_SESSION_RUNS", 1, 1)


def env_workers() -> int | None:
    """``LRCORE_WORKERS``: the pool's worker processes (None when unset: the host's cores; 0:
    jobs run in the submitting thread); ValueError naming it when it is not such a number."""
    return _env_int("LRCORE_WORKERS", None, 0)


class Pool:
    """See the module docstring. ``fn(spec, on_progress, should_stop) -> dict`` is the job
    (``{"cancelled": True}`` when stopped); ``clock`` is injectable for tests. On a Dask
    cluster, the jobs handed over at once are the cluster's worker threads.

    >>> double = lambda spec, on_progress, should_stop: {"twice": 2 * spec}
    >>> pool = Pool(0, fn=double, key=repr, reaper_every=None)  # 0: in the caller's thread
    >>> pool.submit("ann", 21).state, pool.submit("bob", 21).watchers  # bob joins ann's job
    ('queued', 2)
    >>> pool.run_inline("ann")
    >>> [(s.state, s.result) for s in pool.poll("bob")]
    [('done', {'twice': 42})]
    >>> pool.submit("cy", 21).watchers  # answered from the cache
    0
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        session_runs: int = 1,
        fn: Callable = train_job,
        key: Callable = job_key,
        warm: Callable[[], None] | None = warm,
        cache_size: int = 32,
        stale_after: float = 15.0,
        alive: Callable[[str], bool] | None = None,
        startup_guess: Callable[[], float | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        executor_factory: Callable | None = None,
        scheduler: str | None = None,
        reaper_every: float | None = 2.0,
    ):
        workers = _cores() if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"Pool: workers must be an integer >= 0, got {workers!r}")
        if isinstance(session_runs, bool) or not isinstance(session_runs, int) or session_runs < 1:
            raise ValueError(f"Pool: session_runs must be an integer >= 1, got {session_runs!r}")
        self.workers, self.session_runs, self.fn, self.key = workers, session_runs, fn, key
        self._warm = warm
        # seconds a worker takes to start (spawn, imports) before the pool has seen one: the
        # app measures it on this host in a child process; None (or no guess) counts 0
        self._startup_guess = startup_guess
        self._startup_known = 0.0
        self.cache_size, self.stale_after, self.alive, self.clock = (
            cache_size,
            stale_after,
            alive,
            clock,
        )
        self._factory = executor_factory or (lambda n: _default_executor(n, scheduler))
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._queue: list[_Job] = []
        self._running: dict[int, _Job] = {}
        self._finished: dict[int, _Job] = {}  # awaiting delivery to their watchers
        self._cache: OrderedDict[str, object] = OrderedDict()
        # measured / estimated seconds of the last finished jobs: the queue's waits are scaled
        # by their median (the cost model's speed was measured once, maybe on a busy host: a
        # class's first queue showed "~1 min 34 s" for waits of 27 s at most)
        self._paces: deque[tuple[float, float | None]] = deque(maxlen=PACE_JOBS)  # pace, share
        # seconds from a job's hand-over to a worker beginning it (a cold worker's start and
        # imports), for the last jobs; without word from the worker, to its first share done
        self._startups: deque[float] = deque(maxlen=PACE_JOBS)
        # the shares of a core the workers reported while running jobs (CPU_SHARE)
        self._shares = Shares(clock)
        self._context = self._executor = self._manager = self._messages = self._flags = None
        self._closed = threading.Event()
        _OPEN.add(self)
        if reaper_every:
            threading.Thread(target=self._reaper, args=(reaper_every,), daemon=True).start()

    @classmethod
    def from_env(cls, **kw) -> Pool:
        """A pool with ``LRCORE_WORKERS`` and ``LRCORE_SESSION_RUNS`` (see the module)."""

        return cls(
            env_workers(),
            session_runs=_env_int("LRCORE_SESSION_RUNS", 1, 1),
            **kw,
        )

    @property
    def inline(self) -> bool:
        """Jobs run in the submitting thread (``workers == 0``): call :meth:`run_inline`."""
        return self.workers == 0

    # ------------------------------------------------------------------ sessions' calls
    def submit(self, session: str, spec, estimate: float = 0.0) -> Status:
        """Queue ``spec`` for ``session`` (or join the same key's active job, or answer from
        the cache); :class:`SessionLimit` when the session has its allowed active jobs."""
        key = self.key(spec)
        with self._lock:
            now = self.clock()
            if key in self._cache:
                self._cache.move_to_end(key)
                return Status(0, DONE, result=dict(self._cache[key]), watchers=0)
            same = next((j for j in self._active() if j.key == key), None)
            mine = [j for j in self._active() if session in j.watchers]
            if same is not None and session in same.watchers:
                return self._status(same)
            if len(mine) >= self.session_runs:
                raise SessionLimit(
                    f"You already have {len(mine)} run{'s' * (len(mine) != 1)} going (at most "
                    f"{self.session_runs} at a time per session): press Stop to end it first"
                )
            if same is not None:
                same.watchers[session] = now
                log.info("job %d: joined by another session", same.id)
                return self._status(same)
            job = _Job(next(self._ids), key, spec, float(estimate), {session: now})
            self._queue.append(job)
            log.info("job %d: queued at position %d", job.id, len(self._queue))
            try:
                self._dispatch()
            except Exception:  # no executor (an unreachable Dask scheduler): not queued
                if job in self._queue:
                    self._queue.remove(job)
                raise
            return self._status(job)

    def poll(self, session: str) -> list[Status]:
        """The session's jobs (a heartbeat too): active ones, and finished ones once each."""
        with self._lock:
            self.heartbeat(session)
            out = [self._status(j) for j in self._active() if session in j.watchers]
            for job in [j for j in self._finished.values() if session in j.watchers]:
                out.append(self._status(job))
                del job.watchers[session]
                if not job.watchers:
                    del self._finished[job.id]
            return out

    def has_active(self, session: str) -> bool:
        """``session`` has a job queued or running (asks nothing else: no heartbeat, nothing
        delivered; the Train page greys out Start with it).

        >>> pool = Pool(0, fn=lambda spec, on_progress, should_stop: {}, reaper_every=None)
        >>> _ = pool.submit("ann", 1)
        >>> pool.has_active("ann"), pool.has_active("bob")
        (True, False)
        """
        with self._lock:
            return any(session in j.watchers for j in self._active())

    def active_keys(self) -> list[str]:
        """The keys of the running jobs, then of the queued ones in the order they will run:
        what a new job of another key waits behind (See it work tells a student so).

        >>> pool = Pool(0, fn=lambda spec, on_progress, should_stop: {}, key=str,
        ...             reaper_every=None)
        >>> _ = pool.submit("ann", 1), pool.submit("bob", 2)
        >>> pool.active_keys()
        ['1', '2']
        """
        with self._lock:
            return [j.key for j in self._active()]

    def heartbeat(self, session: str) -> None:
        with self._lock:
            now = self.clock()
            for job in self._active():
                if session in job.watchers:
                    job.watchers[session] = now

    def cancel(self, session: str, job_id: int | None = None) -> None:
        """Detach ``session`` from its jobs (or one); a job left without watchers is cancelled."""
        with self._lock:
            for job in list(self._active()):
                if session in job.watchers and job_id in (None, job.id):
                    del job.watchers[session]
                    if not job.watchers:
                        self._cancel(job)

    def reap(self) -> list[int]:
        """Cancel the jobs whose every watcher is silent (and not alive); their ids. Finished
        jobs that such sessions never collected are forgotten too (their results stay cached)."""
        with self._lock:
            now, reaped = self.clock(), []
            for job in [*self._active(), *self._finished.values()]:
                for s, seen in list(job.watchers.items()):
                    if now - seen > self.stale_after and not (self.alive and self.alive(s)):
                        del job.watchers[s]
                if job.watchers:
                    continue
                if job.id in self._finished:
                    del self._finished[job.id]
                else:
                    self._cancel(job)
                    reaped.append(job.id)
            return reaped

    def run_inline(self, session: str, listener: Callable[[dict], None] | None = None) -> None:
        """Run the session's queued jobs in this thread (``workers == 0``), ``listener`` getting
        each progress message; an exception (a page rerun) cancels the job and propagates."""
        while True:
            with self._lock:
                job = next((j for j in self._queue if session in j.watchers), None)
                if job is None:
                    return
                self._queue.remove(job)
                job.state, job.started = RUNNING, self.clock()
                job.begun = job.started  # this thread: nothing to start
                self._running[job.id] = job

            def on_progress(msg: dict, job=job) -> None:
                with self._lock:
                    self._working(job, msg)
                job.progress = msg
                if listener is not None:
                    listener(msg)

            try:
                self._settle(job, self.fn(job.spec, on_progress, lambda j=job: j.state != RUNNING))
            except BaseException as e:
                self._settle(job, None, e)
                if not isinstance(e, Exception):
                    raise

    def close(self) -> None:
        """Cancel every job and end the executor and the manager (never raises). The executor
        is left outside the lock: its futures' callbacks (a Dask client's event loop among
        them) take the lock, and leaving waits for that loop."""
        self._closed.set()
        _OPEN.discard(self)
        with self._lock:
            for job in list(self._active()):
                self._cancel(job)
            context, manager = (
                (self._context if self._executor is not None else None),
                self._manager,
            )
            self._context = self._executor = self._manager = None
        try:
            if context is not None:  # leaving by an error: nothing waits for the jobs
                context.__exit__(RuntimeError, RuntimeError("pool closed"), None)
        except Exception as e:  # the pool is going away: say so, do not fail the caller
            log.warning("closing the pool's executor: %s", e)
        if manager is not None:
            self._flags = self._messages = None
            manager.shutdown()

    # ------------------------------------------------------------------ inside
    def _active(self) -> list[_Job]:
        """Queued and running jobs (a cancelled one still finishing its step is not)."""
        return [j for j in (*self._running.values(), *self._queue) if j.state != CANCELLED]

    def _status(self, job: _Job) -> Status:
        position = self._queue.index(job) + 1 if job in self._queue else 0
        wait = self._waits().get(job.id, 0.0) if position else 0.0
        result = dict(job.result) if isinstance(job.result, dict) else job.result
        return Status(
            job.id,
            job.state,
            position,
            len(self._queue),
            wait,
            dict(job.progress),
            result,
            job.error,
            max(1, len(job.watchers)),
            bool(position) and self._measured_pace() is None,
        )

    def pace(self) -> float:
        """How the last finished jobs' measured times compare with their estimates: the median
        ratio; before any finished, the running jobs' training so far over the share they have
        done (once :data:`MEASURED_SHARE` is); 1.0 before either. Within [1/5, 5]. A class's
        first queue showed "~2 s" for runs that started 24 s later: the cost model's speed was
        measured on an idle host, and the runs shared it.

        A job's lead-in (its data and f*, before its first share done) is not in its measured
        time: a worker caches both, so the next jobs on the same data skip it. Counted, a
        class's first two jobs (lead-ins of 5 s where 0.2 s is usual, on a host loading 30
        pages) made the queue show ~31 s for waits of 9 s."""
        with self._lock:  # the page asks from its own thread (the Train page's Estimate)
            measured = self._measured_pace()
        return 1.0 if measured is None else min(5.0, max(0.2, measured))

    def startup(self) -> float:
        """Seconds from a job's hand-over to a worker beginning it: the median of the last
        jobs' (a cold worker's start and imports; next to nothing for a warm one); before any,
        the ``startup_guess`` (0 without one)."""
        if self._startups:
            return statistics.median(self._startups)
        if self._startup_guess is not None:
            guess = self._startup_guess()
            if guess is not None:  # known now: not asked again (it is asked under the lock)
                self._startup_guess, self._startup_known = None, float(guess)
        return self._startup_known

    def _measured(self) -> list[tuple[float, float | None]]:
        """(measured / estimated time, the mean share of a core its worker got) of the last
        finished jobs; before any, of the running jobs far enough along."""
        if self._paces:
            return list(self._paces)
        now = self.clock()
        # the training so far over its share done (not the lead-in: see pace)
        return [
            ((now - self._origin(job) - job.lead) / job.progress["share"] / job.estimate, job.share)
            for job in self._running.values()
            if job.started is not None
            and job.estimate > 0
            and job.progress.get("share", 0.0) >= MEASURED_SHARE
        ]

    def _measured_pace(self) -> float | None:
        measured = self._measured()
        return statistics.median(p for p, _ in measured) if measured else None

    @staticmethod
    def _origin(job: _Job) -> float:
        """When ``job``'s own time began: a worker began it, or (no word from the worker)
        its hand-over."""
        return job.begun if job.begun is not None else job.started

    def _begun(self, job: _Job) -> None:
        """A worker began ``job``: the time since its hand-over was the worker's start."""
        if job.begun is None and job.started is not None:
            job.begun = self.clock()
            self._startups.append(job.begun - job.started)

    def _working(self, job: _Job, msg: dict) -> None:
        """``job`` reported ``msg``: the first with a share done (past the exact optimum f*
        and the data) marks the start of its training; the time before it, from when a
        worker began the job to its last message with no share done, is its lead-in (a job
        says so after its last f*, and such messages are never dropped: :func:`_work`).
        Without word of its beginning, the worker's start is in the lead-in and counts as the
        start (:meth:`startup`)."""
        if job.working is not None or job.started is None:
            return
        now = self.clock()
        if msg.get("share", 0.0) > 0:
            job.working = now
            if job.begun is None:  # no word of its beginning: the time so far was its start
                self._startups.append(now - job.started)
        else:  # still preparing (f*): not training time
            job.lead = now - self._origin(job)

    def _queue_pace(self) -> float:
        """How much longer than the cost model's estimates the queue counts runs: the share of
        a core the workers get now (:class:`lrcore.train.shares.Shares`), with what the
        measured jobs (:meth:`pace`) needed at the shares they got: their paces times their
        shares (those that said their share), over the share of now (1 before any is
        measured), within :data:`QUEUE_PACE`; :meth:`pace` when no share is known.

        A class's first queues showed ~2-7 s for waits of 11-18 s: 30 pages loading at once
        left the niced workers a fraction of the 2 cores, and no run had progressed far enough
        to tell. A pace measured before the class (a teacher's run on an idle host) would have
        kept that idle pace through the class's burst, and one measured in the burst would
        have stayed after it. (The Train page's Estimate keeps :meth:`pace`: a share of the
        moment is for the next seconds, not for a whole run.)"""
        now, measured = self._shares.now(), self._measured()
        known = [p * share for p, share in measured if share is not None]
        if now is None or (measured and not known):  # no share to count with: as measured
            return self.pace()
        cpu = statistics.median(known) if known else 1.0
        low, high = QUEUE_PACE
        return min(high, max(low, cpu / max(now, 1e-9)))

    def _waits(self) -> dict[int, float]:
        """Estimated start of each queued job: the running jobs' remaining seconds fill the
        slots, then each queued job takes the slot that frees first (FIFO). Every estimate is
        scaled by :meth:`_queue_pace`."""
        now, slots, pace, startup = self.clock(), [], self._queue_pace(), self.startup()
        for job in self._running.values():
            run = job.estimate * pace
            if job.begun is None and job.working is None:  # its worker not ready yet
                slots.append(run + max(0.0, startup - (now - (job.started or now))))
                continue
            if job.working is None:  # preparing (its data, f*): all of its run still ahead
                slots.append(run)
                continue
            elapsed, share = now - self._origin(job), job.progress.get("share", 0.0)
            trained = max(0.0, elapsed - job.lead)
            if share >= MEASURED_SHARE:
                # the cost model's estimate, or the progress so far extrapolated when longer (a
                # slower machine; the share does not foresee lr-grid extensions: never below)
                slots.append(max(max(0.0, run - trained), trained * (1 - share) / share))
            else:  # training just began: its run, less the training done
                slots.append(max(0.0, run - trained))
        slots += [0.0] * (max(self.workers, 1) - len(slots))
        heapq.heapify(slots)
        waits = {}
        for job in self._queue:
            start = heapq.heappop(slots)
            waits[job.id] = start
            heapq.heappush(slots, start + job.estimate * pace)
        return waits

    def _cancel(self, job: _Job) -> None:
        if job in self._queue:
            self._queue.remove(job)
            job.state = CANCELLED
            log.info("job %d: cancelled while queued (never started)", job.id)
        elif job.id in self._running:
            job.state = CANCELLED  # inline jobs poll this
            self._flag(job.id, True)
            log.info("job %d: cancelled while running", job.id)

    def _flag(self, job_id: int, value: bool | None) -> None:
        """Set (or with None, drop) a running job's stop flag in the workers' shared dict."""
        if self._flags is None:
            return
        try:
            if value is None:
                self._flags.pop(job_id, None)
            else:
                self._flags[job_id] = value
        except (OSError, EOFError):  # the manager is gone (closing): nothing left to stop
            pass

    def _dispatch(self) -> None:
        """Hand queued jobs to the executor while fewer than ``workers`` run."""
        if self.inline:
            return
        while self._queue and len(self._running) < self.workers:
            if self._executor is None:  # may fail (an unreachable Dask scheduler): jobs stay queued
                self._start_executor()
            job = self._queue.pop(0)
            job.state, job.started = RUNNING, self.clock()
            self._running[job.id] = job
            future = self._executor.submit(
                _work, self.fn, job.spec, job.id, *self._channels, os.getpid()
            )
            future.add_done_callback(lambda f, job=job: self._on_done(job, f))
            log.info("job %d: started", job.id)

    def warm(self) -> bool:
        """Start the workers now, each running the pool's ``warm`` (importing what a job
        needs), so that the first runs do not wait for that (the app calls this when the Train
        page opens: a worker's start took 3-10 s, the first jobs' estimates did not know it).
        Only for local worker processes, once; True when it started them."""
        import concurrent.futures

        with self._lock:
            if self.inline or self._warm is None or self._executor is not None:
                return False
            if self._closed.is_set():  # closing: no workers to start
                return False
            try:
                self._start_executor()
            except Exception as e:  # noqa: BLE001 - the first job will try (and say) again
                log.warning("starting the pool's workers: %s", e)
                return False
            if not isinstance(self._executor, concurrent.futures.ProcessPoolExecutor):
                return False  # a Dask cluster's workers are its own
            log.info("starting %d workers", self.workers)
            for _ in range(self.workers):  # no idle worker yet: each call spawns one
                future = self._executor.submit(_warm_worker, self._warm, os.getpid())
                future.add_done_callback(functools.partial(_say_if_failed, closed=self._closed))
            return True

    def _start_executor(self) -> None:
        import multiprocessing
        from multiprocessing.managers import SyncManager

        from lrcore._procs import die_with_parent
        from lrcore.executors import _workers_skip_main

        if self._manager is None:
            with _workers_skip_main():  # the manager's process skips a page's script too
                self._manager = SyncManager(ctx=multiprocessing.get_context("spawn"))
                # it ends with this process (a plain Manager() outlived a SIGKILLed parent)
                self._manager.start(initializer=die_with_parent)
            self._messages, self._flags = self._manager.Queue(), self._manager.dict()
            self._channels = (_portable(self._messages), _portable(self._flags))
            threading.Thread(target=self._pump, daemon=True).start()
        from lrcore.executors import worker_count

        self._context = self._factory(self.workers)
        self._executor = self._context.__enter__()
        if hasattr(self._executor, "_client"):  # a Dask cluster: its threads, not ours
            self.workers = worker_count(self._executor) or self.workers

    def _on_done(self, job: _Job, future) -> None:
        """Settle at once when the lock is free, else on a thread of its own: a Dask client
        calls back on its event loop, which must not wait for the lock while a holder of the
        lock waits for that loop."""
        if self._lock.acquire(blocking=False):
            try:
                self._done(job, future)
            finally:
                self._lock.release()
        else:
            threading.Thread(target=self._done, args=(job, future), daemon=True).start()

    def _done(self, job: _Job, future) -> None:
        try:
            result, error = future.result(), None
        except BaseException as e:  # a failed job, or a broken worker
            result, error = None, e
            if type(e).__name__ in ("BrokenProcessPool", "BrokenExecutor"):
                with self._lock:
                    self._executor = None  # a fresh one for the next job
        self._settle(job, result, error)
        with self._lock:
            self._dispatch()

    def _settle(self, job: _Job, result, error: BaseException | None = None) -> None:
        with self._lock:
            self._running.pop(job.id, None)
            self._flag(job.id, None)
            if error is not None:  # an exception; BaseException: the page's own rerun
                job.state = FAILED if isinstance(error, Exception) else CANCELLED
                job.error = (
                    str(error)
                    if isinstance(error, ValueError)
                    else f"{type(error).__name__}: {error}"
                )
            elif result is None or result.get("cancelled"):
                job.state = CANCELLED
            else:  # complete (even if cancelled after its last step): cached for everyone
                self._cache[job.key] = result
                if job.estimate > 0 and job.started is not None and job.state != CANCELLED:
                    took = self.clock() - self._origin(job) - job.lead  # see pace
                    self._paces.append((took / job.estimate, job.share))
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
                job.state, job.result = (
                    (CANCELLED, None) if job.state == CANCELLED else (DONE, result)
                )
            if job.started is not None:  # what the queue's estimates can be checked against
                now = self.clock()
                log.info(
                    "job %d: %s after %.1f s (worker ready after %s, lead-in %.1f s, training %s; "
                    "estimated %.1f s)",
                    job.id,
                    job.state,
                    now - job.started,
                    "-" if job.begun is None else f"{job.begun - job.started:.1f} s",
                    (job.working or now) - self._origin(job),
                    "-" if job.working is None else f"{now - job.working:.1f} s",
                    job.estimate,
                )
            else:
                log.info("job %d: %s", job.id, job.state)
            if job.watchers:
                self._finished[job.id] = job

    def _pump(self) -> None:
        """Progress messages from the workers into their jobs."""
        while not self._closed.is_set():
            try:
                job_id, msg = self._messages.get(timeout=0.5)
            except Exception:  # empty, or the manager shut down
                continue
            with self._lock:
                if job_id in self._running:
                    if msg.get(BEGUN):
                        self._begun(self._running[job_id])
                        continue
                    if CPU_SHARE in msg:
                        self._shares.add(msg[CPU_SHARE])
                        if self._running[job_id].working is not None:
                            self._running[job_id].shares.append(float(msg[CPU_SHARE]))
                        continue
                    self._working(self._running[job_id], msg)
                    self._running[job_id].progress = msg

    def _reaper(self, every: float) -> None:
        while not self._closed.wait(every):
            self.reap()
