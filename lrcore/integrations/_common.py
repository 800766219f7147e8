"""What both integrations share: turning a log or an array into per-step lrs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lrcore._validate import check_int
from lrcore.analysis import analyse
from lrcore.export import as_values

FILENAME = "grad_norms.csv"
# the callbacks also flush the rows so far when this many seconds have passed since the last
# flush, whatever the logging interval: with Hugging Face's default logging_steps=500 and no
# checkpoints, a run killed at step 30 left no file (fresh-eyes review)
FLUSH_SECONDS = 30.0


def schedule_values(
    schedule,
    total_steps: int,
    tau: float = 0.1,
    optimizer: str = "auto",
    metric: str | None = None,
    fallback: str | None = None,
):
    """Peak-normalised lrs for ``total_steps`` optimizer steps from a refined array, a
    schedule function, a :class:`~lrcore.logs.GradNormLog`, or a path to a log (refined
    with ``tau`` and then stretched). The rule: ``optimizer`` (``"adam"``: l1 norms,
    ``"sgd"``: l2) when given, else the optimizer the log records (lrcore's callbacks and
    recorder write it), else ``fallback`` (the family of the optimizer the schedule will
    drive: the helpers pass it), else the norm of the series; ``metric`` picks the series.
    A log is analysed by :func:`lrcore.analyse` (as ``lrcore refine`` does) and every warning
    the CLI would print is issued as a :class:`lrcore.RefinementWarning`.

    An array must already have ``total_steps`` values (use :func:`lrcore.stretch`).

    >>> schedule_values([2.0, 1.0], 2).tolist()
    [1.0, 0.5]
    """
    check_int("schedule_values", "total_steps", total_steps, minimum=1)
    if isinstance(schedule, str | Path):
        from lrcore.logs import open_log

        file = open_log(schedule)
        log = file.load(metric, optimizer)
        if optimizer == "auto" and log.optimizer is None and fallback:
            log = file.load(metric, fallback)  # the series the rule of the optimizer needs
        schedule = log
    if hasattr(schedule, "grad_norms"):
        if optimizer == "auto" and schedule.optimizer is None and fallback:
            optimizer = fallback  # the log does not say: the optimizer that will run does
        opt = schedule.suggested_optimizer if optimizer == "auto" else optimizer
        # the analysis lrcore refine / inspect and the app make: same shape, same warnings
        view = analyse(schedule, tau, opt, total_steps)
        view.warn()  # what the CLI prints as warning:, as RefinementWarning
        values = view.full_values(schedule)
    else:
        values = as_values(
            schedule, total_steps if callable(schedule) else None, fn="schedule_values"
        )
        if len(values) != total_steps:
            raise ValueError(
                f"schedule_values: the schedule has {len(values)} steps but the run has "
                f"{total_steps}; use lrcore.stretch(values, {total_steps})"
            )
    peak = values.max()
    if not peak > 0:
        raise ValueError(f"schedule_values: the schedule's maximum must be > 0, got {peak}")
    return np.asarray(values / peak, dtype=np.float64)
