"""The verdicts per claim and regime (the theory's regimes, then those kept apart), the
bound against the measurement, and the counts behind the verdicts."""

from __future__ import annotations

from lrcore.study.problems import REGIMES
from lrcore.study.report._fmt import _cell, _p
from lrcore.study.result import StudyResult
from lrcore.study.stats import ALPHA, CLAIMS

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


def verdicts(result: StudyResult) -> list[str]:
    """The verdict tables and the bound's record."""
    regimes = result.regimes
    theory = [g for g in regimes if not REGIMES[g].apart]
    apart = [g for g in regimes if REGIMES[g].apart]
    lines = [
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
    ]
    return lines


def counts(result: StudyResult) -> list[str]:
    """Per claim and regime: counted, better, clearly better or worse, left out, sign test."""
    lines = [
        "",
        "## Counts",
        "",
        "| claim | regime | counted | better | clearly better | clearly worse | inconclusive "
        "| degenerate (clearly better / worse) | sign-test p | smallest possible p |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for claim, *_ in CLAIMS:
        for g in result.regimes:
            c = result.counts(claim, g)
            lines.append(
                f"| {claim} | {g} | {c['counted']} | {c['better']} | {c['clearly better']} | "
                f"{c['clearly worse']} | {c['inconclusive']} | {c['degenerate']} "
                f"({c['degenerate clearly better']} / {c['degenerate clearly worse']}) | "
                f"{_p(c['sign_p'])} | {_p(c['min_p'])} |"
            )
    return lines


def _verdict_table(result: StudyResult, regimes: list[str]) -> list[str]:
    head = ["status"] + [c for c, *_ in CLAIMS] + ["bound calls refined vs linear"]
    out = ["| regime | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for g in regimes:
        cells = [REGIMES[g].status] + [_cell(result.counts(c, g)) for c, *_ in CLAIMS]
        k, n, p = result.bound_agrees(g)
        cells.append(f"{k}/{n} (p = {_p(p)})" if n else "n/a")
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    return out
