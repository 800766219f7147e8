"""What a log says besides its norms (issue 25): the optimizer column of lrcore's new
grad_norms.csv, the training loss kept beside the norms, schedules refused as norms, and
the note for framework logs that do not record the optimizer."""

import json

import numpy as np
import pandas as pd
import pytest

from lrcore.cli import main
from lrcore.export import csv_bytes, to_json
from lrcore.logs import LogError, load_log
from lrcore.logs._write import write_log

STEPS = np.arange(40)
L2 = 1.0 + 1.0 / (STEPS + 1.0)
L1 = 300.0 - STEPS


def new_csv(optimizer=lambda i: "AdamW", loss=lambda i: 2.0 - i / 100) -> bytes:
    """lrcore's agreed grad_norms.csv: no comment line, the optimizer on every row."""
    rows = ["step,grad_norm_l2,grad_norm_l1,loss,optimizer"]
    for i in STEPS:
        cell = loss(i)
        cell = "" if cell is None else repr(float(cell))
        rows.append(f"{i},{float(L2[i])!r},{float(L1[i])!r},{cell},{optimizer(i)}")
    return ("\n".join(rows) + "\n").encode()


# --------------------------------------------------------------------------- optimizer column


@pytest.mark.parametrize(
    "label,family,metric,values", [("AdamW", "adam", "grad_norm_l1", L1), ("SGD", "sgd", "grad_norm_l2", L2)]
)  # fmt: skip
def test_an_optimizer_column_is_the_recorded_optimizer(label, family, metric, values):
    log = load_log(new_csv(lambda i: label))
    assert (log.optimizer, log.optimizer_name, log.metric) == (family, label, metric)
    assert log.suggested_optimizer == family and log.rule_note is None
    assert "the log records" in log.rule_text
    np.testing.assert_array_equal(log.steps, STEPS)
    np.testing.assert_array_equal(log.grad_norms, values)


def test_the_new_file_opens_in_plain_pandas_and_the_old_comment_form_still_reads():
    import io

    data = new_csv()
    assert list(pd.read_csv(io.BytesIO(data)).columns) == [
        "step", "grad_norm_l2", "grad_norm_l1", "loss", "optimizer"
    ]  # fmt: skip
    old = b"# lrcore: optimizer=adam (AdamW)\nstep,grad_norm_l2,grad_norm_l1\n" + b"".join(
        b"%d,%r,%r\n" % (i, float(L2[i]), float(L1[i])) for i in STEPS
    )
    new_log, old_log = load_log(data), load_log(old)
    assert (old_log.optimizer_name, old_log.metric) == ("AdamW", "grad_norm_l1")
    np.testing.assert_array_equal(new_log.grad_norms, old_log.grad_norms)
    np.testing.assert_array_equal(new_log.steps, old_log.steps)


def test_optimizers_of_two_families_in_the_column_are_said_with_their_lines():
    log = load_log(new_csv(lambda i: "AdamW" if i < 25 else "SGD"))
    assert log.optimizer is None
    note = log.rule_note
    assert "different families" in note and "'AdamW' from line 2" in note
    assert "'SGD' from line 27" in note and "--optimizer adam" in note
    # the user's choice settles it, without a note
    chosen = load_log(new_csv(lambda i: "AdamW" if i < 25 else "SGD"), optimizer="adam")
    assert chosen.metric == "grad_norm_l1" and chosen.rule_note is None


def test_labels_of_one_family_and_empty_cells_are_one_optimizer():
    log = load_log(new_csv(lambda i: ("AdamW", "adamw_torch", "")[i % 3]))
    assert log.optimizer == "adam" and log.rule_note is None
    assert log.optimizer_name == "AdamW, adamw_torch"


# --------------------------------------------------------------------------- the loss


def test_the_loss_column_is_kept_with_its_own_steps():
    log = load_log(new_csv(loss=lambda i: None if i % 4 else 3.0 - i / 10))
    assert log.loss_metric == "loss"
    np.testing.assert_array_equal(log.loss_steps, STEPS[::4])
    np.testing.assert_allclose(log.loss_values, 3.0 - STEPS[::4] / 10)
    assert len(log) == len(STEPS)  # the norms' rows are all there
    bare = load_log(b"step,grad_norm\n0,2\n1,1\n")
    assert (bare.loss_steps, bare.loss_values, bare.loss_metric) == (None, None, None)


def test_each_format_s_training_loss_and_never_an_evaluation_loss(tmp_path):
    history = [{"step": s, "grad_norm": 2.0 / s, "loss": 5.0 - s / 10} for s in (10, 20, 30)]
    history += [{"step": 30, "eval_loss": 9.0}, {"step": 30, "train_loss": 7.0, "train_runtime": 1}]
    hf = load_log(json.dumps({"log_history": history}).encode())
    assert hf.loss_metric == "loss" and hf.loss_steps.tolist() == [9, 19, 29]  # as the norms
    assert hf.loss_values.tolist() == [4.0, 3.0, 2.0]

    lightning = load_log(write_log(tmp_path / "metrics.csv", STEPS, L2, "lightning"))
    assert lightning.loss_metric == "train_loss" and lightning.loss_steps.tolist() == STEPS.tolist()

    wandb = (
        '"Step","a - grad_norm","a - train/loss","b - grad_norm","b - train/loss"\n'
        + "".join(f'"{i}","{L2[i]}","{10 + i}","{L2[i]}","{20 + i}"\n' for i in range(5))
    ).encode()
    run_b = load_log(wandb, metric="b - grad_norm")
    assert run_b.loss_metric == "b - train/loss" and run_b.loss_values.tolist()[0] == 20.0

    evals = load_log(b"step,grad_norm,val_loss,eval/loss\n0,2,1,1\n1,1,1,1\n")
    assert evals.loss_metric is None

    tb = load_log(write_log(tmp_path / "tb", STEPS, L2, "tensorboard", metric="train/grad_norm"))
    assert tb.loss_metric == "train/loss" and len(tb.loss_values) == len(STEPS)


# --------------------------------------------------------------------------- schedules


def test_lrcore_s_own_schedule_exports_are_refused_as_norms(tmp_path):
    lrs = np.linspace(1.0, 0.01, 200)
    full = csv_bytes(lrs, peak_lr=0.1)
    cut = full[: full.index(b"\n150,")]  # a truncated export, once read with factors 0.99 off
    for data in (full, cut, b"step,learning_rate\n0,0.1\n1,0.2\n2,0.3\n"):
        with pytest.raises(LogError, match=r"^<bytes> looks like a learning-rate schedule "
                           r"\(columns step, (lr|learning_rate)\), not gradient norms: "):  # fmt: skip
            load_log(data)
    with pytest.raises(LogError, match=r"keys total_steps, peak_lr, name, lr\), not gradient"):
        load_log(to_json(lrs, peak_lr=0.1, name="refined").encode())
    wandb = b'"Step","run - train/learning_rate"\n"0","0.1"\n"1","0.09"\n'
    with pytest.raises(LogError, match=r"looks like a learning-rate schedule"):
        load_log(wandb)
    # lrs beside norms are an ordinary log
    assert load_log(b"step,lr,grad_norm\n0,0.1,2\n1,0.1,1\n").metric == "grad_norm"


def test_lrcore_refine_on_a_schedule_says_what_the_file_is(tmp_path, capsys):
    path = tmp_path / "sched.csv"
    path.write_bytes(csv_bytes(np.linspace(1.0, 0.0, 50)))
    assert main(["refine", str(path), "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert "sched.csv looks like a learning-rate schedule (columns step, lr)" in err
    assert not (tmp_path / "out.csv").exists()


# --------------------------------------------------------------------------- unknown optimizer


@pytest.mark.parametrize(
    "fmt,name,words",
    [
        ("lightning", "metrics.csv", "a Lightning metrics.csv"),
        ("tensorboard_csv", "run-x-tag-train_grad_norm.csv", "a TensorBoard CSV download"),
        ("tensorboard_json", "run-x-tag-train_grad_norm.json", "a TensorBoard JSON download"),
    ],
)
def test_framework_logs_without_the_optimizer_say_which_rule_was_assumed(
    tmp_path, capsys, fmt, name, words
):
    path = write_log(tmp_path / name, STEPS, L2, fmt)
    log = load_log(path)
    assert log.fmt == fmt and log.optimizer is None and log.suggested_optimizer == "sgd"
    note = log.rule_note
    assert note.startswith(f"{words} does not record the optimizer: assumed the SGD rule on l2")
    assert "--optimizer adam" in note and "l1" in note
    assert load_log(path, optimizer="adam").rule_note is None  # chosen: nothing assumed
    assert main(["inspect", str(path)]) == 0
    assert f"note: {words} does not record the optimizer" in capsys.readouterr().err
    # a plain CSV of one norm keeps its quiet default
    assert load_log(write_log(tmp_path / "plain.csv", STEPS, L2, "csv")).rule_note is None
