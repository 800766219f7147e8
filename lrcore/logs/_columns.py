"""Series in a log that are not gradient norms but say something about the run: an
``optimizer`` column (lrcore's ``grad_norms.csv``: the optimizer's label on every row), the
training loss kept beside the norms, and learning-rate columns, which make a file a
schedule (refused as gradient norms, saying what it is)."""

from __future__ import annotations

import re

import pandas as pd

from lrcore._validate import name_list
from lrcore.logs._meta import Recorded, recorded_from_labels
from lrcore.logs._metrics import norm_rank, short_name
from lrcore.logs._types import LogError

_OPTIMIZER_NAMES = {"optimizer", "optim", "optimizer_name"}


def is_optimizer_column(name) -> bool:
    """A column holding the optimizer's label (``optimizer``, ``optim``, ``Optimizer``).

    >>> is_optimizer_column(" Optimizer"), is_optimizer_column("optimizer_lr")
    (True, False)
    """
    return short_name(str(name)).strip().strip('"').lower() in _OPTIMIZER_NAMES


def optimizer_column(col: pd.Series, name, first_line: int) -> Recorded | None:
    """What an optimizer column records: its labels (empty cells ignored) with the line
    where each first appears; a conflict when they name different families."""
    cells = col.dropna()
    if not len(cells):
        return None
    labels = cells.astype(str).str.strip()
    labels = labels[labels != ""].drop_duplicates()
    found = {label: f"line {first_line + int(i)}" for i, label in labels.items()}
    return recorded_from_labels(found, str(name))


# the training loss, best name first (compared with the short name, lower case)
LOSS_NAMES = (
    "loss",
    "train_loss",
    "train/loss",
    "training_loss",
    "train_loss_step",
    "loss_step",
    "train/train_loss",
    "trainer/loss",
)
_NOT_TRAIN = re.compile(r"(^|[/_\- ])(val|valid|validation|eval|test)([/_\- ]|$)")


def pick_loss(names, metric: str) -> str | None:
    """The series that is the training loss, or None: a name of :data:`LOSS_NAMES` (best
    first), else one ending in ``/loss``, never an evaluation loss. In a W&B export of
    several runs, the loss of the run whose norms were chosen.

    >>> pick_loss(["step", "val_loss", "train_loss", "grad_norm"], "grad_norm")
    'train_loss'
    >>> pick_loss(["a - train/loss", "b - train/loss", "b - grad_norm"], "b - grad_norm")
    'b - train/loss'
    """
    run = metric.split(" - ", 1)[0] + " - " if " - " in metric else None
    names = [n for n in names if run is None or " - " not in n or n.startswith(run)]
    ranked = []
    for n in names:
        s = short_name(n).strip().lower()
        if _NOT_TRAIN.search(s) or norm_rank(n) is not None:
            continue
        if s in LOSS_NAMES:
            ranked.append((LOSS_NAMES.index(s), n))
        elif s.endswith("/loss"):
            ranked.append((len(LOSS_NAMES), n))
    return min(ranked)[1] if ranked else None


_LR_EXACT = {"lr", "lrs", "learning_rate", "learning rate", "learningrate", "lr_factor"}


def is_lr_name(name) -> bool:
    """A learning-rate series: ``lr``, ``learning_rate``, ``train/learning_rate``,
    Lightning's ``lr-AdamW``.

    >>> [is_lr_name(n) for n in ["lr", "run - train/learning_rate", "lr-AdamW", "grad_norm"]]
    [True, True, True, False]
    """
    s = short_name(str(name)).strip().strip('"').lower()
    last = s.rsplit("/", 1)[-1]
    return s in _LR_EXACT or last in _LR_EXACT or s.startswith(("lr-", "lr_", "lr/"))


def refuse_schedule(source: str, series, columns: list[str] | None = None) -> None:
    """Raise when every value series of a log is a learning rate: the file is a schedule
    (lrcore's own ``step,lr`` export, a saved ``learning_rate`` curve), and reading its lrs
    as gradient norms would refine a schedule from a schedule. ``columns``: the file's own
    column names for the message (default: the series' names)."""
    names = list(series)
    if not names or not all(is_lr_name(n) for n in names):
        return
    shown = name_list(columns or names, limit=6, quote=False)
    raise LogError(schedule_message(source, f"columns {shown}"))


def schedule_message(source: str, what: str) -> str:
    """The one sentence for a schedule given where gradient norms were expected."""
    return (
        f"{source} looks like a learning-rate schedule ({what}), not gradient norms: "
        "refinement reads the gradient norms a training run logged (e.g. lrcore's "
        "grad_norms.csv with columns step,grad_norm_l2,grad_norm_l1, a trainer_state.json "
        "or a W&B export of grad_norm); pass that log"
    )
