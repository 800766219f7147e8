"""AppTest checks of the Learn page: what it shows is computed from what it shows."""

import re

import numpy as np
import pytest
from _apptest import app, assert_clean, charts
from scipy.ndimage import median_filter, percentile_filter

from lrcore import compare_bounds, optimal_schedule, refine
from lrcore.synthetic import synthetic_norms

PAGE = "app_pages/learn.py"


def bound_table(at) -> dict[str, float]:
    """The table's ratio to linear decay, by schedule, read from the text shown."""
    table = at.dataframe[0].value
    return {
        row.schedule: float(re.match(r"([\d.]+)×", row["bound vs Linear decay"]).group(1))
        for _, row in table.iterrows()
    }


def sentence(at) -> str:
    (text,) = [m.value for m in at.markdown if "'s bound is" in m.value]
    return text


@pytest.mark.parametrize(("shape", "noise"), [("flat", 0.2), ("rising", 0.0)])
def test_bound_table_and_its_sentence_agree_with_the_bound(shape, noise):
    at = app(PAGE)
    at.selectbox(key="learn_shape").set_value(shape)
    at.slider(key="learn_noise").set_value(noise).run()
    assert_clean(at)
    T = 1000
    g = synthetic_norms(shape, T, seed=0, noise=noise)
    t = np.arange(T)
    expected = compare_bounds(
        {
            "Linear decay": 1 - t / T,
            "refined": refine(g, 0.1, "sgd"),
            "numerical optimum": optimal_schedule(g),
            "Constant": np.ones(T),
        },
        g,
        reference="Linear decay",
    ).set_index("schedule")["vs_Linear decay"]
    shown = bound_table(at)
    for name, ratio in expected.items():
        assert shown[name] == pytest.approx(ratio, abs=6e-4), name  # shown with 3 decimals
    # the sentence under the table quotes the table's numbers (the 0.1% shown round the same)
    text = sentence(at)
    for each in re.split(r"(?<=\.) ", text):  # every sentence starts with a capital
        assert each.lstrip("*")[0].isupper(), each
    ref = shown["refined"]
    words = "below" if ref < 1 else "above"
    opt = expected["numerical optimum"]
    if ref >= 1 and 1 - opt >= 0.01:  # never "closes -2% of the gap"
        assert (
            f"**Refined**'s bound is no better than **Linear decay**'s here "
            f"({abs(1 - expected['refined']):.1%} above); the **numerical optimum**'s "
            f"{1 - opt:.1%} gain comes from following the noise"
        ) in text
        assert "of the gap" not in text
    else:
        assert f"**Refined**'s bound is {abs(1 - expected['refined']):.1%} {words}" in text
    if ref >= 1 and 1 - opt >= 0.01:
        pass
    elif 1 - opt >= 0.01:
        closed = (1 - expected["refined"]) / (1 - opt)
        assert f"closes {closed:.0%} of the gap" in text
    else:
        assert "little to gain" in text
    assert shown["Constant"] > 1  # constant is worse than linear decay in both settings
    # every row of the table is drawn, with the table's names (the registry's labels)
    assert set(shown) <= set(charts(at))


def test_flat_noiseless_norms_make_linear_decay_near_optimal_and_refined_equal():
    at = app(PAGE)
    at.selectbox(key="learn_shape").set_value("flat")
    at.slider(key="learn_noise").set_value(0.0).run()
    shown = bound_table(at)
    assert shown["refined"] == pytest.approx(1.0, abs=2e-3)
    assert 0.97 < shown["numerical optimum"] <= 1.0
    assert "little to gain" in sentence(at)


def test_the_numerical_optimum_is_plotted_at_its_best_scale():
    at = app(PAGE)
    assert_clean(at)
    traces = charts(at)
    assert {"refined", "Linear decay", "Cosine decay", "numerical optimum"} <= set(traces)
    T = 1000
    g = synthetic_norms("falling", T, seed=0, noise=0.2)
    t = np.arange(T)
    opt = optimal_schedule(g)
    table = compare_bounds(
        {"Linear decay": 1 - t / T, "numerical optimum": opt}, g, reference=None
    ).set_index("schedule")
    # each curve at the peak lr the bound picks for it, relative to linear decay's
    expected = opt / opt.max() * table.best_peak_lr["numerical optimum"]
    expected /= table.best_peak_lr["Linear decay"]
    # drawn legibly: its running median over 5% of the steps, the middle 80% shaded around it
    np.testing.assert_allclose(
        traces["numerical optimum"]["y"], median_filter(expected, 51, mode="nearest"), rtol=1e-4
    )
    band = np.asarray(traces["numerical optimum (middle 80%)"]["y"])
    hi, lo = (percentile_filter(expected, q, size=51, mode="nearest") for q in (90, 10))
    np.testing.assert_allclose(band, np.r_[hi, lo[::-1]], rtol=1e-4)
    assert traces["Linear decay"]["y"][0] == pytest.approx(1.0)
    # legends use the names of the table
    assert set(bound_table(at)) == {
        "Constant",
        "Cosine decay",
        "Linear decay",
        "refined",
        "numerical optimum",
    }


def test_constant_beating_cosine_is_explained_from_the_table():
    at = app(PAGE)  # falling norms (the default): constant's bound is below cosine's
    shown = bound_table(at)
    notes = [c.value for c in at.caption if "worst-case" in c.value]
    if shown["Constant"] < shown["Cosine decay"]:
        (note,) = notes
        assert f"**Constant** ({shown['Constant']:.3f}×) beats" in note
        assert f"**Cosine decay** ({shown['Cosine decay']:.3f}×)" in note
    else:
        assert not notes
    assert "worst case" in at.markdown[0].value or any("worst case" in m.value for m in at.markdown)


def test_the_notation_is_on_the_page():
    at = app(PAGE)
    notation = " ".join(m.value for m in at.expander[0].markdown)
    for symbol in ("$D$", "$S_k$", "$Q_k$", "$G_t$"):
        assert symbol in notation
    assert "from step $k$ on ($k$ included)" in notation  # S_k sums t >= k
