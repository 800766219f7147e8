"""Running the study: every problem tuned, refined, and scored (module docstring of
:mod:`lrcore.study`), in-process or in worker processes; the same numbers either way."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lrcore.diagnose import diagnose_refined, refined_shape
from lrcore.executors import (
    _workers_skip_main,  # noqa: F401 (tests import it from here)
    get_executor,
    scheduler_address,
    worker_count,
)
from lrcore.late_rise import late_rise
from lrcore.study.problems import Problem
from lrcore.study.result import ProblemResult, StudyResult
from lrcore.train.experiments import (
    best_rows,
    compare,
    default_grid,
    own_norm_bounds,
    refine_from_runs,
    schedule_changes,
)
from lrcore.train.loop import OnStep, run_many

TIE_RTOL = 1e-9  # an edge whose mean objective is this close to the best's ties it


def run_study(
    problems: Sequence[Problem],
    tau: float = 0.1,
    on_problem=None,
    on_step: OnStep | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> StudyResult:
    """Run every problem (``jobs`` > 1: that many worker processes, one problem each at a time;
    ``scheduler``, else ``LRCORE_DASK_SCHEDULER``: a Dask scheduler's address, whose workers
    run the problems instead; see :func:`lrcore.executors.get_executor`). Every run uses one
    CPU thread, so the numbers do not depend on ``jobs`` or on where the problems ran.
    ``on_problem(k, n, name, seconds)`` reports each problem as it finishes."""
    start = time.perf_counter()
    problems = list(problems)
    out: list[ProblemResult | None] = [None] * len(problems)
    scheduler = scheduler_address(scheduler)
    ran_on, workers = versions(), max(int(jobs), 1)  # what the report says the numbers came from
    if scheduler is None and (jobs <= 1 or len(problems) <= 1):
        for i, prob in enumerate(problems):
            out[i] = _one_problem(prob, tau, on_step)
            if on_problem is not None:
                on_problem(i + 1, len(problems), prob.name, out[i].wall_time)
    else:
        from concurrent.futures import as_completed

        # the costliest first, so that the last to finish is a short one
        order = sorted(range(len(problems)), key=lambda i: -_cost(problems[i]))
        # local: spawn workers that die with this process and skip its __main__ script
        with get_executor(max(int(jobs), 1), scheduler) as pool:
            futures = {pool.submit(_one_problem, problems[i], tau, None): i for i in order}
            if scheduler is not None:  # a worker's machine and versions; the cluster's size
                ran_on = pool.submit(versions).result()
                ran_on["cpu"] += f" on the Dask cluster at {scheduler}"
                workers = worker_count(pool) or workers
            for k, fut in enumerate(as_completed(futures), 1):
                i = futures[fut]
                out[i] = fut.result()
                if on_problem is not None:
                    on_problem(k, len(problems), problems[i].name, out[i].wall_time)
    return StudyResult(out, time.perf_counter() - start, ran_on, workers)  # type: ignore[arg-type]


def _cost(prob: Problem) -> float:
    per_step = {"lm": 60.0, "cnn": 25.0}.get(prob.config.task, 1.0)
    return per_step * prob.config.steps * prob.n_tune * len(prob.schedules)


def _edges(table: pd.DataFrame) -> dict[str, tuple[bool, bool, str, int]]:
    """Per schedule of a compare table: (best at an edge, an edge ties the best, why, tried)."""
    out = {}
    for s, rows in table.groupby("schedule", observed=True, sort=False):
        tried = len(rows)
        best = rows[rows.best]
        if best.empty:
            out[str(s)] = (True, False, "every peak lr diverged", tried)
            continue
        lo, hi = rows.peak_lr.min(), rows.peak_lr.max()
        b = float(best.objective_mean.iloc[0])
        peak = float(best.peak_lr.iloc[0])
        ok = rows[rows.diverged == 0]
        ties = ok[
            (ok.peak_lr != peak)
            & ok.peak_lr.isin([lo, hi])
            & ((ok.objective_mean - b).abs() <= TIE_RTOL * abs(b) + 1e-15)
        ]
        at_edge = peak in (lo, hi)
        if at_edge:
            why = f"best at the {'smallest' if peak == lo else 'largest'} of {tried} peak lrs"
        elif not ties.empty:
            why = f"ties the score at peak lr {float(ties.peak_lr.iloc[0]):g}, an edge"
        else:
            why = ""
        out[str(s)] = (at_edge, not ties.empty, why, tried)
    return out


def _one_problem(prob: Problem, tau: float, on_step: OnStep | None) -> ProblemResult:
    """Tune the baselines, build refined from linear's runs on the build seeds, tune it (and
    each further round from the previous round's build runs), then score every schedule at
    its best peak lr on the scoring seeds."""
    t0 = time.perf_counter()
    baselines = [s for s in prob.schedules if not s.startswith("refined")]
    tables = [_tune(prob, baselines, on_step)]
    t1 = time.perf_counter()
    build = _build_runs(prob, tables[0], "linear", "linear", on_step)
    shape, norms = refine_from_runs(build, tau)
    loss = np.mean([r.loss for r in build], axis=0)  # linear's per-step loss, seed mean
    # the late rise of the very norms refined was built from (v4.3), with that loss
    rise = late_rise(norms, loss=loss)
    t2 = time.perf_counter()
    specs = {s: s for s in baselines}
    if "refined" in prob.schedules:
        specs["refined"] = tuple(shape)
        tables.append(_tune(prob, {"refined": specs["refined"]}, on_step))
    rounds = {}
    for k in range(2, 10):
        name, prev = f"refined_{k}", "refined" if k == 2 else f"refined_{k - 1}"
        if name not in prob.schedules:
            break
        runs = _build_runs(prob, tables[-1], prev, specs[prev], on_step)
        specs[name] = tuple(refine_from_runs(runs, tau)[0])
        rounds[name] = np.asarray(specs[name])
        tables.append(_tune(prob, {name: specs[name]}, on_step))
    t3 = time.perf_counter()
    best = _best_table(prob, tables)
    scored = _scoring_runs(prob, best, specs, on_step)
    t4 = time.perf_counter()
    best, scores, tests = _scored_columns(prob, best, scored)
    sh = refined_shape(shape, grad_norms=norms, tau=tau)
    return ProblemResult(
        prob,
        best,
        scores,
        tests,
        prob.metric,
        np.asarray(shape),
        sh.peak_fraction,
        sh.above_half_fraction,
        float(sh.norm_fall),
        diagnose_refined(shape, norms, tau=tau),
        time.perf_counter() - t0,
        next(iter(scored.values())).device,
        {"tune": t1 - t0 + t3 - t2, "build": t2 - t1, "score": t4 - t3},
        late_rise=rise,
        build_norms=np.asarray(norms),
        build_loss=loss,
        rounds=rounds,
    )


def _tune(prob: Problem, schedules, on_step: OnStep | None) -> pd.DataFrame:
    """``compare`` on the tuning seeds: a peak-lr grid per schedule, widened at an edge."""
    return compare(
        prob.config,
        schedules,
        seeds=prob.tune_seeds,
        peak_lrs=default_grid(prob.config.peak_lr, prob.grid_points),
        on_step=on_step,
        max_extensions=prob.max_extensions,
    )


def _build_runs(prob: Problem, table: pd.DataFrame, name: str, spec, on_step: OnStep | None):
    """Schedule ``name`` (``spec``: a registry name or a shape) at its best peak lr of the
    tuning ``table`` on the build seeds: the runs that the next refinement is built from (the
    ones that did not diverge)."""
    cfg = prob.config
    best = table[(table.schedule == name) & table.best]
    if best.empty:
        raise ValueError(
            f"study: every {name} run of {prob.name} diverged; the next refinement cannot be built"
        )
    peak = float(best.peak_lr.iloc[0])
    build = run_many(
        [cfg.with_(peak_lr=peak, seed=s, **schedule_changes(cfg, spec)) for s in prob.build_seeds],
        on_step=on_step,
    )
    ok = [r for r in build if r.ok]
    if not ok:
        raise ValueError(f"study: {name} diverged on every build seed of {prob.name}")
    return ok


def _score_key(prob: Problem) -> str:
    """The final metric a problem is scored by: ``objective`` (CNN) or ``suboptimality``
    (convex; the lm's excess loss is stored under that name)."""
    return "objective" if prob.metric == "objective" else "suboptimality"


def _best_table(prob: Problem, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Every schedule's best row of the tuning tables, with its edge flags."""
    best = pd.concat([best_rows(t) for t in tables], ignore_index=True)
    edges = {k: v for t in tables for k, v in _edges(t).items()}
    best = best.rename(
        columns={
            "objective_mean": "tuning_objective_mean",
            "suboptimality_mean": "tuning_suboptimality_mean",
        }
    )
    best["tuning_score_mean"] = best[f"tuning_{_score_key(prob)}_mean"]
    best["at_grid_edge"] = [edges[s][0] for s in best.schedule]
    best["edge_tie"] = [edges[s][1] for s in best.schedule]
    best["edge_reason"] = [edges[s][2] for s in best.schedule]
    best["n_tried"] = [edges[s][3] for s in best.schedule]
    best["inconclusive"] = best.at_grid_edge | best.edge_tie
    return best


def _scoring_runs(prob: Problem, best: pd.DataFrame, specs: dict, on_step: OnStep | None):
    """Every schedule at its best peak lr on the held-out scoring seeds, one batch:
    ``{(schedule, peak_lr, seed): RunResult}``."""
    cfg = prob.config
    keys, configs = [], []
    for row in best.itertuples():
        for seed in prob.score_seeds:
            keys.append((row.schedule, float(row.peak_lr), seed))
            configs.append(
                cfg.with_(
                    peak_lr=float(row.peak_lr),
                    seed=seed,
                    **schedule_changes(cfg, specs[row.schedule]),
                )
            )
    return dict(zip(keys, run_many(configs, on_step=on_step), strict=True))


SCORED_COLUMNS = (
    "score_mean",
    "score_sem",
    "token_se",
    "objective_mean",
    "test_mean",
    "test_sem",
    "diverged",
)


def _scored_columns(prob: Problem, best: pd.DataFrame, scored: dict):
    """``best`` with the scoring seeds' columns (score, its s.e., held-out s.e., objective,
    test metric, diverged seeds, own-norm bound), and the per-seed scores and test metrics."""
    key = _score_key(prob)

    def per_seed(s: str, p: float, what: str) -> np.ndarray:
        return np.array([scored[(s, p, seed)].final.get(what, np.nan) for seed in prob.score_seeds])

    scores, tests, cols = {}, {}, {k: [] for k in SCORED_COLUMNS}
    for row in best.itertuples():
        s, p = row.schedule, float(row.peak_lr)
        sc = per_seed(s, p, key)
        sc = np.where([scored[(s, p, seed)].ok for seed in prob.score_seeds], sc, np.nan)
        scores[s], tests[s] = sc, per_seed(s, p, "test_accuracy")
        n = len(sc)
        cols["score_mean"].append(float(sc.mean()))
        cols["score_sem"].append(float(sc.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan)
        cols["token_se"].append(
            float(per_seed(s, p, "suboptimality_se").mean()) if prob.config.is_lm else np.nan
        )
        cols["objective_mean"].append(float(per_seed(s, p, "objective").mean()))
        cols["test_mean"].append(float(tests[s].mean()))
        cols["test_sem"].append(float(tests[s].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan)
        cols["diverged"].append(sum(not scored[(s, p, seed)].ok for seed in prob.score_seeds))
    best = best.drop(columns=["diverged"], errors="ignore")
    for k, v in cols.items():
        best[k] = v
    best["bound_vs_linear"] = own_norm_bounds(best, scored)
    return best, scores, tests


def versions() -> dict:
    """Versions and CPU that the numbers came from (the report prints them)."""
    import os
    import platform

    import scipy
    import sklearn
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "cpu": f"{cpu} ({os.cpu_count()} cores)",
    }
