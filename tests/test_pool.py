"""The app's worker pool (lrcore.train.pool) and its job (lrcore.train.job): queue positions
and waits, identical jobs computed once, cancelling queued and running jobs, the per-session
limit, the reaper (a fake clock), and the same numbers from a worker process as in-thread."""

import os
import sys
import time
import types

import numpy as np
import pandas as pd
import pytest
from _pool_fakes import FakeClock, FakeExecutor

import lrcore
from lrcore.train import RunConfig
from lrcore.train import pool as pool_module
from lrcore.train.job import JobSpec, job_key, train_job
from lrcore.train.pool import BEGUN, DONE, QUEUED, RUNNING, Pool, SessionLimit
from lrcore.train.shares import CPU_SHARE, SHARE_STALE, SHARE_WINDOW, SHARES_NEEDED


def never(spec, on_progress, should_stop):  # FakeExecutor never calls it
    raise AssertionError("not run")


@pytest.fixture
def fake():
    ex, clock = FakeExecutor(), FakeClock()
    pools = []

    def make(workers=1, **kw):
        pool = Pool(
            workers,
            fn=never,
            key=repr,
            clock=clock,
            executor_factory=lambda n: ex,
            reaper_every=None,
            **kw,
        )
        pools.append(pool)
        return pool

    yield make, ex, clock
    for pool in pools:
        pool.close()


def only(pool, session):
    (status,) = pool.poll(session)
    return status


def test_queue_positions_and_the_wait_from_the_estimates(fake):
    make, ex, clock = fake
    pool = make(1)
    a = pool.submit("s1", "A", 10.0)
    assert pool.submit("s2", "B", 20.0).position == 1
    pool.submit("s3", "C", 30.0)
    b, c = only(pool, "s2"), only(pool, "s3")
    assert (a.state, a.position) == (RUNNING, 0)
    assert (b.state, b.position, b.queued, b.wait) == (QUEUED, 1, 2, 10.0)
    assert (c.position, c.queued, c.wait) == (2, 2, 30.0)  # A's 10 s, then B's 20 s
    clock.t += 4
    # no progress message from A yet (its worker starting): all of A's 10 s are still ahead
    assert only(pool, "s2").wait == 10.0
    ex.report("A", {"share": 0.2})  # 4 s for a fifth: 16 s left, more than the estimate's 6
    deadline = time.time() + 10
    while only(pool, "s2").wait != 16.0 and time.time() < deadline:
        time.sleep(0.05)
    assert only(pool, "s2").wait == pytest.approx(16.0)
    ex.finish("A")
    assert ex.specs() == ["A", "B"]
    assert (only(pool, "s3").position, only(pool, "s3").queued) == (1, 1)
    # two workers: the queued job waits for the slot that frees first
    two = make(2)
    for s, spec, est in (("t1", "P", 50.0), ("t2", "Q", 8.0), ("t3", "R", 1.0)):
        two.submit(s, spec, est)
    assert only(two, "t3").wait == 8.0


def test_identical_jobs_are_computed_once_and_a_changed_setting_is_a_new_job(fake):
    make, ex, _ = fake
    pool = make(1)
    first, second = pool.submit("s1", "A", 5.0), pool.submit("s2", "A", 5.0)
    assert first.job_id == second.job_id and second.watchers == 2
    other = pool.submit("s3", "A2", 5.0)
    assert other.position == 1  # a changed setting: its own job, queued
    joined = pool.submit("s4", "A2", 5.0)
    assert (joined.job_id, joined.position) == (other.job_id, 1)  # its position is the job's
    ex.finish("A", {"value": 42})
    for session in ("s1", "s2"):
        status = only(pool, session)
        assert (status.state, status.result) == (DONE, {"value": 42})
    assert pool.poll("s1") == []  # delivered once
    cached = pool.submit("s5", "A", 5.0)
    assert (cached.state, cached.result, cached.watchers) == (DONE, {"value": 42}, 0)
    assert ex.specs() == ["A", "A2"]  # A ran once for three sessions


def test_the_cache_keeps_the_latest_results(fake):
    make, ex, _ = fake
    pool = make(1, cache_size=2)
    for spec in ("A", "B", "C"):
        pool.submit("s", spec)
        ex.finish(spec)
        pool.poll("s")
    assert pool.submit("s", "C").state == DONE
    assert pool.submit("s", "A").state == RUNNING  # the oldest was dropped: computed again
    assert ex.specs() == ["A", "B", "C", "A"]


def test_cancelling_a_queued_job_removes_it_and_it_never_starts(fake):
    make, ex, _ = fake
    pool = make(1)
    pool.submit("s1", "A")
    pool.submit("s2", "B")
    pool.submit("s3", "C")
    pool.cancel("s2")
    assert pool.poll("s2") == []
    assert only(pool, "s3").position == 1
    ex.finish("A")
    assert ex.specs() == ["A", "C"]  # B never reached the executor


def test_close_all_closes_every_open_pool_once(fake, monkeypatch):
    """The server's shutdown (app/serve.py): every pool's jobs cancelled, each pool once."""
    import weakref

    monkeypatch.setattr(pool_module, "_OPEN", weakref.WeakSet())  # this test's pools only
    make, ex, _ = fake
    first, second = make(1), make(1)
    first.submit("s1", "A")
    first.submit("s2", "B")  # queued behind A
    assert set(pool_module._OPEN) == {first, second}
    assert pool_module.close_all() == 2
    assert first._closed.is_set() and second._closed.is_set()
    assert ex.specs() == ["A"]  # the queued job never reached the executor
    assert first.poll("s1") == [] and first.poll("s2") == []  # cancelled, not running/queued
    assert pool_module.close_all() == 0


def test_cancelling_a_running_job_sets_its_flag_and_a_shared_one_only_detaches(fake):
    make, ex, _ = fake
    pool = make(1)
    pool.submit("s1", "A")
    pool.submit("s2", "A")
    pool.submit("s3", "B")
    pool.cancel("s1")
    assert not ex.flag("A") and only(pool, "s2").state == RUNNING  # s2 still watches it
    pool.cancel("s2")
    assert ex.flag("A")  # the last watcher left: the worker stops at its next step
    assert pool.poll("s2") == []
    assert only(pool, "s3").position == 1  # the worker is busy until A's step ends
    ex.finish("A", {"cancelled": True})
    assert only(pool, "s3").state == RUNNING
    assert pool.submit("s6", "A").state == QUEUED  # a cancelled job is not cached


def test_a_session_gets_one_active_job(fake):
    make, _, _ = fake
    pool = make(1)
    first = pool.submit("s1", "A")
    assert pool.submit("s1", "A").job_id == first.job_id  # pressing Start again: the same job
    with pytest.raises(SessionLimit, match=r"1 run going \(at most 1 at a time per session\)"):
        pool.submit("s1", "B")
    pool.cancel("s1")
    assert pool.submit("s1", "B").state == QUEUED  # after Stop, a new one
    two = make(1, session_runs=2)
    two.submit("s1", "A")
    two.submit("s1", "B")
    with pytest.raises(SessionLimit, match="at most 2"):
        two.submit("s1", "C")


def test_the_reaper_cancels_jobs_whose_watchers_are_all_silent(fake):
    make, ex, clock = fake
    alive = {"tab-open"}
    pool = make(1, stale_after=15.0, alive=alive.__contains__)
    pool.submit("gone", "A")
    pool.submit("gone", "A")
    pool.submit("other", "B")
    pool.submit("tab-open", "C")
    clock.t += 10
    pool.heartbeat("other")
    clock.t += 6  # "gone" silent for 16 s, "other" for 6 s, "tab-open" for 16 s but connected
    assert pool.reap() == [1]
    assert ex.flag("A")
    assert pool.poll("other")[0].position == 1 and pool.poll("tab-open")[0].position == 2
    clock.t += 16  # now "other" too (its polls above were its last heartbeat)
    assert pool.reap() == [2]
    ex.finish("A", {"cancelled": True})
    assert ex.specs() == ["A", "C"]  # B, reaped while queued, never started
    ex.finish("C")  # "tab-open" is on another page: its result waits for it
    clock.t += 100
    assert pool.reap() == [] and only(pool, "tab-open").state == DONE
    pool.submit("left", "D")
    ex.finish("D")
    clock.t += 16
    pool.reap()  # "left" closed its tab before collecting D: forgotten, D stays cached
    assert pool._finished == {} and pool.submit("x", "D").state == DONE


def test_an_executor_that_cannot_start_is_an_error_and_queues_nothing():
    def broken(workers):
        raise ValueError("get_executor: no Dask scheduler answered at 'tcp://nowhere:1'")

    pool = Pool(1, fn=never, key=repr, executor_factory=broken, reaper_every=None)
    with pytest.raises(ValueError, match="no Dask scheduler answered"):
        pool.submit("s1", "A")
    assert pool.poll("s1") == []
    with pytest.raises(ValueError, match="no Dask scheduler answered"):
        pool.submit("s1", "B")  # not refused as a second run: the first was never queued
    pool.close()


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("LRCORE_WORKERS", "3")
    monkeypatch.setenv("LRCORE_SESSION_RUNS", "2")
    pool = Pool.from_env(reaper_every=None)
    assert (pool.workers, pool.session_runs, pool.inline) == (3, 2, False)
    monkeypatch.setenv("LRCORE_WORKERS", "0")
    assert Pool.from_env(reaper_every=None).inline
    monkeypatch.setenv("LRCORE_WORKERS", "two")
    with pytest.raises(
        ValueError, match=r"environment variable LRCORE_WORKERS must be an integer >= 0, got 'two'"
    ):
        Pool.from_env()
    with pytest.raises(ValueError, match="LRCORE_WORKERS must be an integer >= 0, got 'two'"):
        pool_module.env_workers()  # what See it work's pool reads: the same rule, same words
    monkeypatch.delenv("LRCORE_WORKERS")
    assert pool_module.env_workers() is None  # the host's cores
    monkeypatch.setenv("LRCORE_WORKERS", "1")
    monkeypatch.setenv("LRCORE_SESSION_RUNS", "0")
    with pytest.raises(ValueError, match="LRCORE_SESSION_RUNS must be an integer >= 1, got '0'"):
        Pool.from_env()
    with pytest.raises(ValueError, match="Pool: workers must be an integer >= 0, got -1"):
        Pool(-1)


# ---------------------------------------------------------------- the job itself
def tiny(steps: int = 30, **kw) -> JobSpec:
    cfg = RunConfig.for_task("logreg", steps=steps, eval_every=5)
    return JobSpec(cfg, (("linear", "linear"),), (0.5, 1.0), (0, 1), True, **kw)


def page_path(spec: JobSpec) -> dict:
    """What app/train_run.py's run() computed in the page's thread before the pool."""
    from lrcore.train import compare
    from lrcore.train.experiments import refine_from_runs, table_from_runs

    seeds, schedules = list(spec.seeds), dict(spec.schedules)
    table, runs = compare(
        spec.cfg, schedules, seeds=seeds, peak_lrs=list(spec.peaks), return_runs=True
    )
    lin = table[(table.schedule == "linear") & table.best]
    shape, _ = refine_from_runs([runs[("linear", float(lin.peak_lr.iloc[0]), s)] for s in seeds])
    _, more = compare(
        spec.cfg,
        {"refined": tuple(shape)},
        seeds=seeds,
        peak_lrs=list(spec.peaks),
        return_runs=True,
    )
    runs = {**runs, **more}
    return {"table": table_from_runs(runs, [*schedules, "refined"]), "runs": runs}


def test_the_key_names_the_code_version_and_every_setting(monkeypatch):
    spec = tiny()
    assert job_key(spec) == job_key(tiny())
    assert job_key(spec) != job_key(tiny(steps=31))
    assert job_key(spec) != job_key(JobSpec(spec.cfg, spec.schedules, spec.peaks, (0, 2), True))
    before = job_key(spec)
    monkeypatch.setattr(lrcore, "__version__", "9.9")
    assert job_key(spec) != before


def test_a_stopped_job_ends_at_its_next_step():
    calls, messages = [0], []

    def should_stop():
        calls[0] += 1
        return calls[0] > 5

    t0 = time.perf_counter()
    out = train_job(tiny(steps=5000), messages.append, should_stop)
    assert out == {"cancelled": True}
    assert calls[0] == 6 and time.perf_counter() - t0 < 30
    assert all(m["share"] < 0.01 for m in messages)  # it stopped near the start


def test_the_inline_pool_runs_in_this_thread_with_progress():
    pool = Pool(0, reaper_every=None)
    seen = []
    status = pool.submit("s", tiny())
    assert status.state == QUEUED
    pool.run_inline("s", seen.append)
    (done,) = pool.poll("s")
    assert done.state == DONE and done.result["done"].startswith("Done: ")
    assert seen[-1]["final"] and set(seen[-1]["live"]) == {"linear", "refined"}
    assert pool.submit("t", tiny()).state == DONE  # cached for another session


def slow(spec, on_progress, should_stop):
    """A job that works (busy) until told to stop, reporting progress."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        if should_stop():
            return {"cancelled": True}
        on_progress({"share": 0.1, "final": False, "text": "busy"})
        sum(range(20_000))
    return {"value": "timeout"}


def job(spec, on_progress, should_stop):
    return (
        slow(spec, on_progress, should_stop)
        if spec == "slow"
        else train_job(spec, on_progress, should_stop)
    )


def test_a_worker_process_gives_the_page_thread_numbers_and_stop_frees_it_at_once():
    pool = Pool(1, fn=job, key=repr, reaper_every=None)
    try:
        pool.submit("a", "slow", 60.0)
        spec = tiny()
        queued = pool.submit("b", spec, 10.0)
        assert queued.position == 1
        deadline = time.time() + 120
        while not only(pool, "a").progress and time.time() < deadline:
            time.sleep(0.1)
        assert only(pool, "a").progress["text"] == "busy"
        t0 = time.monotonic()
        pool.cancel("a")
        while only(pool, "b").state == QUEUED and time.monotonic() - t0 < 30:
            time.sleep(0.05)
        freed = time.monotonic() - t0
        assert freed < 5, freed  # the slow job stopped at its next check, the worker took b
        while (status := only(pool, "b")).active and time.time() < deadline:
            time.sleep(0.2)
        assert status.state == DONE, status.error
        ref = page_path(spec)
        pd.testing.assert_frame_equal(status.result["table"], ref["table"])
        assert status.result["runs"].keys() == ref["runs"].keys()
        for k, run in ref["runs"].items():
            got = status.result["runs"][k]
            assert np.array_equal(got.loss, run.loss, equal_nan=True)
            assert np.array_equal(got.grad_norm_l2, run.grad_norm_l2, equal_nan=True)
            assert pd.Series(got.final).equals(pd.Series(run.final))
        assert status.result["failure_tried"] is None and status.result["peaks"] == [0.5, 1.0]
    finally:
        pool.close()


def test_the_pool_on_a_dask_cluster_gives_the_same_numbers_and_stops_a_job():
    """LRCORE_DASK_SCHEDULER's cluster in place of local processes: progress arrives, the
    table equals the in-thread one, and a cancelled job frees its worker."""
    distributed = pytest.importorskip("distributed")  # the 'dask' extra (in 'test')
    from lrcore.executors import _workers_skip_main

    # after an AppTest in this process, __main__ is app/main.py: the nanny's spawned worker
    # would run the page and die ('Nanny failed to start')
    with _workers_skip_main():
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster:
        pool = Pool(1, scheduler=cluster.scheduler_address, reaper_every=None)
        try:
            spec, seen = tiny(), 0
            pool.submit("a", spec, 5.0)
            deadline = time.time() + 180
            while (status := only(pool, "a")).active and time.time() < deadline:
                seen += bool(status.progress)
                time.sleep(0.1)
            assert status.state == DONE, status.error
            assert seen > 0  # progress came back from the Dask worker
            pd.testing.assert_frame_equal(status.result["table"], train_job(spec)["table"])
            pool.submit("b", tiny(steps=50_000), 60.0)
            while not only(pool, "b").progress.get("share") and time.time() < deadline:
                time.sleep(0.1)
            t0 = time.monotonic()
            pool.cancel("b")
            pool.submit("c", tiny(steps=31), 1.0)
            while only(pool, "c").state == QUEUED and time.monotonic() - t0 < 30:
                time.sleep(0.05)
            assert time.monotonic() - t0 < 5
        finally:
            pool.close()


def _niceness(spec, on_progress, should_stop):
    return os.nice(0)


def test_workers_train_below_the_server_s_priority():
    """Page renders first on a small host: a worker process runs its jobs WORKER_NICE below
    the server; the server's own process (an inline pool) is never lowered."""
    import multiprocessing as mp
    import queue
    from concurrent.futures import ProcessPoolExecutor

    from lrcore.executors import _workers_skip_main
    from lrcore.train import pool as pool_mod

    here = os.nice(0)
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        args = (_niceness, None, 1, queue.SimpleQueue, dict, os.getpid())
        with _workers_skip_main():  # after an AppTest, __main__ is app/main.py
            future = ex.submit(pool_mod._work, *args)
        got = future.result(timeout=120)
    assert got == min(here + pool_mod.WORKER_NICE, 19)
    assert pool_mod._work(_niceness, None, 1, queue.SimpleQueue, dict, os.getpid()) == here


def test_a_worker_started_while_another_script_run_takes_main_does_not_run_it(tmp_path):
    """Streamlit puts each script run's own ``__main__`` (app/main.py) in sys.modules as the
    run starts. A worker spawned just then used to re-run that script at start-up, die and
    break the pool ('BrokenProcessPool' for 2 of 10 students in bench_classroom.py). Here
    the swap happens inside _workers_skip_main, as another session's run would do it."""
    import multiprocessing
    import os
    import sys
    import types

    from lrcore.executors import _workers_skip_main

    marker = tmp_path / "ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n")
    page = types.ModuleType("__main__")
    page.__file__, page.__spec__ = str(script), None
    real = sys.modules["__main__"]

    def spawn_with_page_as_main() -> int | None:
        """A spawned process started while ``page`` is __main__; its exit code."""
        sys.modules["__main__"] = page
        try:
            proc = multiprocessing.get_context("spawn").Process(target=os.getpid)
            proc.start()
            proc.join(60)
            return proc.exitcode
        finally:
            sys.modules["__main__"] = real

    with _workers_skip_main():
        code = spawn_with_page_as_main()  # another session's script run begins
    assert code == 0 and not marker.exists()
    # outside the context manager the standard behaviour holds: the script does run
    code = spawn_with_page_as_main()
    assert marker.exists() and code != 0


def test_a_local_executor_ignores_the_dask_scheduler_variable(monkeypatch):
    """See it work's pool runs the app's own job module, which a cluster's workers cannot
    import: get_executor(local=True) stays on this host where LRCORE_DASK_SCHEDULER is set
    (without it, an unreachable address would be tried and refused)."""
    import operator
    from concurrent.futures import ProcessPoolExecutor

    from lrcore.executors import get_executor, scheduler_address

    monkeypatch.setenv("LRCORE_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    assert scheduler_address(None) == "tcp://127.0.0.1:9"  # what local=True overrides
    with get_executor(1, local=True) as ex:
        assert isinstance(ex, ProcessPoolExecutor)
        assert ex.submit(operator.add, 2, 3).result() == 5


def test_the_queue_s_waits_follow_how_long_finished_jobs_really_took():
    """The cost model's speed is measured once, maybe while the host is busy: a job estimated
    at 10 s that took 30 s makes the queue count the next ones at 30 s each (a class saw
    "~1 min 34 s" for waits of 27 s at most, with the factor the other way round)."""
    now = [0.0]

    def job(spec, on_progress, should_stop):
        now[0] += spec["takes"]
        return {"took": spec["takes"]}

    pool = Pool(0, fn=job, key=repr, clock=lambda: now[0], reaper_every=None)
    assert pool.pace() == 1.0
    pool.submit("a", {"takes": 10.0, "n": 0}, 10.0)
    pool.submit("b", {"takes": 5.0, "n": 1}, 10.0)
    assert only(pool, "b").wait == 10.0  # behind a's estimate, as estimated
    pool.run_inline("a")
    pool.submit("c", {"takes": 5.0, "n": 2}, 10.0)
    assert only(pool, "c").wait == 10.0  # a took what was estimated: pace 1
    pool.run_inline("b")  # 5 s for 10 estimated
    assert pool.pace() == 0.75  # the median of 1.0 and 0.5
    pool.submit("d", {"takes": 1.0, "n": 3}, 100.0)
    assert only(pool, "d").wait == 7.5  # behind c: 10 s estimated x 0.75
    for _ in range(9):  # far slower than estimated: the factor stops at 5
        pool.submit("e", {"takes": 1000.0, "n": now[0]}, 1.0)
        pool.run_inline("e")
        pool.poll("e")
    assert pool.pace() == 5.0


def test_before_any_job_finished_the_waits_follow_the_running_jobs_progress(fake):
    """A class's first queue said "~2 s" for runs that started 24 s later: nothing had
    finished to correct the cost model, whose speed was measured on an idle host. The running
    jobs' progress corrects it (their time over their share done), and a job without progress
    yet (its worker starting) still has its whole run ahead, plus what is left of the
    workers' usual start."""
    make, ex, clock = fake
    pool = make(1)
    pool.submit("s1", "A", 10.0)
    pool.submit("s2", "B", 10.0)
    pool.submit("s3", "C", 10.0)
    assert pool.pace() == 1.0 and only(pool, "s2").wait == 10.0
    assert only(pool, "s2").guessed  # nothing measured yet: the page says it is a guess
    clock.t += 2
    ex.report("A", {"share": 0.0, "phase": "optimum"})  # solving f*: no training done yet
    time.sleep(1.0)  # the pool's pump thread has read it
    assert only(pool, "s2").wait == 10.0  # A's whole run is still ahead (not 10 - 2)
    clock.t += 3
    ex.report("A", {"share": 0.1})  # a tenth: too little to tell a pace (MEASURED_SHARE)
    settle(lambda: pool._running[1].progress.get("share") == 0.1)
    assert pool.pace() == 1.0 and only(pool, "s2").guessed
    assert only(pool, "s2").wait == 7.0  # its 10 s, less the 3 s trained
    ex.report("A", {"share": 0.2})  # 3 s of training for a fifth, after 2 s of lead-in
    settle(lambda: only(pool, "s2").wait == pytest.approx(12.0))
    # A trains 3 / 0.2 = 15 s: the runs take 1.5x their estimate here (its 2 s of lead-in,
    # data and f* that a worker caches for the next jobs, are not counted in the pace)
    assert pool.pace() == pytest.approx(1.5) and not only(pool, "s2").guessed
    assert only(pool, "s2").wait == pytest.approx(12.0)  # 12 s of its training left
    assert only(pool, "s3").wait == pytest.approx(27.0)  # then B's 10 s x 1.5
    clock.t += 5
    ex.finish("A")  # 8 s of training (10 s, less 2 of lead-in) for 10 estimated: pace 0.8
    clock.t += 1  # B handed over 1 s ago, not training yet; A took 5 s to start training
    assert pool.pace() == pytest.approx(0.8)
    assert only(pool, "s3").wait == pytest.approx(12.0)  # B's 8 s + the 4 s left of a start


def test_before_any_job_started_the_waits_count_the_measured_start(fake):
    """A class's first queue said "~2 s" for runs that started 10-14 s later; the first jobs
    waited for their workers to start, which the pool had never seen. The app's measured
    start (``startup_guess``) is counted until the pool has measured its own."""
    make, ex, clock = fake
    guess = [None]
    pool = make(1, startup_guess=lambda: guess[0])
    pool.submit("s1", "A", 10.0)
    pool.submit("s2", "B", 10.0)
    pool.submit("s3", "C", 10.0)
    assert pool.startup() == 0.0 and only(pool, "s2").wait == 10.0  # no guess yet: as before
    guess[0] = 2.5  # the measurement ended
    assert pool.startup() == 2.5
    guess[0] = 99.0
    assert pool.startup() == 2.5  # known: not asked again (the pool asks under its lock)
    assert only(pool, "s2").wait == 12.5  # A: its start, then its 10 s
    assert only(pool, "s3").wait == 22.5
    clock.t += 2
    assert only(pool, "s2").wait == 10.5 and only(pool, "s2").guessed  # 0.5 s of start left
    clock.t += 3  # later than the guess: A's whole run still ahead, no start left
    assert only(pool, "s2").wait == 10.0
    ex.report("A", {"share": 0.0, "phase": "optimum"})
    clock.t += 1
    ex.report("A", {"share": 0.1})  # training began: the measured starts now rule
    deadline = time.time() + 10
    while pool.startup() != 6.0 and time.time() < deadline:
        time.sleep(0.05)
    assert pool.startup() == 6.0  # A's, not the guess


def settle(condition, seconds: float = 10.0) -> None:
    """Wait for the pool's pump thread to have read the messages ``condition`` needs."""
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.02)
    assert condition()


def test_a_cold_worker_s_start_is_kept_apart_from_the_job_s_own_time(fake):
    """A review found the first job's cold start counted twice: in the pace (its whole time
    over its estimate) and again as every later job's start, and a wait of 0 s while the job
    ahead had just begun training. The worker says when it begins a job: the time before is
    the worker's start (:meth:`Pool.startup`), the time after is the job's."""
    make, ex, clock = fake
    pool = make(1, startup_guess=lambda: 0.6)
    for session, spec in (("s1", "A"), ("s2", "B"), ("s3", "C")):
        pool.submit(session, spec, 2.0)
    assert only(pool, "s2").wait == pytest.approx(2.6)  # A: the guessed start, then its 2 s
    clock.t += 3
    ex.begin("A")  # its worker was cold: 3 s to start and import
    settle(lambda: pool.startup() == 3.0)
    assert only(pool, "s2").wait == 2.0  # A's whole run ahead, its start behind it
    clock.t += 5
    ex.report("A", {"share": 0.0, "phase": "optimum"})
    ex.report("A", {"share": 0.01})  # training just began, after 5 s of f*
    settle(lambda: pool._running[1].working is not None)
    assert only(pool, "s2").wait == 2.0  # not 0: its training is still ahead
    clock.t += 1
    assert only(pool, "s2").wait == 1.0
    clock.t += 1
    ex.finish("A")
    settle(lambda: 1 not in pool._running)
    # 2 s of training for 2 estimated: pace 1 (not 3.5 with its 5 s of f*, which the worker
    # keeps for the next jobs on the same data, nor 5 with its worker's start too)
    assert pool.pace() == pytest.approx(1.0)
    assert pool.startup() == 3.0
    ex.begin("B")  # a warm worker: at once
    settle(lambda: pool.startup() == pytest.approx(1.5))  # the median of 3 and 0
    # B has begun: no start counted again; its 2 s at the measured pace
    assert only(pool, "s3").wait == pytest.approx(2.0)


def test_warm_starts_every_worker_once_before_any_job():
    pool = Pool(2, fn=job, key=repr, reaper_every=None)
    try:
        assert pool.warm() is True
        procs = pool._executor._processes
        deadline = time.time() + 120
        while len(procs) < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(procs) == 2  # both spawned at once, before any job
        assert pool.warm() is False  # once
        pool.submit("a", tiny(), 10.0)
        while (status := only(pool, "a")).active and time.time() < deadline:
            time.sleep(0.2)
        assert status.state == DONE, status.error
        assert len(pool._executor._processes) == 2  # the job ran in a warmed worker
    finally:
        pool.close()
    inline = Pool(0, fn=job, key=repr, reaper_every=None)
    assert inline.warm() is False and inline._executor is None  # nothing to start


WARM_CHECK = """
import sys
from lrcore.train.config import RunConfig
from lrcore.train.job import JobSpec, train_job, warm

warm()
before = set(sys.modules)
for task in ("logreg", "svm", "cnn", "lm"):
    cfg = RunConfig.for_task(task, steps=4, eval_every=2)
    train_job(JobSpec(cfg, (("linear", "linear"),), (cfg.peak_lr,), (0,), False))
print(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("torch", "scipy", "sklearn")))
"""


def test_warm_imports_what_every_task_imports():
    """A worker's first job imports next to nothing after ``warm``: before, ``warm`` imported
    the experiments alone and a first job still imported 1,135 modules of torch, SciPy and
    scikit-learn (2.4 s idle, 8-9 s in a class's burst). What may remain: the data files'
    packages that ``load_digits`` opens."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", WARM_CHECK], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    late = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - a list of names we printed
    assert len(late) <= 5, late


def test_before_any_progress_the_waits_follow_the_workers_share_of_a_core(fake):
    """A class's first queues showed ~2-7 s for waits of 8-14 s: 30 pages loading at once
    left the niced workers a fraction of the 2 cores, and no run had progressed far enough
    to tell. The workers say what share of a core they get while they run a job."""
    make, ex, clock = fake
    pool = make(1)
    for session, spec in (("s1", "A"), ("s2", "B"), ("s3", "C")):
        pool.submit(session, spec, 10.0)
    ex.begin("A")
    settle(lambda: pool._running[1].begun is not None)
    assert only(pool, "s2").wait == 10.0  # nothing known: the cost model's 10 s
    for _ in range(SHARES_NEEDED - 1):
        ex.report("A", {CPU_SHARE: 0.25})
    settle(lambda: len(pool._shares) == SHARES_NEEDED - 1)
    assert only(pool, "s2").wait == 10.0  # too few to tell (one 0.04 made a guess 5x)
    ex.report("A", {CPU_SHARE: 0.25})
    # a quarter of a core: A's 10 s take 40, then B's
    settle(lambda: only(pool, "s2").wait == pytest.approx(40.0))
    assert only(pool, "s3").wait == pytest.approx(80.0)
    assert only(pool, "s2").guessed  # still a guess, and the Train page's pace is untouched
    assert pool.pace() == 1.0
    assert pool._running[1].progress == {}  # not a progress message
    clock.t += SHARE_WINDOW + 0.1  # none in the window: the last ones still count
    assert only(pool, "s2").wait == pytest.approx(40.0)  # (no drop between two jobs)
    clock.t += SHARE_STALE  # those shares are old now
    assert only(pool, "s2").wait == 10.0
    for share in (1.0, 1.0, 1.0):  # a whole core: never faster than the cost model says
        ex.report("A", {CPU_SHARE: share})
    settle(lambda: len(pool._shares) == SHARES_NEEDED + 3)
    assert only(pool, "s2").wait == 10.0
    for share in (0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01):  # at most 20x (QUEUE_PACE)
        ex.report("A", {CPU_SHARE: share})
    settle(lambda: only(pool, "s2").wait == pytest.approx(200.0))
    ex.report("A", {"share": 0.0, "phase": "optimum"})
    ex.report("A", {"share": 0.01})  # training began
    settle(lambda: pool._running[1].working is not None)
    clock.t += SHARE_WINDOW + 0.1
    # A said no share while it trained: the measured pace alone, not at any share
    ex.report("A", {"share": 0.5})  # 3.1 s of training for half of its 10 s
    settle(lambda: not only(pool, "s2").guessed)
    assert pool.pace() == pytest.approx(0.62)
    assert only(pool, "s2").wait == pytest.approx(3.1)  # 6.2 s of training, 3.1 gone
    assert only(pool, "s3").wait == pytest.approx(9.3)  # then B's 10 s x 0.62


def a_training_b_and_c_queued(make, ex) -> Pool:
    """A pool of one worker: A training (its worker began it), B and C queued; 10 s each."""
    pool = make(1)
    for session, spec in (("s1", "A"), ("s2", "B"), ("s3", "C")):
        pool.submit(session, spec, 10.0)
    ex.begin("A")
    ex.report("A", {"share": 0.01})
    settle(lambda: pool._running[1].working is not None)
    return pool


def test_a_measured_pace_counts_the_shares_its_runs_had(fake):
    """A pace measured on an idle host (a teacher's run before class) would have kept the
    queue at that pace through the class's burst, and one measured in the burst would have
    stayed after it: the queue counts what the measured runs needed at the share of a core
    they had, over the share of now."""
    make, ex, clock = fake
    pool = a_training_b_and_c_queued(make, ex)
    for _ in range(4):
        ex.report("A", {CPU_SHARE: 0.5})  # half a core while it ran
    settle(lambda: len(pool._running[1].shares) == 4)
    clock.t += 20
    ex.finish("A")  # 20 s for 10 estimated, at half a core
    settle(lambda: 1 not in pool._running)
    assert pool.pace() == pytest.approx(2.0)  # the Train page's Estimate: as measured
    ex.begin("B")
    settle(lambda: pool._running[2].begun is not None)
    assert only(pool, "s3").wait == pytest.approx(20.0)  # no share said lately: 10 s x 2
    for _ in range(SHARES_NEEDED):
        ex.report("B", {CPU_SHARE: 1.0})  # a whole core now: 10 s x 2 x 0.5 / 1
    settle(lambda: only(pool, "s3").wait == pytest.approx(10.0))
    for _ in range(2 * SHARES_NEEDED):
        ex.report("B", {CPU_SHARE: 0.125})  # an eighth: 10 s x 1.0 / 0.125
    settle(lambda: only(pool, "s3").wait == pytest.approx(80.0))
    assert pool.pace() == pytest.approx(2.0) and not only(pool, "s3").guessed


def _burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_worker_reports_its_share_of_a_core_while_it_runs_a_job(monkeypatch):
    """``_work`` reports, every SHARE_SECONDS, the share of a core its thread had of the time
    it wanted one: a job that computes says so (a share above 0, at most 1), a job that waits
    (here asleep; a file, a device) says nothing: it wanted no core (a reviewer's job reading
    for 4 s had put the queue at its 20x bound)."""
    import queue

    def shares_of(busy: bool) -> list[float]:
        got = queue.Queue()

        def fn(spec, on_progress, should_stop):
            # the job imports torch meanwhile (a classroom's server printed "partially
            # initialized module 'torch' has no attribute 'cuda'" from the reporting thread,
            # which then ended)
            monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
            if busy:
                _burn(1.3)
            else:
                time.sleep(1.3)
            return {"done": True}

        assert pool_module._work(fn, None, 7, lambda: got, lambda: {}) == {"done": True}
        msgs = [got.get_nowait() for _ in range(got.qsize())]
        assert msgs[0] == (7, {BEGUN: True})
        return [m[CPU_SHARE] for job, m in msgs if job == 7 and CPU_SHARE in m]

    busy, idle = shares_of(True), shares_of(False)
    assert len(busy) >= 2 and all(0.0 < x <= 1.0 for x in busy), busy
    assert idle == []


def test_runs_that_said_no_share_count_as_measured(fake):
    """A run whose worker said no share while it trained (a GPU run, one shorter than half a
    second) is not counted at a whole core: with no share to count with, the queue keeps the
    measured pace (a reviewer's case: a median of (1, 10, 10) / 0.1, 20x for a true 10x)."""
    make, ex, clock = fake
    pool = a_training_b_and_c_queued(make, ex)
    clock.t += 20
    ex.finish("A")  # 20 s for 10, no share said
    settle(lambda: 1 not in pool._running)
    ex.begin("B")
    for _ in range(SHARES_NEEDED):
        ex.report("B", {CPU_SHARE: 0.25})  # B's lead-in: in the share of now, not in B's own
    settle(lambda: len(pool._shares) == SHARES_NEEDED)
    assert pool._running[2].shares == []
    assert only(pool, "s3").wait == pytest.approx(20.0)  # 10 s x 2, as measured


def test_the_lead_in_ends_after_the_last_optimum_and_its_message_is_never_dropped():
    """The lead-in (data and f*, kept by the worker for the next runs) ran only to the last
    seed's f* start: a reviewer's mock of three 1 s f*s measured a lead of 2.0 s of 3.2 and a
    pace of 1.5 for 1.0. The job says when its last f* is done, and ``_work`` never drops a
    message with no share done (the others are throttled to MESSAGES_PER_SECOND)."""
    import queue

    sent = []
    spec = tiny()
    train_job(spec, sent.append)
    phases = [m["phase"] for m in sent]
    last_zero = max(i for i, m in enumerate(sent) if m["share"] == 0)
    assert phases[last_zero] == "optimum" and "Computed the optimum" in sent[last_zero]["text"]
    assert all(m["share"] > 0 for m in sent[last_zero + 1 :])
    assert sum(p == "optimum" for p in phases) == len(spec.seeds) + 1

    got = queue.Queue()

    def fn(spec, on_progress, should_stop):
        for i in range(20):  # in well under 1 / MESSAGES_PER_SECOND
            on_progress({"share": 0.0, "i": i})
        on_progress({"share": 0.5})
        on_progress({"share": 0.6})  # throttled
        return {}

    pool_module._work(fn, None, 3, lambda: got, lambda: {})
    msgs = [m for job, m in (got.get_nowait() for _ in range(got.qsize())) if "share" in m]
    assert [m.get("i") for m in msgs[:20]] == list(range(20))
    assert [m["share"] for m in msgs[20:]] == [0.5]
