"""The report's opening: what ran where (command, machine, versions, wall time, seeds,
protocol) and how the numbers were obtained."""

from __future__ import annotations

import time

from lrcore.study.problems import BUILD_SEED0, MAX_EXTENSIONS, SCORE_SEED0
from lrcore.study.report._fmt import TASK_WORDS, _wall
from lrcore.study.report.provenance import LM_COMMIT, PROTOCOL_COMMIT, V4_COMMIT
from lrcore.study.result import StudyResult
from lrcore.study.run import TIE_RTOL
from lrcore.study.stats import ALPHA
from lrcore.train.experiments import GRID_FACTOR, GRID_POINTS
from lrcore.train.objective import F_STAR_TOL


def header(result: StudyResult, command: str) -> list[str]:
    """Title and the run's facts: command, time written, machine, versions, wall time, seeds."""
    v = result.versions
    seeds = sorted(
        {
            (r.problem.n_tune, r.problem.n_build, r.problem.n_score, r.problem.config.task)
            for r in result.results
        }
    )

    def which(a, b, c, task) -> str:
        names = sorted(
            {
                r.problem.regime
                for r in result.results
                if (r.problem.n_tune, r.problem.n_build, r.problem.n_score, r.problem.config.task)
                == (a, b, c, task)
            }
        )
        word = TASK_WORDS.get(task, task)
        n_sets = sum(t == task for *_, t in seeds)
        return f"{word} ({', '.join(names)})" if n_sets > 1 else word

    seed_text = "; ".join(
        f"{which(a, b, c, task)}: {a} tuning (0..{a - 1}), {b} build ({BUILD_SEED0}..{BUILD_SEED0 + b - 1}), "
        f"{c} scoring ({SCORE_SEED0}..{SCORE_SEED0 + c - 1})"
        for a, b, c, task in seeds
    )
    cpu_sum = sum(r.wall_time for r in result.results)
    return [
        "# Do the paper's claims hold here? Study v4",
        "",
        f"- Command: `{command}`",
        f"- Report written: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {v.get('cpu', '?')}; device `cpu`; every run on one CPU thread",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v if k != "cpu"),
        f"- Wall time: **{_wall(result.wall_time)}** with {result.jobs} worker process(es) "
        f"(the problems' own times add up to {_wall(cpu_sum)}; per regime and problem at the end)",
        f"- Seeds per problem: {seed_text}",
        f"- Protocol: [docs/protocol.md](protocol.md): v3, committed in {PROTOCOL_COMMIT} before "
        f"the lm task existed (it was added in {LM_COMMIT}), amended by v4 in {V4_COMMIT} before "
        "any result of its lm regimes; departures are listed at the end.",
        "- Every number below, in full precision: [docs/results.csv](results.csv).",
    ]


def method(result: StudyResult) -> list[str]:
    """How the numbers were obtained: seed sets, grids, scores, inconclusive, degenerate, tests."""
    comp = result.comparisons
    return [
        "",
        "## How the numbers were obtained",
        "",
        "Per problem, three disjoint seed sets (a seed fixes the data split or Markov source, the",
        "initialisation, the batches and the gradient noise). On the **tuning seeds** each",
        f"baseline runs a factor-{GRID_FACTOR:g} grid of {GRID_POINTS} peak lrs around the",
        "problem's centre; while its best (lowest mean final objective, no diverged seed) is the",
        "smallest or largest peak lr it tried, one more is added on that side, up to",
        f"{MAX_EXTENSIONS} extra ({GRID_POINTS + MAX_EXTENSIONS} in all). Linear decay then runs at its best peak lr on the **build seeds**, and",
        "**refined** is refined (τ = 0.1) from those runs' seed-averaged gradient norms only (l2",
        "and the SGD rule for SGD, l1 and the Adam rule for Adam/AdamW), then tuned like the",
        "others. Every schedule runs once more at its best peak lr on the **scoring seeds**:",
        "every score, difference, p-value and verdict below comes from these runs, so refined is",
        "neither built nor tuned on the runs that score it.",
        "",
        "Scores: convex problems by the **suboptimality** `objective - f_star` (full training set,",
        "last iterate, loss + L2 term; f_star from scipy L-BFGS for logistic regression and the",
        f"hinge's LP with HiGHS, exact to {F_STAR_TOL:g}); the language model by the **excess",
        "held-out loss**: its cross-entropy minus the true chain's on the same held-out tokens",
        "(nats/token; its standard error over held-out sequences, *held-out s.e.*, is given",
        "beside it; the lm's peak lrs are chosen by held-out cross-entropy, its objective); the",
        "CNNs by the objective. A schedule whose best is still at an edge of its grid, or whose score at",
        f"an edge ties its best (within {TIE_RTOL:g} relative), is **inconclusive** there; a claim",
        "involving it is left out of the counts. A refinement that `diagnose_refined` flags is",
        "**degenerate**: its claim is counted apart (what it measured is still shown). Each claim",
        "on each problem is a two-sided paired t-test over the scoring seeds; a comparison is",
        f"**clear** when its p-value, Holm-adjusted over all {int(comp.p_holm.notna().sum())}",
        "comparisons of the study that are not inconclusive (degenerate ones included), is below",
        f"{ALPHA:g}. Per regime: the exact one-sided sign test of 'better on k of n counted",
        "problems' (a regime of n problems cannot go below 2^-n).",
    ]
