"""Stand-ins for the worker pool's tests (tests/test_pool.py) and the app's pages that use it
(tests/test_app_train.py, tests/test_app_demo.py): a clock the test moves, and an executor
that holds each submitted job until the test finishes it."""

from concurrent.futures import Future

from lrcore.train.pool import BEGUN


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeExecutor:
    """Holds every submitted job until the test finishes it."""

    def __init__(self):
        self.jobs: list[tuple[Future, tuple]] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        future = Future()
        future.set_running_or_notify_cancel()
        self.jobs.append((future, args))
        return future

    def specs(self) -> list:
        return [args[1] for _, args in self.jobs]

    def finish(self, spec, result=None) -> None:
        future, _ = next(j for j in self.jobs if j[1][1] == spec and not j[0].done())
        future.set_result({"value": spec} if result is None else result)

    def flag(self, spec) -> bool:
        """The stop flag the worker of ``spec`` would read."""
        _, (_fn, _spec, job_id, _messages, flags, _home) = next(
            j for j in self.jobs if j[1][1] == spec
        )
        return bool(flags().get(job_id, False))

    def report(self, spec, msg: dict) -> None:
        """A progress message from ``spec``'s worker (through the pool's real channel)."""
        _, (_fn, _spec, job_id, messages, _flags, _home) = next(
            j for j in self.jobs if j[1][1] == spec
        )
        messages().put((job_id, msg))

    def begin(self, spec) -> None:
        """``spec``'s worker begins it (what ``_work`` says first)."""
        self.report(spec, {BEGUN: True})
