"""The ``lrcore`` command: refine a log, write a schedule, inspect a log, run training.

Output (schedules, tables) goes to stdout or ``--out``; summaries and progress go to
stderr; errors are one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from lrcore import _extras, export
from lrcore._output import check_out, pipe_closed, release_locks, write_out
from lrcore._text import for_terminal
from lrcore._validate import (
    MAX_STEPS,
    check_unit,
    validate_peak_lr,
    validate_span,
    validate_steps,
)
from lrcore.analysis import analyse, unscorable
from lrcore.refine import OPTIMIZERS, refine, smoothing_width
from lrcore.registry import REGISTRY, build_schedule
from lrcore.schedules import evaluate

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


# --as NAME -> writer(values, peak_lr, description, optimizer) -> text (str, or chunks of
# bytes when large: streamed as they are made); optimizer is the refinement rule ("sgd" /
# "adam") or None for a named schedule
_WRITERS: dict[str, Callable[[np.ndarray, float, str, str | None], str | Iterable[bytes]]] = {
    "csv": lambda v, peak, what, opt: export.csv_stream(v, peak_lr=peak),
    "json": lambda v, peak, what, opt: export.json_stream(v, peak_lr=peak, description=what),
    **{
        flavour: lambda v, peak, what, opt, flavour=flavour: export.to_snippet(
            v, flavour=flavour, what=what, optimizer=opt
        )
        for flavour in export.SNIPPET_FLAVOURS
    },
}


def command(fn):
    COMMANDS[fn.__name__.removeprefix("cmd_")] = fn
    return fn


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default: ``(default: X)`` appended, unless the
    help already says what the default is (a default worked out at run time) or the
    option is required (then ``(required)``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or action.default is argparse.SUPPRESS:
            return text  # positionals, --help, --version
        if "default" in text:
            return text
        if action.required:
            return f"{text} (required)"
        if action.default is None:
            return text
        return f"{text} (default: %(default)s)"


# --fmt's choices: lrcore.logs.FORMATS's names, written out so that building the parser
# imports no pandas (tests/test_cli_conventions.py checks they are the same)
_FORMAT_NAMES = (
    "csv", "hf_trainer", "json", "jsonl", "lightning", "mlflow", "tensorboard",
    "tensorboard_csv", "tensorboard_json", "text", "wandb",
)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other lrcore error, and whose
    help shows every option's default."""

    def __init__(self, *a, **k):
        k.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*a, **k)

    def error(self, message: str):
        where = self.prog.removeprefix("lrcore").strip()
        self.exit(2, f"lrcore: error: {where + ': ' if where else ''}{message}\n")


def _number(text: str) -> int | float:
    """A count given as ``1000``, ``1_000`` or ``1e3`` (checked by the command for range)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def whole(text: str) -> int:
    """An integer option (``type=``): a whole number that a float64 holds exactly (a larger
    one reached numpy as an object and failed with a TypeError)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if abs(value) > 2**53:
        raise argparse.ArgumentTypeError(f"{text} is too large (at most {2**53:,})")
    return value


def _port(text: str) -> int:
    """``lrcore app --port``: 1 to 65535."""
    value = whole(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 1 to 65535, got {text}")
    return value


def _schedule_names(text: str) -> str:
    """``--schedules``: comma-separated registry names, each known."""
    unknown = [n for n in (s.strip() for s in text.split(",")) if n not in REGISTRY]
    if unknown or not text.strip():
        raise argparse.ArgumentTypeError(
            f"unknown schedule {for_terminal(repr(unknown[0] if unknown else text))}; "
            f"known: {', '.join(sorted(REGISTRY))}"
        )
    return text


def _check_out(args, fn: str, *inputs) -> None:
    """``--out`` is no file the command reads (by path or inode, folder members included),
    not a FIFO / device / "", and writable: checked before any work starts. ``--out -`` is
    stdout, as for most command-line tools (it wrote a file named ``-``)."""
    if args.out == "-":
        args.out = None
    check_out(fn, args.out, inputs)


def _ending_in_newline(chunks: Iterable[bytes]) -> Iterable[bytes]:
    last = b""
    for last in chunks:
        yield last
    if not last.endswith(b"\n"):
        yield b"\n"


def _emit(values: np.ndarray, args, what: str, optimizer: str | None = None) -> str:
    """Write lrs (peak-normalised ``values`` times ``--peak-lr``) in the chosen format;
    ``optimizer`` (the refinement rule) names the optimizer in a snippet's usage comment."""
    out = _WRITERS[args.output](values, args.peak_lr, what, optimizer)
    write_out(args.out, _ending_in_newline([out.encode()] if isinstance(out, str) else out))
    if args.out:
        return f"wrote {len(values):,} steps to {for_terminal(args.out)}"
    return f"wrote {len(values):,} steps to stdout"


def _log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", help="gradient-norm log: a file or a folder of TensorBoard event files")
    p.add_argument(
        "--metric",
        help="which series to read when the log holds several (default: the norm of the "
        "optimizer the log records: l1 for Adam, l2 for SGD; else the first norm found)",
    )
    p.add_argument(
        "--fmt",
        choices=_FORMAT_NAMES,
        help="force a format instead of detecting it (default: detected; see `lrcore inspect`)",
    )


def _rule_args(p: argparse.ArgumentParser) -> None:
    """--tau and --optimizer, shared by refine, inspect and bound."""
    p.add_argument(
        "--tau", type=float, default=0.1, help="median smoothing width, fraction of the run"
    )
    p.add_argument(
        "--optimizer",
        choices=["auto", *OPTIMIZERS],
        default="auto",
        help="refinement rule: sgd (l2 norms, w=s^-2), adam (l1 norms, w=s^-1), or auto: the "
        "optimizer the log records (lrcore's recorder and callbacks write it), else the "
        "metric's norm",
    )


def _steps_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--steps",
        type=_number,
        help="steps of the next run (default: the logged run's length: the steps the log "
        "records, else its last step, + 1 when steps count from 0)",
    )


def _out_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--peak-lr", type=float, default=1.0, help="multiply the schedule by this")
    p.add_argument("--out", help="write here instead of stdout (default or '-': stdout)")
    p.add_argument(
        "--as",
        dest="output",
        choices=list(_WRITERS),
        default="csv",
        help="csv (step,lr), json, or a copy-paste snippet for torch (LambdaLR), a Hugging "
        "Face Trainer, or optax",
    )


def _analysed(args, fn: str):
    """``(file, log, analysis)``: the parsed file (``inspect`` lists its series), the series
    the rule reads (``--metric``, else the one the rule ``--optimizer`` needs, as
    :meth:`lrcore.logs.LogFile.load` chooses it) and :func:`lrcore.analyse` of it: one route
    for ``refine`` and ``inspect`` (and the app and the Python helpers), so they agree on the
    length, the rule, the series and the warnings."""
    from lrcore.logs import open_log

    if args.steps is not None:
        validate_steps(fn, "--steps", args.steps)
    check_unit(fn, "--tau", args.tau)
    parsed = open_log(args.log, fmt=args.fmt)  # parsed once: the series and the chosen one
    log = parsed.load(args.metric, args.optimizer)
    if args.steps is None:  # the logged run's length, refused above what a schedule may have
        validate_span(log.source, log.steps[0], log.steps[-1])
        total = getattr(log, "total_steps", None)  # where the log records its length
        if total is not None and total > MAX_STEPS:
            raise ValueError(
                f"{log.source}: the log records a run of {total:,} steps, more than "
                f"the {MAX_STEPS:,} a schedule may have; choose the length (CLI: --steps)"
            )
    steps = None if args.steps is None else int(args.steps)
    return parsed, log, analyse(log, args.tau, log.suggested_optimizer, steps)


def _from_every_point(view, values: np.ndarray) -> str:
    """For a long log (analysed on evenly spaced points, as inspect and the app do): where
    the schedule written from every point peaks and halves, when that reads differently."""
    if not view.sampled:
        return ""
    from lrcore.analysis import fmt_pct
    from lrcore.refine import summarize

    s, a = summarize(values), view.summary
    if (fmt_pct(s.warmup_fraction), fmt_pct(s.half_fraction)) == (
        fmt_pct(a.warmup_fraction),
        fmt_pct(a.half_fraction),
    ):
        return ""
    return (
        f"; written from every point, it peaks at {fmt_pct(s.warmup_fraction)} and halves "
        f"at {fmt_pct(s.half_fraction)}"
    )


def _say_notes(view) -> None:
    """The analysis's note (``note:``, when the rule was a guess) and every warning
    (``warning:``) on stderr: the same sentences the app shows and the helpers warn."""
    if view.note:
        print(f"note: {for_terminal(view.note)}", file=sys.stderr)
    for w in view.warnings:
        print(f"warning: {for_terminal(w)}", file=sys.stderr)


@command
def cmd_refine(args) -> int:
    validate_peak_lr("refine", "--peak-lr", args.peak_lr)
    _check_out(args, "refine", args.log)
    _, log, view = _analysed(args, "refine")
    _say_notes(view)
    values = view.full_values(log)  # every logged point, stretched over view.steps
    what = f"refined from {log.source} ({view.optimizer}, tau={args.tau})"
    done = _emit(values, args, what, view.optimizer)
    print(
        f"refined {len(log):,} points of {for_terminal(repr(log.metric))} ({log.fmt}; "
        f"{for_terminal(log.rule_text)}; tau {args.tau}, median width "
        f"{smoothing_width(args.tau, len(log))}): {view.summary_sentence}"
        f"{_from_every_point(view, values)}; {for_terminal(log.report.describe())}; {done}",
        file=sys.stderr,
    )
    return 0


@command
def cmd_schedule(args) -> int:
    validate_peak_lr("schedule", "--peak-lr", args.peak_lr)
    args.total_steps = validate_steps("schedule", "--total-steps", args.total_steps, minimum=2)
    _check_out(args, "schedule")
    params = {p.name: getattr(args, p.name) for p in REGISTRY[args.name].params}
    sched = build_schedule(
        args.name, args.total_steps, peak_lr=1.0, warmup_steps=args.warmup_steps, **params
    )
    values = evaluate(sched, args.total_steps)
    what = f"{args.name} " + " ".join(f"{k}={v}" for k, v in params.items())
    done = _emit(values, args, what.strip())
    print(
        f"{what.strip()}, {args.total_steps:,} steps, warm-up {args.warmup_steps}; {done}",
        file=sys.stderr,
    )
    return 0


def _median(x: np.ndarray) -> float:
    """``np.median`` with one partition (4x faster at 10M values: inspect stays near load_log).

    >>> _median(np.array([3.0, 1.0, 2.0])), _median(np.array([4.0, 1.0, 3.0, 2.0]))
    (2.0, 2.5)
    """
    k = len(x) // 2
    part = np.partition(x, k)
    # halves first: (a + b) / 2 overflows for norms near 1.8e308
    return float(part[k]) if len(x) % 2 else float(part[k] / 2 + part[:k].max() / 2)


@command
def cmd_inspect(args) -> int:
    from lrcore._validate import name_list

    # the analysis the app's Refine page shows and refine writes (one function, so all print
    # the same numbers; a long log is analysed on evenly spaced points), computed first
    parsed, log, view = _analysed(args, "inspect")
    g = log.grad_norms
    print(f"source:   {for_terminal(log.source)}")
    print(f"format:   {log.fmt}")
    print(f"metrics:  {for_terminal(name_list(parsed.metrics, limit=20, quote=False))}")
    print(
        f"chosen:   {for_terminal(log.metric)} ({log.norm_type} norms) -> refine with "
        f"the {for_terminal(log.rule_text)}"
    )
    print(f"points:   {len(log):,}")
    print(f"steps:    {log.steps[0]:,} .. {log.steps[-1]:,}")
    print(f"norms:    min {g.min():.4g}, median {_median(g):.4g}, max {g.max():.4g}")
    print(f"cleaning: {for_terminal(log.report.describe())}")
    print(f"next run: {view.steps:,} steps ({view.default_steps_note})")
    print(f"refined:  {view.summary_sentence}")
    print(f"config:   {_plain(view.fit_sentence)}")
    print(f"bound:    {_plain(view.bound_sentence)}")
    print(f"late rise: {view.late_rise_line}")
    _say_notes(view)
    return 0


def _plain(markdown: str) -> str:
    """A sentence written for the app's markdown, for a terminal (no ``**``).

    >>> _plain("**As a plain config:** no warm-up.")
    'As a plain config: no warm-up.'
    """
    return markdown.replace("**", "")


def _rule_notes(log) -> None:
    """``note:`` on stderr when the rule was a guess (the log holds l1 and l2 and does not
    say which optimizer ran; a Hugging Face trainer_state.json), saying how to switch; a
    ``warning:`` when the log looks resumed or truncated (it starts late or has a gap)."""
    if log.rule_note:
        print(f"note: {for_terminal(log.rule_note)}", file=sys.stderr)
    for w in log.continuity_warnings():
        print(f"warning: {for_terminal(w)}", file=sys.stderr)


@command
def cmd_bound(args) -> int:
    from lrcore.bound import compare_bounds
    from lrcore.logs import load_log

    log = load_log(args.log, metric=args.metric, fmt=args.fmt, optimizer=args.optimizer)
    _rule_notes(log)
    n, g = len(log), log.grad_norms
    optimizer = log.suggested_optimizer
    shapes = {"refined": refine(g, tau=args.tau, optimizer=optimizer)}
    for name in args.schedules.split(","):
        if name != "refined":
            shapes[name] = evaluate(build_schedule(name, n), n)
    try:
        table = compare_bounds(shapes, g)
    except ValueError as e:  # said "scale D or grad_norms": the API's names, not this command's
        if "float64" not in str(e):
            raise
        raise unscorable("bound", g, e) from None
    print(table.sort_values("bound").to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(
        f"last-iterate bound of each shape at its best peak scale under the {n:,} logged "
        f"{log.norm_type} norms of {for_terminal(log.source)} (D = 1; lower is better; "
        f"refined: {for_terminal(log.rule_text)})",
        file=sys.stderr,
    )
    return 0


# commands that need an extra: checked before they start, so a missing package is named
# with the extra to install (``lrcore run needs the 'train' extra: ...``)
_COMMAND_EXTRAS = {"run": "train", "compare": "train", "study": "train", "app": "app"}


def _app_paths() -> tuple[Path, Path | None]:
    """The dashboard's ``serve.py`` (``main.py``'s pages, Streamlit's frontend files served
    compressed: app/serve.py) and its Streamlit settings: ``lrcore/_app/`` in an installed
    wheel (settings in ``streamlit/``), ``app/`` beside ``.streamlit/`` in a checkout (an
    editable install included)."""
    here = Path(__file__).resolve().parent
    apps = [here / "_app", here.parent / "app"]
    app = next((a for a in apps if (a / "serve.py").is_file()), apps[0])
    configs = [app / "streamlit" / "config.toml", app.parent / ".streamlit" / "config.toml"]
    return app / "serve.py", next((c for c in configs if c.is_file()), None)


def _streamlit_flags(config: Path | None) -> list[str]:
    """The dashboard's config.toml as ``streamlit run`` flags (``--server.headless=true``):
    they hold wherever the command runs (Streamlit reads ``.streamlit/`` from the working
    directory only); flags given after them win."""
    if config is None:
        return []
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the app extra installs tomli
        import tomli as tomllib
    flags = []
    for section, options in tomllib.loads(config.read_text(encoding="utf-8")).items():
        for key, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"--{section}.{key}={text}")
    return flags


@command
def cmd_app(args) -> int:
    import subprocess

    main, config = _app_paths()
    if not main.is_file():
        raise ValueError(f"app: the dashboard is not installed with lrcore ({main} is missing)")
    from lrcore._app_args import check_streamlit_args

    check_streamlit_args(args.streamlit_args)
    from lrcore.train.pool import check_env

    check_env()  # LRCORE_WORKERS, LRCORE_SESSION_RUNS: said here, not in a page
    port = ["--server.port", str(args.port)] if args.port is not None else []
    cmd = [sys.executable, "-m", "streamlit", "run", str(main), *_streamlit_flags(config)]
    cmd = [*cmd, *port, *args.streamlit_args]
    if os.name == "posix":  # streamlit takes this process's place: Ctrl-C and kill reach it
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, cmd)
    return subprocess.call(cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lrcore",
        description="Learning-rate schedules from schedule refinement (arXiv:2310.07831).",
    )
    from lrcore import __version__

    parser.add_argument("--version", action="version", version=f"lrcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("refine", help="refined schedule from a gradient-norm log")
    _log_args(p)
    _rule_args(p)
    _steps_arg(p)
    _out_args(p)

    p = sub.add_parser("schedule", help="write any named schedule")
    names = p.add_subparsers(dest="name", required=True, metavar="NAME")
    for spec in REGISTRY.values():
        q = names.add_parser(spec.name, help=spec.label)
        q.add_argument("--total-steps", type=_number, required=True, help="steps of the schedule")
        q.add_argument(
            "--warmup-steps", type=whole, default=0, help="linear warm-up from 0 to the peak"
        )
        for prm in spec.params:
            q.add_argument(
                f"--{prm.name.replace('_', '-')}",
                dest=prm.name,
                type=whole if prm.kind is int else prm.kind,
                default=prm.default,
                choices=prm.choices or None,
                help=prm.help,
            )
        _out_args(q)

    p = sub.add_parser(
        "inspect", help="what a log holds and its refined schedule: the analysis refine writes"
    )
    _log_args(p)
    _rule_args(p)
    _steps_arg(p)

    p = sub.add_parser("bound", help="which schedule the last-iterate bound prefers for a log")
    _log_args(p)
    p.add_argument(
        "--schedules",
        default="linear,cosine,constant,wsd",
        type=_schedule_names,
        help="comma-separated registry names compared with the refined schedule",
    )
    _rule_args(p)

    _add_train_commands(sub)

    p = sub.add_parser(
        "app",
        help="start the dashboard (Streamlit); other options go to `streamlit run`",
        usage="lrcore app [-h] [--port PORT] [STREAMLIT OPTIONS ...]",
    )
    p.add_argument("--port", type=_port, help="port to serve on (default: Streamlit's, 8501)")
    return parser


def _add_train_commands(sub) -> None:
    """``run`` / ``compare`` / ``study`` live in lrcore.train (torch is imported only there)."""
    try:
        from lrcore.train import cli as train_cli
    except ImportError:
        return
    train_cli.add_commands(sub, COMMANDS)


_PACKAGE = Path(__file__).resolve().parent  # lrcore's own source files


def _raised_in(e: BaseException) -> str | None:
    """The installed package (or standard-library module) whose code raised ``e`` (its
    traceback's innermost frame), or None when it was lrcore, code beside it, or unknown."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    path = Path(tb.tb_frame.f_code.co_filename).resolve()
    top = str(tb.tb_frame.f_globals.get("__name__", "") or "").split(".")[0]
    if path.is_relative_to(_PACKAGE):
        return None
    installed = {"site-packages", "dist-packages"} & set(path.parts)
    return top or None if installed or top in sys.stdlib_module_names else None


# a write without a file name that failed: standard output (a full disk, a quota)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT}


def _one_line(e: BaseException, command: str = "") -> str:
    """An exception as one short line (messages are capped; newlines collapse). A message
    that is not one of lrcore's own sentences gets one in front (``command``: what ran): an
    error raised inside another package says which, any other exception type is a bug."""
    text = " ".join(str(e).split())
    where = f"{command}: " if command else ""
    if isinstance(e, OSError) and e.strerror:
        text = f"{e.filename}: {e.strerror}" if e.filename else e.strerror
        if not e.filename and e.errno in _WRITE_ERRNOS:  # `lrcore schedule ... > /dev/full`
            text = f"{where}cannot write to standard output: {e.strerror}"
    if isinstance(e, MemoryError):
        text = "out of memory" + (f" ({text})" if text else "")
    elif not isinstance(e, ValueError | OSError):  # a bug or an unforeseen input: still one line
        text = f"{type(e).__name__}: {text}" if text else type(e).__name__
        text = f"{where}unexpected error (please report the command that caused it): {text}"
    elif isinstance(e, ValueError) and (package := _raised_in(e)) is not None:
        text = f"{where}an input was refused inside {package}, not by an lrcore check: {text}"
    return text if len(text) <= 500 else text[:497] + "..."


# "function: parameter must ..." (house style; "schedule.parameter" for a registry
# schedule's); a file name ("log.csv: ...") has a dot before the colon and never matches
_LIB_PREFIX = re.compile(r"^[A-Za-z_]\w*: (?:[A-Za-z_]\w*\.)?([A-Za-z_]\w*)(?= must )")


# library parameter names that the CLI sets through an option of another name
ALIASES = {"total_steps": "steps", "random_state": "seed"}


def _options(parser: argparse.ArgumentParser, args) -> tuple[dict[str, str], str]:
    """``{dest: "--option"}`` of the command that ran (and of a nested one: schedule NAME),
    and that command's name as typed (``schedule join``)."""
    p, options, prog = parser, {}, parser.prog
    while p is not None:
        sub = None
        prog = p.prog
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                sub = action.choices.get(getattr(args, action.dest, None))
            elif action.option_strings and action.dest != "help":
                options[action.dest] = max(action.option_strings, key=len)
        p = sub
    for lib, dest in ALIASES.items():
        if dest in options:
            options.setdefault(lib, options[dest])
    return options, prog.removeprefix("lrcore").strip()


def _typed(args) -> set[str]:
    """Every text value the user gave (a file name, a metric), and the last part of each path
    (errors name a file or folder by it: ``tbdir: ...`` for ``/runs/tbdir/``): never a
    function's name."""
    typed = {v for v in vars(args).values() if isinstance(v, str)}
    return typed | {os.path.basename(v.rstrip("/" + os.sep)) for v in typed}


def _path_as_typed(text: str, args) -> str:
    """A log's error names the file by its last part (``empty.csv: file is empty``); the
    user typed ``./runs/../empty.csv``: put that in front, as typed."""
    for typed in sorted(_typed(args) - {""}, key=len, reverse=True):
        path = typed.rstrip("/" + os.sep)
        base = os.path.basename(path)
        if not base or base == path or not os.path.exists(path):
            continue
        if text.startswith((f"{base}: ", f"{base}/", f"{base}, line ")):
            return path + text[len(base) :]
    return text


def _without_internal_name(text: str, parser: argparse.ArgumentParser, args) -> str:
    """``function: sentence`` with the command's name in place of a library function's
    (``build_schedule: piecewise needs ... boundaries`` -> ``schedule piecewise: piecewise
    needs ... --boundaries``); the option names the sentence uses as the user's options
    (``schedule.param`` too). A file name or any text the user typed stays as it was."""
    m = re.match(r"^([A-Za-z_]\w*): ", text)
    if not m or m.group(1) in _typed(args):
        return text
    options, command = _options(parser, args)
    if m.group(1) == command.split(" ")[0]:
        return text
    head, sep, tail = text[m.end() :].partition(", got ")

    def option(mm: re.Match) -> str:
        return options.get(mm.group(1), mm.group(0))

    # a dotted parameter (join.schedules), or a word that names only an option (snake_case or
    # a registry schedule's own parameter: the prose words of a sentence are left alone)
    names = "|".join(map(re.escape, REGISTRY))  # join.schedules, not a file name (e.csv)
    head = re.sub(rf"(?<![-\w./\\])(?:{names})\.([A-Za-z_]\w*)(?![-\w./\\])", option, head)
    # a registry schedule's own parameters (boundaries, values) read as prose words only there
    own = {prm.name for spec in REGISTRY.values() for prm in spec.params}
    words = [d for d in options if "_" in d or d in own]
    if words:  # whole words only: not "e.csv" (--csv) or "readme.md"
        alt = "|".join(map(re.escape, words))
        head = re.sub(rf"(?<![-\w./\\])({alt})(?![-\w./\\])", option, head)
    counted = [d for d in options if d in own]  # "got 1 values and 2 boundaries"
    if counted and sep:
        alt = "|".join(map(re.escape, counted))
        tail = re.sub(rf"\b(\d+) ({alt})\b", lambda c: f"{c[1]} in {options[c[2]]}", tail)
    return f"{command}: {head}{sep}{tail}"


def _user_wording(text: str, parser: argparse.ArgumentParser, args) -> str:
    """A library error ``fn: param must ...`` in the user's words: ``command: --param must
    ...`` when ``param`` is an option of the command that ran (other option names in the
    sentence too); any other message as it was."""
    m = _LIB_PREFIX.match(text)
    if not m:
        return text
    options, _ = _options(parser, args)
    if m.group(1) not in options:
        return text
    rest = text[m.end() :]
    head, sep, tail = rest.partition(", got ")
    for dest, opt in options.items():  # other options the sentence names (before "got")
        if "_" in dest:
            head = re.sub(rf"\b{dest}\b", opt, head)
        head = re.sub(rf"(?<![-\w]){dest}=", f"{opt} ", head)  # "[0, steps=1000)"
    return f"{args.command}: {options[m.group(1)]}{head}{sep}{tail}"


def _metric_wording(e: ValueError, args) -> str | None:
    """A log without the ``--metric`` the user asked for, named as their option
    (``refine: --metric 'nope' is not in log.csv; found: ...``), or None for other errors.
    The library's own message (``log.csv: no metric 'nope'; ...``) stays for library users."""
    metric = getattr(e, "metric", None)
    if metric is None or metric != getattr(args, "metric", None):
        return None
    where = f"{args.command}: --metric {metric!r}"
    if e.ambiguous:
        text = f"{where} names several runs in {e.source}: use the full column name"
    else:
        text = f"{where} is not in {e.source}"
    text = f"{text}; found: {e.found}"
    return text if len(text) <= 500 else text[:497] + "..."


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning on stderr as one ``warning:`` line: lrcore's own as it is, another
    package's with the package named (numpy's default shows the file and its source line)."""
    path = Path(filename).resolve() if filename else _PACKAGE
    where, owner = "", category.__module__.split(".")[0]  # pandas.errors.ParserWarning
    if owner not in ("builtins", "lrcore", "warnings"):
        where = f"(from {owner}) "
    elif not path.is_relative_to(_PACKAGE):
        parts = path.parts
        i = max(
            (k for k, d in enumerate(parts) if d in ("site-packages", "dist-packages")), default=-1
        )
        package = parts[i + 1] if 0 <= i < len(parts) - 1 else path.stem
        where = f"(from {package.removesuffix('.py')}) "
    text = " ".join(str(message).split())[:300]
    if issubclass(category, RuntimeWarning):  # numpy's floating-point warnings, from our line
        text = f"a computation overflowed or lost precision (numpy: {text})"
        where = ""
    print(f"warning: {where}{for_terminal(text)}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
        if rest and args.command != "app":  # `lrcore app` passes them on to streamlit
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.streamlit_args = rest
    except SystemExit as e:  # --help (0) or a usage error (2, one line already printed)
        return e.code if isinstance(e.code, int) else 2
    extra = _COMMAND_EXTRAS.get(args.command)
    if extra and (module := _extras.missing(extra)):
        print(
            f"lrcore: error: {_extras.needs(f'lrcore {args.command}', extra, module)}",
            file=sys.stderr,
        )
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # one line, never the source line
            code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader that left (| head) is noticed here, not at exit
        return code
    except BrokenPipeError:  # stdout's reader left (| head): stop quietly, as head users expect
        return pipe_closed()
    except KeyboardInterrupt:
        print("lrcore: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # last resort (MemoryError included): one line, exit 2, no traceback
        text = _one_line(e, _options(parser, args)[1])
        if isinstance(e, ImportError) and (extra := _extras.extra_for(e)):
            text = _extras.needs(f"lrcore {args.command}", extra, e.name)
        if isinstance(e, ValueError):
            text = _metric_wording(e, args) or _user_wording(text, parser, args)
            text = _without_internal_name(text, parser, args)
            text = _path_as_typed(text, args)
        print(f"lrcore: error: {for_terminal(text)}", file=sys.stderr)
        return 2
    finally:
        release_locks()  # --out locks (lrcore._output.check_out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
