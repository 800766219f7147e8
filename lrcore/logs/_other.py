"""JSON logs (HF Trainer ``trainer_state.json``, TensorBoard JSON downloads, JSON lines)
and TensorBoard event files."""

from __future__ import annotations

import json
import math
import struct

import numpy as np

from lrcore._validate import name_list
from lrcore.logs._clean import RawSeries
from lrcore.logs._columns import schedule_message
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
    src: Source, records: list[dict], where, what: str, keep=None
) -> dict[str, RawSeries]:
    """Records ``{key: value}`` with a step key -> one series per numeric key, column-wise.

    ``where(i)`` names record ``i`` in messages (a line, a list index); ``keep(keys)`` may
    drop records by their keys. Records are grouped by their keys (a log's entries share a
    few key sets), and each key of a group becomes a numpy column at once. A key with at
    least one number is a series; its other values (text, true/false, lists, objects) are
    counted as dropped, never skipped silently; null is missing. Keys that never hold a
    number (a run name) are not series.
    """
    groups: dict[tuple, list[int]] = {}
    for i, rec in enumerate(records):
        groups.setdefault(tuple(rec), []).append(i)
    errors: list[tuple[int, str]] = []
    cols: dict[str, list[tuple]] = {}
    for keys, idx in groups.items():
        if keep is not None and not keep(keys):
            continue
        step_key = next((k for k in STEP_NAMES if k in keys), None)
        if step_key is None:
            msg = f"{src.name}, {what} {where(idx[0])}: no step key ({', '.join(STEP_NAMES)})"
            errors.append((idx[0], msg))
            continue
        rows = [records[i] for i in idx]
        steps, step_missing, step_bad = _column([r[step_key] for r in rows])
        if step_bad is not None and step_bad.any():
            k = int(np.argmax(step_bad))
            shown = f"{rows[k][step_key]!r:.60}"
            errors.append(
                (idx[k], f"{src.name}, {what} {where(idx[k])}: step {shown} is not a number")
            )
            continue
        if step_missing is not None:
            steps = np.where(step_missing, np.nan, steps)
        at = np.array(idx, dtype=np.int64)
        for key in keys:
            if key == step_key or key in _SKIP_KEYS:
                continue
            values, missing, bad = _column([r[key] for r in rows])
            cols.setdefault(key, []).append((at, steps, values, missing, bad))
    if errors:
        raise LogError(min(errors)[1])
    out = {}
    for key, parts in cols.items():
        n = [len(p[0]) for p in parts]
        bad = np.concatenate(
            [p[4] if p[4] is not None else np.zeros(m, bool) for p, m in zip(parts, n, strict=True)]
        )
        if bad.all():
            continue  # never a number: not a series
        missing = np.concatenate(
            [p[3] if p[3] is not None else np.zeros(m, bool) for p, m in zip(parts, n, strict=True)]
        )
        order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")
        out[key] = RawSeries(
            values=np.concatenate([p[2] for p in parts])[order],
            steps=np.concatenate([p[1] for p in parts]).astype(np.float64)[order],
            missing=missing[order],
            non_numeric=bad[order],
        )
    return out


def _column(values: list) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(float64 values, missing, not a number) of one key's JSON values; the masks are None
    when no value is null / not a number. Plain ints and floats are converted at once."""
    if set(map(type, values)) <= {int, float}:
        try:
            return np.array(values, dtype=np.float64), None, None
        except OverflowError:  # an integer beyond float range: one by one (it becomes +-inf)
            pass
    out = np.empty(len(values))
    missing = np.zeros(len(values), bool)
    bad = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        try:
            x = _number(v)
        except ValueError:
            out[i], bad[i] = np.nan, True
            continue
        if x is None:
            out[i], missing[i] = np.nan, True
        else:
            out[i] = x
    return out, missing, bad


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
    """One JSON object holding ``"log_history"`` (anywhere in the file: after other keys of
    more than the head's 64 KB too), and not JSON lines that happen to have such a key."""
    if not head.lstrip().startswith("{") or detect_jsonl(head, src):
        return False
    return '"log_history"' in head or _file_holds(src, b'"log_history"')


def _file_holds(src: Source, needle: bytes) -> bool:
    """Whether the file holds ``needle`` (searched where it lies, without a copy)."""
    if src.data is not None:
        return src.data.find(needle) >= 0
    import mmap

    with open(src.path, "rb") as f:
        try:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return mm.find(needle) >= 0
        except (OSError, ValueError):
            return f.read().find(needle) >= 0


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
    """Two lines that are JSON objects each (a pretty-printed document's first line is a
    bare ``{``); a file of one such line with a step key; or a JSON array of objects
    (pandas' ``to_json(orient="records")``), read as the same records."""
    if _records_array(head):
        return True
    lines = [ln.strip() for ln in first_lines(head, 3)]
    if len(lines) == 1 and src.size() <= len(head.encode()) + 3:  # the whole file: one line
        return _one_record(lines[0])
    return (
        len(lines) >= 2
        and all(ln.startswith("{") for ln in lines[:2])
        and lines[0].endswith("}")
        and len(lines[0]) > 1
    )


def _records_array(head: str) -> bool:
    """``[{...`` (a list of objects; ``[[`` is a TensorBoard download)."""
    body = head.lstrip("\ufeff \t\r\n")
    return body.startswith("[") and body[1:].lstrip().startswith("{")


def _one_record(line: str) -> bool:
    """A line that is one JSON object of scalars with a step key (a log of one record)."""
    if not (line.startswith("{") and line.endswith("}")):
        return False
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return (  # scalars only: a one-line trainer_state.json holds a global_step and a list
        isinstance(rec, dict)
        and any(k in rec for k in STEP_NAMES)
        and not any(isinstance(v, list | dict) for v in rec.values())
    )


def parse_jsonl(src: Source, head: str) -> dict[str, RawSeries]:
    if _records_array(head):
        return _parse_records_array(src)
    numbered = [(n, ln) for n, ln in enumerate(src.text().splitlines(), start=1) if ln.strip()]
    records = _jsonl_at_once(numbered)
    if records is None:  # something is wrong: line by line, to say which line
        records = []
        for n, line in numbered:
            rec = _loads(src, line, n)
            if not isinstance(rec, dict):
                raise LogError(
                    f"{src.name}, line {n}: expected a JSON object, got {type(rec).__name__}"
                )
            records.append(rec)
    line_of = [n for n, _ in numbered]
    series = _records_to_series(src, records, lambda i: line_of[i], "line")
    if not series:
        raise LogError(f"{src.name}: no numeric values besides the step")
    return series


def _parse_records_array(src: Source) -> dict[str, RawSeries]:
    """A JSON array of records ``[{"step": 1, "grad_norm": 0.5}, ...]``: the records of JSON
    lines, named by their index in messages, with a note in the report."""
    doc = _json_doc(src)
    if not isinstance(doc, list):
        raise LogError(f"{src.name}: expected a JSON array of records, got a {type(doc).__name__}")
    if not doc:
        raise LogError(f"{src.name}: an empty JSON array (no records)")
    if not set(map(type, doc)) <= {dict}:
        i = next(i for i, e in enumerate(doc) if not isinstance(e, dict))
        raise LogError(
            f"{src.name}, item [{i}]: expected a JSON object, got {type(doc[i]).__name__}"
        )
    series = _records_to_series(src, doc, lambda i: f"[{i}]", "item")
    if not series:
        raise LogError(f"{src.name}: no numeric values besides the step")
    note = f"read as a JSON array of {len(doc):,} records (one object per step, like JSON lines)"
    for s in series.values():
        s.notes = (*s.notes, note)
    return series


def _jsonl_at_once(numbered: list[tuple[int, str]]) -> list[dict] | None:
    """Every line parsed by one ``json.loads`` of ``[line, line, ...]`` (C speed); None
    unless each line is one object (a line that is not gives a different count)."""
    lines = [ln.strip() for _, ln in numbered]
    if not all(ln.startswith("{") and ln.endswith("}") for ln in lines):
        return None
    try:
        records = json.loads("[" + ",".join(lines) + "]")
    except (ValueError, RecursionError):
        return None
    if len(records) != len(lines) or not set(map(type, records)) <= {dict}:
        return None
    return records


def detect_json_other(head: str, src: Source) -> bool:
    return head.lstrip()[:1] in ("{", "[")


def parse_json_other(src: Source, head: str) -> dict[str, RawSeries]:
    doc = _json_doc(src)
    kind = type(doc).__name__
    if isinstance(doc, dict) and isinstance(doc.get("lr"), list):  # lrcore's to_json export
        keys = name_list(doc, limit=6, quote=False)
        raise LogError(schedule_message(src.name, f"a JSON object with keys {keys}"))
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
            found.setdefault(tag, []).append((rec + offset if offset else rec, steps, values))
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
        if len(parts) == 1:  # one file, one path: already in record order
            _, steps, values = parts[0]
        else:
            recs = np.concatenate([p[0] for p in parts])
            order = np.argsort(recs, kind="stable")  # file order, then record order
            steps = np.concatenate([p[1] for p in parts])[order]
            values = np.concatenate([p[2] for p in parts])[order]
        out[tag] = RawSeries(values=values, steps=steps, unreadable=unreadable)
    return out
