"""Get a schedule out of lrcore: CSV, JSON, a torch ``LambdaLR``, or a code snippet that
rebuilds it without lrcore.

A schedule here is an array of lrs (one per step) or a schedule function with
``total_steps``.

>>> print(to_csv([1.0, 0.5, 0.0]).strip())
step,lr
0,1
1,0.5
2,0
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from lrcore._validate import as_norms
from lrcore.schedules import Schedule, evaluate

__all__ = [
    "as_values",
    "to_csv",
    "to_json",
    "to_lambda_lr",
    "to_snippet",
    "log_to_csv",
    "SNIPPET_FLAVOURS",
]

# snippets embed every value up to this many steps, else this many knots to interpolate
_MAX_EMBEDDED = 2000


def as_values(schedule: Schedule | np.ndarray | list, total_steps: int | None = None) -> np.ndarray:
    """The schedule as a 1-D float64 array of lrs, one per step."""
    if callable(schedule):
        if total_steps is None:
            raise ValueError("as_values: a schedule function needs total_steps")
        return evaluate(schedule, total_steps)
    values = as_norms("as_values", schedule, name="schedule", positive=False)
    if total_steps is not None and total_steps != len(values):
        raise ValueError(
            f"as_values: total_steps={total_steps} differs from the schedule's length {len(values)};"
            " use lrcore.stretch to resample"
        )
    return values


def _write(text: str, path: str | Path | None) -> str:
    if path is not None:
        Path(path).write_text(text)
    return text


def to_csv(
    schedule, total_steps: int | None = None, path: str | Path | None = None, peak_lr: float = 1.0
) -> str:
    """CSV text with header ``step,lr`` (``lr`` = ``peak_lr`` times the schedule)."""
    values = as_values(schedule, total_steps) * peak_lr
    buf = io.StringIO()
    buf.write("step,lr\n")
    np.savetxt(
        buf, np.column_stack([np.arange(len(values)), values]), fmt=["%d", "%.10g"], delimiter=","
    )
    return _write(buf.getvalue(), path)


def to_json(
    schedule,
    total_steps: int | None = None,
    path: str | Path | None = None,
    peak_lr: float = 1.0,
    **meta,
) -> str:
    """JSON ``{"total_steps": N, "peak_lr": ..., "lr": [...], **meta}``.

    >>> import json; json.loads(to_json([1.0, 0.0], name="refined"))["lr"]
    [1.0, 0.0]
    """
    values = as_values(schedule, total_steps) * peak_lr
    doc = {"total_steps": len(values), "peak_lr": peak_lr, **meta, "lr": values.tolist()}
    return _write(json.dumps(doc), path)


def to_lambda_lr(schedule, optimizer, total_steps: int | None = None):
    """A ``torch.optim.lr_scheduler.LambdaLR`` whose factor at step t is
    ``schedule[t] / max(schedule)``: set the optimizer's lr to the peak lr you want.
    Steps past the end keep the last factor. Call ``scheduler.step()`` after each
    ``optimizer.step()``.
    """
    from torch.optim.lr_scheduler import LambdaLR  # torch only when asked for

    values = as_values(schedule, total_steps)
    factors = (values / values.max()).tolist()
    last = len(factors) - 1
    return LambdaLR(optimizer, lambda step: factors[min(step, last)])


def _knots(values: np.ndarray) -> tuple[list[int] | None, list[float]]:
    if len(values) <= _MAX_EMBEDDED:
        return None, [float(f"{v:.8g}") for v in values]
    # evenly spaced knots plus the peak, so the interpolated curve keeps its maximum
    idx = np.linspace(0, len(values) - 1, _MAX_EMBEDDED - 1).round().astype(int)
    idx = np.unique(np.r_[idx, np.argmax(values)])
    return idx.tolist(), [float(f"{v:.8g}") for v in values[idx]]


_HEAD = """# Learning-rate schedule exported by lrcore ({what}); needs only torch.
# Factor at step t = lr_t / peak lr: set the optimizer's lr to your peak lr.
{imports}TOTAL_STEPS = {total}
{table}

def lr_factor(step):
{body}
"""

_BODY_TABLE = """    return FACTORS[min(max(step, 0), TOTAL_STEPS - 1)]"""
_BODY_KNOTS = """    step = min(max(step, 0), TOTAL_STEPS - 1)
    i = max(bisect.bisect_right(KNOTS, step) - 1, 0)
    if i >= len(KNOTS) - 1:
        return FACTORS[-1]
    frac = (step - KNOTS[i]) / (KNOTS[i + 1] - KNOTS[i])
    return FACTORS[i] + frac * (FACTORS[i + 1] - FACTORS[i])"""

_TAILS = {
    "torch": """
# In your training script (scheduler.step() once after each optimizer.step()):
#   optimizer = torch.optim.SGD(model.parameters(), lr=PEAK_LR)
#   scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
""",
    "hf": """
# With a Hugging Face Trainer (it calls scheduler.step() for you):
#   optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR)
#   scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
#   trainer = Trainer(model=model, args=TrainingArguments(..., max_steps=TOTAL_STEPS),
#                     optimizers=(optimizer, scheduler), ...)
""",
}
SNIPPET_FLAVOURS = tuple(_TAILS)


def to_snippet(
    schedule, total_steps: int | None = None, flavour: str = "torch", what: str = "schedule"
) -> str:
    """Copy-paste Python defining ``lr_factor(step)`` (no lrcore, no numpy needed).

    Up to 2,000 steps every factor is embedded; longer schedules embed 2,000 knots
    and interpolate linearly between them.

    >>> ns = {}; exec(to_snippet([2.0, 1.0, 0.0]), ns); ns["lr_factor"](1)
    0.5
    """
    if flavour not in _TAILS:
        raise ValueError(f"to_snippet: flavour must be one of {list(_TAILS)}, got {flavour!r}")
    values = as_values(schedule, total_steps)
    knots, factors = _knots(values / values.max())
    table = f"FACTORS = {factors!r}"
    if knots is not None:
        table = f"KNOTS = {knots!r}\n{table}"
    body = _BODY_TABLE if knots is None else _BODY_KNOTS
    imports = "" if knots is None else "import bisect\n\n"
    return (
        _HEAD.format(what=what, imports=imports, total=len(values), table=table, body=body)
        + _TAILS[flavour]
    )


def log_to_csv(steps, grad_norms, path: str | Path | None = None) -> str:
    """A gradient-norm log as plain CSV ``step,grad_norm`` (what ``load_log`` reads back)."""
    s = np.asarray(steps, dtype=np.int64)
    g = np.asarray(grad_norms, dtype=np.float64)
    if s.shape != g.shape or s.ndim != 1:
        raise ValueError(
            f"log_to_csv: steps {s.shape} and grad_norms {g.shape} must be 1-D and match"
        )
    buf = io.StringIO()
    buf.write("step,grad_norm\n")
    np.savetxt(buf, np.column_stack([s, g]), fmt=["%d", "%.10g"], delimiter=",")
    return _write(buf.getvalue(), path)
