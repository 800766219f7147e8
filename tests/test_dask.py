"""Runs sent to a Dask distributed cluster (issue 26 item 5): a LocalCluster of two worker
processes started here; the study and compare give the numbers they give in this process, to
the last digit."""

from __future__ import annotations

import os
import pickle
import sys
from contextlib import contextmanager

import distributed
import numpy as np
import pandas as pd
import pytest

import lrcore
from lrcore import executors
from lrcore.cli import main
from lrcore.executors import get_executor, worker_count
from lrcore.study.problems import smoke_problems
from lrcore.study.run import run_study
from lrcore.train.config import RunConfig
from lrcore.train.experiments import compare, run_batches
from lrcore.train.loop import run_many


@pytest.fixture(scope="module")
def scheduler():
    # after an AppTest in the same pytest process, __main__ is app/main.py: the nanny's worker
    # would run the page while it starts (test_pool.py found it), so hide it as lrcore does
    with executors._workers_skip_main():
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster:
        yield cluster.scheduler_address


def _equal_arrays(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


@pytest.mark.slow  # a cluster of 2 worker processes (started once: ~10 s)
def test_a_smoke_study_on_the_cluster_equals_the_local_one(scheduler, tmp_path, monkeypatch):
    monkeypatch.delenv(executors.SCHEDULER_ENV, raising=False)
    local = run_study(smoke_problems())
    out = tmp_path / "study.pkl"
    argv = ["study", "--smoke", "--dask", scheduler, "--pickle", str(out), "--out", os.devnull]
    with _tasks(scheduler) as tasks:
        assert main(argv) == 0
    # one task per problem, and one that asks a worker for its machine and versions
    assert sorted(tasks()) == ["_one_problem"] * len(smoke_problems()) + ["versions"]
    remote = pickle.loads(out.read_bytes())
    # the report names where the numbers came from: a worker's machine, the cluster's size
    assert remote.versions["cpu"].endswith(f"on the Dask cluster at {scheduler}")
    assert remote.jobs == 2 and local.jobs == 1
    assert {k: v for k, v in remote.versions.items() if k != "cpu"} == {
        k: v for k, v in local.versions.items() if k != "cpu"
    }
    # the CSV table, every column in full precision, but the wall time
    a, b = (r.csv_table().drop(columns="problem_wall_s") for r in (local, remote))
    assert a.to_csv() == b.to_csv() and len(a) >= 3 * 4
    for x, y in zip(local.results, remote.results, strict=True):
        pd.testing.assert_frame_equal(x.best, y.best, check_exact=True)
        assert _equal_arrays(x.refined, y.refined) and _equal_arrays(x.build_norms, y.build_norms)
        assert _equal_arrays(x.build_loss, y.build_loss) and x.rounds.keys() == y.rounds.keys()
        for k in x.rounds:
            assert _equal_arrays(x.rounds[k], y.rounds[k])
        for s in x.scores:
            assert _equal_arrays(x.scores[s], y.scores[s]) and _equal_arrays(x.tests[s], y.tests[s])


@contextmanager
def _tasks(scheduler: str):
    """The names of the functions the cluster ran inside the block (from its task stream)."""
    client = distributed.Client(scheduler, set_as_default=False)
    with client, distributed.get_task_stream(client) as stream:
        yield lambda: [d["key"].rsplit("-", 5)[0] for d in stream.data]


def _enter(*args, **kwargs) -> None:
    with get_executor(*args, **kwargs):
        pass


@pytest.mark.slow  # a cluster of 2 worker processes (started once: ~10 s)
def test_compare_on_the_cluster_equals_in_process(scheduler, tmp_path, monkeypatch):
    monkeypatch.delenv(executors.SCHEDULER_ENV, raising=False)
    args = ["compare", "--task", "logreg", "--dataset", "synthetic", "--steps", "120",
            "--eval-every", "40", "--seeds", "0,1", "--schedules", "linear,cosine,refined",
            "--rounds", "2"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "here.csv")]) == 0
    monkeypatch.setenv(executors.SCHEDULER_ENV, scheduler)  # the variable, not the option
    with _tasks(scheduler) as tasks:
        assert main([*args, "--out", str(tmp_path / "there.csv")]) == 0
    # a batch per tuning round: linear and cosine, then refined, then refined_2 (no widening
    # of the grid here, or more rounds)
    assert set(tasks()) == {"run_many"} and len(tasks()) >= 3
    here, there = ((tmp_path / f).read_text() for f in ("here.csv", "there.csv"))
    assert here == there and len(here.splitlines()) == 1 + 4  # linear, cosine, refined x2


@pytest.mark.slow  # a cluster of 2 worker processes (started once: ~10 s)
def test_each_batch_is_one_task_with_the_numbers_of_run_many(scheduler):
    """float32 CNN runs depend on the batch they train in: two batches (two step counts),
    interleaved, come back in order with run_many's numbers; device "auto" stays in the
    results' configs."""
    cnn = RunConfig(
        task="cnn",
        dataset="synthetic_images",
        optimizer="adam",
        steps=12,
        eval_every=6,
        synthetic_samples=100,
        peak_lr=2e-3,
        device="auto",
    )
    configs = [
        cnn.with_(seed=s, steps=n, schedule=sched)
        for s, n, sched in [
            (0, 12, "linear"),
            (1, 8, "cosine"),
            (1, 12, "cosine"),
            (0, 8, "linear"),
        ]
    ]
    here = run_many(configs)
    seen = []
    with get_executor(scheduler=scheduler) as ex:
        there = run_batches(configs, on_step=seen.append, executor=ex)
    assert [r.config for r in there] == configs
    assert [len(r.loss) for r in there] == [12, 8, 12, 8] and [r.runs_in_batch for r in there] == [
        2
    ] * 4
    for a, b in zip(here, there, strict=True):
        assert _equal_arrays(a.loss, b.loss) and _equal_arrays(a.grad_norm_l1, b.grad_norm_l1)
        assert a.final == b.final or pd.Series(a.final).equals(pd.Series(b.final))
    assert [(p.runs_done, p.total_runs) for p in seen] == [(0, 4), (2, 4)]


@pytest.mark.slow  # a cluster of 2 worker processes (started once: ~10 s)
def test_compare_takes_an_executor_and_a_local_pool_gives_the_same_table(scheduler):
    cfg = RunConfig(task="svm", dataset="synthetic", steps=80, eval_every=40, device="cpu")
    kw = dict(seeds=(0, 1), peak_lrs=[0.05, 0.1], extend_grid=False)
    here = compare(cfg, ["linear", "constant"], **kw)
    with get_executor(1) as pool:  # a local spawn process
        there = compare(cfg, ["linear", "constant"], executor=pool, **kw)
        assert worker_count(pool) == 1
    pd.testing.assert_frame_equal(here, there, check_exact=True)


@pytest.mark.slow  # a cluster of 2 worker processes (started once: ~10 s)
def test_the_executor_is_dask_from_the_variable_and_checks_the_workers_version(
    scheduler, monkeypatch
):
    monkeypatch.setenv(executors.SCHEDULER_ENV, scheduler)
    with get_executor(workers=1) as ex:  # workers is the cluster's business
        assert isinstance(ex, distributed.cfexecutor.ClientExecutor)
        assert ex.submit(os.getpid).result() != os.getpid()
        assert worker_count(ex) == 2  # 2 workers x 1 thread
    monkeypatch.setattr(lrcore, "__version__", "0.0.0-other")
    with pytest.raises(ValueError, match=r"must run lrcore 0\.0\.0-other .* 2 of 2 do not"):
        _enter()


def test_executor_errors(monkeypatch, capsys):
    monkeypatch.delenv(executors.SCHEDULER_ENV, raising=False)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"get_executor: workers must be an integer >= 1"):
            _enter(bad)
    with pytest.raises(ValueError, match=r"get_executor: scheduler must be an address string"):
        _enter(scheduler=8786)
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(ValueError, match=r"no Dask scheduler answered at 'tcp://127\.0\.0\.1:9'"):
        _enter(scheduler="tcp://127.0.0.1:9")
    assert main(["compare", "--steps", "20", "--dask", "tcp://127.0.0.1:9"]) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(errors) == 1 and errors[0].startswith("lrcore: error: ")
    assert "no Dask scheduler answered at 'tcp://127.0.0.1:9'" in errors[0]
    monkeypatch.setitem(sys.modules, "distributed", None)  # not installed
    with pytest.raises(ImportError, match=r"needs the 'dask' extra: pip install 'lrcore\[dask\]'"):
        _enter(scheduler="tcp://127.0.0.1:9")


def test_the_readme_shows_how_to_start_a_cluster_and_point_lrcore_at_it():
    from pathlib import Path

    from lrcore.cli import build_parser

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    heading = "### When one host is not enough: a Dask cluster"
    assert "(#when-one-host-is-not-enough-a-dask-cluster)" in readme  # the Install table's link
    section = readme.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [ln.split("  #")[0].strip() for ln in block.splitlines()]
    assert any(ln == "dask scheduler" for ln in lines)
    assert any(
        ln.startswith("dask worker tcp://HOST:8786") and "--nthreads 1" in ln for ln in lines
    )
    assert any("[dask]" in ln and "constraints.txt" in ln for ln in lines)
    ran = set()
    for ln in lines:
        env, _, cmd = ln.rpartition("lrcore ")
        if not cmd or ln.startswith(("pip", "dask")):
            continue
        args = build_parser().parse_args(cmd.split())
        address = args.dask or env.strip().removeprefix(f"{executors.SCHEDULER_ENV}=")
        assert address == "tcp://HOST:8786", ln
        ran.add(args.command)
    assert ran == {"study", "compare"}
