"""Lightning: the callback records l2 and l1 before clipping; refined schedules go back exactly."""

import numpy as np
import pytest

pl = pytest.importorskip("lightning.pytorch")
import torch  # noqa: E402
from _tiny import lightning_module, loader  # noqa: E402

from lrcore.cli import main  # noqa: E402
from lrcore.integrations.lightning import GradNormCallback  # noqa: E402
from lrcore.logs import load_log  # noqa: E402


class Spy(pl.Callback):
    """Sees the clipped gradients (after Lightning clips) and the lr of each step."""

    def __init__(self):
        self.l2, self.lrs = [], []

    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if grads:
            self.l2.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    def on_train_batch_start(self, trainer, pl_module, batch, i):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _trainer(root, steps, callbacks, **kw):
    return pl.Trainer(
        default_root_dir=root, max_steps=steps, accelerator="cpu", devices=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=callbacks, **kw,
    )  # fmt: skip


def test_callback_records_before_clipping_and_writes_a_log(tmp_path):
    cb, spy = GradNormCallback(), Spy()
    trainer = _trainer(tmp_path, 10, [cb, spy], gradient_clip_val=0.05, accumulate_grad_batches=2)
    trainer.fit(lightning_module(), loader(8))
    rec = cb.recorder
    assert len(rec) == 10 and rec.steps.tolist() == list(range(10))
    assert np.all(rec.l2 > 0.05)  # unclipped ...
    assert len(spy.l2) == 9  # zero_grad comes before each step: steps 0..8 seen clipped
    np.testing.assert_allclose(spy.l2, 0.05, rtol=1e-4)  # ... while the optimizer got clipped
    for metric in ("grad_norm_l1", "grad_norm_l2"):
        log = load_log(tmp_path, metric=metric)
        assert len(log) == 10
    np.testing.assert_allclose(
        load_log(tmp_path, metric="grad_norm_l1").grad_norms, rec.l1, rtol=1e-8
    )


def test_refined_schedule_goes_back_exactly(tmp_path):
    cb = GradNormCallback()
    _trainer(tmp_path / "run1", 40, [cb]).fit(lightning_module(), loader(8))
    out = tmp_path / "refined.csv"
    argv = ["refine", str(cb.path), "--metric", "grad_norm_l1", "--steps", "25", "--out", str(out)]
    assert main(argv) == 0
    refined = np.loadtxt(out, delimiter=",", skiprows=1)[:, 1]
    spy = Spy()
    module = lightning_module(peak_lr=0.03, schedule=refined, total_steps=25)
    _trainer(tmp_path / "run2", 25, [spy]).fit(module, loader(8))
    assert len(spy.lrs) == 25
    np.testing.assert_allclose(np.array(spy.lrs) / 0.03, refined / refined.max(), atol=1e-6)
