"""Write a gradient-norm series in any supported format: what the project's sample runs,
tests and demos use, so every reader is exercised on files the project made itself."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

__all__ = ["WRITERS", "write_log"]

_T0 = 1_700_000_000.0  # a fixed wall-clock start, so written files are deterministic


def _num(x: float) -> str:
    return (
        repr(float(x))
        if math.isfinite(x)
        else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    )


def _csv(steps, values, metric) -> str:
    return f"step,{metric}\n" + "".join(
        f"{s},{_num(v)}\n" for s, v in zip(steps, values, strict=True)
    )


def _text(steps, values, metric) -> str:
    return "".join(f"{_num(v)}\n" for v in values)


def _wandb(steps, values, metric, run="lrcore-run") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    col = f"{run} - {metric}"
    w.writerow(["Step", col, f"{col}__MIN", f"{col}__MAX"])
    for s, v in zip(steps, values, strict=True):
        w.writerow([s, _num(v), _num(v), _num(v)])
    return buf.getvalue()


def _tensorboard_csv(steps, values, metric) -> str:
    return "Wall time,Step,Value\n" + "".join(
        f"{_T0 + i:.3f},{s},{_num(v)}\n" for i, (s, v) in enumerate(zip(steps, values, strict=True))
    )


def _tensorboard_json(steps, values, metric) -> str:
    return json.dumps(
        [[_T0 + i, int(s), float(v)] for i, (s, v) in enumerate(zip(steps, values, strict=True))]
    )


def _hf_trainer(steps, values, metric) -> str:
    """As Hugging Face writes it: a point's ``step`` is the global step after the update,
    lrcore's step + 1 (what ``load_log`` reads back as the given ``steps``)."""
    history = []
    end = int(steps[-1]) + 1
    for s, v in zip(steps, values, strict=True):
        history.append(
            {
                "epoch": round((s + 1) / max(end, 1), 4),
                "grad_norm": float(v),
                "learning_rate": 1e-3,
                "loss": 1.0,
                "step": int(s) + 1,
            }
        )
    history.append({"epoch": 1.0, "eval_loss": 0.9, "step": end})
    history.append(
        {"epoch": 1.0, "step": end, "total_flos": 1.0, "train_loss": 1.0, "train_runtime": 1.0}
    )
    doc = {
        "best_metric": None,
        "epoch": 1.0,
        "global_step": end,
        "log_history": history,
        "logging_steps": int(steps[1] - steps[0]) if len(steps) > 1 else 1,
    }
    return json.dumps(doc, indent=2)


def _lightning(steps, values, metric) -> str:
    rows = ["epoch,step,train_loss,grad_2.0_norm_total"]
    for s, v in zip(steps, values, strict=True):
        rows.append(f"0,{s},,{_num(v)}")  # Lightning writes each metric on its own sparse row
        rows.append(f"0,{s},1.0,")
    return "\n".join(rows) + "\n"


def _mlflow(steps, values, metric) -> str:
    return "".join(
        f"{int((_T0 + i) * 1000)} {_num(v)} {s}\n"
        for i, (s, v) in enumerate(zip(steps, values, strict=True))
    )


def _jsonl(steps, values, metric) -> str:
    return "".join(
        json.dumps({"step": int(s), metric: float(v)}) + "\n"
        for s, v in zip(steps, values, strict=True)
    )


WRITERS = {
    "csv": _csv,
    "text": _text,
    "wandb": _wandb,
    "tensorboard_csv": _tensorboard_csv,
    "tensorboard_json": _tensorboard_json,
    "hf_trainer": _hf_trainer,
    "lightning": _lightning,
    "mlflow": _mlflow,
    "jsonl": _jsonl,
}


def write_log(path: str | Path, steps, values, fmt: str = "csv", metric: str = "grad_norm") -> Path:
    """Write ``values`` at ``steps`` as ``fmt`` (a key of :data:`WRITERS` or ``"tensorboard"``,
    which writes an event file into the folder ``path``). Returns the file written."""
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if fmt == "tensorboard":
        return _write_events(Path(path), steps, values, metric)
    if fmt not in WRITERS:
        raise ValueError(
            f"write_log: fmt must be one of {sorted([*WRITERS, 'tensorboard'])}, got {fmt!r}"
        )
    path = Path(path)
    path.write_text(WRITERS[fmt](steps, values, metric))
    return path


def _write_events(folder: Path, steps, values, metric) -> Path:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    for i, (s, v) in enumerate(zip(steps, values, strict=True)):
        summary = Summary(
            value=[
                Summary.Value(tag=metric, simple_value=float(v)),
                Summary.Value(tag="train/loss", simple_value=1.0),
            ]
        )
        writer.add_event(Event(wall_time=_T0 + i, step=int(s), summary=summary))
    writer.close()
    return Path(writer.get_logdir())
