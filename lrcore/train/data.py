"""Datasets that ship inside scikit-learn or are generated from a seed: nothing is downloaded.

Features are standardised with the training split's statistics; the train/test split is
fixed per seed (stratified, 25 % test).

Task "lm" reads token sequences from :class:`MarkovSource`, a seeded order-k Markov chain
(numpy's RNG only, so the tokens are the same on every machine): a fresh training stream of
``steps * batch_size`` sequences (each step sees new ones, as in LM pre-training: the loss
never reaches 0) and ``lm_heldout`` held-out sequences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lrcore.train.config import RunConfig


@dataclass(frozen=True)
class DataSpec:
    """The fields of a RunConfig that decide its data (hashable, so loads are cached)."""

    dataset: str
    task: str
    seed: int
    synthetic_samples: int
    synthetic_features: int
    synthetic_classes: int
    synthetic_condition: float


@dataclass(frozen=True)
class Dataset:
    X_train: np.ndarray  # float64 (n, d) for the convex tasks, float32 (n, 1, h, w) for the CNN,
    # uint8 (n, L) input tokens for lm
    y_train: np.ndarray  # int64 class labels; uint8 (n, L - k + 1) next tokens for lm
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str

    # lm only: the true model's cross-entropy of each held-out sequence (mean over its targets)
    reference_test_loss: np.ndarray | None = None
    X_train_eval: np.ndarray | None = None  # lm: the training sequences the "train loss" uses
    y_train_eval: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))


class MarkovSource:
    """An order-``order`` Markov chain over ``vocab`` tokens: the next token after the context
    ``(x_{t-k}, ..., x_{t-1})`` is drawn from row ``P[context]``, each row a draw from a
    symmetric Dirichlet(``alpha``) (numpy ``default_rng([seed, 13])``). Contexts are indexed
    ``sum_i x_{t-k+i} * vocab ** (k-1-i)``. Sequences start from the stationary distribution
    of the contexts, so every target has the same distribution and the true model's expected
    cross-entropy per token is exactly :attr:`entropy_rate` (nats)."""

    def __init__(self, vocab: int, order: int, alpha: float, seed: int):
        self.vocab, self.order = int(vocab), int(order)
        rng = np.random.default_rng([int(seed), 13])
        n_ctx = self.vocab**self.order
        P = rng.dirichlet(np.full(self.vocab, float(alpha)), size=n_ctx)
        P = np.maximum(P, 1e-300)  # a row entry can underflow to 0 for small alpha
        self.P = P / P.sum(1, keepdims=True)
        self.cum = np.cumsum(self.P, 1)
        self.cum[:, -1] = 1.0

    @property
    def n_contexts(self) -> int:
        return self.vocab**self.order

    def next_context(self, ctx, token):
        """Index of the context after ``token`` follows context ``ctx``."""
        return (ctx * self.vocab) % self.n_contexts + token

    def context_matrix(self) -> np.ndarray:
        """(C, C) transition matrix of the context chain."""
        C, V = self.n_contexts, self.vocab
        M = np.zeros((C, C))
        ctx = np.repeat(np.arange(C), V)
        tok = np.tile(np.arange(V), C)
        np.add.at(M, (ctx, self.next_context(ctx, tok)), self.P.ravel())
        return M

    @property
    def stationary(self) -> np.ndarray:
        """Stationary distribution of the contexts (left eigenvector of eigenvalue 1)."""
        if not hasattr(self, "_pi"):
            M = self.context_matrix()
            C = len(M)
            # solve pi (M - I) = 0 with sum(pi) = 1 (least squares on the stacked system)
            A = np.vstack([M.T - np.eye(C), np.ones((1, C))])
            b = np.zeros(C + 1)
            b[-1] = 1.0
            pi = np.linalg.lstsq(A, b, rcond=None)[0]
            pi = np.maximum(pi, 0.0)
            self._pi = pi / pi.sum()
        return self._pi

    @property
    def entropy_rate(self) -> float:
        """``-sum_c pi(c) sum_x P(x|c) log P(x|c)``: nats per token."""
        row_entropy = -(self.P * np.log(self.P)).sum(1)
        return float(self.stationary @ row_entropy)

    def sample(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) uint8 tokens; the first ``order`` come from the stationary context."""
        k, V = self.order, self.vocab
        out = np.empty((n, length), dtype=np.uint8)
        ctx = rng.choice(self.n_contexts, size=n, p=self.stationary)
        for i in range(min(k, length)):  # spell the starting context out, oldest token first
            out[:, i] = (ctx // V ** (k - 1 - i)) % V
        for t in range(k, length):
            u = rng.random(n)
            tok = (self.cum[ctx] < u[:, None]).sum(1)  # inverse CDF of row P[ctx]
            tok = np.minimum(tok, V - 1)
            out[:, t] = tok
            ctx = self.next_context(ctx, tok)
        return out

    def token_losses(self, seqs: np.ndarray) -> np.ndarray:
        """(n, length - order) true cross-entropy ``-log P(x_t | context)`` of every token that
        has a full context (positions ``order`` .. end)."""
        seqs = np.asarray(seqs, dtype=np.int64)
        k, V = self.order, self.vocab
        n, length = seqs.shape
        ctx = np.zeros(n, dtype=np.int64)
        for i in range(k):
            ctx = ctx * V + seqs[:, i]
        out = np.empty((n, length - k))
        for t in range(k, length):
            out[:, t - k] = -np.log(self.P[ctx, seqs[:, t]])
            ctx = self.next_context(ctx, seqs[:, t])
        return out


def markov_source(cfg) -> MarkovSource:
    """The Markov source of an lm RunConfig (cached per vocabulary, order, alpha and seed)."""
    return _source(cfg.lm_vocab, cfg.lm_order, float(cfg.lm_alpha), cfg.seed)


@lru_cache(maxsize=32)
def _source(vocab, order, alpha, seed) -> MarkovSource:
    return MarkovSource(vocab, order, alpha, seed)


LM_TRAIN_EVAL = 64  # training sequences (the first of the stream) the lm "train loss" uses


def lm_dataset(cfg: RunConfig) -> Dataset:
    """Tokens for an lm run: ``steps * batch_size`` training sequences in the order the steps
    read them (rng ``[seed, 17]``) and ``lm_heldout`` held-out ones (rng ``[seed, 19]``), each
    ``lm_seq_len + 1`` tokens long: inputs are the first ``lm_seq_len``, targets the tokens
    at positions ``lm_order .. lm_seq_len`` (those with a full context)."""
    return _lm(
        cfg.lm_vocab,
        cfg.lm_order,
        float(cfg.lm_alpha),
        cfg.seed,
        cfg.lm_seq_len,
        cfg.steps * cfg.batch_size,
        cfg.lm_heldout,
    )


@lru_cache(maxsize=16)
def _lm(vocab, order, alpha, seed, seq_len, n_train, n_heldout) -> Dataset:
    src = _source(vocab, order, alpha, seed)
    train = src.sample(n_train, seq_len + 1, np.random.default_rng([seed, 17]))
    test = src.sample(n_heldout, seq_len + 1, np.random.default_rng([seed, 19]))
    ref = src.token_losses(test).mean(1)
    k = order
    ev = train[:LM_TRAIN_EVAL]
    return Dataset(
        train[:, :-1],
        train[:, k:],
        test[:, :-1],
        test[:, k:],
        n_classes=vocab,
        name="markov",
        reference_test_loss=ref,
        X_train_eval=ev[:, :-1],
        y_train_eval=ev[:, k:],
    )


def _sklearn(loader: str) -> Callable[[DataSpec], tuple[np.ndarray, np.ndarray]]:
    def load(cfg: DataSpec):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader)()
        return bunch.data.astype(np.float64), bunch.target.astype(np.int64)

    return load


def _synthetic(cfg: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features with condition number ``synthetic_condition`` (a random rotation of
    log-spaced scales) and labels sampled from a softmax teacher, so classes overlap and the
    logistic loss has a finite minimiser."""
    rng = np.random.default_rng([cfg.seed, 7])
    n, d, k = cfg.synthetic_samples, cfg.synthetic_features, cfg.synthetic_classes
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.geomspace(1.0, 1.0 / np.sqrt(cfg.synthetic_condition), d)
    X = rng.normal(size=(n, d)) @ (q * scales) @ q.T
    teacher = rng.normal(size=(d, k)) * 2.0 / np.sqrt(d)
    logits = X @ teacher / X.std()
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return X, y.astype(np.int64)


def _synthetic_images(cfg: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """8x8 single-channel images: one random smooth template per class, randomly shifted
    by up to one pixel, plus noise."""
    rng = np.random.default_rng([cfg.seed, 11])
    n, k = cfg.synthetic_samples, cfg.synthetic_classes
    templates = rng.normal(size=(k, 10, 10))
    templates = (templates + np.roll(templates, 1, 1) + np.roll(templates, 1, 2)) / 3
    y = rng.integers(0, k, n)
    shifts = rng.integers(0, 3, (n, 2))
    X = np.stack([templates[c, i : i + 8, j : j + 8] for c, (i, j) in zip(y, shifts, strict=True)])
    X = X + rng.normal(scale=0.8, size=X.shape)
    return X.reshape(n, 64), y.astype(np.int64)


LOADERS: dict[str, Callable[[DataSpec], tuple[np.ndarray, np.ndarray]]] = {
    "digits": _sklearn("load_digits"),
    "breast_cancer": _sklearn("load_breast_cancer"),
    "wine": _sklearn("load_wine"),
    "iris": _sklearn("load_iris"),
    "synthetic": _synthetic,
    "synthetic_images": _synthetic_images,
}
IMAGE_SIDE = 8  # digits and synthetic_images are 8x8


def data_spec(cfg: RunConfig) -> DataSpec:
    """The fields of ``cfg`` that decide its data (a hashable cache key)."""
    synthetic = cfg.dataset.startswith("synthetic")
    return DataSpec(
        cfg.dataset,
        "cnn" if cfg.task == "cnn" else "tabular",  # logreg and svm share their data
        cfg.seed,
        *(
            (
                cfg.synthetic_samples,
                cfg.synthetic_features,
                cfg.synthetic_classes,
                float(cfg.synthetic_condition),
            )
            if synthetic
            else (0, 0, 0, 0.0)
        ),
    )


def load_dataset(cfg: RunConfig) -> Dataset:
    """The dataset of ``cfg``, split and standardised for ``cfg.seed`` (cached)."""
    if cfg.task == "lm":
        return lm_dataset(cfg)
    return _load(data_spec(cfg))


@lru_cache(maxsize=64)
def _load(cfg: DataSpec) -> Dataset:
    from sklearn.model_selection import train_test_split

    X, y = LOADERS[cfg.dataset](cfg)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.25, random_state=cfg.seed, stratify=y
    )
    mean, std = X_tr.mean(0), X_tr.std(0)
    std[std == 0] = 1.0  # constant pixels (digits' borders) stay 0 instead of nan
    X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std
    if cfg.task == "cnn":
        X_tr = X_tr.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        X_te = X_te.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
    dtype = np.float32 if cfg.task == "cnn" else np.float64  # convex tasks run in float64
    return Dataset(
        X_tr.astype(dtype),
        y_tr,
        X_te.astype(dtype),
        y_te,
        n_classes=int(y.max()) + 1,
        name=cfg.dataset,
    )
