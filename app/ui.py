"""Streamlit helpers shared by the pages: log sources, cached lrcore calls, x axes.

Everything computed here is an lrcore call; this module only caches it and turns errors
into messages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from lrcore import optimal_schedule, smooth_norms
from lrcore.logs import GradNormLog, LogError, LogFile, open_log
from lrcore.logs._write import WRITERS
from lrcore.refine import refine_smoothed
from lrcore.synthetic import synthetic_norms

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "sample_runs"
SYNTHETIC_1M = "synthetic_1m.csv (1,000,000 points, generated)"
NONE = "(none)"


@dataclass(frozen=True)
class LogSource:
    """A log the user chose: uploaded bytes, a sample path, or a run sent from training."""

    name: str
    data: bytes | None = None
    path: str | None = None

    @property
    def key(self) -> str:
        """Stable id for widget keys and caches."""
        if self.data is not None:
            return f"{self.name}:{hashlib.sha1(self.data).hexdigest()[:12]}"
        return f"{self.name}:{self.path}"


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


@st.cache_data(show_spinner="Reading the log…", max_entries=16)
def cached_file(source: LogSource) -> LogFile:
    """The parsed log (every series), read once per distinct file."""
    return open_log(_named(source))


@st.cache_data(show_spinner=False, max_entries=32)
def cached_log(source: LogSource, metric: str | None) -> GradNormLog:
    return cached_file(source).load(metric)


def _named(source: LogSource):
    if source.data is None:
        return source.path
    import io

    buf = io.BytesIO(source.data)
    buf.name = source.name
    return buf


@st.cache_data(show_spinner=False, max_entries=64)
def cached_refine(
    grad_norms: np.ndarray, tau: float, optimizer: str
) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed norms, refined shape) on the logged points."""
    smooth = smooth_norms(grad_norms, tau)
    return smooth, refine_smoothed(smooth, optimizer)


@st.cache_data(show_spinner="Minimising the bound numerically…", max_entries=16)
def cached_optimal(grad_norms: np.ndarray) -> np.ndarray:
    return optimal_schedule(grad_norms)


def load_sources(sources: list[LogSource], key_prefix: str) -> tuple[list[GradNormLog], list[str]]:
    """Load every source; a select box appears for a source with several norm series.
    Returns the logs that loaded and one message per source that did not."""
    logs, errors = [], []
    for source in sources:
        try:
            metrics = cached_file(source).metrics
            metric = None
            if len(metrics) > 1:
                metric = st.selectbox(
                    f"Series in **{source.name}**", metrics, key=f"{key_prefix}:metric:{source.key}"
                )
            logs.append(cached_log(source, metric))
        except (LogError, ValueError, OSError) as e:
            errors.append(f"Could not read **{source.name}**: {e}")
    return logs, errors


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
