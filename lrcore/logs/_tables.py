"""Delimited text logs: plain CSV/TSV/one number per line, W&B panel exports, TensorBoard
CSV downloads, Lightning ``metrics.csv``, MLflow metric files. A file of plain numbers in
rows of equal width is parsed by pandas' C engine (10 million rows in about 0.3 s, 1.2x the
file in memory); anything else by pandas' pyarrow engine, whose errors the messages name."""

from __future__ import annotations

import csv
import io
import mmap
import re
import warnings
from pathlib import PurePath

import numpy as np
import pandas as pd

from lrcore._validate import name_list
from lrcore.logs._clean import Parsed, RawSeries
from lrcore.logs._columns import is_optimizer_column, optimizer_column
from lrcore.logs._metrics import norm_rank
from lrcore.logs._source import HEAD_BYTES, Source
from lrcore.logs._types import LogError

STEP_NAMES = ("step", "global_step", "trainer/global_step", "_step", "iteration", "iter")
# columns that are never a gradient norm
_NOT_METRICS = {"epoch", "wall time", "time", "timestamp", "_timestamp", "_runtime", "created_at"}
_NAN_WORDS = {"nan", "-nan", "+nan"}
_NEVER_STEPS = ("loss", "lr", "learning_rate", "acc", "accuracy", "norm", "perplexity", "ppl")
MAX_COLUMNS = 10_000  # wider files are refused before parsing (a log needs two columns)
_DECIMAL_COMMA = re.compile(r'(^|;)\s*"?[-+]?\d+,\d+"?\s*(;|$)')


def is_number(token: str) -> bool:
    try:
        float(token.strip().strip('"'))
    except ValueError:
        return False
    return True


def _check_width(src: Source, head: str, delimiter: str) -> None:
    """Refuse very wide files at once (their header alone may not fit in the head)."""
    line = head.split("\n", 1)[0]
    n = len(line.split()) if delimiter == " " else line.count(delimiter) + 1
    if n > MAX_COLUMNS:
        more = "" if "\n" in head else " or more"
        raise LogError(
            f"{src.name}: {n:,}{more} columns; lrcore reads files of at most {MAX_COLUMNS:,} "
            "columns (keep the step and gradient-norm columns)"
        )


def _arrow_message(msg: str) -> str:
    """pyarrow's parse errors in the project's words."""
    first = msg.splitlines()[0] if msg else ""
    m = re.search(r"Expected (\d+) columns, got (\d+): ?(.*)", first)
    if m:
        return f"a row has {m[2]} fields where the first row has {m[1]} (the row: {m[3][:60]!r})"
    if "straddl" in first:
        return (
            'a quoted field is never closed (a stray " character?) or a line is too long '
            "to be a log row"
        )
    return " ".join(first.removeprefix("CSV parse error: ").split())[:200] or "unknown error"


def first_lines(head: str, n: int = 2) -> list[str]:
    return [ln for ln in head.splitlines() if ln.strip()][:n]


def sniff_delimiter(line: str) -> str:
    for d in ("\t", ",", ";"):
        if d in line:
            return d
    return " "


def split_fields(line: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return line.split()
    return next(csv.reader([line], delimiter=delimiter))


def read_table(src: Source, *, delimiter: str = ",", header: bool = True) -> pd.DataFrame:
    """All columns; nulls stay distinct from nan (pyarrow dtypes).

    A file whose every cell is a plain number (the usual large log) takes a fast path that
    returns int64 / float64 numpy columns; anything else, and every malformed file, is read
    by pandas' pyarrow engine, whose errors the messages below are written for.
    """
    simple = _read_simple(src, delimiter, header)
    if simple is not None:
        return simple
    try:
        if delimiter == " ":  # columns aligned with runs of spaces: one separator per run
            return pd.read_csv(
                src.buffer(),
                sep=r"\s+",
                header=0 if header else None,
                keep_default_na=False,
                na_values=[""],
                dtype_backend="pyarrow",
            )
        return pd.read_csv(
            src.buffer(),
            engine="pyarrow",
            sep=delimiter,
            header=0 if header else None,
            keep_default_na=False,
            na_values=[""],
            dtype_backend="pyarrow",
        )
    except Exception as e:  # pyarrow reports ragged rows, bad quoting, etc.
        raise LogError(f"{src.name}: cannot parse as a table: {_arrow_message(str(e))}") from None


def _read_simple(src: Source, delimiter: str, header: bool) -> pd.DataFrame | None:
    """Numbers only, in rows of equal width: pandas' C parser (a third of the memory of the
    pyarrow engine and no slower), or None when the file is anything else.

    The C parser fills short rows with nan, drops extra fields of the first row (a
    trailing delimiter) and reads quoted fields leniently; so the result is taken only when
    the file has no quote character, the first data row is as wide as the header, the
    names are the header's own, and every column is int64 or float64 with no nan (an
    empty cell or a short row). Both parsers round decimal numbers correctly (the tests
    check it), so the values are the ones the pyarrow engine would give.
    """
    if delimiter not in (",", "\t", ";"):
        return None
    if src.data is not None:
        return _read_simple_bytes(src.data, io.BytesIO(src.data), delimiter, header)
    with open(src.path, "rb") as f:
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # a file system without mmap: read the bytes
            return _read_simple_bytes(f.read(), str(src.path), delimiter, header)
        with mm:  # a file on disk is scanned where it lies (no copy) and parsed by path
            return _read_simple_bytes(mm, str(src.path), delimiter, header)


def _read_simple_bytes(data, source, delimiter: str, header: bool) -> pd.DataFrame | None:
    if data.find(b'"') >= 0 or not _numbers_first(data, delimiter, header):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pd.read_csv(
                source,
                engine="c",
                sep=delimiter,
                header=0 if header else None,
                index_col=False,
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8",
                # a blank or whitespace-only line becomes a row of nan or text (declined
                # below) instead of vanishing: the pyarrow engine calls the latter an error
                skip_blank_lines=False,
                **_EXACT_FLOATS,
            )
    except Exception:  # noqa: BLE001 - the pyarrow engine reads it again and says what is wrong
        return None
    if len(df) < 2 or any(df[c].dtype not in _SIMPLE_DTYPES for c in df.columns):
        return None
    # complete lines of the head; pandas takes the rows' width from the first data row and
    # silently drops whatever lies beyond the header's width there (and, then, on every
    # row): so that row must be exactly as wide as the header. Later rows that are longer
    # are errors; shorter ones are filled with nan (declined below).
    lines = [ln.rstrip("\r") for ln in data[:HEAD_BYTES].decode("utf-8-sig", "replace").split("\n")]
    lines = [ln for ln in lines[:-1] if ln.strip()]
    if len(lines) < 2:
        return None
    if header and [str(c) for c in df.columns] != split_fields(lines[0], delimiter):
        return None
    if len(split_fields(lines[1 if header else 0], delimiter)) != df.shape[1]:
        return None
    if any(df[c].dtype.kind == "f" and np.isnan(df[c].to_numpy()).any() for c in df.columns):
        return None  # empty cells: the pyarrow engine keeps them apart from nan
    return df


def _numbers_first(data, delimiter: str, header: bool) -> bool:
    """Whether the first data row is numbers only: a text cell (lrcore's ``optimizer``
    column) or an empty one (a sparse ``loss``) sends the file to the pyarrow engine at
    once, without a C-engine parse of the whole file first."""
    lines = bytes(data[:4096]).decode("utf-8-sig", "replace").split("\n")
    row = next((ln for ln in lines[1 if header else 0 : -1] if ln.strip()), None)
    return row is None or all(f.strip() and is_number(f) for f in row.split(delimiter))


_SIMPLE_DTYPES = (np.dtype(np.int64), np.dtype(np.float64))
# pandas 3's C parser rounds every decimal number correctly; pandas 2's default converter can
# be one ulp off, so there it is asked for Python's own ("round_trip")
_EXACT_FLOATS = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def to_float(
    src: Source, col: pd.Series, name, first_line: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(values, missing) of a column; ``missing`` is None when no cell is empty. Integer
    columns stay int64. A non-numeric cell is an error naming its line."""
    dtype = col.dtype
    if dtype in _SIMPLE_DTYPES:  # numpy columns of the fast path: no empty cell, no copy
        return col.to_numpy(), None
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        arr = col.array.__arrow_array__() if hasattr(col.array, "__arrow_array__") else None
        if arr is not None and arr.null_count == 0:  # fast path: no copy for float64
            values = arr.to_numpy()
            return (values if values.dtype.kind in "if" else values.astype(np.float64)), None
        missing = col.isna().to_numpy(dtype=bool)
        return col.to_numpy(dtype=np.float64, na_value=np.nan), missing
    missing = col.isna().to_numpy(dtype=bool)
    text = col.astype(str).str.strip()
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & ~missing & ~text.str.lower().isin(_NAN_WORDS).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        where = f"column {name + 1}" if isinstance(name, int) else f"column {str(name)!r}"
        if "\n" in text.iloc[i]:
            raise LogError(
                f"{src.name}, line {first_line + i}: a quoted field in {where} runs over "
                'several lines (a " that is never closed?)'
            )
        raise LogError(
            f"{src.name}, line {first_line + i}: {text.iloc[i][:60]!r} in {where} is not a number"
        )
    return values, missing


def _series_from_frame(
    src: Source, df: pd.DataFrame, step_col: str | None, metric_cols: list[str], first_line: int
) -> Parsed:
    """Every metric column as a series; an optimizer column (text) is read as the optimizer
    the log records, not as a series."""
    opt = [c for c in metric_cols if is_optimizer_column(c)]
    metric_cols = [c for c in metric_cols if c not in opt]
    out = Parsed()
    if opt:
        out.recorded = optimizer_column(df[opt[0]], opt[0], first_line)
    steps = None
    if step_col is not None:
        steps, step_missing = to_float(src, df[step_col], step_col, first_line)
        if step_missing is not None:
            steps = np.where(step_missing, np.nan, steps)
    for c in metric_cols:
        values, missing = to_float(src, df[c], c, first_line)
        out[str(c)] = RawSeries(values=values, steps=steps, missing=missing, first_line=first_line)
    return out


_STEP_WORDS = {"step", "steps", "global_step", "global_steps", "_step", "iteration",
               "iterations", "iter", "iters", "train_step", "trainer_step"}  # fmt: skip


def step_name(name) -> str:
    """A column name as compared with step names: BOMs, a comment mark, quotes and
    surrounding blanks removed, lower case, runs of blanks or dashes as ``_``.

    >>> step_name("\ufeff\ufeff# Global Step"), step_name("trainer/global-step")
    ('global_step', 'trainer/global_step')
    """
    s = str(name).replace("\ufeff", "").strip().lstrip("#").strip().strip('"').strip().lower()
    return re.sub(r"[\s\-]+", "_", s)


def is_step_name(name) -> bool:
    """``step``, ``steps``, ``Global Step``, ``trainer/global_step``, ``# step``, ..."""
    s = step_name(name)
    return s in _STEP_WORDS or s.rsplit("/", 1)[-1] in _STEP_WORDS - {"_step"}


def _step_column(columns: list[str]) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    for name in STEP_NAMES:  # exact names first, in this order of preference
        if name in lower:
            return lower[name]
    return next((c for c in columns if is_step_name(c)), None)


def _no_data(src: Source, df: pd.DataFrame) -> None:
    if len(df) == 0:
        raise LogError(f"{src.name}: has a header but no data rows")


# --------------------------------------------------------------------------- formats


def detect_text(head: str, src: Source) -> bool:
    """One number per line (no delimiter)."""
    lines = head.splitlines()[:-1] or head.splitlines()  # the last line of a head may be cut
    return all(
        is_number(ln) and "," not in ln and len(ln.split()) == 1 for ln in lines if ln.strip()
    )


def detect_csv(head: str, src: Source) -> bool:
    return bool(first_lines(head))


def _check_decimal_comma(src: Source, head: str, delim: str) -> None:
    if delim == ";" and any(_DECIMAL_COMMA.search(ln) for ln in first_lines(head, 6)[1:]):
        raise LogError(
            f"{src.name}: semicolon-separated with decimal commas (a spreadsheet in a "
            "European locale); save as comma-separated with decimal points"
        )


def _steps_like(src: Source, col: pd.Series, first_line: int) -> bool:
    """Whether a column holds strictly increasing whole numbers (so it can be the steps)."""
    try:
        v, missing = to_float(src, col, "step", first_line)
    except LogError:
        return False
    v = np.asarray(v, dtype=np.float64)
    return (
        missing is None
        and len(v) >= 1
        and bool(np.all(np.isfinite(v)))
        and bool(np.all(v == np.round(v)))
        and bool(np.all(np.diff(v) > 0))
    )


def parse_csv(src: Source, head: str) -> dict[str, RawSeries]:
    """Plain CSV/TSV or one number per line; optional header.

    The steps are a column named like one (``step``, ``global_step``, ...). In a file of
    two columns without such a name, the first column is the steps only when it holds
    increasing whole numbers and the second looks like a gradient norm (by its name, or
    with no header at all); otherwise rows are numbered 0..n-1 and each column is a series.
    """
    src, head, notes, delim = prepare_text(src, head)
    line1 = first_lines(head, 1)[0]
    delim = delim or sniff_delimiter(line1)
    _check_width(src, head.lstrip("\r\n"), delim)
    _check_decimal_comma(src, head, delim)
    fields = split_fields(line1, delim)
    header = not all(is_number(f) for f in fields)
    df = read_table(src, delimiter=delim, header=header)
    _no_data(src, df)
    first_line = 2 if header else 1
    cols = [str(c) for c in df.columns]
    if not header:
        if len(cols) == 1:
            return _noted(
                {"value": _series_from_frame(src, df, None, [df.columns[0]], 1)["0"]}, notes
            )
        if len(cols) == 2:
            if not _steps_like(src, df[df.columns[0]], 1):
                raise LogError(
                    f"{src.name}: 2 columns and no header, and the first is not increasing "
                    "whole numbers: cannot tell which is the steps; add a header line such "
                    "as step,grad_norm"
                )
            series = _series_from_frame(src, df, df.columns[0], [df.columns[1]], 1)["1"]
            return _noted({"value": series}, notes)
        raise LogError(
            f"{src.name}: {len(cols)} columns and no header: cannot tell which is the "
            "gradient norm; add a header line such as step,grad_norm"
        )
    step = _step_column(cols)
    if (
        step is None
        and len(cols) == 2
        and norm_rank(cols[0]) is None
        and cols[0].lower() not in _NOT_METRICS
        and not any(w in cols[0].lower() for w in _NEVER_STEPS)
        and norm_rank(cols[1]) is not None
        and _steps_like(src, df[df.columns[0]], first_line)
    ):
        step = df.columns[0]
    metrics = [c for c in df.columns if c != step and str(c).lower() not in _NOT_METRICS]
    if not [c for c in metrics if not is_optimizer_column(c)]:
        others = [str(c) for c in (step, *metrics) if c is not None]
        raise LogError(f"{src.name}: no value column besides {name_list(others)}")
    if step is None and len(cols) > 1:  # never renumbered silently
        notes = [*notes, f"no step column found: rows numbered 0..{len(df) - 1:,}"]
    return _noted(_series_from_frame(src, df, step, metrics, first_line), notes)


def _noted(series: dict[str, RawSeries], notes: list[str]) -> dict[str, RawSeries]:
    for s in series.values():
        s.notes = (*s.notes, *notes)
    return series


_SEP_LINE = re.compile(r"^\ufeff*sep=(.)\r?$")  # Excel's first line naming the delimiter


def prepare_text(src: Source, head: str) -> tuple[Source, str, list[str], str | None]:
    """Awkward but real text files made readable, each change noted: Excel's ``sep=;`` first
    line (read as the delimiter, then dropped), a header commented out by
    ``numpy.savetxt`` (``# step,loss,grad_norm``), bare CR line endings (old Mac, or mixed
    with LF), and a last line cut short by a run still writing (no newline at the end: it
    is dropped and reported, as its last number may be cut). Returns the source, its head,
    the notes and the delimiter named by a ``sep=`` line (else None). Files that need none
    of this are not copied."""
    notes: list[str] = []
    delim = None
    data = None  # the rewritten bytes; None while the file is read as it is

    def current() -> bytes:
        return data if data is not None else _bytes(src)

    m = _SEP_LINE.match(head.split("\n", 1)[0])
    if m:
        delim = {"\\t": "\t"}.get(m[1], m[1])
        body = current()
        data = body[body.index(b"\n") + 1 :] if b"\n" in body else b""
        notes.append(f"delimiter {delim!r} from the file's 'sep=' line")
    if _has_bare_cr(src if data is None else Source(src.name, data=data)):
        body = current()  # bare CRs (old Mac, or mixed with LF): every line ending as LF
        data = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        notes.append("bare CR line endings read as line ends")
    text = head if data is None else data[:HEAD_BYTES].decode("utf-8-sig", "replace")
    lines = [ln for ln in text.lstrip("\ufeff").split("\n") if ln.strip()][:50]
    comments = next((i for i, ln in enumerate(lines) if not ln.lstrip().startswith("#")), 0)
    if comments:  # leading '#' lines: the last one is the header when it is as wide as the data
        first = lines[comments]
        d = delim or sniff_delimiter(first)
        last = lines[comments - 1].lstrip().lstrip("#").strip()
        header = bool(last) and len(split_fields(last, d)) == len(split_fields(first, d))
        header = header and not all(is_number(f) for f in split_fields(last, d))
        header = header and all(is_number(f) for f in split_fields(first, d))  # data follows
        body = current()
        at, seen = 0, 0
        while seen < comments:  # past the comment lines (and blank lines among them)
            nl = body.find(b"\n", at)
            seen += bool(body[at : len(body) if nl < 0 else nl].strip())
            at = len(body) if nl < 0 else nl + 1
        kept = (last.encode() + b"\n") if header else b""
        data = kept + body[at:]
        skipped = comments - header
        if header:
            notes.append("header read from the commented line before the data")
        if skipped:
            notes.append(f"{skipped:,} comment line(s) at the top skipped")
        text = data[:HEAD_BYTES].decode("utf-8-sig", "replace")
    if not first_lines(text, 1):
        raise LogError(f"{src.name}: no data after the file's first line(s) ({', '.join(notes)})")
    tail = (
        data[-HEAD_BYTES:]
        if data is not None
        else (src.data[-HEAD_BYTES:] if src.data is not None else _tail(src))
    )
    if tail and not tail.endswith(b"\n") and tail.count(b"\n") >= 2:
        last, previous = tail.rsplit(b"\n", 2)[-1:-3:-1]
        d = delim or sniff_delimiter(previous.decode("utf-8", "replace"))
        shown = last[:40].decode("utf-8", "replace")
        if _cut_short(last.decode("utf-8", "replace"), previous.decode("utf-8", "replace"), d):
            body = current()
            data = body[: body.rindex(b"\n") + 1]
            notes.append(f"last line cut short ({shown!r}, no newline at its end): dropped")
        elif last.strip():
            notes.append(
                f"the last line ({shown!r}) has no newline at its end: if the log was still "
                "being written, its last value may be cut"
            )
    if data is None:
        return src, head, notes, delim
    src = Source(src.name, data=data, inner=src.inner)
    return src, data[:HEAD_BYTES].decode("utf-8-sig", "replace"), notes, delim


def _cut_short(last: str, previous: str, delim: str) -> bool:
    """Whether an unterminated last line is evidently incomplete: fewer fields than the line
    before it, a last field that no number ends like (``1.``, ``2e``, ``3e-``, empty), or
    ``0`` (``0.51`` cut after its first digit; a gradient norm is never exactly 0).

    >>> _cut_short("50,0.", "49,0.51", ","), _cut_short("50", "49,0.51", ","), _cut_short("50,0.5", "49,0.51", ",")
    (True, True, False)
    """
    if not last.strip():
        return False
    fields, before = split_fields(last, delim), split_fields(previous, delim)
    if len(fields) < len(before):
        return True
    end = fields[-1].strip() if fields else ""
    if end in ("0", "-", "+"):  # "0.51" cut to "0": a norm is never exactly 0
        return True
    return not end or end[-1] in ".eE+-" and is_number(before[-1] if before else "0")


def _bytes(src: Source) -> bytes:
    return src.data if src.data is not None else src.path.read_bytes()


_BARE_CR = re.compile(rb"\r(?!\n)")


def _has_bare_cr(src: Source) -> bool:
    """Whether the file holds a CR that ends a line alone (searched where it lies: a CRLF
    file is scanned without a copy)."""
    if src.data is not None:
        return _BARE_CR.search(src.data) is not None
    with open(src.path, "rb") as f:
        try:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _BARE_CR.search(mm) is not None
        except (OSError, ValueError):
            return _BARE_CR.search(f.read()) is not None


def _tail(src: Source) -> bytes:
    with open(src.path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - HEAD_BYTES))
        return f.read()


def detect_wandb(head: str, src: Source) -> bool:
    lines = first_lines(head, 1)
    if not lines or not lines[0].startswith('"'):
        return False
    fields = split_fields(lines[0], ",")
    return any(" - " in f or f.endswith(("__MIN", "__MAX")) for f in fields[1:])


def parse_wandb(src: Source, head: str) -> dict[str, RawSeries]:
    """W&B panel export: x-axis first, then per run ``<run> - <metric>`` (+ __MIN/__MAX)."""
    src, head, notes, _ = prepare_text(src, head)
    _check_width(src, head, ",")
    df = read_table(src)
    _no_data(src, df)
    step = _step_column([str(c) for c in df.columns])
    if step is None:  # the panel's x-axis (the first column) is the steps: say so
        step = df.columns[0]
        v, missing = to_float(src, df[step], step, 2)
        v = np.asarray(v, dtype=np.float64)
        ok = np.isfinite(v) if missing is None else np.isfinite(v) | missing
        bad = ~ok | (np.isfinite(v) & (v != np.round(v)))
        if bad.any():
            i = int(np.argmax(bad))
            raise LogError(
                f"{src.name}, line {2 + i}: the first column {str(step)!r}, the x-axis of this "
                f"W&B export, holds {v[i]:g}, not a whole step number (a time axis?); export "
                "the panel with Step as its x-axis"
            )
        notes = [*notes, f"steps from the first column {str(step)!r}"]
    metrics = [
        c
        for c in df.columns
        if c != step
        and not str(c).endswith(("__MIN", "__MAX"))
        and str(c).lower() not in _NOT_METRICS
        and not is_step_name(c)
    ]
    return _noted(_series_from_frame(src, df, step, metrics, 2), notes)


def detect_tensorboard_csv(head: str, src: Source) -> bool:
    lines = first_lines(head, 1)
    return bool(lines) and lines[0].strip().replace('"', "") == "Wall time,Step,Value"


def _stem_metric(src: Source, default: str) -> str:
    """TensorBoard downloads are named ``run-<run>-tag-<tag>.csv``; use the tag if present."""
    name = src.file_name.removesuffix(".gz")
    if name.startswith("<"):
        return default
    stem = PurePath(name).stem
    return stem.split("-tag-", 1)[1] if "-tag-" in stem else stem


def _need_columns(src: Source, df: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    absent = [c for c in needed if c not in df.columns]
    if absent:
        raise LogError(
            f"{src.name}: a {what} has the columns {', '.join(needed)}; this file has "
            f"{name_list(df.columns)}"
        )


def parse_tensorboard_csv(src: Source, head: str) -> dict[str, RawSeries]:
    df = read_table(src)
    _no_data(src, df)
    _need_columns(src, df, ("Step", "Value"), "TensorBoard CSV download")
    series = _series_from_frame(src, df, "Step", ["Value"], 2)["Value"]
    return {_stem_metric(src, "Value"): series}


def detect_lightning(head: str, src: Source) -> bool:
    lines = first_lines(head, 1)
    if not lines:
        return False
    fields = {f.strip().lower() for f in split_fields(lines[0], ",")}
    return {"epoch", "step"} <= fields


def parse_lightning(src: Source, head: str) -> dict[str, RawSeries]:
    """Sparse rows: each metric's empty cells are other metrics' rows; steps repeat."""
    _check_width(src, head, ",")
    df = read_table(src)
    _no_data(src, df)
    step = _step_column([str(c) for c in df.columns])
    if step is None:
        _need_columns(src, df, ("epoch", "step"), "Lightning metrics.csv")
    metrics = [c for c in df.columns if c != step and str(c).lower() not in _NOT_METRICS]
    series = _series_from_frame(src, df, step, metrics, 2)
    for s in series.values():  # rows of other metrics are not this metric's missing values
        if s.missing is None:
            continue
        keep = ~s.missing
        s.values, s.steps, s.missing = s.values[keep], s.steps[keep], None
        s.first_line = None
    return series


def detect_mlflow(head: str, src: Source) -> bool:
    lines = first_lines(head, 2)
    if not lines:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) != 3 or "," in line or not all(is_number(f) for f in fields):
            return False
    return float(lines[0].split()[0].strip('"')) >= 1e9  # a millisecond timestamp


def parse_mlflow(src: Source, head: str) -> dict[str, RawSeries]:
    """``<timestamp_ms> <value> <step>`` lines; if every step is 0, order by timestamp."""
    df = read_table(src, delimiter=" ", header=False)
    if df.shape[1] != 3:
        raise LogError(f"{src.name}: MLflow metric lines need 3 fields, found {df.shape[1]}")
    ts, _ = to_float(src, df[0], "timestamp", 1)
    values, missing = to_float(src, df[1], "value", 1)
    steps, _ = to_float(src, df[2], "step", 1)
    if np.all(steps == 0):
        steps = np.argsort(np.argsort(ts, kind="stable"), kind="stable").astype(np.float64)
    name = _stem_metric(src, "value")
    return {name: RawSeries(values=values, steps=steps, missing=missing, first_line=1)}
