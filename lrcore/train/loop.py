"""The training loop: many runs (schedules x seeds x peak lrs) as one batched computation.

``train(config)`` is ``run_many([config])[0]``: a single run goes through the same code.
Per step it records the lr, the minibatch loss and the gradient l2 and l1 norms (of the
loss gradient, before weight decay, clipping or the optimizer step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lrcore.train.config import RunConfig
from lrcore.train.data import load_dataset
from lrcore.train.models import MODELS
from lrcore.train.optim import BatchedOptimizer
from lrcore.train.result import RunResult


@dataclass(frozen=True)
class Progress:
    """What ``on_step`` receives; return ``False`` from it to cancel."""

    step: int  # steps done in the current group of batched runs
    total_steps: int  # steps of that group
    runs_done: int  # runs finished in earlier groups
    total_runs: int
    loss: float  # mean minibatch loss over the group's live runs at this step
    device: str

    @property
    def fraction(self) -> float:
        group_runs = max(self.total_runs - self.runs_done, 1)
        return min(
            1.0, (self.runs_done + group_runs * self.step / self.total_steps) / self.total_runs
        )


OnStep = Callable[[Progress], bool | None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("RunConfig: device 'cuda' was asked for but CUDA is not available")
    return torch.device(name)


def train(config: RunConfig, on_step: OnStep | None = None) -> RunResult:
    """Run one configuration; see :func:`run_many`."""
    return run_many([config], on_step=on_step)[0]


def run_many(configs: list[RunConfig], on_step: OnStep | None = None) -> list[RunResult]:
    """Run every config; configs that differ only in schedule, peak lr or seed run together
    as one batched computation. Results come back in the order of ``configs``.

    A run whose loss becomes nan or inf is stopped and reported as diverged at that step.
    ``on_step`` is called about 200 times per group; returning ``False`` cancels everything
    (finished groups keep their results, the current one returns what it has).
    """
    if not configs:
        return []
    groups: dict[tuple, list[int]] = {}
    for i, cfg in enumerate(configs):
        groups.setdefault(cfg.batch_key(), []).append(i)
    results: list[RunResult | None] = [None] * len(configs)
    done, cancelled = 0, False
    for idx in groups.values():
        group = [configs[i] for i in idx]
        for i, res in zip(
            idx, _run_group(group, on_step, done, len(configs), cancelled), strict=True
        ):
            results[i] = res
        done += len(idx)
        cancelled = cancelled or any(r.cancelled for r in results if r is not None)
    return results  # type: ignore[return-value]


def _stack(arrays: list[np.ndarray], device) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).to(device)


def _run_group(
    group: list[RunConfig],
    on_step: OnStep | None,
    runs_done: int,
    total_runs: int,
    already_cancelled: bool,
) -> list[RunResult]:
    cfg0 = group[0]
    device = resolve_device(cfg0.device)
    start = time.perf_counter()
    R, T, B = len(group), cfg0.steps, cfg0.batch_size
    data = [load_dataset(c) for c in group]
    Xtr = _stack([d.X_train for d in data], device)
    ytr = _stack([d.y_train for d in data], device)
    Xte = _stack([d.X_test for d in data], device)
    yte = _stack([d.y_test for d in data], device)
    n_train, n_classes = Xtr.shape[1], max(d.n_classes for d in data)
    model = MODELS[cfg0.task](R, data[0].n_features, n_classes, [c.seed for c in group], device)
    opt = BatchedOptimizer(
        cfg0.optimizer, model.params, momentum=cfg0.momentum, weight_decay=cfg0.weight_decay
    )
    lr_table = np.stack([c.lrs() for c in group])  # float64, kept for the results
    lrs = torch.from_numpy(lr_table.astype(np.float32)).to(device)
    # i.i.d. minibatches from each run's seed (runs with one seed see the same batches),
    # as rows of the flattened (R * n) training set so one index_select gathers every batch
    batches = torch.from_numpy(
        np.stack(
            [
                np.random.default_rng([c.seed, 3]).integers(0, n_train, (T, B)) + r * n_train
                for r, c in enumerate(group)
            ]
        )
        .transpose(1, 0, 2)
        .reshape(T, R * B)
    ).to(device)
    X_flat, y_flat = Xtr.reshape(R * n_train, *Xtr.shape[2:]), ytr.reshape(-1)

    rec = torch.full((T, 3, R), float("nan"), device=device)  # loss, l2, l1 per step and run
    alive = torch.ones(R, dtype=torch.bool, device=device)
    all_alive = True
    evals: list[tuple[int, torch.Tensor]] = []
    check_every = 1 if device.type == "cpu" else 25  # each check syncs with the GPU
    report_every = max(1, T // 200)
    evals.append((0, _evaluate(model, Xtr, ytr, Xte, yte)))
    steps_done, cancelled = 0, already_cancelled
    for t in range(0 if already_cancelled else T):
        idx = batches[t]
        loss, grads = model.loss_and_grads(
            X_flat.index_select(0, idx).view(R, B, *Xtr.shape[2:]),
            y_flat.index_select(0, idx).view(R, B),
        )
        flat = torch.cat([g.reshape(R, -1) for g in grads], 1)
        torch.stack(
            [
                loss,
                torch.linalg.vector_norm(flat, 2, dim=1),
                torch.linalg.vector_norm(flat, 1, dim=1),
            ],
            out=rec[t],
        )
        if (t % check_every == 0 or t == T - 1) and not bool(torch.isfinite(loss).all()):
            alive &= torch.isfinite(loss)
            all_alive = False
            if not alive.any():
                steps_done = t + 1
                break
        lr_t = lrs[:, t]
        if not all_alive:  # frozen runs: no update, and nan gradients stay out of the others
            grads = [torch.where(alive.view(-1, *([1] * (g.dim() - 1))), g, 0.0) for g in grads]
            lr_t = lr_t * alive
        opt.step(grads, lr_t)
        steps_done = t + 1
        if steps_done % cfg0.eval_every == 0 or steps_done == T:
            evals.append((steps_done, _evaluate(model, Xtr, ytr, Xte, yte)))
        if on_step is not None and (steps_done % report_every == 0 or steps_done == T):
            live = rec[t, 0][alive]
            mean_loss = float(live.mean()) if len(live) else float("nan")
            if (
                on_step(Progress(steps_done, T, runs_done, total_runs, mean_loss, device.type))
                is False
            ):
                cancelled = True
                break
    if steps_done and (not evals or evals[-1][0] != steps_done):
        evals.append((steps_done, _evaluate(model, Xtr, ytr, Xte, yte)))
    wall = time.perf_counter() - start
    return _results(
        group,
        lr_table,
        rec.permute(1, 2, 0).cpu().numpy(),
        evals,
        steps_done,
        cancelled,
        wall,
        device,
    )


@torch.no_grad()
def _evaluate(model, Xtr, ytr, Xte, yte) -> torch.Tensor:
    """(3, R): full train loss, test loss, test accuracy."""
    out = []
    for X, y in ((Xtr, ytr), (Xte, yte)):
        logits = model.logits(X)
        R, N, k = logits.shape
        loss = (
            torch.nn.functional.cross_entropy(
                logits.reshape(R * N, k), y.reshape(-1), reduction="none"
            )
            .view(R, N)
            .mean(1)
        )
        out.append(loss)
        if X is Xte:
            out.append((logits.argmax(-1) == y).float().mean(1))
    return torch.stack(out)


def _results(group, lr_table, rec, evals, steps_done, cancelled, wall, device) -> list[RunResult]:
    eval_steps = np.array([s for s, _ in evals])
    eval_vals = (
        np.stack([v.cpu().numpy() for _, v in evals]) if evals else np.zeros((0, 3, len(group)))
    )
    out = []
    for r, cfg in enumerate(group):
        loss = rec[0, r, :steps_done]
        bad = np.flatnonzero(~np.isfinite(loss))
        diverged_at = int(bad[0]) if len(bad) else None
        # a full-data loss that overflows also means the run diverged (after that many steps)
        bad_eval = np.flatnonzero(~np.isfinite(eval_vals[:, :2, r]).all(1))
        if len(bad_eval) and (diverged_at is None or eval_steps[bad_eval[0]] < diverged_at):
            diverged_at = int(min(eval_steps[bad_eval[0]], max(steps_done - 1, 0)))
        last = steps_done if diverged_at is None else diverged_at + 1
        frame = pd.DataFrame(
            {
                "step": eval_steps,
                "train_loss": eval_vals[:, 0, r],
                "test_loss": eval_vals[:, 1, r],
                "test_accuracy": eval_vals[:, 2, r],
            }
        )
        if diverged_at is not None:
            frame = frame[frame.step <= diverged_at].reset_index(drop=True)
        final = {k: float("nan") for k in ("train_loss", "test_loss", "test_accuracy")}
        if diverged_at is None and len(frame):
            final = {k: float(frame[k].iloc[-1]) for k in final}
        out.append(
            RunResult(
                config=cfg,
                lr=lr_table[r, :last].copy(),
                loss=loss[:last].astype(np.float64),
                grad_norm_l2=rec[1, r, :last].astype(np.float64),
                grad_norm_l1=rec[2, r, :last].astype(np.float64),
                evals=frame,
                final=final,
                wall_time=wall,
                runs_in_batch=len(group),
                device=str(device),
                diverged_at=diverged_at,
                cancelled=cancelled,
            )
        )
    return out
