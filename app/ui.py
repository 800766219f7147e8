"""Streamlit helpers shared by the pages: log sources, cached lrcore calls, x axes.

Everything computed here is an lrcore call; this module only caches it and turns errors
into messages.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from lrcore import (
    REGISTRY,
    ScheduleSummary,
    best_scale,
    build_schedule,
    compare_bounds,
    evaluate,
    optimal_schedule,
    smooth_norms,
    stretch,
    summarize,
)
from lrcore._text import for_markdown
from lrcore.diagnose import diagnose_refined
from lrcore.export import to_snippet
from lrcore.fit import FamilyFit, fit_family
from lrcore.logs import GradNormLog, LogError, LogFile, open_log
from lrcore.logs._write import WRITERS
from lrcore.refine import SAMPLE_POINTS, SUMMARY_GRID, evenly_spaced, refine_smoothed
from lrcore.synthetic import synthetic_norms

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "sample_runs"
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


def upload_sources(uploads: list, slot: str) -> list[LogSource]:
    """:class:`LogSource` s for the files of one uploader (``slot`` names it). Each file is
    parsed once, when it arrives, and only the parsed series are kept: Streamlit hands the
    page a fresh copy of every upload's bytes on each rerun, which is released at once
    instead of being held (a 150 MB log would otherwise sit in memory twice)."""
    memo = st.session_state.setdefault(f"_uploads:{slot}", {})
    tags = [f"{upload.file_id}:{upload.size}" for upload in uploads]
    for tag in [t for t in memo if t not in tags]:
        del memo[tag]  # no longer in the uploader: forgotten first (in place, see drop)
    for upload, tag in zip(uploads, tags, strict=True):
        if tag not in memo:
            with st.spinner(f"Reading {for_markdown(upload.name)}…"):
                memo[tag] = LogSource(
                    upload.name, digest=f"upload-{tag}", read=_read(upload), stable=_stable(upload)
                )
    return [memo[tag] for tag in tags]


def _stable(upload) -> str:
    """Name, size and a digest of the first and last 64 KiB of an upload: what keys its
    settings, so that uploading the same file again keeps them (the caches key on the
    upload's own id, never on this)."""
    data = upload.getvalue()
    ends = hashlib.blake2b(data[:65536] + data[-65536:], digest_size=8).hexdigest()
    return f"{upload.name}:{len(data)}:{ends}"


def drop(key: str) -> None:
    """Remove ``key`` from session state and empty the list or dict it held: Streamlit keeps
    the previous run's state until the next rerun, so a log referenced from there would
    stay in memory after the user removed it."""
    value = st.session_state.pop(key, None)
    if isinstance(value, list | dict):
        value.clear()


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


@st.cache_resource(show_spinner=False, max_entries=4)
def _smooth(_norms: np.ndarray, key: str, tau: float) -> np.ndarray:
    return smooth_norms(_norms, tau)


@st.cache_resource(show_spinner=False, max_entries=8)
def _refined(_norms: np.ndarray, key: str, tau: float, optimizer: str) -> np.ndarray:
    return refine_smoothed(_smooth(_norms, key, tau), optimizer)


def cached_refine(
    grad_norms: np.ndarray, tau: float, optimizer: str, key: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed norms, refined shape) on the logged points. ``key`` names the norms (a log's
    digest and metric) so that the cache does not hash them; without it they are hashed."""
    if key is None:
        key = hashlib.blake2b(
            np.ascontiguousarray(grad_norms).tobytes(), digest_size=12
        ).hexdigest()
    return _smooth(grad_norms, key, tau), _refined(grad_norms, key, tau, optimizer)


@st.cache_data(show_spinner="Minimising the bound numerically…", max_entries=16)
def cached_optimal(grad_norms: np.ndarray) -> np.ndarray:
    return optimal_schedule(grad_norms)


def run_length(steps: np.ndarray) -> tuple[int, str]:
    """How many steps the logged run had, and the sentence that says what was assumed:
    the last logged step, or one more when the steps count from 0.

    >>> run_length(np.array([10, 20, 500_500]))
    (500500, 'the last logged step is 500,500; steps start at 10, so the run had 500,500 steps')
    >>> run_length(np.array([0, 1, 99]))[0]
    100
    """
    first, last = int(steps[0]), int(steps[-1])
    if not (abs(first) <= 2**53 and abs(last) <= 2**53 and last > first):
        raise ValueError(
            f"the logged steps run from {first:,} to {last:,}; they must increase and stay "
            f"within ±2^53"
        )
    if first == 0:
        return (
            last + 1,
            f"steps count from 0 and the last logged step is {last:,}, so the run had {last + 1:,} steps",
        )
    n = max(last, 2)
    return (
        n,
        f"the last logged step is {last:,}; steps start at {first:,}, so the run had {n:,} steps",
    )


DISPLAY_POINTS = 4000  # schedules are drawn from this many points; downloads use every step


def display_steps(total_steps: int, n: int = DISPLAY_POINTS) -> np.ndarray:
    """At most ``n`` integer steps spread over ``0 .. total_steps - 1`` (ends included).

    >>> display_steps(10, 4).tolist()
    [0, 3, 6, 9]
    """
    return evenly_spaced(total_steps, n)


def next_run_positions(steps: np.ndarray, total_steps: int) -> np.ndarray:
    """Where each logged point falls in a run of ``total_steps`` steps (what ``stretch`` uses).

    >>> next_run_positions(np.array([10, 20, 30]), 101).tolist()
    [0.0, 50.0, 100.0]
    """
    s = np.asarray(steps, dtype=np.float64)
    return (s - s[0]) / (s[-1] - s[0]) * (total_steps - 1)


def median_scale(medians: list[float]) -> float:
    """How far apart the medians of several series are (largest / smallest; 1 for one).

    >>> median_scale([2.0, 40.0])
    20.0
    """
    low = min(medians)
    return max(medians) / low if low > 0 else float("inf")


def elide_tables(code: str) -> str:
    r"""Code with long list literals shortened to ``[…]`` so a preview shows the whole function.

    >>> elide_tables("FACTORS = [" + ", ".join(["0.5"] * 50) + "]\ndef f(): pass")
    'FACTORS = [0.5, 0.5, 0.5, … 50 values]\ndef f(): pass'
    """
    import re

    def short(m: re.Match) -> str:
        items = m.group(1).split(", ")
        return f"[{', '.join(items[:3])}, … {len(items):,} values]"

    return re.sub(r"\[([^\[\]\n]{200,})\]", short, code)


def load_sources(sources: list[LogSource], key_prefix: str) -> tuple[list[GradNormLog], list[str]]:
    """Load every source; a select box appears for a source with several norm series.
    Returns the logs that loaded and one message per source that did not."""
    logs, errors = [], []
    for source in sources:
        try:
            metrics = parsed(source).metrics
            metric = None
            if len(metrics) > 1:
                metric = st.selectbox(
                    f"Series in **{for_markdown(source.name)}**", metrics, key=f"{key_prefix}:metric:{source.key}"
                )
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


# widgets whose values are kept when the user visits another page and comes back (Streamlit
# forgets the state of widgets that a run does not draw); by key, or key prefix ending in ':'
KEPT_WIDGETS = (
    "tau",
    "peak_lr",
    "warmup_pct",
    "extras",
    "want_opt",
    "refine_sample",
    "variant:",
    "steps:",
    "log_y:",
    "log_y_sched",
    "x_axis:",
    "normalise:",
    "refine:metric:",
    "sch_total",
    "sch_peak",
    "sch_logy",
    "sch_chosen",
    "sch_norms",
    "sch_w_",
    "sch_linear_",
    "sch_cosine_",
    "sch_constant_",
    "sch_polynomial_",
    "sch_step_",
    "sch_exponential_",
    "sch_inverse_sqrt_",
    "sch_wsd_",
    "sch:metric:",
)


def keep_widget_state(state) -> list[str]:
    """Re-assign the kept widgets' values (``state[k] = state[k]``) so that they survive
    a run of another page; returns the keys kept.

    >>> keep_widget_state({"tau": 0.2, "sch_upload": None, "steps:a": 5})
    ['tau', 'steps:a']
    """
    kept = [
        k
        for k in list(state.keys())
        if any(k == w or (w[-1] in ":_" and k.startswith(w)) for w in KEPT_WIDGETS)
    ]
    for k in kept:
        state[k] = state[k]
    return kept


def widget_default(key: str, value):
    """Set a widget's first value in session state (never passed to the widget too, which
    Streamlit warns about once the value is kept across pages)."""
    st.session_state.setdefault(key, value)


def kept_uploads(key: str, uploads: list, page: str) -> tuple[list[LogSource], bool]:
    """The uploads in use: the uploader's files (read once, see :func:`upload_sources`),
    remembered in session state under ``key``; or, when the uploader is empty because the
    user went to another page and came back, the files remembered. Removing the files from
    the uploader on this page forgets them. Returns ``(sources, restored)``."""
    shown = f"{key}:shown"
    sources = upload_sources(uploads or [], key)
    if sources:
        st.session_state[key] = sources
        st.session_state[shown] = True
        return sources, False
    removed_here = st.session_state.get(shown) and st.session_state.get("_prev_page") == page
    st.session_state[shown] = False
    if removed_here:
        drop(key)
    return list(st.session_state.get(key) or []), bool(st.session_state.get(key))


def uploader_hidden(key: str) -> None:
    """The uploader of :func:`kept_uploads` ``key`` is not drawn on this run: its files are
    kept, and an empty uploader when it comes back does not mean they were removed."""
    st.session_state[f"{key}:shown"] = False


def forget_uploads(key: str) -> None:
    """The 'clear' of a restored upload."""
    drop(key)
    st.session_state[f"{key}:shown"] = False


# Widget callbacks and format functions live here, not in the pages: Streamlit keeps a
# widget's functions in session state, and a function defined in a page holds that run's
# variables (a 150 MB log among them) for as long as the widget is remembered.


def schedule_label(name: str) -> str:
    """A schedule name as the pickers show it: its registry label (other names as given).

    >>> schedule_label("cosine"), schedule_label("refined")
    ('Cosine decay', 'refined')
    """
    return REGISTRY[name].label if name in REGISTRY else name


def set_true(key: str) -> None:
    """``st.session_state[key] = True`` (a button's ``on_click``)."""
    st.session_state[key] = True


def remove_sent_logs() -> None:
    """Forget the logs sent from 'Train and check' (the Refine page's button)."""
    st.session_state["sent_logs"] = []
    st.session_state["_sent_seen"] = []
    st.session_state["refine_sample"] = NONE


LAZY_DOWNLOAD_STEPS = 100_000  # above this, files are built when the button is clicked


def download(container, label: str, make, file_name: str, mime: str, key: str, lazy: bool) -> None:
    """A download button; ``make()`` builds the content now, or on click when ``lazy``
    (a million-step CSV takes a second to format, which the page should not wait for)."""
    container.download_button(label, make if lazy else make(), file_name, mime, key=key)


def x_axis(steps: np.ndarray, as_percent: bool) -> np.ndarray:
    steps = np.asarray(steps, dtype=np.float64)
    if not as_percent:
        return steps
    span = steps[-1] - steps[0]
    return 100.0 * (steps - steps[0]) / (span if span > 0 else 1.0)


def fmt_pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# ----------------------------------------------------------------------------- one log, analysed

MAX_STEPS = 20_000_000  # 160 MB of lrs; beyond that the browser session would be the problem
GRID_POINTS = SUMMARY_GRID  # summary and family fit use the next run at this resolution
# Longer logs are computed for the page on this many evenly spaced points (steps kept), the
# ones `lrcore inspect` uses: the refined shape hardly changes, and a 7.6-million-point log
# redraws in a fraction of a second instead of ten. Downloads always refine every point.
COMPUTE_POINTS = SAMPLE_POINTS
OPTIMUM_POINTS = 5_000  # the numerical optimum is offered up to this many logged points
LOW_R2 = 0.9  # below this a fitted family is not offered as a config
FEW_STEPS = 10  # a next run shorter than this gets a warning
LOG_Y_SPAN = 50  # norms spanning more than this factor are drawn on a log y axis by default
P_DEFINITION = "p = fraction of the run done (step / total steps)."
_COOLDOWNS = {
    "linear": "linear",
    "cosine": "cosine",
    "1-sqrt": "square-root (lr = peak × (1 - √q), q = fraction of the cool-down done)",
}


@dataclass(frozen=True)
class Analysis:
    """Everything the Refine page shows for one log (schedules at display resolution)."""

    log: GradNormLog
    key: str  # names the log's norms in caches
    tau: float
    optimizer: str
    steps: int  # of the next run
    smooth: np.ndarray  # running median, on the logged points
    shape: np.ndarray  # refined, peak 1, on the logged points
    positions: np.ndarray  # where each logged point falls in the next run (0 .. steps - 1)
    summary: ScheduleSummary
    fit: FamilyFit
    warnings: tuple[str, ...]
    table: object  # pandas DataFrame: compare_bounds with display names
    optimum: np.ndarray | None  # numerical optimum on the logged points, when asked for
    computed_steps: np.ndarray  # the logged steps the page computed on (all, or a sample)

    @property
    def sampled(self) -> bool:
        """Whether the page computed on evenly spaced points of a long log."""
        return len(self.computed_steps) < len(self.log)

    def full_shape(self) -> tuple[np.ndarray, np.ndarray]:
        """(refined shape, logged steps) from every logged point: what downloads and
        snippets use (the page's own ``shape`` is on a sample of a long log)."""
        if not self.sampled:
            return self.shape, self.computed_steps
        return _full_refined(self.log, log_key(self.log), self.tau, self.optimizer), self.log.steps

    def full_values(self) -> np.ndarray:
        """The refined schedule at every step of the next run (peak 1), from every logged
        point: for downloads (built on click for long runs)."""
        shape, logged = self.full_shape()
        return stretch(shape, self.steps, steps=logged)


@st.cache_resource(show_spinner="Refining every logged point…", max_entries=2)
def _full_refined(_log: GradNormLog, key: str, tau: float, optimizer: str) -> np.ndarray:
    # not cached_refine: that keeps the smoothed norms too (61 MB more for a 7.6M-point log),
    # which only the page's sampled curves need
    with np.errstate(all="ignore"):
        return refine_smoothed(smooth_norms(_log.grad_norms, tau), optimizer)


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
_LOG_STATS = _PerLog()  # log -> (median, min, max) of its norms
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


def norm_stats(log: GradNormLog, median: bool = True) -> tuple[float, float, float]:
    """``(median, min, max)`` of a log's norms, computed once per log object (the median only
    when asked for: nan otherwise; a 7.6-million-point median takes 0.1 s)."""
    hit = _LOG_STATS.get(log)
    if hit is not None and (not median or not np.isnan(hit[0])):
        return hit
    g = log.grad_norms
    stats = (float(np.median(g)) if median else float("nan"), float(g.min()), float(g.max()))
    _LOG_STATS.put(log, stats)
    return stats


@st.cache_data(show_spinner=False, max_entries=32)
def _fit(grid: np.ndarray) -> FamilyFit:
    return fit_family(grid, "best")


@st.cache_resource(show_spinner=False, max_entries=8)
def _bounds(_norms, _shape, _extras_shapes, key: str, tau: float, optimizer: str, extras: tuple):
    n = len(_norms)
    shapes = {
        "refined": _shape,
        "Linear decay": evaluate(build_schedule("linear", n), n),
        "Cosine decay": evaluate(build_schedule("cosine", n), n),
        "Constant": np.ones(n),
        **_extras_shapes(n),
    }
    table = compare_bounds(shapes, _norms, reference="Linear decay")
    return shapes, table.rename(columns={"vs_Linear decay": "vs_linear"})


def analyse(
    log: GradNormLog, tau: float, optimizer: str, steps: int, extras=(), optimum: bool = False
) -> Analysis:
    """Refine ``log`` for a next run of ``steps`` steps and score it; raises on bad input."""
    if not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"steps of the next run must be 2..{MAX_STEPS:,}, got {steps:,}")
    key = log_key(log)
    g, logged = log.grad_norms, log.steps
    if len(g) > COMPUTE_POINTS:  # a long log: what the page shows uses evenly spaced points
        idx = evenly_spaced(len(g), COMPUTE_POINTS)
        g, logged, key = g[idx], logged[idx], f"{key}:sampled{len(idx)}"
    with np.errstate(all="ignore"):
        smooth, shape = cached_refine(g, tau, optimizer, key=key)
    if not np.all(np.isfinite(shape)) or not shape.max() > 0:
        raise ValueError(
            "the refined schedule is not finite for norms between "
            f"{float(g.min()):.3g} and {float(g.max()):.3g}; rescale them by a constant "
            "(the refined shape does not change)"
        )
    grid = stretch(shape, min(steps, GRID_POINTS), steps=logged)
    summary, fit = summarize(grid), _fit(grid)
    extras = tuple(e for e in extras if e not in ("linear", "cosine", "constant"))

    def extra_shapes(n):
        return {REGISTRY[e].label: evaluate(build_schedule(e, n), n) for e in extras}

    shapes, table = _bounds(g, shape, extra_shapes, key, tau, optimizer, extras)
    opt = None
    if optimum and len(g) <= OPTIMUM_POINTS:
        opt = cached_optimal(g)
        extra = compare_bounds({"numerical optimum": opt}, g, reference=None)
        extra["vs_linear"] = extra.bound / table.bound[table.schedule == "Linear decay"].iloc[0]
        table = pd.concat([table, extra], ignore_index=True)
    if not np.all(np.isfinite(table.bound)):
        raise ValueError(
            f"the bound overflows for norms up to {float(g.max()):.3g}; rescale them by a "
            "constant (the refined shape does not change)"
        )
    return Analysis(
        log=log,
        key=key,
        tau=tau,
        optimizer=optimizer,
        steps=steps,
        smooth=smooth,
        shape=shape,
        positions=next_run_positions(logged, steps),
        summary=summary,
        fit=fit,
        warnings=tuple(diagnose_refined(shape, g, steps=logged, tau=tau)),
        table=table,
        optimum=opt,
        computed_steps=logged,
    )


def error_text(e: BaseException) -> str:
    """One line for the page: the message, with the kind of error when it is not a ValueError."""
    msg = str(e) or type(e).__name__
    if not isinstance(e, ValueError | LogError):
        msg = f"{type(e).__name__}: {msg}"
    return msg[:1000]


GRAD_NORM_RECIPES = """
Log the norm of **all** gradients once per optimizer step, after `backward()` and before
clipping and the optimizer step: the **l2** norm for SGD-style runs, the **l1** norm (sum of
absolute values) for Adam and its relatives. Every file below can be uploaded here as it is.

**A plain torch loop** (`pip install lrcore[train]`): records both norms, on the device.

```python
from lrcore.train import GradNormRecorder

recorder = GradNormRecorder(model)
for step, batch in enumerate(loader):
    loss = loss_fn(model(batch.x), batch.y)
    loss.backward()
    recorder.record(step)  # before clipping and optimizer.step()
    optimizer.step()
    optimizer.zero_grad()
recorder.save("grad_norms.csv")  # columns step, grad_norm_l2, grad_norm_l1
```

**Hugging Face Trainer** (`pip install lrcore[hf]`):

```python
from lrcore.integrations.hf import GradNormCallback

trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GradNormCallback()])
trainer.train()  # writes <output_dir>/grad_norms.csv: step, grad_norm_l2, grad_norm_l1
```

Without it, the Trainer already logs the l2 norm (before clipping): `trainer_state.json`
in each checkpoint folder holds `{"step": ..., "grad_norm": ...}` every `logging_steps`
(set `logging_steps=1` for one point per step).

**PyTorch Lightning** (`pip install lrcore[lightning]`):

```python
from lrcore.integrations.lightning import GradNormCallback

trainer = L.Trainer(max_steps=1000, callbacks=[GradNormCallback()])
trainer.fit(model)  # writes <log_dir>/grad_norms.csv: step, grad_norm_l2, grad_norm_l1
```

Without it, log the norms from your `LightningModule`; `CSVLogger` writes them as columns of
`metrics.csv` (TensorBoardLogger to an event file):

```python
from lightning.pytorch.utilities import grad_norm


class Model(L.LightningModule):
    def on_before_optimizer_step(self, optimizer):  # before clipping
        self.log("grad_norm", grad_norm(self, norm_type=2)["grad_2.0_norm_total"])  # SGD
        self.log("grad_norm_l1", grad_norm(self, norm_type=1)["grad_1.0_norm_total"])  # Adam
```

A column or key whose name contains `l1` gets the Adam rule here; every other one the SGD
rule. Either can be changed per log in the sidebar, and a file with both norms offers a
choice of series.
"""


@st.cache_data(show_spinner=False, max_entries=16)
def _snippet(
    _shape, _steps, total: int, flavour: str, what: str, key: str, tau_opt: tuple, optimizer
) -> str:
    return to_snippet(
        stretch(_shape, total, steps=_steps), flavour=flavour, what=what, optimizer=optimizer
    )


def cached_snippet(
    shape, log_steps, total: int, flavour: str, what: str, key: str, optimizer: str | None = None
) -> str:
    """``to_snippet`` of the refined schedule stretched to ``total`` steps (cached by key);
    ``optimizer`` is the rule it was refined for (named in the snippet's usage comment)."""
    return _snippet(shape, log_steps, total, flavour, what, key, (float(shape.sum()),), optimizer)


@st.cache_resource(show_spinner=False, max_entries=32)
def registry_schedule(name: str, total: int, peak_lr: float, warmup: int, params: tuple):
    """``build_schedule`` with hashable arguments (params as ``(name, value)`` pairs)."""
    return build_schedule(name, total, peak_lr=peak_lr, warmup_steps=warmup, **dict(params))


@st.cache_data(show_spinner="Scoring the schedules…", max_entries=16)
def _bounds_full(_shapes_at: dict, total: int, _log, what: str) -> pd.DataFrame:
    norms = np.ones(total) if _log is None else stretch(_log.grad_norms, total, steps=_log.steps)
    steps = np.arange(total)
    rows = []
    for label, f in _shapes_at.items():  # one schedule in memory at a time
        shape = f(steps)
        with np.errstate(over="ignore", invalid="ignore"):
            bound, scale = best_scale(shape, norms)
        rows.append({"schedule": label, "bound": bound, "best_peak_lr": scale * shape.max()})
    table = pd.DataFrame(rows).sort_values("bound", ignore_index=True)
    with np.errstate(over="ignore"):
        table["bound_sqrt_T"] = table.bound * np.sqrt(total)
    if not np.all(np.isfinite(table[["bound", "best_peak_lr", "bound_sqrt_T"]].to_numpy())):
        raise ValueError(
            f"the bound overflows for norms up to {float(norms.max()):.3g}; rescale them by a "
            "constant (the ranking of the schedules does not change)"
        )
    return table


def bounds_at_full_length(shapes_at: dict, total: int, log, what: str) -> pd.DataFrame:
    """Each schedule's bound at its best scale over all ``total`` steps, with constant norms
    or ``log``'s norms stretched to ``total`` steps; sorted, lowest first. ``what`` describes
    the inputs (the cache key: the schedules themselves are not hashed)."""
    return _bounds_full(shapes_at, total, log, what)


@st.cache_resource(show_spinner=False, max_entries=8)
def _raw_points(_log: GradNormLog, key: str) -> np.ndarray:
    import charts

    return charts.decimate_index(_log.steps, _log.grad_norms)


def raw_trace(log: GradNormLog, as_percent: bool, divide: bool) -> tuple[np.ndarray, np.ndarray]:
    """A log's raw norms for drawing (at most ``charts.MAX_POINTS`` points, extremes kept),
    optionally divided by their median. The points are chosen once per log: the choice does
    not change when the steps become percentages or the norms are divided by a constant."""
    idx = _raw_points(log, log_key(log))
    steps, y = log.steps[idx], log.grad_norms[idx]
    if as_percent:
        first, last = float(log.steps[0]), float(log.steps[-1])
        x = 100.0 * (steps - first) / (last - first) if last > first else np.zeros(len(idx))
    else:
        x = steps.astype(np.float64)
    return x, (y / norm_stats(log)[0] if divide else y.astype(np.float64))


def choice_label(choice: str) -> str:
    """A registry choice in plain words (``1-sqrt`` spelled out with its formula).

    >>> choice_label("1-sqrt")
    'square root: 1 - √q (q = fraction of the cool-down done)'
    >>> choice_label("cosine")
    'cosine'
    """
    return {"1-sqrt": "square root: 1 - √q (q = fraction of the cool-down done)"}.get(
        choice, choice
    )


def norm_span(ranges: list[tuple[float, float]]) -> float:
    """Largest norm over the smallest, over the ``(min, max)`` of every log (1 when no
    minimum is positive).

    >>> norm_span([(1.0, 2.0), (0.5, 200.0)])
    400.0
    """
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    return float(hi / lo) if lo > 0 and np.isfinite(hi / lo) else 1.0


def describe_fit(fit: FamilyFit) -> str:
    """A fitted family in plain words ('no warm-up' rather than a 0.0% one).

    >>> describe_fit(FamilyFit("warmup_poly", {"warmup_fraction": 0.0, "power": 2.5}, 0.99))
    'no warm-up, the lr follows (1 - p)^2.50 from the start (R² = 0.990)'
    """
    p = fit.params
    w = p["warmup_fraction"]
    start = "no warm-up" if fmt_pct(w) == "0.0%" else f"linear warm-up over {fmt_pct(w)} of the run"
    if fit.family == "warmup_poly":
        shape = f"the lr follows (1 - p)^{p['power']:.2f}" + (
            " from the start" if start == "no warm-up" else " after it"
        )
    elif p["decay_fraction"] >= 1.0:
        shape = f"then a {_COOLDOWNS.get(p['cooldown'], p['cooldown'])} decay to the end"
    else:
        shape = (
            f"then flat, then a {_COOLDOWNS.get(p['cooldown'], p['cooldown'])} cool-down over "
            f"the last {p['decay_fraction']:.0%}"
        )
    return f"{start}, {shape} (R² = {fit.r2:.3f})"


def _pct(ratio: float) -> str:
    return f"{1 - ratio:.0%} below" if ratio < 1 else f"{ratio - 1:.0%} above"


def bound_sentence(r: Analysis) -> str:
    """What the bound table says, in words computed from its rows: the lowest usable
    schedule (ties named), refined against linear decay, constant when it also beats linear
    (and why, when the norms fall), and the numerical optimum. For the Adam rule (l1 norms)
    the words are softened: the bound is the SGD one."""
    t = r.table
    ranked = t[t.schedule != "numerical optimum"]
    low = float(ranked.bound.min())
    tied = ranked.schedule[np.isclose(ranked.bound, low, rtol=1e-6, atol=0)].tolist()
    names = " ties with ".join(f"**{n}**" for n in tied)
    if r.optimizer == "adam":
        words = f"With the SGD bound on these l1 norms (indicative only), the lowest is {names}"
    elif r.optimum is not None:
        words = f"Of the schedules to use, the theory prefers {names}"
    else:
        words = f"The theory prefers {names}"
    vs = dict(zip(t.schedule, t.vs_linear.astype(float), strict=True))
    words += f". Refined's bound is {_pct(vs['refined'])} linear decay's"
    if vs.get("Constant", 1.0) < 1.0:
        words += f"; constant's is also {_pct(vs['Constant'])} linear decay's"
        first, last = float(r.smooth[0]), float(r.smooth[-1])
        if first > last:
            words += (
                f": the norms fall (running median {first:.3g} at the start, {last:.3g} at the "
                "end), so early steps cost more and a schedule that keeps the lr up later "
                "pays less"
            )
    if r.optimum is not None:
        words += (
            f". The numerical optimum's is {_pct(vs['numerical optimum'])} linear decay's "
            "(a lower limit, see below)"
        )
    return words + "."


def optimum_caption(r: Analysis) -> str:
    """What the numerical optimum row and curve are, with its numbers."""
    t = r.table.set_index("schedule")
    opt, ref = float(t.loc["numerical optimum", "bound"]), float(t.loc["refined", "bound"])
    return (
        f"The numerical optimum minimises the bound for these exact logged norms (raw, not "
        f"smoothed: {len(r.computed_steps):,} points), so it follows their noise and is spiky. "
        f"Its bound, {opt:.4g}, is a lower limit on the bound of any schedule for these norms "
        f"(refined's is {ref / opt:.2f}× it), not a schedule to use."
    )


def schedules_sentence(table: pd.DataFrame) -> str:
    """The Schedules page's sentence from its bound table (sorted, lowest first): the lowest
    (ties named), how far below the highest, and below linear decay.

    >>> t = pd.DataFrame({"schedule": ["A", "B", "C"], "bound": [1.0, 1.0, 2.0]})
    >>> schedules_sentence(t)
    'Lowest bound: **A** ties with **B**, 50% below C (the highest).'
    >>> schedules_sentence(t.assign(schedule=["W", "Linear decay", "Cosine decay"], bound=[1, 2, 2]))
    'Lowest bound: **W**, 50% below Linear decay and Cosine decay (the highest).'
    """
    b = table.bound.to_numpy(dtype=np.float64)
    low, high = np.isclose(b, b[0], rtol=1e-6, atol=0), np.isclose(b, b[-1], rtol=1e-6, atol=0)
    words = "Lowest bound: " + " ties with ".join(f"**{n}**" for n in table.schedule[low])
    if not high[0]:
        highest = " and ".join(table.schedule[high])
        words += f", {1 - b[0] / b[-1]:.0%} below {highest} (the highest)"
    lin = table[table.schedule == "Linear decay"]
    if len(lin) and "Linear decay" not in {*table.schedule[low], *table.schedule[high]}:
        words += f" and {1 - b[0] / float(lin.bound.iloc[0]):.0%} below Linear decay"
    return words + "."
