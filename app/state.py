"""Session state, in one place: uploads kept across pages, logs sent from training, the
Refine page's last results, and the widgets whose values outlive a visit to another page.
Pages call these named accessors instead of reading string keys.

Uploads are read once, when they arrive (:func:`upload_sources`): only the parsed series are
kept, never the bytes (Streamlit hands the page a fresh copy on every rerun).
"""

from __future__ import annotations

import hashlib

import streamlit as st
from sources import (  # noqa: F401
    NONE,
    LogSource,
    _read,
    load_sources,
    sample_names,
    sample_source,
    series_is_auto,
    widget_id,
)

from lrcore._text import for_markdown


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


# widgets whose values are kept when the user visits another page and comes back (Streamlit
# forgets the state of widgets that a run does not draw); by key, or key prefix ending in ':'


KEPT_WIDGETS = (
    "tau",
    "peak_lr",
    "warmup_pct",
    "extras",
    "want_opt",
    "refine_sample",
    "recipes",  # Refine's "How do I get gradient norms?" (open or closed)
    "show_torch:",  # Refine's torch snippet preview, per log
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


def set_true(key: str) -> None:
    """``st.session_state[key] = True`` (a button's ``on_click``)."""
    st.session_state[key] = True


def remove_sent_logs() -> None:
    """Forget the logs sent from 'Train and check' (the Refine page's button)."""
    st.session_state["sent_logs"] = []
    st.session_state["_sent_seen"] = []
    st.session_state["refine_sample"] = NONE


def sent_logs() -> list[LogSource]:
    """Logs sent from 'Train and check' to the Refine page."""
    return st.session_state.get("sent_logs", [])


def send_log(source: LogSource) -> None:
    """Send a training run's norms to the Refine page (replacing any sent before)."""
    st.session_state["sent_logs"] = [source]


def show_new_sent_log(sent_names: dict, samples: list[str]) -> None:
    """A log just sent from training is what the sample picker shows (banner and picker
    agree); a sent log that was removed is no longer picked."""
    sent = list(sent_names.values())
    if sent and st.session_state.get("_sent_seen") != [s.key for s in sent]:
        st.session_state["_sent_seen"] = [s.key for s in sent]
        st.session_state["refine_sample"] = next(iter(sent_names))
    if st.session_state.get("refine_sample") not in (None, *samples):
        st.session_state["refine_sample"] = NONE


def has_kept_uploads(key: str) -> bool:
    return bool(st.session_state.get(key))


def default_sample(name: str, uploads_in_use: bool) -> None:
    """The sample picker's value: ``name`` on the first visit; '(none)' while uploads are in
    use (the picker shows what is in use)."""
    if uploads_in_use:
        st.session_state["refine_sample"] = NONE
    st.session_state.setdefault("refine_sample", name)


def remember_refine_results(logs: list, views: list) -> None:
    """What the Refine page shows now (kept so that a bad file never wipes it)."""
    st.session_state["refine_results"] = views
    st.session_state["refine_logs"] = logs


def refine_results() -> tuple[list, list]:
    """(logs, analyses) the Refine page showed last; the Schedules page refines the first."""
    return st.session_state.get("refine_logs") or [], st.session_state.get("refine_results") or []


def forget_refine_results() -> None:
    drop("refine_results")
    drop("refine_logs")


def note_page(title: str) -> None:
    """Remember the page of this run and the one before (see :func:`kept_uploads`)."""
    st.session_state["_prev_page"] = st.session_state.get("_page")
    st.session_state["_page"] = title


def session_id() -> str:
    """This browser tab's Streamlit session (what the worker pool knows a student by)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def train_result() -> dict | None:
    """The last finished training on 'Train and check' (kept while the user looks around)."""
    return st.session_state.get("train_result")


def set_train_result(result: dict) -> None:
    st.session_state["train_result"] = result


def set_train_error(message: str) -> None:
    """An error to show under Start after the rerun that ends the runs."""
    st.session_state["tr_error"] = message


def take_train_error() -> str | None:
    return st.session_state.pop("tr_error", None)


def take_flag(key: str) -> bool:
    """Read and clear a one-shot flag set by a button's ``on_click`` (:func:`set_true`)."""
    return bool(st.session_state.pop(key, False))


def schedules_shown(value=None):
    """What the Schedules page showed last (set with ``value``; read without): kept so an
    error never wipes the screen."""
    if value is not None:
        st.session_state["sch_last"] = value
    return st.session_state.get("sch_last")


def demos_done() -> set:
    """The 'See it work' experiments run in this session."""
    return st.session_state.setdefault("demo_done", set())
