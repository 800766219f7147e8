"""The refined schedules: where each peaks, how long it stays high, what its norms did, and
the diagnosis."""

from __future__ import annotations

from lrcore.diagnose import FALL_FROM, FALL_TO, LATE_PEAK, MAX_NORM_FALL, MIN_ABOVE_HALF
from lrcore.study.result import StudyResult


def refined(result: StudyResult) -> list[str]:
    """One row per problem: the refined shape's peak, time above half, norm fall, diagnosis."""
    lines = [
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
    return lines
