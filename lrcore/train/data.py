"""Datasets that ship inside scikit-learn or are generated from a seed: nothing is downloaded.

Features are standardised with the training split's statistics; the train/test split is
fixed per seed (stratified, 25 % test).
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
    X_train: np.ndarray  # float64 (n, d) for the convex tasks, float32 (n, 1, h, w) for the CNN
    y_train: np.ndarray  # int64 class labels
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))


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
