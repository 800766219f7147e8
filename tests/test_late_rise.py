"""lrcore.late_rise: the late-rise ratio, where it rises, the loss drop beside it, the warning."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcore.late_rise import RISE_WARN, LateRise, diagnose_late_rise, late_rise

T = 1000
P = np.linspace(0, 1, T)


def _rise(at: float, factor: float, width: float = 0.2, seed: int = 0, sd: float = 0.1):
    """Flat norms that rise ``factor``-fold around ``at`` (a logistic step), with noise."""
    trend = 1 + (factor - 1) / (1 + np.exp(-(P - at) / (width / 8)))
    return trend * np.exp(sd * np.random.default_rng(seed).standard_normal(T))


def test_ratio_is_last_tenth_over_mid_run_by_step():
    g = np.r_[np.full(400, 5.0), np.full(200, 2.0), np.full(300, 3.0), np.full(100, 8.0)]
    assert late_rise(g).ratio == pytest.approx(4.0)
    # the same run logged every 10th step: the same ratio (windows are by step, not by point)
    steps = np.arange(0, T, 10)
    assert late_rise(g[steps], steps=steps).ratio == pytest.approx(4.0)


def test_rise_at_follows_the_rise_and_the_loss_drop_with_it():
    for at in (0.65, 0.8):
        g = _rise(at, 6.0)
        loss = 2.6 - 0.6 / (1 + np.exp(-(P - at) / 0.025))
        r = late_rise(g, loss=loss)
        assert r.ratio == pytest.approx(6.0, rel=0.1)
        assert r.rise_at == pytest.approx(at, abs=0.05)
        assert r.loss_drop_at == pytest.approx(at, abs=0.05)
        assert r.coincides is True
    # the loss drops early, the norms rise late: they do not coincide
    r = late_rise(_rise(0.8, 6.0), loss=2.6 - 0.6 / (1 + np.exp(-(P - 0.3) / 0.025)))
    assert r.coincides is False
    assert late_rise(_rise(0.8, 6.0)).coincides is None  # no loss logged: unknown


def test_a_flat_or_falling_log_has_no_rise_and_no_warning():
    for g in (np.exp(0.2 * np.random.default_rng(3).standard_normal(T)), np.geomspace(10, 1, T)):
        r = late_rise(g)
        assert r.ratio < 1.25 and r.rise_at is None
        assert diagnose_late_rise(r) == []


def test_warning_from_the_threshold_on_with_what_and_what_to_do():
    just_below = LateRise(RISE_WARN * 0.99, 0.7)
    assert diagnose_late_rise(just_below) == []
    (w,) = diagnose_late_rise(late_rise(_rise(0.7, 8.0), loss=2.6 - 0.6 * (P > 0.7)))
    assert re.match(
        r"The gradient norms rise (7\.[5-9]\d?|8(\.[0-4]\d?)?)x from mid-run to the last tenth", w
    )
    assert "training loss falls" in w and "Keep linear decay" in w
    assert "lrcore's study" in w


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="late_rise"):
        late_rise([1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match="steps has 2 values but the series has 3"):
        late_rise([1.0, 2.0, 3.0], steps=[0, 1])
    with pytest.raises(ValueError, match="at least 2 values"):
        late_rise([1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        late_rise([1.0, 2.0, 3.0], steps=[0, 2, 1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(min_value=1e-300, max_value=1e300, allow_nan=False), min_size=2, max_size=300
    ),
    st.floats(min_value=1e-6, max_value=1e6),
)
def test_the_ratio_is_finite_positive_and_scale_free(norms, scale):
    g = np.asarray(norms)
    with np.errstate(all="ignore"):
        r = late_rise(g)
        ok = np.all((g * scale > 1e-290) & (g * scale < 1e290)) and r.ratio < 1e290
    assert np.isfinite(r.ratio) and r.ratio > 0
    assert r.rise_at is None or 0.1 <= r.rise_at <= 1
    if ok:
        assert late_rise(g * scale).ratio == pytest.approx(r.ratio, rel=1e-9)


def test_the_warning_quotes_the_study_as_docs_results_csv_has_it():
    """lrcore.late_rise.STUDY and RISE_WARN against the committed study (protocol v4.5)."""
    from pathlib import Path

    import pandas as pd

    from lrcore.late_rise import STUDY

    t = pd.read_csv(Path(__file__).parents[1] / "docs" / "results.csv")
    row = t[(t.problem == STUDY["problem"]) & (t.schedule == "refined")].iloc[0]
    assert row.late_rise == pytest.approx(STUDY["rise"], abs=0.005)
    assert row.loss_drop == pytest.approx(STUDY["loss_drop"], abs=0.005)
    assert bool(row.rise_with_loss_drop)
    assert row.diff_vs_linear_mean == pytest.approx(STUDY["worse_by"], abs=0.0005)
    assert row.diff_vs_linear_sem == pytest.approx(STUDY["worse_se"], abs=0.0005)
    assert row.diff_vs_linear_mean / row.linear_score_mean == pytest.approx(
        STUDY["times_linear"], abs=0.05
    )
    assert row.outcome == "clearly worse" and row.p_holm == pytest.approx(STUDY["holm_p"], rel=0.05)
    n, better = int(row.n_scoring_seeds), int(row.seeds_better_than_linear)
    assert STUDY["seeds_worse"] == f"{n - better} of {n}"
    # v4.5: the smallest late rise among the lm regimes where refined is clearly worse,
    # rounded down to one significant figure, never below 2
    lost = t[(t.task == "lm") & (t.schedule == "refined") & (t.outcome == "clearly worse")]
    smallest = float(lost.late_rise.min())
    scale = 10 ** np.floor(np.log10(smallest))
    assert max(2.0, np.floor(smallest / scale) * scale) == RISE_WARN
    # the rising-noise problems: rise and gain as the warning quotes them
    noise = t[t.problem.str.contains("noise=rise") & (t.schedule == "refined")]
    assert (noise.outcome == "clearly better").all()
    lo, hi = STUDY["noise_rise"]
    assert noise.late_rise.min() == pytest.approx(lo, abs=0.05)
    assert noise.late_rise.max() == pytest.approx(hi, abs=0.05)
    gain = -noise.diff_vs_linear_mean / noise.linear_score_mean
    assert gain.min() == pytest.approx(STUDY["noise_gain"][0], abs=0.005)
    assert gain.max() == pytest.approx(STUDY["noise_gain"][1], abs=0.005)
    assert not noise.rise_with_loss_drop.any()


def test_the_readme_intro_quotes_the_same_numbers():
    from pathlib import Path

    from lrcore.late_rise import STUDY

    intro = (Path(__file__).parents[1] / "README.md").read_text().split("## ")[0]
    intro = " ".join(intro.split())
    lo, hi = STUDY["noise_gain"]
    assert f"by {100 * lo:.0f}-{100 * hi:.0f} % of linear's" in intro
    assert f"rising {STUDY['noise_rise'][0]:.2g}-{STUDY['noise_rise'][1]:.2g}x" in intro
    assert (
        f"rise {STUDY['rise']:.3g}x late while its loss falls {100 * STUDY['loss_drop']:.0f} %"
        in intro
    )
    assert f"loses {STUDY['worse_by']:.2g} nats/token ({STUDY['times_linear']:.2g} times" in intro
    assert f"{STUDY['seeds_worse']} scoring seeds worse" in intro
