"""Found by issue 27's fresh-eyes round (files of its own): each case as the reviewer typed it."""

from __future__ import annotations

import numpy as np
import pytest

import lrcore
import lrcore.export
import lrcore.logs
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


def test_a_tensorboard_folder_read_as_csv_says_what_it_is(tmp_path, capsys):
    # said "tbdir: file holds only whitespace"
    from lrcore.logs._write import write_log

    folder = write_log(tmp_path / "tbdir", np.arange(20), np.linspace(2, 1, 20), "tensorboard")
    assert main(["refine", str(folder), "--fmt", "csv"]) == 2
    err = capsys.readouterr().err
    assert "tbdir: a folder of TensorBoard event files, which cannot be read as plain CSV" in err
    assert "read it as 'tensorboard' or let the format be detected" in err
    event = next(folder.glob("*tfevents*"))
    with pytest.raises(lrcore.logs.LogError, match=r": a TensorBoard event file, which cannot"):
        lrcore.logs.load_log(event, fmt="wandb")
    assert lrcore.logs.load_log(folder, fmt="tensorboard").fmt == "tensorboard"


def test_schedule_total_steps_range_is_the_one_it_needs(capsys):
    # said "from 1 to 20,000,000" and then "schedule needs at least 2 values, got 1"
    assert main(["schedule", "linear", "--total-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "--total-steps must be a whole number from 2 to 20,000,000, got 1" in err
    assert main(["schedule", "linear", "--total-steps", "2"]) == 0


def test_out_with_a_slash_on_a_device_or_file_names_the_folder_rule(tmp_path, capsys):
    # said "--out /dev/null/ is a character device; name a regular file"
    plain = tmp_path / "afile"
    plain.write_text("keep")
    for out, kind in (("/dev/null/", "a character device"), (f"{plain}/", "a file")):
        assert main(["run", "--steps", "5", "--out", out]) == 2
        err = capsys.readouterr().err
        assert f"--out {out} ends with '/', so it names a folder, but" in err
        assert f"is {kind}; name a folder to save the run in" in err
    assert plain.read_text() == "keep"


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: lrcore.last_iterate_bound([1.0, float("nan")], 1.0), "last_iterate_bound"),
        (lambda: lrcore.export.to_csv([1.0, float("nan")]), "to_csv"),
        (lambda: lrcore.export.to_json([1.0, 0.5], total_steps=5), "to_json"),
        (lambda: lrcore.export.to_csv(lambda t: 1.0), "to_csv"),
        (lambda: lrcore.export.to_json([1.0, 2.0], peak_lr=1e308), "to_json"),
        (lambda: lrcore.export.csv_bytes([1.0, -1.0]), "csv_bytes"),
    ],
)
def test_errors_name_the_function_the_user_called(call, name):
    # said "bound_terms:", "as_values:", "csv_bytes:" or "json_bytes:" (functions called inside)
    with pytest.raises(ValueError, match=rf"^{name}: "):
        call()
