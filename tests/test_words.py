"""The number formatting and sentences of app/words.py, and the log-axis ticks of charts."""

import doctest
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "app"))
import charts  # noqa: E402
import presets  # noqa: E402
import words  # noqa: E402


@pytest.mark.parametrize("module", [words, presets])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(
    ("mean", "sem", "text"),
    [
        (0.0008031, 0.0000021, "(8.031 ± 0.021)e-04"),  # was "0.0008 ± 0.0000"
        (0.41372, 0.0123, "0.414 ± 0.012"),
        (12345.6, 78.9, "(1.2346 ± 0.0079)e+04"),
        (2.0, 0.5, "2.00 ± 0.50"),
        (1.5, float("nan"), "1.500"),
    ],
)
def test_fmt_pm_keeps_the_digits_the_error_allows(mean, sem, text):
    assert words.fmt_pm(mean, sem) == text


def test_sentences_follow_the_numbers():
    s = words.bound_sentences({"L": 1.0, "R": 1.2, "O": 0.995, "C": 1.3}, "L", "R", "O")
    assert s.startswith("**R**'s bound is 20.0% above **L**'s") and "little to gain" in s
    assert "Worst here: **C**, 30.0% above" in s


@pytest.mark.parametrize("refined_ratio", [0.8, 1.001])  # closes the gap / no better
def test_bound_sentences_start_with_a_capital(refined_ratio):
    ratios = {"Linear decay": 1.0, "refined": refined_ratio, "numerical optimum": 0.75}
    s = words.bound_sentences(ratios, "Linear decay", "refined", "numerical optimum")
    assert s.startswith("**Refined**'s bound is ")  # was "**refined**'s", mid-page lowercase
    assert "**refined**" not in s  # the name appears only at the sentence's start
    for sentence in s.split(". "):
        assert sentence.lstrip("*")[0].isupper(), sentence


@pytest.mark.parametrize(
    ("low", "high", "labels"),
    [
        (0.1, 2.3, ["0.1", "0.2", "0.5", "1", "2"]),
        (1e-4, 0.1, ["0.0001", "0.001", "0.01", "0.1"]),
        (0.5, 0.9, ["0.5", "0.6", "0.7", "0.8", "0.9"]),
        (2.12, 10.7, ["3", "4", "5", "6", "7", "8", "10"]),
    ],
)
def test_log_ticks_are_labelled_with_their_values(low, high, labels):
    vals, text = charts.log_ticks(low, high)
    assert text == labels
    assert all(low * 0.999 <= v <= high * 1.001 for v in vals)


def test_log_axis_of_a_loss_curve_shows_full_values():
    t = np.arange(100)
    fig = charts.line_figure([charts.Curve("l", t, 2.0 * 0.05 ** (t / 99))], "", "", "", log_y=True)
    assert list(fig.layout.yaxis.ticktext) == ["0.1", "0.2", "0.5", "1", "2"]
