"""Provenance: the study's history from git and each regime's status (facts quoted, not
recomputed), and the regimes with their wall times."""

from __future__ import annotations

from lrcore.study.problems import REGIMES
from lrcore.study.report._fmt import _regime_time, _wall
from lrcore.study.result import StudyResult

PROTOCOL_COMMIT = "3dbb2a7"  # docs/protocol.md, 2026-12-02 06:25 UTC
LM_COMMIT = "3bc7a0c"  # task lm added, 06:35 UTC: after the protocol
V4_COMMIT = "828c4b5"  # protocol v4 (issue 24), 2026-12-04 21:26 UTC, before any v4 lm result
# what was seen before v4 (its section v4.1, quoted, not recomputed)
V4_PILOT = (
    "issue 24's review at the converged size (seeds 0-2): linear 0.122, cosine 0.198, refined "
    "0.803 (3/3 worse), refined round 2 0.232 nats/token; and linear-only seed-0 runs by the "
    "amendment's author (weight decay 0.1 / 0 / 0.01, AdamC 0.1, two smaller sizes, Dirichlet "
    "0.15 / 0.6, batch 16) to check that the model learns and where its loss drops"
)
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
    "| before 2026-12-04 21:17 | issue 24 | a review's lm runs at a size where it learns |",
    "| 2026-12-04 21:26 | 828c4b5 | protocol v4: the converged lm and its mechanism regimes |",
)


def provenance(result: StudyResult) -> list[str]:
    """What came before this run (git history, the lm pilot, earlier runs) and the regimes."""
    lines = [
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
        f"nothing in the protocol's lm settings. {RUN_HISTORY} Protocol v4 fixed the converged "
        f"lm and its mechanism regimes before any of their results; seen before it: {V4_PILOT}. "
        "This is the first full run of the v4 problem code.",
        "",
        "| when (UTC) | commit | what |",
        "|---|---|---|",
        *PROVENANCE,
        "",
        "| regime | status | problems | what is in it | wall time |",
        "|---|---|---|---|---|",
    ]
    for g in result.regimes:
        n = sum(r.problem.regime == g for r in result.results)
        lines.append(
            f"| {g} | {REGIMES[g].status}{' (kept apart)' if REGIMES[g].apart else ''} | {n} | "
            f"{REGIMES[g].what} | {_wall(_regime_time(result, g))} |"
        )
    return lines
