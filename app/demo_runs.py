"""'See it work': the three ready-made experiments and how each is run (cached per setup)."""

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import charts
import demo_job
import numpy as np
import pandas as pd
import presets
import state
import streamlit as st
import ui
from presets import HINGE, RISE
from sources import DATA_ROOT

from lrcore import REGISTRY
from lrcore._text import for_markdown
from lrcore.executors import get_executor
from lrcore.train import RunConfig
from lrcore.train.findings import UNIT, fmt_pm, fmt_short, lm_findings
from lrcore.train.pool import DONE, Pool, env_workers

SEEDS = (0, 1, 2)
RESULTS_CSV = DATA_ROOT / "docs" / "results.csv"  # the study's numbers
LIN = REGISTRY["linear"].label  # "Linear decay", as on every page
# the lm table's columns kept narrow: all of them fit 1280 px
LM_COLUMNS = {
    # the names stay in view when a phone scrolls the table sideways; 96 px: "Cosine decay"
    "schedule": st.column_config.TextColumn(width=96, pinned=True),
    "peak lr": st.column_config.TextColumn(width="small"),
    "held-out s.e.": st.column_config.TextColumn(help="over the held-out sequences"),
    "Holm p": st.column_config.TextColumn(width="small"),
    "accuracy": st.column_config.TextColumn(help="next-token accuracy, held-out tokens"),
}


@dataclass(frozen=True)
class Experiment:
    title: str
    question: str  # what the class should look for
    theory: str  # what the theory predicts, before running
    setup: dict  # RunConfig fields plus "peaks" (the grid)


EXPERIMENTS = {
    "rise": Experiment(
        "(a) Noise that rises late",
        "Hinge loss; gradient noise grows over the second half of training, whatever the "
        "schedule does.",
        "Late norms are large, so refinement anneals early; the bound expects refined to beat "
        f"{LIN} clearly.",
        RISE,
    ),
    "flat": Experiment(
        "(b) Flat noise",
        "The same problem with noise of one size all run.",
        f"Flat norms refine to the shape of {LIN} itself: the bound expects no difference.",
        {**HINGE, "noise": "flat", "noise_scale": 2.0},
    ),
    "full": Experiment(
        "(c) Full batch: the model interpolates",
        "Logistic regression on wine, which a linear model separates, with batches as large as "
        "the training set and no noise. (With the hinge loss the gradients would become exactly "
        "0 once every margin is met, and refinement could not even be computed.)",
        "The norms collapse as the model fits the data, so refinement trusts norms that the "
        "schedule itself drove: it peaks late, and the bound, fed those norms, is no longer "
        "a fair judge. With no noise and no L2, larger lrs keep helping: there is no best peak "
        "lr, only the largest the grid reached.",
        {
            **HINGE,
            "task": "logreg",
            "dataset": "wine",
            "batch": 512,
            "noise": "none",
            "noise_scale": 0.0,
            "peaks": "2, 4, 8",
        },
    ),
}


def config_of(setup: dict) -> RunConfig:
    return RunConfig(
        task=setup["task"],
        dataset=setup["dataset"],
        optimizer=setup["optimizer"],
        steps=setup["steps"],
        batch_size=setup["batch"],
        noise=setup["noise"],
        noise_scale=float(setup["noise_scale"]),
        weight_decay=float(setup["weight_decay"]),
        eval_every=max(1, setup["steps"] // 50),
    )


@st.cache_resource(show_spinner=False)
def _demo_pool() -> Pool:
    """See it work's experiments run in a worker process of their own (one at a time, niced
    like Train's workers), not in the page's thread: one took 7 % of the server's busy time
    with 30 students, holding the interpreter lock while every other student's page waited.
    ``LRCORE_WORKERS=0`` (the tests): in the page's thread."""
    inline = env_workers() == 0
    return Pool(
        0 if inline else 1,
        fn=demo_job.job,
        key=repr,
        # this host, also where LRCORE_DASK_SCHEDULER sends Train's runs to a cluster: the
        # job's module is the app's, which a cluster's workers cannot import
        executor_factory=lambda n: get_executor(n, local=True),
    )


def _spec(key: str) -> tuple:
    """What the pool computes for the experiment ``key``."""
    setup = EXPERIMENTS[key].setup
    return (config_of(setup), tuple(float(p) for p in setup["peaks"].split(",")), tuple(SEEDS))


def computing_first(key: str) -> int:
    """How many other experiments the server computes before ``key`` would start (running or
    queued: one at a time), for the page to say so instead of "Training…" while it waits."""
    mine = repr(_spec(key))
    return sum(k != mine for k in _demo_pool().active_keys())


@st.cache_data(show_spinner=False, max_entries=8)
def run_experiment(key: str) -> dict:
    """Linear decay over the grid, refined from linear's runs at its best peak lr, refined
    over the grid (:func:`demo_job.experiment`); cached per setup, so a class demo reruns
    instantly, and computed once when several students ask at the same time."""
    spec = _spec(key)
    # a watcher of its own for this call: a page rerun leaves the old call waiting in its own
    # thread of the same session, and the pool hands a finished job to each watcher once (with
    # the session as the watcher, the new call could take the old one's result and lose it)
    pool, me = _demo_pool(), f"{state.session_id()}#{uuid.uuid4().hex}"
    status = pool.submit(me, spec)
    if pool.inline:
        pool.run_inline(me)
    while status is not None and status.active:
        time.sleep(0.25)
        status = next((s for s in pool.poll(me) if s.job_id == status.job_id), None)
    if status is None or status.state != DONE:
        why = status.error if status is not None else None
        raise ValueError(why or f"the experiment {EXPERIMENTS[key].title!r} was stopped")
    return status.result


def norm_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Log-axis ticks for the norms: round values 4-6 apart on a narrow range (under half a
    decade: not "2.11, 2.46, 2.86"), else the decades and 1-2-5 steps of ``charts.log_ticks``;
    one number format per axis (all plain, or all scientific when any label needs it)."""
    if high / low < 10**0.5:
        raw = (high - low) / 4
        step = min(
            (m * 10.0 ** np.floor(np.log10(raw)) for m in (1, 2, 2.5, 5, 10)),
            key=lambda v: abs(v - raw),
        )
        ticks = [float(v) for v in np.arange(np.floor(low / step), high / step + 1e-9) * step]
        ticks = [v for v in ticks if v <= high]
        decimals = max(0, int(-np.floor(np.log10(step))))
        return ticks, [f"{v:.{decimals}f}" for v in ticks]
    # start at a round value at or below the lowest norm, so the bottom of the data is labelled
    e = np.floor(np.log10(low))
    low = max(m * 10.0**e for m in (1, 1.5, 2, 3, 4, 5, 6, 7, 8) if m * 10.0**e <= low)
    ticks, labels = charts.log_ticks(low, high)
    if any("e" in t for t in labels):
        labels = [f"{v:.0e}" if v == float(f"{v:.0e}") else f"{v:.1e}" for v in ticks]
    return ticks, labels


def _stamp(path: Path) -> tuple[int, int]:
    """The file's modification time and size (0, 0 when it is not there): the cache key."""
    try:
        st_ = path.stat()
    except OSError:
        return 0, 0
    return st_.st_mtime_ns, st_.st_size


@st.cache_resource(show_spinner=False, max_entries=4)
def _lm_findings(path: str, mtime_ns: int, size: int) -> list:
    """:func:`lm_findings` once per version of the file for every session (reading and
    grouping the CSV took 4 % of the server's time with 30 students on 'See it work')."""
    return lm_findings(path)


def lm_section(path: Path | None = None) -> None:
    """'Does refinement help a language model?': the study's committed numbers for the lm
    problem (``lrcore.train.findings``), laid out; an info line when there are none yet."""
    path = Path(path or RESULTS_CSV)
    st.divider()
    st.subheader("Does refinement help a language model?")
    st.caption(
        "Outside the theory: a small transformer learning next-token prediction on a Markov "
        "chain with AdamW, the *Language model* task of 'Train and check'. The score "
        "is the excess loss over the chain's own (nats/token); the study tuned each schedule's "
        "peak lr, built refined (Adam rule, l1 norms) on other seeds, and scored every schedule "
        "on fresh seeds. These are its committed numbers (docs/results.csv), not a run here."
    )
    try:
        findings = _lm_findings(str(path), *_stamp(path))
    except ValueError as e:
        st.error(str(e))
        findings = None
    if findings == []:
        st.info(
            "No language-model results yet: "
            + (
                f"{path.name} has no rows with task lm"
                if path.is_file()
                else f"{path.name} is not there (the study writes it)"
            )
            + ". Run the comparison yourself on **Train and check**."
        )
    findings = findings or []
    for f in (f for f in findings if f.kind == "test"):
        _lm_finding(f)
    mechanism = [f for f in findings if f.kind in ("test", "mechanism")]
    if len(mechanism) > 1:
        st.markdown(
            "**Why refinement loses here** (protocol v4: the same model with other weight "
            "decays, AdamC, and a chain whose transition comes earlier): the late rise of "
            "linear decay's gradient norms (last tenth vs 40-60 % of the run; the loss falls "
            "with it where the model learns late) and refined − linear on the scoring seeds. "
            + _mechanism_words(mechanism)
        )
        st.dataframe(
            mechanism_table(mechanism), hide_index=True, key="demo_lm_mechanism", width="stretch"
        )
    for f in (f for f in findings if f.kind == "pre-transition"):
        with st.expander(f"{f.problem}: before its learning transition (not a test)"):
            _lm_finding(f)
    if st.button("Open the language model on 'Train and check'", key="demo_lm_open"):
        presets.open_on_train(presets.LM_SETUP)


def _mechanism_words(findings) -> str:
    """How many of these refined lost, and where it lost without a late rise (computed)."""
    lost = sum(f.diff[0] > 0 for f in findings)
    unseen = [f.problem for f in findings if f.hurt and f.late_rise < 2]
    words = f"Refined lost on {lost} of {len(findings)}."
    if unseen:
        words += (
            f" On {', '.join(unseen)} it lost clearly with no late rise, which the late-rise "
            "warning cannot see."
        )
    return words


def mechanism_table(findings) -> pd.DataFrame:
    """One row per mechanism problem: its late rise, refined − linear ± paired s.e., Holm p."""
    return pd.DataFrame(
        {
            "problem": [f.problem for f in findings],
            "late rise": [f"{f.late_rise:.2g}x" for f in findings],
            "refined − linear": [fmt_short(*f.diff, signed=True) for f in findings],
            "Holm p": [f"{f.p_holm:.2g}" for f in findings],
        }
    )


def _lm_finding(f) -> None:
    """One lm problem's finding: the metrics, the sentence, the per-schedule table."""
    a, b, c = st.columns(3)
    a.metric("Linear decay: excess loss", fmt_pm(*f.linear), help="nats/token, ± s.e.")
    b.metric("refined: excess loss", fmt_pm(*f.refined), help="nats/token, ± s.e.")
    c.metric("refined − linear", fmt_short(*f.diff, signed=True), help="paired over seeds, ± s.e.")
    (st.success if f.helped else st.warning if f.hurt else st.info)(f.sentence)
    table = f.table.assign(schedule=[ui.schedule_label(s) for s in f.table.schedule])
    st.dataframe(
        table,
        hide_index=True,
        key=f"demo_lm_{f.problem}",
        column_config=LM_COLUMNS,
    )
    st.caption(
        f"{for_markdown(f.problem)}, {f.n_seeds} scoring seeds, each schedule at its best "
        f"peak lr. Excess loss in {UNIT}: mean ± s.e. over seeds; held-out s.e.: the "
        "standard error of one seed's score over its held-out sequences (mean over seeds); "
        "vs linear: the schedule's excess loss minus linear decay's, paired over seeds. "
        "Every row but linear's tests a claim against linear decay (refined's row: refined "
        "beats linear; the others: linear beats that schedule). Holm p: that claim's "
        "p-value after Holm's correction over every comparison of the study; outcome: "
        "whether linear decay (or refined, on the refined row) is clearly better, clearly "
        "worse, or neither, after Holm's correction. Accuracy: next-token accuracy on the "
        "held-out tokens."
    )
