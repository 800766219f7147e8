"""'Train and check': the form (task, optimizer, data, steps, seeds, peak lrs, noise,
schedules) and its Start button. Widgets only: returns a :class:`TrainForm`."""

from dataclasses import dataclass

import presets
import state
import streamlit as st
import ui
import words
from demo_runs import RESULTS_CSV

from lrcore import REGISTRY
from lrcore.train.config import NOISES, OPTIMIZERS, TASKS, RunConfig
from lrcore.train.devices import device_type
from lrcore.train.findings import converged_summary, lm_gap_closed

TASK_LABELS = {  # short: three fit side by side on a phone
    "logreg": "Logistic regression",
    "svm": "Hinge loss (SVM)",
    "cnn": "Small CNN",
    "lm": "Language model",
}
TASK_BUTTONS = {  # all four fit side by side at 390 px
    "logreg": "Logistic",
    "svm": "Hinge",
    "cnn": "CNN",
    "lm": "Language model",
}
TASK_NOTES = {
    "logreg": "convex and smooth; multinomial, zero init; scored by cross-entropy + L2",
    "svm": "linear SVM, multiclass hinge: convex and non-smooth, the theory's loss class",
    "cnn": "not convex; 2 conv layers, 8x8 images; outside the theory",
    "lm": "not convex, never reaches 0; a small transformer on a Markov source, scored by "
    "its excess loss over the source's own",
}
NOISE_LABELS = {
    "none": "none",
    "flat": "flat (same size all run)",
    "rise": "rises late (x1 → x5)",
    "fall": "falls early (x5 → x1)",
}


CONTRAST = (
    "**This default setup is a contrast, not the method's showcase.** Logistic regression on "
    "digits has gradient norms that fall as the model fits, with little noise: refinement "
    "then trusts norms the first run's own schedule drove down, its schedule is often "
    "diagnosed degenerate, and it need not beat linear decay. The theory's own setting is a "
    "non-smooth convex loss with noisy gradients: load it below (the one 'See it work' (a) "
    "runs), where refined beats linear decay."
)


def lm_note(steps: int, optimizer: str) -> str:
    """What the language-model task is and how it is scored (sizes from the library's config)."""
    c = RunConfig.for_task("lm")
    return (
        f"**The language model**: a decoder-only transformer (d_model {c.lm_d_model} × "
        f"{c.lm_layers} layers, {c.lm_heads} heads) learns next-token prediction on a seeded "
        f"order-{c.lm_order} Markov chain over {c.lm_vocab} tokens, reading each training "
        f"sequence once ({words.optimizer_name(c.optimizer)} by default, weight decay "
        f"{c.weight_decay:g}). Its loss floor is the chain's exact entropy rate, so the score is "
        "the **excess loss**: the model's cross-entropy minus the true chain's on the same "
        f"{c.lm_heldout} held-out sequences, in nats/token, shown with its standard error over "
        "those sequences. Non-convex and never reaching 0, like language-model pre-training, "
        "but a toy"
        + (
            f": at the default size linear decay closes only {share:.0%} of the gap between a "
            "uniform guess and the true chain (the study's docs/results.csv), so it does not "
            "test the paper's LLM runs"
            if (share := lm_gap_closed(RESULTS_CSV, c.lm_vocab)) is not None
            else " that does not test the paper's LLM runs"
        )
        + (
            ". A size where it learns is `lrcore compare --task lm --lm-size converged` "
            "(d_model 48, sequences of 64, batch 32, 600 steps, about 20 s a run on one core)"
            + (f": in the study {conv}" if (conv := converged_summary(RESULTS_CSV)) else "")
        )
        + f". Held-out scoring runs 10 times a run here (every {max(1, steps // 10):,} steps, "
        "not every 40: it took most of the time), and **the estimate under Start** comes from "
        "measured per-step costs of this setup (5 peak lrs × 3 schedules × 3 seeds is 45 "
        "runs).\n\n"
        + warmup_note(steps, optimizer)
        + (
            "\n\nWith **SGD** this transformer barely learns in 800 steps (peak lrs 0.125 to 8 "
            "all ended near their starting loss; 16 and above diverged): use AdamW."
            if optimizer == "sgd"
            else ""
        )
    )


def warmup_note(steps: int, optimizer: str) -> str:
    """Which schedules get the language model's warm-up, and how refined is built."""
    rule, norm = ("SGD", "l2") if optimizer == "sgd" else ("Adam", "l1")
    return (
        f"**Warm-up**: Linear decay, Cosine decay, Constant and every other named schedule warm "
        f"up linearly over the first 5 % of the steps ({presets.warmup_steps('lm', steps)} of "
        f"{steps:,}); **refined** gets none. Refined is built by the **{rule} rule** from the "
        f"**{norm} gradient norms** of Linear decay's runs (seed-averaged, at its best peak lr) "
        "and warms up by itself where those norms are large."
    )


def wd_label(optimizer: str) -> str:
    """AdamW decays the weights apart from the gradient (decoupled); the others add an L2
    term to the loss.

    >>> wd_label("adamw"), wd_label("sgd")
    ('Weight decay (decoupled)', 'Weight decay (L2)')
    """
    return "Weight decay (decoupled)" if optimizer == "adamw" else "Weight decay (L2)"


@dataclass(frozen=True)
class TrainForm:
    task: str
    dataset: str
    optimizer: str
    steps: int
    n_seeds: int
    peaks_text: str
    batch: int
    wd: float
    noise: str
    noise_scale: float
    chosen: list
    start: bool


def form(running: bool = False) -> TrainForm:
    """Draw the form; returns what it holds and whether Start was pressed. ``running``: this
    session has a run queued or running in the worker pool (Start is greyed out)."""
    st.title("Train and check")
    st.caption(
        "Run small, fast problems with several schedules and seeds, each at its best peak lr on a "
        "grid. Convex tasks (logistic regression, hinge loss) are scored by their distance to the "
        "optimum, which the theory bounds; the language model by its excess loss over the true "
        "source's."
    )
    prefilled = st.session_state.pop("tr_prefilled", None)
    if prefilled:
        st.info(f"Set up as in **{prefilled}**. Press **Start** to run it here.")

    st.session_state.setdefault("tr_task", presets.DEFAULTS["tr_task"])
    st.session_state.setdefault("tr_opt", presets.DEFAULTS["tr_opt"])
    c0, c1 = st.columns([3, 1])
    task = c0.segmented_control(
        "Task",
        [t for t in TASKS if t in TASK_BUTTONS],
        key="tr_task",
        format_func=TASK_BUTTONS.get,
        on_change=presets.task_changed,
    )
    task = task or "logreg"
    optimizer = c1.selectbox(
        "Optimizer", list(OPTIMIZERS), key="tr_opt", format_func=words.optimizer_name
    )
    presets.init_form(task, optimizer)

    c2, c3, c4, c5 = st.columns(4)
    dataset = c2.selectbox("Dataset", list(TASKS[task]), key=f"tr_dataset_{task}")
    steps = int(c3.number_input("Steps", 10, 100_000, key=f"tr_steps_{task}"))
    n_seeds = int(c4.number_input("Seeds", 1, 10, key="tr_seeds"))
    peaks_text = c5.text_input(
        "Peak lrs to try (a grid)",
        key=presets.peaks_key(task, optimizer),
        help="Comma-separated; the grid is extended by factors of 2 when a schedule's best sits "
        f"on its edge. Default for {TASK_LABELS[task].split(' (')[0].lower()} with {words.optimizer_name(optimizer)}: "
        f"{presets.default_peaks(task, optimizer)}.",
    )
    c6, c7, c8, c9 = st.columns(4)
    batch = int(c6.number_input("Batch size", 1, 4096, key="tr_batch"))
    wd = c7.number_input(wd_label(optimizer), 0.0, 1.0, format="%g", key=f"tr_wd_{task}")
    noise = c8.selectbox(
        "Gradient noise",
        list(NOISES),
        key="tr_noise",
        format_func=NOISE_LABELS.get,
        help="Gaussian noise added to every stochastic gradient, with a size that follows a fixed "
        "profile over the run, identical for every schedule: norms that change for reasons "
        "outside the schedule, the textbook case for refinement. Rises late: x1, then up to x5 "
        "over the second half; falls early: x5 down to x1 by 30% of the run.",
    )
    noise_scale = c9.number_input(
        "Noise size", 0.0, 100.0, format="%g", key="tr_noise_scale", disabled=noise == "none"
    )
    st.caption(f"**{TASK_LABELS[task]}**: {TASK_NOTES[task]}.")
    if task == "lm":
        st.info(lm_note(steps, optimizer))
    if (task, dataset, noise) == ("logreg", "digits", "none"):
        st.info(CONTRAST)
        st.button(
            "Load the setup where refinement applies (hinge loss, noise rising late)",
            key="tr_load_rise",
            on_click=presets.load_setup,
            args=(presets.RISE_SETUP,),
        )
    schedule_names = [*REGISTRY, presets.REFINED_RUN, presets.REFINED_LOG]
    chosen = st.multiselect(
        "Schedules",
        schedule_names,
        format_func=ui.schedule_label,
        key="tr_sched",
    )
    # Start is greyed out while its runs go on: in the page's thread (the click sets the flag;
    # every run consumes it) or in the worker pool (``running``); the page reruns when the runs
    # end, so Start comes back
    busy = state.take_flag("tr_busy")
    start = (
        st.button(
            "Start",
            type="primary",
            key="tr_start",
            on_click=state.set_true,
            args=("tr_busy",),
            disabled=busy or running,
        )
        or busy  # a disabled button reads False: the flag, set only by its click, says it was
    )
    # the results below are the last finished run's, not to be read as this one's (a reviewer)
    kept = (
        " Results of the last finished training are kept below."
        if state.train_result() is not None
        else ""
    )
    if message := state.take_train_error():
        st.error((message.rstrip(".") + "." if kept else message) + kept)

    if state.take_flag("train_stopped"):
        st.warning("Training was stopped before it finished." + kept)

    device = device_type("auto")  # without torch on a CPU build (seconds at first visit)
    st.caption(
        f"Runs on **{device.upper()}**"
        + (" (CUDA found)" if device == "cuda" else " (no CUDA found)")
    )

    return TrainForm(
        task,
        dataset,
        optimizer,
        steps,
        n_seeds,
        peaks_text,
        batch,
        wd,
        noise,
        noise_scale,
        chosen,
        bool(start),
    )
