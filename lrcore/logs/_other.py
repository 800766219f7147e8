"""JSON logs (HF Trainer ``trainer_state.json``, TensorBoard JSON downloads, JSON lines)
and TensorBoard event files."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from lrcore.logs._clean import RawSeries
from lrcore.logs._source import Source
from lrcore.logs._tables import STEP_NAMES, _stem_metric, first_lines
from lrcore.logs._types import LogError

_SKIP_KEYS = {
    "epoch",
    "total_flos",
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "timestamp",
    "time",
    "_timestamp",
    "_runtime",
}


def _number(v) -> float | None:
    """A JSON value as a float; None for null; strings like "inf"/"nan" are accepted."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        return float(v)
    raise ValueError


def _records_to_series(
    src: Source, records: list[tuple[int, dict]], what: str
) -> dict[str, RawSeries]:
    """Rows of ``(line or index, {key: value})`` with a step key -> one series per numeric key."""
    steps: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    missing: dict[str, list[bool]] = {}
    for where, rec in records:
        step_key = next((k for k in STEP_NAMES if k in rec), None)
        if step_key is None:
            raise LogError(f"{src.name}, {what} {where}: no step key ({', '.join(STEP_NAMES)})")
        try:
            step = _number(rec[step_key])
        except ValueError:
            raise LogError(
                f"{src.name}, {what} {where}: step {rec[step_key]!r} is not a number"
            ) from None
        for key, v in rec.items():
            if key == step_key or key in _SKIP_KEYS or isinstance(v, dict | list | bool):
                continue
            try:
                x = _number(v)
            except ValueError:
                if key in values:  # a numeric series with a bad value
                    raise LogError(
                        f"{src.name}, {what} {where}: {key} = {v!r} is not a number"
                    ) from None
                continue  # a text field (e.g. a run name), not a series
            steps.setdefault(key, []).append(math.nan if step is None else step)
            values.setdefault(key, []).append(math.nan if x is None else x)
            missing.setdefault(key, []).append(x is None)
    return {
        k: RawSeries(
            values=np.array(values[k]), steps=np.array(steps[k]), missing=np.array(missing[k])
        )
        for k in values
    }


def _json_doc(src: Source):
    text = src.text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LogError(f"{src.name}, line {e.lineno}: invalid JSON ({e.msg})") from None


def detect_hf_trainer(head: str, src: Source) -> bool:
    return head.lstrip().startswith("{") and '"log_history"' in head


def parse_hf_trainer(src: Source, head: str) -> dict[str, RawSeries]:
    doc = _json_doc(src)
    history = doc.get("log_history") if isinstance(doc, dict) else None
    if not isinstance(history, list):
        raise LogError(f"{src.name}: trainer_state.json needs a 'log_history' list")
    records = []
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise LogError(
                f"{src.name}, log_history[{i}]: expected an object, got {type(entry).__name__}"
            )
        if (
            "step" in entry
            and not any(k.startswith("eval_") for k in entry)
            and not any(k.startswith("train_") for k in entry)
        ):
            records.append((i, entry))
    if not records:
        raise LogError(f"{src.name}: log_history has no training entries")
    series = _records_to_series(src, [(f"[{i}]", r) for i, r in records], "log_history entry")
    if "grad_norm" not in series:
        found = ", ".join(sorted(series)) or "none"
        raise LogError(
            f"{src.name}: log_history has no 'grad_norm' entries (Transformers >= 4.38 "
            f"logs them); keys found: {found}"
        )
    return series


def detect_tensorboard_json(head: str, src: Source) -> bool:
    return head.lstrip().startswith("[[")


def parse_tensorboard_json(src: Source, head: str) -> dict[str, RawSeries]:
    doc = _json_doc(src)
    if not isinstance(doc, list) or not doc:
        raise LogError(f"{src.name}: expected a non-empty list [[wall_time, step, value], ...]")
    rows = []
    for i, row in enumerate(doc):
        if not (isinstance(row, list) and len(row) == 3):
            raise LogError(
                f"{src.name}, item {i}: expected [wall_time, step, value], got {row!r:.60}"
            )
        try:
            rows.append([_number(row[1]), _number(row[2])])
        except (ValueError, TypeError):
            raise LogError(
                f"{src.name}, item {i}: {row!r:.60} holds a value that is not a number"
            ) from None
    arr = np.array([[math.nan if v is None else v for v in r] for r in rows], dtype=np.float64)
    missing = np.array([r[1] is None for r in rows])
    return {
        _stem_metric(src, "value"): RawSeries(values=arr[:, 1], steps=arr[:, 0], missing=missing)
    }


def detect_jsonl(head: str, src: Source) -> bool:
    lines = first_lines(head, 2)
    return len(lines) == 2 and all(ln.lstrip().startswith("{") for ln in lines)


def parse_jsonl(src: Source, head: str) -> dict[str, RawSeries]:
    records = []
    for n, line in enumerate(src.text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise LogError(f"{src.name}, line {n}: invalid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise LogError(
                f"{src.name}, line {n}: expected a JSON object, got {type(rec).__name__}"
            )
        records.append((n, rec))
    series = _records_to_series(src, records, "line")
    if not series:
        raise LogError(f"{src.name}: no numeric values besides the step")
    return series


def detect_json_other(head: str, src: Source) -> bool:
    return head.lstrip()[:1] in ("{", "[")


def parse_json_other(src: Source, head: str) -> dict[str, RawSeries]:
    doc = _json_doc(src)
    kind = type(doc).__name__
    raise LogError(
        f"{src.name}: a JSON {kind} that is neither a trainer_state.json (with "
        "'log_history'), a TensorBoard download ([[wall_time, step, value], ...]) "
        "nor JSON lines"
    )


# --------------------------------------------------------------------------- TensorBoard


def detect_tensorboard(head: bytes, src: Source) -> bool:
    return bool(src.event_files) or "tfevents" in src.name or b"brain.Event" in head[:200]


def parse_tensorboard(src: Source, head) -> dict[str, RawSeries]:
    files = list(src.event_files) or ([src.path] if src.path is not None else [])
    if files:
        return _read_events(src, files)
    with tempfile.TemporaryDirectory() as tmp:  # an upload arrives as bytes
        path = Path(tmp) / "events.out.tfevents.upload"
        path.write_bytes(src.data)
        return _read_events(src, [path])


def _read_events(src: Source, files: list[Path]) -> dict[str, RawSeries]:
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError:
        raise LogError(
            f"{src.name}: reading TensorBoard event files needs the 'tensorboard' "
            "package (pip install 'lrcore[tensorboard]')"
        ) from None
    steps: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    for f in files:
        try:
            for event in EventFileLoader(os.fspath(f)).Load():
                for v in event.summary.value:
                    if v.HasField("simple_value"):
                        x = float(v.simple_value)
                    elif v.HasField("tensor") and v.tensor.dtype in (
                        1,
                        2,
                        19,
                    ):  # float, double, half
                        arr = tensor_util.make_ndarray(v.tensor)
                        if arr.size != 1:
                            continue
                        x = float(arr.reshape(()))
                    else:
                        continue
                    steps.setdefault(v.tag, []).append(float(event.step))
                    values.setdefault(v.tag, []).append(x)
        except Exception as e:  # truncated or corrupt records
            raise LogError(
                f"{src.name}: not a readable TensorBoard event file ({f.name}: {type(e).__name__})"
            ) from None
    if not values:
        raise LogError(f"{src.name}: TensorBoard event file(s) hold no scalar values")
    return {t: RawSeries(values=np.array(values[t]), steps=np.array(steps[t])) for t in values}
