"""The study's markdown (docs/results.md), CSV (docs/results.csv) and the README's headline,
every sentence about a number computed from that number.

:func:`markdown_report` is the title block (:func:`~lrcore.study.report.header.header`)
followed by :data:`SECTIONS` in order; each section is a function of the
:class:`~lrcore.study.result.StudyResult` that returns its lines, starting with a blank one.
A new section is a module here and an entry in :data:`SECTIONS`."""

from __future__ import annotations

from lrcore.study.report.closing import departures, reproducibility
from lrcore.study.report.comparisons import comparisons, schedules
from lrcore.study.report.header import header, method
from lrcore.study.report.left_out import left_out
from lrcore.study.report.lm import lm_section
from lrcore.study.report.mechanism import mechanism
from lrcore.study.report.provenance import provenance
from lrcore.study.report.readme import (
    README_END,
    README_START,
    check_readme,
    readme_block,
    update_readme,
)
from lrcore.study.report.refined import refined
from lrcore.study.report.verdicts import counts, verdicts
from lrcore.study.result import StudyResult

SECTIONS = (
    method,  # How the numbers were obtained
    provenance,  # Provenance, and the regimes with their wall times
    verdicts,  # Verdicts and the bound vs the measurement
    counts,  # Counts
    comparisons,  # Every comparison
    schedules,  # Every schedule at its best peak lr
    lm_section,  # The language model (one per lm problem)
    mechanism,  # Why the norms rise late: the mechanism table (protocol v4)
    left_out,  # Left out of the counts, Columns of docs/results.csv
    refined,  # Refined schedules
    departures,  # Departures from the protocol
    reproducibility,  # Reproducibility and time
)

__all__ = [
    "README_END",
    "README_START",
    "SECTIONS",
    "check_readme",
    "csv_report",
    "markdown_report",
    "readme_block",
    "update_readme",
]


def markdown_report(result: StudyResult, command: str) -> str:
    """docs/results.md: the title block for ``command``, then every section."""
    lines = header(result, command)
    for section in SECTIONS:
        lines += section(result)
    return "\n".join(lines)


def csv_report(result: StudyResult) -> str:
    """docs/results.csv: every best row in full precision (:meth:`StudyResult.csv_table`)."""
    return result.csv_table().to_csv(index=False)
