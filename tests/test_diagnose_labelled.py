"""``diagnose_refined`` against a labelled set of norm sequences (issue 19, item 4).

Each sequence is labelled by what the refined schedule built from it (at every logged step of
the full run) looks like, with this rubric:

- **degenerate**: the lr first reaches 90 % of its peak after half the run (a late peak), or it
  stays below half its peak for the first quarter of the run (the lr kept small while the norms
  were large), or it is above half its peak for under 20 % of the run around a rise after the
  first tenth (a spike);
- **fine** otherwise: a warm-up of a few percent, then a decay (the paper's shape), including
  the fast annealing that late-rising norms call for (a short high phase right at the start).

A run keeps its label when it is logged every 5th step instead of every step: the labels
belong to runs, so a rule that depends on the logging interval shows up as errors. The rule
and the rubric share thresholds (they are the module's), so what this set tests is mostly what
the rubric leaves out: the "norms fall > 10x" criterion (it must not fire on early spikes,
warm-up falls or noise), the logging interval, the sample runs, and which finding fires.

The sample runs in sample_runs/ are used; ../shared/real_logs is not read from tests.
"""

from pathlib import Path

import numpy as np
import pytest

from lrcore.diagnose import diagnose_refined, refined_shape
from lrcore.logs import load_log
from lrcore.refine import refine
from lrcore.synthetic import synthetic_norms

SAMPLES = Path(__file__).resolve().parents[1] / "sample_runs"
T = 2000
P = np.linspace(0, 1, T)
FINE, DEGENERATE = "fine", "degenerate"


def _noisy(trend, seed, sd=0.2):
    return trend * np.exp(sd * np.random.default_rng(seed).standard_normal(T))


def _spike(mult, frac, seed):
    n = _noisy(np.ones(T), seed)
    n[: int(frac * T)] *= mult
    return n


def _hinge_zero(seed):
    n = _noisy(np.exp(-P / 0.1), seed)
    n[P > 0.5] = 0
    return np.maximum(n, 1e-12 * n.max())  # as refine_from_runs floors zero norms


def _labelled():
    """(name, norms, optimizer rule, steps or None, label)."""
    every_step = [
        ("flat noise sd=0.1", _noisy(np.ones(T), 0, 0.1), "sgd", FINE),
        ("flat noise sd=0.5", _noisy(np.ones(T), 1, 0.5), "sgd", FINE),
        ("flat noise, adam", _noisy(np.ones(T), 2), "adam", FINE),
        ("slow fall x2", _noisy(np.geomspace(1, 0.5, T), 3), "sgd", FINE),
        ("slow rise x2", _noisy(np.geomspace(1, 2, T), 4), "sgd", FINE),
        ("late rise x3 (last 30%)", _noisy(1 + 2 * np.clip((P - 0.7) / 0.3, 0, 1), 5), "sgd", FINE),
        ("late rise x5, adam", _noisy(1 + 4 * np.clip((P - 0.5) / 0.5, 0, 1), 6), "adam", FINE),
        ("early spike x100 first 5%", _spike(100, 0.05, 7), "sgd", FINE),
        ("early spike x10 first 2%", _spike(10, 0.02, 8), "sgd", FINE),
        ("early spike x100 first 1%", _spike(100, 0.01, 9), "sgd", FINE),
        ("early spike x100 first 5%, adam", _spike(100, 0.05, 10), "adam", FINE),
        ("warm-up fall x10", _noisy(1 + 9 * np.exp(-P / 0.01), 11), "sgd", FINE),
        ("warm-up fall x30", _noisy(1 + 29 * np.exp(-P / 0.02), 12), "sgd", FINE),
        ("warm-up fall x5 (slower)", _noisy(1 + 4 * np.exp(-P / 0.05), 13), "sgd", FINE),
        ("warm-up fall x10, adam", _noisy(1 + 9 * np.exp(-P / 0.01), 14), "adam", FINE),
        ("llm-like (synthetic_norms)", synthetic_norms("llm", T, seed=15), "adam", FINE),
        ("late spike x100 at 60-65%", _noisy(np.where((P > 0.6) & (P < 0.65), 100, 1), 23), "sgd", FINE),
        ("collapse x100", _noisy(np.geomspace(1, 0.01, T), 16), "sgd", DEGENERATE),
        ("collapse x1000", _noisy(np.geomspace(1, 1e-3, T), 17), "sgd", DEGENERATE),
        ("collapse x100, adam", _noisy(np.geomspace(1, 0.01, T), 18), "adam", DEGENERATE),
        ("collapse x10", _noisy(np.geomspace(1, 0.1, T), 25), "sgd", DEGENERATE),
        ("collapse x10, adam", _noisy(np.geomspace(1, 0.1, T), 26), "adam", DEGENERATE),
        ("collapse to 1e-4 by 30%", _noisy(np.maximum(np.exp(-P / 0.03), 1e-4), 19), "sgd", DEGENERATE),
        ("step drop x30 at 40%", _noisy(np.where(P < 0.4, 1, 1 / 30), 20), "sgd", DEGENERATE),
        ("interpolation (power law x200)", _noisy((1 + 200 * P) ** -1.0, 21), "sgd", DEGENERATE),
        ("hinge: zero norms after 50%", _hinge_zero(22), "sgd", DEGENERATE),
        ("warm-up fall + steady fall x8", _noisy((1 + 20 * np.exp(-P / 0.01)) * np.geomspace(1, 0.12, T), 24, 0.3), "sgd", DEGENERATE),
    ]  # fmt: skip
    out = [(name, n, rule, None, label) for name, n, rule, label in every_step]
    for f, label in (
        ("logreg_digits_sgd.csv", FINE),  # SGD, l2, every step: the study's logreg digits shape
        ("cnn_digits_adam_l1.jsonl", DEGENERATE),  # the interpolating CNN, every 10th step
        ("cnn_digits_adam_trainer_state.json", DEGENERATE),  # the same run, l2 norms
    ):
        log = load_log(SAMPLES / f)
        out.append((f"sample {f}", log.grad_norms, log.rule.optimizer, log.steps, label))
    # the same runs logged every 5th step (same label: the run did not change)
    fifth = np.arange(0, T, 5)
    for name, n, rule, _, label in list(out):
        if name in ("slow fall x2", "early spike x100 first 5%", "warm-up fall x30", "collapse x100", "warm-up fall + steady fall x8"):  # fmt: skip
            out.append((f"{name}, every 5th step", n[fifth], rule, fifth, label))
    log = load_log(SAMPLES / "logreg_digits_sgd.csv")
    out.append(
        ("sample logreg_digits_sgd.csv, every 5th step", log.grad_norms[::5], "sgd", log.steps[::5], FINE)
    )  # fmt: skip
    return out


CASES = _labelled()

# A second, blind label per case. The labels in CASES were written by whoever tuned the rule,
# after seeing its output, so they agree with it partly by construction. These were written by
# another engineer (helper "labels") who had not read the rule's thresholds, the rubric above or
# the labels in CASES: each case was drawn as two panels (norms, log y; refine(norms, tau=0.1,
# optimizer=rule) against the fraction of the run, peak 1), shuffled under a random ID with no
# name, label or rule output, and labelled from the picture against a rubric written first,
# from a practitioner's side: "degenerate" = an artefact not to use as is (a late peak with the
# lr small for most of the run, a long tiny-lr stretch while training should happen (the
# rubric said about a third of the run; an lr of ~0 for 22 % was counted, as borderline), a
# narrow spike, a collapse, noise-driven peaks); "fine" =
# a usable schedule, including long warm-ups into a broad plateau and fast anneals where late
# norms grow. Only the picture of the schedule was judged; the rule's "norms fall > 10x"
# criterion has no counterpart here, which is where the two disagreements come from.
INDEPENDENT = {
    "flat noise sd=0.1": FINE,
    "flat noise sd=0.5": FINE,
    "flat noise, adam": FINE,
    "slow fall x2": FINE,
    "slow rise x2": FINE,  # decays from the start (exp-like), below 0.2 after 40 %: front-loaded
    "late rise x3 (last 30%)": FINE,
    "late rise x5, adam": FINE,
    "early spike x100 first 5%": FINE,
    "early spike x10 first 2%": FINE,
    "early spike x100 first 1%": FINE,
    "early spike x100 first 5%, adam": FINE,
    "warm-up fall x10": FINE,
    "warm-up fall x30": FINE,
    "warm-up fall x5 (slower)": FINE,
    "warm-up fall x10, adam": FINE,
    "llm-like (synthetic_norms)": FINE,
    "late spike x100 at 60-65%": FINE,  # a 5 % notch to 0.1 at 60-65 %, then back to 0.3
    "collapse x100": DEGENERATE,
    "collapse x1000": DEGENERATE,
    "collapse x100, adam": DEGENERATE,
    "collapse x10": DEGENERATE,
    # rises from 0.4 to a peak at 70 %, then anneals: a late peak, but the lr never falls below
    # 0.4 of its peak before the final anneal (borderline; the rule says degenerate)
    "collapse x10, adam": FINE,
    "collapse to 1e-4 by 30%": DEGENERATE,  # lr ~0 for the first 22 % (borderline)
    "step drop x30 at 40%": DEGENERATE,
    "interpolation (power law x200)": DEGENERATE,
    "hinge: zero norms after 50%": DEGENERATE,
    "warm-up fall + steady fall x8": DEGENERATE,
    "sample logreg_digits_sgd.csv": FINE,  # long warm-up into a broad plateau, peak near 45 %
    # below 0.2 of the peak until ~20 %, then a jagged plateau 0.6-1.0 from 40 to 80 %
    # (borderline; the rule says degenerate through the norm fall, 17.6x)
    "sample cnn_digits_adam_l1.jsonl": FINE,
    "sample cnn_digits_adam_trainer_state.json": DEGENERATE,  # ~0 for 20 %, noise peaks
    "slow fall x2, every 5th step": FINE,
    "early spike x100 first 5%, every 5th step": FINE,
    "warm-up fall x30, every 5th step": FINE,
    "collapse x100, every 5th step": DEGENERATE,
    "warm-up fall + steady fall x8, every 5th step": DEGENERATE,
    "sample logreg_digits_sgd.csv, every 5th step": FINE,
}


def _warns(norms, rule, steps):
    return bool(diagnose_refined(refine(norms, optimizer=rule), norms, steps=steps))


def test_confusion_on_the_labelled_set():
    assert len(CASES) >= 30
    fp = [c[0] for c in CASES if c[4] == FINE and _warns(c[1], c[2], c[3])]
    fn = [c[0] for c in CASES if c[4] == DEGENERATE and not _warns(c[1], c[2], c[3])]
    n_deg = sum(c[4] == DEGENERATE for c in CASES)
    n_fine = len(CASES) - n_deg
    report = (
        f"{len(CASES)} sequences ({n_deg} degenerate, {n_fine} fine): "
        f"true positives {n_deg - len(fn)}, false negatives {len(fn)} {fn}, "
        f"true negatives {n_fine - len(fp)}, false positives {len(fp)} {fp}"
    )
    print(report)
    assert not fp and not fn, report


def test_confusion_against_the_independent_labels():
    """The rule against the blind labels (INDEPENDENT), 36 sequences, 12 degenerate, 24 fine:
    true positives 12, false negatives 0, true negatives 22, false positives 2 ("collapse x10,
    adam" and "sample cnn_digits_adam_l1.jsonl", both marked borderline). The blind labels
    differ from the labels in CASES on the same two sequences only. A change of rule or of
    labels changes these counts and fails here."""
    assert set(INDEPENDENT) == {c[0] for c in CASES}
    warns = {c[0]: _warns(c[1], c[2], c[3]) for c in CASES}
    tp = sorted(k for k, w in warns.items() if w and INDEPENDENT[k] == DEGENERATE)
    fn = sorted(k for k, w in warns.items() if not w and INDEPENDENT[k] == DEGENERATE)
    tn = sorted(k for k, w in warns.items() if not w and INDEPENDENT[k] == FINE)
    fp = sorted(k for k, w in warns.items() if w and INDEPENDENT[k] == FINE)
    report = (
        f"{len(CASES)} sequences against the blind labels: true positives {len(tp)}, "
        f"false negatives {len(fn)} {fn}, true negatives {len(tn)}, false positives {len(fp)} {fp}"
    )
    print(report)
    assert (len(tp), len(fn), len(tn)) == (12, 0, 22), report
    assert fp == ["collapse x10, adam", "sample cnn_digits_adam_l1.jsonl"], report
    differ = sorted(c[0] for c in CASES if c[4] != INDEPENDENT[c[0]])
    assert differ == ["collapse x10, adam", "sample cnn_digits_adam_l1.jsonl"], differ


def test_early_spike_is_no_longer_a_false_positive():
    """Norms x100 in the first 5 %: refinement turns the spike into a warm-up (peak near 5-10 %,
    above half for about half the run). The old rule warned (smoothed norms fell 33x from the
    first to the last tenth)."""
    n = _spike(100, 0.05, 7)
    s = refine(n)
    shape = refined_shape(s, grad_norms=n)
    assert shape.peak_fraction <= 0.1 and 0.4 < shape.above_half_fraction < 0.6
    assert shape.norm_fall < 2
    assert diagnose_refined(s, n) == []


@pytest.mark.parametrize(
    "name", ["slow fall x2", "warm-up fall x30", "collapse x100", "warm-up fall + steady fall x8"]
)
def test_norm_fall_does_not_depend_on_the_logging_interval(name):
    (n,) = [c[1] for c in CASES if c[0] == name]
    shapes = [
        refined_shape(refine(n[::k]), steps=np.arange(0, T, k), grad_norms=n[::k])
        for k in (1, 5, 10)
    ]
    falls = [s.norm_fall for s in shapes]
    assert max(falls) / min(falls) < 1.15, falls  # sampling noise only
    rises = [s.rise_fraction for s in shapes]
    assert max(rises) - min(rises) < 0.1, rises
    warned = {_warns(n[::k], "sgd", np.arange(0, T, k)) for k in (1, 5, 10)}
    assert len(warned) == 1


def test_each_finding_names_itself():
    collapse = _noisy(np.geomspace(1, 0.01, T), 16)
    (w,) = diagnose_refined(refine(collapse), collapse)
    assert "peaks at" in w and "fall" in w
    # norms that collapse by 30 %: the refined lr rises late-ish (half its peak at 27 %, the
    # rubric's slow start); the rule finds it through the fall alone
    slow = _noisy(np.maximum(np.exp(-P / 0.03), 1e-4), 19)
    (w,) = diagnose_refined(refine(slow), slow)
    assert "peaks at" not in w and "fall" in w and "above half its peak" not in w


# --- protocol v4's study: the late-rise warning (lrcore.late_rise) on every problem's norms ---
# tests/data/study_v4_norms.npz: each study problem's linear build-run norms (seed mean, the
# norm refinement reads) and per-step training loss, at up to 1,000 evenly spaced steps, from
# the run that wrote docs/results.csv. Labelled blind: the 28 sequences were plotted (norms on
# a log scale, loss) in a shuffled order without names, and labelled "warn" / "silent" by a
# reviewer who saw only the plots and this rubric, written before any sequence was seen and
# without the rule's thresholds: warn when the norms step up clearly and durably above their
# mid-run level late in the run AND the loss falls markedly over the same stretch (or no loss
# is shown and the step looks like such a change); silent for flat, falling or mildly rising
# norms, a rise without a loss drop (noise growing from outside), or a collapse.
V4 = np.load(Path(__file__).parent / "data" / "study_v4_norms.npz")
BLIND_V4 = {  # problem -> the blind label (run id in the shuffled plots)
    "lm converged (adamw 0.1)": "warn",  # run_01
    "logreg synthetic cond=10^4": "silent",  # run_02
    "logreg synthetic cond=100 batch=1": "silent",  # run_03
    "logreg synthetic cond=100": "silent",  # run_04
    "logreg synthetic noise=rise": "silent",  # run_05
    "cnn synthetic_images (adam)": "silent",  # run_06
    "lm markov order-2 (adamw)": "silent",  # run_07
    "hinge synthetic": "silent",  # run_08
    "hinge iris": "silent",  # run_09
    "cnn digits (adam)": "silent",  # run_10
    "logreg wine": "silent",  # run_11
    "logreg synthetic cond=1": "silent",  # run_12
    "logreg synthetic noise=flat": "silent",  # run_13
    "lm chain B (adamw 0.1)": "silent",  # run_14
    "hinge synthetic noise=fall": "silent",  # run_15
    "lm converged (adamw 0)": "warn",  # run_16
    "logreg breast_cancer": "silent",  # run_17
    "logreg synthetic cond=100 T=5000": "silent",  # run_18
    "logreg iris": "silent",  # run_19
    "hinge synthetic noise=flat": "silent",  # run_20
    "logreg synthetic noise=fall": "silent",  # run_21
    "lm converged (adamw 0.01)": "warn",  # run_22
    "hinge digits": "silent",  # run_23
    "logreg digits": "silent",  # run_24
    "hinge synthetic noise=rise T=5000": "silent",  # run_25
    "lm converged (adamc 0.1)": "warn",  # run_26
    "hinge synthetic batch=1": "silent",  # run_27
    "hinge synthetic noise=rise": "silent",  # run_28
}


def _v4(name):
    return V4[f"{name}|steps"], V4[f"{name}|norms"].astype(float), V4[f"{name}|loss"].astype(float)


def test_late_rise_warning_against_the_blind_labels_of_the_v4_study():
    from lrcore.late_rise import diagnose_late_rise, late_rise

    got = {}
    for name in BLIND_V4:
        steps, norms, loss = _v4(name)
        got[name] = "warn" if diagnose_late_rise(late_rise(norms, steps, loss)) else "silent"
    pairs = [(BLIND_V4[n], got[n]) for n in BLIND_V4]
    confusion = {k: pairs.count(k) for k in set(pairs)}
    assert confusion == {("warn", "warn"): 4, ("silent", "silent"): 24}, confusion
    # the four it warns on are the transformer runs that pass their learning transition late
    assert sorted(n for n in got if got[n] == "warn") == [
        "lm converged (adamc 0.1)",
        "lm converged (adamw 0)",
        "lm converged (adamw 0.01)",
        "lm converged (adamw 0.1)",
    ]


def test_the_ratio_alone_would_warn_where_refinement_helped():
    """Why the warning asks for a loss drop (a departure from protocol v4.5): the rising-noise
    problems rise as much as the transformer, and refined was clearly better on them."""
    from lrcore.late_rise import RISE_WARN, late_rise

    for name in BLIND_V4:
        steps, norms, loss = _v4(name)
        r = late_rise(norms, steps, loss)
        if "noise=rise" in name:
            assert r.ratio >= RISE_WARN and r.coincides is False, (name, r)


def test_diagnose_refined_is_silent_on_the_transformers_the_late_rise_catches():
    """The gap issue 24 found: the refined schedule of a learning transition peaks early and
    decays, which diagnose_refined (by design) calls fine."""
    for name in ("lm converged (adamw 0.1)", "lm converged (adamc 0.1)"):
        steps, norms, _ = _v4(name)
        assert diagnose_refined(refine(norms, optimizer="adam"), norms, steps=steps) == []
