"""Comparisons left out of the counts (inconclusive, degenerate) and the CSV's columns."""

from __future__ import annotations

from lrcore.study.csv_table import CSV_KEY
from lrcore.study.report._fmt import _p, _pm
from lrcore.study.result import StudyResult


def left_out(result: StudyResult) -> list[str]:
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
