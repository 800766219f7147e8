"""Where lrcore's runs execute when they leave the calling process: a bounded pool of local
worker processes, or an existing Dask distributed cluster (when one host is not enough).

One function makes the executor every pool of lrcore uses (``lrcore study --jobs``,
``lrcore study / compare --dask``, the app's worker pool): :func:`get_executor`. Either way
the work units are plain functions of picklable arguments, and every run uses one CPU
thread, so the numbers do not depend on where they ran.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager

from lrcore._extras import missing_extra
from lrcore._procs import die_with_parent

SCHEDULER_ENV = "LRCORE_DASK_SCHEDULER"  # the Dask scheduler's address, when no option gives one
CONNECT_TIMEOUT_S = 6  # a scheduler that does not answer in this time is refused (20 s made an
# unreachable address take 23 s to refuse; issue 27 bounds a refusal at 10 s)


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The Dask scheduler to send work to: ``scheduler``, else the ``LRCORE_DASK_SCHEDULER``
    environment variable, else None (local processes). Blank strings count as not given.

    >>> scheduler_address("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    >>> scheduler_address("  ") == scheduler_address(None)  # a blank option: the variable's
    True
    """
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError(
            f"get_executor: scheduler must be an address string such as "
            f"'tcp://HOST:8786' or None, got {scheduler!r}"
        )
    for value in (scheduler, os.environ.get(SCHEDULER_ENV)):
        if value is not None and value.strip():
            return value.strip()
    return None


@contextmanager
def get_executor(
    workers: int | None = None, scheduler: str | None = None, *, local: bool = False
) -> Iterator[Executor]:
    """A ``concurrent.futures.Executor`` for lrcore's work, as a context manager.

    ``local=True``: this host's processes whatever ``scheduler`` and the environment say
    (work whose functions live outside lrcore, which a cluster's workers cannot import).

    - ``scheduler`` (or, when it is None, the environment variable ``LRCORE_DASK_SCHEDULER``)
      is the address of a running Dask scheduler (``tcp://HOST:8786``): the executor is
      ``distributed.Client(address).get_executor()``, and work goes to that cluster's
      workers, which need lrcore installed at this version with the ``train`` extra
      (checked on entry against the workers connected then). ``workers`` is then ignored:
      the cluster's workers and threads decide how many tasks run at once. Needs the
      ``dask`` extra (``pip install 'lrcore[dask]'``).
    - Otherwise a local ``ProcessPoolExecutor`` of ``workers`` processes (None: the host's
      cores), started with the ``spawn`` method (no forked copies of a threaded parent such
      as Streamlit), each ending when its parent ends (``lrcore._procs.die_with_parent``).
      The workers start without the parent's ``__main__`` script (a Streamlit page or a
      notebook is not re-run in them).

    Submitted functions must be importable module-level functions of picklable arguments.
    Leaving the block waits for submitted work; leaving it by an exception cancels what has
    not started.

    >>> from operator import add
    >>> with get_executor(1) as ex:  # doctest: +SKIP
    ...     ex.submit(add, 2, 3).result()
    5
    >>> with get_executor(0):
    ...     pass
    Traceback (most recent call last):
    ...
    ValueError: get_executor: workers must be an integer >= 1 or None, got 0
    """
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"get_executor: workers must be an integer >= 1 or None, got {workers!r}")
    address = None if local else scheduler_address(scheduler)
    if address is not None:
        with _dask_executor(address) as ex:
            yield ex
        return
    pool = _SpawnPool(workers or os.cpu_count() or 1)
    try:
        yield pool
    except BaseException:
        # an error or Ctrl-C: the workers stop now, not when their runs end (SIGINT sent to
        # this process alone left 3 workers training for 13.6 s after "interrupted")
        pool.terminate_workers()
        raise
    pool.shutdown(wait=True)


@contextmanager
def _dask_executor(address: str) -> Iterator[Executor]:
    try:
        import distributed
    except ImportError as e:
        raise missing_extra("a Dask scheduler (--dask, " + SCHEDULER_ENV + ")", "dask", e) from e
    try:
        client = distributed.Client(address, set_as_default=False, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as e:
        raise ValueError(
            f"get_executor: no Dask scheduler answered at {address!r} "
            f"(from --dask or {SCHEDULER_ENV}): {e}"
        ) from e
    try:
        _check_versions(client, address)
        ex = client.get_executor(pure=False)  # two equal submits are two tasks, as locally
        try:
            yield ex
        except BaseException:
            ex.shutdown(wait=False)  # cancels the tasks (running ones are released)
            raise
        ex.shutdown(wait=True)
    finally:
        client.close()


def _lrcore_version() -> str:
    import lrcore

    return lrcore.__version__


def _check_versions(client, address: str) -> None:
    """Refuse a cluster whose workers run another lrcore (or none): their numbers could differ."""
    import lrcore

    try:
        seen = client.run(_lrcore_version, on_error="return")
    except TypeError:  # distributed < 2023.2: no on_error
        seen = client.run(_lrcore_version)
    bad = {w: v for w, v in seen.items() if v != lrcore.__version__}
    if bad:
        worker, got = next(iter(bad.items()))
        got = got if isinstance(got, str) else f"no lrcore ({type(got).__name__}: {got})"
        raise ValueError(
            f"get_executor: the Dask workers at {address!r} must run lrcore "
            f"{lrcore.__version__} with the 'train' extra; {len(bad)} of {len(seen)} do not "
            f"({worker}: {got})"
        )


def worker_count(executor: Executor) -> int | None:
    """How many tasks ``executor`` (one of :func:`get_executor`'s) runs at once: the local
    pool's processes, or the Dask cluster's worker threads now; None when it cannot say.

    >>> worker_count(object()) is None
    True
    """
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    if client is not None:
        try:
            return sum(client.nthreads().values())
        except (OSError, TimeoutError):
            return None
    n = getattr(executor, "_max_workers", None)  # ProcessPoolExecutor
    return n if isinstance(n, int) else None


_MAIN_LOCK = threading.RLock()  # one thread at a time hides (and restores) __main__'s file
_SKIPPING = threading.local()  # .depth > 0: this thread's spawns start without a __main__


def _preparation_data(name):
    """``multiprocessing.spawn.get_preparation_data`` without the parent's ``__main__`` in a
    thread inside :func:`_workers_skip_main` (installed by it, in place of the original)."""
    data = _ORIGINAL_PREPARATION(name)
    if getattr(_SKIPPING, "depth", 0):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


_ORIGINAL_PREPARATION = None


def _install_preparation() -> None:
    global _ORIGINAL_PREPARATION  # noqa: PLW0603
    import multiprocessing.spawn as spawn

    with _MAIN_LOCK:
        if spawn.get_preparation_data is not _preparation_data:
            _ORIGINAL_PREPARATION = spawn.get_preparation_data
            spawn.get_preparation_data = _preparation_data


class _SpawnPool(ProcessPoolExecutor):
    """A spawn ``ProcessPoolExecutor`` whose workers die with their parent and start without
    the parent's ``__main__`` script (see :func:`_workers_skip_main`); they start on the first
    submit, so every submit hides the script."""

    def __init__(self, workers: int):
        import multiprocessing as mp

        # the resource tracker starts here: killed with its parent (SIGTERM, SIGKILL) it
        # printed a UserWarning about leaked semaphores with its source line
        quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
        before = os.environ.get("PYTHONWARNINGS")
        os.environ["PYTHONWARNINGS"] = f"{before},{quiet}" if before else quiet
        try:
            super().__init__(
                workers, mp_context=mp.get_context("spawn"), initializer=die_with_parent
            )
        finally:
            if before is None:
                os.environ.pop("PYTHONWARNINGS", None)
            else:
                os.environ["PYTHONWARNINGS"] = before

    def submit(self, fn, /, *args, **kwargs):
        with _workers_skip_main():
            return super().submit(fn, *args, **kwargs)

    def terminate_workers(self) -> None:
        """Cancel what is queued and end the worker processes at once (SIGTERM)."""
        procs = list((getattr(self, "_processes", None) or {}).values())
        manager = getattr(self, "_executor_manager_thread", None)
        self.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.terminate()
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.join(5)
        # its thread holds the queues (and their semaphores) until it has seen the workers go:
        # a server stopped by a signal right after this ended with them, and Python's
        # resource tracker warned of 5 leaked semaphores (tests/test_shutdown.py)
        if manager is not None:
            manager.join(5)


@contextmanager
def _workers_skip_main():
    """Spawned workers re-run the parent's ``__main__`` script before they start, unless it
    has no ``__file__``. Under Streamlit (AppTest included) or a notebook that script is not
    the caller's: a page's main.py would run in every worker and break it. The workers need
    only the submitted functions, which they import from lrcore's modules, so:

    - a process this thread spawns gets no ``__main__`` to run (:func:`_preparation_data`).
      Hiding the module's file alone was not enough: Streamlit puts each script run's own
      ``__main__`` in ``sys.modules`` as it starts, so with 10 students at once a worker
      started while another session's run began, ran main.py, died, and broke the pool
      ("BrokenProcessPool", benchmarks/bench_classroom.py);
    - ``__main__``'s file is also hidden meanwhile, for processes that other threads start
      on this thread's behalf (a Dask nanny's workers)."""
    _install_preparation()
    _SKIPPING.depth = getattr(_SKIPPING, "depth", 0) + 1
    try:
        with _MAIN_LOCK:
            main = sys.modules.get("__main__")
            if main is None:
                yield
                return
            saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
            try:
                yield
            finally:
                main.__dict__.pop("__spec__", None)
                main.__dict__.update(saved)
    finally:
        _SKIPPING.depth -= 1
