"""The files a :class:`~lrcore.train.recorder.GradNormRecorder` writes (numpy only, no torch).

``grad_norms.csv``, one row per optimizer step, no comment line::

    step,grad_norm_l2,grad_norm_l1,loss,optimizer[,grad_norm_l2_<group>,grad_norm_l1_<group>...]
    0,1.2345,456.7,2.773,AdamW

``step`` is the 0-based index of the optimizer step whose gradient the row holds (row
``step=s`` is the gradient the (s+1)-th update used); ``loss`` is that step's training loss,
empty when unknown; ``optimizer`` the optimizer's label on every row (empty when unknown),
so ``pandas.read_csv``, Excel and any upload keep it.

``lrcore_grad_norms.npz`` (a checkpoint's copy): the same columns as arrays (``step``
int64, the others float32 with NaN for an unknown loss) and ``optimizer`` as a 0-d string.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

SIDECAR = "lrcore_grad_norms.npz"
BASE = ("grad_norm_l2", "grad_norm_l1", "loss")  # the float columns every file has
_LABEL_BAD = re.compile(r'[,"\r\n]')


def norm_columns(groups) -> list[str]:
    """Float column names after ``step``: the base ones, then two per group."""
    cols = list(BASE)
    for g in groups:
        cols += [f"grad_norm_l2_{g}", f"grad_norm_l1_{g}"]
    return cols


def csv_label(optimizer: str | None) -> str:
    """The optimizer label as a CSV cell (no comma, quote or line break)."""
    return _LABEL_BAD.sub("", optimizer or "")[:100]


def csv_header(columns: list[str], keep: list[str]) -> str:
    """``step,<kept base columns>,optimizer,<kept group columns>``."""
    base = [c for c in columns[:3] if c in keep]
    rest = [c for c in columns[3:] if c in keep]
    return ",".join(["step", *base, "optimizer", *rest]) + "\n"


def csv_text(steps: np.ndarray, values: np.ndarray, columns: list[str], keep: list[str],
             optimizer: str | None) -> str:  # fmt: skip
    """Rows for ``steps`` (``values``: one row per column in ``columns``, float64), only the
    columns in ``keep``; each float in its shortest exact form, NaN as an empty cell."""
    label = csv_label(optimizer)
    idx = [i for i, c in enumerate(columns) if c in keep]
    base = [i for i in idx if i < 3]
    rest = [i for i in idx if i >= 3]
    cells = [[_cell(x) for x in values[i]] for i in base + rest]
    n_base = len(base)
    out = []
    for r, s in enumerate(steps.tolist()):
        row = [str(s), *(c[r] for c in cells[:n_base]), label, *(c[r] for c in cells[n_base:])]
        out.append(",".join(row))
    return "\n".join(out) + ("\n" if out else "")


def _cell(x: float) -> str:
    return "" if x != x else repr(float(x))


def write_sidecar(path: str | Path, steps, values, columns, optimizer) -> Path:
    """The arrays as an uncompressed ``.npz`` (written to a temporary file, then renamed)."""
    path = Path(path)
    arrays = {"step": np.asarray(steps, dtype=np.int64)}
    for name, row in zip(columns, np.asarray(values), strict=True):
        arrays[name] = np.asarray(row, dtype=np.float32)
    arrays["optimizer"] = np.array(optimizer or "")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def read_sidecar(path: str | Path) -> dict:
    """What :func:`write_sidecar` wrote, as ``GradNormRecorder.load_state_dict`` takes it."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files if k != "optimizer"}
        out["optimizer"] = str(z["optimizer"]) if "optimizer" in z.files else ""
    return out
