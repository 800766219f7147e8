"""Every CLI error in the user's words (issue 27 item 3): one line, exit 2, naming the option
or the file as typed; no third-party message or internal function name without lrcore's
sentence in front; no warning with its source line; no traceback."""

import json
import re

import pytest

from lrcore.cli import main

LOG = "sample_runs/logreg_digits_sgd.csv"
# what must never reach the user on its own: internal names, raw Python / numpy / pandas text
INTERNAL = re.compile(
    r"Traceback|Warning:|build_schedule|RunConfig|random_state|train_test_split|invalid literal"
    r"|IndexError|genfromtxt|tokenizing|codec can.t|ufunc|lm_heads|total_steps|On entry to"
)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "notcsv.csv").write_bytes(b'a,b\n1,2,3,4\n"x\n')
    (tmp_path / "text.txt").write_text("hello world\nthis is not a log\n")
    (tmp_path / "nanlr.csv").write_text("step,lr\n0,nan\n1,0.5\n")
    (tmp_path / "strlr.csv").write_text("step,lr\n0,abc\n1,0.5\n")
    (tmp_path / "onelr.csv").write_text("step,lr\n0,0.5\n")
    (tmp_path / "folder").mkdir()
    log = tmp_path / "log.csv"
    log.write_bytes((__import__("pathlib").Path(__file__).parents[1] / LOG).read_bytes())
    return tmp_path


LOG_CASES = [
    (["refine", "log.csv", "--steps", "30000000"], "--steps"),
    (["refine", "log.csv", "--steps", "abc"], "--steps"),
    (["refine", "log.csv", "--tau", "nan"], "--tau"),
    (["refine", "log.csv", "--peak-lr", "1e-320"], "--peak-lr"),
    (["refine", "empty.csv"], "empty.csv"),
    (["refine", "bin.csv"], "bin.csv"),
    (["refine", "notcsv.csv"], "notcsv.csv"),
    (["refine", "folder"], "folder"),
    (["inspect", "log.csv", "--steps", "-1"], "--steps"),
    (["inspect", "missing.csv"], "missing.csv"),
    (["bound", "log.csv", "--schedules", "foo"], "--schedules"),
    (["bound", "log.csv", "--tau", "2"], "--tau"),
    (["schedule", "linear", "--total-steps", "30000000"], "--total-steps"),
    (["schedule", "linear", "--total-steps", "nan"], "--total-steps"),
    (["schedule", "linear", "--total-steps", "10", "--warmup-steps", "nan"], "--warmup-steps"),
    (["schedule", "piecewise", "--total-steps", "10", "--values", "1"], "--boundaries"),
    (["schedule", "join", "--total-steps", "10", "--schedules", "a,b"], "--schedules"),
    (["schedule", "join", "--total-steps", "10", "--schedules", "linear"], "--schedules"),
    (
        ["schedule", "cosine_restarts", "--total-steps", "10", "--num-cycles", "1" + "0" * 20],
        "--num-cycles",
    ),
    (["app", "--port", "0"], "--port"),
    (["app", "--port", "abc"], "--port"),
]

TRAIN_CASES = [
    (["run", "--steps", "30000000"], "--steps"),
    (["run", "--steps", "1"], "--steps"),
    (["run", "--seed", "4294967296"], "--seed"),
    (["run", "--seed", "-1"], "--seed"),
    (["run", "--task", "lm", "--lm-heads", "3"], "--lm-heads"),
    (["run", "--task", "lm", "--lm-order", "1" + "0" * 20], "--lm-order"),
    (["run", "--task", "lm", "--lm-vocab", "1000"], "--lm-vocab"),
    (["run", "--task", "lm", "--lm-alpha", "inf"], "--lm-alpha"),
    (["run", "--momentum", "nan"], "--momentum"),
    (["run", "--batch-size", "0"], "--batch-size"),
    (["run", "--noise-scale", "-1"], "--noise-scale"),
    (["run", "--warmup-steps", "5000"], "--steps"),
    (["run", "--peak-lr", "0"], "--peak-lr"),
    (["run", "--schedule", "empty.csv"], "--schedule empty.csv"),
    (["run", "--schedule", "bin.csv"], "--schedule bin.csv"),
    (["run", "--schedule", "notcsv.csv"], "--schedule notcsv.csv"),
    (["run", "--schedule", "text.txt"], "--schedule text.txt"),
    (["run", "--schedule", "nanlr.csv"], "--schedule nanlr.csv"),
    (["run", "--schedule", "strlr.csv"], "--schedule strlr.csv"),
    (["run", "--schedule", "onelr.csv"], "--schedule onelr.csv"),
    (["run", "--schedule", "folder"], "--schedule folder"),
    (["run", "--schedule", "/dev/null"], "--schedule /dev/null"),
    (["run", "--schedule", "nope"], "--schedule nope"),
    (["compare", "--seeds", "a,b"], "--seeds"),
    (["compare", "--seeds", "1,1"], "--seeds"),
    (["compare", "--seeds", "0,,1"], "--seeds"),
    (["compare", "--seeds", "4294967296"], "--seeds"),
    (["compare", "--peak-lrs", "0,1"], "--peak-lrs"),
    (["compare", "--peak-lrs", "nan"], "--peak-lrs"),
    (["compare", "--schedules", "linear,empty.csv"], "--schedules empty.csv"),
    (["compare", "--schedules", "linear,,cosine"], "--schedules"),
    (["compare", "--rounds", "0"], "--rounds"),
    (["compare", "--tau", "2"], "--tau"),
    (["compare", "--dask", "abc"], "--dask"),
    (["study", "--dask", "tcp://host:99999"], "--dask"),
    (["study", "--seeds", "1"], "--seeds"),
    (["study", "--jobs", "0"], "--jobs"),
    (["study", "--readme", ""], "--readme"),
    (["study", "--readme", "bin.csv"], "--readme bin.csv"),
    (["study", "--readme", "text.txt"], "text.txt"),
    (["study", "--readme", "empty.csv"], "empty.csv"),  # a file name, not the option --csv
    (["study", "--csv", "folder"], "--csv folder"),
    (["study", "--pickle", ""], "--pickle"),
    (["study", "--jobs", "100000"], "--jobs"),
]


def _check(argv, named, capsys):
    assert main(argv) == 2, argv
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if not ln.startswith("estimate: ")]
    assert len(lines) == 1 and lines[0].startswith("lrcore: error: "), err
    assert named in lines[0], (named, lines[0])
    assert not INTERNAL.search(err), err


@pytest.mark.parametrize("argv,named", LOG_CASES, ids=[" ".join(a) for a, _ in LOG_CASES])
def test_an_error_names_the_option_or_file_as_typed(argv, named, files, capsys):
    _check(argv, named, capsys)


@pytest.mark.parametrize("argv,named", TRAIN_CASES, ids=[" ".join(a) for a, _ in TRAIN_CASES])
def test_a_training_error_names_the_option_or_file_as_typed(argv, named, files, capsys):
    pytest.importorskip("torch")
    _check(argv, named, capsys)


def test_another_package_s_message_comes_after_lrcore_s_sentence(monkeypatch, capsys):
    from lrcore import cli

    def third_party(args):
        json.loads("{")  # the standard library's own ValueError, raised inside json

    def bug(args):
        return [][1]

    monkeypatch.setitem(cli.COMMANDS, "inspect", third_party)
    assert main(["inspect", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrcore: error: inspect: an input was refused inside json, not by ")
    monkeypatch.setitem(cli.COMMANDS, "inspect", bug)
    assert main(["inspect", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrcore: error: inspect: unexpected error (please report")
    assert err.rstrip().endswith("IndexError: list index out of range")


def test_a_library_function_s_name_gives_way_to_the_command(files, monkeypatch, capsys):
    from lrcore import cli
    from lrcore.logs import load_log
    from lrcore.registry import build_schedule

    def lib(args):  # build_schedule's own sentence names itself and its parameters
        build_schedule("piecewise", 10, boundaries="0.2,0.5", values="1")

    monkeypatch.setitem(cli.COMMANDS, "inspect", lib)
    assert main(["inspect", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrcore: error: inspect: piecewise needs one more value than ")
    # a file the user named keeps its name, even one that reads like a function's
    monkeypatch.setitem(cli.COMMANDS, "inspect", lambda args: load_log(args.log))
    assert main(["inspect", "mylog"]) == 2
    assert capsys.readouterr().err.startswith("lrcore: error: mylog: ")


def test_a_good_schedule_file_still_trains(files, capsys):
    pytest.importorskip("torch")
    (files / "good.csv").write_text("step,lr\n" + "".join(f"{i},{1 - i / 10}\n" for i in range(10)))
    assert main(["run", "--schedule", "good.csv", "--steps", "20", "--eval-every", "10"]) == 0
    assert "custom" in capsys.readouterr().out


def test_warnings_are_one_line_without_a_source_line(monkeypatch, capsys):
    import io
    import warnings

    import numpy as np
    import pandas as pd

    from lrcore import cli

    def noisy(args):
        warnings.simplefilter("always")
        np.array([1e308]) * 10  # numpy: overflow encountered in multiply
        pd.read_csv(io.StringIO("a,b\n1,2\n"), sep=None)  # pandas' ParserWarning
        warnings.warn("a warning raised here", stacklevel=1)
        return 0

    monkeypatch.setitem(cli.COMMANDS, "inspect", noisy)
    assert main(["inspect", "x.csv"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "warning: a computation overflowed or lost precision (numpy: overflow encountered in "
        "multiply)",
        "warning: (from pandas) Falling back to the 'python' engine because the 'c' engine does "
        "not support sep=None; you can avoid this warning by specifying engine='python'.",
        "warning: (from test_cli_errors) a warning raised here",
    ]


@pytest.mark.parametrize(
    "name,value",
    [("LRCORE_WORKERS", "two"), ("LRCORE_WORKERS", "-1"), ("LRCORE_SESSION_RUNS", "0")],
)
def test_app_refuses_a_bad_pool_setting_before_it_starts_the_server(
    name, value, monkeypatch, capsys
):
    """A bad value broke See it work and Train with Streamlit's error box once the server ran;
    `lrcore app` says it first (and never starts Streamlit: os.execv would replace this test)."""
    from lrcore import cli

    monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli.os, "execv", lambda *a: pytest.fail("the server was started"))
    assert main(["app"]) != 0
    err = capsys.readouterr().err
    assert f"environment variable {name} must be an integer" in err and repr(value) in err
    assert "Traceback" not in err
