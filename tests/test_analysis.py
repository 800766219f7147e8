"""lrcore.analyse: everything one view of a log needs, checked without Streamlit."""

import io
import re
import subprocess
import sys

import numpy as np
import pytest

from lrcore import analyse, compare_bounds, refine, stretch, summarize
from lrcore.analysis import default_steps, describe_fit
from lrcore.diagnose import diagnose_refined
from lrcore.fit import fit_family
from lrcore.logs import load_log


def csv_log(steps, norms) -> object:
    rows = "".join(f"{int(s)},{float(g)!r}\n" for s, g in zip(steps, norms, strict=True))
    buf = io.BytesIO(("step,grad_norm\n" + rows).encode())
    buf.name = "run.csv"
    return load_log(buf)


RNG = np.random.default_rng(0)
T = 2000
SOUND = np.exp(0.2 * RNG.normal(size=T)) * np.r_[np.linspace(3, 1, T // 4), np.ones(T - T // 4)]
COLLAPSE = np.geomspace(100, 1, T)


def test_every_number_is_the_library_function_s_own():
    log = csv_log(range(T), SOUND)
    a = analyse(log, tau=0.1, steps=3000, extras=("wsd",))
    shape = refine(SOUND, 0.1, "sgd")
    np.testing.assert_allclose(a.shape, shape)
    grid = stretch(shape, 3000)
    assert a.summary == summarize(grid)
    assert a.fit == fit_family(grid, "best")
    assert list(a.warnings) == diagnose_refined(shape, SOUND, tau=0.1) == []
    assert not a.degenerate and a.show_fit
    assert (a.steps, a.default_steps, a.optimizer) == (3000, T, "sgd")
    labels = ["refined", "Linear decay", "Cosine decay", "Constant", "Warmup-stable-decay"]
    assert a.table.schedule.tolist() == labels
    t = compare_bounds(
        {"refined": shape, "Linear decay": 1 - np.arange(T) / T}, SOUND, reference="Linear decay"
    )
    np.testing.assert_allclose(a.table.bound[:2], t.bound, rtol=1e-12)
    assert a.fit_sentence == f"**As a plain config:** {describe_fit(a.fit)}."
    assert f"halves at {100 * a.summary.half_fraction:.1f}%" in a.summary_sentence


def test_a_degenerate_refinement_puts_the_diagnostic_s_caveat_in_the_bound_sentence():
    a = analyse(csv_log(range(T), COLLAPSE))
    assert a.degenerate and a.warnings == tuple(diagnose_refined(refine(COLLAPSE), COLLAPSE))
    assert a.bound_sentence.startswith("**Caveat: the refined schedule looks degenerate")
    assert "does not mean it will train better" in a.bound_sentence
    sound = analyse(csv_log(range(T), SOUND))
    assert "Caveat" not in sound.bound_sentence
    assert sound.bound_sentence.startswith("The theory prefers")
    # a plain config of a degenerate shape carries the same caveat (it copies the shape)
    if a.show_fit:
        assert "**Caveat:** it copies a refined schedule that looks degenerate" in a.fit_sentence
    assert "Caveat" not in sound.fit_sentence


def test_a_plain_config_of_a_degenerate_refinement_carries_the_caveat():
    """Norms 1 / (1 + 10 p): diagnosed degenerate (the refined lr peaks at 71 % of the run),
    yet a warm-up + decay family fits the refined curve (R² about 0.97)."""
    fall = 1 / (1 + 10 * np.arange(T) / T)
    a = analyse(csv_log(range(T), fall))
    assert a.degenerate and a.show_fit, (a.warnings, a.fit.r2)
    assert a.fit_sentence.startswith(f"**As a plain config:** {describe_fit(a.fit)}. **Caveat:**")


def test_the_default_length_is_the_logged_run_s_whether_steps_start_at_0_or_later():
    assert default_steps(np.array([0, 5, 999]))[0] == 1000
    assert default_steps(np.array([5, 10, 1200]))[0] == 1200  # HF logs: steps 5, 10, ..., 1200
    a = analyse(csv_log(np.arange(5, 1201, 5), SOUND[:240]))
    assert a.steps == a.default_steps == 1200
    assert "steps start at 5, so the run had 1,200 steps" in a.default_steps_note


def test_a_long_log_is_analysed_on_evenly_spaced_points_and_downloads_use_every_point(
    monkeypatch,
):
    import lrcore.analysis

    monkeypatch.setattr(lrcore.analysis, "SAMPLE_POINTS", 500)
    log = csv_log(range(T), SOUND)
    a = analyse(log)
    idx = np.linspace(0, T - 1, 500).round().astype(int)
    assert a.sampled and a.points == T
    np.testing.assert_array_equal(a.computed_steps, idx)
    np.testing.assert_allclose(a.shape, refine(SOUND[idx]))
    np.testing.assert_allclose(a.full_values(log), refine(SOUND), atol=1e-15)


def test_the_numerical_optimum_is_a_lower_limit_with_its_caption():
    a = analyse(csv_log(range(300), SOUND[:300]), optimum=True)
    t = a.table.set_index("schedule")
    assert t.bound["numerical optimum"] <= t.bound["refined"] * (1 + 1e-9)
    assert a.bound_sentence.startswith("Of the schedules to use, the theory prefers")
    assert "is a lower limit" in a.optimum_caption
    assert analyse(csv_log(range(300), SOUND[:300])).optimum_caption is None


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"steps": 1}, "analyse: steps must be a whole number from 2 to 20,000,000, got 1"),
        ({"steps": 2.5}, "analyse: steps must be a whole number"),
        ({"extras": ("nope",)}, r"analyse: extras must be registry names .* got \['nope'\]"),
        ({"optimizer": "lion"}, "optimizer must be one of"),
        ({"tau": 2.0}, "tau"),
    ],
)
def test_bad_arguments_name_the_function_and_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        analyse(csv_log(range(50), SOUND[:50]), **kwargs)


def test_lrcore_inspect_prints_the_analysis(tmp_path, capsys):
    from lrcore.cli import main

    path = tmp_path / "run.csv"
    path.write_text(
        "step,grad_norm\n" + "".join(f"{i},{float(g)!r}\n" for i, g in enumerate(COLLAPSE))
    )
    assert main(["inspect", str(path)]) == 0
    out, err = capsys.readouterr()
    a = analyse(load_log(path))
    assert f"refined:  {a.summary_sentence}\n" in out
    assert f"next run: {a.steps:,} steps ({a.default_steps_note})\n" in out
    assert f"config:   {a.fit_sentence.replace('**', '')}\n" in out
    (bound,) = re.findall(r"^bound:    (.*)$", out, re.M)
    assert bound == a.bound_sentence.replace("**", "") and bound.startswith("Caveat:")
    assert err.count("warning: This refined schedule looks degenerate") == 1


def test_importing_the_analysis_loads_no_ui_or_torch():
    code = "import sys, lrcore; lrcore.analyse; print(sorted(m for m in ('torch', 'plotly', 'streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_schedules_and_the_registry_import_one_way_only():
    """lrcore.registry builds on lrcore.schedules; schedules neither imports nor re-exports it."""
    import ast
    from pathlib import Path

    import lrcore.schedules

    tree = ast.parse(Path(lrcore.schedules.__file__).read_text())
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not any("registry" in str(m) for m in imported), imported
    assert not hasattr(lrcore.schedules, "REGISTRY")
    assert not hasattr(lrcore.schedules, "build_schedule")
