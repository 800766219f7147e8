"""Models whose parameters carry a leading run dimension R, so R runs train as one batch.

- :class:`LogReg`: multinomial logistic regression (convex, smooth), zero-initialised, with
  the exact gradient in closed form (no autograd: it is the hot loop of every study).
- :class:`Hinge`: the same linear model under the multiclass hinge of Crammer & Singer
  (convex, Lipschitz, non-smooth), with a closed-form subgradient.
- :class:`SmallCNN`: two 3x3 conv layers and a linear head for 8x8 images, run over R
  stacked parameter sets with ``torch.func.vmap``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap


class LogReg:
    """``logits = X @ W + b``; ``W`` is (R, d, k), ``b`` is (R, k); zero initial weights."""

    def __init__(
        self, n_runs: int, n_features: int, n_classes: int, seeds, device, dtype=torch.float32
    ):
        self.params = [
            torch.zeros(n_runs, n_features, n_classes, device=device, dtype=dtype),
            torch.zeros(n_runs, n_classes, device=device, dtype=dtype),
        ]
        self._minus_one = None  # cached scatter source for the one-hot subtraction

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """X is (R, B, d) (each run its own batch) -> (R, B, k)."""
        W, b = self.params
        return torch.baddbmm(b.unsqueeze(1), X, W)

    def loss_and_grads(self, X, y) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-run mean cross-entropy (R,) and its exact gradient per parameter."""
        logits = self.logits(X)
        logp = torch.log_softmax(logits, dim=-1)
        loss = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(1)
        resid = logp.exp_()  # softmax - onehot, divided by the batch size
        if self._minus_one is None or self._minus_one.shape[:-1] != y.shape:
            self._minus_one = torch.full((*y.shape, 1), -1.0, device=y.device, dtype=X.dtype)
        resid.scatter_add_(-1, y.unsqueeze(-1), self._minus_one)
        resid /= X.shape[1]
        return loss, [torch.bmm(X.transpose(1, 2), resid), resid.sum(1)]

    @staticmethod
    def example_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(R, N, k) logits, (R, N) labels -> (R, N) cross-entropy per example."""
        R, N, k = logits.shape
        return F.cross_entropy(logits.reshape(R * N, k), y.reshape(-1), reduction="none").view(R, N)


class Hinge(LogReg):
    """Crammer-Singer hinge: ``max(0, max_{j != y} 1 + s_j - s_y)`` per example.

    Subgradient: ``x`` into column ``j*`` (the first most violating class) and ``-x`` into
    column ``y``, when the margin is violated (> 0); zero otherwise.
    """

    @staticmethod
    def _margins(logits, y):
        m = 1.0 + logits - logits.gather(-1, y.unsqueeze(-1))
        return m.scatter_(-1, y.unsqueeze(-1), 0.0)  # j = y stands for "no loss"

    @classmethod
    def example_losses(cls, logits, y):
        return cls._margins(logits, y).amax(-1)

    def loss_and_grads(self, X, y):
        worst, j = self._margins(self.logits(X), y).max(-1)
        active = (worst > 0).to(X.dtype).unsqueeze(-1) / X.shape[1]
        resid = X.new_zeros(*y.shape, self.params[1].shape[-1])
        resid.scatter_add_(-1, j.unsqueeze(-1), active)
        resid.scatter_add_(-1, y.unsqueeze(-1), -active)
        return worst.mean(1), [torch.bmm(X.transpose(1, 2), resid), resid.sum(1)]


class _CNN(nn.Module):
    def __init__(self, n_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.head = nn.Linear(32 * 4 * 4, n_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))


class SmallCNN:
    """R copies of a small CNN, each initialised from its run's seed with PyTorch's default
    distribution (uniform in +-1/sqrt(fan_in), weights and biases), drawn by numpy: torch's own
    ``uniform_`` gives other values (1e-8 apart) under other CPU kernels, so a run would not
    reproduce from one machine to the next."""

    def __init__(
        self, n_runs: int, n_features: int, n_classes: int, seeds, device, dtype=torch.float32
    ):
        shapes = {n: p.shape for n, p in _CNN(n_classes).to("meta").named_parameters()}
        self.names = list(shapes)
        draws = {n: [] for n in self.names}
        for seed in seeds:
            rng = np.random.default_rng([int(seed), 7])
            for n, shape in shapes.items():
                weight = shapes[n.rsplit(".", 1)[0] + ".weight"]
                bound = 1 / np.sqrt(np.prod(weight[1:]))  # fan_in of the layer
                draws[n].append(rng.uniform(-bound, bound, tuple(shape)))
        self.params = [
            torch.from_numpy(np.stack(draws[n])).to(device=device, dtype=dtype).requires_grad_(True)
            for n in self.names
        ]
        self._base = _CNN(n_classes).to("meta")

        def one(p, x):
            return functional_call(self._base, dict(zip(self.names, p, strict=True)), (x,))

        self._batched = vmap(one)

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        return self._batched(self.params, X)

    def loss_and_grads(self, X, y):
        logits = self.logits(X)
        R, B, k = logits.shape
        loss = (
            F.cross_entropy(logits.reshape(R * B, k), y.reshape(-1), reduction="none")
            .view(R, B)
            .mean(1)
        )
        grads = torch.autograd.grad(
            loss.sum(), self.params
        )  # runs are independent: d(sum)/d(run r) = its own
        return loss.detach(), list(grads)

    example_losses = staticmethod(LogReg.example_losses)


MODELS = {"logreg": LogReg, "svm": Hinge, "cnn": SmallCNN}
