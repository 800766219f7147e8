"""grad_norms.csv is written as the run goes: a SIGKILLed HF run keeps its rows, a resume
keeps one row per step; checkpoints hold the norms in a small sidecar, not in the JSON."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("transformers")
import torch  # noqa: E402
from _tiny import TinyClassifier, hf_args, hf_dataset  # noqa: E402
from transformers import Trainer  # noqa: E402

from lrcore.integrations.hf import GradNormCallback  # noqa: E402

TESTS = Path(__file__).parent
COLUMNS = ["step", "grad_norm_l2", "grad_norm_l1", "loss", "optimizer"]

KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    sys.path[:0] = [{tests!r}, {root!r}]
    from _tiny import TinyClassifier, hf_args, hf_dataset
    from transformers import Trainer, TrainerCallback
    from lrcore.integrations.hf import GradNormCallback

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 30:
                os.kill(os.getpid(), signal.SIGKILL)

    args = hf_args({out!r}, max_steps=40, logging_steps=5, save_strategy="steps", save_steps=10)
    Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(),
            callbacks=[GradNormCallback(), Kill()]).train()
    """
)


def test_a_run_killed_at_step_30_keeps_its_rows_and_resumes_one_row_per_step(tmp_path):
    out = tmp_path / "run"
    code = KILLED_RUN.format(tests=str(TESTS), root=str(TESTS.parent), out=str(out))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    killed = pd.read_csv(out / "grad_norms.csv")  # plain pandas: no comment= needed
    assert list(killed.columns) == COLUMNS
    assert len(killed) >= 25 and killed["step"].tolist() == list(range(len(killed)))
    assert set(killed["optimizer"]) == {"AdamW"} and killed["loss"].notna().all()
    # checkpoint-20: its trainer_state.json holds a pointer, the rows are in the sidecar
    ckpt = out / "checkpoint-20"
    norms = json.loads((ckpt / "trainer_state.json").read_text())["stateful_callbacks"][
        "GradNormCallback"
    ]["attributes"]["lrcore_norms"]
    assert norms["file"] == "lrcore_grad_norms.npz" and norms["rows"] == 20
    assert (norms["first_step"], norms["last_step"]) == (0, 19)
    with np.load(ckpt / norms["file"]) as side:
        assert side["step"].tolist() == list(range(20))
        np.testing.assert_array_equal(side["grad_norm_l1"], killed["grad_norm_l1"][:20])
    # resume from checkpoint-20: the killed run's rows 20.. are replaced, none is doubled
    cb = GradNormCallback()
    args = hf_args(out, max_steps=40, logging_steps=5, save_strategy="steps", save_steps=10)
    trainer = Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb])
    trainer.train(resume_from_checkpoint=str(ckpt))
    full = pd.read_csv(out / "grad_norms.csv")
    assert full["step"].tolist() == list(range(40))
    np.testing.assert_allclose(full["grad_norm_l2"][:20], killed["grad_norm_l2"][:20], rtol=1e-7)
    np.testing.assert_allclose(
        full["grad_norm_l1"][20:25], killed["grad_norm_l1"][20:25], rtol=1e-5
    )


def test_the_loss_column_is_the_trainers_loss_per_step(tmp_path):
    cb = GradNormCallback()
    args = hf_args(tmp_path, gradient_accumulation_steps=2, logging_steps=3)
    trainer = Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb])
    trainer.train()
    loss = cb.recorder.loss
    assert np.isfinite(loss).all() and len(np.unique(loss)) == 12  # one loss per step
    logged = [e for e in trainer.state.log_history if "grad_norm_l2" in e]
    assert [e["step"] for e in logged] == [3, 6, 9, 12]
    for e in logged:  # HF logs the mean of the steps since its last log; lrcore_step = step - 1
        assert e["lrcore_step"] == e["step"] - 1
        assert e["loss"] == pytest.approx(loss[e["step"] - 3 : e["step"]].mean(), rel=1e-5)
    saved = pd.read_csv(cb.path)
    np.testing.assert_allclose(saved["loss"], loss, rtol=1e-7)


def test_checkpoint_state_is_small_and_the_sidecar_has_the_groups(tmp_path):
    cb = GradNormCallback(groups={"first": ["net.0.weight", "net.0.bias"]})
    args = hf_args(tmp_path, save_strategy="steps", save_steps=6)
    Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb]).train()
    doc = json.loads((tmp_path / "checkpoint-12" / "trainer_state.json").read_text())
    norms = doc["stateful_callbacks"]["GradNormCallback"]["attributes"]["lrcore_norms"]
    assert norms["rows"] == 12 and norms["file"] == "lrcore_grad_norms.npz"
    assert not any(isinstance(v, list) and len(v) >= 12 for v in norms.values())  # no lists
    df = pd.read_csv(cb.path)
    assert list(df.columns) == [*COLUMNS, "grad_norm_l2_first", "grad_norm_l1_first"]
    assert (df["grad_norm_l1_first"] < df["grad_norm_l1"]).all()
    with np.load(tmp_path / "checkpoint-6" / "lrcore_grad_norms.npz") as side:
        np.testing.assert_allclose(
            side["grad_norm_l2_first"], df["grad_norm_l2_first"][:6], rtol=1e-7
        )


def test_train_end_puts_back_the_accelerators_own_clip(tmp_path):
    calls = []
    args = hf_args(tmp_path, max_grad_norm=0.05)
    trainer = Trainer(
        model=TinyClassifier(),
        args=args,
        train_dataset=hf_dataset(),
        callbacks=[GradNormCallback()],
    )
    acc = trainer.accelerator
    real = acc.clip_grad_norm_

    def own_clip(*a, **k):  # e.g. a patch another library set on this instance
        calls.append(1)
        return real(*a, **k)

    acc.clip_grad_norm_ = own_clip
    trainer.train()
    assert vars(acc)["clip_grad_norm_"] is own_clip  # put back, not deleted
    assert len(calls) == 12  # and it did the clipping at every step, under our wrapper


def test_old_checkpoints_with_the_norms_in_the_json_still_resume(tmp_path):
    first = GradNormCallback()
    args = hf_args(tmp_path, save_strategy="steps", save_steps=6)
    Trainer(
        model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[first]
    ).train()
    path = tmp_path / "checkpoint-6" / "trainer_state.json"
    doc = json.loads(path.read_text())
    attrs = doc["stateful_callbacks"]["GradNormCallback"]["attributes"]
    rec = first.recorder  # what older lrcore stored: the lists themselves
    attrs["lrcore_norms"] = {"steps": list(range(6)), "l2": rec.l2[:6].tolist(),
                             "l1": rec.l1[:6].tolist(), "optimizer": "AdamW"}  # fmt: skip
    path.write_text(json.dumps(doc))
    (tmp_path / "checkpoint-6" / "lrcore_grad_norms.npz").unlink()
    cb = GradNormCallback()
    trainer = Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb])
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-6"))
    df = pd.read_csv(cb.path)
    assert df["step"].tolist() == list(range(12))
    np.testing.assert_allclose(df["grad_norm_l1"][:6], rec.l1[:6], rtol=1e-7)
    assert df["loss"][:6].isna().all() and df["loss"][6:].notna().all()  # unknown, then known


def test_recorder_in_a_compiled_step_does_not_recompile_every_step(tmp_path):
    from torch._dynamo.testing import CompileCounter

    from lrcore.train.recorder import GradNormRecorder

    torch._dynamo.reset()
    model = TinyClassifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = GradNormRecorder(model, optimizer=opt, path=tmp_path / "g.csv")
    counter = CompileCounter()
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))

    @torch.compile(backend=counter)
    def step(t):
        loss = model(x, y)["loss"]
        loss.backward()
        rec.record(t, loss=loss)
        return loss

    frames = []
    for t in range(10):
        opt.zero_grad()
        step(t)
        opt.step()
        frames.append(counter.frame_count)
    assert frames[-1] == frames[4]  # no compilation in the last five steps
    assert frames[-1] <= 6  # a few graphs (before / after the eager record), not one a step
    assert rec.steps.tolist() == list(range(10)) and np.isfinite(rec.loss).all()
    assert pd.read_csv(rec.flush())["step"].tolist() == list(range(10))


def test_a_run_with_hf_s_default_logging_keeps_rows_flushed_on_time(tmp_path):
    """logging_steps=500 and no checkpoints (the README's own example): the rows still reach
    the file, every FLUSH_SECONDS (here 0.2 s, so that 30 tiny steps span several flushes)."""
    out = tmp_path / "run"
    code = (
        KILLED_RUN.replace(
            "from lrcore.integrations.hf import GradNormCallback",
            "from lrcore.integrations.hf import GradNormCallback\n"
            "import time, lrcore.integrations._hf_callback as cbmod\n"
            "cbmod.FLUSH_SECONDS = 0.2",
        )
        .replace(
            "if state.global_step == 30:",
            "time.sleep(0.02)\n        if state.global_step == 30:",
        )
        .replace(
            'logging_steps=5, save_strategy="steps", save_steps=10',
            'logging_steps=500, save_strategy="no"',
        )
        .format(tests=str(TESTS), root=str(TESTS.parent), out=str(out))
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    killed = pd.read_csv(out / "grad_norms.csv")
    assert list(killed.columns) == COLUMNS
    assert len(killed) >= 20 and killed["step"].tolist() == list(range(len(killed)))
