"""Hugging Face checkpoints read per step (issue 25): the norms lrcore's GradNormCallback
stored, in the checkpoint's trainer_state.json or beside it, in preference to the points
Hugging Face logged; one step numbering (0-based optimizer steps) for all of them."""

import json
import re

import numpy as np
import pytest

from lrcore.cli import main
from lrcore.logs import LogError, load_log
from lrcore.train._normfile import write_sidecar

N, EVERY = 100, 10  # a run checkpointed at global step 100, logging every 10 steps
STEPS = np.arange(N)
L2 = 2.0 + np.sin(STEPS / 7.0)
L1 = 400.0 + 50 * np.cos(STEPS / 5.0)


def hf_history(upto: int = N) -> list[dict]:
    """What Hugging Face logs: at global step s (after the update), the norm of step s - 1."""
    return [
        {"epoch": s / 120, "grad_norm": float(L2[s - 1]), "learning_rate": 1e-3,
         "loss": 3.0 - s / 100, "step": s}
        for s in range(EVERY, upto + 1, EVERY)
    ]  # fmt: skip


def trainer_state(embedded: bool = True, history=None, norms=None) -> dict:
    attrs = {"optimizer": "adam", "optimizer_name": "AdamW", "lrcore_norms": None}
    if embedded:
        attrs["lrcore_norms"] = norms or {
            "steps": STEPS.tolist(), "l2": L2.tolist(), "l1": L1.tolist(), "optimizer": "AdamW"
        }  # fmt: skip
    return {
        "global_step": N,
        "max_steps": 120,
        "logging_steps": EVERY,
        "log_history": hf_history() if history is None else history,
        "stateful_callbacks": {
            "GradNormCallback": {"args": {"filename": "grad_norms.csv"}, "attributes": attrs}
        },
    }


def output_dir(tmp_path, state: dict, csv_rows: int | None = None):
    out = tmp_path / "out"
    ck = out / f"checkpoint-{N}"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps(state))
    if csv_rows is not None:  # the output folder's grad_norms.csv, appended as the run went
        steps = np.arange(csv_rows)
        l2, l1 = 2.0 + np.sin(steps / 7.0), 400.0 + 50 * np.cos(steps / 5.0)
        (out / "grad_norms.csv").write_text(
            "step,grad_norm_l2,grad_norm_l1,loss,optimizer\n"
            + "".join(
                f"{s},{a!r},{b!r},,AdamW\n"
                for s, a, b in zip(steps, l2.tolist(), l1.tolist(), strict=True)
            )
        )
    return out, ck


def test_a_checkpoint_file_and_its_folder_read_the_stored_per_step_norms(tmp_path, capsys):
    out, ck = output_dir(tmp_path, trainer_state())
    for path in (ck / "trainer_state.json", ck, out):
        log = load_log(path)
        assert (log.fmt, log.metric, log.optimizer_name) == ("hf_trainer", "grad_norm_l1", "AdamW")
        np.testing.assert_array_equal(log.steps, STEPS)  # 0..99, as grad_norms.csv numbers them
        np.testing.assert_array_equal(log.grad_norms, L1)
        assert log.total_steps == N
        assert "from lrcore's GradNormCallback state, in preference to the 10 point(s)" in (
            log.report.describe()
        )
        assert log.loss_steps.tolist() == list(range(EVERY - 1, N, EVERY))  # HF's loss, too
    assert (
        "read checkpoint-100/trainer_state.json, the latest of 1" in load_log(out).report.describe()
    )
    assert main(["inspect", str(ck)]) == 0
    assert re.search(r"\b0 \.\. 99\b", capsys.readouterr().out)  # the steps it read


def test_hf_points_and_per_step_norms_share_one_numbering(tmp_path):
    """The same norms: per step (0-based) and as Hugging Face logged them (its step - 1)."""
    per_step = load_log(json.dumps(trainer_state()).encode())  # an upload: the file alone
    logged = load_log(json.dumps(trainer_state(embedded=False)).encode())
    assert logged.metric == "grad_norm" and logged.steps.tolist() == list(range(9, N, EVERY))
    assert "read as step - 1" in logged.report.describe()
    np.testing.assert_array_equal(logged.grad_norms, L2[logged.steps])
    l2 = load_log(json.dumps(trainer_state()).encode(), metric="grad_norm_l2")
    np.testing.assert_array_equal(l2.grad_norms[logged.steps], logged.grad_norms)
    assert per_step.total_steps == logged.total_steps == N
    # a checkpoint saved before the first logging step still has its per-step norms
    early = load_log(json.dumps(trainer_state(history=[])).encode())
    assert len(early) == N


def test_sidecars_beside_the_checkpoint_and_the_output_folder_s_csv(tmp_path):
    out, ck = output_dir(tmp_path, trainer_state(embedded=False), csv_rows=120)  # crashed at 120
    log = load_log(ck)  # the output folder's CSV, up to the checkpoint
    assert log.steps.tolist() == STEPS.tolist() and log.optimizer_name == "AdamW"
    assert "from out/grad_norms.csv, its rows before the checkpoint's step 100" in (
        log.report.describe()
    )
    whole = load_log(out)  # the output folder itself: every step the run got to
    assert whole.source == "out/grad_norms.csv" and len(whole) == 120

    loss = np.where(STEPS % 3 == 0, 2.0, np.nan)  # the writer's NaN: loss unknown
    columns = ["grad_norm_l2", "grad_norm_l1", "loss", "grad_norm_l2_attn", "grad_norm_l1_attn"]
    values = np.stack([L2, L1 * 2, loss, L2 / 2, L1 / 2])
    write_sidecar(ck / "lrcore_grad_norms.npz", STEPS, values, columns, "AdamW")
    side = load_log(ck / "trainer_state.json")  # beside it beats the output folder's CSV
    np.testing.assert_allclose(side.grad_norms, L1 * 2, rtol=1e-7)  # float32 in the file
    assert "from lrcore_grad_norms.npz beside it" in side.report.describe()
    assert side.loss_steps.tolist() == STEPS[::3].tolist()
    group = load_log(ck, metric="grad_norm_l2_attn")
    np.testing.assert_allclose(group.grad_norms, L2 / 2, rtol=1e-7)
    # an older file of the same arrays under short names
    np.savez(ck / "lrcore_grad_norms.npz", steps=STEPS, l2=L2, l1=L1 * 3, optimizer=np.array("SGD"))
    old = load_log(ck)
    assert (old.optimizer, old.metric) == ("adam", "grad_norm_l1")  # trainer_state.json says
    np.testing.assert_array_equal(old.grad_norms, L1 * 3)
    assert load_log(ck / "lrcore_grad_norms.npz").source == "checkpoint-100/trainer_state.json"
    with pytest.raises(LogError, match=r"a NumPy \.npz archive; .* pass its folder"):
        load_log((ck / "lrcore_grad_norms.npz").read_bytes())


def test_a_pointer_to_a_missing_sidecar_is_said(tmp_path):
    state = trainer_state(embedded=False)
    pointer = {"format": 2, "file": "lrcore_grad_norms.npz", "rows": N}
    state["stateful_callbacks"]["GradNormCallback"]["attributes"]["lrcore_norms"] = pointer
    out, ck = output_dir(tmp_path, state)
    log = load_log(ck)
    assert log.metric == "grad_norm" and len(log) == N // EVERY  # Hugging Face's points
    assert "names lrcore_grad_norms.npz, which is not beside it" in log.report.describe()
    upload = load_log(json.dumps(state).encode())
    assert "in the checkpoint's folder: pass the folder" in upload.report.describe()


def test_damaged_stored_norms_fall_back_to_the_logged_points_and_say_why():
    bad = {"steps": STEPS.tolist(), "l2": L2.tolist()[:50], "l1": L1.tolist()}
    log = load_log(json.dumps(trainer_state(norms=bad)).encode())
    assert log.metric == "grad_norm" and len(log) == N // EVERY
    assert "stored norms not used" in log.report.describe()
    assert "'l2' has 50 values for 100 steps" in log.report.describe()


def test_a_folder_that_holds_no_log_names_what_it_looked_for(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LogError, match=r"no trainer_state\.json or checkpoint-N folder"):
        load_log(tmp_path / "empty")


def test_a_real_trainer_checkpoint_reads_per_step_like_the_recorder(tmp_path):
    """A Trainer run checkpointed at step 10 of 12: the checkpoint holds 10 per-step norms,
    numbered 0..9 as the recorder numbers them (whatever form the callback stores them in)."""
    from transformers import Trainer

    from lrcore.integrations.hf import GradNormCallback
    from tests._tiny import TinyClassifier, hf_args, hf_dataset

    cb = GradNormCallback()
    args = hf_args(tmp_path / "run", save_strategy="steps", save_steps=10, logging_steps=5)
    Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb]).train()
    log = load_log(tmp_path / "run" / "checkpoint-10")
    assert log.steps.tolist() == list(range(10)) and log.optimizer == "adam"
    np.testing.assert_allclose(log.grad_norms, cb.recorder.l1[:10], rtol=1e-6)
    assert "per-step norms of 10 steps" in log.report.describe()
