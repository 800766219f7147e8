"""Hugging Face ``Trainer``: record l2 and l1 gradient norms; train on a refined schedule.

    from lrcore.integrations.hf import GradNormCallback, use_schedule

    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[GradNormCallback()])
    trainer.train()                      # <output_dir>/grad_norms.csv, appended as it goes
    # lrcore refine <output_dir>/grad_norms.csv   (AdamW -> Adam rule on l1)   or, in Python:
    trainer = Trainer(model=model2, args=args, train_dataset=ds)
    use_schedule(trainer, "<output_dir>/grad_norms.csv")  # the Trainer's optimizer, refined lr
    trainer.train()

``use_schedule`` lets the Trainer build its optimizer (``trainer.create_optimizer()``:
its no-decay groups, ``optim``, betas, eps) and attaches only the schedule, so run 2 is
run 1 but for the schedule. ``optimizers(model, args, schedule)`` is deprecated.

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

from lrcore._extras import missing_extra

try:  # torch or transformers missing: say which extra to install
    from lrcore.integrations._hf_callback import GradNormCallback
    from lrcore.integrations._hf_schedule import lr_scheduler, optimizers, use_schedule
except ImportError as e:
    raise missing_extra("lrcore.integrations.hf", "hf", e) from e

__all__ = ["GradNormCallback", "lr_scheduler", "optimizers", "use_schedule"]
