"""Small helpers the pages share: labels, axes, download buttons, error lines, constants.
Nothing here computes an analysis (lrcore does, through :mod:`cached`) or holds state
(:mod:`state` does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lrcore import REGISTRY
from lrcore.analysis import fmt_pct  # noqa: F401 - the pages' percent format
from lrcore.logs import LogError
from lrcore.refine import evenly_spaced

MAX_STEPS = 20_000_000  # 160 MB of lrs; beyond that the browser session would be the problem
FEW_STEPS = 10  # a next run shorter than this gets a warning
LOG_Y_SPAN = 50  # norms spanning more than this factor are drawn on a log y axis by default

DISPLAY_POINTS = 4000  # schedules are drawn from this many points; downloads use every step


def display_steps(total_steps: int, n: int = DISPLAY_POINTS) -> np.ndarray:
    """At most ``n`` integer steps spread over ``0 .. total_steps - 1`` (ends included).

    >>> display_steps(10, 4).tolist()
    [0, 3, 6, 9]
    """
    return evenly_spaced(total_steps, n)


def median_scale(medians: list[float]) -> float:
    """How far apart the medians of several series are (largest / smallest; 1 for one).

    >>> median_scale([2.0, 40.0])
    20.0
    """
    low = min(medians)
    return max(medians) / low if low > 0 else float("inf")


def norm_span(ranges: list[tuple[float, float]]) -> float:
    """Largest norm over the smallest, over the ``(min, max)`` of every log (1 when no
    minimum is positive).

    >>> norm_span([(1.0, 2.0), (0.5, 200.0)])
    400.0
    """
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    return float(hi / lo) if lo > 0 and np.isfinite(hi / lo) else 1.0


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


def schedule_label(name: str) -> str:
    """A schedule name as the pickers show it: its registry label (other names as given).

    >>> schedule_label("cosine"), schedule_label("refined")
    ('Cosine decay', 'refined')
    """
    return REGISTRY[name].label if name in REGISTRY else name


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


def error_text(e: BaseException) -> str:
    """One line for the page: the message, with the kind of error when it is not a ValueError."""
    msg = str(e) or type(e).__name__
    if not isinstance(e, ValueError | LogError):
        msg = f"{type(e).__name__}: {msg}"
    return msg[:1000]


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
