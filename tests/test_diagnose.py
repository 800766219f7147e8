import numpy as np
import pytest

from lrcore import refine
from lrcore.cli import main
from lrcore.diagnose import diagnose_refined, refined_shape
from lrcore.logs._write import write_log
from lrcore.synthetic import synthetic_norms

T = 1000
t = np.arange(T)


@pytest.mark.parametrize(
    "norms",
    [
        np.ones(T),  # refined = linear decay
        1 + 4 * np.exp(-t / 30),  # large early norms: a short warm-up, then decay
        np.linspace(1, 3, T),  # norms that grow late: early peak, fast anneal
        np.random.default_rng(0).lognormal(0, 0.3, T),  # noisy but flat
    ],
)
def test_paper_like_refinements_get_no_warning(norms):
    shape = refine(norms)
    s = refined_shape(shape, grad_norms=norms)
    assert s.peak_fraction <= 0.1 or s.above_half_fraction >= 0.2
    assert s.peak_fraction <= 0.5 and s.norm_fall < 10
    assert diagnose_refined(shape, norms) == []


def test_late_rising_norms_anneal_fast_without_a_warning():
    norms = np.linspace(1, 3, T)  # high for 11 % of the run, right at the start: not a spike
    s = refined_shape(refine(norms))
    assert s.peak_fraction == 0 and s.above_half_fraction < 0.2
    assert diagnose_refined(refine(norms), norms) == []


def test_collapsing_norms_are_diagnosed_with_numbers_from_the_schedule():
    norms = np.geomspace(100, 1, T)
    shape = refine(norms)
    (w,) = diagnose_refined(shape, norms)
    s = refined_shape(shape, grad_norms=norms)
    assert s.peak_fraction > 0.5 and s.above_half_fraction < 0.2 and s.norm_fall > 10
    assert f"peaks at {s.peak_fraction:.0%} of the run" in w
    assert f"for only {s.above_half_fraction:.0%} of the run" in w
    assert f"fall {s.norm_fall:.3g}x" in w
    assert "Likely cause" in w and "refine again" in w


def test_each_finding_alone_triggers_a_warning():
    late = np.r_[np.zeros(60), np.linspace(0, 1, 40)[1:], 0.0]  # peak at 99 %, above half 20 %
    (w,) = diagnose_refined(late)
    assert "peaks at" in w and "above half its peak" not in w
    narrow = np.r_[np.full(30, 0.1), 1.0, np.full(69, 0.1), 0.0]  # a spike at 30 %
    (w,) = diagnose_refined(narrow)
    assert "peaks at" not in w and "for only 1% of the run" in w
    falling = np.geomspace(50, 1, T)  # norms that fall 50x, whatever the schedule
    shape = np.linspace(1, 0, T)
    (w,) = diagnose_refined(shape, falling)
    assert "peaks at" not in w and "fall " in w


def test_steps_measure_the_run_not_the_points():
    # points logged densely early and sparsely late: the peak is the 91st of 100 points but
    # sits at step 100 of 1,000
    steps = np.r_[np.arange(90), np.arange(100, 1001, 100)]
    shape = np.r_[np.linspace(0.1, 0.5, 90), 1.0, np.linspace(0.8, 0, 9)]
    assert refined_shape(shape).peak_fraction == pytest.approx(90 / 99, abs=0.01)
    assert refined_shape(shape, steps=steps).peak_fraction == pytest.approx(0.1, abs=0.001)


def test_cli_prints_one_warning_line_for_degenerate_logs_only(tmp_path, capsys):
    bad = tmp_path / "collapse.csv"
    write_log(bad, np.arange(T), np.geomspace(100, 1, T), "csv")
    good = tmp_path / "good.csv"
    write_log(good, np.arange(T), synthetic_norms("llm", T, seed=0), "csv")
    for cmd in (["inspect"], ["refine", "--steps", "100", "--out", str(tmp_path / "o.csv")]):
        assert main([*cmd, str(bad)]) == 0
        err = capsys.readouterr().err
        assert len([x for x in err.splitlines() if x.startswith("warning: ")]) == 1, err
        assert main([*cmd, str(good)]) == 0
        assert "warning:" not in capsys.readouterr().err
