"""The one type every loader returns, its cleaning report, and the loaders' error type."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class LogError(ValueError):
    """A log could not be read: the message says what is wrong and where."""


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning did to the series, in counts (shown to the user, never silent)."""

    rows_read: int  # rows (or entries) that belong to this series, before cleaning
    missing: int = 0  # rows with no value for this series (empty cell, absent key)
    nan: int = 0  # rows whose value was nan
    inf: int = 0  # rows whose value was +inf or -inf (e.g. fp16 overflow)
    duplicates: int = 0  # repeated steps resolved by keeping the last value
    resorted: bool = False  # whether steps had to be sorted
    non_numeric: int = 0  # JSON entries whose value was text, true/false, a list or an object
    unreadable: int = 0  # corrupt or truncated TensorBoard records skipped (whole file)

    @property
    def dropped(self) -> int:
        return self.missing + self.nan + self.inf + self.non_numeric

    def describe(self) -> str:
        """One line for people: ``'1,000 rows read; dropped 2 nan, 1 inf; ...'``."""
        parts = [f"{self.rows_read:,} rows read"]
        drops = [
            f"{n:,} {what}"
            for n, what in (
                (self.missing, "missing"),
                (self.nan, "nan"),
                (self.inf, "inf"),
                (self.non_numeric, "not a number"),
            )
            if n
        ]
        parts.append("dropped " + ", ".join(drops) if drops else "nothing dropped")
        if self.unreadable:
            parts.append(f"{self.unreadable:,} unreadable record(s) skipped (corrupt or truncated)")
        if self.duplicates:
            parts.append(f"{self.duplicates:,} repeated steps (kept the last value)")
        if self.resorted:
            parts.append("steps were out of order (sorted)")
        return "; ".join(parts)


@dataclass(frozen=True)
class GradNormLog:
    """Gradient norms of one run, cleaned: steps strictly increasing, norms finite and > 0."""

    steps: np.ndarray  # int64, strictly increasing
    grad_norms: np.ndarray  # float64, finite, > 0
    metric: str  # the series' name in the source (column, tag or key)
    fmt: str  # detected format, a key of lrcore.logs.FORMATS
    source: str  # file name (or "<bytes>")
    report: CleaningReport
    candidates: tuple[str, ...] = field(default=())  # every norm series the source holds

    def __post_init__(self):
        for arr in (self.steps, self.grad_norms):
            arr.flags.writeable = False

    def __len__(self) -> int:
        return len(self.grad_norms)

    @property
    def norm_type(self) -> str:
        """``"l1"`` when the metric name says so (Adam-style refinement), else ``"l2"``."""
        return "l1" if "l1" in self.metric.lower() else "l2"

    @property
    def suggested_optimizer(self) -> str:
        """The refinement variant that matches the norm: ``"adam"`` for l1, ``"sgd"`` for l2."""
        return "adam" if self.norm_type == "l1" else "sgd"

    def describe(self) -> str:
        return (
            f"{self.source}: {self.fmt}, metric {self.metric!r} ({self.norm_type}), "
            f"{len(self):,} points, steps {self.steps[0]:,}..{self.steps[-1]:,}; "
            f"{self.report.describe()}"
        )
