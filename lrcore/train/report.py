"""The study's markdown (docs/results.md), CSV (docs/results.csv) and the README's headline,
every sentence about a number computed from that number."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from lrcore.diagnose import FALL_FROM, FALL_TO, LATE_PEAK, MAX_NORM_FALL, MIN_ABOVE_HALF
from lrcore.train.experiments import GRID_FACTOR, GRID_POINTS
from lrcore.train.findings import gap_closed
from lrcore.train.objective import F_STAR_TOL
from lrcore.train.study import (
    ALPHA,
    BUILD_SEED0,
    CLAIM_OF,
    CLAIMS,
    MAX_EXTENSIONS,
    REGIMES,
    SCORE_SEED0,
    TIE_RTOL,
    StudyResult,
)

README_START = "<!-- study:start (written by `lrcore study --readme README.md`) -->"
README_END = "<!-- study:end -->"
PROTOCOL_COMMIT = "3dbb2a7"  # docs/protocol.md, 2026-12-02 06:25 UTC
LM_COMMIT = "3bc7a0c"  # task lm added, 06:35 UTC: after the protocol
# the lm pilot (issue 19's progress note, stop 21), before this study: quoted, not recomputed
LM_PILOT = (
    "`lrcore compare --task lm --schedules linear,cosine,refined --seeds 0,1,2` at the "
    "default size (commit c37c75a): excess loss linear 0.58485 ± 0.011, cosine 0.58911, "
    "refined 0.58765 nats/token (all at peak lr 0.0015)"
)
# full runs of the v3 problem code before the one that wrote the committed docs (facts from
# the session that ran them; the numbers of each were compared with the committed CSV)
RUN_HISTORY = (
    "Three full runs of the same problem code came before the one that wrote this file: at "
    "979e518 (2026-12-02 09:15 UTC, 15.7 min under load; its markdown step failed on the v2 "
    "report code), d701be0 (09:34, 10.6 min) and 2f8db7e (09:54, 10.3 min). Their CSVs equal "
    "the committed one to the last digit (wall times aside). After the first one's numbers "
    "were seen, only the report's wording and layout changed, never what runs or how it is "
    "scored: the lm sentences (share of the gap closed, lowest excess loss, direction of the "
    "difference), the README table (statuses, sign p, what degenerate comparisons measured, "
    "the refined tally and sign-test sentences), the left-out list, the CSV key, this "
    "provenance table and the list of protocol readings; most came from a fresh-eyes review "
    "of the 2f8db7e report."
)
# the verdict words (docs/protocol.md, section 5, fixes them as v2's)
LEGEND = (
    'Words (fixed by the protocol as in v2): a claim "A beats B" *holds* in a regime when A',
    "is clearly better (Holm p < 0.05) on more than half of the counted problems, is",
    "*reversed* when clearly worse on more than half, is *mixed* when some comparison is clear",
    "but neither is more than half (3 of 7 clearly better and none worse is *mixed*), and *no",
    "clear difference* when none is clear. *better*: a lower mean score over the scoring seeds,",
    "however small. *counted*: neither inconclusive nor degenerate. *sign p*: the exact",
    "one-sided sign test of 'better on k of n counted'; a regime of n problems cannot go below",
    "2^-n. *Status*: pre-pilot (fixed before any result), post-pilot (added after pilots had",
    "shown refined winning under rising noise), pre-registered (fixed in the protocol first).",
)
# docs/protocol.md, section 1: the study's history from git (facts, not recomputed)
PROVENANCE = (
    "| 2026-11-29 01:39-02:11 | d6a8da3, fed5794 | study v1: 7 logreg problems + 2 CNNs |",
    "| after v1 | issue 9 | independent pilots: hinge + rising noise, refined beat linear 2-2.6x |",
    "| 2026-11-29 11:33 | cf92276 | suboptimality scoring, the hinge task, gradient noise |",
    "| 2026-11-29 11:34, 11:43 | ea44fe3, 16b92d7 | the demo tuned on hinge + rising noise "
    "(a second pilot of the effect) |",
    "| 2026-11-29 11:49 | c52445e | study v2: hinge, noise rise / flat / fall, small batch, long |",
    "| 2026-12-02 06:25 | 3dbb2a7 | protocol v3, before the lm task existed |",
    "| 2026-12-02 06:35, 06:37 | 3bc7a0c, c37c75a | the lm task; its pilot |",
)
TASK_WORDS = {"svm": "hinge", "lm": "language model"}
DEEP_RTOL = 1e-3  # float32 CNN and lm numbers across x86 CPUs (the convex ones are float64)
METRIC_WORDS = {
    "suboptimality": "suboptimality",
    "excess_loss": "excess loss (nats/token)",
    "objective": "objective",
}


def _g(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if np.isfinite(x) else "n/a"


def _pm(mean: float, sem: float) -> str:
    if not np.isfinite(mean):
        return "diverged"
    return f"{mean:.4g} ± {sem:.2g}" if np.isfinite(sem) else f"{mean:.4g}"


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if np.isfinite(x) else "n/a"


def _pct_pm(mean: float, sem: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{100 * mean:.1f} ± {100 * sem:.1f} %" if np.isfinite(sem) else _pct(mean)


def _test(row) -> str:
    return f"{_pct(row.test_a)} vs {_pct(row.test_b)}"


def _scale(x: float, metric: str) -> str:
    if metric == "suboptimality" and x == 0:
        return "0 (f* = 0, reached)"
    return _g(x)


def _wall(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _regime_time(result: StudyResult, g: str) -> float:
    return sum(r.wall_time for r in result.results if r.problem.regime == g)


def _cell(c: dict, sign: bool = True) -> str:
    extra = [f"sign p = {_p(c['sign_p'])}"] if c["counted"] and sign else []
    if c["inconclusive"]:
        extra.append(f"{c['inconclusive']} inconclusive")
    if c["degenerate"]:
        seen = [
            f"{c[f'degenerate clearly {w}']} clearly {w}"
            for w in ("better", "worse")
            if c[f"degenerate clearly {w}"]
        ]
        extra.append(f"{c['degenerate']} degenerate" + (f" ({', '.join(seen)})" if seen else ""))
    return c["verdict"] + ("; " + ", ".join(extra) if extra else "")


def markdown_report(result: StudyResult, command: str) -> str:
    v = result.versions
    regimes = result.regimes
    theory = [g for g in regimes if not REGIMES[g].apart]
    apart = [g for g in regimes if REGIMES[g].apart]
    comp = result.comparisons
    seeds = sorted(
        {
            (r.problem.n_tune, r.problem.n_build, r.problem.n_score, r.problem.config.task)
            for r in result.results
        }
    )
    seed_text = "; ".join(
        f"{TASK_WORDS.get(task, task)}: {a} tuning (0..{a - 1}), {b} build ({BUILD_SEED0}..{BUILD_SEED0 + b - 1}), "
        f"{c} scoring ({SCORE_SEED0}..{SCORE_SEED0 + c - 1})"
        for a, b, c, task in seeds
    )
    cpu_sum = sum(r.wall_time for r in result.results)
    lines = [
        "# Do the paper's claims hold here? Study v3",
        "",
        f"- Command: `{command}`",
        f"- Report written: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {v.get('cpu', '?')}; device `cpu`; every run on one CPU thread",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v if k != "cpu"),
        f"- Wall time: **{_wall(result.wall_time)}** with {result.jobs} worker process(es) "
        f"(the problems' own times add up to {_wall(cpu_sum)}; per regime and problem at the end)",
        f"- Seeds per problem: {seed_text}",
        f"- Protocol: [docs/protocol.md](protocol.md) (v3), committed in {PROTOCOL_COMMIT} before "
        f"the lm task existed (it was added in {LM_COMMIT}); departures are listed at the end.",
        "- Every number below, in full precision: [docs/results.csv](results.csv).",
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
        "",
        "## Provenance",
        "",
        "From the git history (docs/protocol.md, section 1): the logistic-regression problems and",
        "the CNNs date from study v1 (d6a8da3, fed5794) and were fixed before any result",
        "(*pre-pilot*); the hinge task, the three noise regimes, batch 1, the long run and",
        "suboptimality scoring were added in v2 (cf92276, c52445e) **after pilots** (issue 9; the",
        "demo in 16b92d7) had shown refined winning under rising noise (*post-pilot*); the lm",
        "regime's settings were fixed in the protocol before its first result (*pre-registered*).",
        f"One lm pilot ran after the protocol and before this study: {LM_PILOT}. It changed",
        f"nothing in the protocol's lm settings. {RUN_HISTORY}",
        "",
        "| when (UTC) | commit | what |",
        "|---|---|---|",
        *PROVENANCE,
        "",
        "| regime | status | problems | what is in it | wall time |",
        "|---|---|---|---|---|",
    ]
    for g in regimes:
        n = sum(r.problem.regime == g for r in result.results)
        lines.append(
            f"| {g} | {REGIMES[g].status}{' (kept apart)' if REGIMES[g].apart else ''} | {n} | "
            f"{REGIMES[g].what} | {_wall(_regime_time(result, g))} |"
        )
    lines += [
        "",
        "## Verdicts",
        "",
        *LEGEND,
        "The CNN (interpolating, outside the theory and the paper's deep-learning regime) is",
        "shown apart.",
        "",
    ]
    lines += _verdict_table(result, theory)
    if apart:
        lines += ["", "Kept apart:", ""] + _verdict_table(result, apart)
    agree, total, p = result.bound_agrees()
    lines += [
        "",
        f"**The bound vs the measurement.** On {agree} of {total} SGD problems (not inconclusive;",
        "degenerate ones included, since the bound is about the refined schedule as built) the",
        "bound (each schedule scored with the gradient norms of its own scoring runs) calls",
        "refined vs linear the way the measured difference does; against chance (each call a",
        f"coin flip) the exact one-sided binomial p-value is {_p(p)}"
        + (
            ", so this is not evidence that the bound predicts the outcome."
            if not p < ALPHA
            else "."
        ),
        "",
        "## Counts",
        "",
        "| claim | regime | counted | better | clearly better | clearly worse | inconclusive "
        "| degenerate (clearly better / worse) | sign-test p | smallest possible p |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for claim, *_ in CLAIMS:
        for g in regimes:
            c = result.counts(claim, g)
            lines.append(
                f"| {claim} | {g} | {c['counted']} | {c['better']} | {c['clearly better']} | "
                f"{c['clearly worse']} | {c['inconclusive']} | {c['degenerate']} "
                f"({c['degenerate clearly better']} / {c['degenerate clearly worse']}) | "
                f"{_p(c['sign_p'])} | {_p(c['min_p'])} |"
            )
    lines += [
        "",
        "## Every comparison",
        "",
        'Per problem and claim "A beats B": both scores (mean over the scoring seeds), the',
        "paired difference score(B) - score(A) with its standard error (> 0: A better), the",
        "ratio A / B, the scale (linear's objective on the convex problems, its held-out",
        "cross-entropy on the language model), the test metric of A vs B (test accuracy; next-token",
        "accuracy for the language model), the t-test p and the Holm-adjusted p.",
        "",
        "| problem | claim | A | B | B - A | A / B | scale | test A vs B | p | Holm p | outcome |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    scale = {
        r.problem.name: float(r.best.set_index("schedule").objective_mean.get("linear", np.nan))
        for r in result.results
    }
    r_metric = {r.problem.name: r.metric for r in result.results}
    for row in comp.itertuples():
        outcome = row.outcome + (f": {row.inconclusive}" if row.inconclusive else "")
        lines.append(
            f"| {row.problem} | {row.claim} | {_g(row.score_a)} | {_g(row.score_b)} | "
            f"{_pm(row.diff_mean, row.diff_sem) if not row.diverged else 'a seed diverged'} | "
            f"{_g(row.ratio)} | {_scale(scale[row.problem], r_metric[row.problem])} | "
            f"{_test(row)} | "
            f"{_p(row.p_t)} | {_p(row.p_holm)} | {outcome} |"
        )
    lines += [
        "",
        "## Every schedule at its best peak lr",
        "",
        "*tuning*: the mean score on the tuning seeds that chose the peak lr (reference only);",
        "*score*: mean ± standard error on the scoring seeds; *bound vs linear*: the schedule's",
        "last-iterate bound (D = 1, best scale) under the norms of its own scoring runs, relative",
        "to linear's (n/a for Adam). Flags: `edge` best at an edge of the grid, `tie` an edge ties",
        "the best.",
        "",
        "| problem | schedule | best peak lr (of tried) | flags | tuning | score | objective "
        "| test | bound vs linear |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result.results:
        for row in r.best.itertuples():
            flags = " ".join(
                f for f, on in (("edge", row.at_grid_edge), ("tie", row.edge_tie)) if on
            )
            score = _pm(row.score_mean, row.score_sem)
            if np.isfinite(row.token_se):
                score += f" (held-out s.e. {row.token_se:.2g})"
            if row.diverged:
                score += f" ({row.diverged} diverged)"
            bound = _g(row.bound_vs_linear, 3)
            lines.append(
                f"| {r.problem.name} | {row.schedule} | {row.peak_lr:.4g} ({row.n_tried}) | "
                f"{flags or '-'} | {_g(row.tuning_score_mean)} | {score} | "
                f"{_g(row.objective_mean)} | {_pct_pm(row.test_mean, row.test_sem)} | "
                f"{bound} |"
            )
    lines += [
        "",
        "Scores are "
        + "; ".join(
            f"{METRIC_WORDS[m]} ({', '.join(sorted({r.problem.config.task for r in result.results if r.metric == m}))})"
            for m in sorted({r.metric for r in result.results})
        )
        + ".",
    ]
    lines += _lm_section(result)
    lines += _apart_section(result)
    lines += [
        "",
        "## Refined schedules",
        "",
        "Where the refined shape (built from the build seeds) peaks (0 = first step, 1 = last),",
        "the share of the run it spends at or above half its peak, how far the norms it came",
        f"from fell (median at {FALL_FROM[0]:.0%}-{FALL_FROM[1]:.0%} of the run / median over",
        f"{FALL_TO[0]:.0%}-{FALL_TO[1]:.0%}), and `lrcore.diagnose.diagnose_refined` (checked on",
        "a labelled set in tests/test_diagnose_labelled.py): degenerate when the lr first reaches",
        f"90 % of its peak beyond {LATE_PEAK:g} of the run, stays above half for",
        f"< {MIN_ABOVE_HALF:.0%} of it after a late rise, or the norms fall > {MAX_NORM_FALL:g}x.",
        "",
        "| problem | peak at | above half | norms fell | diagnosis |",
        "|---|---|---|---|---|",
    ]
    for r in result.results:
        diag = "; ".join(w.split(": ", 1)[-1].split(". Likely cause")[0] for w in r.warnings)
        lines.append(
            f"| {r.problem.name} | {r.peak_fraction:.2f} | {r.above_half:.2f} | "
            f"{r.norm_fall:.3g}x | {('**degenerate**: ' + diag) if diag else 'none'} |"
        )
    lines += [
        "",
        "## Departures from the protocol",
        "",
        "None in what was run. Where the protocol is silent or loose, this run decided:",
        "",
        f"- a *tie* at an edge is a mean objective within {TIE_RTOL:g} relative of the best;",
        f"- 'up to {MAX_EXTENSIONS} per schedule' is read as v2's 4 was: {MAX_EXTENSIONS} extra peak lrs",
        f"  ({GRID_POINTS + MAX_EXTENSIONS} in all);",
        "- a comparison with a diverged scoring seed is left out of the counts like an",
        "  inconclusive one (the table says so);",
        "- degenerate comparisons stay in the Holm family (stricter, not looser) and in the",
        "  bound's count; what they measured is shown beside the count;",
        "- the lm's standard error is over held-out *sequences* (the protocol says tokens; tokens",
        "  within a sequence are correlated, so the per-sequence s.e. is the honest one), and its",
        "  peak lrs are chosen by held-out cross-entropy (its objective);",
        "- the verdict word *mixed* covers any clear result short of a majority (v2's rule);",
        f"- the problems ran in {result.jobs} worker process(es), which does not change any number",
        "  (each run uses one CPU thread and its own seeds).",
        "",
        "## Reproducibility and time",
        "",
        "Logistic regression and the hinge run in float64 on one CPU thread, and f_star comes from",
        "float64 solvers: another x86 machine with the versions above gives the convex numbers to",
        "about 1e-9 relative; tests/test_results_csv.py reruns a subset of the problems and",
        "compares it with docs/results.csv. The CNNs and the language model run in float32 from",
        "numpy initialisations: expect relative differences up to about "
        f"{DEEP_RTOL:g} there, which can move a best peak lr on a near tie.",
        "",
        "Wall time per problem (tuning / build / scoring): "
        + ", ".join(
            f"{r.problem.name} {r.wall_time:.0f} s"
            + (
                f" ({r.phase_times['tune']:.0f} / {r.phase_times['build']:.0f} / "
                f"{r.phase_times['score']:.0f})"
                if r.phase_times
                else ""
            )
            for r in result.results
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


CSV_KEY = (
    ("problem, regime, status, task, optimizer, steps", "what ran (status as in Provenance)"),
    ("metric", "suboptimality (convex), excess_loss (lm, nats/token), objective (CNN)"),
    ("schedule, peak_lr, peak_lrs_tried", "the schedule at its best peak lr, of how many tried"),
    ("at_grid_edge, edge_tie, inconclusive", "best at an edge / an edge ties it / either"),
    ("degenerate", "the problem's refinement is flagged by diagnose_refined"),
    ("n_tuning_seeds, n_build_seeds, n_scoring_seeds", "the three seed sets' sizes"),
    ("tuning_score_mean", "mean score on the tuning seeds (reference only)"),
    ("score_mean, score_sem", "mean and standard error on the scoring seeds"),
    ("token_se", "lm: s.e. of one seed's score over its held-out sequences, averaged"),
    ("diverged_scoring_seeds", "scoring seeds whose run diverged"),
    ("objective_mean", "the objective on the scoring seeds (lm: held-out cross-entropy)"),
    ("linear_score_mean", "linear decay's score_mean on the same problem"),
    (
        "diff_vs_linear_mean, diff_vs_linear_sem",
        "paired score(schedule) - score(linear): negative = the schedule is better than linear",
    ),
    ("ratio_vs_linear", "score_mean(schedule) / score_mean(linear): < 1 = better than linear"),
    (
        "claim, p_t, p_holm, outcome",
        "the claim this row tests, its two-sided paired t-test p, "
        "Holm-adjusted p, and the outcome from the claim's first schedule's side (for 'refined "
        "beats linear': refined's; otherwise linear's)",
    ),
    ("test_metric, test_mean, test_sem", "test accuracy (lm: next-token accuracy)"),
    ("bound_vs_linear", "SGD only: the schedule's bound under its own norms / linear's"),
    ("problem_wall_s", "the problem's wall time (the only column that changes between runs)"),
)


def _apart_section(result: StudyResult) -> list[str]:
    """Inconclusive and degenerate comparisons per claim and regime, and the CSV's columns."""
    c = result.comparisons
    out = ["", "## Left out of the counts", ""]
    left = c[c.outcome.isin(["inconclusive", "degenerate"])]
    if left.empty:
        out.append("Nothing: every comparison was counted.")
    else:
        out += [
            "| claim | regime | problem | why | what it measured (B - A, Holm p) |",
            "|---|---|---|---|---|",
        ]
        for row in left.itertuples():
            r = next(x for x in result.results if x.problem.name == row.problem)
            why = (
                row.inconclusive
                if row.outcome == "inconclusive" and row.inconclusive
                else "a scoring seed diverged"
                if row.outcome == "inconclusive"
                else "degenerate: "
                + "; ".join(w.split(": ", 1)[-1].split(". Likely cause")[0] for w in r.warnings)
            )
            out.append(
                f"| {row.claim} | {row.regime} | {row.problem} | {why} | "
                f"{_pm(row.diff_mean, row.diff_sem)}, {_p(row.p_holm)} |"
            )
    out += ["", "## Columns of docs/results.csv", "", "| columns | meaning |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in CSV_KEY]
    return out


def _verdict_table(result: StudyResult, regimes: list[str]) -> list[str]:
    head = ["status"] + [c for c, *_ in CLAIMS] + ["bound calls refined vs linear"]
    out = ["| regime | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for g in regimes:
        cells = [REGIMES[g].status] + [_cell(result.counts(c, g)) for c, *_ in CLAIMS]
        k, n, p = result.bound_agrees(g)
        cells.append(f"{k}/{n} (p = {_p(p)})" if n else "n/a")
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    return out


def lm_rows(result: StudyResult) -> list:
    return [r for r in result.results if r.problem.config.is_lm]


def _lm_section(result: StudyResult) -> list[str]:
    out = []
    for r in lm_rows(result):
        best = r.best.set_index("schedule")
        cfg = r.problem.config
        lin = best.loc["linear"]
        true_ce = float(lin.objective_mean - lin.score_mean)
        out += [
            "",
            f"## The language model: {r.problem.name}",
            "",
            f"A decoder-only transformer (d_model {cfg.lm_d_model}, layers {cfg.lm_layers}, "
            f"heads {cfg.lm_heads}) trained with AdamW (weight decay {cfg.weight_decay:g}) for "
            f"{cfg.steps} steps of {cfg.batch_size} sequences of {cfg.lm_seq_len} tokens, on an "
            f"order-{cfg.lm_order} Markov chain over {cfg.lm_vocab} tokens (a new chain per seed); "
            f"linear, cosine and constant with {cfg.warmup_steps} warm-up steps, refined from "
            "linear's l1 norms by the Adam rule. Scoring seeds: "
            f"{r.problem.n_score}. The true chain's cross-entropy on the held-out tokens is "
            f"{true_ce:.4g} nats/token on average, linear's {lin.objective_mean:.4g}: the model "
            f"is {lin.score_mean:.4g} nats/token above the floor. {_lm_gap(r)} "
            f"{_lm_best(result, r)} This is a toy that, like language-model pre-training, is "
            "non-convex and never reaches 0; it does not test the paper's LLM runs.",
            "",
            "| schedule | peak lr | excess loss (nats/token) | held-out cross-entropy | "
            "next-token accuracy | minus linear | Holm p |",
            "|---|---|---|---|---|---|---|",
        ]
        comp = result.comparisons
        comp = comp[comp.problem == r.problem.name].set_index("claim")
        for s, row in best.iterrows():
            d = "-" if s == "linear" else _pm(*r.paired("linear", s))
            claim = CLAIM_OF.get(s)
            hp = _p(comp.p_holm[claim]) if claim in comp.index else "-"
            flag = " (edge)" if row.inconclusive else ""
            out.append(
                f"| {s} | {row.peak_lr:.4g}{flag} | {_pm(row.score_mean, row.score_sem)} "
                f"(held-out s.e. {row.token_se:.2g}) | {row.objective_mean:.4g} | "
                f"{_pct_pm(row.test_mean, row.test_sem)} | {d} | {hp} |"
            )
        rc = comp.loc[CLAIMS[1][0]]
        out += ["", "Refined vs linear here: " + _lm_sentence(rc, lin) + "."]
    return out


def _sign_sentence(result: StudyResult, regimes: list[str]) -> str:
    """Where a regime's exact sign test reaches ALPHA, and which regimes are too small to."""
    low = [
        f"{claim} in {g} (p = {_p(c['sign_p'])})"
        for claim, *_ in CLAIMS
        for g in regimes
        if (c := result.counts(claim, g))["counted"] and c["sign_p"] < ALPHA
    ]
    sizes = {g: max(result.counts(c, g)["counted"] for c, *_ in CLAIMS) for g in regimes}
    k = int(np.floor(np.log2(1 / ALPHA)))  # n <= k problems: 2^-n >= ALPHA
    small = [g for g in regimes if sizes[g] <= k]
    return (
        "Sign test per regime (one-sided, 'better on k of n counted problems'): "
        + (f"p < {ALPHA:g} for {'; '.join(low)}" if low else f"no claim reaches p < {ALPHA:g}")
        + f". {len(small)} of {len(regimes)} regimes have {k} or fewer counted problems and "
        f"cannot reach it (the smallest possible p of n problems is 2^-n)."
    )


def _refined_tally(result: StudyResult, regimes: list[str]) -> str:
    """Refined vs linear over the given regimes: how many problems went which way, and the
    regimes (with status and problems) where the claim holds."""
    c = result.comparisons
    c = c[(c.claim == CLAIMS[1][0]) & c.regime.isin(regimes)]
    clear = c.p_holm < ALPHA
    deg = c.outcome == "degenerate"
    parts = [
        f"{int((clear & (c.diff_mean > 0) & ~deg).sum())} clearly better",
        f"{int((clear & (c.diff_mean < 0) & ~deg).sum())} clearly worse",
        f"{int((c.outcome == 'no clear difference').sum())} no clear difference",
        f"{int(deg.sum())} degenerate ({int((deg & clear & (c.diff_mean < 0)).sum())} of them "
        "clearly worse)",
        f"{int((c.outcome == 'inconclusive').sum())} inconclusive",
    ]
    holds = [
        f"{g} ({REGIMES[g].status}: {', '.join(c[c.regime == g].problem)})"
        for g in regimes
        if result.counts(CLAIMS[1][0], g)["verdict"].startswith("holds")
    ]
    return (
        f"Refined vs linear on all {len(c)} problems above: "
        + ", ".join(parts)
        + ". "
        + ("It holds in " + "; ".join(holds) + "." if holds else "It holds in no regime.")
    )


def _lm_gap(r) -> str:
    """How far from converged the language model is: the share of the gap between a uniform
    guess and the true chain that linear decay closes."""
    cfg = r.problem.config
    lin = r.best.set_index("schedule").loc["linear"]
    true_ce = float(lin.objective_mean - lin.score_mean)
    uniform = float(np.log(cfg.lm_vocab))
    share = gap_closed(lin.objective_mean, lin.score_mean, cfg.lm_vocab)
    return (
        f"At this size the model is far from converged: linear decay closes {share:.0%} of the "
        f"gap between a uniform guess (ln {cfg.lm_vocab} = {uniform:.4g}) and the true chain "
        f"({true_ce:.4g})."
    )


def _lm_best(result: StudyResult, r) -> str:
    """Which schedule scored lowest on the language model, against linear, with its Holm p."""
    best = r.best.set_index("schedule")
    top = str(best.score_mean.idxmin())
    if top == "linear":
        return "Linear decay has the lowest excess loss."
    comp = result.comparisons
    row = comp[(comp.problem == r.problem.name) & (comp.claim == CLAIM_OF[top])].iloc[0]
    return (
        f"The lowest excess loss is {top}'s, {best.score_mean[top]:.4g} vs linear's "
        f'{best.score_mean["linear"]:.4g} ("{row.claim}": {row.outcome}, Holm p = '
        f"{_p(row.p_holm)})."
    )


def _lm_sentence(rc, lin) -> str:
    gain = rc.diff_mean  # score(linear) - score(refined): > 0 refined better
    if rc.outcome == "clearly better":
        return (
            f"refined is clearly better, by {gain:.4g} ± {rc.diff_sem:.2g} nats/token "
            f"({gain / lin.score_mean:.1%} of linear's excess loss; Holm p = {_p(rc.p_holm)})"
        )
    if rc.outcome == "clearly worse":
        return (
            f"refined is clearly worse, by {-gain:.4g} ± {rc.diff_sem:.2g} nats/token "
            f"({-gain / lin.score_mean:.1%} of linear's excess loss; Holm p = {_p(rc.p_holm)})"
        )
    word = "lower (better)" if gain > 0 else "higher (worse)"
    return (
        f"{rc.outcome}: refined {rc.score_a:.4g} vs linear {rc.score_b:.4g} nats/token, "
        f"refined's excess loss {word} by {abs(gain):.2g} ± {rc.diff_sem:.2g} "
        f"({abs(gain) / lin.score_mean:.1%} of linear's; t-test p = {_p(rc.p_t)} before "
        f"correction, Holm p = {_p(rc.p_holm)})"
    )


def readme_block(result: StudyResult) -> str:
    """The README's headline: per claim and regime the verdict with its sign-test p, the
    absolute sizes where refined is clearly better or worse, and the language model."""
    regimes = [g for g in result.regimes if not REGIMES[g].apart]
    apart = [g for g in result.regimes if REGIMES[g].apart]
    n = len(result.results)
    comp = result.comparisons
    out = [
        f"[docs/results.md](docs/results.md) tests the paper's claims on {n} problems in "
        f"{len(result.regimes)} regimes under [protocol v3](docs/protocol.md) (held-out build and "
        "scoring seeds, each schedule at its own best peak lr, Holm-corrected paired tests; "
        f"full numbers in [docs/results.csv](docs/results.csv); {_wall(result.wall_time)} on "
        f"{result.jobs} process(es)). Verdicts (clearly better = Holm p < {ALPHA:g}):",
        "",
    ]
    head = [c for c, *_ in CLAIMS]
    out += ["| regime | status | " + " | ".join(head) + " |", "|---" * (len(head) + 2) + "|"]
    for g in regimes:
        cells = [_cell(result.counts(c, g)) for c in head]
        out.append(f"| {g} | {REGIMES[g].status} | " + " | ".join(cells) + " |")
    out += [
        "",
        "*holds* / *reversed*: clearly better / worse on more than half of the counted problems"
        " (neither inconclusive nor degenerate); *mixed*: some clear result short of that; "
        "*better*: a lower mean, however small; status: whether the regime was fixed before "
        "any result (pre-pilot, pre-registered) or added after pilots had shown refined "
        "winning (post-pilot).",
        "",
        "- " + _refined_tally(result, regimes),
        "- " + _sign_sentence(result, regimes),
    ]
    rb = comp[(comp.claim == CLAIMS[1][0]) & comp.outcome.isin(["clearly better", "clearly worse"])]
    scale = {r.problem.name: r.best.set_index("schedule") for r in result.results}
    if len(rb):
        sizes = []
        for row in rb.itertuples():
            b = scale[row.problem]
            others = b.score_mean.drop(["refined", "linear"])
            top = str(others.idxmin())
            sizes.append(
                f"{row.problem} {row.outcome.split()[1]} by {abs(row.diff_mean):.2g} "
                f"(linear {row.score_b:.3g}, objective {b.objective_mean['linear']:.3g}; "
                f"test {_pct(row.test_a)} vs {_pct(row.test_b)}; best other schedule {top} "
                f"{others[top]:.3g})"
            )
        out.append(
            "- Sizes where refined is clearly better or worse than linear: "
            + "; ".join(sizes)
            + "."
        )
    for r in lm_rows(result):
        rc = comp[(comp.problem == r.problem.name) & (comp.claim == CLAIMS[1][0])].iloc[0]
        out.append(
            f"- **Language model** ({r.problem.name}): "
            + _lm_sentence(rc, r.best.set_index("schedule").loc["linear"])
            + ". "
            + _lm_gap(r)
            + " "
            + _lm_best(result, r)
        )
    if apart:
        for g in apart:
            c = result.counts(CLAIMS[1][0], g)
            out.append(f"- Kept apart, {g}: refined beats linear: {_cell(c, sign=False)}.")
    agree, total, p = result.bound_agrees()
    out.append(
        f"- **The bound** (own-norm scoring) called refined vs linear right on {agree} of "
        f"{total} SGD problems (one-sided binomial p = {_p(p)} against chance)."
    )
    return "\n".join(out)


def check_readme(path: str | Path) -> str:
    """The text of ``path``; ValueError when it lacks the study block's markers."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"update_readme: cannot read {path}: {e.strerror}") from None
    if README_START not in text or README_END not in text:
        raise ValueError(f"update_readme: {path} has no {README_START!r} ... {README_END!r} block")
    return text


def update_readme(path: str | Path, block: str) -> None:
    """Replace the text between README_START and README_END in ``path`` with ``block``."""
    path, text = Path(path), check_readme(path)
    pattern = re.escape(README_START) + ".*?" + re.escape(README_END)
    path.write_text(
        re.sub(pattern, lambda _: f"{README_START}\n{block}\n{README_END}", text, flags=re.S)
    )


def csv_report(result: StudyResult) -> str:
    """docs/results.csv: every best row in full precision (:meth:`StudyResult.csv_table`)."""
    return result.csv_table().to_csv(index=False)
