"""AdamC: AdamW whose weight decay on normalized layers follows the lr schedule squared.

Defazio (2025, "Why Gradients Rapidly Increase Near the End of Training", arXiv:2506.02285):
for a weight followed by a normalization layer, the loss does not change when the weight is
scaled, so its gradient is orthogonal to it and AdamW's decoupled decay ``lr_t * lambda``
settles the gradient-to-weight norm ratio near ``sqrt(2 lambda / lr_t)``: as a schedule
decays the lr, the gradient norms grow. AdamC decays those weights by
``lr_t**2 / lr_max * lambda`` instead (``lr_max`` the schedule's peak), which keeps that
ratio steady; every other parameter keeps AdamW's ``lr_t * lambda``.

Which weights count as normalized (:func:`normalized_parameters`), a documented rule:

- a weight matrix (``ndim >= 2``) of a layer that maps its input linearly (``Linear``,
  ``ConvNd``, Hugging Face's ``Conv1D``: any module with a ``weight`` of two or more
  dimensions that is not an embedding or a normalization layer) counts when the model
  holds at least one normalization layer (``BatchNorm``, ``LayerNorm``, ``GroupNorm``,
  ``InstanceNorm``, ``RMSNorm``): in such a network the hidden layers' outputs reach a
  normalization layer (directly, or through a residual stream that a pre-norm block
  normalizes) before they are used;
- the output layer does not (the last such layer in module order, or the modules named in
  ``exclude``): its output goes to the loss unnormalized; nor do embeddings, biases and the
  normalization layers' own gains and biases;
- a model with no normalization layer has no normalized weight: AdamC is then AdamW.

Pass your own split as parameter groups with ``corrected=True`` / ``False`` when the rule
does not fit your model.

    from lrcore.train import AdamC, adamc_param_groups
    opt = AdamC(adamc_param_groups(model, weight_decay=0.1), lr=3e-4)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["NORM_LAYERS", "AdamC", "adamc_param_groups", "normalized_parameters"]

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def _is_norm(module: nn.Module) -> bool:
    """A normalization layer: torch's own, or one whose class name says so (``LlamaRMSNorm``,
    ``T5LayerNorm``: libraries define their own)."""
    name = type(module).__name__.lower()
    return isinstance(module, NORM_LAYERS) or name.endswith(("layernorm", "rmsnorm", "batchnorm"))


def _is_matrix_layer(module: nn.Module) -> bool:
    w = getattr(module, "weight", None)
    return (
        isinstance(w, nn.Parameter)
        and w.dim() >= 2
        and not isinstance(module, nn.Embedding | nn.EmbeddingBag)
        and not _is_norm(module)
    )


def normalized_parameters(
    model: nn.Module, exclude: Iterable[str] = ()
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(normalized, other)``: the trainable parameters of ``model`` split by the rule in
    the module docstring. ``exclude`` names modules (as in ``named_modules``) whose weights
    never count; by default the last matrix layer (the output head) is excluded.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    >>> norm, rest = normalized_parameters(net)
    >>> [tuple(p.shape) for p in norm], len(rest)
    ([(8, 4)], 5)
    >>> normalized_parameters(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)))[0]
    []
    """
    modules = dict(model.named_modules())
    has_norm = any(_is_norm(m) for m in modules.values())
    layers = [n for n, m in modules.items() if _is_matrix_layer(m)]
    excluded = set(exclude) if exclude else set(layers[-1:])
    unknown = set(exclude) - set(modules)
    if unknown:
        raise ValueError(
            f"normalized_parameters: exclude names modules the model does not have: "
            f"{sorted(unknown)}"
        )
    chosen: set[int] = set()
    if has_norm:
        for name in layers:
            w = modules[name].weight
            if name not in excluded and w.requires_grad:
                chosen.add(id(w))
        # a weight tied to an embedding or to the excluded head (GPT-2's lm_head) is not one
        for name, m in modules.items():
            if name in excluded or isinstance(m, nn.Embedding):
                chosen.discard(id(getattr(m, "weight", None)))
    normalized, other, seen = [], [], set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (normalized if id(p) in chosen else other).append(p)
    return normalized, other


def adamc_param_groups(
    model: nn.Module, weight_decay: float, exclude: Iterable[str] = ()
) -> list[dict]:
    """Two parameter groups for :class:`AdamC`: the normalized weights (``corrected=True``)
    and the rest (``corrected=False``, AdamW's decay), both with ``weight_decay``."""
    normalized, other = normalized_parameters(model, exclude)
    groups = [
        {"params": normalized, "weight_decay": weight_decay, "corrected": True},
        {"params": other, "weight_decay": weight_decay, "corrected": False},
    ]
    return [g for g in groups if g["params"]]


class AdamC(torch.optim.AdamW):
    """AdamW (torch's update, ``torch.optim.AdamW`` with ``amsgrad=False``) whose decoupled
    weight decay in groups with ``corrected=True`` is ``lr_t**2 / max_lr * weight_decay``.

    ``max_lr`` per group: the group's ``max_lr`` if given, else its ``initial_lr`` (set by
    every torch lr scheduler when it is attached: the schedule's peak when the scheduler
    multiplies a peak lr, as ``LambdaLR`` and lrcore's exports do), else the group's lr when
    the optimizer was built. Groups without ``corrected`` default to ``corrected=True``;
    build them with :func:`adamc_param_groups` to follow the normalized-layer rule.

    >>> p = nn.Parameter(torch.ones(2, 2))
    >>> opt = AdamC([p], lr=0.1, weight_decay=0.5)
    >>> opt.param_groups[0]["lr"] = 0.05           # the schedule is at half its peak
    >>> p.grad = torch.zeros(2, 2); opt.step()
    >>> round(float(p.detach()[0, 0]), 6)           # decay 0.05**2 / 0.1 * 0.5 = 0.0125
    0.9875
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        max_lr: float | None = None,
    ):
        if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"AdamC: lr must be a finite number > 0, got {lr!r}")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        for g in self.param_groups:
            g.setdefault("corrected", True)
            if max_lr is not None:
                g.setdefault("max_lr", max_lr)
            g.setdefault("_lr_at_build", g["lr"])
            if g.get("max_lr") is not None and not g["max_lr"] > 0:
                raise ValueError(f"AdamC: max_lr must be > 0, got {g['max_lr']!r}")

    @staticmethod
    def _max_lr(group: dict) -> float:
        for key in ("max_lr", "initial_lr", "_lr_at_build"):
            v = group.get(key)
            if v is not None:
                return float(v)
        return float(group["lr"])

    @torch.no_grad()
    def step(self, closure=None):
        """One AdamW step, with the corrected groups' decay applied here and theirs set to
        0 for torch's own update (the closure first, then decay, then the Adam update, in
        torch's AdamW order)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        saved = []
        for g in self.param_groups:
            if g.get("corrected") and g["weight_decay"]:
                lr = float(g["lr"])
                scale = lr * lr / self._max_lr(g) * g["weight_decay"]
                for p in g["params"]:
                    if p.grad is not None:
                        p.mul_(1.0 - scale)
                saved.append((g, g["weight_decay"]))
                g["weight_decay"] = 0.0
        try:
            super().step()
        finally:
            for g, wd in saved:
                g["weight_decay"] = wd
        return loss
