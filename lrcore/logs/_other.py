"""JSON logs (HF Trainer ``trainer_state.json``, TensorBoard JSON downloads, JSON lines)
and TensorBoard event files."""

from __future__ import annotations

import json
import math
import struct

import numpy as np

from lrcore._validate import name_list
from lrcore.logs._clean import RawSeries
from lrcore.logs._events import fast_scalars, split_records
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
    """A JSON value as a float; None for null; strings like "inf"/"nan" are accepted.
    Integers too large for a float become +-inf (as ``1e999`` does in JSON)."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, int):
        try:
            return float(v)
        except OverflowError:
            return math.inf if v > 0 else -math.inf
    if isinstance(v, float):
        return v
    if isinstance(v, str):
        return float(v.strip())
    raise ValueError


def _records_to_series(
    src: Source, records: list[tuple[int, dict]], what: str
) -> dict[str, RawSeries]:
    """Rows of ``(line or index, {key: value})`` with a step key -> one series per numeric key.

    A key with at least one number is a series; its other values (text, true/false, lists,
    objects) are counted as dropped, never skipped silently. Keys that never hold a number
    (a run name) are not series.
    """
    cols: dict[str, tuple[list[float], list[float], list[bool], list[bool]]] = {}
    numeric: set[str] = set()
    for where, rec in records:
        step_key = next((k for k in STEP_NAMES if k in rec), None)
        if step_key is None:
            raise LogError(f"{src.name}, {what} {where}: no step key ({', '.join(STEP_NAMES)})")
        try:
            step = _number(rec[step_key])
        except ValueError:
            raise LogError(
                f"{src.name}, {what} {where}: step {rec[step_key]!r:.60} is not a number"
            ) from None
        for key, v in rec.items():
            if key == step_key or key in _SKIP_KEYS:
                continue
            try:
                x, bad = _number(v), False
            except ValueError:
                x, bad = None, True
            steps, values, missing, non_numeric = cols.setdefault(key, ([], [], [], []))
            steps.append(math.nan if step is None else step)
            values.append(math.nan if x is None else x)
            missing.append(x is None and not bad)
            non_numeric.append(bad)
            if not bad:
                numeric.add(key)
    return {
        k: RawSeries(
            values=np.array(v, dtype=np.float64),
            steps=np.array(s, dtype=np.float64),
            missing=np.array(m, dtype=bool),
            non_numeric=np.array(b, dtype=bool),
        )
        for k, (s, v, m, b) in cols.items()
        if k in numeric
    }


def _json_doc(src: Source):
    return _loads(src, src.text(), None)


def _loads(src: Source, text: str, line: int | None):
    """``json.loads`` whose every failure is a LogError naming the file and line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = e.lineno if line is None else line
        raise LogError(f"{src.name}, line {where}: invalid JSON ({e.msg})") from None
    except RecursionError:
        where = "" if line is None else f", line {line}"
        raise LogError(f"{src.name}{where}: JSON nested too deeply to be a log") from None
    except ValueError as e:  # e.g. an integer literal of more than 4,300 digits
        where = "" if line is None else f", line {line}"
        detail = " ".join(str(e).split())[:120]
        if "digits" in detail:
            detail = "an integer literal of more than 4,300 digits"
        raise LogError(f"{src.name}{where}: invalid JSON ({detail})") from None


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
        found = name_list(sorted(series), limit=12, quote=False) or "none"
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
        except ValueError:
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
        rec = _loads(src, line, n)
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
    return bool(src.event_files) or "tfevents" in src.file_name or b"brain.Event" in head[:200]


def parse_tensorboard(src: Source, head) -> dict[str, RawSeries]:
    files = list(src.event_files) or ([src.path] if src.path is not None else [])
    if files:
        files = sorted(files, key=lambda f: (_first_wall_time(f), f.name))  # restarts in order
        return _read_events(src, [f.read_bytes for f in files], [f.name for f in files])
    return _read_events(src, [lambda: src.data], [src.name])  # an upload arrives as bytes


def _first_wall_time(path) -> float:
    """The wall time of a file's first event (its file-version record): restart files are
    ordered by it, not by name (a timestamp in a name that gains a digit sorts first)."""
    from tensorboard.compat.proto.event_pb2 import Event

    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(12)[:8])
            if length > 1 << 20:
                return math.inf
            return float(Event.FromString(f.read(length)).wall_time)
    except Exception:  # noqa: BLE001 - an unreadable file sorts last; reading it says why
        return math.inf


def _read_events(src: Source, readers: list, names: list[str]) -> dict[str, RawSeries]:
    try:
        from google.protobuf.message import DecodeError
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.util import tensor_util
    except ImportError:
        raise LogError(
            f"{src.name}: reading TensorBoard event files needs the 'tensorboard' "
            "package (pip install 'lrcore[tensorboard]')"
        ) from None
    found: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    unreadable, offset = 0, 0
    for read, fname in zip(readers, names, strict=True):
        name = src.name if len(names) == 1 else f"{src.name}/{fname}"
        data = read()
        starts, lengths, bad = split_records(data, name)
        unreadable += bad
        done, rows = fast_scalars(data, starts, lengths)  # the usual records, column-wise
        for tag, rec, steps, values in rows:
            found.setdefault(tag, []).append((rec + offset, steps, values))
        slow: dict[str, tuple[list, list, list]] = {}
        for i in np.flatnonzero(~done):  # everything else: protobuf, record by record
            start = int(starts[i])
            try:
                event = Event.FromString(data[start : start + int(lengths[i])])
            except DecodeError:
                unreadable += 1
                continue
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    x = float(v.simple_value)
                elif v.HasField("tensor") and v.tensor.dtype in (1, 2, 19):  # float, double, half
                    try:
                        arr = tensor_util.make_ndarray(v.tensor)
                    except (ValueError, TypeError):
                        unreadable += 1
                        continue
                    if arr.size != 1:
                        continue
                    x = float(arr.reshape(()))
                else:
                    continue
                recs, steps, values = slow.setdefault(v.tag, ([], [], []))
                recs.append(offset + int(i))
                steps.append(event.step)
                values.append(x)
        for tag, (recs, steps, values) in slow.items():
            found.setdefault(tag, []).append(
                (np.array(recs, np.int64), np.array(steps, np.int64), np.array(values, float))
            )
        offset += len(starts)
        del data
    if not found:
        extra = f" ({unreadable:,} unreadable record(s))" if unreadable else ""
        raise LogError(f"{src.name}: TensorBoard event file(s) hold no scalar values{extra}")
    out = {}
    for tag, parts in found.items():
        recs = np.concatenate([p[0] for p in parts])
        order = np.argsort(recs, kind="stable")  # file order, then record order
        steps = np.concatenate([p[1] for p in parts])[order]
        values = np.concatenate([p[2] for p in parts])[order]
        out[tag] = RawSeries(values=values, steps=steps, unreadable=unreadable)
    return out
