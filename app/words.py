"""Numbers and sentences about them, for the pages: pure functions, no streamlit.

Every sentence the app shows about a number is built here from that number, so a page
can never claim something its table does not show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lrcore import REGISTRY

LINEAR = REGISTRY["linear"].label  # one spelling of each schedule name: the registry's label
FIXED = (-3, 4)  # decimal exponents shown as plain decimals; others in scientific notation


def _exp10(x: float) -> int:
    return math.floor(math.log10(abs(x)))


def fmt_sig(x: float, sig: int = 3) -> str:
    """``x`` with ``sig`` significant digits, scientific notation outside 0.001 .. 9999.

    >>> fmt_sig(0.000803), fmt_sig(1.23456), fmt_sig(31.0, 2), fmt_sig(0.0)
    ('8.03e-04', '1.23', '31', '0')
    """
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    e = _exp10(x)
    if FIXED[0] <= e < FIXED[1]:
        return f"{x:.{max(0, sig - 1 - e)}f}"
    return f"{x:.{sig - 1}e}"


def fmt_pm(mean: float, sem: float) -> str:
    """``mean ± sem``: the error with 2 significant digits, the mean to the same decimal
    place; scientific notation (one shared exponent) for very small or large means.

    >>> fmt_pm(0.0008031, 0.0000021), fmt_pm(0.41372, 0.0123), fmt_pm(2.3, float("nan"))
    ('(8.031 ± 0.021)e-04', '0.414 ± 0.012', '2.300')
    """
    if not math.isfinite(mean):
        return str(mean)
    if not (math.isfinite(sem) and sem > 0):
        return fmt_sig(mean, 4)
    if mean != 0 and not FIXED[0] <= _exp10(mean) < FIXED[1]:
        e = _exp10(mean)
        m, s = mean / 10.0**e, sem / 10.0**e
        d = min(8, max(0, 1 - _exp10(s)))
        return f"({m:.{d}f} ± {s:.{d}f})e{e:+03d}"
    d = min(8, max(0, 1 - _exp10(sem)))
    return f"{mean:.{d}f} ± {sem:.{d}f}"


def fmt_pct_pm(mean: float, sem: float) -> str:
    """Fractions as percentages, ``mean ± sem``; a zero spread over seeds (every seed the same
    accuracy) says ``± 0.0%`` like the other rows; no ± only without a spread (one seed).

    >>> fmt_pct_pm(0.9731, 0.0042), fmt_pct_pm(0.5, 0.0), fmt_pct_pm(0.5, 0.05)
    ('97.31% ± 0.42%', '50.0% ± 0.0%', '50.0% ± 5.0%')
    >>> fmt_pct_pm(0.5, float("nan"))
    '50.0%'
    """
    if not math.isfinite(sem):
        return f"{100 * mean:.1f}%"
    if sem <= 0:
        return f"{100 * mean:.1f}% ± 0.0%"
    d = min(4, max(0, 1 - _exp10(100 * sem)))
    return f"{100 * mean:.{d}f}% ± {100 * sem:.{d}f}%"


def fmt_change(ratio: float) -> str:
    """A ratio to a reference in words.

    >>> fmt_change(0.7), fmt_change(1.0234), fmt_change(1.0)
    ('30.0% below', '2.3% above', 'equal')
    """
    diff = ratio - 1.0
    if abs(diff) < 5e-4:
        return "equal"
    return f"{abs(diff):.1%} {'below' if diff < 0 else 'above'}"


def bound_sentences(ratios: Mapping[str, float], reference: str, refined: str, optimum: str) -> str:
    """What a table of bound ratios (each schedule's bound over ``reference``'s) says.

    >>> print(bound_sentences({"lin": 1.0, "ref": 0.8, "opt": 0.75, "const": 1.4},
    ...                       "lin", "ref", "opt"))
    **Ref**'s bound is 20.0% below **lin**'s. The **opt** is 25.0% below **lin**'s, so refinement closes 80% of the gap. Worst here: **const**, 40.0% above **lin**'s.
    >>> print(bound_sentences({"lin": 1.0, "ref": 1.001, "opt": 0.925}, "lin", "ref", "opt"))
    **Ref**'s bound is no better than **lin**'s here (0.1% above); the **opt**'s 7.5% gain comes from following the noise in these norms step by step.
    """
    out = []
    r_ref, r_opt = ratios[refined], ratios[optimum]
    out.append(capitalised(f"**{refined}**'s bound is {_vs(r_ref, reference)}."))
    gap = 1.0 - r_opt
    if gap < 0.01:
        out.append(
            f"The **{optimum}** is only {_vs(r_opt, reference)}: with these norms there is "
            f"little to gain over **{reference}**."
        )
    elif r_ref >= 1.0 - 5e-4:
        out[-1] = capitalised(
            f"**{refined}**'s bound is no better than **{reference}**'s here "
            f"({fmt_change(r_ref)}); the **{optimum}**'s {fmt_change(r_opt).split()[0]} gain "
            "comes from following the noise in these norms step by step."
        )
    else:
        closed = (1.0 - r_ref) / gap
        out.append(
            f"The **{optimum}** is {_vs(r_opt, reference)}, so refinement closes "
            f"{closed:.0%} of the gap."
        )
    others = {k: v for k, v in ratios.items() if k not in (reference, refined, optimum)}
    if others:
        worst = max(others, key=others.get)
        out.append(f"Worst here: **{worst}**, {_vs(others[worst], reference)}.")
    return " ".join(out)


def capitalised(sentence: str) -> str:
    """``sentence`` with its first letter upper-case (markdown marks before it skipped): a
    sentence that opens with a schedule's name starts with a capital like any other.

    >>> capitalised("**refined**'s bound"), capitalised("1.5x more"), capitalised("")
    ("**Refined**'s bound", '1.5x more', '')
    """
    for i, ch in enumerate(sentence):
        if ch.isalpha():
            return sentence[:i] + ch.upper() + sentence[i + 1 :]
        if ch not in "*_`":
            break
    return sentence


def _vs(ratio: float, reference: str) -> str:
    change = fmt_change(ratio)
    return f"equal to **{reference}**'s" if change == "equal" else f"{change} **{reference}**'s"


def _compare(ratio: float) -> str:
    return "better than" if ratio < 0.9 else "worse than" if ratio > 1.1 else "about equal to"


def demo_verdict(
    measured: float, bound: float, diff: float, diff_sem: float, wins: int, seeds: int
) -> str:
    """What a teaching experiment showed: refined's final suboptimality over linear's, the
    paired per-seed difference (refined - linear, mean ± s.e.: within two standard errors
    counts as equal), the ratio the bound predicted (within 10% of 1 counts as equal), and
    whether the two agree.

    >>> print(demo_verdict(0.52, 0.75, -0.008, 0.001, 3, 3))
    **Measured:** refined ends at **0.52×** Linear decay's suboptimality: better than Linear decay (refined lower in 3 of 3 seeds; paired difference -0.0080 ± 0.0010). **The bound predicted 0.75×** (better than Linear decay): they agree.
    >>> print(demo_verdict(1.1, 1.0, 0.0007, 0.0005, 0, 3).split(": ")[1])
    about equal to Linear decay (refined lower in 0 of 3 seeds; paired difference (7.0 ± 5.0)e-04). **The bound predicted 1.0×** (about equal to Linear decay)
    """
    significant = math.isfinite(diff_sem) and abs(diff) > 2 * diff_sem
    m = ("better than" if diff < 0 else "worse than") if significant else "about equal to"
    b = _compare(bound)
    return (
        f"**Measured:** refined ends at **{fmt_sig(measured, 2)}×** {LINEAR}'s "
        f"suboptimality: {m} {LINEAR} (refined lower in {wins} of {seeds} seeds; paired "
        f"difference {fmt_pm(diff, diff_sem)}). **The bound predicted {fmt_sig(bound, 2)}×** "
        f"({b} {LINEAR}): {'they agree' if m == b else 'they disagree'}."
    )


def fold_change(early_over_late: float) -> str:
    """How a quantity moved, from the ratio of its early value to its late one.

    >>> fold_change(16.2), fold_change(0.31), fold_change(1.02)
    ('fell 16x', 'rose 3.2x', 'stayed within 5%')
    """
    if abs(early_over_late - 1) <= 0.05:
        return "stayed within 5%"
    if early_over_late > 1:
        return f"fell {fmt_sig(early_over_late, 2)}x"
    return f"rose {fmt_sig(1 / early_over_late, 2)}x"


def flat_start(steps, values, total_steps: int, rel: float = 1e-3) -> float:
    """Share of the run (by step) before ``values`` first fall more than ``rel`` (relative)
    below their first value: 0.6 means the run sat at its starting objective for 60% of it.

    >>> flat_start([0, 200, 400, 600, 800], [1.0, 1.0, 1.0, 0.9, 0.5], 1000)
    0.6
    >>> flat_start([0, 500], [1.0, 1.0], 1000)
    1.0
    """
    first = values[0]
    for step, v in zip(steps, values, strict=True):
        if v < first - rel * abs(first):
            return step / total_steps
    return 1.0


def first_at_zero(steps, values) -> int | None:
    """The first step where ``values`` (a suboptimality) reach exactly 0, else None.

    >>> first_at_zero([0, 100, 200], [1.0, 0.0, 0.0]), first_at_zero([0, 1], [1.0, 0.5])
    (100, None)
    """
    for step, v in zip(steps, values, strict=True):
        if v <= 0:
            return int(step)
    return None


def fmt_pct(x: float, sig: int = 3) -> str:
    """A fraction as a percentage with ``sig`` significant digits (at least 1 decimal).

    >>> fmt_pct(0.9631), fmt_pct(0.1)
    ('96.3%', '10.0%')
    """
    return f"{100 * x:.{max(1, sig - 1 - _exp10(100 * x) if x else 1)}f}%"


OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def optimizer_name(key: str) -> str:
    """The display name of an optimizer key (one spelling on every page).

    >>> optimizer_name("sgd"), optimizer_name("adamw")
    ('SGD', 'AdamW')
    """
    return OPTIMIZER_NAMES.get(key, key)


def shapes_sentence(peak_linear: float, peak_refined: float, max_gap: float) -> str:
    """What the shape chart of a demo shows: the peaks the grid picked, and how far apart
    the peak-normalised shapes are (``max_gap``: the largest difference, in units of the peak).

    >>> print(shapes_sentence(0.05, 0.025, 0.04))
    The grid picked different peak lrs (Linear decay 0.05, refined 0.025); divided by them, the shapes differ by at most 4% of the peak: nearly the same.
    >>> print(shapes_sentence(0.1, 0.1, 0.6))
    Both at peak lr 0.1; the shapes differ by up to 60% of the peak.
    """
    same = "nearly the same" if max_gap < 0.1 else None
    if peak_linear == peak_refined:
        head = f"Both at peak lr {peak_linear:.3g}; the shapes differ by"
    else:
        head = (
            f"The grid picked different peak lrs ({LINEAR} {peak_linear:.3g}, refined "
            f"{peak_refined:.3g}); divided by them, the shapes differ by"
        )
    if same:
        return f"{head} at most {max_gap:.0%} of the peak: {same}."
    return f"{head} up to {max_gap:.0%} of the peak."


def edge_sentence(peaks: Mapping[str, float], both: bool) -> str:
    """A best peak lr on the grid's edge after every extension, said for what it means.

    >>> print(edge_sentence({"Linear decay": 128.0, "refined": 128.0}, True))
    Best peak lr at the edge of the grid even after extending it: Linear decay (128), refined (128). Larger lrs kept helping, so this compares the schedules at the largest lr the grid reached, not each at its best: the ratio above depends on where the extension stopped.
    """
    listed = ", ".join(f"{n} ({fmt_sig(p)})" for n, p in peaks.items())
    out = f"Best peak lr at the edge of the grid even after extending it: {listed}. "
    if both:
        return out + (
            "Larger lrs kept helping, so this compares the schedules at the largest lr the grid "
            "reached, not each at its best: the ratio above depends on where the extension "
            "stopped."
        )
    return out + "That schedule's true best may lie outside the grid."
