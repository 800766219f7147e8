"""Hugging Face ``Trainer``: record l2 and l1 gradient norms; train on a refined schedule.

    from lrcore.integrations.hf import GradNormCallback, optimizers

    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GradNormCallback()])
    trainer.train()                      # writes <output_dir>/grad_norms.csv
    # lrcore refine <output_dir>/grad_norms.csv --metric grad_norm_l1 ...   or, in Python:
    trainer = Trainer(model=model, args=args, train_dataset=ds,
                      optimizers=optimizers(model, args, "<output_dir>/grad_norms.csv"))

The callback records, at every optimizer step, the norms of the gradients the optimizer
is about to use: after gradient accumulation and (under DDP) after the all-reduce, and
before clipping. The Trainer clips before any callback sees the gradients, so the
callback takes clipping over: it sets ``args.max_grad_norm`` to 0 for the run, records,
then clips with the same max norm (``torch.nn.utils.clip_grad_norm_``) and restores
``args.max_grad_norm`` at the end. The Trainer's own ``grad_norm`` (pre-clip l2) is
logged as before. fp16 loss scaling (``fp16=True``) is refused: the gradients the
callback would see are still scaled; use bf16 or fp32.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from lrcore.export import to_lambda_lr
from lrcore.integrations._common import FILENAME, schedule_values
from lrcore.logs._meta import optimizer_family, optimizer_label
from lrcore.train.recorder import GradNormRecorder

__all__ = ["GradNormCallback", "lr_scheduler", "optimizers"]


class GradNormCallback(TrainerCallback, ExportableState):
    """Per optimizer step l2 and l1 gradient norms, written to ``<output_dir>/<filename>``
    on rank 0 when training ends (first line ``# lrcore: optimizer=adam (AdamW)``: the
    optimizer the Trainer built, so ``lrcore refine`` picks the Adam rule on l1 norms),
    and added to ``log_history`` at each logging step (``grad_norm_l2``, ``grad_norm_l1``).

    Resuming (``trainer.train(resume_from_checkpoint=...)``) keeps the whole log: the
    norms so far are saved in each checkpoint's ``trainer_state.json``
    (``stateful_callbacks``) and put back when training resumes, so the file holds one row
    per optimizer step of the whole run."""

    def __init__(self, filename: str = FILENAME):
        self.filename = filename
        self.recorder: GradNormRecorder | None = None
        self.path: Path | None = None
        self._max_norm = 0.0
        self._optimizer: str | None = None

    def state(self) -> dict:
        """What each checkpoint keeps (``trainer_state.json``): the norms so far and the
        optimizer (which ``load_log`` reads back from a trainer_state.json)."""
        rec = self.recorder
        return {
            "args": {"filename": self.filename},
            "attributes": {
                "optimizer": optimizer_family(self._optimizer) if self._optimizer else None,
                "optimizer_name": self._optimizer,
                "lrcore_norms": rec.state_dict() if rec is not None else None,
            },
        }

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if args.fp16:
            raise ValueError(
                "GradNormCallback: fp16=True scales the gradients the callback sees; "
                "use bf16=True or fp32"
            )
        self._optimizer = optimizer_label(optimizer) if optimizer is not None else str(args.optim)
        self.recorder = GradNormRecorder(model, optimizer=self._optimizer)
        saved = _saved_norms(state)
        if saved and state.global_step > 0:  # resumed: the steps before the checkpoint
            self.recorder.load_state_dict(saved, before=state.global_step)
        self._max_norm = float(args.max_grad_norm or 0.0)
        args.max_grad_norm = 0.0  # the callback clips after recording (see module docstring)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.recorder.record(state.global_step)
        if self._max_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.recorder.params, self._max_norm)

    def on_log(self, args, state, control, logs=None, **kwargs):
        rec = self.recorder
        if rec is None or not len(rec) or logs is None or "loss" not in logs:
            return
        last = state.log_history[-1] if state.log_history else None
        if last is not None and last.get("step") == state.global_step:
            last["grad_norm_l2"] = float(rec.l2[-1])
            last["grad_norm_l1"] = float(rec.l1[-1])

    def on_train_end(self, args, state, control, **kwargs):
        args.max_grad_norm = self._max_norm
        if self.recorder is not None and len(self.recorder) and state.is_world_process_zero:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            self.path = self.recorder.save(Path(args.output_dir) / self.filename)


def _saved_norms(state) -> dict | None:
    """The norms a checkpoint's trainer_state.json kept (``stateful_callbacks``)."""
    saved = (getattr(state, "stateful_callbacks", None) or {}).get("GradNormCallback")
    if isinstance(saved, list):
        saved = saved[-1] if saved else None
    if not isinstance(saved, dict):
        return None
    norms = saved.get("attributes", {}).get("lrcore_norms")
    return norms if isinstance(norms, dict) else None


def lr_scheduler(
    optimizer, schedule, total_steps: int, tau: float = 0.1, rule: str = "auto", metric=None
):
    """A ``LambdaLR`` whose lr at optimizer step t is ``optimizer's lr * values[t]``
    (values peak-normalised, see :func:`lrcore.integrations.schedule_values`; ``rule`` is
    its ``optimizer=``: ``"adam"``, ``"sgd"`` or ``"auto"``)."""
    values = schedule_values(schedule, total_steps, tau=tau, optimizer=rule, metric=metric)
    return to_lambda_lr(values, optimizer)


def optimizers(
    model,
    args,
    schedule,
    optimizer_cls=torch.optim.AdamW,
    tau: float = 0.1,
    *,
    optimizer: str = "auto",
    metric: str | None = None,
    **optimizer_kwargs,
):
    """``(optimizer, scheduler)`` for ``Trainer(optimizers=...)``: the optimizer at peak
    lr ``args.learning_rate`` (weight decay ``args.weight_decay`` unless given), the
    schedule (array, log or log path) over ``args.max_steps`` optimizer steps.

    A log is refined with the rule of the optimizer that made it (recorded by
    :class:`GradNormCallback`: Adam family -> l1 norms and the Adam rule, SGD -> l2);
    ``optimizer="adam"`` / ``"sgd"`` or ``metric=`` (a series of the log) override it."""
    if not args.max_steps or args.max_steps <= 0:
        raise ValueError(
            f"optimizers: TrainingArguments.max_steps must be > 0 (the schedule's length), "
            f"got {args.max_steps}"
        )
    optimizer_kwargs.setdefault("weight_decay", args.weight_decay)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizer_cls(params, lr=args.learning_rate, **optimizer_kwargs)
    sched = lr_scheduler(opt, schedule, args.max_steps, tau=tau, rule=optimizer, metric=metric)
    return opt, sched
