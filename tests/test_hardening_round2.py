"""Issue 18: hostile and awkward inputs, round two. Each case with its exact message.

Categories: ``out`` (--out never destroys an input, never blocks, checked before work),
``escape`` (names from files reach markdown escaped and the terminal with escapes visible).
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _archives import tar_bytes, zip_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcore import build_schedule, constant, cosine_decay, evaluate, linear_decay, refine, stretch
from lrcore._output import check_out, write_atomic
from lrcore._text import for_markdown, for_terminal
from lrcore.cli import main
from lrcore.export import csv_bytes
from lrcore.logs import load_log

CASES: dict[str, int] = {}  # category -> cases, for the closing note


def count(category: str, n: int = 1) -> None:
    CASES[category] = CASES.get(category, 0) + n


def grad_csv(n: int = 50) -> str:
    return "step,grad_norm\n" + "".join(f"{i},{1 + 1 / (i + 1)!r}\n" for i in range(n))


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """run/grad_norms.csv (a saved run), a hard link and a symbolic link to it, a FIFO."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "grad_norms.csv").write_text(grad_csv())
    os.link("run/grad_norms.csv", "hard.csv")
    os.symlink("run/grad_norms.csv", "sym.csv")
    os.mkfifo("fifo")
    return tmp_path


# --------------------------------------------------------------------------- --out

OUT = [
    (
        "folder-member",
        ["refine", "run", "--out", "run/grad_norms.csv"],
        "refine: --out run/grad_norms.csv is inside the input folder run; choose a path outside it",
    ),
    (
        "new-file-in-input-folder",
        ["refine", "run", "--out", "run/new.csv"],
        "refine: --out run/new.csv is inside the input folder run; choose a path outside it",
    ),
    (
        "hard-link-to-member",
        ["refine", "run", "--out", "hard.csv"],
        "refine: --out hard.csv is run/grad_norms.csv, read from the input; choose another file",
    ),
    (
        "hard-link-to-file",
        ["refine", "run/grad_norms.csv", "--out", "hard.csv"],
        "refine: --out hard.csv is the input; choose another file",
    ),
    (
        "symlink-to-file",
        ["refine", "run/grad_norms.csv", "--out", "sym.csv"],
        "refine: --out sym.csv is the input; choose another file",
    ),
    (
        "input-is-symlink",
        ["refine", "sym.csv", "--out", "run/grad_norms.csv"],
        "refine: --out run/grad_norms.csv is the input; choose another file",
    ),
    (
        "fifo",
        ["refine", "run", "--out", "fifo"],
        "refine: --out fifo is a FIFO (named pipe); name a regular file",
    ),
    (
        "empty",
        ["refine", "run", "--out", ""],
        "refine: --out is empty; name a file (or leave --out out for stdout)",
    ),
    (
        "device",
        ["refine", "run", "--out", "/dev/zero"],  # /dev/null is "write nowhere" (issue 27)
        "refine: --out /dev/zero is a character device; name a regular file",
    ),
    (
        "folder",
        ["refine", "run/grad_norms.csv", "--out", "run"],
        "refine: --out run is a folder; name a file inside it",
    ),
    (
        "unwritable",
        ["refine", "run", "--out", "/proc/forbidden"],
        "refine: --out /proc/forbidden cannot be written (No such file or directory); choose another path",
    ),
    (
        "schedule-fifo",
        ["schedule", "linear", "--total-steps", "10", "--out", "fifo"],
        "schedule: --out fifo is a FIFO (named pipe); name a regular file",
    ),
    (
        "run-unwritable",
        ["run", "--steps", "10", "--out", "/proc/forbidden"],
        "run: --out /proc/forbidden cannot be written (No such file or directory); choose another path",
    ),
    (
        "run-into-schedule-folder",
        ["run", "--steps", "10", "--schedule", "run/grad_norms.csv", "--out", "run"],
        "run: --out run would replace the input run/grad_norms.csv (it writes grad_norms.csv there); choose another folder",
    ),
    (
        "compare-onto-schedule",
        ["compare", "--schedules", "sym.csv", "--out", "run/grad_norms.csv"],
        "compare: --out run/grad_norms.csv is the input; choose another file",
    ),
]
count("out", len(OUT))


@pytest.mark.parametrize("case,argv,message", OUT, ids=[c[0] for c in OUT])
def test_out_never_destroys_an_input_and_never_blocks(layout, capsys, case, argv, message):
    before = (layout / "run" / "grad_norms.csv").read_bytes()
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err == f"lrcore: error: {message}\n"
    assert out == ""  # nothing ran: no table, no progress
    assert (layout / "run" / "grad_norms.csv").read_bytes() == before


def test_out_is_checked_before_training(layout, capsys):
    """``lrcore run --out /proc/forbidden`` used to train first: now no progress line at all."""
    assert main(["run", "--steps", "10000", "--out", "/proc/forbidden/x"]) == 2
    err = capsys.readouterr().err
    assert "run [" not in err and err.count("\n") == 1


def test_failed_write_leaves_the_old_file_whole(tmp_path):
    count("out")
    target = tmp_path / "s.csv"
    target.write_bytes(b"step,lr\n0,1\n")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # fails inside the write
    assert target.read_bytes() == b"step,lr\n0,1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]  # no temporary file left
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"


def test_check_out_allows_a_fresh_file_and_stdout(tmp_path):
    assert check_out("refine", None, [tmp_path]) is None
    assert check_out("refine", str(tmp_path / "o.csv"), []) == tmp_path / "o.csv"


_TARGETS = ["run/grad_norms.csv", "run/sub/x.csv", "run", "hard.csv", "sym.csv", "fifo", "",
            "run/../hard.csv", "./run/grad_norms.csv", "new.csv", "deep/new.csv",
            "runlink/grad_norms.csv", "runlink/x.csv", "/dev/null"]  # fmt: skip


def _make_layout(root) -> None:
    (root / "run" / "sub").mkdir(parents=True)
    (root / "run" / "grad_norms.csv").write_text(grad_csv())
    os.link(root / "run" / "grad_norms.csv", root / "hard.csv")
    os.symlink("run/grad_norms.csv", root / "sym.csv")
    os.symlink("run", root / "runlink")
    os.mkfifo(root / "fifo")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    target=st.sampled_from(_TARGETS),
    source=st.sampled_from(["run", "run/grad_norms.csv", "sym.csv", "hard.csv", "runlink"]),
    output=st.sampled_from(["csv", "json", "torch"]),
)
def test_property_out_never_changes_an_input_byte(target, source, output):
    """Whatever --out names (the input, a member, a link to it, a FIFO, ""), every file the
    command reads keeps every byte; and when it writes, it writes no input."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        _make_layout(root)
        before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
        cwd = os.getcwd()
        os.chdir(root)
        try:
            code = main(["refine", source, "--steps", "20", "--as", output, "--out", target])
        finally:
            os.chdir(cwd)
        for p, data in before.items():
            assert p.read_bytes() == data, (source, target, p)
        if code == 0:
            assert (root / target).resolve() not in {p.resolve() for p in before}


# --------------------------------------------------------------------------- escaping

ESCAPES = [
    ("terminal-csi", "run\x1b[31mred.csv", "run\\x1b[31mred.csv"),
    ("terminal-title", "a\x1b]0;owned\x07.csv", "a\\x1b]0;owned\\x07.csv"),
    ("terminal-newline", "a\nb\r.csv", "a\\nb\\r.csv"),
    ("terminal-bidi", "txt.\u202egpj", "txt.\\u202egpj"),
]
count("escape", len(ESCAPES))


@pytest.mark.parametrize("case,name,shown", ESCAPES, ids=[c[0] for c in ESCAPES])
def test_for_terminal_makes_escapes_visible(case, name, shown):
    assert for_terminal(name) == shown


def test_for_markdown_shows_links_and_images_as_text():
    count("escape")
    # a word joiner (U+2060) after the scheme stops GFM's autolinker (see test_hardening_fresh)
    assert for_markdown("![x](http://e/a.png)") == "\\!\\[x\\]\\(http\u2060\\:\\/\\/e\\/a\\.png\\)"
    assert for_markdown("**b** $x$ :red[y] <img>") == r"\*\*b\*\* \$x\$ \:red\[y\] \<img\>"


def test_cli_prints_zip_member_names_with_escapes_visible(tmp_path, capsys):
    count("escape")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a\x1b]0;owned\x07.csv", grad_csv())
        z.writestr("b\x1b[31m.csv", grad_csv())
    (tmp_path / "two.zip").write_bytes(buf.getvalue())
    assert main(["inspect", str(tmp_path / "two.zip")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]0;owned\\x07.csv" in err and err.count("\n") == 1


def test_cli_prints_column_names_with_escapes_visible(tmp_path, capsys):
    count("escape")
    log = tmp_path / "g.csv"
    log.write_text("step,grad_norm,\x1b[2Jx\n" + "".join(f"{i},{1 + i},{i}\n" for i in range(9)))
    assert main(["inspect", str(log)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out


def test_app_escapes_upload_names_and_column_names():
    """An image link in a file name and a fake link in a header show as text, not markdown."""
    count("escape", 2)
    from _apptest import app, upload

    name = "![x](http://e.vil/a.png).csv"
    at = upload(app(), "refine_uploads", (name, b"step,[click](http://e.vil)\n0,abc\n1,2\n"))
    shown = [e.value for e in at.error]
    assert len(shown) == 1, shown
    assert "\\!\\[x\\]\\(http\u2060\\:\\/\\/e\\.vil\\/a\\.png\\)" in shown[0]
    assert "](http" not in shown[0].replace("\\]\\(http", "")
    assert not at.exception


# --------------------------------------------------------------------------- step columns

ROWS = "".join(f"{i},{1.0 + i},{2.0 + 1 / (i + 1)!r}\n" for i in range(0, 991, 10))


def _savetxt_space() -> bytes:
    buf = io.BytesIO()
    data = np.c_[np.arange(0, 991, 10), np.ones(100), 2 + 1 / np.arange(1, 101)]
    np.savetxt(buf, data, header="step loss grad_norm")
    return buf.getvalue()


STEPS = [
    ("savetxt-comma", ("# step,loss,grad_norm\n" + ROWS).encode(), 990,
     "100 rows read; nothing dropped; header read from the commented line before the data"),
    ("savetxt-space", _savetxt_space(), 990,
     "100 rows read; nothing dropped; header read from the commented line before the data"),
    ("plural", ("steps,loss,grad_norm\n" + ROWS).encode(), 990, "100 rows read; nothing dropped"),
    ("spaced", ("Global Step,loss,grad_norm\n" + ROWS).encode(), 990, "100 rows read; nothing dropped"),
    ("underscored", ("global_step,loss,grad_norm\n" + ROWS).encode(), 990, "100 rows read; nothing dropped"),
    ("prefixed", ("trainer/global_step,loss,grad_norm\n" + ROWS).encode(), 990,
     "100 rows read; nothing dropped"),
    ("dashed", ("train/global-step,loss,grad_norm\n" + ROWS).encode(), 990, "100 rows read; nothing dropped"),
    ("two-boms", ("\ufeff\ufeffstep,loss,grad_norm\n" + ROWS).encode(), 990,
     "100 rows read; nothing dropped"),
    ("no-step-column", ("a,loss,grad_norm\n" + ROWS).encode(), 99,
     "100 rows read; nothing dropped; no step column found: rows numbered 0..99"),
]  # fmt: skip
count("steps", len(STEPS))


@pytest.mark.parametrize("case,data,last,report", STEPS, ids=[c[0] for c in STEPS])
def test_step_columns_are_recognised_or_the_numbering_is_reported(case, data, last, report):
    log = load_log(data)
    assert log.metric == "grad_norm" and int(log.steps[-1]) == last
    assert log.report.describe() == report


def test_cli_and_refine_say_rows_were_numbered(tmp_path, capsys):
    count("steps")
    (tmp_path / "a.csv").write_text("a,loss,grad_norm\n" + ROWS)
    assert main(["inspect", str(tmp_path / "a.csv")]) == 0
    out = capsys.readouterr().out
    assert (
        "cleaning: 100 rows read; nothing dropped; no step column found: rows numbered 0..99\n"
        in out
    )


def test_app_shows_that_rows_were_numbered():
    count("steps")
    from _apptest import app, upload

    at = upload(app(), "refine_uploads", ("a.csv", ("a,loss,grad_norm\n" + ROWS).encode()))
    assert not at.exception and not at.error
    shown = for_markdown("no step column found: rows numbered 0..99")  # the caption's markdown
    assert any(shown in c.value for c in at.caption)


# --------------------------------------------------------------------------- library validation

VALIDATION = [
    ("peak-negative", lambda: build_schedule("linear", 10, peak_lr=-1.0),
     "build_schedule: peak_lr must be a finite number > 0, got -1.0"),
    ("peak-subnormal", lambda: build_schedule("linear", 10, peak_lr=5e-324),
     "build_schedule: peak_lr must be a finite number > 0 and not subnormal (at least 2.2250738585072014e-308), got 5e-324"),
    ("factory-peak-negative", lambda: linear_decay(-1.0, 10),
     "linear_decay: peak_lr must be a finite number > 0, got -1.0"),
    ("final-negative", lambda: cosine_decay(1.0, 10, final_lr=-0.1),
     "cosine_decay: final_lr must be a finite number >= 0, got -0.1"),
    ("peak-bool", lambda: build_schedule("cosine", 10, peak_lr=True),
     "build_schedule: peak_lr must be a finite number > 0, got True"),
    ("stretch-nan-step", lambda: stretch([1.0, 0.5, 0.0], 5, steps=[0.0, np.nan, 2.0]),
     "stretch: steps[1] = nan is not finite"),
    ("stretch-inf-step", lambda: stretch([1.0, 0.5, 0.0], 5, steps=[0.0, 1.0, np.inf]),
     "stretch: steps[2] = inf is not finite"),
    ("stretch-bool-steps", lambda: stretch([1.0, 0.5, 0.0], 5, steps=[False, True, True]),
     "stretch: steps must be real numbers, got booleans"),
    ("stretch-max-steps", lambda: stretch([1.0, 0.0], 10**9),
     "stretch: total_steps must be at most 20,000,000, got 1000000000"),
    ("evaluate-max-steps", lambda: evaluate(constant(1.0), 10**9),
     "evaluate: total_steps must be at most 20,000,000, got 1000000000"),
    ("build-max-steps", lambda: build_schedule("linear", 10**9),
     "build_schedule: total_steps must be at most 20,000,000, got 1000000000"),
    ("refine-bool", lambda: refine([True, False, True]),
     "refine: grad_norms must be real numbers, got booleans"),
    ("refine-complex", lambda: refine(np.array([1 + 0j, 2, 3])),
     "refine: grad_norms must be real numbers, got complex numbers"),
    ("refine-object", lambda: refine([1.0, object(), 2.0]),
     None),
    ("refine-overflow", lambda: refine([10**400, 1, 2]),
     "refine: grad_norms[0] is an integer of 401 digits, not a real number that fits a float64 (at most 1.8e308 in size)"),
    ("refine-text", lambda: refine(["1", "2"]),
     "refine: grad_norms must be a sequence of numbers, got <U1 values"),
    ("refine-grad-tensor", lambda: refine(__import__("torch").ones(5, requires_grad=True)),
     "refine: grad_norms is a tensor that requires grad; pass tensor.detach() (the norms are data, not part of the graph)"),
    ("csv-peak-subnormal", lambda: csv_bytes([1.0, 0.5], peak_lr=5e-324),
     "csv_bytes: peak_lr must be a finite number > 0 and not subnormal (at least 2.2250738585072014e-308), got 5e-324"),
    ("read-returns-none", lambda: load_log(_NoneReader()),
     "load_log: source.read() of x.csv returned NoneType, not bytes; pass a file opened in binary mode ('rb'), bytes or a path"),
]  # fmt: skip
count("validation", len(VALIDATION))


class _NoneReader:
    name = "x.csv"

    def read(self):
        return None


@pytest.mark.parametrize("case,call,message", VALIDATION, ids=[c[0] for c in VALIDATION])
def test_library_refuses_with_function_parameter_and_value(case, call, message):
    with pytest.raises(ValueError) as e:
        call()
    if message is None:  # the object's repr holds an address: check the start
        assert str(e.value).startswith("refine: grad_norms[1] is <object object at ")
    else:
        assert str(e.value) == message


def test_cli_refuses_a_subnormal_peak_lr(tmp_path, capsys):
    count("validation")
    (tmp_path / "g.csv").write_text(grad_csv())
    assert main(["refine", str(tmp_path / "g.csv"), "--peak-lr", "5e-324"]) == 2
    assert capsys.readouterr().err == (
        "lrcore: error: refine: --peak-lr must be a finite number > 0 and not subnormal "
        "(at least 2.2250738585072014e-308), got 5e-324\n"
    )


# --------------------------------------------------------------------------- awkward text files

GOOD = "".join(f"{i},{2 + 1 / (i + 1)!r}\n" for i in range(50))
AWKWARD_TEXT = [
    ("excel-sep-line", ("sep=;\nstep;grad_norm\n" + GOOD.replace(",", ";")).encode(), 49,
     "50 rows read; nothing dropped; delimiter ';' from the file's 'sep=' line"),
    ("bare-cr-mixed", ("step,grad_norm\r" + GOOD.replace("\n", "\r", 25)).encode(), 49,
     "50 rows read; nothing dropped; bare CR line endings read as line ends"),
    ("cut-in-a-number", ("step,grad_norm\n" + GOOD + "50,0").encode(), 49,
     "50 rows read; nothing dropped; last line cut short ('50,0', no newline at its end): dropped"),
    ("cut-after-point", ("step,grad_norm\n" + GOOD + "50,2.").encode(), 49,
     "50 rows read; nothing dropped; last line cut short ('50,2.', no newline at its end): dropped"),
    ("cut-in-a-row", ("step,grad_norm\n" + GOOD + "50").encode(), 49,
     "50 rows read; nothing dropped; last line cut short ('50', no newline at its end): dropped"),
    ("no-final-newline", ("step,grad_norm\n" + GOOD + "50,2.5").encode(), 50,
     "51 rows read; nothing dropped; the last line ('50,2.5') has no newline at its end: if the log was still being written, its last value may be cut"),
    ("wandb-x-axis", ('"x","run1 - grad_norm"\n' + "".join(f"{3 * i},{2 + 1 / (i + 1)}\n" for i in range(50))).encode(), 147,
     "50 rows read; nothing dropped; steps from the first column 'x'"),
]  # fmt: skip
count("awkward", len(AWKWARD_TEXT))


@pytest.mark.parametrize("case,data,last,report", AWKWARD_TEXT, ids=[c[0] for c in AWKWARD_TEXT])
def test_awkward_text_files_are_read_and_reported(case, data, last, report):
    log = load_log(data)
    assert int(log.steps[-1]) == last
    assert log.report.describe() == report


def test_wandb_time_axis_is_refused_naming_the_column():
    count("awkward")
    data = '"Relative Time (Process)","run1 - grad_norm","run1 - grad_norm__MIN"\n' + "".join(
        f"{0.37 * i},{2 + 1 / (i + 1)},1\n" for i in range(50)
    )
    with pytest.raises(ValueError) as e:
        load_log(data.encode())
    assert str(e.value) == (
        "<bytes>, line 3: the first column 'Relative Time (Process)', the x-axis of this W&B "
        "export, holds 0.37, not a whole step number (a time axis?); export the panel with "
        "Step as its x-axis"
    )


# --------------------------------------------------------------------------- archives

CSV = ("step,grad_norm\n" + GOOD).encode()


_zip = functools.partial(zip_bytes, compression=zipfile.ZIP_DEFLATED)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


_tar = functools.partial(tar_bytes, mode="w:gz")


def _encrypted_zip() -> bytes:
    """A zip whose member says it is encrypted (bit 0 of its flags, as zip -e writes)."""
    data = bytearray(_zip({"log.csv": CSV}))
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.index(sig)
        data[i + offset] |= 0x1
    return bytes(data)


ARCHIVES_READ = [
    ("macos-finder-zip", lambda: _zip({"run/log.csv": CSV, "__MACOSX/run/._log.csv": b"\x00\x05\x16\x07junk",
                                        "run/.DS_Store": b"\x00\x00\x00\x01Bud1"})),
    ("tar-gz-one-log", lambda: _tar({"run/log.csv": CSV, "run/._log.csv": b"\x00\x05\x16\x07"})),
    ("plain-tar", lambda: _tar({"log.csv": CSV}, mode="w")),
    ("zip-in-zip", lambda: _zip({"inner.zip": _zip({"log.csv": CSV})})),
    ("gz-in-gz", lambda: _gz(_gz(CSV))),
    ("gz-in-zip", lambda: _zip({"log.csv.gz": _gz(CSV)})),
    ("zip-in-tar-gz", lambda: _tar({"a.zip": _zip({"log.csv": CSV})})),
]  # fmt: skip
count("archives", len(ARCHIVES_READ))


@pytest.mark.parametrize("case,build", ARCHIVES_READ, ids=[c[0] for c in ARCHIVES_READ])
def test_archives_users_have_are_read(case, build):
    log = load_log(build())
    assert log.metric == "grad_norm" and len(log) == 50 and int(log.steps[-1]) == 49


ARCHIVES_REFUSED = [
    ("encrypted-zip", _encrypted_zip,
     "<bytes>: 'log.csv' is encrypted (a password-protected zip); unzip it with its password and pass the file"),
    ("three-deep", lambda: _gz(_gz(_gz(CSV))),
     "<bytes>: an archive inside an archive inside an archive; lrcore unpacks one archive and one inside it: unpack the outer ones first"),
    ("tar-two-logs", lambda: _tar({"a.csv": CSV, "b.csv": CSV}),
     "<bytes>: a tar archive must hold exactly one log, found 2: 'a.csv', 'b.csv'"),
    ("zip-only-macos-entries", lambda: _zip({"__MACOSX/._log.csv": b"x"}),
     "<bytes>: a zip file with no log inside, only folders or macOS / Windows extras: '__MACOSX/._log.csv'"),
]  # fmt: skip
count("archives", len(ARCHIVES_REFUSED))


@pytest.mark.parametrize(
    "case,build,message", ARCHIVES_REFUSED, ids=[c[0] for c in ARCHIVES_REFUSED]
)
def test_archives_refused_by_name(case, build, message):
    with pytest.raises(ValueError) as e:
        load_log(build())
    assert str(e.value) == message


BOMBS = [
    ("gzip", lambda big: _gz(big), "<bytes>: gzip unpacks to more than 4 MiB"),
    ("zip", lambda big: _zip({"log.csv": big}), "<bytes>: zip member 'log.csv' unpacks to more than 4 MiB"),
    ("tar-gz", lambda big: _tar({"log.csv": big}), "<bytes>: gzip unpacks to more than 4 MiB"),
    ("gz-in-zip", lambda big: _zip({"log.csv.gz": _gz(big)}),
     "<bytes>:log.csv.gz: gzip unpacks to more than 4 MiB"),
]  # fmt: skip
count("memory", len(BOMBS))


@pytest.mark.parametrize("case,build,start", BOMBS, ids=[c[0] for c in BOMBS])
def test_bombs_stop_at_the_cap_with_the_sizes(monkeypatch, case, build, start):
    """The stream stops at the cap (4 MiB here; 512 MiB in use; benchmarks/bench_memory.py
    measures the peak RSS of 1 GiB bombs)."""
    from lrcore.logs import _source

    monkeypatch.setattr(_source, "MAX_UNPACKED", 4 * 1024**2)
    reads = []
    real = _source._stream

    def counting(opener, *a):
        def opened():
            f = opener()
            read = f.read
            f.read = lambda n=-1: reads.append(n) or read(n)
            return f

        return real(opened, *a)

    monkeypatch.setattr(_source, "_stream", counting)
    big = b"step,grad_norm\n" + b"1,1.5\n" * (5 * 1024**2 // 6)  # 5 MiB unpacked
    with pytest.raises(ValueError) as e:
        load_log(build(big))
    assert str(e.value).startswith(start + " (from ")
    assert str(e.value).endswith(
        "compressed; stopped there); lrcore reads compressed logs of up to 4 MiB unpacked: "
        "unpack it and pass the plain file, which is read where it lies"
    )
    assert all(n == _source._CHUNK for n in reads) and len(reads) <= 8  # pieces, never all


# --------------------------------------------------------------------------- TensorBoard


def _event_bytes(events) -> bytes:
    import struct

    from lrcore.logs._events import masked_crc

    out = bytearray()
    for ev in events:
        payload = ev.SerializeToString()
        head = struct.pack("<Q", len(payload))
        out += head + struct.pack("<I", masked_crc(head)) + payload
        out += struct.pack("<I", masked_crc(payload))
    return bytes(out)


def _mixed_events(rng):
    """Scalars in the usual shape and every kind the column-wise path must leave to protobuf."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.util import tensor_util

    V = Summary.Value
    yield Event(wall_time=1.7e9, file_version="brain.Event:2")
    long_tag = "x/" + "g" * 200 + "/grad_norm"  # a tag longer than 127 bytes
    for i in range(300):
        kind = rng.integers(0, 6)
        vals = [V(tag="grad_norm", simple_value=float(rng.random() + 0.1))]
        if kind == 1:
            vals.append(V(tag="loss", simple_value=float(rng.random())))
        elif kind == 2:
            t = tensor_util.make_tensor_proto(np.float32(rng.random() + 0.1))
            vals = [V(tag="grad_norm", tensor=t)]
        elif kind == 3:
            vals.append(V(tag=long_tag, simple_value=1.5))
        elif kind == 4:
            vals.insert(
                0,
                V(
                    tag="img",
                    image=Summary.Image(height=1, width=1, encoded_image_string=b"\x89PNG"),
                ),
            )
        step = int(rng.integers(-5, 10**12)) if kind == 5 else i
        wall = 0.0 if i % 7 == 0 else 1.7e9 + i  # no wall_time field at all
        yield Event(wall_time=wall, step=0 if i == 3 else step, summary=Summary(value=vals))


def test_column_wise_event_reading_equals_protobuf_record_by_record(monkeypatch):
    """Every scalar, step and order agree with the protobuf-only path on mixed files."""
    count("tensorboard")
    from lrcore.logs import _events, _other

    data = _event_bytes(_mixed_events(np.random.default_rng(0)))
    fast = load_log_series(data)
    monkeypatch.setattr(_other, "fast_scalars", lambda d, s, n: (np.zeros(len(s), bool), []))
    slow = load_log_series(data)
    assert sorted(fast) == sorted(slow) and len(fast) == 3
    for tag in slow:
        assert fast[tag][0].tolist() == slow[tag][0].tolist(), tag
        assert fast[tag][1].tolist() == slow[tag][1].tolist(), tag
    assert _events.crc_backend() == "google-crc32c (native)"


def load_log_series(data: bytes) -> dict:
    from lrcore.logs import open_log

    parsed = open_log(data, fmt="tensorboard")
    return {k: (np.asarray(v.steps), np.asarray(v.values)) for k, v in parsed.series.items()}


def test_restart_files_are_ordered_by_wall_time_not_name(tmp_path):
    """A restart whose timestamp gains a digit sorts first by name; the wall time decides."""
    count("tensorboard")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    def run(t0: float, steps, base: float) -> bytes:
        evs = [Event(wall_time=t0, file_version="brain.Event:2")]
        evs += [
            Event(wall_time=t0 + s, step=s, summary=Summary(value=[Summary.Value(tag="grad_norm", simple_value=base + s)]))
            for s in steps
        ]  # fmt: skip
        return _event_bytes(evs)

    (tmp_path / "events.out.tfevents.999999999.host").write_bytes(
        run(999_999_999.0, range(0, 50), 1.0)
    )
    (tmp_path / "events.out.tfevents.1000000000.host").write_bytes(
        run(1_000_000_000.0, range(40, 80), 100.0)
    )
    log = load_log(tmp_path)
    # the restart (later wall time) is read last, so its steps 40..49 replace the first run's
    assert log.steps.tolist() == list(range(80))
    assert log.grad_norms[45] == 145.0 and log.grad_norms[39] == 40.0  # by name: 46.0
    assert log.report.duplicates == 10


def test_truncated_and_corrupt_records_are_counted_by_the_fast_reader():
    count("tensorboard")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    evs = [Event(wall_time=1.0, step=s, summary=Summary(value=[Summary.Value(tag="grad_norm", simple_value=1.0 + s)])) for s in range(20)]  # fmt: skip
    data = bytearray(_event_bytes(evs))
    rec = len(data) // 20
    data[5 * rec + 20] ^= 0xFF  # a payload byte of record 6: its checksum fails
    log = load_log(bytes(data[:-7]), fmt="tensorboard")  # and the last record cut short
    assert len(log) == 18 and log.report.unreadable == 2


# --------------------------------------------------------------------------- JSON


def _hf_state(entries, **before) -> bytes:
    import json

    return json.dumps({**before, "log_history": entries}, indent=2).encode()


HF_ENTRIES = [
    {"epoch": i / 10, "grad_norm": 1.0 + 1 / (i + 1), "loss": 2.0, "step": i} for i in range(1, 60)
]


def test_hf_state_with_log_history_after_the_first_64_kb():
    count("json")
    data = _hf_state(HF_ENTRIES, best_model_checkpoint="x" * 70_000, trial_params={"a": "b" * 1000})
    assert data.index(b'"log_history"') > 65536
    log = load_log(data)
    assert log.fmt == "hf_trainer" and len(log) == 59


def test_json_lines_with_a_log_history_key_are_json_lines():
    count("json")
    import json

    lines = [
        json.dumps({"step": i, "grad_norm": 1.0 + i, "log_history": [1, 2]}) for i in range(20)
    ]
    log = load_log(("\n".join(lines) + "\n").encode())
    assert log.fmt == "jsonl" and len(log) == 20 and log.metric == "grad_norm"


JSON_ERRORS = [
    ("jsonl-bad-line", b'{"step": 0, "grad_norm": 1}\n{"step": 1, "grad_norm": 2}\n{"step": 2, "grad_norm": }\n',
     "<bytes>, line 3: invalid JSON (Expecting value)"),
    ("jsonl-two-objects-on-a-line", b'{"step": 0, "grad_norm": 1}\n{"step": 1, "grad_norm": 2}, {"step": 2}\n',
     "<bytes>, line 2: invalid JSON (Extra data)"),
    ("jsonl-no-step", b'{"step": 0, "grad_norm": 1}\n{"grad_norm": 2}\n',
     "<bytes>, line 2: no step key (step, global_step, trainer/global_step, _step, iteration, iter)"),
    ("jsonl-step-text", b'{"step": 0, "grad_norm": 1}\n\n{"step": "x", "grad_norm": 2}\n',
     "<bytes>, line 3: step 'x' is not a number"),
    ("hf-entry-not-object", _hf_state([{"step": 1, "grad_norm": 1.0}, 3]),
     "<bytes>, log_history[1]: expected an object, got int"),
]  # fmt: skip
count("json", len(JSON_ERRORS))


@pytest.mark.parametrize("case,data,message", JSON_ERRORS, ids=[c[0] for c in JSON_ERRORS])
def test_json_errors_name_the_line(case, data, message):
    with pytest.raises(ValueError) as e:
        load_log(data)
    assert str(e.value) == message


def test_column_wise_json_keeps_null_text_and_bool_apart():
    """null is missing, text / true / a list are 'not a number', big integers are inf."""
    count("json")
    import json

    recs = [{"step": i, "grad_norm": 1.0 + i} for i in range(10)]
    recs[2]["grad_norm"] = None
    recs[3]["grad_norm"] = "n/a"
    recs[4]["grad_norm"] = True
    recs[5] = {"grad_norm": [1], "step": 5}  # another key order: another group
    recs[6]["grad_norm"] = 10**400
    recs[7]["grad_norm"] = "2.5"
    log = load_log(("\n".join(json.dumps(r) for r in recs) + "\n").encode())
    assert log.steps.tolist() == [0, 1, 7, 8, 9]
    assert log.grad_norms.tolist() == [1.0, 2.0, 2.5, 9.0, 10.0]
    r = log.report
    assert (r.missing, r.non_numeric, r.inf, r.rows_read) == (1, 3, 1, 10)


PEAK_OPTIONS = [
    ("run", ["run", "--steps", "10", "--peak-lr", "5e-324"],
     "run: --peak-lr must be a finite number > 0 and not subnormal (at least 2.2250738585072014e-308), got 5e-324"),
    ("compare", ["compare", "--steps", "10", "--peak-lrs", "0.1,-1"],
     "compare: --peak-lrs must be a finite number > 0, got -1.0"),
    ("schedule", ["schedule", "linear", "--total-steps", "10", "--peak-lr", "5e-324"],
     "schedule: --peak-lr must be a finite number > 0 and not subnormal (at least 2.2250738585072014e-308), got 5e-324"),
]  # fmt: skip
count("validation", len(PEAK_OPTIONS))


@pytest.mark.parametrize("case,argv,message", PEAK_OPTIONS, ids=[c[0] for c in PEAK_OPTIONS])
def test_every_command_refuses_a_subnormal_or_negative_peak(capsys, case, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err == f"lrcore: error: {message}\n" and "run [" not in err


def test_pure_python_crc_fallback_reads_the_same(monkeypatch):
    """Without google-crc32c, tensorboard's own CRC reads the same file to the same series."""
    count("tensorboard")
    import sys

    from lrcore.logs import _events

    data = _event_bytes(_mixed_events(np.random.default_rng(1)))
    native = load_log_series(data)
    monkeypatch.setitem(sys.modules, "google_crc32c", None)  # import fails
    monkeypatch.setattr(_events, "_MASKED_CRC", None)
    assert _events.crc_backend() == "tensorboard (pure Python)"
    fallback = load_log_series(data)
    assert {k: (s.tolist(), v.tolist()) for k, (s, v) in fallback.items()} == {
        k: (s.tolist(), v.tolist()) for k, (s, v) in native.items()
    }
    assert _events._MASKED_CRC is not None and _events._MASKED_CRC.__module__.startswith(
        "tensorboard"
    )


COMMENTED = [
    ("comment-then-header", ("# written by foo\nstep,grad_norm\n" + GOOD).encode(),
     "50 rows read; nothing dropped; 1 comment line(s) at the top skipped"),
    ("commented-copy-of-header", ("# step,grad_norm\nstep,grad_norm\n" + GOOD).encode(),
     "50 rows read; nothing dropped; 1 comment line(s) at the top skipped"),
    ("savetxt-two-line-header", None,
     "50 rows read; nothing dropped; header read from the commented line before the data; 1 comment line(s) at the top skipped"),
]  # fmt: skip
count("awkward", len(COMMENTED) + 1)


@pytest.mark.parametrize("case,data,report", COMMENTED, ids=[c[0] for c in COMMENTED])
def test_comment_lines_at_the_top(case, data, report):
    if data is None:  # numpy.savetxt(header="run 7\nstep grad_norm")
        buf = io.BytesIO()
        np.savetxt(
            buf, np.c_[np.arange(50), 2 + 1 / np.arange(1, 51)], header="run 7\nstep grad_norm"
        )
        data = buf.getvalue()
    log = load_log(data)
    assert log.metric == "grad_norm" and int(log.steps[-1]) == 49
    assert log.report.describe() == report


def test_a_sep_line_alone_is_refused():
    with pytest.raises(ValueError) as e:
        load_log(b"sep=;\n")
    assert (
        str(e.value)
        == "<bytes>: no data after the file's first line(s) (delimiter ';' from the file's 'sep=' line)"
    )
