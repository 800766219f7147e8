"""The 'Train and check' form: its widget keys, defaults that follow the task and the
optimizer, and how another page opens it with a setup filled in."""

from __future__ import annotations

import streamlit as st

from lrcore.train.config import LM_WARMUP_FRACTION, TASK_DEFAULTS

TRAIN_PAGE = "app_pages/train.py"
REFINED_RUN = "refined (from a linear run first)"
REFINED_LOG = "refined (from the log on 'Refine a log')"

# peak lrs to try, per task and optimizer (factor-2 grids around where each learns)
PEAKS = {
    "logreg": {"sgd": "0.5, 1, 2", "adam": "0.01, 0.02, 0.04", "adamw": "0.01, 0.02, 0.04"},
    "svm": {"sgd": "0.05, 0.1, 0.2", "adam": "0.005, 0.01, 0.02", "adamw": "0.005, 0.01, 0.02"},
    "cnn": {"sgd": "0.1, 0.2", "adam": "0.003, 0.006", "adamw": "0.003, 0.006"},
    # lm: the library's default grid around TASK_DEFAULTS' 3e-3 (lrcore compare --task lm)
    "lm": {
        "sgd": "2, 4, 8",  # barely learns at any: 800 steps, 0.125 .. 8 stay near the start
        "adam": "0.00075, 0.0015, 0.003, 0.006, 0.012",
        "adamw": "0.00075, 0.0015, 0.003, 0.006, 0.012",
    },
}
# the dataset a task opens with: hinge loss on digits (separable, f* = 0, no L2) has no best
# peak lr at all (larger keeps winning), so the hinge task starts on the synthetic problem
DATASETS = {"svm": "synthetic"}
STEPS = {"logreg": 1000, "svm": 1000, "cnn": 300, "lm": TASK_DEFAULTS["lm"]["steps"]}
# a little L2 for logistic regression: without it, separable data (digits) have no finite
# minimiser, so larger lrs keep winning and every best sits at the edge of the grid
WEIGHT_DECAY = {
    "logreg": 1e-3,
    "svm": 0.0,
    "cnn": 0.0,
    "lm": TASK_DEFAULTS["lm"]["weight_decay"],  # decoupled (AdamW)
}
# what a task brings along when it is picked (leaving it restores DEFAULTS): the language
# model trains with AdamW at batch 16, as `lrcore compare --task lm` does
TASK_OPTIMIZER = {"lm": TASK_DEFAULTS["lm"]["optimizer"]}
TASK_BATCH = {"lm": TASK_DEFAULTS["lm"]["batch_size"]}
DEFAULTS = {
    "tr_task": "logreg",
    "tr_opt": "sgd",
    "tr_seeds": 3,
    "tr_batch": 32,
    "tr_noise": "none",
    "tr_noise_scale": 1.0,
    "tr_sched": ["linear", "cosine", REFINED_RUN],
}


# 'See it work''s hinge problem (its experiments add their noise), and experiment (a), the
# setup where refinement applies: hinge loss, gradient noise rising late; the Train page's
# button loads the same setup, so the two pages cannot drift apart
HINGE = {
    "task": "svm",
    "dataset": "synthetic",
    "optimizer": "sgd",
    "steps": 1000,
    "batch": 16,
    "weight_decay": 0.0,
    "peaks": "0.05, 0.1, 0.2",
}
RISE = {**HINGE, "noise": "rise", "noise_scale": 2.0}
RISE_SETUP = {
    "title": "the rising-noise setup (hinge loss, noise rising late)",
    **RISE,
    "seeds": 3,
    "schedules": ["linear", "cosine", REFINED_RUN],
}


# the language model as the study runs it (lrcore compare --task lm): See it work opens it here
LM_SETUP = {
    "title": "the language model from 'See it work'",
    "task": "lm",
    "dataset": "markov",
    "optimizer": TASK_DEFAULTS["lm"]["optimizer"],
    "steps": TASK_DEFAULTS["lm"]["steps"],
    "batch": TASK_DEFAULTS["lm"]["batch_size"],
    "weight_decay": TASK_DEFAULTS["lm"]["weight_decay"],
    "peaks": PEAKS["lm"][TASK_DEFAULTS["lm"]["optimizer"]],
    "noise": "none",
    "seeds": 3,
    # constant too: the study found it the lowest at this size
    "schedules": ["linear", "cosine", "constant", REFINED_RUN],
}


def warmup_steps(task: str, steps: int) -> int:
    """The linear warm-up every named schedule gets (refined gets none: its shape warms up
    by itself): 5 % of the steps for the language model, as ``RunConfig.for_task`` gives it.

    >>> warmup_steps("lm", 800), warmup_steps("svm", 800)
    (40, 0)
    """
    return min(round(LM_WARMUP_FRACTION * steps), steps - 1) if task == "lm" else 0


def task_changed() -> None:
    """The Task control's ``on_change``: entering the language model sets its optimizer and
    batch size; leaving it restores the defaults of the other tasks."""
    task, was = st.session_state.get("tr_task"), st.session_state.get("tr_task_shown")
    if task == "lm" or was == "lm":
        st.session_state["tr_opt"] = TASK_OPTIMIZER.get(task, DEFAULTS["tr_opt"])
        st.session_state["tr_batch"] = TASK_BATCH.get(task, DEFAULTS["tr_batch"])


def peaks_key(task: str, optimizer: str) -> str:
    """Each task and optimizer keep their own peak-lr grid (an Adam run never gets SGD's)."""
    return f"tr_peaks_{task}_{optimizer}"


def default_peaks(task: str, optimizer: str) -> str:
    """
    >>> default_peaks("logreg", "adam")
    '0.01, 0.02, 0.04'
    """
    return PEAKS.get(task, PEAKS["logreg"]).get(optimizer, PEAKS["logreg"]["sgd"])


def init_form(task: str, optimizer: str) -> None:
    """Fill in the defaults the user has not set (widgets then take no default themselves,
    so values put here by another page are what the widgets show)."""
    for k, v in DEFAULTS.items():
        st.session_state.setdefault(k, v)
    st.session_state.setdefault(f"tr_steps_{task}", STEPS.get(task, 1000))
    if task in DATASETS:
        st.session_state.setdefault(f"tr_dataset_{task}", DATASETS[task])
    st.session_state.setdefault(peaks_key(task, optimizer), default_peaks(task, optimizer))
    st.session_state.setdefault(f"tr_wd_{task}", WEIGHT_DECAY.get(task, 0.0))
    st.session_state["tr_task_shown"] = task  # what task_changed compares the next pick with


def setup_values(setup: dict) -> dict:
    """The form's widget values for ``setup`` (keys: task, dataset, optimizer, steps, seeds,
    peaks, batch, weight_decay, noise, noise_scale, schedules)."""
    task = setup["task"]
    opt = setup.get("optimizer", TASK_OPTIMIZER.get(task, DEFAULTS["tr_opt"]))
    return {
        "tr_task": task,
        f"tr_dataset_{task}": setup["dataset"],
        "tr_opt": opt,
        f"tr_steps_{task}": setup["steps"],
        "tr_seeds": setup.get("seeds", 3),
        peaks_key(task, opt): setup.get("peaks", default_peaks(task, opt)),
        "tr_batch": setup.get("batch", TASK_BATCH.get(task, DEFAULTS["tr_batch"])),
        f"tr_wd_{task}": setup.get("weight_decay", WEIGHT_DECAY.get(task, 0.0)),
        "tr_noise": setup.get("noise", "none"),
        "tr_noise_scale": setup.get("noise_scale", 1.0),
        "tr_sched": setup.get("schedules", DEFAULTS["tr_sched"]),
    }


def load_setup(setup: dict) -> None:
    """Fill the form with ``setup`` (a button's ``on_click`` on the Train page itself)."""
    st.session_state.update(setup_values(setup))
    st.session_state["tr_prefilled"] = setup.get("title", "a demo setup")


def open_on_train(setup: dict) -> None:
    """Open 'Train and check' with the widgets set to ``setup`` (see :func:`setup_values`)."""
    load_setup(setup)
    st.switch_page(TRAIN_PAGE)
