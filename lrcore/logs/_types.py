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
    notes: tuple[str, ...] = ()  # what reading assumed or dropped (no step column, a cut line)

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
        parts.extend(self.notes)
        return "; ".join(parts)


@dataclass(frozen=True)
class GradNormLog:
    """Gradient norms of one run, cleaned: steps strictly increasing, norms finite and > 0.

    Steps count optimizer steps from 0: step ``t`` is the norm of the gradient that the
    ``t``-th optimizer step applies (lrcore's ``grad_norms.csv``). Hugging Face's
    ``log_history`` numbers a point by its global step after that update, ``t + 1``: its
    points are read as ``step - 1`` (the cleaning report says so)."""

    steps: np.ndarray  # int64, strictly increasing
    grad_norms: np.ndarray  # float64, finite, > 0
    metric: str  # the series' name in the source (column, tag or key)
    fmt: str  # detected format, a key of lrcore.logs.FORMATS
    source: str  # file name (or "<bytes>")
    report: CleaningReport
    candidates: tuple[str, ...] = field(default=())  # every norm series the source holds
    # the optimizer family the log records ("adam" / "sgd"; None: not recorded or unknown),
    # its own name (e.g. "AdamW"), and the refinement rule chosen from it (lrcore.logs._meta)
    optimizer: str | None = None
    optimizer_name: str | None = None
    rule: object | None = field(default=None, compare=False)  # a lrcore.logs._meta.Rule
    # the training loss the log holds beside the norms (a ``loss`` column, HF's ``loss``,
    # Lightning's ``train_loss``, W&B's ``train/loss``): its own steps (often sparser than
    # the norms'), finite values; all three None when the log holds no loss
    loss_steps: np.ndarray | None = field(default=None, compare=False)
    loss_values: np.ndarray | None = field(default=None, compare=False)
    loss_metric: str | None = None
    # how many optimizer steps the run had taken when the log was written, where the log
    # says so (trainer_state.json: global_step); None otherwise (then the last step + 1
    # for steps counted from 0)
    total_steps: int | None = None

    def __post_init__(self):
        for arr in (self.steps, self.grad_norms, self.loss_steps, self.loss_values):
            if arr is not None:
                arr.flags.writeable = False

    def __len__(self) -> int:
        return len(self.grad_norms)

    @property
    def norm_type(self) -> str:
        """``"l1"`` when the metric name says so (Adam-style refinement), else ``"l2"``."""
        from lrcore.logs._meta import norm_of

        return norm_of(self.metric)

    @property
    def suggested_optimizer(self) -> str:
        """The refinement rule: the one :attr:`rule` chose (from the optimizer the log
        records, else from the norm), or, for a log built by hand, ``"adam"`` for l1 norms
        and ``"sgd"`` for l2."""
        if self.rule is not None:
            return self.rule.optimizer
        return "adam" if self.norm_type == "l1" else "sgd"

    @property
    def rule_text(self) -> str:
        """Which rule and norm and why, e.g. ``'Adam rule on l1 norms (the log records the
        optimizer (AdamW, Adam family))'``."""
        if self.rule is not None:
            return self.rule.describe()
        rule = "Adam" if self.suggested_optimizer == "adam" else "SGD"
        return (
            f"{rule} rule on {self.norm_type} norms ({self.metric!r} is an {self.norm_type} norm)"
        )

    @property
    def rule_note(self) -> str | None:
        """What to tell people when the rule was a guess (both norms, nothing recorded; a
        Hugging Face trainer_state.json), with how to switch; None otherwise."""
        return None if self.rule is None else self.rule.note

    def continuity_warnings(self, factor: float = 10.0) -> list[str]:
        """Sentences for a log that looks resumed or truncated: it starts far after step 0,
        or has a gap ``factor`` times its usual (median) spacing or more."""
        steps = self.steps
        if len(steps) < 3:
            return []
        diffs = np.diff(steps)
        usual = float(np.median(diffs))
        out = []
        span = int(steps[-1] - steps[0])
        if steps[0] > max(factor * usual, 0.1 * span):
            out.append(
                f"{self.source}: the log starts at step {int(steps[0]):,}, far after step 0 "
                f"(usual spacing {usual:g}): a resumed or truncated run? The refinement sees "
                f"steps {int(steps[0]):,}..{int(steps[-1]):,} only"
            )
        big = np.flatnonzero(diffs >= factor * usual) if usual > 0 else np.array([], int)
        if len(big):
            i = int(big[np.argmax(diffs[big])])
            more = f" and {len(big) - 1:,} more" if len(big) > 1 else ""
            out.append(
                f"{self.source}: no points between steps {int(steps[i]):,} and "
                f"{int(steps[i + 1]):,} (usual spacing {usual:g}){more}: part of the run is "
                "missing (a resumed or truncated run?)"
            )
        return out

    def describe(self) -> str:
        return (
            f"{self.source}: {self.fmt}, metric {self.metric!r} ({self.norm_type}), "
            f"{len(self):,} points, steps {self.steps[0]:,}..{self.steps[-1]:,}; "
            f"{self.report.describe()}"
        )
