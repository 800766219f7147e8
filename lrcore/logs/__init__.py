"""Read the gradient-norm logs people already have into one type, :class:`GradNormLog`.

Formats (log-formats.md) are detected from the content; ``fmt=`` forces one. Every
failure is a :class:`LogError` (a ``ValueError``) that says what is wrong and where.

>>> log = load_log(b"step,grad_norm\\n0,2.0\\n1,nan\\n2,1.0\\n")
>>> log.fmt, log.steps.tolist(), log.grad_norms.tolist(), log.report.nan
('csv', [0, 2], [2.0, 1.0], 1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lrcore.logs import _hf, _other, _tables
from lrcore.logs._clean import RawSeries, clean, clean_loss
from lrcore.logs._columns import pick_loss, refuse_schedule
from lrcore.logs._meta import (
    FAMILIES,
    Recorded,
    Rule,
    choose_rule,
    norm_of,
    optimizer_family,
    split_comment,
    wanted_norm,
)
from lrcore.logs._metrics import choose_metric, norm_candidates, norm_rank
from lrcore.logs._source import Source, open_source
from lrcore.logs._types import CleaningReport, GradNormLog, LogError

__all__ = [
    "FORMATS",
    "CleaningReport",
    "Format",
    "GradNormLog",
    "LogError",
    "LogFile",
    "Recorded",
    "Rule",
    "detect_format",
    "list_metrics",
    "load_log",
    "open_log",
    "optimizer_family",
]


@dataclass(frozen=True)
class Format:
    label: str  # for people
    detect: Callable[[str, Source], bool]  # sees the decoded head of the file (bytes for binary)
    parse: Callable[[Source, str], dict[str, RawSeries]]
    binary: bool = False


# detection tries these in order; the first whose detect() says yes parses the file
FORMATS: dict[str, Format] = {
    "tensorboard": Format(
        "TensorBoard event file", _other.detect_tensorboard, _other.parse_tensorboard, binary=True
    ),
    "hf_trainer": Format(
        "Hugging Face trainer_state.json", _other.detect_hf_trainer, _hf.parse_hf_trainer
    ),
    "tensorboard_json": Format(
        "TensorBoard JSON download", _other.detect_tensorboard_json, _other.parse_tensorboard_json
    ),
    "jsonl": Format("JSON lines", _other.detect_jsonl, _other.parse_jsonl),
    "json": Format("JSON (unsupported shape)", _other.detect_json_other, _other.parse_json_other),
    "tensorboard_csv": Format(
        "TensorBoard CSV download", _tables.detect_tensorboard_csv, _tables.parse_tensorboard_csv
    ),
    "wandb": Format("W&B panel export (CSV)", _tables.detect_wandb, _tables.parse_wandb),
    "lightning": Format(
        "Lightning CSVLogger metrics.csv", _tables.detect_lightning, _tables.parse_lightning
    ),
    "mlflow": Format("MLflow metric file", _tables.detect_mlflow, _tables.parse_mlflow),
    "text": Format("one number per line", _tables.detect_text, _tables.parse_csv),
    "csv": Format("plain CSV / TSV", _tables.detect_csv, _tables.parse_csv),
}


def _head_text(src: Source, head: bytes) -> str:
    if src.size() == 0:
        raise LogError(f"{src.name}: file is empty")
    if b"\x00" in head:
        raise LogError(f"{src.name}: binary content that is not a TensorBoard event file")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        truncated = src.size() > len(head)  # the head may end inside a multi-byte character
        if not truncated or e.start < len(head) - 4:
            raise LogError(
                f"{src.name}: not a text log (byte {e.start} is not UTF-8) and not a "
                "TensorBoard event file; if it is text, save it as UTF-8"
            ) from None
        text = head[: e.start].decode("utf-8-sig")
    if not text.strip():
        raise LogError(f"{src.name}: file holds only whitespace")
    return text


def detect_format(source) -> str:
    """The key of :data:`FORMATS` that reads ``source``."""
    return _detect(open_source(source))[0]


def _detect(src: Source, fmt: str | None = None) -> tuple[str, str]:
    if fmt is not None and fmt not in FORMATS:
        raise LogError(f"load_log: fmt must be one of {sorted(FORMATS)}, got {fmt!r}")
    head = src.head() if not src.event_files else b""
    if fmt is not None:
        if not FORMATS[fmt].binary and (
            src.event_files or FORMATS["tensorboard"].detect(head, src)
        ):
            what = (
                "a folder of TensorBoard event files"
                if src.event_files
                else ("a TensorBoard event file")
            )
            raise LogError(
                f"{src.name}: {what}, which cannot be read as {FORMATS[fmt].label} "
                f"(format {fmt!r} was asked for); read it as 'tensorboard' or let the format "
                "be detected"
            )
        return fmt, (head if FORMATS[fmt].binary else _head_text(src, head))
    if FORMATS["tensorboard"].detect(head, src):
        return "tensorboard", head
    text = _head_text(src, head)
    for name, f in FORMATS.items():
        try:
            found = not f.binary and f.detect(text, src)
        except (ValueError, OverflowError, IndexError):  # a detector must never stop detection
            found = False
        if found:
            return name, text
    raise LogError(f"{src.name}: unknown log format")  # unreachable: csv accepts any text


@dataclass(frozen=True)
class LogFile:
    """A parsed log: every numeric series it holds, cleaned on demand by :meth:`load`.

    Parse once, then list the series and load one or several of them (what the app does
    with a select box) without reading the file again.
    """

    source: str  # file name (or "<bytes>")
    fmt: str  # detected format, a key of FORMATS
    series: dict[str, RawSeries] = field(repr=False)
    recorded: Recorded | None = None  # the optimizer the log records (lrcore's own logs)
    total_steps: int | None = None  # optimizer steps the run had taken, where the log says

    @property
    def metrics(self) -> list[str]:
        """Series that look like gradient norms, best guess first (all of them if none does)."""
        return norm_candidates(list(self.series))

    def load(self, metric: str | None = None, optimizer: str = "auto") -> GradNormLog:
        """Clean one series: ``metric`` (full or short name), or the best gradient-norm guess
        for the rule: ``optimizer`` (``"adam"``: l1 norms, ``"sgd"``: l2), else the optimizer
        the log records, else the name that looks most like a gradient norm. The log's
        :attr:`~GradNormLog.rule` says which rule and norm and why."""
        if optimizer not in ("auto", *FAMILIES):
            raise LogError(
                f"load_log: optimizer must be 'auto', 'adam' or 'sgd', got {optimizer!r}"
            )
        names = list(self.series)
        want = wanted_norm(self.recorded, optimizer) if metric is None else None
        matching = [n for n in names if norm_of(n) == want] if want else []
        if want and any(norm_rank(n) is not None for n in matching):
            chosen = choose_metric(
                [n for n in matching if norm_rank(n) is not None], None, self.source
            )
        else:
            chosen = choose_metric(names, metric, self.source)
        log = clean(
            self.series[chosen],
            metric=chosen,
            fmt=self.fmt,
            source=self.source,
            candidates=tuple(self.metrics),
        )
        rule = choose_rule(
            chosen, tuple(self.metrics), self.fmt, self.recorded, optimizer, metric is not None
        )
        rec = self.recorded
        loss_name = pick_loss(list(self.series), chosen)
        loss = clean_loss(self.series[loss_name]) if loss_name is not None else None
        return replace(
            log,
            optimizer=rec.family if rec else None,
            optimizer_name=rec.name if rec else None,
            rule=rule,
            loss_steps=loss[0] if loss else None,
            loss_values=loss[1] if loss else None,
            loss_metric=loss_name if loss else None,
            total_steps=self.total_steps,
        )


def open_log(source, fmt: str | None = None) -> LogFile:
    """Detect the format of ``source`` (path, bytes or file object) and parse every series.

    Every failure, whatever raised it inside a parser, is a :class:`LogError` naming the file.
    """
    src = open_source(source)
    decoded = src.notes  # how the bytes were decoded (UTF-32, Windows-1252), for the report
    src, recorded = _lrcore_comment(src)
    name, head = _detect(src, fmt)
    _check_size(src, name)
    try:
        series = FORMATS[name].parse(src, head)
    except LogError:
        raise
    except UnicodeDecodeError as e:  # invalid UTF-8 after the part detection looked at
        raise LogError(
            f"{src.name}: not UTF-8 text (byte {e.start} of a field); save the file as UTF-8"
        ) from None
    except RecursionError:
        raise LogError(f"{src.name}: nested too deeply to read (not a log)") from None
    except MemoryError:
        raise LogError(f"{src.name}: too large to read in the memory available") from None
    except ImportError as e:  # a format whose reader needs an extra (TensorBoard's)
        from lrcore._extras import extra_for, needs

        extra = extra_for(e)
        if extra is None:
            raise
        module = (getattr(e, "name", None) or "").split(".")[0] or None
        reading = f"reading a {FORMATS[name].label}"
        raise LogError(f"{src.name}: {needs(reading, extra, module)}") from None
    except Exception as e:  # OverflowError, ValueError, KeyError, pyarrow errors, ...
        label = FORMATS[name].label
        detail = " ".join(str(e).split())[:200] or type(e).__name__
        raise LogError(f"{src.name}: cannot read as {label} ({detail})") from None
    if not series:
        raise LogError(f"{src.name}: no numeric series found")
    refuse_schedule(src.name, series, _header(head) if name in _TABLES else None)
    for s in series.values():
        s.notes = (*decoded, *s.notes)
    recorded = recorded or getattr(series, "recorded", None)
    return LogFile(src.name, name, dict(series), recorded, getattr(series, "total_steps", None))


_TABLES = ("csv", "wandb", "lightning", "tensorboard_csv")

# The most bytes a log may have, by what its parser needs per byte, so that reading stays
# within ~1.5 GB and ~10 s (issue 27). Measured on 2 cores: a 545 MB step,grad_norm CSV
# peaked at 1.48 GB (refine: 12.7 s of CPU), a 134 MB JSON lines file at 1.72 GB, a 100 MB
# TensorBoard event file at 0.93 GB (5.5 s). Archives are unpacked first (MAX_UNPACKED).
_MIB = 2**20
_MAX_BYTES = {"tensorboard": 128 * _MIB, **dict.fromkeys(_TABLES + ("mlflow", "text"), 256 * _MIB)}
_MAX_JSON_BYTES = 96 * _MIB  # hf_trainer, tensorboard_json, jsonl, json: a dict per record


def _check_size(src: Source, name: str) -> None:
    """Refuse a log past :data:`_MAX_BYTES` for its format before parsing it."""
    size = sum(f.stat().st_size for f in src.event_files) if src.event_files else src.size()
    cap = _MAX_BYTES.get(name, _MAX_JSON_BYTES)
    if size > cap:
        raise LogError(
            f"{src.name}: {size / _MIB:,.0f} MiB of {FORMATS[name].label}, more than the "
            f"{cap // _MIB} MiB lrcore reads in this format (its memory and time stay "
            "bounded); keep only the step and gradient-norm columns, or every k-th step"
        )


def _header(head: str) -> list[str] | None:
    """The column names of a delimited file's head, for messages (None if there is none)."""
    line = next(
        (
            ln
            for ln in head.splitlines()
            if ln.strip() and not ln.lstrip().startswith(("#", "sep="))
        ),
        None,
    )
    if line is None:
        return None
    fields = _tables.split_fields(line, _tables.sniff_delimiter(line))
    return None if all(_tables.is_number(f) for f in fields) else [f.strip() for f in fields]


def _lrcore_comment(src: Source) -> tuple[Source, Recorded | None]:
    """A CSV written by lrcore starts with ``# lrcore: optimizer=...``: read it, and give the
    parsers the rest of the file."""
    if src.event_files:
        return src, None
    recorded, n = split_comment(src.head()[:512])
    if recorded is None:
        return src, None
    data = src.data if src.data is not None else src.path.read_bytes()
    return Source(src.name, data=data[n:], inner=src.inner), recorded


def list_metrics(source, fmt: str | None = None) -> list[str]:
    """The series in ``source`` that look like gradient norms (best guess first); every
    numeric series if none does."""
    return open_log(source, fmt).metrics


def load_log(
    source, metric: str | None = None, fmt: str | None = None, optimizer: str = "auto"
) -> GradNormLog:
    """Read and clean one gradient-norm series from a path (file or folder), bytes, or a
    binary file object with ``.name`` (a Streamlit upload).

    ``metric`` names the series when there are several (a W&B column, a CSV column, a
    TensorBoard tag, a JSON key); by default the norm the rule needs (``optimizer``, else
    the optimizer the log records: Adam family -> l1, SGD -> l2), else the name that looks
    most like a gradient norm. ``log.rule`` says which rule and norm and why.
    """
    return open_log(source, fmt).load(metric, optimizer)
