"""Lightning: record l2 and l1 gradient norms; train on a refined schedule.

    from lrcore.integrations.lightning import GradNormCallback, scheduler_config

    trainer = L.Trainer(max_steps=1000, callbacks=[GradNormCallback()])
    trainer.fit(model)                   # writes <log_dir>/grad_norms.csv

    # in the LightningModule:
    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=PEAK_LR)
        return {"optimizer": opt,
                "lr_scheduler": scheduler_config(opt, "grad_norms.csv", self.trainer.max_steps)}

``on_before_optimizer_step`` runs after gradient accumulation and (under DDP) the
all-reduce, and before Lightning clips (``gradient_clip_val``), so the norms are those
the optimizer is about to use, unclipped. With ``precision="16-mixed"`` on GPU the
gradients are already unscaled there.
"""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import Callback

from lrcore.export import to_lambda_lr
from lrcore.integrations._common import FILENAME, schedule_values
from lrcore.train.recorder import GradNormRecorder

__all__ = ["GradNormCallback", "scheduler_config"]


class GradNormCallback(Callback):
    """Per optimizer step l2 and l1 gradient norms, written on rank 0 when training ends
    to ``<dirpath or trainer.log_dir or default_root_dir>/<filename>``."""

    def __init__(self, dirpath: str | Path | None = None, filename: str = FILENAME):
        self.dirpath = dirpath
        self.filename = filename
        self.recorder: GradNormRecorder | None = None
        self.path: Path | None = None

    def on_train_start(self, trainer, pl_module):
        self.recorder = GradNormRecorder(pl_module)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.recorder.record(trainer.global_step)

    def on_train_end(self, trainer, pl_module):
        if self.recorder is None or not len(self.recorder) or not trainer.is_global_zero:
            return
        folder = Path(self.dirpath or trainer.log_dir or trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = self.recorder.save(folder / self.filename)


def scheduler_config(optimizer, schedule, total_steps: int, tau: float = 0.1) -> dict:
    """The ``lr_scheduler`` entry ``configure_optimizers`` returns: a per-step ``LambdaLR``
    whose lr at optimizer step t is ``optimizer's lr * values[t]`` (values peak-normalised;
    ``schedule`` is an array, a schedule function, a log or a log path)."""
    values = schedule_values(schedule, total_steps, tau=tau)
    return {"scheduler": to_lambda_lr(values, optimizer), "interval": "step", "frequency": 1}
