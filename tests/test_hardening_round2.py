"""Issue 18: hostile and awkward inputs, round two. Each case with its exact message.

Categories: ``out`` (--out never destroys an input, never blocks, checked before work),
``escape`` (names from files reach markdown escaped and the terminal with escapes visible).
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcore._output import check_out, write_atomic
from lrcore._text import for_markdown, for_terminal
from lrcore.cli import main

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
        ["refine", "run", "--out", "/dev/null"],
        "refine: --out /dev/null is a character device; name a regular file",
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
    assert for_markdown("![x](http://e/a.png)") == r"\!\[x\]\(http\:\/\/e\/a\.png\)"
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
    assert "\\!\\[x\\]\\(http\\:\\/\\/e\\.vil\\/a\\.png\\)" in shown[0]
    assert "](http" not in shown[0].replace("\\]\\(http", "")
    assert not at.exception


def test_count_cases():
    assert CASES["out"] >= 15 and CASES["escape"] >= 8
    print(CASES)
