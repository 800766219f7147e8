"""Issue 18, fresh-eyes round: defects found by a tester who did not write the input handling.

- ``--out /dev/stdout`` with stdout redirected to a file passed every check (it stats as a
  regular file), and the write's rename replaced the system's ``/dev/stdout`` symbolic link
  with a plain file (as root); the same path through ``/proc/self/fd/N`` is tested here so a
  regression cannot damage ``/dev``.
- ``--out`` naming a symbolic link replaced the link with a plain file instead of writing the
  file it names.
- an input that is a symbolic-link loop gave ``RuntimeError: Symlink loop from ...`` through the
  catch-all when ``--out`` was given (``Path.resolve`` raises on loops), instead of the reader's
  message.
"""

from __future__ import annotations

import os

import pytest

from lrcore.cli import main

CSV = "step,grad_norm\n" + "".join(f"{s},{3 - s / 10}\n" for s in range(10))


@pytest.mark.parametrize("prefix", ["/proc/self/fd", "/dev/fd"])
def test_out_through_a_stream_link_is_refused_and_nothing_is_replaced(
    tmp_path, capsys, monkeypatch, prefix
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.csv").write_text(CSV)
    redirected = tmp_path / "redirected.txt"
    fd = os.open(redirected, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        out = f"{prefix}/{fd}"
        assert os.path.isfile(out)  # stats as a regular file: the old check let it through
        assert main(["refine", "g.csv", "--out", out]) == 2
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert err == (
        f"lrcore: error: refine: --out {out} is a special file (under /dev or /proc); name a "
        "regular file (leave --out out to write to stdout)\n"
    )
    assert redirected.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv", "redirected.txt"]


def test_out_through_a_symbolic_link_writes_the_file_it_names(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.csv").write_text(CSV)
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "v3.csv").write_text("old\n")
    os.symlink("schedules/v3.csv", "latest.csv")
    assert main(["refine", "g.csv", "--out", "latest.csv"]) == 0
    assert "wrote 10 steps to latest.csv" in capsys.readouterr().err
    assert os.readlink("latest.csv") == "schedules/v3.csv"  # the link is kept
    written = (tmp_path / "schedules" / "v3.csv").read_text()
    assert written.startswith("step,lr\n0,") and len(written.splitlines()) == 11
    assert sorted(p.name for p in (tmp_path / "schedules").iterdir()) == ["v3.csv"]


def test_a_symlink_loop_input_with_out_gets_the_readers_message(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink("b.csv", "a.csv")
    os.symlink("a.csv", "b.csv")
    assert main(["refine", "a.csv", "--out", "o.csv"]) == 2
    assert capsys.readouterr().err == (
        "lrcore: error: a.csv: symbolic link loop (the link points back to itself)\n"
    )
    assert not (tmp_path / "o.csv").exists()


def test_out_as_a_link_to_the_input_is_still_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.csv").write_text(CSV)
    os.symlink("g.csv", "link.csv")
    assert main(["refine", "g.csv", "--out", "link.csv"]) == 2
    assert capsys.readouterr().err == (
        "lrcore: error: refine: --out link.csv is the input; choose another file\n"
    )
    assert (tmp_path / "g.csv").read_text() == CSV


LIGHTNING = "epoch,grad_2.0_norm_total,grad_1.0_norm_total,step,train_loss,val_loss\n" + "".join(
    f"0,{3 - s / 10},{30 - s},{s},2.0,\n" + (f"0,,,{s},,1.7\n" if s % 5 == 4 else "")
    for s in range(10)
)


def test_lightning_l1_total_norm_is_an_l1_norm(tmp_path, capsys):
    """Lightning's grad_norm(norm_type=1) logs 'grad_1.0_norm_total': it was taken for an l2
    norm (only names containing 'l1' were), so --optimizer adam picked the l2 series."""
    log = tmp_path / "metrics.csv"
    log.write_text(LIGHTNING)
    assert main(["inspect", str(log)]) == 0
    out, err = capsys.readouterr()
    assert (
        "note: the log holds l1 and l2 norms and does not say which optimizer ran: used "
        "'grad_2.0_norm_total' (l2) and the SGD rule; for an Adam-family run use "
        "'grad_1.0_norm_total' (l1) with the Adam rule (CLI: --optimizer adam; app: "
        "'Refinement rule')" in err
    )
    assert main(["refine", str(log), "--optimizer", "adam", "--steps", "10"]) == 0
    err = capsys.readouterr().err
    assert (
        "refined 10 points of 'grad_1.0_norm_total' (lightning; Adam rule on l1 norms "
        "(optimizer=adam as asked);" in err
    )
    from lrcore.logs import load_log

    assert load_log(log, metric="grad_1.0_norm_total").norm_type == "l1"
    assert load_log(log, metric="grad_2.0_norm_total").norm_type == "l2"


def test_an_excel_workbook_is_named_and_the_fix_said(tmp_path, capsys):
    """An .xlsx is a zip of XML parts: it was refused as 'a zip file must hold exactly one
    log, found 3', which sends the user looking for the wrong thing."""
    import zipfile

    book = tmp_path / "log.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        for part in ("[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"):
            z.writestr(part, "<x/>")
    assert main(["inspect", str(book)]) == 2
    assert capsys.readouterr().err == (
        f"lrcore: error: {book}: an Excel workbook, not a log; save the sheet as CSV "
        "(File > Save As > CSV) and pass that file\n"
    )


def test_a_table_aligned_with_runs_of_spaces_is_read(tmp_path):
    """'  step   grad_norm' and right-aligned numbers: each space was taken for a separator
    ('a row has 11 fields where the first row has 6')."""
    from lrcore.logs import load_log

    f = tmp_path / "log.txt"
    f.write_text(
        "  step   grad_norm\n" + "".join(f"{s:6d}   {5 - s / 100:10.6f}\n" for s in range(50))
    )
    log = load_log(f)
    assert log.metric == "grad_norm" and log.steps.tolist() == list(range(50))
    assert log.grad_norms[[0, -1]].tolist() == [5.0, 4.51]


@pytest.mark.parametrize(
    "name", ["http://e.vil/x", "see www.evil.com", "me@x.com", "[x](https://e.vil)"]
)
def test_bare_addresses_are_not_autolinked_in_markdown(name):
    """Streamlit's markdown (GFM) linked 'http\\:\\/\\/e\\.vil' despite the escapes; checked in
    Chromium: 0 anchors for these names after the fix."""
    import re

    from lrcore._text import for_markdown

    text = for_markdown(name)
    plain = text.replace("\\", "").replace("\u2060", "")
    assert plain == name  # shows the same characters
    assert not re.search(r"(?i)https?:|www\.|\w@", text.replace("\\", ""))


@pytest.mark.parametrize("argv", [["schedule", "linear", "--total-steps", "3"], ["refine"]])
def test_out_dash_is_stdout(tmp_path, capsys, monkeypatch, argv):
    """'--out -' wrote a file named '-' in the working folder; it means stdout."""
    log = tmp_path / "g.csv"
    log.write_text("step,grad_norm\n" + "".join(f"{s},{2 - s / 10}\n" for s in range(10)))
    monkeypatch.chdir(tmp_path)
    args = [*argv, str(log), "--steps", "3"] if argv == ["refine"] else argv
    assert main([*args, "--out", "-"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "step,lr"
    assert not (tmp_path / "-").exists()
