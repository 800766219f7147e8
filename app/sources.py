"""Log sources and how they are read: an upload, a sample run, or bytes sent from training,
each parsed once (failures kept too) into a :class:`Parsed`; :func:`load_sources` turns the
chosen sources into logs (with a series picker for a file with several) and messages.

A log's cache name (:func:`log_key`) and settings name (:func:`widget_id`) live in weak maps,
so a removed 150 MB log is freed at once.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from lrcore._text import for_markdown
from lrcore.logs import GradNormLog, LogError, LogFile, open_log
from lrcore.logs._write import WRITERS
from lrcore.synthetic import synthetic_norms

# the folder holding sample_runs/ and docs/results.csv: the checkout (app/'s parent), or the
# app's own folder in an installed wheel (lrcore._app carries them; see setup.py)
_HERE = Path(__file__).resolve().parent
DATA_ROOT = _HERE if (_HERE / "sample_runs").is_dir() else _HERE.parent
SAMPLES_DIR = DATA_ROOT / "sample_runs"


SYNTHETIC_1M = "synthetic_1m.csv (1,000,000 points, generated)"


NONE = "(none)"


@dataclass(frozen=True)
class LogSource:
    """A log the user chose: an upload (read once, see :func:`upload_sources`), bytes (a run
    sent from training) or a sample path.

    ``digest`` identifies the content: an upload's Streamlit file id (unique per upload, so
    the bytes are never hashed), or a digest of ``data``. An upload keeps what reading it
    gave (``read``), not its bytes.
    """

    name: str
    data: bytes | None = field(default=None, repr=False, compare=False)
    path: str | None = None
    digest: str = ""
    read: Parsed | None = field(default=None, repr=False, compare=False)
    # names the file for its settings (widget keys): the same file uploaded again keeps them
    stable: str = field(default="", compare=False)

    def __post_init__(self):
        if self.data is not None and not self.digest:
            object.__setattr__(
                self, "digest", hashlib.blake2b(self.data, digest_size=12).hexdigest()
            )

    @property
    def key(self) -> str:
        """Stable id for widget keys and caches."""
        return f"{self.name}:{self.digest or self.path}"


def sample_names() -> list[str]:
    names = sorted(
        p.name
        for p in SAMPLES_DIR.iterdir()
        if p.name not in ("README.md", "make_samples.py", "__pycache__")
        and not p.name.startswith(".")
        and p.name != "synthetic_1m.csv"
    )
    return [*names, SYNTHETIC_1M]


@st.cache_data(show_spinner=False, max_entries=4)
def _synthetic_1m() -> bytes:
    n = 1_000_000
    return WRITERS["csv"](np.arange(n), synthetic_norms("llm", n, seed=0), "grad_norm").encode()


def sample_source(name: str) -> LogSource:
    if name == SYNTHETIC_1M:
        return LogSource("synthetic_1m.csv", data=_synthetic_1m())
    return LogSource(name, path=str(SAMPLES_DIR / name))


@dataclass(frozen=True)
class Parsed:
    """What reading one file gave: its norm series, the default one cleaned, or the error."""

    metrics: list[str]
    default: GradNormLog | None
    error: Exception | None
    file: LogFile | None  # kept only when the user can pick another series


def _release_memory() -> None:
    """Give the parser's freed buffers back to the system (malloc keeps them otherwise, and
    a 150 MB log leaves a few hundred MB behind)."""
    import ctypes

    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (ImportError, OSError, AttributeError):
        pass


def _read(source) -> Parsed:
    """Parse a log (a path or a file object: what ``open_log`` reads); failures are kept
    too, so that a bad file is not read again on every rerun."""
    try:
        lf = open_log(source)
        metrics = lf.metrics
        try:
            return Parsed(metrics, lf.load(None), None, lf if len(metrics) > 1 else None)
        except Exception as e:  # noqa: BLE001 - shown as a message
            return Parsed(metrics, None, e, lf if len(metrics) > 1 else None)
    except Exception as e:  # noqa: BLE001 - shown as a message
        return Parsed([], None, e, None)
    finally:
        _release_memory()


@st.cache_resource(show_spinner="Reading the log…", max_entries=4)
def _parse(_source: LogSource, key: str) -> Parsed:
    # a resource, not data: a log is parsed once and never pickled or copied again
    if _source.data is None:
        return _read(_source.path)
    import io

    buf = io.BytesIO(_source.data)
    buf.name = _source.name
    return _read(buf)


def parsed(source: LogSource) -> Parsed:
    """The file read once: an upload when it arrived, other sources once per content."""
    if source.read is not None:
        return source.read
    return _parse(source, source.key)


@st.cache_resource(show_spinner=False, max_entries=8)
def _log(_file: LogFile, key: str, metric: str) -> GradNormLog:
    return _file.load(metric)


def cached_log(source: LogSource, metric: str | None) -> GradNormLog:
    """One series of the log, cleaned (read-only arrays, shared by the reruns of a session)."""
    p = parsed(source)
    if (
        metric is not None
        and p.file is not None
        and (p.default is None or metric != p.default.metric)
    ):
        log = _log(p.file, source.key, metric)
    elif p.error is not None:
        raise p.error
    else:
        log = p.default
    name_log(log, f"{source.key}:{log.metric}")
    if _WIDGET_IDS.get(log) is None:
        _WIDGET_IDS.put(log, f"{source.stable or source.key}:{log.metric}")
    return log


def widget_id(log: GradNormLog) -> str:
    """What a log's settings (widget keys) are named by: the same file uploaded again gets
    the same name (see ``LogSource.stable``); logs from elsewhere their :func:`log_key`."""
    return _WIDGET_IDS.get(log) or log_key(log)


AUTO_SERIES = "\x00auto"  # the series box's first entry: the series the rule reads


def _both_norms(metrics) -> bool:
    """Whether a file holds l1 and l2 series, so that the rule picks between them."""
    from lrcore.logs._meta import norm_of

    return {norm_of(m) for m in metrics} == {"l1", "l2"}


def series_is_auto(key_prefix: str, source: LogSource) -> bool:
    """Whether ``source``'s series box (if any) is on auto: the rule may switch the series."""
    return st.session_state.get(f"{key_prefix}:metric:{source.key}", AUTO_SERIES) == AUTO_SERIES


def load_sources(sources: list[LogSource], key_prefix: str) -> tuple[list[GradNormLog], list[str]]:
    """Load every source; a select box appears for a source with several norm series.
    Returns the logs that loaded and one message per source that did not."""
    logs, errors = [], []
    for source in sources:
        try:
            p = parsed(source)
            metrics = p.metrics
            metric = None
            if len(metrics) > 1:
                # auto (the default): the series the rule needs (l1 for Adam, l2 for SGD), as
                # `lrcore refine` without --metric; a named series is kept whatever the rule
                first = p.default.metric if p.default is not None else None
                choice = st.selectbox(
                    f"Series in **{for_markdown(source.name)}**",
                    [AUTO_SERIES, *metrics]
                    if first in metrics and _both_norms(metrics)
                    else metrics,
                    index=0,
                    key=f"{key_prefix}:metric:{source.key}",
                    # the rule is chosen below the box: name both norms, not the one now used
                    format_func=lambda m: (
                        "auto: the rule's norm (l1 for Adam's rule, l2 for SGD's)"
                        if m == AUTO_SERIES
                        else m
                    ),
                )
                metric = None if choice == AUTO_SERIES else choice
            logs.append(cached_log(source, metric))
        except (LogError, ValueError, OSError) as e:
            errors.append(read_error(source.name, str(e)))
        except Exception as e:  # noqa: BLE001 - the page must show a message, never a traceback
            errors.append(read_error(source.name, f"{type(e).__name__}: {e}")[:2000])
    return logs, errors


def read_error(name: str, msg: str) -> str:
    """'Could not read NAME: ...' with the file named once (loader messages often start
    with the file's name already).

    >>> read_error("junk.csv", "junk.csv: binary content")
    'Could not read junk.csv: binary content'
    >>> read_error("a.csv", "no norm column")
    'Could not read a.csv: no norm column'
    """
    if msg.startswith(name):
        return f"Could not read {msg}"
    return f"Could not read {name}: {msg}"


class _PerLog:
    """Values computed once per log object and forgotten with it (weak references: a
    replaced 150 MB log is not kept alive by its cache name)."""

    def __init__(self):
        self._items: dict[int, tuple[weakref.ref, object]] = {}

    def get(self, log: GradNormLog):
        hit = self._items.get(id(log))
        return hit[1] if hit is not None and hit[0]() is log else None

    def put(self, log: GradNormLog, value) -> None:
        i, items = id(log), self._items
        items[i] = (weakref.ref(log, lambda _ref: items.pop(i, None)), value)


_LOG_KEYS = _PerLog()  # log -> its cache name


_WIDGET_IDS = _PerLog()  # log -> the name its settings are kept under


def name_log(log: GradNormLog, key: str) -> None:
    """Remember ``key`` as the cache name of ``log`` (a log read from a source is named by
    the source and series, so its arrays are never hashed)."""
    if _LOG_KEYS.get(log) is None:
        _LOG_KEYS.put(log, key)


def log_key(log: GradNormLog) -> str:
    """Names a log's content for the caches: the name given by :func:`name_log`, or a
    digest of its steps and norms computed once per log object."""
    key = _LOG_KEYS.get(log)
    if key is not None:
        return key
    h = hashlib.blake2b(digest_size=12)
    for arr in (log.steps, log.grad_norms):
        h.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    key = f"{log.source}:{log.metric}:{h.hexdigest()}"
    _LOG_KEYS.put(log, key)
    return key
