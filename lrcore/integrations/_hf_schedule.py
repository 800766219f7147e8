"""Run 2 is run 1 but for the schedule: the HF ``Trainer`` builds its own optimizer and
lrcore attaches only the refined schedule (imported by :mod:`lrcore.integrations.hf`).

The Trainer's optimizer is what ``trainer.create_optimizer()`` builds: its weight-decay
groups (no decay on biases and LayerNorm weights), ``args.optim`` with its betas, eps and
``optim_args``, lr = ``args.learning_rate``. :func:`use_schedule` calls that very method,
so a Trainer subclass's own ``create_optimizer`` / ``get_decay_parameter_names`` and
``Trainer(optimizer_cls_and_kwargs=...)`` are kept too.
"""

from __future__ import annotations

import warnings

import torch

from lrcore.export import to_lambda_lr
from lrcore.integrations._common import schedule_values
from lrcore.logs._meta import optimizer_family

__all__ = ["lr_scheduler", "optimizers", "use_schedule"]


def lr_scheduler(
    optimizer, schedule, total_steps: int, tau: float = 0.1, rule: str = "auto", metric=None
):
    """A ``LambdaLR`` whose lr at optimizer step t is ``optimizer's lr * values[t]``
    (values peak-normalised, see :func:`lrcore.integrations.schedule_values`; ``rule`` is
    its ``optimizer=``: ``"adam"``, ``"sgd"`` or ``"auto"``: the log's recorded optimizer,
    else this ``optimizer``'s family)."""
    fallback = optimizer_family(optimizer)  # used when the log does not record one
    values = schedule_values(
        schedule, total_steps, tau=tau, optimizer=rule, metric=metric, fallback=fallback
    )
    return to_lambda_lr(values, optimizer)


def use_schedule(
    trainer,
    schedule,
    total_steps: int | None = None,
    tau: float = 0.1,
    *,
    rule: str = "auto",
    metric: str | None = None,
):
    """Train ``trainer`` on ``schedule`` with the optimizer the Trainer itself builds.

    Calls ``trainer.create_optimizer()`` (the Trainer's groups, ``args.optim``, betas, eps,
    peak lr ``args.learning_rate``) and sets ``trainer.lr_scheduler`` to a per-step
    ``LambdaLR``: the lr at optimizer step t is ``args.learning_rate * values[t]`` (values
    peak-normalised, see :func:`lrcore.integrations.schedule_values`). The Trainer then
    trains as it would with its own scheduler. Returns the scheduler.

    ``schedule``: an array of ``total_steps`` values, a schedule function, a log or a log
    path (refined with ``tau``, stretched to ``total_steps``). ``total_steps`` defaults to
    ``args.max_steps``. ``rule`` (``"adam"`` / ``"sgd"``) and ``metric`` override the rule:
    by default the optimizer the log records, else the family of the optimizer the Trainer
    built (Adam family -> l1 norms and the Adam rule, SGD -> l2).

    Not for Trainers that build their optimizer inside ``train()``: DeepSpeed, FSDP, or a
    ``model_init`` (``train()`` rebuilds the optimizer); these raise ``ValueError``.
    """
    _check_trainer(trainer)
    args = trainer.args
    if total_steps is None:
        if not args.max_steps or args.max_steps <= 0:
            raise ValueError(
                f"use_schedule: TrainingArguments.max_steps must be > 0 (the schedule's "
                f"length), got {args.max_steps}; set max_steps or pass total_steps (the "
                "number of optimizer steps the run takes)"
            )
        total_steps = args.max_steps
    optimizer = trainer.create_optimizer()  # the Trainer's own code path, nothing rebuilt
    trainer.lr_scheduler = lr_scheduler(
        optimizer, schedule, total_steps, tau=tau, rule=rule, metric=metric
    )
    # a Trainer that made its own scheduler in an earlier train() drops it at the next one
    if getattr(trainer, "_created_lr_scheduler", False):
        trainer._created_lr_scheduler = False
    return trainer.lr_scheduler


_UNSUPPORTED = {
    "is_deepspeed_enabled": "DeepSpeed builds the optimizer and scheduler inside train()",
    "is_fsdp_enabled": "FSDP builds the optimizer inside train(), on the wrapped model",
    "is_fsdp_xla_enabled": "FSDP builds the optimizer inside train(), on the wrapped model",
}


def _check_trainer(trainer) -> None:
    if not hasattr(trainer, "create_optimizer") or not hasattr(trainer, "args"):
        raise ValueError(
            f"use_schedule: trainer must be a transformers.Trainer, got {type(trainer).__name__}"
        )
    for attr, why in _UNSUPPORTED.items():
        if getattr(trainer, attr, False):
            raise ValueError(
                f"use_schedule: {why} ({attr}=True); subclass the Trainer and override "
                "create_scheduler to return lrcore.export.to_lambda_lr(values, optimizer)"
            )
    if getattr(trainer, "model_init", None) is not None:
        raise ValueError(
            "use_schedule: the Trainer has a model_init, so train() rebuilds the optimizer and "
            "scheduler; subclass the Trainer and override create_scheduler instead"
        )


def optimizers(
    model,
    args,
    schedule,
    optimizer_cls=None,
    tau: float = 0.1,
    *,
    optimizer: str = "auto",
    metric: str | None = None,
    **optimizer_kwargs,
):
    """Deprecated: use :func:`use_schedule`, which keeps whatever optimizer the Trainer
    (or its subclass) builds.

    ``(optimizer, scheduler)`` for ``Trainer(optimizers=...)``: the optimizer the base
    ``Trainer`` builds from ``args`` (``Trainer.get_optimizer_cls_and_kwargs``: ``optim``,
    betas, eps, lr ``args.learning_rate``; ``Trainer.get_decay_parameter_names``: no weight
    decay on biases and LayerNorm weights), or ``optimizer_cls(**optimizer_kwargs)`` on the
    same groups when given; the schedule over ``args.max_steps`` optimizer steps, with the
    rule of the log's recorded optimizer, else of this optimizer."""
    warnings.warn(
        "lrcore.integrations.hf.optimizers is deprecated: it cannot see a Trainer subclass's "
        "create_optimizer or Trainer(optimizer_cls_and_kwargs=...); build the Trainer without "
        "optimizers= and call use_schedule(trainer, schedule), which keeps the optimizer the "
        "Trainer builds",
        DeprecationWarning,
        stacklevel=2,
    )
    if not args.max_steps or args.max_steps <= 0:
        raise ValueError(
            f"optimizers: TrainingArguments.max_steps must be > 0 (the schedule's length), "
            f"got {args.max_steps}"
        )
    opt = _base_trainer_optimizer(model, args, optimizer_cls, optimizer_kwargs)
    sched = lr_scheduler(opt, schedule, args.max_steps, tau=tau, rule=optimizer, metric=metric)
    return opt, sched


def _base_trainer_optimizer(model, args, optimizer_cls, optimizer_kwargs):
    """What ``Trainer.create_optimizer`` builds for ``model`` and ``args`` (base Trainer,
    single process), from the Trainer's own class and kwargs and its decay-name rule."""
    from transformers import Trainer

    cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    if optimizer_cls is not None:
        cls, kwargs = optimizer_cls, {"lr": args.learning_rate}
    weight_decay = optimizer_kwargs.get("weight_decay", args.weight_decay)
    kwargs = {**kwargs, **optimizer_kwargs}
    special = {"params", "model", "optimizer_dict"} & set(kwargs)
    if special or not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        optim, name = getattr(args.optim, "value", args.optim), getattr(cls, "__name__", cls)
        raise ValueError(
            f"optimizers: optim={optim!r} is built inside the Trainer ({name}); use "
            "use_schedule(trainer, schedule)"
        )
    # get_decay_parameter_names does not use the Trainer instance (transformers 4.46 - 5.x)
    decay = set(Trainer.get_decay_parameter_names(None, model))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if n in decay], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]
    return cls(groups, **kwargs)
