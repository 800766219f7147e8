"""Models whose parameters carry a leading run dimension R, so R runs train as one batch.

- :class:`LogReg`: multinomial logistic regression (convex, smooth), zero-initialised, with
  the exact gradient in closed form (no autograd: it is the hot loop of every study).
- :class:`Hinge`: the same linear model under the multiclass hinge of Crammer & Singer
  (convex, Lipschitz, non-smooth), with a closed-form subgradient.
- :class:`SmallCNN`: two 3x3 conv layers and a linear head for 8x8 images, run over R
  stacked parameter sets with ``torch.func.vmap``.
- :class:`TinyLM`: a small decoder-only transformer (causal self-attention, pre-norm), its
  parameters stacked over R runs and applied with batched matmuls.

Every initialisation is drawn by numpy from the run's seed (torch's RNG gives other values
under other CPU kernels).
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


_HIDDEN = ("qkv_w", "proj_w", "fc_w", "out_w")


class TinyLM:
    """R copies of a decoder-only transformer for next-token prediction.

    Token and learned position embeddings (width ``d``), ``layers`` pre-norm blocks
    (LayerNorm -> causal multi-head self-attention -> residual; LayerNorm -> MLP 4d with GELU
    -> residual), a final LayerNorm and an untied linear head. Initialisation (numpy,
    ``default_rng([seed, 7])``): weights normal(0, 0.02), the two residual output projections
    of each block normal(0, 0.02 / sqrt(2 * layers)) (GPT-2), biases 0, LayerNorm gains 1.
    Every parameter has a leading run dimension R; AdamW's decay applies to all of them
    (AdamC's corrected decay to the hidden matrices, ``normalized``).

    ``logits`` reads (R, N, L) tokens and returns (R, N, L - k + 1, vocab): the predictions
    for the targets at positions ``k .. L`` (``k`` = the source's order; earlier targets have
    no full context and are not scored, so the true model's loss is the entropy rate).
    """

    def __init__(
        self,
        n_runs,
        vocab,
        seq_len,
        d_model,
        layers,
        heads,
        order,
        seeds,
        device,
        dtype=torch.float32,
    ):
        self.V, self.L, self.D, self.layers, self.H, self.k = (
            vocab,
            seq_len,
            d_model,
            layers,
            heads,
            order,
        )
        D, V, L = d_model, vocab, seq_len
        shapes = {"tok": (V, D), "pos": (L, D)}
        for i in range(layers):
            shapes |= {
                f"{i}.ln1_g": (D,), f"{i}.ln1_b": (D,),
                f"{i}.qkv_w": (D, 3 * D), f"{i}.qkv_b": (3 * D,),
                f"{i}.proj_w": (D, D), f"{i}.proj_b": (D,),
                f"{i}.ln2_g": (D,), f"{i}.ln2_b": (D,),
                f"{i}.fc_w": (D, 4 * D), f"{i}.fc_b": (4 * D,),
                f"{i}.out_w": (4 * D, D), f"{i}.out_b": (D,),
            }  # fmt: skip
        shapes |= {"lnf_g": (D,), "lnf_b": (D,), "head_w": (D, V), "head_b": (V,)}
        self.names = list(shapes)
        draws = {n: [] for n in self.names}
        for seed in seeds:
            rng = np.random.default_rng([int(seed), 7])
            for n, shape in shapes.items():
                kind = n.rsplit(".", 1)[-1]
                if kind.endswith("_g"):
                    draws[n].append(np.ones(shape))
                elif kind.endswith("_b"):
                    draws[n].append(np.zeros(shape))
                else:
                    std = 0.02 / np.sqrt(2 * layers) if kind in ("proj_w", "out_w") else 0.02
                    draws[n].append(rng.normal(0.0, std, shape))
        self.params = [
            torch.from_numpy(np.stack(draws[n])).to(device=device, dtype=dtype).requires_grad_(True)
            for n in self.names
        ]
        self._p = dict(zip(self.names, self.params, strict=True))
        # the hidden weight matrices reach a LayerNorm before they are used (pre-norm blocks):
        # the weights lrcore.train.adamc counts as normalized; embeddings, the output head,
        # biases and LayerNorm gains are the rest
        self.normalized = [n.rsplit(".", 1)[-1] in _HIDDEN for n in self.names]
        self._mask = torch.ones(L, L, dtype=torch.bool, device=device).triu(1)

    @staticmethod
    def _ln(x, g, b):
        R = g.shape[0]
        x = F.layer_norm(x, x.shape[-1:])
        return x * g.view(R, *([1] * (x.dim() - 2)), -1) + b.view(R, *([1] * (x.dim() - 2)), -1)

    @staticmethod
    def _lin(x, w, b):
        """(R, N, L, a) @ (R, a, c) + (R, c)."""
        R, N, L, a = x.shape
        y = torch.baddbmm(b.unsqueeze(1), x.reshape(R, N * L, a), w)
        return y.view(R, N, L, -1)

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        p, H = self._p, self.H
        tok = X.long()
        R, N, L = tok.shape
        # each run's own embedding rows: offset run r's tokens by r * V in the (R V, D) table
        rows = tok + (torch.arange(R, device=tok.device) * self.V).view(R, 1, 1)
        x = p["tok"].reshape(R * self.V, self.D)[rows] + p["pos"][:, :L].unsqueeze(1)
        hd = self.D // H
        for i in range(self.layers):
            h = self._ln(x, p[f"{i}.ln1_g"], p[f"{i}.ln1_b"])
            q, k, v = (
                self._lin(h, p[f"{i}.qkv_w"], p[f"{i}.qkv_b"])
                .view(R * N, L, 3, H, hd)
                .permute(2, 0, 3, 1, 4)
            )  # each (R N, H, L, hd)
            att = (q @ k.transpose(-1, -2)) / np.sqrt(hd)
            att = att.masked_fill(self._mask[:L, :L], float("-inf")).softmax(-1)
            o = (att @ v).transpose(1, 2).reshape(R, N, L, self.D)
            x = x + self._lin(o, p[f"{i}.proj_w"], p[f"{i}.proj_b"])
            h = self._ln(x, p[f"{i}.ln2_g"], p[f"{i}.ln2_b"])
            h = F.gelu(self._lin(h, p[f"{i}.fc_w"], p[f"{i}.fc_b"]))
            x = x + self._lin(h, p[f"{i}.out_w"], p[f"{i}.out_b"])
        x = self._ln(x[:, :, self.k - 1 :], p["lnf_g"], p["lnf_b"])
        return self._lin(x, p["head_w"], p["head_b"])

    @staticmethod
    def example_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(R, N, T, V) logits, (R, N, T) targets -> (R, N) mean cross-entropy per sequence."""
        R, N, T, V = logits.shape
        ce = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1).long(), reduction="none")
        return ce.view(R, N, T).mean(2)

    def loss_and_grads(self, X, y):
        loss = self.example_losses(self.logits(X), y).mean(1)
        grads = torch.autograd.grad(loss.sum(), self.params)  # runs are independent
        return loss.detach(), list(grads)


def build_model(cfg, n_runs, n_features, n_classes, seeds, device, dtype):
    """The model of ``cfg.task`` for ``n_runs`` runs initialised from ``seeds``."""
    if cfg.task == "lm":
        return TinyLM(
            n_runs,
            cfg.lm_vocab,
            cfg.lm_seq_len,
            cfg.lm_d_model,
            cfg.lm_layers,
            cfg.lm_heads,
            cfg.lm_order,
            seeds,
            device,
            dtype=dtype,
        )
    return MODELS[cfg.task](n_runs, n_features, n_classes, seeds, device, dtype=dtype)


MODELS = {"logreg": LogReg, "svm": Hinge, "cnn": SmallCNN, "lm": TinyLM}
