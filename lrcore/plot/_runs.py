"""Schedules side by side, and training runs: loss or score curves over steps (mean ± standard
error over seeds) and a compare table's score against the peak lr."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lrcore.plot._figures import Curve, band_figure, integer_ticks, schedules_figure
from lrcore.plot._refine import SCHEDULE_POINTS
from lrcore.plot._style import BASELINE_STYLE, colour_for
from lrcore.refine import evenly_spaced, stretch
from lrcore.registry import REGISTRY, build_schedule

EVAL_METRICS = ("objective", "suboptimality", "train_loss", "test_loss", "test_accuracy")


def schedules(
    specs: Sequence[str] | Mapping[str, str | np.ndarray | Callable],
    total_steps: int | None = None,
    *,
    peak_lr: float = 1.0,
    warmup_steps: int = 0,
    log_y: bool = False,
    title: str = "Learning-rate schedules",
) -> go.Figure:
    """Schedules side by side over ``total_steps`` steps, each in its fixed colour (the
    dashboard's: refined blue, linear grey and dashed, cosine purple ...).

    ``specs``: registry names (built at ``peak_lr`` with ``warmup_steps``), or a dict
    ``{label: name, array or schedule}``: an array is the lr at each step (stretched to
    ``total_steps`` when it has another length), a schedule a function step -> lr
    (:mod:`lrcore.schedules`). ``total_steps`` defaults to the longest array's length.

    >>> fig = schedules(["linear", "cosine"], 100, peak_lr=0.1)
    >>> [(t.name, t.line.dash) for t in fig.data]
    [('Linear decay', 'dash'), ('Cosine decay', 'solid')]
    >>> fig = schedules({"refined": np.linspace(0.5, 1, 50), "linear": "linear"})
    >>> len(fig.data[0].x), float(fig.data[1].y[0])
    (50, 1.0)
    """
    items = list(specs.items()) if isinstance(specs, Mapping) else [(n, n) for n in specs]
    if not items:
        raise ValueError("schedules: specs must name at least one schedule, got none")
    lengths = [np.size(v) for _, v in items if not isinstance(v, str) and not callable(v)]
    total = total_steps if total_steps is not None else max(lengths, default=0)
    if not isinstance(total, int | np.integer) or total < 2:
        raise ValueError(
            "schedules: total_steps must be a whole number >= 2 (or come from an array), "
            f"got {total_steps!r}"
        )
    grid = evenly_spaced(int(total), SCHEDULE_POINTS)
    curves = []
    for i, (label, spec) in enumerate(items):
        name = spec if isinstance(spec, str) else str(label)
        if isinstance(spec, str):
            if spec not in REGISTRY:
                raise ValueError(
                    f"schedules: {label!r} must be a registry name ({', '.join(REGISTRY)}), "
                    f"an array or a schedule, got {spec!r}"
                )
            sched = build_schedule(spec, int(total), peak_lr=peak_lr, warmup_steps=warmup_steps)
            y = np.asarray(sched(grid), dtype=np.float64)
            label = REGISTRY[spec].label if label == spec else label
        elif callable(spec):
            y = np.asarray(spec(grid), dtype=np.float64)
        else:
            v = np.asarray(spec, dtype=np.float64)
            y = (v if len(v) == total else stretch(v, int(total)))[grid]
        curves.append(
            Curve(
                str(label),
                grid,
                y,
                color=colour_for(name, i),
                dash=BASELINE_STYLE.get(name, "solid"),
                width=3 if name == "refined" else 2.5,
            )
        )
    return integer_ticks(schedules_figure(curves, "step", log_y, title=title), int(total))


def _label(run) -> str:
    s = run.config.schedule
    return s if isinstance(s, str) else "custom"


def _grouped(results) -> dict[tuple[str, float], list]:
    """Finished runs by (schedule label, peak lr): compare's ``{(label, peak_lr, seed):
    RunResult}`` or a list of RunResults."""
    pairs = (
        [((k[0], float(k[1])), r) for k, r in results.items()]
        if isinstance(results, Mapping)
        else [((_label(r), float(r.config.peak_lr)), r) for r in results]
    )
    groups: dict[tuple[str, float], list] = {}
    for key, r in pairs:
        if r.ok:
            groups.setdefault(key, []).append(r)
    return groups


def seed_curve(results: Sequence, metric: str = "objective") -> tuple[np.ndarray, ...]:
    """``(steps, mean, sem)`` over the runs ``results`` (seeds of one setup) of ``metric``:
    ``"loss"`` (the minibatch loss at every step) or a column of their evaluations (one of
    ``EVAL_METRICS``; ``"suboptimality"`` is the objective minus each run's ``f_star``). The
    standard error is 0 for one run."""
    if metric == "loss":
        stacked = pd.concat([pd.Series(r.loss, index=r.steps) for r in results], axis=1)
    elif metric in EVAL_METRICS:
        column = "objective" if metric == "suboptimality" else metric
        stacked = pd.concat([r.evals.set_index("step")[column] for r in results], axis=1)
        if metric == "suboptimality":
            stacked = stacked - np.array([r.final["f_star"] for r in results])
    else:
        raise ValueError(
            f"seed_curve: metric must be 'loss' or one of {', '.join(EVAL_METRICS)}, got {metric!r}"
        )
    sem = (
        stacked.std(axis=1, ddof=1) / np.sqrt(stacked.shape[1])
        if stacked.shape[1] > 1
        else 0 * stacked.iloc[:, 0]
    )
    return stacked.index.to_numpy(), stacked.mean(axis=1).to_numpy(), np.asarray(sem)


def runs(
    results,
    table: pd.DataFrame | None = None,
    metric: str = "objective",
    *,
    log_y: bool = True,
) -> go.Figure:
    """Training curves: ``metric`` (see :func:`seed_curve`) over steps, mean over seeds (line)
    ± standard error (band), one line per schedule and peak lr; with ``table`` (from
    :func:`lrcore.train.compare`) only each schedule's best peak lr. ``results``: compare's
    ``{(schedule, peak_lr, seed): RunResult}`` (``return_runs=True``) or a list of RunResults.
    Runs that diverged or were cancelled are left out."""
    groups = _grouped(results)
    if table is not None:
        best = {
            (str(s), float(p)) for s, p in table.loc[table.best, ["schedule", "peak_lr"]].values
        }
        groups = {k: v for k, v in groups.items() if k in best}
    if not groups:
        raise ValueError("runs: results must hold at least one finished run, got none")
    per_schedule = pd.Series([s for s, _ in groups]).value_counts()
    lines = []
    for (name, peak), rs in groups.items():
        label = REGISTRY[name].label if name in REGISTRY else name
        if per_schedule[name] > 1:
            label = f"{label} @ {peak:.3g}"
        lines.append((label, *seed_curve(rs, metric)))
    y_title = metric.replace("_", " ")
    return band_figure(lines, f"{y_title.capitalize()} over training", "step", y_title, log_y)


def sweep(table: pd.DataFrame, metric: str = "objective", *, log_y: bool = True) -> go.Figure:
    """A compare table's final ``metric`` (mean ± standard error over seeds) against the peak
    lr (log axis), one line per schedule: how sharp each schedule's best peak lr is.

    >>> t = pd.DataFrame({"schedule": ["linear"] * 3, "peak_lr": [0.1, 0.3, 1.0],
    ...                   "objective_mean": [0.5, 0.3, 0.4], "objective_sem": [0.01] * 3})
    >>> fig = sweep(t)
    >>> fig.layout.xaxis.type, [t.name for t in fig.data if t.showlegend is not False]
    ('log', ['Linear decay'])
    """
    mean, sem = f"{metric}_mean", f"{metric}_sem"
    if mean not in table.columns:
        raise ValueError(
            f"sweep: metric must name a '<metric>_mean' column of the table, got {metric!r}"
        )
    lines = []
    for name, rows in table.sort_values("peak_lr").groupby("schedule", sort=False):
        label = REGISTRY[name].label if name in REGISTRY else str(name)
        se = rows[sem] if sem in rows else 0 * rows[mean]
        lines.append((label, rows.peak_lr.to_numpy(), rows[mean].to_numpy(), se.to_numpy()))
    title = f"Final {metric.replace('_', ' ')} by peak lr"
    fig = band_figure(lines, title, "peak lr", metric.replace("_", " "), log_y)
    return fig.update_xaxes(type="log")
