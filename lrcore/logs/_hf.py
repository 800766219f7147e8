"""Hugging Face ``trainer_state.json`` and checkpoint folders.

Steps count optimizer steps from 0, as in lrcore's ``grad_norms.csv``: Hugging Face numbers
a ``log_history`` point by its global step *after* the update, so its points are read as
``step - 1`` (the cleaning report says so).

A checkpoint's ``trainer_state.json`` written with lrcore's ``GradNormCallback`` holds the
norms of every optimizer step so far; they are read in preference to the points Hugging Face
logged every ``logging_steps``, from the first of:

1. ``stateful_callbacks.GradNormCallback.attributes.lrcore_norms`` in the file itself
   (older lrcore: ``{"steps": [...], "l2": [...], "l1": [...]}``; now a pointer
   ``{"file": "lrcore_grad_norms.npz", "rows": ...}``);
2. ``lrcore_grad_norms.npz`` beside it (``lrcore.train._normfile``: arrays ``step``,
   ``grad_norm_l2``, ``grad_norm_l1``, ``loss`` (NaN: unknown), per-group
   ``grad_norm_l2_<group>`` / ``grad_norm_l1_<group>``, and ``optimizer``, a 0-d string);
3. ``grad_norms.csv`` beside it;
4. for a ``checkpoint-N`` folder, the output folder's ``grad_norms.csv`` (its rows before
   the checkpoint's global step).

The report says which was read. Uploaded bytes have no folder: only 1 applies.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from lrcore._validate import MAX_EXACT_STEP, name_list
from lrcore.logs._clean import Parsed, RawSeries
from lrcore.logs._meta import Recorded, hf_recorded_doc, optimizer_family
from lrcore.logs._metrics import norm_rank
from lrcore.logs._other import _json_doc, _records_to_series
from lrcore.logs._source import Source
from lrcore.logs._tables import parse_csv
from lrcore.logs._types import LogError

SIDECAR = "lrcore_grad_norms.npz"
CSV = "grad_norms.csv"
SHIFT_NOTE = (
    "log_history steps read as step - 1 (Hugging Face numbers a point by its global step "
    "after the update; lrcore counts optimizer steps from 0)"
)
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def parse_hf_trainer(src: Source, head: str) -> Parsed:
    doc = _json_doc(src)
    history = doc.get("log_history") if isinstance(doc, dict) else None
    if not isinstance(history, list):
        raise LogError(f"{src.name}: trainer_state.json needs a 'log_history' list")
    if not set(map(type, history)) <= {dict}:
        i = next(i for i, e in enumerate(history) if not isinstance(e, dict))
        raise LogError(
            f"{src.name}, log_history[{i}]: expected an object, got {type(history[i]).__name__}"
        )

    def training(keys: tuple) -> bool:  # not an evaluation or the end-of-training summary
        return "step" in keys and not any(k.startswith(("eval_", "train_")) for k in keys)

    series = _records_to_series(
        src, history, lambda i: f"[{i}]", "log_history entry", keep=training
    )
    for s in series.values():
        s.steps = s.steps - 1
    global_step = _global_step(doc)
    per_step, note = _per_step(src, doc, global_step)
    if per_step is not None:
        out = Parsed({k: v for k, v in series.items() if norm_rank(k) is None})
        out.update(per_step)
        logged = len(series["grad_norm"].values) if "grad_norm" in series else 0
        note += f", in preference to the {logged:,} point(s) Hugging Face logged"
        for s in out.values():
            s.notes = (*s.notes, note)
        out.recorded = hf_recorded_doc(doc) or per_step.recorded
        out.total_steps = max(global_step or 0, _last(per_step) + 1) or None
        return out
    if not series and not any(training(tuple(e)) for e in history):
        raise LogError(f"{src.name}: log_history has no training entries" + note)
    if "grad_norm" not in series:
        found = name_list(sorted(series), limit=12, quote=False) or "none"
        raise LogError(
            f"{src.name}: log_history has no 'grad_norm' entries (Transformers >= 4.38 "
            f"logs them); keys found: {found}" + note
        )
    out = Parsed(series)
    for s in out.values():
        s.notes = (*s.notes, SHIFT_NOTE) + ((note.removeprefix("; "),) if note else ())
    out.recorded = hf_recorded_doc(doc)
    out.total_steps = max(global_step or 0, _last(series) + 1) or None
    return out


def _global_step(doc) -> int | None:
    g = doc.get("global_step")
    return g if type(g) is int and 0 < g <= MAX_EXACT_STEP else None


def _last(series: dict[str, RawSeries]) -> int:
    """The last finite step of any series (-1 when there is none)."""
    last = -1
    for s in series.values():
        steps = np.asarray(s.steps, dtype=np.float64)
        steps = steps[np.isfinite(steps) & (np.abs(steps) <= MAX_EXACT_STEP)]
        if len(steps):
            last = max(last, int(steps.max()))
    return last


# --------------------------------------------------------------------------- per-step norms


def _per_step(src: Source, doc, global_step: int | None) -> tuple[Parsed | None, str]:
    """(per-step series, the note saying where they came from), or (None, a note saying
    why stored norms were not used, or "")."""
    problems = []
    try:
        found = _embedded(doc)
    except LogError as e:
        found, problems = None, [str(e)]
    if found is not None:
        n = len(next(iter(found.values())).values)
        return found, f"per-step norms of {n:,} steps from lrcore's GradNormCallback state"
    folder = src.path.parent if src.path is not None else None
    if folder is None:
        pointer = _pointer(doc)
        if pointer:  # an upload of the file alone: the rows are in the checkpoint's folder
            problems.append(f"they are in {pointer} in the checkpoint's folder: pass the folder")
        return None, _unused(problems)
    candidates = [
        (folder / SIDECAR, f"{SIDECAR} beside it", None),
        (folder / CSV, f"{CSV} beside it", None),
    ]
    m = _CHECKPOINT.fullmatch(folder.name)
    if m:
        before = global_step or int(m[1])
        where = f"{folder.parent.name}/{CSV}, its rows before the checkpoint's step {before:,}"
        candidates.append((folder.parent / CSV, where, before))
    pointer = _pointer(doc)
    if pointer and not (folder / pointer).is_file():
        problems.append(f"trainer_state.json names {pointer}, which is not beside it")
    for path, where, before in candidates:
        if not path.is_file():
            continue
        try:
            found = _read_npz(path) if path.suffix == ".npz" else _read_csv(path)
        except LogError as e:
            problems.append(str(e))
            continue
        if before is not None:
            found = _before(found, before)
        if any(norm_rank(k) is not None for k in found):
            n = max(len(s.values) for s in found.values())
            return found, f"per-step norms of {n:,} steps from {where}"
        problems.append(f"{path.name}: no rows before step {before:,}")
    return None, _unused(problems)


def _pointer(doc) -> str | None:
    """The sidecar file lrcore's callback names in ``lrcore_norms`` (``{"file": ...}``)."""
    attrs = _attributes(doc)
    norms = attrs.get("lrcore_norms") if attrs else None
    name = norms.get("file") if isinstance(norms, dict) else None
    return name if isinstance(name, str) and name and "/" not in name and "\\" not in name else None


def _attributes(doc) -> dict | None:
    state = doc.get("stateful_callbacks") if isinstance(doc, dict) else None
    state = state.get("GradNormCallback") if isinstance(state, dict) else None
    if isinstance(state, list):
        state = state[-1] if state else None
    attrs = state.get("attributes") if isinstance(state, dict) else None
    return attrs if isinstance(attrs, dict) else None


def _unused(problems: list[str]) -> str:
    return f"; lrcore's stored norms not used ({'; '.join(problems)})" if problems else ""


def _embedded(doc) -> Parsed | None:
    """The norms lrcore's callback kept in ``stateful_callbacks`` (None if there are none)."""
    attrs = _attributes(doc)
    norms = attrs.get("lrcore_norms") if attrs else None
    if not isinstance(norms, dict) or not norms.get("steps"):
        return None
    out = _columns("trainer_state.json (lrcore_norms)", dict(norms))
    return out


def _name(key: str) -> str:
    """``l2`` -> ``grad_norm_l2``, ``l1_attn`` -> ``grad_norm_l1_attn``; others unchanged."""
    for short in ("l2", "l1"):
        if key == short or key.startswith(short + "_"):
            return "grad_norm_" + key
    return key


def _columns(where: str, arrays: dict) -> Parsed:
    """Series from columns ``steps`` + ``l2``, ``l1``, ``loss``, ... of one length."""
    steps = arrays.pop("steps", arrays.pop("step", None))
    optimizer = arrays.pop("optimizer", None)
    try:
        steps = np.asarray(steps, dtype=np.float64)
        if steps.ndim != 1:
            raise ValueError
        out = Parsed()
        for key, values in arrays.items():
            if values is None or isinstance(values, str):
                continue
            values = np.asarray(values, dtype=np.float64)
            if values.shape != steps.shape:
                raise LogError(
                    f"{where}: {key!r} has {values.size:,} values for {steps.size:,} steps"
                )
            out[_name(key)] = RawSeries(values=values, steps=steps)
    except (TypeError, ValueError) as e:
        if isinstance(e, LogError):
            raise
        raise LogError(f"{where}: steps and norms must be lists of numbers") from None
    if not any(norm_rank(k) is not None for k in out):
        raise LogError(f"{where}: no l2 or l1 norms (found {name_list(out) or 'none'})")
    if isinstance(optimizer, str) and optimizer.strip():
        out.recorded = Recorded(optimizer_family(optimizer), optimizer.strip())
    return out


def _read_npz(path: Path) -> Parsed:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file: say so, read others
        detail = " ".join(str(e).split())[:120] or type(e).__name__
        raise LogError(f"{path.name}: cannot read ({detail})") from None
    opt = arrays.get("optimizer")
    if opt is not None:
        arrays["optimizer"] = (
            str(opt.reshape(-1)[0]) if opt.dtype.kind in "US" and opt.size else None
        )
    return _columns(path.name, arrays)


def _read_csv(path: Path) -> Parsed:
    """lrcore's ``grad_norms.csv`` (old: a first line ``# lrcore: optimizer=...``; new: an
    ``optimizer`` column)."""
    from lrcore.logs._meta import split_comment

    src = Source(f"{path.parent.name}/{path.name}", path=path)
    head = src.head()
    recorded, n = split_comment(head[:512])
    if n:
        src = Source(src.name, data=path.read_bytes()[n:])
        head = src.head()
    parsed = parse_csv(src, head.decode("utf-8-sig", "replace"))
    if not any(norm_rank(k) is not None for k in parsed):
        raise LogError(f"{src.name}: no gradient-norm columns (found {name_list(parsed)})")
    if isinstance(parsed, Parsed) and parsed.recorded is None:
        parsed.recorded = recorded
    return parsed if isinstance(parsed, Parsed) else Parsed(parsed)


def _before(found: Parsed, step: int) -> Parsed:
    """The rows at steps ``< step`` (a checkpoint's share of the output folder's log)."""
    out = Parsed()
    out.recorded = found.recorded
    for name, s in found.items():
        steps = np.arange(len(s.values)) if s.steps is None else np.asarray(s.steps, float)
        keep = steps < step
        if keep.all():
            out[name] = s
            continue
        if not keep.any():
            continue
        prefix = not keep[int(np.argmin(keep)) :].any()
        out[name] = RawSeries(
            values=s.values[keep],
            steps=steps[keep],
            missing=None if s.missing is None else s.missing[keep],
            first_line=s.first_line if prefix else None,
            notes=s.notes,
        )
    return out
