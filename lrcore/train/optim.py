"""SGD (with momentum), Adam, AdamW and AdamC (lrcore.train.adamc) for parameters with a leading run dimension, each run
with its own lr. The update rules are PyTorch's (``torch.optim``), checked against them in
the tests; grads are the loss gradients (weight decay is applied here, as torch does)."""

from __future__ import annotations

import math

import torch


class BatchedOptimizer:
    def __init__(
        self,
        name: str,
        params: list[torch.Tensor],
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        corrected: list[bool] | None = None,
        max_lr: torch.Tensor | None = None,
    ):
        self.name, self.params = name, params
        self.momentum, self.weight_decay, self.betas, self.eps = momentum, weight_decay, betas, eps
        self.t = 0
        # adamc: which params get the corrected decay lr_t**2 / max_lr (lrcore.train.adamc),
        # and each run's max_lr (its peak lr, shape (R,)); the others decay as in adamw
        self.corrected = corrected if corrected is not None else [False] * len(params)
        self.max_lr = max_lr
        if name == "adamc" and max_lr is None:
            raise ValueError("BatchedOptimizer: adamc needs max_lr (each run's peak lr)")
        if name == "sgd":
            self.buf = [torch.zeros_like(p) for p in params] if momentum else None
        else:
            self.m = [torch.zeros_like(p) for p in params]
            self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: torch.Tensor) -> None:
        """One update; ``lr`` is (R,), one lr per run (0 freezes a run)."""
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            lr_b = lr.view(-1, *([1] * (p.dim() - 1)))
            if self.name == "sgd":
                if self.weight_decay:
                    g = g.add(p, alpha=self.weight_decay)
                if self.buf is not None:
                    g = self.buf[i].mul_(self.momentum).add_(g)
                p.addcmul_(lr_b, g, value=-1.0)
                continue
            if self.name == "adamc" and self.corrected[i]:
                peak = self.max_lr.view(-1, *([1] * (p.dim() - 1)))
                p.mul_(1 - lr_b * lr_b / peak * self.weight_decay)
            elif self.name in ("adamw", "adamc"):
                p.mul_(1 - lr_b * self.weight_decay)
            elif self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            b1, b2 = self.betas
            self.m[i].lerp_(g, 1 - b1)
            self.v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (self.v[i].sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
            p.sub_((lr_b / (1 - b1**self.t)) * self.m[i] / denom)
