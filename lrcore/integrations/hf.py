"""Hugging Face ``Trainer``: record l2 and l1 gradient norms; train on a refined schedule.

    from lrcore.integrations.hf import GradNormCallback, optimizers

    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GradNormCallback()])
    trainer.train()                      # writes <output_dir>/grad_norms.csv
    # lrcore refine <output_dir>/grad_norms.csv   (AdamW -> Adam rule on l1)   or, in Python:
    trainer = Trainer(model=model, args=args, train_dataset=ds,
                      optimizers=optimizers(model, args, "<output_dir>/grad_norms.csv"))

The callback records, at every optimizer step, the norms of the gradients the optimizer
is about to use: after gradient accumulation and (under DDP) after the all-reduce, and
before clipping. Clipping stays the Trainer's: ``args.max_grad_norm`` is left as you set
it and the Trainer clips through its accelerator (``accelerator.clip_grad_norm_``, which
FSDP and DeepSpeed implement their own way). The l2 norm is the pre-clip norm that call
returns, the very value the Trainer logs as ``grad_norm`` (read, not computed again);
the callback computes only the l1 norm, on the clipped gradients in
``on_pre_optimizer_step``, and divides it by the clip coefficient the Trainer applied
(``min(1, max_grad_norm / (grad_norm + 1e-6))``, torch's). The norms stay on the device
(no sync per step). When a Trainer takes another path (e.g. gradients on mixed device
meshes) the callback computes both norms itself; if clipping was on, it warns once that
these are post-clip norms. fp16 loss scaling (``fp16=True``) is refused; use bf16 or fp32.
Tested on CPU, single process and DDP; not under DeepSpeed, whose ZeRO stages keep
gradients outside ``p.grad`` and whose reported norm is computed inside its own step.
"""

from __future__ import annotations

import sys
import warnings
import weakref
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
        self._optimizer: str | None = None
        self._accelerator = None  # whose clip_grad_norm_ the callback listens to
        self._pre_clip = None  # what that clip returned at this step (pre-clip l2)
        self._warned = False

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
        self._listen(_calling_trainer())

    def _listen(self, trainer) -> None:
        """Wrap ``trainer.accelerator.clip_grad_norm_`` (on that instance only) so that the
        pre-clip norm it returns reaches :meth:`on_pre_optimizer_step`; clipping itself is
        untouched. The wrapper holds the callback weakly and is removed at train end."""
        self._unlisten()
        acc = getattr(trainer, "accelerator", None)
        clip = getattr(acc, "clip_grad_norm_", None)
        if clip is None:
            return
        clip = getattr(clip, "_lrcore_wrapped", clip)  # a wrapper left by a run that raised
        ref = weakref.ref(self)

        def clip_grad_norm_(*a, **k):
            norm = clip(*a, **k)
            cb = ref()
            if cb is not None:
                cb._pre_clip = norm
            return norm

        clip_grad_norm_._lrcore_wrapped = clip
        acc.clip_grad_norm_ = clip_grad_norm_
        self._accelerator = acc

    def _unlisten(self) -> None:
        acc, self._accelerator = self._accelerator, None
        if acc is not None and hasattr(acc.__dict__.get("clip_grad_norm_"), "_lrcore_wrapped"):
            del acc.clip_grad_norm_  # back to the class's method

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        norm, self._pre_clip = self._pre_clip, None
        max_norm = float(args.max_grad_norm or 0.0)
        if norm is None:  # the Trainer's norm was not seen: compute both norms here
            if max_norm > 0 and not self._warned:
                self._warned = True
                warnings.warn(
                    "GradNormCallback: the Trainer's pre-clip gradient norm was not seen "
                    "(accelerator.clip_grad_norm_ not called); recording the norms after "
                    "clipping",
                    stacklevel=2,
                )
            self.recorder.record(state.global_step)
            return
        if hasattr(norm, "full_tensor"):  # a replicated DTensor (FSDP2)
            norm = norm.full_tensor()
        scale = None
        if max_norm > 0:  # the coefficient torch's clip multiplied the gradients by
            n = torch.as_tensor(norm, dtype=torch.float32)
            scale = torch.clamp(max_norm / (n + 1e-6), max=1.0)
        self.recorder.record(state.global_step, l2=norm, scale=scale)

    def on_log(self, args, state, control, logs=None, **kwargs):
        rec = self.recorder
        if rec is None or not len(rec) or logs is None or "loss" not in logs:
            return
        last = state.log_history[-1] if state.log_history else None
        if last is not None and last.get("step") == state.global_step:
            l2, l1 = rec.last()  # this step's two norms, not every norm so far (rec.l2/l1)
            last["grad_norm_l2"], last["grad_norm_l1"] = l2, l1

    def on_train_end(self, args, state, control, **kwargs):
        self._unlisten()
        if self.recorder is not None and len(self.recorder) and state.is_world_process_zero:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            self.path = self.recorder.save(Path(args.output_dir) / self.filename)


def _calling_trainer():
    """The ``transformers.Trainer`` whose callback handler called us (from the stack;
    callbacks are not given the Trainer), or None."""
    from transformers import Trainer

    frame = sys._getframe(1)
    while frame is not None:
        obj = frame.f_locals.get("self")
        if isinstance(obj, Trainer):
            return obj
        frame = frame.f_back
    return None


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
