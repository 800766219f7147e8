r"""Everything one view of a gradient-norm log needs, computed once: :func:`analyse`.

The Refine and Schedules pages of the app and ``lrcore inspect`` all print fields of the
same :class:`LogAnalysis`, so they cannot disagree about a log's peak, halving point or the
default length of the next run. A long log is computed on :data:`SAMPLE_POINTS` evenly
spaced points (their steps kept); downloads and ``lrcore refine`` use every point.

>>> import io
>>> from lrcore.logs import load_log
>>> rows = "".join(f"{t},{1 + t % 3}\n" for t in range(200))
>>> a = analyse(load_log(io.BytesIO(("step,grad_norm\n" + rows).encode())))
>>> a.steps, a.optimizer, a.degenerate
(200, 'sgd', False)
>>> print(a.default_steps_note)
steps count from 0 and the last logged step is 199, so the run had 200 steps

Every entry point takes its length, rule, series and warnings from here: ``lrcore inspect``,
``lrcore refine`` (which writes :meth:`LogAnalysis.full_values`), the Refine page and the
Python helpers (:func:`lrcore.integrations.schedule_values`, which issue the warnings as
:class:`RefinementWarning`). The series a rule reads is chosen by
:meth:`lrcore.logs.LogFile.load` (``metric``, ``optimizer``) before the analysis, by all of them.
"""

from __future__ import annotations

import os
import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np

from lrcore._validate import MAX_STEPS, check_unit
from lrcore.bound import compare_bounds, optimal_schedule
from lrcore.diagnose import diagnose_refined
from lrcore.fit import FamilyFit, fit_family
from lrcore.late_rise import LateRise, diagnose_late_rise, late_rise
from lrcore.refine import (
    SAMPLE_POINTS,
    SUMMARY_GRID,
    ScheduleSummary,
    evenly_spaced,
    refine_smoothed,
    smooth_norms,
    stretch,
    summarize,
)
from lrcore.registry import REGISTRY, build_schedule
from lrcore.schedules import evaluate

__all__ = [
    "BASELINES",
    "LOW_R2",
    "OPTIMUM_POINTS",
    "LogAnalysis",
    "RefinementWarning",
    "analyse",
    "default_steps",
    "steps_from_zero",
    "describe_fit",
    "fmt_pct",
]

LOW_R2 = 0.9  # below this a fitted family is not offered as a config
OPTIMUM_POINTS = 5_000  # the numerical optimum is offered up to this many logged points
BASELINES = ("linear", "cosine", "constant")  # always in the bound table
RULES = {"sgd": "SGD rule (l2 norms)", "adam": "Adam rule (l1 norms)"}  # the app's switch


class RefinementWarning(UserWarning):
    """A warning about a refined schedule or its log (degenerate refinement, norms that rise
    late, a log that looks resumed or truncated): the Python helpers issue every warning
    ``lrcore inspect`` and ``lrcore refine`` print as ``warning:``, with the same text."""


P_DEFINITION = "p = fraction of the run done (step / total steps)."
_COOLDOWNS = {
    "linear": "linear",
    "cosine": "cosine",
    "1-sqrt": "square-root (lr = peak × (1 - √q), q = fraction of the cool-down done)",
}


def fmt_pct(x: float) -> str:
    """A fraction as the pages and the CLI print it.

    >>> fmt_pct(0.8912)
    '89.1%'
    """
    return f"{100 * x:.1f}%"


def default_steps(
    steps, total_steps: int | None = None, zero_based: bool | None = None
) -> tuple[int, str]:
    """How many steps the logged run had (the next run's default length), and the sentence
    that says what was assumed: ``total_steps`` when the log records it (a
    :attr:`~lrcore.logs.GradNormLog.total_steps`, e.g. trainer_state.json's global step),
    else the last logged step, or one more when steps count from 0: ``zero_based`` when the
    format says so (:func:`steps_from_zero`), else when the first step is 0 or every logged
    step is one short of a multiple of the logging interval (Lightning logs steps 4, 9, ...,
    39 of a 40-step run every 5).

    >>> default_steps(np.array([10, 20, 500_500]))
    (500500, 'the last logged step is 500,500; steps start at 10, so the run had 500,500 steps')
    >>> default_steps(np.array([0, 1, 99]))[0]
    100
    >>> default_steps(np.array([9, 19, 1199]), total_steps=1200)[0]  # HF logged every 10
    1200
    >>> default_steps(np.arange(4, 40, 5))
    (40, 'steps count from 0 (logged every 5, at 4, 9, ...) and the last logged step is 39, so the run had 40 steps')
    >>> default_steps(np.arange(5000, 6000), zero_based=True)[0]  # lrcore's own, resumed
    6000
    >>> default_steps(np.arange(-1000, -700))[0]
    300
    """
    steps = np.asarray(steps)
    first, last = int(steps[0]), int(steps[-1])
    if not (abs(first) <= 2**53 and abs(last) <= 2**53 and last > first):
        raise ValueError(
            f"default_steps: the logged steps run from {first:,} to {last:,}; they must "
            "increase and stay within ±2^53"
        )
    if total_steps is not None and total_steps > last:
        return total_steps, (
            f"the log records a run of {total_steps:,} steps (steps counted from 0; the "
            f"last logged step is {last:,})"
        )
    if first < 0:  # numbered from some negative origin: the run spans the logged steps
        n = last - first + 1
        return n, (
            f"steps run from {first:,} to {last:,} (negative step numbers), so the run spanned "
            f"{n:,} steps"
        )
    why = ""
    if zero_based is None and first != 0 and len(steps) >= 3:
        every = int(np.median(np.diff(steps)))
        ints = steps.astype(np.int64)
        if every > 1 and np.all((ints + 1) % every == 0) and not np.all(ints % every == 0):
            zero_based = True
            why = f" (logged every {every:,}, at {first:,}, {int(steps[1]):,}, ...)"
    if first == 0 or zero_based:
        return last + 1, (
            f"steps count from 0{why} and the last logged step is {last:,}, so the run had "
            f"{last + 1:,} steps"
        )
    n = max(last, 2)
    return (
        n,
        f"the last logged step is {last:,}; steps start at {first:,}, so the run had {n:,} steps",
    )


def steps_from_zero(log) -> bool | None:
    """Whether ``log``'s format numbers its steps from 0 (None: it does not say): Lightning's
    metrics.csv, lrcore's own grad_norms.csv (a CSV with an optimizer column), and Hugging
    Face's trainer_state.json (read 0-based: its step minus 1)."""
    if log.fmt in ("lightning", "hf_trainer"):
        return True
    if log.fmt == "csv" and log.optimizer_name is not None:
        return True
    return None


def describe_fit(fit: FamilyFit) -> str:
    """A fitted family in plain words ('no warm-up' rather than a 0.0% one).

    >>> describe_fit(FamilyFit("warmup_poly", {"warmup_fraction": 0.0, "power": 2.5}, 0.99))
    'no warm-up, the lr follows (1 - p)^2.50 from the start (R² = 0.990)'
    """
    p = fit.params
    w = p["warmup_fraction"]
    start = "no warm-up" if fmt_pct(w) == "0.0%" else f"linear warm-up over {fmt_pct(w)} of the run"
    if fit.family == "warmup_poly":
        shape = f"the lr follows (1 - p)^{p['power']:.2f}" + (
            " from the start" if start == "no warm-up" else " after it"
        )
    else:
        cool = _COOLDOWNS.get(p["cooldown"], p["cooldown"])
        if p["decay_fraction"] >= 1.0:
            shape = f"then a {cool} decay to the end"
        else:
            shape = f"then flat, then a {cool} cool-down over the last {p['decay_fraction']:.0%}"
    return f"{start}, {shape} (R² = {fit.r2:.3f})"


@dataclass(frozen=True)
class LogAnalysis:
    """One log refined for a next run of ``steps`` steps, scored, and put into words."""

    source: str  # the log's file name (user-supplied: escape it before showing it)
    metric: str  # the norm series analysed (user-supplied too)
    points: int  # logged points (all of them; see computed_steps)
    tau: float
    optimizer: str  # the refinement rule used: "sgd" or "adam"
    steps: int  # of the next run
    default_steps: int  # the logged run's length: the next run's default
    default_steps_note: str  # how default_steps was found, in words
    computed_steps: np.ndarray = field(repr=False)  # logged steps computed on (all, or a sample)
    smooth: np.ndarray = field(repr=False)  # running median on the computed points
    shape: np.ndarray = field(repr=False)  # refined, peak 1, on the computed points
    positions: np.ndarray = field(repr=False)  # where each computed point falls in the next run
    summary: ScheduleSummary  # of the refined schedule at the next run's length
    rise: tuple[float, float]  # where the refined lr first reaches half and 90% of its peak
    fit: FamilyFit
    # every warning, in the order the CLI prints them: the log's (resumed or truncated, see
    # GradNormLog.continuity_warnings), the refined shape's (diagnose_refined) and the late
    # rise's (diagnose_late_rise); () when there is nothing to warn about
    warnings: tuple[str, ...]
    table: object = field(repr=False)  # pandas DataFrame: schedule, bound, best_peak_lr, vs_linear
    optimum: np.ndarray | None = field(repr=False)  # numerical optimum on the logged points
    diagnosis: tuple[str, ...] = ()  # diagnose_refined's messages alone (also in warnings)
    log_warnings: tuple[str, ...] = ()  # the log's own (also in warnings; they name the file)
    late_rise: LateRise | None = None  # the norms' late rise (with the log's loss, if any)
    norm_type: str = "l2"  # of the series analysed ("l1" / "l2")
    note: str | None = None  # the log's note on how its rule was chosen (when it was a guess)

    @property
    def sampled(self) -> bool:
        """Whether the numbers come from evenly spaced points of a long log."""
        return len(self.computed_steps) < self.points

    @property
    def degenerate(self) -> bool:
        """Whether :func:`lrcore.diagnose_refined` found the refined schedule degenerate."""
        return bool(self.diagnosis)

    @property
    def late_rise_line(self) -> str:
        """The late rise in words (``lrcore inspect``'s ``late rise:`` line, the page's caption)."""
        return "" if self.late_rise is None else self.late_rise.describe()

    def warn(self) -> None:
        """Issue every warning as a :class:`RefinementWarning` (the Python helpers' way of
        saying what the CLI prints as ``warning:``), attributed to the first caller outside
        lrcore (the user's line, not a helper's)."""
        level = _outside_lrcore()
        for w in self.warnings:
            _warnings.warn(w, RefinementWarning, stacklevel=level)

    @property
    def show_fit(self) -> bool:
        """Whether a plain warm-up + decay config describes the refined curve (R² >= LOW_R2)."""
        return self.fit.r2 >= LOW_R2

    @property
    def rule(self) -> str:
        """The rule and the norms it read, e.g. ``'Adam rule on l1 norms'`` (Adam's rule on a
        log of l2 norms only says so)."""
        return f"{'Adam' if self.optimizer == 'adam' else 'SGD'} rule on {self.norm_type} norms"

    @property
    def fit_sentence(self) -> str:
        """The plain config, or why there is none (with the diagnostic's caveat when the
        refinement looks degenerate: the config copies the degenerate shape)."""
        if self.show_fit and self.degenerate:
            return (
                f"**As a plain config:** {describe_fit(self.fit)}. **Caveat:** it copies a "
                "refined schedule that looks degenerate (see the warning); linear decay is "
                "the safer choice here."
            )
        if self.show_fit:
            return f"**As a plain config:** {describe_fit(self.fit)}."
        return (
            f"**No plain config matches this schedule**: the best standard family fits with "
            f"R² = {self.fit.r2:.3f} (below {LOW_R2}). Use the refined schedule itself "
            "(its downloads, or `lrcore refine`) rather than a warm-up + decay config."
        )

    @property
    def warmup_note(self) -> str | None:
        """Why the config's warm-up differs from where the refined lr peaks (None: no fit)."""
        if not self.show_fit:
            return None
        peak, fit_w = self.summary.warmup_fraction, self.fit.params["warmup_fraction"]
        if abs(fit_w - peak) > 0.02:
            half, near = self.rise
            return (
                f"Why the warm-ups differ: the refined lr peaks at {fmt_pct(peak)} of the run, "
                f"but it rises along a curve (half its peak at {fmt_pct(half)}, 90% at "
                f"{fmt_pct(near)}) and a config's warm-up is a straight ramp: {fmt_pct(fit_w)} "
                "is the ramp that, with the decay after it, matches the whole curve best."
            )
        if fmt_pct(fit_w) != fmt_pct(peak):
            return (
                f"Implied warm-up {fmt_pct(peak)} is where the refined lr peaks; the config's "
                f"{fmt_pct(fit_w)} is the straight ramp that, with the decay after it, fits the "
                "whole curve best: they differ by under 2 points."
            )
        return None

    @property
    def summary_sentence(self) -> str:
        """Peak and halving point, as ``lrcore inspect`` prints them."""
        s = self.summary
        sampled = (
            f"; from {len(self.computed_steps):,} evenly spaced points" if self.sampled else ""
        )
        return (
            f"peak at {fmt_pct(s.warmup_fraction)} of the run, halves at "
            f"{fmt_pct(s.half_fraction)}, mean lr / peak {s.mean:.2f} over a next run of "
            f"{self.steps:,} steps (tau {self.tau:g}, optimizer={self.optimizer}{sampled})"
        )

    @property
    def bound_sentence(self) -> str:
        """What the bound table says, from its rows: the lowest usable schedule (ties named),
        refined against linear decay, constant when it also beats linear (and why, when the
        norms fall), the numerical optimum. Softened for the Adam rule (the bound is SGD's),
        and led by the diagnostic's caveat when the refined schedule looks degenerate."""
        t = self.table
        ranked = t[t.schedule != "numerical optimum"]
        low = float(ranked.bound.min())
        tied = ranked.schedule[np.isclose(ranked.bound, low, rtol=1e-6, atol=0)].tolist()
        names = " ties with ".join(f"**{n}**" for n in tied)
        if self.optimizer == "adam":
            words = f"With the SGD bound on these l1 norms (indicative only), the lowest is {names}"
        elif self.optimum is not None:
            words = f"Of the schedules to use, the theory prefers {names}"
        else:
            words = f"The theory prefers {names}"
        vs = dict(zip(t.schedule, t.vs_linear.astype(float), strict=True))
        words += f". Refined's bound is {_pct(vs['refined'])} Linear decay's"
        if vs.get("Constant", 1.0) < 1.0:
            words += f"; Constant's is also {_pct(vs['Constant'])} Linear decay's"
            first, last = float(self.smooth[0]), float(self.smooth[-1])
            if first > last:
                words += (
                    f": the norms fall (running median {first:.3g} at the start, {last:.3g} at "
                    "the end), so early steps cost more and a schedule that keeps the lr up "
                    "later pays less"
                )
        if self.optimum is not None:
            words += (
                f". The numerical optimum's is {_pct(vs['numerical optimum'])} Linear decay's "
                "(a lower limit, see below)"
            )
        words += "."
        if self.degenerate:
            words = (
                "**Caveat: the refined schedule looks degenerate (see its warning).** "
                "The bound scores it on these logged norms, which the next run's will not "
                "look like, so a lower bound here does not mean it will train better: check "
                "it against linear decay first. " + words
            )
        elif self.late_rise is not None and diagnose_late_rise(self.late_rise):
            words = (
                "**Caveat: the norms rise late with the loss falling (see the warning).** The "
                "bound takes the norms as given, whatever the schedule; a schedule that anneals "
                "before that rise changes them, so a lower bound here does not mean it will "
                "train better. " + words
            )
        return words

    @property
    def optimum_caption(self) -> str | None:
        """What the numerical optimum row and curve are, with its numbers."""
        if self.optimum is None:
            return None
        t = self.table.set_index("schedule")
        opt, ref = float(t.loc["numerical optimum", "bound"]), float(t.loc["refined", "bound"])
        return (
            f"The numerical optimum minimises the bound for these exact logged norms (raw, not "
            f"smoothed: {len(self.computed_steps):,} points), so it follows their noise: it is "
            f"drawn smoothed (a running median), with the middle 80% of its raw values as a "
            f"band. Its bound, "
            f"{opt:.4g}, is a lower limit on the bound of any schedule for these norms "
            f"(refined's is {ref / opt:.2f}× it), not a schedule to use."
        )

    def full_shape(self, log) -> tuple[np.ndarray, np.ndarray]:
        """(refined shape, logged steps) from every point of ``log`` (the log analysed):
        what downloads and snippets use (``shape`` is on a sample of a long log). The
        analysis does not keep the log, so that caching it does not keep a large log alive."""
        if not self.sampled:
            return self.shape, self.computed_steps
        with np.errstate(all="ignore"):
            full = refine_smoothed(smooth_norms(log.grad_norms, self.tau), self.optimizer)
        return full, log.steps

    def full_values(self, log) -> np.ndarray:
        """The refined schedule at every step of the next run (peak 1), from every point."""
        shape, logged = self.full_shape(log)
        if self.steps == len(shape) and int(logged[-1]) - int(logged[0]) + 1 == len(shape):
            # every step logged, as many in the next run: the refined lrs as they are
            return shape.copy() if shape is self.shape else shape
        return stretch(shape, self.steps, steps=logged)


def _outside_lrcore() -> int:
    """The ``stacklevel``, for a ``warnings.warn`` made by this function's caller, of the
    first frame outside the lrcore package (2: the caller's caller)."""
    import sys
    from pathlib import Path

    package = str(Path(__file__).resolve().parent)
    level, frame = 2, sys._getframe(2)
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _pct(ratio: float) -> str:
    return f"{1 - ratio:.0%} below" if ratio < 1 else f"{ratio - 1:.0%} above"


def unscorable(fn: str, g: np.ndarray, e: ValueError) -> ValueError:
    """The error for norms the bound cannot score (``e``: lrcore.bound's refusal, whose
    advice names its own parameters), in words for someone holding a log: rescale it."""
    reason = str(e).split(": ", 1)[-1].split(" for D=")[0]
    return ValueError(
        f"{fn}: norms from {float(g.min()):.3g} to {float(g.max()):.3g} are beyond what the "
        f"bound can score ({reason}); rescale them by a constant (the refined shape does not "
        "change)"
    )


def analyse(
    log,
    tau: float = 0.1,
    optimizer: str | None = None,
    steps: int | None = None,
    extras: tuple[str, ...] = (),
    optimum: bool = False,
) -> LogAnalysis:
    """Refine ``log`` (a :class:`lrcore.logs.GradNormLog`) for a next run of ``steps`` steps
    (default :func:`default_steps`) with the rule ``optimizer`` (default the log's suggested
    one), summarise it at that length (on at most ``SUMMARY_GRID`` points), fit a family,
    diagnose it, and score it with the last-iterate bound against linear, cosine, constant
    and the registry schedules named in ``extras``; ``optimum`` adds the numerical optimum
    (logs of up to :data:`OPTIMUM_POINTS` points). Measures the norms' late rise
    (:func:`lrcore.late_rise.late_rise`, with the log's training loss when it has one) and
    gathers every warning: the log's continuity, the refined shape's, the late rise's.
    Raises ``ValueError`` on bad input."""
    if isinstance(log, str | os.PathLike):  # a file's path: read it as lrcore inspect does
        from lrcore.logs import load_log

        log = load_log(log)
    if not hasattr(log, "grad_norms") or not hasattr(log, "steps"):
        raise ValueError(
            "analyse: log must be a GradNormLog (lrcore.logs.load_log(path)) or a file's path, got "
            f"{type(log).__name__}"
        )
    default, note = default_steps(log.steps, log.total_steps, steps_from_zero(log))
    if steps is None:
        steps = min(default, MAX_STEPS)
    if not isinstance(steps, int | np.integer) or not 2 <= steps <= MAX_STEPS:
        raise ValueError(
            f"analyse: steps must be a whole number from 2 to {MAX_STEPS:,}, got {steps!r}"
        )
    check_unit("analyse", "tau", tau)
    optimizer = log.suggested_optimizer if optimizer is None else optimizer
    if optimizer not in RULES:
        raise ValueError(f"analyse: optimizer must be one of {sorted(RULES)}, got {optimizer!r}")
    unknown = [e for e in extras if e not in REGISTRY]
    if unknown:
        raise ValueError(
            f"analyse: extras must be registry names ({', '.join(REGISTRY)}), got {unknown}"
        )
    g, logged = log.grad_norms, log.steps
    if len(g) > SAMPLE_POINTS:
        idx = evenly_spaced(len(g), SAMPLE_POINTS)
        g, logged = g[idx], logged[idx]
    with np.errstate(all="ignore"):
        smooth = smooth_norms(g, tau)
        shape = refine_smoothed(smooth, optimizer)
    if not np.all(np.isfinite(shape)) or not shape.max() > 0:
        raise ValueError(
            "analyse: the refined schedule is not finite for norms between "
            f"{float(g.min()):.3g} and {float(g.max()):.3g}; rescale them by a constant "
            "(the refined shape does not change)"
        )
    grid = stretch(shape, min(int(steps), SUMMARY_GRID), steps=logged)
    rises = tuple(float(np.argmax(grid >= q * grid.max())) / (len(grid) - 1) for q in (0.5, 0.9))
    n = len(g)
    names = [*BASELINES, *(e for e in extras if e not in BASELINES)]
    shapes = {"refined": shape}
    shapes.update({REGISTRY[k].label: evaluate(build_schedule(k, n), n) for k in names})
    linear = REGISTRY["linear"].label
    try:  # finite bounds and normal best peak lrs, or a ValueError (lrcore.bound)
        table = compare_bounds(shapes, g, reference=linear)
    except ValueError as e:
        raise unscorable("analyse", g, e) from None
    table = table.rename(columns={f"vs_{linear}": "vs_linear"})
    opt = None
    if optimum and n <= OPTIMUM_POINTS:
        import pandas as pd

        opt = optimal_schedule(g)
        extra = compare_bounds({"numerical optimum": opt}, g, reference=None)
        extra["vs_linear"] = extra.bound / table.bound[table.schedule == linear].iloc[0]
        table = pd.concat([table, extra], ignore_index=True)
    if not np.all(np.isfinite(table.bound)):
        raise ValueError(
            f"analyse: the bound overflows for norms up to {float(g.max()):.3g}; rescale them "
            "by a constant (the refined shape does not change)"
        )
    s = np.asarray(logged, dtype=np.float64)
    diagnosis = tuple(diagnose_refined(shape, steps=logged, tau=tau, smoothed=smooth))
    rise = _late_rise(log)
    rule_note = getattr(log, "rule_note", None)
    log_warnings = tuple(log.continuity_warnings())
    return LogAnalysis(
        source=log.source,
        metric=log.metric,
        points=len(log.grad_norms),
        tau=tau,
        optimizer=optimizer,
        steps=int(steps),
        default_steps=default,
        default_steps_note=note,
        computed_steps=logged,
        smooth=smooth,
        shape=shape,
        positions=(s - s[0]) / (s[-1] - s[0]) * (steps - 1),
        summary=summarize(grid),
        rise=rises,
        fit=fit_family(grid, "best"),
        warnings=(*log_warnings, *diagnosis, *diagnose_late_rise(rise)),
        table=table,
        optimum=opt,
        diagnosis=diagnosis,
        log_warnings=log_warnings,
        late_rise=rise,
        norm_type=log.norm_type,
        # the note explains the rule the log chose; another rule asked for makes it moot
        note=rule_note if optimizer == log.suggested_optimizer else None,
    )


def _late_rise(log) -> LateRise:
    """The late rise of the log's norms, with its training loss when it holds one."""
    loss, loss_steps = getattr(log, "loss_values", None), getattr(log, "loss_steps", None)
    if loss is None or loss_steps is None or len(loss) < 2:
        loss = loss_steps = None
    return late_rise(log.grad_norms, log.steps, loss=loss, loss_steps=loss_steps)
