"""The fast path for plain numeric CSVs (pandas' C parser, issue 10 item 5) gives exactly
what the general path (pandas' pyarrow engine) gives: the same series, bit for bit, or the
same error message; it only ever declines, never reads a file differently."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from test_hardening_props import FAST, SLOW, _relaxed, csv_files

from lrcore.logs import LogError, _tables, open_log


def outcome(data: bytes):
    """Every series of the file (values, steps, missing mask) and its cleaned default, or
    the error message."""
    try:
        lf = open_log(io.BytesIO(data))
    except LogError as e:
        return ("error", str(e))
    series = {
        name: (
            np.asarray(s.values, dtype=np.float64).tobytes(),
            None if s.steps is None else np.asarray(s.steps, dtype=np.float64).tobytes(),
            None if s.missing is None else np.asarray(s.missing).tobytes(),
            s.first_line,
        )
        for name, s in lf.series.items()
    }
    try:
        log = lf.load(None)
        loaded = (log.steps.tobytes(), log.grad_norms.tobytes(), log.report, log.metric)
    except LogError as e:
        loaded = ("error", str(e))
    return ("ok", lf.fmt, series, loaded)


def general(data: bytes, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_tables, "_read_simple", lambda *a: None)
        return outcome(data)


def taken(data: bytes, delimiter: str = ",", header: bool = True) -> bool:
    from lrcore.logs._source import open_source

    return _tables._read_simple(open_source(data), delimiter, header) is not None


PLAIN = b"step,grad_norm\n0,1.5\n1,2.25\n2,3e-5\n"


def test_a_plain_numeric_csv_takes_the_fast_path_and_reads_the_same(monkeypatch):
    assert taken(PLAIN)
    assert outcome(PLAIN) == general(PLAIN, monkeypatch)
    log = open_log(io.BytesIO(PLAIN)).load(None)
    assert log.steps.tolist() == [0, 1, 2] and log.grad_norms.tolist() == [1.5, 2.25, 3e-5]


@pytest.mark.parametrize(
    "data, why",
    [
        (b"step,grad_norm\n0,1.5\n1\n2,3\n", "a short row"),
        (b"step,grad_norm\n0,1.5,\n1,2,\n", "a trailing delimiter"),
        (b"step,grad_norm\n0,1.5,\n1,2\n", "a trailing delimiter on the first row"),
        (b"step,grad_norm\n0,1.5,7\n1,2\n2,3\n", "a long first row"),
        (b"step,grad_norm\n0,1.5, \n1,2\n", "a blank extra field on the first row"),
        (b"step,grad_norm\n0,1.5\n1,2,\n", "a trailing delimiter on a later row"),
        (b"step,grad_norm\n0,1.5\n1,2,7\n", "a long later row"),
        (b"0,1.5,\n1,2\n", "no header, a long first row"),
        (b"0,1.5\n1,2,\n", "no header, a long later row"),
        (b"0,1.5\n1\n", "no header, a short row"),
        (b"step,grad_norm\n0,1.5\n,\n1,2\n", "a row of delimiters"),
        (b"step,grad_norm\n0,1.5\n  \n1,2.5\n2,0.5\n", "a line of spaces"),
        (b"step,grad_norm\n0,1.5\n\t\n1,2.5\n", "a line holding a tab"),
        (b"step,grad_norm\n  \n0,1.5\n1,2.5\n", "a line of spaces first"),
        (b"  \nstep,grad_norm\n0,1.5\n1,2.5\n", "a line of spaces before the header"),
        (b"step,grad_norm,loss\n0,1.5,3\n \n1,2.5,4\n", "three columns, a line of spaces"),
        (b"step,grad_norm\n0,1.5\n\x0c\n1,2.5\n", "a form feed line"),
        (b"step,grad_norm\n0,1.5\n1,\n2,3\n", "an empty cell"),
        (b'step,grad_norm\n0,"1.5"\n1,2\n', "a quoted field"),
        (b"step,grad_norm\n0,nan\n1,2\n", "a nan word"),
        (b"step,grad_norm\n18446744073709551615,1\n1,2\n", "a step above int64"),
        (b"step,grad_norm\n0,true\n1,false\n", "booleans"),
        (b"step,step\n0,1\n1,2\n", "repeated names"),
        (b"step,\n0,1\n1,2\n", "an empty name"),
        (b"step,grad_norm\n0,1.5\n1,abc\n", "text"),
        (b"step grad_norm\n0 1.5\n1 2\n", "spaces between fields"),
    ],
)
def test_the_fast_path_declines_what_it_cannot_read_exactly(data, why, monkeypatch):
    delim = " " if b"," not in data else ","
    assert not taken(data, delim), why
    assert outcome(data) == general(data, monkeypatch), why


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfstep,grad_norm\n0,1\n1,2\n",  # a UTF-8 byte-order mark
        b"step,grad_norm\r\n0,1\r\n1,2\r\n",  # Windows line ends
        b"step,grad_norm\n\n0,1\n\n1,2\n\n",  # blank lines
        b"step;grad_norm\n0;1.5\n1;2\n",  # semicolons, decimal points
        b"step\tgrad_norm\tloss\n0\t1\t3\n1\t2\t4\n",  # tabs, three columns
        b"0,1.5\n1,2\n2,3\n",  # no header
        b"1.5\n2\n3\n",  # one number per line
        b"step,grad_norm\n0, 1.5\n1 ,2 \n",  # spaces around numbers
        b"step,grad_norm\n0,1e400\n1,4.9e-324\n2,-0.0\n",  # overflow, subnormal, -0
        b"step,grad_norm\n2,1\n1,2\n1,3\n",  # out of order, repeated
        b"step,grad_norm\n0,0\n1,2\n",  # a zero norm (an error after reading)
        b"step,grad_norm\n0,inf\n1,-inf\n2,3\n",  # inf words (dropped and counted)
    ],
)
def test_awkward_but_valid_files_read_the_same_either_way(data, monkeypatch):
    assert outcome(data) == general(data, monkeypatch)


def test_floats_are_parsed_with_correct_rounding(monkeypatch):
    """Both parsers give the nearest double to every decimal string (here 60,000 random
    values from 1e-320 to 1e308, written with 17 and 25 significant digits)."""
    rng = np.random.default_rng(0)
    values = np.r_[10.0 ** rng.uniform(-320, 308, 20_000), rng.lognormal(0, 3, 10_000)]
    text = [repr(float(v)) for v in values] + [f"{v:.25e}" for v in values]
    data = ("step,grad_norm\n" + "".join(f"{i},{t}\n" for i, t in enumerate(text))).encode()
    assert taken(data)
    expected = np.array([float(t) for t in text])
    lf = open_log(io.BytesIO(data))
    np.testing.assert_array_equal(lf.series["grad_norm"].values, expected)  # exact, not close
    assert outcome(data) == general(data, monkeypatch)


@settings(max_examples=FAST, **_relaxed)
@given(csv_files())
def test_any_csv_shape_reads_the_same_with_and_without_the_fast_path(data):
    with pytest.MonkeyPatch.context() as mp:
        assert outcome(data) == general(data, mp)


@pytest.mark.fuzz
@settings(max_examples=SLOW, **_relaxed)
@given(csv_files())
def test_any_csv_shape_reads_the_same_fuzz(data):
    with pytest.MonkeyPatch.context() as mp:
        assert outcome(data) == general(data, mp)


def test_a_file_on_disk_reads_as_its_bytes_do(tmp_path, monkeypatch):
    """Files on disk are scanned through mmap and parsed by path: same series as the bytes."""
    rng = np.random.default_rng(1)
    data = (
        "step,grad_norm\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(rng.random(500)))
    ).encode()
    path = tmp_path / "log.csv"
    path.write_bytes(data)
    assert open_log(path).series["grad_norm"].values.tobytes() == outcome(data)[2]["grad_norm"][0]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"step,grad_norm\n0,1.5,\n1,2\n")  # declined: the general path's message
    with pytest.raises(LogError, match="fields where the first row has"):
        open_log(bad)
