"""HF Trainer: the callback records l2 and l1 before clipping; refined schedules go back exactly."""

import numpy as np
import pytest

pytest.importorskip("transformers")
import torch  # noqa: E402
from _tiny import TinyClassifier, hf_args, hf_dataset  # noqa: E402
from transformers import Trainer, TrainerCallback  # noqa: E402

from lrcore.cli import main  # noqa: E402
from lrcore.integrations.hf import GradNormCallback, optimizers, use_schedule  # noqa: E402
from lrcore.logs import load_log  # noqa: E402


class Spy(TrainerCallback):
    """Runs after GradNormCallback: sees the clipped gradients and the lr of each step."""

    def __init__(self):
        self.l2, self.l1, self.lrs = [], [], []

    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kw):
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        self.l2.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        self.l1.append(float(sum(g.abs().sum() for g in grads)))
        self.lrs.append(optimizer.param_groups[0]["lr"])


def test_callback_records_unclipped_norms_after_accumulation_and_clips(tmp_path):
    cb, spy = GradNormCallback(), Spy()
    args = hf_args(tmp_path, gradient_accumulation_steps=2, max_grad_norm=0.05)
    trainer = Trainer(
        model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb, spy]
    )
    trainer.train()
    rec = cb.recorder
    assert len(rec) == 12 and rec.steps.tolist() == list(range(12))  # one per optimizer step
    assert args.max_grad_norm == 0.05  # restored
    scale = np.minimum(1.0, 0.05 / (rec.l2 + 1e-6))  # torch's clip coefficient
    assert np.all(scale < 1)  # clipping did happen at every step
    np.testing.assert_allclose(spy.l2, rec.l2 * scale, rtol=1e-5)  # clipped after recording
    np.testing.assert_allclose(spy.l1, rec.l1 * scale, rtol=1e-5)
    hf_norms = {e["step"]: e["grad_norm"] for e in trainer.state.log_history if "grad_norm" in e}
    ours = {e["step"]: e["grad_norm_l2"] for e in trainer.state.log_history if "grad_norm_l2" in e}
    assert sorted(hf_norms) == sorted(ours) == [4, 8, 12]
    for s in hf_norms:  # the Trainer's own pre-clip l2 agrees
        assert ours[s] == pytest.approx(hf_norms[s], rel=1e-5)
        assert ours[s] == pytest.approx(rec.l2[s - 1], rel=1e-6)


def _logged(trainer):
    """The Trainer's own logged pre-clip ``grad_norm`` per optimizer step (1-based steps)."""
    return {e["step"]: e["grad_norm"] for e in trainer.state.log_history if "grad_norm" in e}


@pytest.mark.parametrize("max_norm", [1.0, 0.0])
def test_l2_is_the_trainers_logged_grad_norm_and_only_l1_is_computed(
    tmp_path, monkeypatch, max_norm
):
    import lrcore.train.recorder as recorder

    asked = []
    real = recorder.grad_norms
    monkeypatch.setattr(
        recorder, "grad_norms", lambda g, l2=True: asked.append(l2) or real(g, l2=l2)
    )
    cb = GradNormCallback()
    args = hf_args(tmp_path, gradient_accumulation_steps=2, max_grad_norm=max_norm, logging_steps=1)
    trainer = Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb])
    trainer.train()
    logged = _logged(trainer)
    assert sorted(logged) == list(range(1, 13))
    # the very value the Trainer logs (same float32 tensor), not a recomputation
    assert cb.recorder.l2.tolist() == [np.float32(logged[s]).item() for s in range(1, 13)]
    assert asked == [False] * 12  # the recorder computed l1 only, once per step
    assert args.max_grad_norm == max_norm  # never changed
    assert "clip_grad_norm_" not in vars(trainer.accelerator)  # the listener is gone


def test_each_log_gets_the_last_norms_without_copying_the_whole_buffer(tmp_path, monkeypatch):
    from lrcore.train.recorder import GradNormRecorder

    in_log, reads = [False], []  # the properties copy every norm so far to the host
    for name in ("l2", "l1"):
        prop = getattr(GradNormRecorder, name)

        def counted(self, prop=prop, name=name):
            if in_log[0]:
                reads.append(name)
            return prop.fget(self)

        monkeypatch.setattr(GradNormRecorder, name, property(counted))
    calls = []

    def on_log(*a, **k):
        in_log[0] = True
        calls.append(1)
        try:
            return GradNormCallback.on_log(cb, *a, **k)
        finally:
            in_log[0] = False

    cb = GradNormCallback()
    args = hf_args(tmp_path, max_grad_norm=0.05, logging_steps=1)
    cb.on_log = on_log  # the Trainer calls getattr(callback, "on_log")
    trainer = Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb])
    trainer.train()
    assert len(calls) >= 12 and reads == []  # on_log ran and never read rec.l2 / rec.l1
    logged = [e for e in trainer.state.log_history if "grad_norm_l2" in e]
    assert [e["step"] for e in logged] == list(range(1, 13))
    l2, l1 = cb.recorder.l2, cb.recorder.l1
    for e in logged:  # the recorder's value at that step, exactly (float64 of the float32)
        assert e["grad_norm_l2"] == float(l2[e["step"] - 1])
        assert e["grad_norm_l1"] == float(l1[e["step"] - 1])
        assert type(e["grad_norm_l2"]) is float and type(e["grad_norm_l1"]) is float


def test_clipping_is_the_trainers_and_l1_is_the_pre_clip_norm(tmp_path):
    runs = {}
    for max_norm in (0.0, 1e-3):
        cb = GradNormCallback()
        model = TinyClassifier()
        args = hf_args(tmp_path / str(max_norm), max_grad_norm=max_norm, learning_rate=0.5)
        Trainer(model=model, args=args, train_dataset=hf_dataset(), callbacks=[cb]).train()
        runs[max_norm] = (
            cb.recorder,
            torch.cat([p.detach().flatten() for p in model.parameters()]),
        )
    (free, w_free), (clipped, w_clipped) = runs[0.0], runs[1e-3]
    assert not torch.allclose(w_free, w_clipped, rtol=1e-3)  # clipping was applied ...
    assert np.all(clipped.l2 > 1e-2)  # ... at every step (norm >> 1e-3)
    # step 0 is the same batch at the same weights: the same pre-clip norms either way
    assert clipped.l2[0] == pytest.approx(free.l2[0], rel=1e-6)
    assert clipped.l1[0] == pytest.approx(free.l1[0], rel=1e-5)


class Boom(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == 3:
            raise RuntimeError("boom")


def test_max_grad_norm_unchanged_after_a_run_that_raises_and_the_next_run_is_right(tmp_path):
    cb = GradNormCallback()
    args = hf_args(tmp_path, max_grad_norm=0.05, logging_steps=1)
    trainer = Trainer(
        model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb, Boom()]
    )
    with pytest.raises(RuntimeError, match="boom"):
        trainer.train()
    assert args.max_grad_norm == 0.05
    trainer.remove_callback(Boom)
    trainer.train()  # the same Trainer and callback again: one listener, the right norms
    assert args.max_grad_norm == 0.05
    logged = _logged(trainer)
    assert cb.recorder.l2.tolist() == [np.float32(logged[s]).item() for s in range(1, 13)]
    assert "clip_grad_norm_" not in vars(trainer.accelerator)


def test_a_trainer_that_clips_elsewhere_gets_post_clip_norms_and_a_warning(tmp_path):
    class OwnClip(Trainer):
        def _clip_grad_norm(self, model):
            return torch.nn.utils.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)

    cb = GradNormCallback()
    args = hf_args(tmp_path, max_grad_norm=0.05)
    trainer = OwnClip(model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb])
    with pytest.warns(UserWarning, match="GradNormCallback: the Trainer's pre-clip gradient norm"):
        trainer.train()
    np.testing.assert_allclose(cb.recorder.l2, 0.05, rtol=1e-4)  # what the optimizer got


def test_fp16_is_refused(tmp_path):
    cb = GradNormCallback()
    args = hf_args(tmp_path)
    args.fp16 = True
    with pytest.raises(ValueError, match="GradNormCallback: fp16=True"):
        cb.on_train_begin(args, None, None, model=TinyClassifier())


def test_log_refines_and_the_refined_schedule_goes_back_exactly(tmp_path, capsys):
    run1 = tmp_path / "run1"
    trainer = Trainer(
        model=TinyClassifier(),
        args=hf_args(run1, max_steps=40),
        train_dataset=hf_dataset(),
        callbacks=[GradNormCallback()],
    )
    trainer.train()
    for metric in ("grad_norm_l1", "grad_norm_l2"):
        log = load_log(run1, metric=metric)  # the folder holds one grad_norms.csv
        assert len(log) == 40 and log.norm_type == metric[-2:]
    out = tmp_path / "refined.csv"
    argv = ["refine", str(run1 / "grad_norms.csv"), "--metric", "grad_norm_l1", "--steps", "30"]
    assert main([*argv, "--out", str(out)]) == 0
    refined = np.loadtxt(out, delimiter=",", skiprows=1)[:, 1]
    args, spy = hf_args(tmp_path / "run2", max_steps=30, learning_rate=0.02), Spy()
    model = TinyClassifier()
    trainer = Trainer(model=model, args=args, train_dataset=hf_dataset(), callbacks=[spy])
    use_schedule(trainer, refined)  # the Trainer's own optimizer, the refined schedule
    trainer.train()
    peak = 0.02
    assert len(spy.lrs) == 30
    np.testing.assert_allclose(np.array(spy.lrs) / peak, refined / refined.max(), atol=1e-6)


@pytest.mark.filterwarnings("ignore:lrcore.integrations.hf.optimizers is deprecated")
def test_deprecated_optimizers_errors(tmp_path, monkeypatch):
    args = hf_args(tmp_path, max_steps=-1, num_train_epochs=1)
    with pytest.raises(ValueError, match=r"optimizers: TrainingArguments.max_steps must be > 0"):
        optimizers(TinyClassifier(), args, np.ones(3))
    with pytest.raises(ValueError, match=r"schedule_values: the schedule has 3 steps but the run"):
        optimizers(TinyClassifier(), hf_args(tmp_path, max_steps=5), np.ones(3))
    # optims the Trainer builds from the model itself (LOMO, GaLore's layer-wise): not here
    lomo = staticmethod(lambda args, model: (torch.optim.SGD, {"lr": 0.1, "model": model}))
    monkeypatch.setattr(Trainer, "get_optimizer_cls_and_kwargs", lomo)
    with pytest.raises(ValueError, match=r"optimizers: optim='adamw_torch_fused' is built inside"):
        optimizers(TinyClassifier(), hf_args(tmp_path), np.ones(12))


def test_integrations_package_and_registry_load_no_framework():
    import subprocess
    import sys

    code = (
        "import sys, lrcore.registry, lrcore.integrations; "
        "print(sorted(m for m in ('torch', 'transformers', 'lightning', 'jax') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
