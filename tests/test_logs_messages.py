"""Logs that used to get a weak message or none: empty archives, JSON arrays of records,
one-record JSON lines, Windows-1252 and UTF-32 text, negative steps. Each with its exact
message or report note, from the library, the CLI and (one of them) the app."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pandas as pd
import pytest
from _archives import tar_bytes as _tar
from _archives import zip_bytes as _zip

from lrcore.cli import main
from lrcore.logs import load_log


def _folder_only_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("run")
        info.type = tarfile.DIRTYPE
        t.addfile(info)
    return buf.getvalue()


# --------------------------------------------------------------------------- 1. empty archives

EMPTY = [
    ("empty-tar", lambda: _tar({}), "<bytes>: an empty tar archive with no log inside"),
    ("empty-tar-gz", lambda: _tar({}, "w:gz"), "<bytes>: an empty tar archive with no log inside"),
    ("empty-zip", lambda: _zip({}), "<bytes>: an empty zip file with no log inside"),
    (
        "tar-only-folder",
        _folder_only_tar,
        "<bytes>: a tar archive with no log inside, only folders or macOS / Windows extras: 'run'",
    ),
    (
        "zip-only-ds-store",
        lambda: _zip({"run/.DS_Store": b"x", "__MACOSX/._a.csv": b"y"}),
        "<bytes>: a zip file with no log inside, only folders or macOS / Windows extras: "
        "'run/.DS_Store', '__MACOSX/._a.csv'",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case,build,message", EMPTY, ids=[c[0] for c in EMPTY])
def test_empty_archives_are_called_empty(case, build, message):
    with pytest.raises(ValueError) as e:
        load_log(build())
    assert str(e.value) == message


def test_an_empty_tar_on_disk_through_the_cli(tmp_path, capsys):
    (tmp_path / "run.tar").write_bytes(_tar({}))
    assert main(["inspect", str(tmp_path / "run.tar")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"lrcore: error: {tmp_path / 'run.tar'}: an empty tar archive with no log inside"


def test_zero_bytes_that_are_not_a_tar_block_size_stay_binary():
    with pytest.raises(ValueError, match=r"^<bytes>: binary content that is not a TensorBoard"):
        load_log(bytes(1500))  # not a multiple of 512: not an (empty) tar archive


# --------------------------------------------------------------------------- 2. JSON records

STEPS = np.array([0, 10, 20, 30, 40])
NORMS = np.array([2.5, 1.25, 0.75, 0.5, 0.375])


def test_a_json_array_of_records_from_pandas_is_read_like_json_lines():
    df = pd.DataFrame({"step": STEPS, "loss": NORMS * 3, "grad_norm": NORMS})
    for text in (df.to_json(orient="records"), df.to_json(orient="records", indent=2)):
        log = load_log(text.encode())
        assert log.fmt == "jsonl" and log.metric == "grad_norm"
        assert log.steps.tolist() == STEPS.tolist()
        np.testing.assert_array_equal(log.grad_norms, NORMS)
        assert "read as a JSON array of 5 records (one object per step, like JSON lines)" in (
            log.report.notes
        )
    lines = "".join(json.dumps(r) + "\n" for r in df.to_dict("records")).encode()
    as_lines = load_log(lines)  # the same records as JSON lines: the same series
    np.testing.assert_array_equal(as_lines.grad_norms, log.grad_norms)
    assert as_lines.steps.tolist() == log.steps.tolist()


RECORDS_REFUSED = [
    ("empty-array", b"[]", "<bytes>: a JSON list that is neither a trainer_state.json (with "
     "'log_history'), a TensorBoard download ([[wall_time, step, value], ...]) nor JSON lines"),
    ("item-not-object", b'[{"step": 0, "grad_norm": 1}, 3]',
     "<bytes>, item [1]: expected a JSON object, got int"),
    ("no-step", b'[{"step": 0, "grad_norm": 1}, {"grad_norm": 2}]',
     "<bytes>, item [1]: no step key (step, global_step, trainer/global_step, _step, iteration, iter)"),
    ("bad-step", b'[{"step": 0, "grad_norm": 1}, {"step": "x", "grad_norm": 2}]',
     "<bytes>, item [1]: step 'x' is not a number"),
    ("invalid", b'[{"step": 0, "grad_norm": 1},\n{"step": 1,, }]',
     "<bytes>, line 2: invalid JSON (Expecting property name enclosed in double quotes)"),
]  # fmt: skip


@pytest.mark.parametrize("case,data,message", RECORDS_REFUSED, ids=[c[0] for c in RECORDS_REFUSED])
def test_a_json_array_of_records_refused_by_item(case, data, message):
    with pytest.raises(ValueError) as e:
        load_log(data)
    assert str(e.value) == message


def test_one_json_line_is_read_and_one_point_is_too_few():
    for data in (b'{"step": 1, "grad_norm": 0.5}\n', b'{"step": 1, "grad_norm": 0.5}'):
        with pytest.raises(ValueError) as e:
            load_log(data)
        assert str(e.value) == (
            "<bytes>: grad_norm has 1 usable point(s) after cleaning, need at least 2 "
            "(1 rows read; nothing dropped)"
        )
    with pytest.raises(ValueError, match="neither a trainer_state.json"):
        load_log(b'{"lr": 0.1, "batch_size": 32}\n')  # one object with no step: a config


def test_a_one_line_trainer_state_is_still_a_trainer_state():
    doc = {
        "global_step": 2,
        "log_history": [{"step": 1, "grad_norm": 1.0}, {"step": 2, "grad_norm": 0.5}],
    }
    assert load_log(json.dumps(doc).encode()).fmt == "hf_trainer"


# --------------------------------------------------------------------------- 3. encodings

CP1252_NOTE = (
    "not UTF-8 (byte 15 is 0xB5): read as Windows-1252, the encoding Excel saves CSV in, "
    "where it is 'µ'; save the file as UTF-8 (Excel: 'CSV UTF-8') if a name looks wrong"
)


def test_windows_1252_text_is_read_with_a_note(tmp_path):
    data = "step,grad_norm µ\n0,2.5\n1,1.25\n2,0.75\n".encode("cp1252")
    (tmp_path / "excel.csv").write_bytes(data)
    for source in (data, tmp_path / "excel.csv"):
        log = load_log(source)
        assert log.metric == "grad_norm µ" and log.grad_norms.tolist() == [2.5, 1.25, 0.75]
        assert log.report.notes == (CP1252_NOTE,)
    assert CP1252_NOTE in log.report.describe()


def test_bytes_windows_1252_leaves_undefined_are_refused_with_a_hint():
    with pytest.raises(ValueError) as e:
        load_log(b"step,grad_norm\x81\n0,1\n1,2\n")  # 0x81: undefined in Windows-1252
    assert str(e.value) == (
        "<bytes>: not a text log (byte 14 is not UTF-8) and not a TensorBoard event file; "
        "if it is text, save it as UTF-8"
    )


def test_utf8_text_is_not_touched():
    log = load_log("step,grad_norm µ\n0,2\n1,1\n".encode())
    assert log.metric == "grad_norm µ" and log.report.notes == ()


@pytest.mark.parametrize("encoding", ["utf-32", "utf-32-le", "utf-32-be"])
def test_utf32_with_a_byte_order_mark_is_read(encoding):
    text = "step,grad_norm\n0,2.5\n1,1.25\n"
    bom = {"utf-32": b"", "utf-32-le": b"\xff\xfe\x00\x00", "utf-32-be": b"\x00\x00\xfe\xff"}
    log = load_log(bom[encoding] + text.encode(encoding))
    assert log.steps.tolist() == [0, 1] and log.grad_norms.tolist() == [2.5, 1.25]
    assert log.report.notes == ("read as UTF-32 text (decoded by its byte-order mark)",)


def test_a_utf32_mark_on_bytes_that_are_not_utf32_is_refused():
    with pytest.raises(ValueError) as e:
        load_log(b"\xff\xfe\x00\x00" + b"\xff\xff\xff\xff" * 3)
    assert str(e.value) == (
        "<bytes>: starts with a UTF-32 byte-order mark but is not UTF-32 text (byte 4); "
        "save the log as UTF-8"
    )


# --------------------------------------------------------------------------- 4. negative steps


def test_negative_steps_are_kept_and_noted():
    log = load_log(b"step,grad_norm\n-5,2\n-4,1.5\n0,1\n")
    assert log.steps.tolist() == [-5, -4, 0] and log.grad_norms.tolist() == [2, 1.5, 1]
    assert log.report.notes == (
        "steps start at -5: negative step numbers kept as they are (steps usually count from 0)",
    )
    assert load_log(b"step,grad_norm\n0,2\n1,1\n").report.notes == ()


# --------------------------------------------------------------------------- the app


def test_the_app_shows_the_empty_archive_message():
    from _apptest import app, upload

    from lrcore._text import for_markdown as md

    at = upload(app(), "refine_uploads", ("run.tar", _tar({})))
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(
        md("Could not read run.tar: an empty tar archive with no log inside") in e for e in errors
    ), errors
