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
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lrcore._output import write_atomic
from lrcore._text import for_terminal
from lrcore._validate import MAX_STEPS, as_norms, as_reals, check_int, check_lr, check_lrs
from lrcore.schedules import Schedule, evaluate

__all__ = [
    "as_values",
    "to_csv",
    "to_json",
    "csv_bytes",
    "json_bytes",
    "csv_rows",
    "to_lambda_lr",
    "to_snippet",
    "knots",
    "MAX_ERROR",
    "log_to_csv",
    "SNIPPET_FLAVOURS",
]

# snippets embed every value up to this many steps, else this many knots to interpolate
_MAX_EMBEDDED = 2000


def as_values(
    schedule: Schedule | np.ndarray | list, total_steps: int | None = None, *, fn: str = "as_values"
) -> np.ndarray:
    """The schedule as a 1-D float64 array of lrs, one per step; errors name ``fn`` (the public
    function the user called)."""
    if callable(schedule):
        if total_steps is None:
            raise ValueError(f"{fn}: a schedule function needs total_steps")
        check_int(fn, "total_steps", total_steps, minimum=1, maximum=MAX_STEPS)
        return check_lrs(fn, "schedule", evaluate(schedule, total_steps))
    values = as_norms(fn, schedule, name="schedule", positive=False)
    if total_steps is not None and total_steps != len(values):
        raise ValueError(
            f"{fn}: total_steps={total_steps} differs from the schedule's length {len(values)};"
            " use lrcore.stretch to resample"
        )
    return values


def _write(text: str, path: str | Path | None, fn: str) -> str:
    if path is not None:
        write_atomic(path, text.encode(), fn)  # a failed write leaves the old file whole
    return text


_ROWS_PER_THREAD = 1_000_000  # rows formatted per thread
_ROWS_PER_CHUNK = 1 << 18  # rows per chunk when streaming (a closed pipe stops within one)
_FIRST_ROWS = 1000  # the first chunk's rows


def csv_rows(n: int, columns, header: bool = True) -> bytes:
    r"""CSV bytes of ``n`` rows whose columns ``columns(start, stop)`` gives for rows
    ``start..stop`` (a dict name -> array). pyarrow formats slices of a million rows in
    parallel threads (it works without the GIL): 10 million rows in about a second on two
    cores, where ``np.savetxt`` takes half a minute. Floats print in their shortest exact
    form (``0.1``, ``1``, ``1e-05`` as ``0.00001``).

    >>> csv_rows(3, lambda a, b: {"step": np.arange(a, b), "lr": np.full(b - a, 0.5)})
    b'step,lr\n0,0.5\n1,0.5\n2,0.5\n'
    """
    return b"".join(csv_chunks(n, columns, header, _ROWS_PER_THREAD))


def csv_chunks(n: int, columns, header: bool = True, rows: int = _ROWS_PER_CHUNK):
    """:func:`csv_rows` as a generator of chunks of ``rows`` rows (the header first), formatted
    a few at a time ahead in threads: memory stays at a few chunks whatever ``n``, and a
    consumer that stops (a closed pipe) stops the formatting. The first chunk is a short one
    made in the caller's thread, so a reader that leaves at once is noticed at once."""
    import os
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    from itertools import islice

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    def part(start: int, stop: int) -> bytes:
        table = pa.table(columns(start, stop))
        buf = pa.BufferOutputStream()
        pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False))
        return buf.getvalue().to_pybytes()

    if header:
        yield (",".join(columns(0, 0)) + "\n").encode()
    first = min(n, _FIRST_ROWS)
    if first:
        yield part(0, first)
    spans = iter([(a, min(a + rows, n)) for a in range(first, n, rows)])
    workers = min(-(-(n - first) // rows), os.cpu_count() or 1, 8)
    if workers <= 1:
        yield from (part(a, b) for a, b in spans)
        return
    pool = ThreadPoolExecutor(workers)
    ahead = deque(pool.submit(part, *ab) for ab in islice(spans, workers))
    try:
        while ahead:
            done = ahead.popleft().result()
            ahead.extend(pool.submit(part, *ab) for ab in islice(spans, 1))
            yield done
    finally:  # a consumer that stopped waits for no chunk
        pool.shutdown(wait=False, cancel_futures=True)


def short(values: np.ndarray, scale: float) -> np.ndarray:
    """``values`` rounded to 1e-12 of ``scale`` (their peak), so that they print short
    (``0.05``, not ``0.050000000000000024``); unchanged when ``scale`` is not > 0.

    >>> short(np.array([0.05 + 2e-17, 1 / 3]), 0.1).tolist()  # 1e-12 of 0.1: 13 decimals
    [0.05, 0.3333333333333]
    """
    if not (scale > 0 and np.isfinite(scale)):
        return values
    decimals = 12 - int(np.ceil(np.log10(scale)))
    if abs(decimals) > 280:  # 10 ** decimals near the ends of float64: rounding would lose them
        return values  # (an lr of 2.3e-308 rounded to 300 decimals was written as 0)
    return np.round(values, decimals)


def _scaled(fn: str, schedule, total_steps: int | None, peak_lr: float) -> np.ndarray:
    """The schedule's lrs, refused when ``peak_lr`` times the largest leaves float64 (a file
    never holds ``inf``)."""
    check_lr(fn, "peak_lr", peak_lr)
    values = as_values(schedule, total_steps, fn=fn)
    top = float(values.max())
    if not np.isfinite(top * peak_lr):
        raise ValueError(
            f"{fn}: peak_lr={peak_lr!r} times the schedule's largest value {top:.3g} is beyond "
            "float64 (over 1.8e308); pass a smaller peak_lr or a peak-normalised schedule"
        )
    return values


def csv_bytes(schedule, total_steps: int | None = None, peak_lr: float = 1.0) -> bytes:
    """:func:`to_csv` as bytes (what a file or a download holds)."""
    return _csv_bytes("csv_bytes", schedule, total_steps, peak_lr)


def _csv_bytes(fn: str, schedule, total_steps, peak_lr) -> bytes:
    return b"".join(_csv_stream(fn, schedule, total_steps, peak_lr, _ROWS_PER_THREAD))


def csv_stream(schedule, total_steps=None, peak_lr: float = 1.0, rows: int = _ROWS_PER_CHUNK):
    """:func:`csv_bytes` in chunks (:func:`csv_chunks`): what a command streams to stdout."""
    return _csv_stream("csv_stream", schedule, total_steps, peak_lr, rows)


def _csv_stream(fn: str, schedule, total_steps, peak_lr, rows):
    """:func:`csv_stream`, its errors naming ``fn`` (the public function called)."""
    values = _scaled(fn, schedule, total_steps, peak_lr)
    scale = float(values.max()) * peak_lr

    def columns(a: int, b: int) -> dict:
        return {"step": np.arange(a, b), "lr": short(values[a:b] * peak_lr, scale)}

    return csv_chunks(len(values), columns, rows=rows)


def to_csv(
    schedule, total_steps: int | None = None, path: str | Path | None = None, peak_lr: float = 1.0
) -> str:
    """CSV text with header ``step,lr`` (``lr`` = ``peak_lr`` times the schedule, rounded
    to 1e-12 of its peak)."""
    return _write(_csv_bytes("to_csv", schedule, total_steps, peak_lr).decode(), path, "to_csv")


def json_bytes(schedule, total_steps: int | None = None, peak_lr: float = 1.0, **meta) -> bytes:
    """:func:`to_json` as bytes; the lrs are formatted by :func:`csv_rows` (exact, shortest
    form), seconds faster than ``json.dumps`` of a list for millions of steps."""
    return _json_bytes("json_bytes", schedule, total_steps, peak_lr, meta)


def _json_bytes(fn: str, schedule, total_steps, peak_lr, meta: dict) -> bytes:
    return b"".join(_json_stream(fn, schedule, total_steps, peak_lr, _ROWS_PER_THREAD, meta))


def json_stream(schedule, total_steps=None, peak_lr=1.0, rows: int = _ROWS_PER_CHUNK, **meta):
    """:func:`json_bytes` in chunks (:func:`csv_chunks`): what a command streams to stdout."""
    return _json_stream("json_stream", schedule, total_steps, peak_lr, rows, meta)


def _json_stream(fn: str, schedule, total_steps, peak_lr, rows, meta: dict):
    """:func:`json_stream`, its errors naming ``fn`` (the public function called)."""
    values = _scaled(fn, schedule, total_steps, peak_lr) * peak_lr
    try:  # strict JSON: a NaN or inf in meta is refused, not written as NaN
        doc = json.dumps(
            {"total_steps": len(values), "peak_lr": peak_lr, **meta, "lr": []}, allow_nan=False
        )
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: {_bad_meta(meta)}") from None
    lrs = csv_chunks(len(values), lambda a, b: {"lr": values[a:b]}, header=False, rows=rows)
    yield doc[:-2].encode()
    sep = b""
    for chunk in lrs:
        yield sep + chunk[:-1].replace(b"\n", b", ")
        sep = b", "
    yield b"]}"


def _json_ok(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _bad_meta(meta: dict) -> str:
    """Which ``meta`` entry JSON cannot hold (NaN, inf, an object), in one line."""
    bad = [k for k, v in meta.items() if not _json_ok(v)] or ["(a key that is not text)"]
    value = meta.get(bad[0], meta)
    return (
        f"meta {bad[0]}={value!r} is not a JSON value (allowed: finite numbers, text, true/false, "
        "null, lists and dicts of them)"
    )[:300]


def to_json(
    schedule,
    total_steps: int | None = None,
    path: str | Path | None = None,
    peak_lr: float = 1.0,
    **meta,
) -> str:
    """JSON ``{"total_steps": N, "peak_lr": ..., "lr": [...], **meta}``; each lr in its
    shortest exact form (a whole number without ``.0``).

    >>> print(to_json([1.0, 0.5, 0.0], peak_lr=0.1, name="refined"))
    {"total_steps": 3, "peak_lr": 0.1, "name": "refined", "lr": [0.1, 0.05, 0]}
    """
    text = _json_bytes("to_json", schedule, total_steps, peak_lr, meta).decode()
    return _write(text, path, "to_json")


def to_lambda_lr(schedule, optimizer, total_steps: int | None = None):
    """A ``torch.optim.lr_scheduler.LambdaLR`` whose factor at step t is
    ``schedule[t] / max(schedule)``: set the optimizer's lr to the peak lr you want.
    Steps past the end keep the last factor. Call ``scheduler.step()`` after each
    ``optimizer.step()``.

    The scheduler pickles (``torch.save(scheduler)``, ``copy.deepcopy``: every factor,
    exactly). Its ``state_dict()`` holds a compact description of the schedule (see
    :class:`ScheduleFactor`), not one float per step, so checkpoints stay small;
    ``load_state_dict`` puts back the step and, into a scheduler over another schedule,
    the saved schedule (resuming mid-run continues where the run stopped).
    """
    from torch.optim.lr_scheduler import LambdaLR  # torch only when asked for

    values = _positive("to_lambda_lr", schedule, total_steps)
    return LambdaLR(optimizer, ScheduleFactor(values / values.max()))


def _positive(fn: str, schedule, total_steps: int | None) -> np.ndarray:
    """The schedule's lrs, refused when all are zero (its factors ``lr / max`` are 0 / 0)."""
    values = as_values(schedule, total_steps, fn=fn)
    if not values.max() > 0:
        raise ValueError(f"{fn}: schedule must have a positive lr (all {len(values):,} are 0)")
    return values


STATE_MAX_ERROR = 1e-4  # a saved description's knots: within this fraction of the peak


class ScheduleFactor:
    """The lr factor at step t: ``factors[t]``, the last one past the end (a callable
    object, not a closure: it pickles).

    What ``LambdaLR.state_dict`` saves of it (its ``__dict__``) is a description:
    ``total_steps``, a ``digest`` (SHA-256) of the exact factors, and the knots of a
    piecewise-linear fit within ``STATE_MAX_ERROR`` of the peak at every step (every
    factor, exactly, up to 2,000 steps): a few hundred numbers for a refined schedule of a
    million steps. Loaded into a scheduler over the same schedule (same digest: the usual
    resume) the exact factors stay; over another one, the factors come from the knots.
    A state saved by older lrcore (``{"factors": [...]}``) loads exactly.

    >>> f = ScheduleFactor([1.0, 0.5]); f(0), f(1), f(7)
    (1.0, 0.5, 0.5)
    """

    __slots__ = ("__dict__", "_table", "_digest")

    def __init__(self, factors):
        self._set_table(np.asarray(factors, dtype=np.float64))
        self.__dict__.update(_describe(self._table, self._digest))

    def _set_table(self, table: np.ndarray) -> None:
        self._table = np.ascontiguousarray(table, dtype=np.float64)
        self._digest = _digest(self._table)

    def _sync(self) -> None:
        """After ``LambdaLR.load_state_dict`` replaced the description: the table it says."""
        d = self.__dict__
        if "factors" in d:  # older lrcore: every factor
            self._set_table(np.asarray(d.pop("factors"), dtype=np.float64))
            d.update(_describe(self._table, self._digest))
        elif d.get("digest") != self._digest:
            steps = np.asarray(d["knot_steps"], dtype=np.float64)
            table = np.interp(np.arange(int(d["total_steps"])), steps, d["knot_factors"])
            self._table, self._digest = table, d["digest"]

    def __call__(self, step: int) -> float:
        d = self.__dict__
        if d.get("digest") != self._digest or "factors" in d:
            self._sync()
        return float(self._table[min(int(step), len(self._table) - 1)])

    @property
    def factors(self) -> np.ndarray:
        """Every factor (a read-only view)."""
        view = self._table.view()
        view.flags.writeable = False
        return view

    def __getstate__(self):
        return {"description": dict(self.__dict__), "table": self._table}

    def __setstate__(self, state) -> None:
        self._set_table(state["table"])
        self.__dict__.update(state["description"])

    def __repr__(self) -> str:
        return f"ScheduleFactor(<{len(self._table):,} steps>)"


def _digest(table: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(table.tobytes()).hexdigest()


def _describe(table: np.ndarray, digest: str) -> dict:
    """The compact description ``LambdaLR.state_dict`` keeps (plain ints, floats, str)."""
    n = len(table)
    ks = np.arange(n) if n <= _MAX_EMBEDDED else knots(table, STATE_MAX_ERROR)
    return {
        "total_steps": n,
        "digest": digest,
        "max_error": 0.0 if n <= _MAX_EMBEDDED else STATE_MAX_ERROR,
        "knot_steps": ks.tolist(),
        "knot_factors": table[ks].tolist(),
    }


# max |snippet(t) - schedule(t)| at any step, as a fraction of the peak (the issue asks <= 1e-3)
MAX_ERROR = 5e-4
_INITIAL_KNOTS = 65  # uniform grid the splitting starts from
_CHUNK = 1 << 20  # points checked at once when verifying the initial grid (bounds memory)


def knots(values: np.ndarray, max_error: float = MAX_ERROR) -> np.ndarray:
    """Steps whose values, joined by straight lines, stay within ``max_error`` of ``values``
    at every integer step (Douglas-Peucker on the vertical error: split a segment at its
    worst step until no step is off by more than ``max_error``).

    The bound is checked, not assumed: a segment is accepted only after the error of
    every step inside it has been computed. First and last steps are always knots.

    >>> v = np.r_[np.linspace(0.0, 0.3, 5000), np.ones(5000)]  # a jump at step 5000
    >>> k = knots(v, max_error=1e-6)
    >>> bool(np.abs(np.interp(np.arange(len(v)), k, v[k]) - v).max() <= 1e-6), len(k) < 70
    (True, True)
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if not max_error > 0:
        raise ValueError(f"knots: max_error must be > 0, got {max_error!r}")
    if n <= 2:
        return np.arange(n)
    grid = np.unique(np.r_[np.linspace(0, n - 1, min(n, _INITIAL_KNOTS)).round(), np.argmax(v)])
    grid = grid.astype(np.int64)
    keep = [grid]
    todo = [(int(a), int(b)) for a, b in _bad_segments(v, grid, max_error)]
    while todo:
        a, b = todo.pop()
        if b - a < 2:  # no step strictly inside
            continue
        x = np.arange(a + 1, b)
        err = np.abs(_chord(v, a, b, x) - v[a + 1 : b])
        worst = int(np.argmax(err))
        if err[worst] > max_error:
            m = a + 1 + worst
            keep.append(np.array([m]))
            todo += [(a, m), (m, b)]
    return np.unique(np.concatenate(keep))


def _chord(v: np.ndarray, a: int, b: int, x: np.ndarray) -> np.ndarray:
    """The straight line from (a, v[a]) to (b, v[b]) at steps x, as the snippet computes it."""
    return v[a] + (x - a) / (b - a) * (v[b] - v[a])


def _bad_segments(v: np.ndarray, grid: np.ndarray, max_error: float) -> list[tuple[int, int]]:
    """Segments of ``grid`` where some step is off by more than ``max_error``."""
    bad = []
    lo = 0  # index into grid of the first knot of the current chunk
    while lo < len(grid) - 1:
        hi = int(np.searchsorted(grid, grid[lo] + _CHUNK, side="right")) - 1
        hi = max(hi, lo + 1)
        g = grid[lo : hi + 1]
        x = np.arange(g[0], g[-1] + 1)
        seg = np.searchsorted(g, x, side="right") - 1
        seg[-1] = len(g) - 2
        a, b = g[seg], g[seg + 1]
        err = np.abs(v[a] + (x - a) / (b - a) * (v[b] - v[a]) - v[x])
        over = np.unique(seg[err > max_error])
        bad += [(int(g[i]), int(g[i + 1])) for i in over]
        lo = hi
    return bad


def _floats(values: np.ndarray) -> str:
    """Exact (round-trip) Python float literals."""
    return "[" + ", ".join(repr(float(x)) for x in values) + "]"


_HEAD = """# Learning-rate schedule exported by lrcore ({what}); needs only {needs}.
# Factor at step t = lr_t / peak lr{exactness}.
# Set the optimizer's lr to your peak lr; steps past the end keep the last factor.
{imports}TOTAL_STEPS = {total}
{table}

def lr_factor(step):
{body}
"""

_BODY_TABLE = """    return FACTORS[min(max(step, 0), TOTAL_STEPS - 1)]"""
_BODY_KNOTS = """    step = min(max(step, 0), TOTAL_STEPS - 1)
    i = min(bisect.bisect_right(KNOTS, step) - 1, len(KNOTS) - 2)
    a, b = KNOTS[i], KNOTS[i + 1]
    return FACTORS[i] + (step - a) / (b - a) * (FACTORS[i + 1] - FACTORS[i])"""
# optax: traced under jit, so integer steps index int32 tables (exact up to 2**31 steps)
_BODY_TABLE_JAX = """    return FACTORS[jnp.clip(step, 0, TOTAL_STEPS - 1)]"""
_BODY_KNOTS_JAX = """    step = jnp.clip(jnp.asarray(step, jnp.int32), 0, TOTAL_STEPS - 1)
    i = jnp.clip(jnp.searchsorted(KNOTS, step, side="right") - 1, 0, len(KNOTS) - 2)
    a, b = KNOTS[i], KNOTS[i + 1]
    frac = (step - a).astype(FACTORS.dtype) / (b - a).astype(FACTORS.dtype)
    return FACTORS[i] + frac * (FACTORS[i + 1] - FACTORS[i])"""


@dataclass(frozen=True)
class _Flavour:
    needs: str
    tail: str
    jax: bool = False


_FLAVOURS = {
    "torch": _Flavour(
        "the Python standard library",
        """
# In your training script (scheduler.step() once after each optimizer.step()):
#   optimizer = {optimizer}(model.parameters(), lr=PEAK_LR)
#   scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
""",
    ),
    "hf": _Flavour(
        "the Python standard library",
        """
# With a Hugging Face Trainer: it builds its own optimizer as in your other runs (weight-decay
# groups, betas, eps; lr = learning_rate, the peak); only the schedule is new, and the
# Trainer calls scheduler.step() for you:
#   args = TrainingArguments(..., {optimizer}learning_rate=PEAK_LR, max_steps=TOTAL_STEPS)
#   trainer = Trainer(model=model, args=args, ...)
#   trainer.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.create_optimizer(), lr_factor)
#   trainer.train()
""",
    ),
    "optax": _Flavour(
        "jax",
        """
# With optax (the step count is the optimizer's own):
#   optimizer = {optimizer}(learning_rate=lambda step: PEAK_LR * lr_factor(step))
""",
        jax=True,
    ),
}
SNIPPET_FLAVOURS = tuple(_FLAVOURS)
# the optimizer named in the usage comment: the rule the schedule was refined for (the
# refinement of l2 norms assumes SGD, of l1 norms Adam); None = the framework's usual one
_OPTIMIZER_NAMES = {
    "torch": {"sgd": "torch.optim.SGD", "adam": "torch.optim.AdamW", None: "torch.optim.SGD"},
    "hf": {"sgd": 'optim="sgd", ', "adam": "", None: ""},  # the Trainer's default: AdamW
    "optax": {"sgd": "optax.sgd", "adam": "optax.adamw", None: "optax.adamw"},
}


def to_snippet(
    schedule,
    total_steps: int | None = None,
    flavour: str = "torch",
    what: str = "schedule",
    max_error: float = MAX_ERROR,
    optimizer: str | None = None,
) -> str:
    """Copy-paste Python defining ``lr_factor(step)`` (no lrcore or numpy needed; the
    ``optax`` flavour needs jax).

    Up to 2,000 steps every factor is embedded exactly; longer schedules embed the knots
    of :func:`knots` and interpolate linearly between them, so the factor at every step
    is within ``max_error`` (a fraction of the peak) of the schedule's. ``optimizer``
    (``"sgd"`` or ``"adam"``: the rule the schedule was refined for) picks the optimizer
    named in the usage comment; ``None`` names the framework's usual one.

    >>> ns = {}; exec(to_snippet([2.0, 1.0, 0.0]), ns); ns["lr_factor"](1)
    0.5
    """
    if flavour not in _FLAVOURS:
        raise ValueError(f"to_snippet: flavour must be one of {list(_FLAVOURS)}, got {flavour!r}")
    fl = _FLAVOURS[flavour]
    names = _OPTIMIZER_NAMES[flavour]
    if optimizer not in names:
        raise ValueError(f"to_snippet: optimizer must be 'sgd', 'adam' or None, got {optimizer!r}")
    if not (isinstance(max_error, numbers.Real) and math.isfinite(max_error) and max_error > 0):
        raise ValueError(f"to_snippet: max_error must be a finite number > 0, got {max_error!r}")
    values = _positive("to_snippet", schedule, total_steps)
    factors = values / values.max()
    if len(factors) <= _MAX_EMBEDDED:
        ks, exactness, body = None, " (every step embedded)", _BODY_TABLE
        table = f"FACTORS = {_floats(factors)}"
    else:
        ks = knots(factors, max_error)
        exactness = f", within {max_error:g} of the schedule at every step ({len(ks):,} knots)"
        body = _BODY_KNOTS
        table = f"KNOTS = {ks.tolist()!r}\nFACTORS = {_floats(factors[ks])}"
    if fl.jax:
        body = _BODY_TABLE_JAX if ks is None else _BODY_KNOTS_JAX
        table = table.replace("KNOTS = [", "KNOTS = jnp.array([").replace(
            "FACTORS = [", "FACTORS = jnp.array(["
        )
        table = "\n".join(
            line + (", jnp.int32)" if line.startswith("KNOTS") else ")")
            for line in table.split("\n")
        )
        imports = "import jax.numpy as jnp\n\n"
    else:
        imports = "" if ks is None else "import bisect\n\n"
    return _HEAD.format(
        what=for_terminal(what),  # a file name with a newline must not end the comment
        needs=fl.needs,
        exactness=exactness,
        imports=imports,
        total=len(values),
        table=table,
        body=body,
    ) + fl.tail.format(optimizer=names[optimizer])


def log_to_csv(steps, grad_norms, path: str | Path | None = None) -> str:
    """A gradient-norm log as plain CSV ``step,grad_norm`` (what ``load_log`` reads back)."""
    g = as_reals("log_to_csv", "grad_norms", grad_norms)
    s = as_reals("log_to_csv", "steps", steps)
    if g.ndim == 1:
        check_lrs("log_to_csv", "grad_norms", g)  # finite and >= 0: a log never holds inf
    if s.ndim == 1:
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(s) & (s == np.round(s)) & (np.abs(s) <= 2**53))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"log_to_csv: steps[{i}] = {float(s[i])!r} must be a whole number within +-2^53"
            )
    s = s.astype(np.int64)
    if s.shape != g.shape or s.ndim != 1:
        raise ValueError(
            f"log_to_csv: steps {s.shape} and grad_norms {g.shape} must be 1-D and match"
        )
    buf = io.StringIO()
    buf.write("step,grad_norm\n")
    np.savetxt(buf, np.column_stack([s, g]), fmt=["%d", "%.10g"], delimiter=",")
    return _write(buf.getvalue(), path, "log_to_csv")
