"""What the study returns: one :class:`ProblemResult` per problem and the
:class:`StudyResult` that gathers them, with the study-wide comparisons, counts and verdicts
(:mod:`lrcore.study.stats`) and the CSV table (:mod:`lrcore.study.csv_table`).

Pickles written before the study had its own package name ``lrcore.train.study``; that
module re-exports these classes so that they still load."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from lrcore.late_rise import LateRise
from lrcore.study import stats
from lrcore.study.csv_table import csv_table
from lrcore.study.problems import REGIMES, Problem
from lrcore.study.stats import CLAIMS


@dataclass
class ProblemResult:
    problem: Problem
    best: pd.DataFrame  # one row per schedule at its best peak lr (scored on the scoring seeds)
    scores: dict[str, np.ndarray]  # schedule -> score per scoring seed (nan: diverged)
    tests: dict[str, np.ndarray]  # schedule -> test accuracy per scoring seed
    metric: str  # "suboptimality", "excess_loss" or "objective"
    refined: np.ndarray  # the refined shape (peak 1), built from the build seeds
    peak_fraction: float  # refined shape: where it peaks (0 = start, 1 = end)
    above_half: float  # refined shape: share of the run at >= half its peak
    norm_fall: float  # early / late smoothed norms it was refined from
    warnings: list[str]  # diagnose_refined on the refined shape: non-empty = degenerate
    wall_time: float
    device: str
    phase_times: dict[str, float] = field(default_factory=dict)  # tune, build, score (s)
    # protocol v4.3: the late rise of the norms refined reads (linear's build runs, seed mean)
    # with their per-step training loss, and the refined shapes of rounds 2, 3, ...
    late_rise: LateRise | None = None
    build_norms: np.ndarray | None = None
    build_loss: np.ndarray | None = None
    rounds: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def degenerate(self) -> bool:
        return bool(self.warnings)

    def paired(self, a: str, b: str) -> tuple[float, float]:
        """Mean and standard error over the scoring seeds of ``score(b) - score(a)`` (> 0: a is
        better); nan when either is missing or has a diverged seed."""
        la, lb = self.scores.get(a), self.scores.get(b)
        if la is None or lb is None or not (np.isfinite(la).all() and np.isfinite(lb).all()):
            return float("nan"), float("nan")
        d = lb - la
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.inf


@dataclass
class StudyResult:
    results: list[ProblemResult]
    wall_time: float
    versions: dict = field(default_factory=dict)
    jobs: int = 1

    @property
    def regimes(self) -> list[str]:
        return [g for g in REGIMES if any(r.problem.regime == g for r in self.results)]

    @property
    def table(self) -> pd.DataFrame:
        """Every problem's best rows, with problem and regime columns."""
        return pd.concat(
            [r.best.assign(problem=r.problem.name, regime=r.problem.regime) for r in self.results],
            ignore_index=True,
        )

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        """One row per problem x claim (:func:`lrcore.study.stats.comparisons`)."""
        return stats.comparisons(self.results)

    def counts(self, claim: str, regime: str | None = None) -> dict:
        """A claim's counts and verdict words (:func:`lrcore.study.stats.counts`)."""
        return stats.counts(self.comparisons, claim, regime)

    def bound_agrees(self, regime: str | None = None) -> tuple[int, int, float]:
        """The bound's calls vs the measurement (:func:`lrcore.study.stats.bound_agrees`)."""
        return stats.bound_agrees(self.results, self.comparisons, regime)

    def verdicts(self) -> pd.DataFrame:
        """One row per claim, one column per regime: the verdict words."""
        rows = {
            claim: {g: self.counts(claim, g)["verdict"] for g in self.regimes}
            for claim, *_ in CLAIMS
        }
        return pd.DataFrame(rows).T[self.regimes]

    def csv_table(self) -> pd.DataFrame:
        """docs/results.csv: one row per problem x schedule at its best peak lr, full precision
        (:func:`lrcore.study.csv_table.csv_table`)."""
        return csv_table(self)
