"""What a run produced, and how it is saved (CSV + JSON that ``load_log`` reads back)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lrcore.train.config import RunConfig


@dataclass(frozen=True)
class RunResult:
    config: RunConfig
    lr: np.ndarray  # lr used at each step
    loss: np.ndarray  # minibatch objective at each step (data loss + L2 term, before the update)
    grad_norm_l2: np.ndarray  # l2 norm of the gradient the step uses (loss + L2 term + noise)
    grad_norm_l1: np.ndarray  # l1 norm of the same gradient (what Adam-style refinement uses)
    evals: pd.DataFrame = field(repr=False)  # step, train_loss, test_loss, test_accuracy, objective
    # the last evaluation: train_loss, test_loss, test_accuracy, objective (full training set,
    # data loss + L2 term), f_star and suboptimality = objective - f_star (nan: not convex,
    # no certified minimum, or diverged)
    final: dict = field(default_factory=dict)
    wall_time: float = 0.0  # seconds for the whole batch of runs this one trained in
    runs_in_batch: int = 1  # how many runs shared that batched computation
    device: str = "cpu"
    diverged_at: int | None = None  # step whose loss was nan/inf, if any
    cancelled: bool = False  # stopped early by on_step

    @property
    def steps(self) -> np.ndarray:
        return np.arange(len(self.loss))

    @property
    def ok(self) -> bool:
        return self.diverged_at is None and not self.cancelled

    def grad_norms(self, norm_type: str | None = None) -> np.ndarray:
        """The norms refinement should use: l2 for SGD, l1 for Adam (by default)."""
        kind = norm_type or self.config.norm_type
        return self.grad_norm_l1 if kind == "l1" else self.grad_norm_l2

    def status(self) -> str:
        if self.diverged_at is not None:
            return f"diverged at step {self.diverged_at}"
        return "cancelled" if self.cancelled else "finished"

    def save(self, folder: str | Path) -> Path:
        """``grad_norms.csv`` (lrcore's plain log: step, grad_norm_l2, grad_norm_l1, loss,
        optimizer on every row, so ``pd.read_csv``, ``load_log`` and ``lrcore refine`` all
        keep it and pick the run's rule; then the step's lr), ``evals.csv`` and
        ``result.json``; ``load_log(folder)`` reads the norms back. Each file is written
        through a temporary file and renamed (a failed write leaves the old one whole)."""
        from lrcore._output import write_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        label = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "adamc": "AdamC"}
        norms = pd.DataFrame(
            {
                "step": self.steps,
                "grad_norm_l2": self.grad_norm_l2,
                "grad_norm_l1": self.grad_norm_l1,
                "loss": self.loss,
                "optimizer": label.get(self.config.optimizer, self.config.optimizer),
                "lr": self.lr,
            }
        ).to_csv(index=False, float_format="%.9g")
        write_atomic(folder / "grad_norms.csv", norms.encode())
        evals = self.evals.to_csv(index=False, float_format="%.9g")
        write_atomic(folder / "evals.csv", evals.encode())
        meta = {
            "config": self.config.to_dict(),
            "final": self.final,
            "status": self.status(),
            "diverged_at": self.diverged_at,
            "wall_time_s": self.wall_time,
            "runs_in_batch": self.runs_in_batch,
            "device": self.device,
        }
        write_atomic(folder / "result.json", json.dumps(meta, indent=2, default=float).encode())
        return folder
