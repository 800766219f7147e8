"""Lightning: record l2 and l1 gradient norms; train on a refined schedule.

    from lrcore.integrations.lightning import GradNormCallback, scheduler_config

    trainer = L.Trainer(max_steps=1000, callbacks=[GradNormCallback()])
    trainer.fit(model)                   # writes <log_dir>/grad_norms.csv

    # in the LightningModule:
    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=PEAK_LR)
        return {"optimizer": opt,
                "lr_scheduler": scheduler_config(opt, "grad_norms.csv", self.trainer)}

``total_steps`` may be the Trainer: its ``max_steps``, or with ``max_epochs`` only its
``estimated_stepping_batches``. The log's recorded optimizer picks the rule (Adam family ->
l1 norms and the Adam rule, SGD -> l2), else the optimizer passed in; ``rule=`` /
``metric=`` override it.

The optimizer is yours: ``configure_optimizers`` builds it (groups, betas, weight decay)
and ``scheduler_config`` only attaches a ``LambdaLR`` to it, which sets each group's
``lr`` (and ``initial_lr``, the peak: the lr you built it with) and nothing else, so run 2
is run 1 but for the schedule when both build the optimizer the same way.

``on_before_optimizer_step`` runs after gradient accumulation and (under DDP) the
all-reduce, and before Lightning clips (``gradient_clip_val``), so the norms are those
the optimizer is about to use, unclipped. With ``precision="16-mixed"`` on GPU the
gradients are already unscaled there.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from lrcore._extras import missing_extra

try:  # torch or lightning missing: say which extra to install
    import torch
    from lightning.pytorch.callbacks import Callback
except ImportError as e:
    raise missing_extra("lrcore.integrations.lightning", "lightning", e) from e

from lrcore.export import to_lambda_lr
from lrcore.integrations._common import FILENAME, FLUSH_SECONDS, schedule_values
from lrcore.logs._meta import optimizer_family
from lrcore.train.recorder import GradNormRecorder

__all__ = ["GradNormCallback", "scheduler_config"]


class GradNormCallback(Callback):
    """Per optimizer step l2 and l1 gradient norms and the training loss, appended on
    rank 0 as the run goes to ``<dirpath or trainer.log_dir or default_root_dir>/<filename>``
    (every ``log_every_n_steps`` steps, at each checkpoint save, at train end and when
    training raises: a killed run keeps the rows up to its last log).

    The file: ``step,grad_norm_l2,grad_norm_l1,loss,optimizer`` (``step`` 0-based: the
    optimizer step whose gradient the row holds; ``loss`` the loss ``training_step``
    returned, averaged over the step's accumulated batches; ``optimizer`` the Trainer's
    first optimizer on every row, so ``lrcore refine`` picks its rule).
    ``groups="normalized"`` (or a dict name -> parameters or parameter names) adds
    per-group columns ``grad_norm_l2_<name>``, ``grad_norm_l1_<name>``.

    The rows so far are kept in each checkpoint (``state_dict``, as tensors): resuming with
    ``trainer.fit(..., ckpt_path=...)`` puts them back and rewrites the file, one row per
    optimizer step of the whole run."""

    def __init__(self, dirpath: str | Path | None = None, filename: str = FILENAME, groups=None):
        self.dirpath = dirpath
        self.filename = filename
        self.groups = groups
        self.recorder: GradNormRecorder | None = None
        self.path: Path | None = None
        self._saved: dict | None = None
        self._loss = None  # loss of the batches since the last optimizer step (on device)
        self._with_loss = 0  # rows whose loss has been set

    def state_dict(self) -> dict:
        return {"norms": self.recorder.state_dict()} if self.recorder is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._saved = state_dict.get("norms")

    def on_train_start(self, trainer, pl_module):
        opts = getattr(trainer, "optimizers", None) or []
        folder = Path(self.dirpath or trainer.log_dir or trainer.default_root_dir)
        self.recorder = GradNormRecorder(
            pl_module, optimizer=opts[0] if opts else None, groups=self.groups,
            path=folder / self.filename,
        )  # fmt: skip
        self._loss, self._with_loss = None, 0
        if self._saved:
            self.recorder.load_state_dict(self._saved, before=trainer.global_step)
            self._saved = None
            self._with_loss = len(self.recorder)
            self._flush(trainer)  # the file now holds those rows only (no later duplicates)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.recorder.record(trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            loss = loss.detach()  # divided by accumulate_grad_batches: the sum is the mean
            self._loss = loss if self._loss is None else self._loss + loss
        rec = self.recorder
        if rec is None or len(rec) == self._with_loss:
            return  # no optimizer step since the last batch end (accumulating)
        if self._loss is not None:
            rec.set_loss(self._loss)
        self._loss, self._with_loss = None, len(rec)
        every = getattr(trainer, "log_every_n_steps", 0) or 0
        late = time.monotonic() - getattr(self, "_flushed_at", 0.0) >= FLUSH_SECONDS
        if (every and trainer.global_step % every == 0) or late:
            self._flush(trainer)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        self._flush(trainer, sync=True)

    def on_train_end(self, trainer, pl_module):
        self._flush(trainer, sync=True)

    def on_exception(self, trainer, pl_module, exception):
        self._flush(trainer, sync=True)

    def _flush(self, trainer, sync: bool = False) -> None:
        rec = self.recorder
        self._flushed_at = time.monotonic()
        if rec is None or not len(rec) or not trainer.is_global_zero:
            return
        rec.path.parent.mkdir(parents=True, exist_ok=True)
        self.path = rec.flush(sync=sync)


def run_steps(trainer) -> int:
    """Optimizer steps of a Lightning run: ``max_steps``, or with ``max_epochs`` only,
    ``estimated_stepping_batches`` (Lightning's count for the epochs, accumulation and
    devices)."""
    if getattr(trainer, "max_steps", -1) and trainer.max_steps > 0:
        return int(trainer.max_steps)
    est = trainer.estimated_stepping_batches
    if not math.isfinite(est) or est < 1:
        raise ValueError(
            f"scheduler_config: the Trainer has neither max_steps nor a finite number of "
            f"steps per epoch (estimated_stepping_batches={est}); set max_steps"
        )
    return int(est)


def scheduler_config(
    optimizer,
    schedule,
    total_steps=None,
    tau: float = 0.1,
    *,
    rule: str = "auto",
    metric: str | None = None,
) -> dict:
    """The ``lr_scheduler`` entry ``configure_optimizers`` returns: a per-step ``LambdaLR``
    whose lr at optimizer step t is ``optimizer's lr * values[t]`` (values peak-normalised;
    ``schedule`` is an array, a schedule function, a log or a log path).

    ``total_steps``: a number, or the Lightning Trainer (``self.trainer``: its
    ``max_steps``, else ``estimated_stepping_batches``, so ``max_epochs`` works). ``rule``
    (``"adam"``, ``"sgd"``; default the optimizer the log records, else ``optimizer``'s
    family) and ``metric`` (a series of the log) choose the refinement rule and norm.

    ``optimizer`` is left as built (groups, betas, eps, weight decay); only each group's
    lr follows the schedule, from the lr it was built with (the peak)."""
    if total_steps is None or hasattr(total_steps, "estimated_stepping_batches"):
        if total_steps is None:
            raise ValueError(
                "scheduler_config: total_steps is needed: a number of optimizer steps or the "
                "Trainer (self.trainer)"
            )
        total_steps = run_steps(total_steps)
    elif isinstance(total_steps, int | float) and total_steps == -1:
        raise ValueError(
            "scheduler_config: total_steps is -1 (Trainer.max_steps when only max_epochs is "
            "set); pass the Trainer (scheduler_config(opt, log, self.trainer)) or "
            "self.trainer.estimated_stepping_batches"
        )
    fallback = optimizer_family(optimizer)  # used when the log does not record one
    values = schedule_values(
        schedule, int(total_steps), tau=tau, optimizer=rule, metric=metric, fallback=fallback
    )
    return {"scheduler": to_lambda_lr(values, optimizer), "interval": "step", "frequency": 1}
