"""The training loop: many runs (schedules x seeds x peak lrs) as one batched computation.

``train(config)`` is ``run_many([config])[0]``: a single run goes through the same code.
Per step it records the lr, the minibatch objective and the l2 and l1 norms of the
stochastic gradient the step uses: the loss gradient, plus the L2 term when weight decay is
an L2 term (sgd, adam; not adamw's decoupled decay), plus the controlled noise (if any).
The convex tasks (logreg, svm) run in float64 (on the CPU unless device="cuda"), so their
numbers agree across x86 machines to ~1e-10; the CNN and lm run in float32 (unless
``precision="float64"``). For lm the objective is the held-out cross-entropy and
``suboptimality`` the excess over the true Markov model on the same held-out tokens, with
its standard error over held-out sequences in ``final["suboptimality_se"]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from lrcore.train.config import EVAL_CHUNK as _EVAL_CHUNK
from lrcore.train.config import RunConfig
from lrcore.train.data import load_dataset
from lrcore.train.models import build_model
from lrcore.train.noise import noise_profile
from lrcore.train.objective import f_star
from lrcore.train.optim import BatchedOptimizer
from lrcore.train.result import RunResult, runaway_from

# held-out scoring in pieces of config.EVAL_CHUNK examples, by model (the sum order of each
# mean is unchanged: the values per example are computed as in one piece)
EVAL_CHUNK = {"SmallCNN": _EVAL_CHUNK["cnn"], "TinyLM": _EVAL_CHUNK["lm"]}
NOISE_CHUNK = 256  # noise is drawn this many steps at a time (the stream does not depend on it)


@dataclass(frozen=True)
class Progress:
    """What ``on_step`` receives; return ``False`` from it to cancel."""

    step: int  # steps done in the current group of batched runs
    total_steps: int  # steps of that group
    runs_done: int  # runs finished in earlier groups
    total_runs: int
    loss: float  # mean minibatch loss over the group's live runs at this step
    device: str
    # mean minibatch loss of the live runs of each schedule in the group (by schedule name;
    # "custom" for schedules given as arrays): what a live chart draws, one line per schedule
    losses: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        group_runs = max(self.total_runs - self.runs_done, 1)
        return min(
            1.0, (self.runs_done + group_runs * self.step / self.total_steps) / self.total_runs
        )


OnStep = Callable[[Progress], bool | None]


def resolve_device(name: str, convex: bool = False) -> torch.device:
    """The device for ``name``; "auto" is CUDA when available, except for the convex tasks
    (small and float64: the CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() and not convex else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("RunConfig: device 'cuda' was asked for but CUDA is not available")
    return torch.device(name)


def train(config: RunConfig, on_step: OnStep | None = None) -> RunResult:
    """Run one configuration; see :func:`run_many`."""
    return run_many([config], on_step=on_step)[0]


def run_many(configs: list[RunConfig], on_step: OnStep | None = None) -> list[RunResult]:
    """Run every config; configs that differ only in schedule, peak lr or seed run together
    as one batched computation. Results come back in the order of ``configs``.

    A run whose loss becomes nan or inf is stopped and reported as diverged at that step; one
    whose objective ends more than ``result.DIVERGE_FACTOR`` times its start is reported as
    diverged where it last rose past that.
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
        with _cpu_threads(1):
            out = _run_group(group, on_step, done, len(configs), cancelled)
        for i, res in zip(idx, out, strict=True):
            results[i] = res
        done += len(idx)
        cancelled = cancelled or any(r.cancelled for r in results if r is not None)
    return results  # type: ignore[return-value]


@contextmanager
def _cpu_threads(n: int):
    """One CPU thread: the ops of these small models are tiny, so more threads mostly wait
    (7-28x slower on a busy 2-core machine), and one thread fixes the order of every sum."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stack(arrays: list[np.ndarray], device, dtype=None) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).to(device=device, dtype=dtype)


def _run_group(
    group: list[RunConfig],
    on_step: OnStep | None,
    runs_done: int,
    total_runs: int,
    already_cancelled: bool,
) -> list[RunResult]:
    cfg0 = group[0]
    device = resolve_device(cfg0.device, cfg0.convex)
    dtype = torch.float64 if cfg0.float64 else torch.float32
    start = time.perf_counter()
    R, T, B = len(group), cfg0.steps, cfg0.batch_size
    data = [load_dataset(c) for c in group]
    x_dtype = None if cfg0.is_lm else dtype  # lm inputs stay uint8 tokens
    Xtr = _stack([d.X_train for d in data], device, x_dtype)
    ytr = _stack([d.y_train for d in data], device)
    Xte = _stack([d.X_test for d in data], device, x_dtype)
    yte = _stack([d.y_test for d in data], device)
    n_train, n_classes = Xtr.shape[1], max(d.n_classes for d in data)
    # what "train loss" and the objective are evaluated on: the full training set, except for
    # lm, whose training stream is read once: its objective is the held-out loss (an unbiased
    # estimate of the expected loss it minimises), its train loss the stream's first sequences
    Xev, yev, ref = Xtr, ytr, None
    if cfg0.is_lm:
        Xev = _stack([d.X_train_eval for d in data], device)
        yev = _stack([d.y_train_eval for d in data], device)
        ref = _stack([d.reference_test_loss for d in data], device, dtype)
    model = build_model(
        cfg0, R, data[0].n_features, n_classes, [c.seed for c in group], device, dtype
    )
    l2 = cfg0.weight_decay if cfg0.l2_in_objective else 0.0  # part of the gradient we record
    opt = BatchedOptimizer(
        cfg0.optimizer,
        model.params,
        momentum=cfg0.momentum,
        weight_decay=0.0 if l2 else cfg0.weight_decay,
        # adamc: the normalized weights (lrcore.train.adamc's rule; the lm's hidden matrices)
        corrected=getattr(model, "normalized", None),
        max_lr=torch.tensor([c.peak_lr for c in group], device=device, dtype=dtype),
    )
    noise = _Noise(group, model.params, device) if cfg0.noise != "none" else None
    lr_table = np.stack([c.lrs() for c in group])  # float64, kept for the results
    lrs = torch.from_numpy(lr_table).to(device=device, dtype=dtype)
    # i.i.d. minibatches from each run's seed (runs with one seed see the same batches),
    # as rows of the flattened (R * n) training set so one index_select gathers every batch;
    # lm reads its stream in order, each sequence once
    batches = torch.from_numpy(
        np.stack(
            [
                (
                    np.arange(T * B).reshape(T, B)
                    if cfg0.is_lm
                    else np.random.default_rng([c.seed, 3]).integers(0, n_train, (T, B))
                )
                + r * n_train
                for r, c in enumerate(group)
            ]
        )
        .transpose(1, 0, 2)
        .reshape(T, R * B)
    ).to(device)
    X_flat, y_flat = Xtr.reshape(R * n_train, *Xtr.shape[2:]), ytr.reshape(R * n_train, -1)

    rec = torch.full((T, 3, R), float("nan"), device=device, dtype=dtype)  # loss, l2, l1
    alive = torch.ones(R, dtype=torch.bool, device=device)
    all_alive = True
    evals: list[tuple[int, torch.Tensor]] = []
    check_every = 1 if device.type == "cpu" else 25  # each check syncs with the GPU
    report_every = max(1, T // 200)
    by_name: dict[str, list[int]] = {}
    for i, c in enumerate(group):
        by_name.setdefault(c.schedule_name, []).append(i)
    by_name_idx = {k: torch.tensor(v, device=rec.device) for k, v in by_name.items()}
    evals.append((0, _evaluate(model, Xev, yev, Xte, yte, l2, ref)))
    steps_done, cancelled = 0, already_cancelled
    for t in range(0 if already_cancelled else T):
        idx = batches[t]
        loss, grads = model.loss_and_grads(
            X_flat.index_select(0, idx).view(R, B, *Xtr.shape[2:]),
            y_flat.index_select(0, idx).view(R, B, *ytr.shape[2:]),
        )
        if l2:
            loss = loss + 0.5 * l2 * _sq_norm(model.params)
            grads = [g.add(p.detach(), alpha=l2) for g, p in zip(grads, model.params, strict=True)]
        flat = torch.cat([g.reshape(R, -1) for g in grads], 1)
        if noise is not None:
            flat = flat + noise(t)
            grads = [v.view_as(g) for v, g in zip(noise.split(flat), grads, strict=True)]
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
            evals.append((steps_done, _evaluate(model, Xev, yev, Xte, yte, l2, ref)))
        if on_step is not None and (steps_done % report_every == 0 or steps_done == T):
            live = rec[t, 0][alive]
            mean_loss = float(live.mean()) if len(live) else float("nan")
            losses = {}
            for k, idx in by_name_idx.items():
                own = rec[t, 0][idx][alive[idx]]
                losses[k] = float(own.mean()) if len(own) else float("nan")
            report = Progress(steps_done, T, runs_done, total_runs, mean_loss, device.type, losses)
            if on_step(report) is False:
                cancelled = True
                break
    if steps_done and (not evals or evals[-1][0] != steps_done):
        evals.append((steps_done, _evaluate(model, Xev, yev, Xte, yte, l2, ref)))
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


class _Noise:
    """Gaussian noise for each run's stochastic gradient: std ``noise_scale * profile[t] /
    sqrt(P)`` per coordinate, from a generator seeded by the run's seed only (runs with the
    same seed, whatever their schedule or peak lr, get the same noise)."""

    def __init__(self, group: list[RunConfig], params: list[torch.Tensor], device):
        cfg0 = group[0]
        self.sizes = [p[0].numel() for p in params]
        P = sum(self.sizes)
        self.scale = cfg0.noise_scale * noise_profile(cfg0.noise, cfg0.steps) / np.sqrt(P)
        seeds = sorted({c.seed for c in group})
        self.rngs = [np.random.default_rng([s, 5]) for s in seeds]
        self.which = torch.tensor([seeds.index(c.seed) for c in group], device=device)
        self.P, self.device, self.dtype, self.chunk = P, device, params[0].dtype, None

    def __call__(self, t: int) -> torch.Tensor:
        """(R, P) noise for step ``t`` (steps come in order)."""
        if t % NOISE_CHUNK == 0:
            draws = np.stack([g.standard_normal((NOISE_CHUNK, self.P)) for g in self.rngs])
            self.chunk = torch.from_numpy(draws).to(device=self.device, dtype=self.dtype)
        return self.chunk[:, t % NOISE_CHUNK].index_select(0, self.which) * float(self.scale[t])

    def split(self, flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return flat.split(self.sizes, dim=1)


def _sq_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """(R,) squared l2 norm of each run's parameters."""
    return sum(p.detach().reshape(len(p), -1).pow(2).sum(1) for p in params)


@torch.no_grad()
def _evaluate(model, Xtr, ytr, Xte, yte, l2: float = 0.0, ref=None) -> torch.Tensor:
    """(5, R): full train loss, test loss, test accuracy, objective (train loss + L2 term),
    and nan. With ``ref`` (R, N): the true model's loss of each test example (lm), the
    objective is the test loss and the last row the standard error over test examples of
    (test loss - ref), the noise of the suboptimality estimate."""
    out = []
    chunk = EVAL_CHUNK.get(type(model).__name__) or max(Xtr.shape[1], Xte.shape[1])
    for X, y in ((Xtr, ytr), (Xte, yte)):
        per_example, correct = [], []
        for i in range(0, X.shape[1], chunk):  # the same values per example as in one piece
            logits = model.logits(X[:, i : i + chunk])
            per_example.append(model.example_losses(logits, y[:, i : i + chunk]))
            if X is Xte:
                correct.append((logits.argmax(-1) == y[:, i : i + chunk]).flatten(1))
        per_example = torch.cat(per_example, 1)
        out.append(per_example.mean(1))
        if X is Xte:
            out.append(torch.cat(correct, 1).to(per_example.dtype).mean(1))
    if ref is None:
        out.append(out[0] + 0.5 * l2 * _sq_norm(model.params) if l2 else out[0].clone())
        out.append(torch.full_like(out[0], float("nan")))
    else:
        out.append(out[1].clone())
        diff = per_example - ref
        out.append(diff.std(1) / np.sqrt(diff.shape[1]))
    return torch.stack(out)


def _results(group, lr_table, rec, evals, steps_done, cancelled, wall, device) -> list[RunResult]:
    eval_steps = np.array([s for s, _ in evals])
    eval_vals = (
        np.stack([v.cpu().numpy() for _, v in evals]) if evals else np.zeros((0, 5, len(group)))
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
        # a finite objective that ends orders of magnitude above its start diverged too (float64
        # logreg at peak lr 1e300 ends at 2e298 with no overflow): see result.DIVERGE_FACTOR
        # ... and so does a held-out loss that does (logreg on separable digits at peak lr
        # 1e300: the training objective falls to 0 while the test loss reaches 8e298)
        away = None
        if diverged_at is None and steps_done:
            found = [runaway_from(eval_vals[:, i, r]) for i in (3, 1)]
            away = min((a for a in found if a is not None), default=None)
        if away is not None:
            diverged_at = int(min(eval_steps[away], max(steps_done - 1, 0)))
        last = steps_done if diverged_at is None else diverged_at + 1
        frame = pd.DataFrame(
            {
                "step": eval_steps,
                "train_loss": eval_vals[:, 0, r],
                "test_loss": eval_vals[:, 1, r],
                "test_accuracy": eval_vals[:, 2, r],
                "objective": eval_vals[:, 3, r],
            }
        )
        if diverged_at is not None:
            frame = frame[frame.step <= diverged_at].reset_index(drop=True)
        final = {k: float("nan") for k in ("train_loss", "test_loss", "test_accuracy", "objective")}
        if diverged_at is None and len(frame):
            final = {k: float(frame[k].iloc[-1]) for k in final}
        final["f_star"] = f_star(cfg)
        final["suboptimality"] = final["objective"] - final["f_star"]
        if cfg.is_lm:  # noise of that estimate: s.e. over held-out sequences (nan if diverged)
            se = float(eval_vals[-1, 4, r]) if len(eval_vals) else float("nan")
            final["suboptimality_se"] = se if np.isfinite(final["suboptimality"]) else float("nan")
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
