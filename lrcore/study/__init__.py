"""The study under protocol v3 (docs/protocol.md): where do the paper's claims hold, on
problems anyone can rerun?

Every problem uses three disjoint seed sets (a seed fixes the data split or source, the
initialisation, the batches and the gradient noise):

- **tuning seeds** ``0 .. n-1``: each baseline schedule runs a factor-2 peak-lr grid around
  the problem's centre lr (:func:`lrcore.train.experiments.compare`), extended while its best
  sits at an edge, up to :data:`~lrcore.study.problems.MAX_EXTENSIONS` extra peak lrs; the best peak lr is the lowest
  mean final objective with no diverged seed;
- **build seeds** ``100 ..``: linear decay runs at its best peak lr; **refined** is refined
  (tau) from the seed-averaged norms of these runs only (l2 and the SGD rule for SGD, l1 and
  the Adam rule for Adam/AdamW), then tuned on the tuning seeds like the others;
- **scoring seeds** ``1000 ..``: every schedule runs once more at its best peak lr; every
  verdict, win count and per-problem number comes from these runs.

A schedule whose best is still at an edge of its grid, or ties the edge's score, is
*inconclusive* there; a claim involving it is left out of the verdict counts. A refinement that
:func:`lrcore.diagnose.diagnose_refined` flags is *degenerate* and counted apart. Claims are
tested per problem by a two-sided paired t-test over the scoring seeds, Holm-corrected over the
whole study; per regime, an exact one-sided sign test. Nothing is dropped.

Modules: :mod:`~lrcore.study.problems` (regimes and problems), :mod:`~lrcore.study.run`
(:func:`run_study`), :mod:`~lrcore.study.stats` (tests, Holm, verdict words),
:mod:`~lrcore.study.result` (:class:`StudyResult`), :mod:`~lrcore.study.csv_table`
(docs/results.csv) and :mod:`lrcore.study.report` (docs/results.md and the README block,
one module per section). Names below are imported on first use; torch comes with
:func:`run_study`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Regime": "lrcore.study.problems",
    "REGIMES": "lrcore.study.problems",
    "Problem": "lrcore.study.problems",
    "full_problems": "lrcore.study.problems",
    "smoke_problems": "lrcore.study.problems",
    "ALPHA": "lrcore.study.stats",
    "CLAIMS": "lrcore.study.stats",
    "paired_p": "lrcore.study.stats",
    "holm": "lrcore.study.stats",
    "sign_test_p": "lrcore.study.stats",
    "verdict": "lrcore.study.stats",
    "ProblemResult": "lrcore.study.result",
    "StudyResult": "lrcore.study.result",
    "run_study": "lrcore.study.run",
    "markdown_report": "lrcore.study.report",
    "readme_block": "lrcore.study.report",
    "csv_report": "lrcore.study.report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lrcore.study' has no attribute {name!r}")
