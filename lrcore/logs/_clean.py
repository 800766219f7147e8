"""Cleaning (log-formats.md): drop missing / nan / inf rows and count them, sort steps,
keep the last value of a repeated step, reject norms <= 0 and fewer than 2 points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lrcore._validate import MAX_EXACT_STEP
from lrcore.logs._types import CleaningReport, GradNormLog, LogError


@dataclass
class RawSeries:
    """One series as a parser found it, before cleaning."""

    values: np.ndarray  # float64; nan where the source said nan
    steps: np.ndarray | None = None  # float64 (nan = no step); None means 0..n-1
    missing: np.ndarray | None = None  # bool, True where the source had no value at all
    first_line: int | None = None  # line of row 0 in the file, when rows are lines
    non_numeric: np.ndarray | None = None  # bool, True where a JSON value was not a number
    unreadable: int = 0  # records of the file that could not be read (TensorBoard)
    notes: tuple[str, ...] = ()  # for the cleaning report: what reading assumed or dropped


class Parsed(dict):
    """What a parser returns: its series by name (:class:`RawSeries`), and what the file
    says about the run (a plain dict of series is read as saying nothing)."""

    recorded = None  # a lrcore.logs._meta.Recorded: the optimizer the file records
    total_steps: int | None = None  # optimizer steps taken (trainer_state.json: global_step)


def clean_loss(raw: RawSeries) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values) of a loss series: rows without a finite value or a whole finite step
    dropped, steps sorted, the last value of a repeated step kept; None if nothing is left.
    Unlike norms, a loss may be 0 or negative.

    >>> clean_loss(RawSeries(np.array([2.0, np.nan, 1.5, 1.0]), np.array([0.0, 1, 3, 2])))
    (array([0, 2, 3]), array([2. , 1. , 1.5]))
    """
    values = np.asarray(raw.values, dtype=np.float64)
    steps = np.arange(len(values)) if raw.steps is None else np.asarray(raw.steps)
    steps = steps.astype(np.float64)
    keep = np.isfinite(values) & np.isfinite(steps) & (steps == np.round(steps))
    keep &= np.abs(steps) <= MAX_EXACT_STEP
    for mask in (raw.missing, raw.non_numeric):
        if mask is not None:
            keep &= ~np.asarray(mask, bool)
    steps, values = steps[keep], values[keep]
    if not len(values):
        return None
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order]
    last = np.r_[steps[1:] != steps[:-1], True]
    return steps[last].astype(np.int64), values[last]


def clean(
    raw: RawSeries, *, metric: str, fmt: str, source: str, candidates: tuple[str, ...] = ()
) -> GradNormLog:
    values = np.asarray(raw.values, dtype=np.float64)
    n = len(values)
    steps = np.arange(n) if raw.steps is None else np.asarray(raw.steps)
    integral = steps.dtype.kind in "iu"
    # the usual large log: integer steps, every value present, min > 0 and max finite (both
    # propagate nan): nothing to drop or refuse, checked with two reductions and no masks
    plain = (
        integral
        and raw.missing is None
        and raw.non_numeric is None
        and n > 0
        and bool(values.min() > 0)
        and bool(values.max() < np.inf)
    )
    none = np.zeros(0 if plain else n, bool)  # the plain log needs no masks at all
    missing = none if raw.missing is None else np.asarray(raw.missing, bool)
    if not integral:
        missing = missing | np.isnan(steps)
    non_numeric = none if raw.non_numeric is None else np.asarray(raw.non_numeric, bool)
    is_nan = is_inf = none
    rows = None
    if plain:
        pass
    elif missing.any() or non_numeric.any() or not np.isfinite(values).all():
        missing = missing & ~non_numeric
        gone = missing | non_numeric
        is_nan = np.isnan(values) & ~gone
        is_inf = np.isinf(values) & ~gone
        keep = ~(gone | is_nan | is_inf)
        rows = np.flatnonzero(keep)
        steps, values = steps[keep], values[keep]

    bad = none if plain else values <= 0
    if bad.any():
        i = int(np.argmax(bad))
        raise LogError(
            f"{source}{_where(raw, rows, i)}: step {steps[i]:g}: {metric} = {values[i]:g}; gradient norms must "
            "be > 0 (refinement divides by them)"
        )
    if not integral and not np.all(np.isfinite(steps)):
        i = int(np.argmin(np.isfinite(steps)))
        raise LogError(f"{source}{_where(raw, rows, i)}: step {steps[i]:g} is not a finite number")
    if not integral and np.any(steps != np.round(steps)):
        i = int(np.argmax(steps != np.round(steps)))
        raise LogError(f"{source}{_where(raw, rows, i)}: step {steps[i]:g} is not a whole number")
    if steps.dtype.kind == "u":  # pyarrow reads integers above 2^63 as uint64
        steps, integral = steps.astype(np.float64), False
    if len(steps) and (steps.min() < -MAX_EXACT_STEP or steps.max() > MAX_EXACT_STEP):
        i = int(np.argmax((steps < -MAX_EXACT_STEP) | (steps > MAX_EXACT_STEP)))
        shown = f"{int(steps[i]):,}" if integral else f"{steps[i]:,.0f}"
        raise LogError(
            f"{source}{_where(raw, rows, i)}: step {shown} is outside +-2^53 "
            f"(+-{MAX_EXACT_STEP:,}), where step numbers stop being exact"
        )
    resorted = bool(np.any(steps[1:] < steps[:-1]))
    if resorted:
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
    duplicates = 0
    if len(steps) > 1 and np.any(steps[1:] == steps[:-1]):
        last = np.r_[steps[1:] != steps[:-1], True]  # last row of each run of equal steps
        duplicates = int(len(steps) - last.sum())
        steps, values = steps[last], values[last]

    notes = tuple(raw.notes)
    if len(steps) and steps[0] < 0:  # kept as they are: only the report says so
        notes += (
            f"steps start at {int(steps[0]):,}: negative step numbers kept as they are "
            "(steps usually count from 0)",
        )
    report = CleaningReport(
        rows_read=n,
        missing=int(missing.sum()),
        nan=int(is_nan.sum()),
        inf=int(is_inf.sum()),
        duplicates=duplicates,
        resorted=resorted,
        non_numeric=int(non_numeric.sum()),
        unreadable=raw.unreadable,
        notes=notes,
    )
    if len(values) < 2:
        raise LogError(
            f"{source}: {metric} has {len(values)} usable point(s) after cleaning, need at least 2 "
            f"({report.describe()})"
        )
    return GradNormLog(
        steps=steps.astype(np.int64, copy=False),
        grad_norms=values,
        metric=metric,
        fmt=fmt,
        source=source,
        report=report,
        candidates=candidates or (metric,),
    )


def _where(raw: RawSeries, rows: np.ndarray | None, i: int) -> str:
    """``", line 17"`` for row ``i`` of the cleaned series, when rows are lines of the file."""
    if raw.first_line is None:
        return ""
    return f", line {raw.first_line + int(i if rows is None else rows[i])}"
