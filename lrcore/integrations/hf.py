"""Hugging Face ``Trainer``: record l2 and l1 gradient norms; train on a refined schedule.

    from lrcore.integrations.hf import GradNormCallback, optimizers

    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GradNormCallback()])
    trainer.train()                      # <output_dir>/grad_norms.csv, appended as it goes
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

import torch

from lrcore.export import to_lambda_lr
from lrcore.integrations._common import schedule_values
from lrcore.integrations._hf_callback import GradNormCallback

__all__ = ["GradNormCallback", "lr_scheduler", "optimizers"]


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
