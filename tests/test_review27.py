"""Found by issue 27's fresh-eyes round (files of its own): each case as the reviewer typed it."""

from __future__ import annotations

import os
import re
import stat

import numpy as np
import pytest

import lrcore
import lrcore.export
import lrcore.logs
from lrcore.cli import main
from lrcore.train import cost


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


@pytest.mark.parametrize("task", ["logreg", "svm"])
def test_peak_lr_1e300_at_the_default_steps_is_diverged(task, capsys):
    # 1,000 steps on separable digits: the objective fell to 0, the test loss reached 8e298,
    # and the run said "finished" (at 100 steps it said diverged)
    assert main(["run", "--task", task, "--peak-lr", "1e300"]) == 1
    out, err = capsys.readouterr()
    assert "diverged at step" in out and "finished" not in out
    assert "held-out loss became nan or inf, or ended over 1,000 times its start" in err


# ---- issue 27's second fresh-eyes round (files of its own), 04:32 UTC


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cost.duration(float("inf")), r"^duration: seconds must be a finite number >= 0, got inf$"),
        (lambda: cost.duration(-1), r"^duration: seconds must be a finite number >= 0, got -1$"),
        (lambda: cost.size(float("nan")), r"^size: nbytes must be a finite number >= 0, got nan$"),
        (lambda: lrcore.export.to_snippet([1.0, 0.5], max_error=float("nan")), r"^to_snippet: max_error must be a finite number > 0, got nan$"),
        (lambda: lrcore.export.to_csv(lrcore.linear_decay(1.0, 10), 0), r"^to_csv: total_steps must be > 0, got 0$"),
        (lambda: lrcore.export.to_json(lrcore.linear_decay(1.0, 10), 10**12), r"^to_json: total_steps must be at most 20,000,000"),
        (lambda: lrcore.export.to_snippet(lrcore.linear_decay(1.0, 10), 2.5), r"^to_snippet: total_steps must be"),
        (lambda: lrcore.refined_shape(np.array([])), r"^refined_shape: schedule needs at least 2 values, got 0$"),
    ],
)  # fmt: skip
def test_the_second_round_s_calls_name_themselves(call, message):
    # raised OverflowError, returned 'nan GB' or '1 s', accepted nan, or named evaluate /
    # diagnose_refined
    with pytest.raises(ValueError, match=message):
        call()
    assert cost.duration(np.float64(3.0)) == "3 s" and cost.size(np.int64(10)) == "1 MB"


def test_analyse_checks_tau_itself(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("step,grad_norm\n0,3\n1,2\n2,1\n3,1\n")
    for tau, said in ((float("nan"), "a finite number, got nan"), (5.0, "in [0, 1], got 5.0")):
        with pytest.raises(ValueError, match=rf"^analyse: tau must be {re.escape(said)}$"):
            lrcore.analyse(path, tau=tau)


def test_compare_rounds_are_bounded_before_the_estimate(capsys):
    # --rounds 100000 spent 31 s planning before its refusal; --rounds 0 printed an estimate
    for rounds in ("100000", "0"):
        assert main(["compare", "--rounds", rounds]) == 2
        err = capsys.readouterr().err
        assert f"compare: --rounds must be a whole number from 1 to 20, got {rounds}" in err
        assert "estimate" not in err


def test_a_refusal_names_kept_results_when_they_are_the_largest_part():
    # said "~101 GB ... its data take ~32 MB"
    from lrcore.train.config import RunConfig

    c = cost.estimate_compare(RunConfig(steps=2_000_000), 2, 3, refined_rounds=20, speed=1.0)
    assert c.largest().what in (
        "results of earlier runs, kept",
        "minibatch index and per-step record",
    )
    assert c.largest().nbytes > 0.3 * c.peak_bytes


def test_library_writers_never_replace_a_special_file(tmp_path):
    # lrcore.export.to_json(..., path="/dev/zero") as root renamed a JSON file over /dev/zero
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path, kind in ((fifo, r"a FIFO \(named pipe\)"), (tmp_path, "a folder")):
        for write, fn in ((lrcore.export.to_json, "to_json"), (lrcore.export.to_csv, "to_csv")):
            with pytest.raises(ValueError, match=rf"^{fn}: path .* is {kind}; name a regular file"):
                write([1.0, 0.5], path=path)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(ValueError, match=r"^log_to_csv: path .* is under /dev, /proc or /sys"):
        lrcore.export.log_to_csv([0, 1], [1.0, 2.0], path="/proc/self/comm")
    assert lrcore.export.to_csv([1.0, 0.5], path=os.devnull).startswith("step,lr")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_on_stdout_is_named():
    # printed only "lrcore: error: No space left on device"
    import subprocess
    import sys

    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "lrcore", "schedule", "linear", "--total-steps", "20"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert proc.stderr == (
        "lrcore: error: schedule linear: cannot write to standard output: No space left on device\n"
    )


def test_more_second_round_wording(tmp_path, capsys):
    # bound said "scale D or grad_norms" (API names); inspect said "empty.csv" for
    # ./adir/../empty.csv; a clipped tag name had no mark; compare_bounds({}) gave a table
    huge = tmp_path / "huge.csv"
    huge.write_text("step,grad_norm\n" + "".join(f"{i},1e308\n" for i in range(50)))
    assert main(["bound", str(huge)]) == 2
    err = capsys.readouterr().err
    assert "bound: norms from 1e+308 to 1e+308 are beyond what the bound can score" in err
    assert "scale D" not in err and "grad_norms" not in err
    (tmp_path / "adir").mkdir()
    (tmp_path / "empty.csv").write_text("")
    typed = str(tmp_path / "adir" / ".." / "empty.csv")
    assert main(["inspect", typed]) == 2
    assert capsys.readouterr().err == f"lrcore: error: {typed}: file is empty\n"
    from lrcore._validate import name_list

    assert name_list(["x" * 65]) == "'" + "x" * 59 + "…'"
    with pytest.raises(ValueError, match=r"^compare_bounds: shapes must be a non-empty dict"):
        lrcore.compare_bounds({}, [1.0, 1.0])
