"""CLI conventions (issue 17): every option of every command has help that shows its
default (or says it is required), choices are listed, and errors name the user's option,
not a library function."""

import argparse
import io
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest

from lrcore.cli import _HelpFormatter, build_parser, main


def _parsers(parser, path=("lrcore",)):
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


PARSERS = list(_parsers(build_parser()))


def test_the_walk_reaches_every_command():
    names = {name for name, _ in PARSERS}
    assert {"lrcore refine", "lrcore inspect", "lrcore bound", "lrcore schedule wsd"} <= names
    pytest.importorskip("torch")
    assert {"lrcore run", "lrcore compare", "lrcore study"} <= names


@pytest.mark.parametrize("name,parser", PARSERS, ids=[n for n, _ in PARSERS])
def test_every_option_has_help_and_shows_its_default(name, parser):
    helped = 0
    for action in parser._actions:
        if not action.option_strings or action.default is argparse.SUPPRESS:
            continue  # positionals (named in the usage), --help, --version
        opt = max(action.option_strings, key=len)
        assert action.help and action.help.strip(), f"{name} {opt}: no help"
        text = _HelpFormatter(name)._expand_help(action)
        assert "default" in text or "(required)" in text, f"{name} {opt}: {text!r}"
        if (
            action.default is not None
            and "%(default)" not in action.help
            and ("default" not in action.help)
        ):
            assert f"(default: {action.default})" in text
        helped += 1
    # and the rendered --help carries it: one '(default' or '(required)' per option
    rendered = " ".join(parser.format_help().split())
    assert rendered.count("default") + rendered.count("(required)") >= helped


@pytest.mark.parametrize("name,parser", PARSERS, ids=[n for n, _ in PARSERS])
def test_choices_are_listed_in_the_help(name, parser):
    rendered = parser.format_help()
    for action in parser._actions:
        if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
            shown = "{" + ",".join(map(str, action.choices)) + "}"
            assert shown in rendered, (name, action.dest)


def test_fmt_lists_its_choices():
    from lrcore.cli import _FORMAT_NAMES
    from lrcore.logs import FORMATS

    assert list(_FORMAT_NAMES) == sorted(FORMATS)  # the CLI's copy is every format

    text = " ".join(_run(["refine", "--help"])[0].split())
    assert "--fmt {" + ",".join(sorted(FORMATS)) + "}" in text
    assert "(default: detected;" in text


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return out.getvalue(), err.getvalue(), code


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,grad_norm_l2\n" + "".join(f"{i},{1 / (i + 1)}\n" for i in range(20)))
    return str(path)


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["refine", "{log}", "--fmt", "xx"],
            "lrcore: error: refine: argument --fmt: invalid choice: 'xx' (choose from 'csv',",
        ),
        (
            ["schedule", "cosine", "--total-steps", "10", "--warmup-steps", "20"],
            "lrcore: error: schedule: --warmup-steps must be < --total-steps (10), got 20\n",
        ),
        (
            ["schedule", "cosine", "--total-steps", "10", "--warmup-steps", "-1"],
            "lrcore: error: schedule: --warmup-steps must be >= 0, got -1\n",
        ),
        (
            ["schedule", "wsd", "--total-steps", "10", "--decay-fraction", "2"],
            "lrcore: error: schedule: --decay-fraction must be <= 1.0, got 2.0\n",
        ),
        (
            ["bound", "{log}", "--tau", "-1"],
            "lrcore: error: bound: --tau must be in [0, 1], got -1.0\n",
        ),
        (
            ["bound", "{log}", "--schedules", "linear,foo"],
            "lrcore: error: bound: argument --schedules: unknown schedule 'foo'; known: constant,",
        ),
    ],
)
def test_errors_name_the_users_option_not_a_function(argv, message, log):
    out, err, code = _run([a.replace("{log}", log) for a in argv])
    assert code == 2 and out == ""
    last = err.splitlines()[-1] + "\n"
    assert last.startswith(message.rstrip("\n")) if not message.endswith("\n") else last == message
    assert len([ln for ln in err.splitlines() if ln.startswith("lrcore: error:")]) == 1
    for internal in ("load_log", "build_schedule", "refine: tau", "fmt must"):
        assert internal not in err


@pytest.mark.parametrize("command", ["refine", "inspect", "bound"])
def test_a_missing_metric_is_named_as_the_users_option(command, log, tmp_path):
    _, err, code = _run([command, log, "--metric", "nope"])
    assert code == 2
    assert err == (
        f"lrcore: error: {command}: --metric 'nope' is not in log.csv; found: 'grad_norm_l2'\n"
    )
    # a short name that fits several W&B runs: the full column name is asked for
    wandb = tmp_path / "wandb.csv"
    wandb.write_text("Step,a - grad_norm,b - grad_norm\n0,1,2\n1,2,3\n2,3,4\n")
    _, err, code = _run([command, str(wandb), "--metric", "grad_norm"])
    assert code == 2
    assert err == (
        f"lrcore: error: {command}: --metric 'grad_norm' names several runs in wandb.csv: "
        "use the full column name; found: 'a - grad_norm', 'b - grad_norm'\n"
    )


def test_the_library_keeps_its_own_missing_metric_message(log):
    from lrcore.logs import LogError, load_log

    with pytest.raises(LogError, match=r"^log\.csv: no metric 'nope'; found: 'grad_norm_l2'$"):
        load_log(log, metric="nope")


def test_a_message_without_an_option_of_the_command_is_left_as_it_was():
    from lrcore.cli import _user_wording

    parser = build_parser()
    args = parser.parse_args(["refine", "x.csv"])
    assert _user_wording("x.csv: no metric 'nope'", parser, args) == "x.csv: no metric 'nope'"
    assert _user_wording("evaluate: foo must be > 0", parser, args) == "evaluate: foo must be > 0"
    # a file name before the colon is not a function, even when an option's name follows
    assert _user_wording("span.csv: steps must be x", parser, args) == "span.csv: steps must be x"
    assert re.fullmatch(
        r"refine: --tau must be .*", _user_wording("refine: tau must be x", parser, args)
    )


def test_version():
    out, err, code = _run(["--version"])
    from lrcore import __version__

    assert code == 0 and out == f"lrcore {__version__}\n"
