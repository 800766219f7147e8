"""Found by issue 27's fresh-eyes round (files of its own): each case as the reviewer typed it."""

from __future__ import annotations

import numpy as np
import pytest

import lrcore
from lrcore.cli import main


def test_a_compare_whose_every_run_diverges_says_so(capsys):
    # printed pandas' 'Empty DataFrame' with exit 0
    argv = ["compare", "--schedules", "linear", "--seeds", "0", "--steps", "10"]
    assert main([*argv, "--peak-lrs", "1e308", "--no-extend"]) == 1
    out, err = capsys.readouterr()
    assert "Empty DataFrame" not in out
    assert "every run of linear diverged (peak lrs 1e+308)" in err and "--peak-lrs" in err


def test_negative_step_numbers_span_the_logged_steps(tmp_path, capsys):
    steps = np.arange(-1000, -700)
    g = 1 + np.random.default_rng(27).random(len(steps))
    path = tmp_path / "neg.csv"
    path.write_text(
        "step,grad_norm\n" + "".join(f"{s},{v}\n" for s, v in zip(steps, g, strict=True))
    )
    assert lrcore.analyse(path).default_steps == 300  # was 2
    assert main(["inspect", str(path)]) == 0
    assert "next run: 300 steps" in capsys.readouterr().out


def test_analyse_takes_a_path_and_names_what_it_refuses(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("step,grad_norm\n0,3\n1,2\n2,1\n")
    assert lrcore.analyse(str(path)).default_steps == 3  # was AttributeError on a str
    with pytest.raises(ValueError, match="analyse: log must be a GradNormLog"):
        lrcore.analyse(3.0)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--server.port", "99999"], "--server.port must be a whole number from 1 to 65535"),
        (["--server.port", "abc"], "--server.port must be a whole number from 1 to 65535"),
        (["--server.nonsense", "1"], "--server.nonsense is not a Streamlit setting"),
        (["--server.headless=maybe"], "--server.headless must be true or false"),
        (["stray"], "unexpected argument 'stray'"),
    ],
)
def test_app_refuses_streamlit_settings_in_our_words(capsys, args, said):
    # 99999 ended in Streamlit's bind() traceback; the others in Streamlit's own usage text
    assert main(["app", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrcore: error: app: ") and said in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("readme", "said"),
    [("newd/", "--readme newd/ is a folder"), ("nosuch.md", "--readme: cannot read nosuch.md")],
)
def test_study_readme_errors_name_the_option(tmp_path, monkeypatch, capsys, readme, said):
    monkeypatch.chdir(tmp_path)
    assert main(["study", "--smoke", "--readme", readme]) == 2
    assert said in capsys.readouterr().err
