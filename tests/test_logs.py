import contextlib
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcore import refine
from lrcore.cli import main
from lrcore.logs import FORMATS, GradNormLog, LogError, detect_format, list_metrics, load_log
from lrcore.logs._write import WRITERS, write_log

STEPS = np.arange(0, 200, 10)
NORMS = np.linspace(3.0, 1.0, 20) + 0.1 * np.sin(np.arange(20))


@pytest.mark.parametrize("fmt", [*WRITERS, "tensorboard"])
def test_every_format_round_trips(tmp_path, fmt):
    path = write_log(tmp_path / f"run_{fmt}", STEPS, NORMS, fmt)
    log = load_log(path)
    assert log.fmt == fmt
    np.testing.assert_allclose(log.grad_norms, NORMS, rtol=1e-6)  # event files store float32
    expected_steps = np.arange(20) if fmt == "text" else STEPS
    assert log.steps.tolist() == expected_steps.tolist()
    assert log.report.dropped == 0 and log.report.rows_read == 20
    assert detect_format(path) == fmt


@pytest.mark.parametrize("fmt", [*WRITERS, "tensorboard"])
def test_uploads_arrive_as_bytes_or_file_objects(tmp_path, fmt):
    path = write_log(tmp_path / f"run_{fmt}", STEPS, NORMS, fmt)
    if path.is_dir():
        path = next(path.glob("*tfevents*"))
    data = path.read_bytes()
    upload = io.BytesIO(data)
    upload.name = path.name
    for src in (data, upload):
        log = load_log(src)
        assert log.fmt == fmt and len(log) == 20


def test_tsv_and_headerless_two_columns(tmp_path):
    (tmp_path / "a.tsv").write_text("step\tgrad_norm\n5\t1.5\n6\t2.5\n")
    assert load_log(tmp_path / "a.tsv").steps.tolist() == [5, 6]
    log = load_log(b"0,3.0\n1,2.0\n2,1.0\n")
    assert log.fmt == "csv" and log.grad_norms.tolist() == [3.0, 2.0, 1.0]


def test_wandb_several_runs_gaps_empty_cells_and_inf():
    text = (
        b'"train/global_step","a - grad_norm","a - grad_norm__MIN","a - grad_norm__MAX",'
        b'"b - grad_norm","b - grad_norm__MIN","b - grad_norm__MAX"\n'
        b'"10","2.0","2.0","2.0","","",""\n'
        b'"20","inf","inf","inf","5.0","5.0","5.0"\n'
        b'"40","1.0","1.0","1.0","4.0","4.0","4.0"\n'
        b'"50","1.5","1.5","1.5","3.0","3.0","3.0"\n'
    )
    assert list_metrics(text) == ["a - grad_norm", "b - grad_norm"]
    with pytest.raises(
        LogError, match=r"several gradient-norm series found: 'a - grad_norm', 'b - grad_norm'"
    ):
        load_log(text)
    a = load_log(text, metric="a - grad_norm")
    assert a.steps.tolist() == [10, 40, 50] and a.report.inf == 1
    b = load_log(text, metric="b - grad_norm")
    assert b.steps.tolist() == [20, 40, 50] and b.report.missing == 1
    assert "1 missing" in b.report.describe()


def test_metric_by_short_name_and_l1_detection():
    text = (
        b'"Step","run1 - sched/gnorm_l1","run1 - sched/gnorm_l1__MIN"\n"0","3","3"\n"1","2","2"\n'
    )
    log = load_log(text, metric="sched/gnorm_l1")
    assert log.norm_type == "l1" and log.suggested_optimizer == "adam"
    assert load_log(b"step,grad_norm\n0,1\n1,2\n").suggested_optimizer == "sgd"


def test_metric_priority_order():
    text = b"step,loss,gnorm,grad_norm,lr\n0,1,5,3,0.1\n1,1,4,2,0.1\n"
    log = load_log(text)
    assert log.metric == "grad_norm" and log.candidates == ("grad_norm", "gnorm")
    assert load_log(text, metric="loss").grad_norms.tolist() == [1.0, 1.0]


def test_hf_trainer_skips_eval_and_summary_and_drops_overflow(tmp_path):
    history = [
        {"epoch": 0.1, "grad_norm": float("inf"), "learning_rate": 1e-4, "loss": 2.0, "step": 500},
        {"epoch": 0.2, "grad_norm": 3.5, "learning_rate": 1e-4, "loss": 1.9, "step": 1000},
        {"epoch": 0.2, "eval_loss": 1.7, "step": 1000},
        {"epoch": 0.3, "grad_norm": float("nan"), "loss": 1.8, "step": 1500},
        {"epoch": 0.4, "grad_norm": 2.5, "loss": 1.7, "step": 2000},
        {"epoch": 0.5, "grad_norm": 1.5, "loss": 1.6, "step": 2500},
        {"epoch": 1.0, "step": 2500, "train_loss": 1.8, "train_runtime": 10.0, "total_flos": 1e12},
    ]
    (tmp_path / "trainer_state.json").write_text(
        json.dumps({"log_history": history, "global_step": 2500})
    )
    log = load_log(tmp_path / "trainer_state.json")
    # Hugging Face's step is the global step after the update: lrcore's 0-based step + 1
    assert log.fmt == "hf_trainer" and log.steps.tolist() == [999, 1999, 2499]
    assert log.total_steps == 2500 and "read as step - 1" in log.report.describe()
    assert (log.report.nan, log.report.inf, log.report.rows_read) == (1, 1, 5)


def test_lightning_sparse_rows_collapse_by_step():
    text = (
        b"epoch,step,train_loss,grad_2.0_norm_total,val_loss\n"
        b"0,0,,4.0,\n0,0,2.0,,\n0,1,,3.0,\n0,1,1.9,,\n0,1,,,1.5\n0,2,,2.0,\n"
    )
    log = load_log(text)
    assert log.fmt == "lightning" and log.metric == "grad_2.0_norm_total"
    assert log.steps.tolist() == [0, 1, 2] and log.grad_norms.tolist() == [4.0, 3.0, 2.0]


def test_mlflow_all_zero_steps_order_by_timestamp():
    text = b"1700000000300 3.0 0\n1700000000100 1.0 0\n1700000000200 2.0 0\n"
    log = load_log(text)
    assert log.fmt == "mlflow" and log.grad_norms.tolist() == [1.0, 2.0, 3.0]


def test_cleaning_sorts_and_keeps_last_of_repeated_step():
    log = load_log(b"step,grad_norm\n2,2.0\n0,5.0\n1,4.0\n1,3.0\n3,nan\n4,\n5,1.0\n")
    assert log.steps.tolist() == [0, 1, 2, 5] and log.grad_norms.tolist() == [5.0, 3.0, 2.0, 1.0]
    r = log.report
    assert (r.rows_read, r.nan, r.missing, r.duplicates, r.resorted) == (7, 1, 1, 1, True)
    assert not log.grad_norms.flags.writeable


def test_tensorboard_folder_and_multiple_tags(tmp_path):
    write_log(tmp_path / "tb", STEPS, NORMS, "tensorboard", metric="train/grad_norm")
    log = load_log(tmp_path / "tb")
    assert log.metric == "train/grad_norm" and len(log) == 20
    assert load_log(tmp_path / "tb", metric="train/loss").grad_norms[0] == 1.0


def test_refine_accepts_every_format(tmp_path):
    expected = refine(NORMS)
    for fmt in WRITERS:
        log = load_log(write_log(tmp_path / f"r_{fmt}", STEPS, NORMS, fmt))
        np.testing.assert_allclose(refine(log.grad_norms), expected, rtol=1e-9)


def test_cli_inspect_and_refine_with_metric(tmp_path, capsys):
    p = tmp_path / "m.csv"
    p.write_text("step,loss,grad_norm_l1\n0,1,3\n1,1,2\n2,1,1\n")
    assert main(["inspect", str(p)]) == 0
    out = capsys.readouterr().out
    assert "format:   csv" in out and "grad_norm_l1 (l1 norms" in out and "steps:    0 .. 2" in out
    assert main(["refine", str(p), "--metric", "loss"]) == 0
    assert "'loss'" in capsys.readouterr().err


MALFORMED = [
    (b"", r"x.csv: file is empty"),
    (b"  \n\n ", r"x.csv: file holds only whitespace"),
    (b"step,grad_norm\n", r"x.csv: has a header but no data rows"),
    (
        b"step,grad_norm\n0,1.0\n1,2.0\n2,abc\n",
        r"x.csv, line 4: 'abc' in column 'grad_norm' is not a number",
    ),
    (b"step,grad_norm\n0,1.0\nx,2.0\n", r"x.csv, line 3: 'x' in column 'step' is not a number"),
    (
        b"step,grad_norm\n0,1.0\n1,0.0\n2,2.0\n",
        r"x.csv, line 3: step 1: grad_norm = 0; gradient norms must be > 0",
    ),
    (b"step,grad_norm\n0,1.0\n1,-2.0\n", r"step 1: grad_norm = -2; gradient norms must be > 0"),
    (
        b"step,grad_norm\n0,1.0\n",
        r"grad_norm has 1 usable point\(s\) after cleaning, need at least 2",
    ),
    (
        b"step,grad_norm\n0,nan\n1,inf\n2,\n",
        r"0 usable point\(s\).*dropped 1 missing, 1 nan, 1 inf",
    ),
    (bytes(range(256)) * 4, r"binary content that is not a TensorBoard event file"),
    (b"\xff\xfe\xfa" + b"abc" * 100, r"not a text log \(byte 0 is not UTF-8\)"),
    (b"\x01\n\x80", r"not a text log \(byte 2 is not UTF-8\)"),  # found by hypothesis
    (b"step,grad_norm\n" + b"0,1\n" * 20000 + b"1,\x80\x81\n", r"not UTF-8 text"),
    (b'{"a": 1}', r"a JSON dict that is neither a trainer_state.json"),
    (b"[1, 2, 3]", r"a JSON list that is neither"),
    (b'{"log_history": [{"loss": 1', r"x.csv, line 1: invalid JSON"),
    (b'{"log_history": {"a": 1}}', r"trainer_state.json needs a 'log_history' list"),
    (
        b'{"log_history": [{"loss": 1.0, "step": 1}, {"loss": 0.5, "step": 2}]}',
        r"log_history has no 'grad_norm' entries .* keys found: loss",
    ),
    (b'{"log_history": [5]}', r"log_history\[0\]: expected an object, got int"),
    (b'{"step": 0, "grad_norm": 1}\n{"step": 1, "grad_norm": \n', r"x.csv, line 2: invalid JSON"),
    (b'{"step": 0, "grad_norm": 1}\n{"grad_norm": 2}\n', r"line 2: no step key"),
    (
        b'{"step": 0, "grad_norm": 1}\n{"step": 1, "grad_norm": "big"}\n',
        r"grad_norm has 1 usable point\(s\) after cleaning, need at least 2 \(2 rows read; "
        r"dropped 1 not a number\)",
    ),
    (b"0,1,2\n1,2,3\n", r"3 columns and no header: cannot tell which is the gradient norm"),
    (b"step,grad_norm\n0,1\n1,2,3,4\n", r"x.csv: cannot parse as a table"),
    (b"step,grad_norm\n0.5,1\n1,2\n", r"step 0.5 is not a whole number"),
    (b"[[1.0, 0, 1.0], [2.0, 1]]", r"item 1: expected \[wall_time, step, value\]"),
    (b'[[1.0, 0, 1.0], [2.0, 1, "x"]]', r"item 1: .* holds a value that is not a number"),
    (b"step,loss,lr\n0,1,2\n1,2,3\n", r"no gradient-norm series recognised; found: 'loss', 'lr'"),
    (b"Wall time,Step,Value\n", r"has a header but no data rows"),
    (b"step\n0\n1\n", r"no value column besides 'step'"),
]


@pytest.mark.parametrize("data,match", MALFORMED)
def test_malformed_inputs_get_one_clear_error(data, match):
    upload = io.BytesIO(data)
    upload.name = "x.csv"
    with pytest.raises(LogError, match=match):
        load_log(upload)


def test_more_errors(tmp_path):
    with pytest.raises(LogError, match=r"no such file"):
        load_log(tmp_path / "missing.csv")
    with pytest.raises(LogError, match=r"folder holds no TensorBoard event files"):
        load_log(tmp_path)
    with pytest.raises(LogError, match=r"no metric 'gnorm'; found: 'grad_norm'"):
        load_log(b"step,grad_norm\n0,1\n1,2\n", metric="gnorm")
    with pytest.raises(LogError, match=r"fmt must be one of"):
        load_log(b"1\n2\n", fmt="excel")
    with pytest.raises(LogError, match=r"source must be a path, bytes or a binary file object"):
        load_log(12)
    events = write_log(tmp_path / "tb", STEPS, NORMS, "tensorboard")
    data = next(events.glob("*tfevents*")).read_bytes()
    upload = io.BytesIO(data[:60])
    upload.name = "events.out.tfevents.123"
    with pytest.raises(
        LogError, match=r"events.out.tfevents.123: (not a readable|.*no scalar values)"
    ):
        load_log(upload)
    assert issubclass(LogError, ValueError)


def test_format_registry_is_complete():
    assert set(WRITERS) | {"tensorboard", "json"} == set(FORMATS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_a_log_or_a_log_error(data):
    with contextlib.suppress(LogError):
        assert isinstance(load_log(data), GradNormLog)


csv_text = st.lists(
    st.lists(
        st.one_of(
            st.integers(-5, 100).map(str),
            st.floats(allow_nan=True).map(str),
            st.sampled_from(["", "nan", "inf", "abc", '"q"', "step", "grad_norm", " "]),
        ),
        min_size=1,
        max_size=4,
    ),
    max_size=12,
).map(lambda rows: "\n".join(",".join(r) for r in rows))


@settings(max_examples=200, deadline=None)
@given(csv_text)
def test_arbitrary_csv_text_gives_a_log_or_a_log_error(text):
    try:
        log = load_log(text.encode())
    except LogError:
        return
    assert len(log) >= 2 and np.all(log.grad_norms > 0) and np.all(np.diff(log.steps) > 0)


def test_open_log_parses_once_and_loads_each_series():
    from lrcore.logs import open_log

    text = b'"Step","a - grad_norm","a - grad_norm__MIN","b - grad_norm"\n"0","3","3","1"\n"1","2","2","2"\n'
    f = open_log(text)
    assert f.fmt == "wandb" and f.metrics == ["a - grad_norm", "b - grad_norm"]
    a, b = f.load("a - grad_norm"), f.load("b - grad_norm")
    assert a.grad_norms.tolist() == [3.0, 2.0] and b.grad_norms.tolist() == [1.0, 2.0]
    assert a.candidates == b.candidates == ("a - grad_norm", "b - grad_norm")
    with pytest.raises(LogError, match="several gradient-norm series found"):
        f.load()
