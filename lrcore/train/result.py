"""What a run produced, and how it is saved (CSV + JSON that ``load_log`` reads back)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lrcore.train.config import RunConfig

# The two flags every task shares, decided here and nowhere else (the loop, the CLI, the
# compare tables and the app read them from RunResult):
# - diverged: the objective left the float range (nan or inf), or its last evaluation is more
#   than DIVERGE_FACTOR times its first. Logistic regression and the hinge are float64 and
#   their loss grows only linearly in the weights, so at peak lr 1e300 they end at 2e298
#   without ever overflowing; a thousandfold rise above the objective at initialisation (log K
#   for softmax models, 1 for the hinge, about log(vocab) for the lm) is no noisy run. Every
#   best row of the study (docs/results.csv) ends below its start (largest: 2.69 nats/token
#   on the lm, from 2.77), and a run at a peak lr that is not its schedule's best cannot move a
#   study outcome (it is never picked, tied or scored), so the study's numbers do not change.
# - did not learn: it finished no more than LEARN_RTOL (relative) below its starting
#   objective (peak lr 1e-300 ends exactly where it started). The study's least-improved
#   best row (the order-2 lm's cosine, 13 % of its gap closed) ended 3 % below its start,
#   30 times this tolerance; the app's "stuck at the starting objective" uses the same 0.1 %.
DIVERGE_FACTOR = 1e3
LEARN_RTOL = 1e-3


def runaway_from(objective: np.ndarray) -> int | None:
    """Index of the first evaluation of the final stretch of ``objective`` (one value per
    evaluation, the first at initialisation) above ``DIVERGE_FACTOR`` times its start, or None
    when the last evaluation is not that far up (a spike the run recovers from is no
    divergence) or the start is not a finite positive number.

    >>> runaway_from(np.array([2.3, 1.0, 5e3, 0.9])), runaway_from(np.array([2.3, 1e4, 2e298]))
    (None, 1)
    """
    objective = np.asarray(objective, dtype=np.float64)
    if len(objective) < 2 or not (np.isfinite(objective[0]) and objective[0] > 0):
        return None
    high = ~(objective <= DIVERGE_FACTOR * objective[0])  # nan counts as high
    if not high[-1]:
        return None
    low = np.flatnonzero(~high)
    return int(low[-1] + 1) if len(low) else 0


def learned(start: float, final: float) -> bool:
    """``final`` is more than ``LEARN_RTOL`` (relative) below ``start``.

    >>> learned(2.302585, 2.302585), learned(2.302585, 2.29), learned(1.0, 1.5)
    (False, True, False)
    """
    return bool(
        np.isfinite(start) and np.isfinite(final) and final < start - LEARN_RTOL * abs(start)
    )


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
    # the step the run diverged at, if it did: its minibatch loss or full-data objective was
    # nan/inf there, or the objective stayed above DIVERGE_FACTOR x its start from there on
    diverged_at: int | None = None
    cancelled: bool = False  # stopped early by on_step

    @property
    def steps(self) -> np.ndarray:
        return np.arange(len(self.loss))

    @property
    def ok(self) -> bool:
        return self.diverged_at is None and not self.cancelled

    @property
    def learned(self) -> bool:
        """Finished (not diverged, not cancelled) more than ``LEARN_RTOL`` below its starting
        objective; False is the "did not learn" flag."""
        if not self.ok or self.evals.empty:
            return False
        return learned(float(self.evals["objective"].iloc[0]), self.final.get("objective", np.nan))

    def grad_norms(self, norm_type: str | None = None) -> np.ndarray:
        """The norms refinement should use: l2 for SGD, l1 for Adam (by default)."""
        kind = norm_type or self.config.norm_type
        return self.grad_norm_l1 if kind == "l1" else self.grad_norm_l2

    def status(self) -> str:
        if self.diverged_at is not None:
            return f"diverged at step {self.diverged_at}"
        if self.cancelled:
            return "cancelled"
        return "finished" if self.learned else "finished, did not learn"

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
            "learned": self.learned,
            "wall_time_s": self.wall_time,
            "runs_in_batch": self.runs_in_batch,
            "device": self.device,
        }
        write_atomic(folder / "result.json", json.dumps(meta, indent=2, default=float).encode())
        return folder
