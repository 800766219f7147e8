"""Issue 10: malformed and awkward inputs, each with its exact one-line message, through
``load_log`` and the ``lrcore`` CLI (files are small and written to tmp_path)."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from lrcore import MAX_STEPS
from lrcore.cli import main
from lrcore.logs import LogError, load_log
from lrcore.logs._write import write_log

STEPS = np.arange(0, 50, 5)
NORMS = np.linspace(3.0, 1.0, 10)
CSV = b"step,grad_norm\n" + b"".join(
    b"%d,%r\n" % (s, float(v)) for s, v in zip(STEPS, NORMS, strict=True)
)


# --------------------------------------------------------------------------- builders


def file(name: str, data):
    """A builder: write ``data`` (bytes, or a function of tmp_path giving bytes) to ``name``."""

    def build(tmp):
        p = tmp / name
        p.write_bytes(data(tmp) if callable(data) else data)
        return p

    return build


def events(tmp) -> bytes:
    folder = write_log(tmp / "_tb", STEPS, NORMS, "tensorboard")
    data = next(folder.glob("*tfevents*")).read_bytes()
    shutil.rmtree(folder)
    return data


def record_offsets(data: bytes) -> list[int]:
    out, pos = [], 0
    while pos < len(data):
        out.append(pos)
        pos += 12 + int.from_bytes(data[pos : pos + 8], "little") + 4
    return out


def corrupt_payload(tmp) -> bytes:
    data = bytearray(events(tmp))
    data[record_offsets(bytes(data))[3] + 14] ^= 0xFF  # inside the 3rd event's payload
    return bytes(data)


def damaged_length(tmp) -> bytes:
    data = bytearray(events(tmp))
    data[record_offsets(bytes(data))[3]] ^= 0xFF
    return bytes(data)


def zipped(members: dict[str, bytes]):
    def data(tmp):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, content in members.items():
                z.writestr(name, content)
        return buf.getvalue()

    return data


def gz(data: bytes):
    import gzip

    return gzip.compress(data, mtime=0)


def fifo(tmp):
    p = tmp / "pipe.csv"
    os.mkfifo(p)
    return p


def symlink_loop(tmp):
    p = tmp / "loop.csv"
    os.symlink(p, p)
    return p


def two_runs(tmp):
    write_log(tmp / "logs" / "run_a", STEPS, NORMS, "tensorboard")
    write_log(tmp / "logs" / "run_b", STEPS, NORMS, "tensorboard")
    return tmp / "logs"


def empty_folder(tmp):
    (tmp / "empty").mkdir()
    return tmp / "empty"


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def trainer_state(*entries) -> bytes:
    return json.dumps({"log_history": list(entries)}).encode()


WIDE = ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n" + b"1," * 99_999 + b"1\n"
MANY = (
    ",".join(["step", *(f"m{i}" for i in range(30))]).encode() + b"\n" + b"0" + b",1" * 30 + b"\n"
)


# --------------------------------------------------------------------------- malformed logs
# (category, id, builder, load_log keyword arguments, exact message; {tmp} = the tmp folder)

HUGE = 10**400  # an integer literal too large for a float
ERRORS = [
    # parse failures that used to escape as RecursionError, OverflowError, KeyError, ValueError
    (
        "parse",
        "deep-json",
        file("x.json", b"[" * 100_000),
        {},
        "x.json: JSON nested too deeply to be a log",
    ),
    (
        "parse",
        "deep-jsonl",
        file("x.jsonl", b'{"step": 0}\n{"step": 1, "g": ' + b"[" * 100_000),
        {},
        "x.jsonl, line 2: JSON nested too deeply to be a log",
    ),
    (
        "parse",
        "step-too-big-jsonl",
        file("x.jsonl", jsonl({"step": 0, "grad_norm": 1}, {"step": HUGE, "grad_norm": 2})),
        {},
        "x.jsonl: step inf is not a finite number",
    ),
    (
        "parse",
        "step-too-big-tb-json",
        file("x.json", f"[[1, 0, 1.0], [2, {HUGE}, 2.0]]".encode()),
        {},
        "x.json: step inf is not a finite number",
    ),
    (
        "parse",
        "digits-over-limit",
        file(
            "x.jsonl",
            jsonl({"step": 0, "grad_norm": 1})
            + b'{"step": 1, "grad_norm": '
            + b"9" * 5000
            + b"}\n",
        ),
        {},
        "x.jsonl, line 2: invalid JSON (an integer literal of more than 4,300 digits)",
    ),
    (
        "parse",
        "fmt-tensorboard_csv-on-plain",
        file("x.csv", CSV),
        {"fmt": "tensorboard_csv"},
        "x.csv: a TensorBoard CSV download has the columns Step, Value; this file has 'step', 'grad_norm'",
    ),
    (
        "parse",
        "fmt-lightning-on-plain",
        file("x.csv", b"a,b\n1,2\n2,3\n"),
        {"fmt": "lightning"},
        "x.csv: a Lightning metrics.csv has the columns epoch, step; this file has 'a', 'b'",
    ),
    (
        "parse",
        "fmt-mlflow-on-plain",
        file("x.csv", CSV),
        {"fmt": "mlflow"},
        "x.csv: MLflow metric lines need 3 fields, found 1",
    ),
    (
        "parse",
        "fmt-hf-on-plain",
        file("x.csv", CSV),
        {"fmt": "hf_trainer"},
        "x.csv, line 1: invalid JSON (Expecting value)",
    ),
    (
        "parse",
        "fmt-tensorboard-on-plain",
        file("x.csv", CSV),
        {"fmt": "tensorboard"},
        "x.csv: not a TensorBoard event file (its first record is invalid)",
    ),
    (
        "parse",
        "fmt-jsonl-on-plain",
        file("x.csv", CSV),
        {"fmt": "jsonl"},
        "x.csv, line 1: invalid JSON (Expecting value)",
    ),
    (
        "parse",
        "fmt-unknown",
        file("x.csv", CSV),
        {"fmt": "excel"},
        "load_log: fmt must be one of ['csv', 'hf_trainer', 'json', 'jsonl', 'lightning', 'mlflow', 'tensorboard', 'tensorboard_csv', 'tensorboard_json', 'text', 'wandb'], got 'excel'",
    ),
    (
        "parse",
        "invalid-json",
        file("x.json", b'{"log_history": [{"step": 1,}]}'),
        {},
        "x.json, line 1: invalid JSON (Expecting property name enclosed in double quotes)",
    ),
    (
        "parse",
        "jsonl-not-object",
        file("x.jsonl", b'{"step": 0, "grad_norm": 1}\n{"step": 1, "grad_norm": 2}\n[1, 2]\n'),
        {},
        "x.jsonl, line 3: expected a JSON object, got list",
    ),
    (
        "parse",
        "ragged-row",
        file("x.csv", b"step,grad_norm\n0,1\n1,2,3,4\n"),
        {},
        "x.csv: cannot parse as a table: a row has 4 fields where the first row has 2 (the row: '1,2,3,4')",
    ),
    (
        "parse",
        "unclosed-quote",
        file("x.csv", b'step,grad_norm\n0,1\n1,"2\n2,3\n'),
        {},
        "x.csv, line 3: a quoted field in column 'grad_norm' runs over several lines (a \" that is never closed?)",
    ),
    (
        "parse",
        "text-cell",
        file("x.csv", b"step,grad_norm\n0,1\n1,abc\n"),
        {},
        "x.csv, line 3: 'abc' in column 'grad_norm' is not a number",
    ),
    (
        "parse",
        "damaged-gzip",
        file("x.csv.gz", gz(CSV)[:30]),
        {},
        "x.csv.gz: a damaged gzip file (Compressed file ended before the end-of-stream marker was reached)",
    ),
    (
        "parse",
        "binary",
        file("x.bin", bytes(range(256)) * 4),
        {},
        "x.bin: binary content that is not a TensorBoard event file",
    ),
    (
        "parse",
        "tb-json-not-rows",
        file("x.json", b"[[1, 0, 1.0], [2, 1]]"),
        {},
        "x.json, item 1: expected [wall_time, step, value], got [2, 1]",
    ),
    (
        "parse",
        "trainer-state-no-norm",
        file(
            "trainer_state.json", trainer_state({"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5})
        ),
        {},
        "trainer_state.json: log_history has no 'grad_norm' entries (Transformers >= 4.38 logs them); keys found: loss",
    ),
    (
        "parse",
        "json-other-shape",
        file("x.json", b'{"a": 1}'),
        {},
        "x.json: a JSON dict that is neither a trainer_state.json (with 'log_history'), a TensorBoard download ([[wall_time, step, value], ...]) nor JSON lines",
    ),
    # numbers checked where they enter
    (
        "numbers",
        "step-over-2^53",
        file("x.csv", b"step,grad_norm\n0,1\n9007199254740993,2\n"),
        {},
        "x.csv, line 3: step 9,007,199,254,740,993 is outside +-2^53 (+-9,007,199,254,740,992), where step numbers stop being exact",
    ),
    (
        "numbers",
        "step-over-int64",
        file("x.csv", b"step,grad_norm\n0,1\n100000000000000000000,2\n"),
        {},
        "x.csv, line 3: step 100,000,000,000,000,000,000 is outside +-2^53 (+-9,007,199,254,740,992), where step numbers stop being exact",
    ),
    (
        "numbers",
        "step-below-minus-2^53",
        file("x.csv", b"step,grad_norm\n-1152921504606846976,1\n0,2\n"),
        {},
        "x.csv, line 2: step -1,152,921,504,606,846,976 is outside +-2^53 (+-9,007,199,254,740,992), where step numbers stop being exact",
    ),
    (
        "numbers",
        "step-inf",
        file("x.csv", b"step,grad_norm\n0,1\ninf,2\n"),
        {},
        "x.csv, line 3: step inf is not a finite number",
    ),
    (
        "numbers",
        "step-fraction",
        file("x.csv", b"step,grad_norm\n0,1\n0.5,2\n"),
        {},
        "x.csv, line 3: step 0.5 is not a whole number",
    ),
    (
        "numbers",
        "norm-zero",
        file("x.csv", b"step,grad_norm\n0,1\n1,0\n"),
        {},
        "x.csv, line 3: step 1: grad_norm = 0; gradient norms must be > 0 (refinement divides by them)",
    ),
    (
        "numbers",
        "norm-negative",
        file("x.csv", b"step,grad_norm\n0,1\n1,-2\n"),
        {},
        "x.csv, line 3: step 1: grad_norm = -2; gradient norms must be > 0 (refinement divides by them)",
    ),
    (
        "numbers",
        "step-not-a-number-jsonl",
        file("x.jsonl", jsonl({"step": 0, "grad_norm": 1}, {"step": "ten", "grad_norm": 2})),
        {},
        "x.jsonl, line 2: step 'ten' is not a number",
    ),
    (
        "numbers",
        "one-point",
        file("x.csv", b"step,grad_norm\n0,1\n"),
        {},
        "x.csv: grad_norm has 1 usable point(s) after cleaning, need at least 2 (1 rows read; nothing dropped)",
    ),
    (
        "numbers",
        "all-nan",
        file("x.csv", b"step,grad_norm\n0,nan\n1,nan\n2,1\n"),
        {},
        "x.csv: grad_norm has 1 usable point(s) after cleaning, need at least 2 (3 rows read; dropped 2 nan)",
    ),
    # never mix or drop silently
    (
        "mixing",
        "two-tensorboard-runs",
        two_runs,
        {},
        "{tmp}/logs: holds 2 TensorBoard runs ('run_a', 'run_b'); give the folder of one run",
    ),
    (
        "mixing",
        "damaged-record-length",
        file("events.out.tfevents.1", damaged_length),
        {},
        "events.out.tfevents.1: record 4 (byte 218) is damaged and nothing after it can be read; 3 record(s) before it are readable",
    ),
    (
        "mixing",
        "headerless-first-not-steps",
        file("x.csv", b"3,1\n2,1\n5,2\n"),
        {},
        "x.csv: 2 columns and no header, and the first is not increasing whole numbers: cannot tell which is the steps; add a header line such as step,grad_norm",
    ),
    (
        "mixing",
        "two-unnamed-columns",
        file("x.csv", b"a,b\n1.5,2\n2.5,3\n"),
        {},
        "x.csv: no gradient-norm series recognised; found: 'a', 'b'; choose one with metric= (CLI: --metric)",
    ),
    (
        "mixing",
        "three-columns-no-header",
        file("x.csv", b"0,1,2\n1,2,3\n"),
        {},
        "x.csv: 3 columns and no header: cannot tell which is the gradient norm; add a header line such as step,grad_norm",
    ),
    (
        "mixing",
        "metric-not-found",
        file("x.csv", CSV),
        {"metric": "gnorm"},
        "x.csv: no metric 'gnorm'; found: 'grad_norm'",
    ),
    (
        "mixing",
        "two-norm-series",
        file("x.csv", b"step,a/grad_norm,b/grad_norm\n0,1,2\n1,2,3\n"),
        {},
        "x.csv: several gradient-norm series found: 'a/grad_norm', 'b/grad_norm'; choose one with metric= (CLI: --metric)",
    ),
    (
        "mixing",
        "zip-two-logs",
        file("x.zip", zipped({"a.csv": CSV, "b.csv": CSV})),
        {},
        "x.zip: a zip file must hold exactly one log, found 2: 'a.csv', 'b.csv'",
    ),
    (
        "mixing",
        "zip-empty",
        file("x.zip", zipped({})),
        {},
        "x.zip: an empty zip file with no log inside",
    ),
    (
        "mixing",
        "jsonl-only-text",
        file("x.jsonl", jsonl({"step": 0, "run": "a"}, {"step": 1, "run": "b"})),
        {},
        "x.jsonl: no numeric values besides the step",
    ),
    # paths and encodings
    (
        "paths",
        "empty-path",
        lambda tmp: "",
        {},
        "load_log: the path is empty; name a log file or folder",
    ),
    ("paths", "missing-file", lambda tmp: tmp / "nope.csv", {}, "{tmp}/nope.csv: no such file"),
    (
        "paths",
        "fifo",
        fifo,
        {},
        "{tmp}/pipe.csv: is a FIFO (named pipe), not a regular file; save the log to a file first",
    ),
    (
        "paths",
        "device",
        lambda tmp: "/dev/zero",
        {},
        "/dev/zero: is a character device, not a regular file; save the log to a file first",
    ),
    (
        "paths",
        "symlink-loop",
        symlink_loop,
        {},
        "{tmp}/loop.csv: symbolic link loop (the link points back to itself)",
    ),
    (
        "paths",
        "empty-folder",
        empty_folder,
        {},
        "{tmp}/empty: folder holds no TensorBoard event files (events.out.tfevents.*), no trainer_state.json or checkpoint-N folder and no single grad_norms.csv or metrics.csv",
    ),
    ("paths", "empty-file", file("x.csv", b""), {}, "x.csv: file is empty"),
    (
        "paths",
        "whitespace-file",
        file("x.csv", b" \n\n\t\n"),
        {},
        "x.csv: file holds only whitespace",
    ),
    (
        "paths",
        "semicolon-decimal-comma",
        file("x.csv", b"step;grad_norm\n0;1,5\n1;2,5\n"),
        {},
        "x.csv: semicolon-separated with decimal commas (a spreadsheet in a European locale); save as comma-separated with decimal points",
    ),
    (
        "paths",
        "100k-columns",
        file("x.csv", WIDE),
        {},
        "x.csv: 10,950 or more columns; lrcore reads files of at most 10,000 columns (keep the step and gradient-norm columns)",
    ),
    (
        "paths",
        "30-names-truncated",
        file("x.csv", MANY),
        {},
        "x.csv: no gradient-norm series recognised; found: 'm0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10', 'm11' and 18 more; choose one with metric= (CLI: --metric)",
    ),
    (
        "paths",
        "latin-1",
        file("x.csv", b"step,grad_norm\n0,1\n1,2\n# caf\xe9\n"),
        {},
        # read as Windows-1252 (Excel's encoding): what is wrong is the stray comment row
        "x.csv: cannot parse as a table: a row has 1 fields where the first row has 2 (the row: '# café')",
    ),
    (
        "paths",
        "header-only",
        file("x.csv", b"step,grad_norm\n"),
        {},
        "x.csv: has a header but no data rows",
    ),
    (
        "paths",
        "step-column-only",
        file("x.csv", b"step\n0\n1\n"),
        {},
        "x.csv: no value column besides 'step'",
    ),
    (
        "paths",
        "zip-damaged",
        file("x.zip", lambda tmp: zipped({"a.csv": CSV})(tmp)[:40]),
        {},
        "x.zip: a damaged or unsupported zip file (File is not a zip file)",
    ),
]


def _cli_args(kwargs: dict) -> list[str]:
    return [a for k, v in kwargs.items() for a in (f"--{k}", v)]


@pytest.mark.parametrize("category,case,build,kwargs,message", ERRORS, ids=[c[1] for c in ERRORS])
def test_load_log_refuses_with_exact_message(tmp_path, category, case, build, kwargs, message):
    with pytest.raises(LogError) as e:
        load_log(build(tmp_path), **kwargs)
    assert str(e.value) == message.replace("{tmp}", str(tmp_path))


@pytest.mark.parametrize("category,case,build,kwargs,message", ERRORS, ids=[c[1] for c in ERRORS])
def test_cli_prints_the_same_message_on_one_line(
    tmp_path, capsys, category, case, build, kwargs, message
):
    src = str(build(tmp_path))
    for command in ("inspect", "refine"):
        assert main([command, src, *_cli_args(kwargs)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        if case == "fmt-unknown":  # argparse checks --fmt and names the option (issue 17)
            from lrcore.logs import FORMATS

            names = ", ".join(repr(f) for f in sorted(FORMATS))
            message = f"{command}: argument --fmt: invalid choice: 'excel' (choose from {names})"
        if case == "metric-not-found":  # the CLI names its --metric option
            message = f"{command}: --metric 'gnorm' is not in x.csv; found: 'grad_norm'"
        shown = message
        if message.startswith("load_log: "):  # the CLI names its command, not the function
            shown = f"{command}: " + message.removeprefix("load_log: ")
        # the file as the user typed it, where the library names it by its last part
        base = os.path.basename(src)
        if shown.startswith((f"{base}: ", f"{base}/", f"{base}, line ")):
            shown = src + shown[len(base) :]
        assert err == f"lrcore: error: {shown.replace('{tmp}', str(tmp_path))}\n"


def test_the_suite_covers_every_category():
    counts = {
        c: sum(1 for e in ERRORS if e[0] == c) for c in ("parse", "numbers", "mixing", "paths")
    }
    assert all(n >= 8 for n in counts.values()), counts
    assert len({e[1] for e in ERRORS}) == len(ERRORS)


# --------------------------------------------------------------------------- CLI options


def span_log(tmp):
    p = tmp / "span.csv"
    p.write_bytes(b"step,grad_norm\n0,1\n1,2\n200000000,1\n")
    return p


def plain(tmp):
    p = tmp / "g.csv"
    p.write_bytes(CSV)
    return p


# (id, argv with {log} for a small log and {span} for a log spanning 2e8 steps, message)
OPTIONS = [
    (
        "steps-0",
        ["refine", "{log}", "--steps", "0"],
        "refine: --steps must be a whole number from 2 to 20,000,000, got 0",
    ),
    (
        "steps-1",
        ["refine", "{log}", "--steps", "1"],
        "refine: --steps must be a whole number from 2 to 20,000,000, got 1",
    ),
    (
        "steps-1e12",
        ["refine", "{log}", "--steps", "1e12"],
        "refine: --steps must be a whole number from 2 to 20,000,000, got 1000000000000.0",
    ),
    (
        "steps-over-cap",
        ["refine", "{log}", "--steps", str(MAX_STEPS + 1)],
        "refine: --steps must be a whole number from 2 to 20,000,000, got 20000001",
    ),
    (
        "steps-fraction",
        ["refine", "{log}", "--steps", "2.5"],
        "refine: --steps must be a whole number from 2 to 20,000,000, got 2.5",
    ),
    (
        "steps-nan",
        ["refine", "{log}", "--steps", "nan"],
        "refine: --steps must be a whole number from 2 to 20,000,000, got nan",
    ),
    (
        "steps-text",
        ["refine", "{log}", "--steps", "abc"],
        "refine: argument --steps: 'abc' is not a number",
    ),
    (
        "peak-nan",
        ["refine", "{log}", "--peak-lr", "nan"],
        "refine: --peak-lr must be a finite number > 0, got nan",
    ),
    (
        "peak-inf",
        ["refine", "{log}", "--peak-lr", "inf"],
        "refine: --peak-lr must be a finite number > 0, got inf",
    ),
    (
        "peak-negative",
        ["refine", "{log}", "--peak-lr", "-1"],
        "refine: --peak-lr must be a finite number > 0, got -1.0",
    ),
    (
        "peak-zero",
        ["refine", "{log}", "--peak-lr", "0"],
        "refine: --peak-lr must be a finite number > 0, got 0.0",
    ),
    (
        "out-is-input",
        ["refine", "{log}", "--out", "{log}"],
        "refine: --out {log} is the input; choose another file",
    ),
    (
        "span-over-cap",
        ["refine", "{span}"],
        "{span}: steps 0..200,000,000 span 200,000,001 steps, more than the 20,000,000 a schedule may have; choose the length (CLI: --steps)",
    ),
    (
        "tau-out-of-range",
        ["refine", "{log}", "--tau", "3"],
        "refine: --tau must be in [0, 1], got 3.0",
    ),
    (
        "as-unknown",
        ["refine", "{log}", "--as", "xml"],
        "refine: argument --as: invalid choice: 'xml' (choose from 'csv', 'json', 'torch', 'hf', 'optax')",
    ),
    (
        "total-steps-1e12",
        ["schedule", "linear", "--total-steps", "1e12"],
        "schedule: --total-steps must be a whole number from 2 to 20,000,000, got 1000000000000.0",
    ),
    (
        "total-steps-0",
        ["schedule", "cosine", "--total-steps", "0"],
        "schedule: --total-steps must be a whole number from 2 to 20,000,000, got 0",
    ),
    (
        "total-steps-negative",
        ["schedule", "cosine", "--total-steps", "-5"],
        "schedule: --total-steps must be a whole number from 2 to 20,000,000, got -5",
    ),
    (
        "schedule-peak-nan",
        ["schedule", "linear", "--total-steps", "10", "--peak-lr", "nan"],
        "schedule: --peak-lr must be a finite number > 0, got nan",
    ),
    (
        "schedule-peak-negative",
        ["schedule", "linear", "--total-steps", "10", "--peak-lr", "-0.1"],
        "schedule: --peak-lr must be a finite number > 0, got -0.1",
    ),
    # "..." at the end: the rest lists names that other modules register
    (
        "schedule-unknown",
        ["schedule", "triangle", "--total-steps", "10"],
        "schedule: argument NAME: invalid choice: 'triangle' (choose from 'constant', ...",
    ),
    (
        "command-unknown",
        ["frobnicate"],
        "argument command: invalid choice: 'frobnicate' (choose from 'refine', 'schedule', 'inspect', 'bound', ...",
    ),
    (
        "bound-unknown-schedule",
        ["bound", "{log}", "--schedules", "linear,zigzag"],
        "bound: argument --schedules: unknown schedule 'zigzag'; known: constant, ...",
    ),
]


@pytest.mark.parametrize("case,argv,message", OPTIONS, ids=[c[0] for c in OPTIONS])
def test_cli_options_are_checked(tmp_path, capsys, case, argv, message):
    names = {"{log}": str(plain(tmp_path)), "{span}": str(span_log(tmp_path))}
    argv = [names.get(a, a) for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    expected = f"lrcore: error: {message.replace('{log}', names['{log}'])}\n"
    expected = expected.replace("{span}", names["{span}"])  # the file as typed
    assert out == ""
    if message.endswith("..."):
        assert err.startswith(expected[:-4]) and err.count("\n") == 1, err
    else:
        assert err == expected


# --------------------------------------------------------------------------- read, and counted


def utf16(data: bytes, encoding: str) -> bytes:
    return data.decode().encode(encoding)


def truncated_events(tmp) -> bytes:
    return events(tmp)[:-7]  # a run killed while writing its last record


# (category, id, builder, load_log kwargs, expected: steps, norms and the cleaning report line)
READS = [
    ("paths", "gzip", file("x.csv.gz", gz(CSV)), {}, "10 rows read; nothing dropped"),
    (
        "paths",
        "zip-of-one",
        file("x.zip", zipped({"run/x.csv": CSV})),
        {},
        "10 rows read; nothing dropped",
    ),
    (
        "paths",
        "utf-16-le-bom",
        file("x.csv", utf16(CSV, "utf-16")),
        {},
        "10 rows read; nothing dropped",
    ),
    (
        "paths",
        "utf-16-be-bom",
        file("x.csv", b"\xfe\xff" + utf16(CSV, "utf-16-be")),
        {},
        "10 rows read; nothing dropped",
    ),
    (
        "paths",
        "utf-16-le-no-bom",
        file("x.csv", utf16(CSV, "utf-16-le")),
        {},
        "10 rows read; nothing dropped",
    ),
    (
        "paths",
        "utf-8-bom",
        file("x.csv", b"\xef\xbb\xbf" + CSV),
        {},
        "10 rows read; nothing dropped",
    ),
    (
        "paths",
        "crlf",
        file("x.csv", CSV.replace(b"\n", b"\r\n")),
        {},
        "10 rows read; nothing dropped",
    ),
    (
        "paths",
        "gzip-events",
        file("events.out.tfevents.1.gz", lambda tmp: gz(events(tmp))),
        {},
        "10 rows read; nothing dropped",
    ),
    (
        "mixing",
        "tensorboard-corrupt-record",
        file("events.out.tfevents.1", corrupt_payload),
        {},
        "9 rows read; nothing dropped; 1 unreadable record(s) skipped (corrupt or truncated)",
    ),
    (
        "mixing",
        "tensorboard-truncated",
        file("events.out.tfevents.1", truncated_events),
        {},
        "9 rows read; nothing dropped; 1 unreadable record(s) skipped (corrupt or truncated)",
    ),
    (
        "mixing",
        "jsonl-text-value",
        file(
            "x.jsonl",
            jsonl(
                *(
                    {"step": int(s), "grad_norm": float(v)}
                    for s, v in zip(STEPS, NORMS, strict=True)
                ),
                {"step": 50, "grad_norm": "big"},
            ),
        ),
        {},
        "11 rows read; dropped 1 not a number",
    ),
    (
        "mixing",
        "jsonl-bool-and-object",
        file(
            "x.jsonl",
            jsonl(
                *(
                    {"step": int(s), "grad_norm": float(v)}
                    for s, v in zip(STEPS, NORMS, strict=True)
                ),
                {"step": 50, "grad_norm": True},
                {"step": 55, "grad_norm": {"a": 1}},
            ),
        ),
        {},
        "12 rows read; dropped 2 not a number",
    ),
    (
        "mixing",
        "trainer-state-string-and-huge",
        file(
            "trainer_state.json",
            trainer_state(  # Hugging Face's step: the global step after the update (+ 1)
                *(
                    {"step": int(s) + 1, "grad_norm": float(v)}
                    for s, v in zip(STEPS, NORMS, strict=True)
                ),
                {"step": 51, "grad_norm": "n/a"},
                {"step": 56, "grad_norm": HUGE},
            ),
        ),
        {},
        "12 rows read; dropped 1 inf, 1 not a number; log_history steps read as step - 1 (Hugging Face numbers a point by its global step after the update; lrcore counts optimizer steps from 0)",
    ),
    (
        "mixing",
        "missing-step-cell",
        file("x.csv", CSV + b",5\n"),
        {},
        "11 rows read; dropped 1 missing",
    ),
    (
        "parse",
        "mlflow-quoted-field",
        file(
            "grad_norm",
            b"".join(
                b'"%d" %r %d\n' % (1_700_000_000_000 + i, float(v), s)
                for i, (s, v) in enumerate(zip(STEPS, NORMS, strict=True))
            ),
        ),
        {},
        "10 rows read; nothing dropped",
    ),
]

# CSV files of two columns: which one is the steps (the silently wrong cases)
TWO_COLUMNS = [
    ("grad_norm,lr", b"grad_norm,lr\n3,0.1\n2,0.2\n1,0.1\n", "grad_norm", [0, 1, 2], [3, 2, 1]),
    ("loss,grad_norm", b"loss,grad_norm\n1,3\n2,2\n3,1\n", "grad_norm", [0, 1, 2], [3, 2, 1]),
    ("epoch,grad_norm", b"epoch,grad_norm\n0,3\n0,2\n1,1\n", "grad_norm", [0, 1, 2], [3, 2, 1]),
    ("x,grad_norm", b"x,grad_norm\n0,3\n10,2\n20,1\n", "grad_norm", [0, 10, 20], [3, 2, 1]),
    ("iteration,gnorm", b"iteration,gnorm\n5,3\n6,2\n7,1\n", "gnorm", [5, 6, 7], [3, 2, 1]),
    (
        "x,grad_norm-decreasing",
        b"x,grad_norm\n20,3\n10,2\n0,1\n",
        "grad_norm",
        [0, 1, 2],
        [3, 2, 1],
    ),
    ("headerless", b"0,3\n1,2\n2,1\n", "value", [0, 1, 2], [3, 2, 1]),
]


@pytest.mark.parametrize("category,case,build,kwargs,report", READS, ids=[c[1] for c in READS])
def test_awkward_inputs_are_read_and_drops_counted(tmp_path, category, case, build, kwargs, report):
    log = load_log(build(tmp_path), **kwargs)
    rows = np.searchsorted(STEPS, log.steps)  # the rows that were read (all, or all but one)
    assert log.steps.tolist() == STEPS[rows].tolist() and len(log) >= len(STEPS) - 1
    np.testing.assert_allclose(log.grad_norms, NORMS[rows], rtol=1e-6)  # event files: float32
    assert log.report.describe() == report


@pytest.mark.parametrize(
    "name,data,metric,steps,norms", TWO_COLUMNS, ids=[c[0] for c in TWO_COLUMNS]
)
def test_two_column_csv_takes_steps_only_from_a_step_column(name, data, metric, steps, norms):
    log = load_log(data)
    assert (log.metric, log.steps.tolist(), log.grad_norms.tolist()) == (metric, steps, norms)
