"""Training speed against named baselines, in one run.

(a) steps/s of ``lrcore.train.train`` on logistic regression (digits, SGD, batch 32), which
    records lr, loss and gradient l2 and l1 norms every step, vs a plain hand-written torch
    loop (nn.Linear + torch.optim.SGD + autograd, lr set per step, nothing recorded) on the
    same data and batches. Target: overhead <= 5 %.
(b) wall time of 16 logistic-regression runs (4 schedules x 4 seeds) batched by
    ``run_many`` vs the same 16 runs one after another with ``train``. Target: >= 5x.
(c) the same for 4 small-CNN runs (vmap-batched vs sequential), to decide the CNN default.

Runs on CUDA too when it is present (the device is printed).

    python benchmarks/bench_train.py [--steps 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lrcore.train import RunConfig, run_many, train
from lrcore.train.data import load_dataset
from lrcore.train.loop import resolve_device


def plain_loop(cfg: RunConfig) -> float:
    device = resolve_device(cfg.device)
    data = load_dataset(cfg)
    X = torch.from_numpy(data.X_train).to(device)
    y = torch.from_numpy(data.y_train).to(device)
    batches = torch.from_numpy(
        np.random.default_rng([cfg.seed, 3]).integers(0, len(X), (cfg.steps, cfg.batch_size))
    ).to(device)
    # same dtype (float64 for the convex tasks) and one CPU thread, as lrcore's loop uses
    model = torch.nn.Linear(X.shape[1], data.n_classes).to(device=device, dtype=X.dtype)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.peak_lr)
    lrs = cfg.lrs()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    for t in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lrs[t]
        idx = batches[t]
        loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    torch.set_num_threads(threads)
    return elapsed


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        name = (
            torch.cuda.get_device_name()
            if dev == "cuda"
            else "cpu (1 thread for every run: lrcore's loop sets it)"
        )
        print(f"== device: {name}, torch {torch.__version__}")
        cfg = RunConfig(steps=args.steps, peak_lr=0.5, device=dev, eval_every=args.steps)
        train(cfg.with_(steps=50, eval_every=50))  # warm-up: imports, dataset cache
        plain_loop(cfg.with_(steps=50))
        t_lr = min(train(cfg).wall_time for _ in range(args.repeat))
        t_plain = min(plain_loop(cfg) for _ in range(args.repeat))
        print(
            f"(a) train() with recording: {args.steps / t_lr:8.0f} steps/s | plain torch loop: "
            f"{args.steps / t_plain:8.0f} steps/s | overhead {100 * (t_lr / t_plain - 1):+.1f}%"
        )
        runs = [
            cfg.with_(schedule=s, seed=seed)
            for s in ("linear", "cosine", "constant", "wsd")
            for seed in range(4)
        ]
        t_batched = min(timed(lambda runs=runs: run_many(runs)) for _ in range(args.repeat))
        t_seq = timed(lambda runs=runs: [train(c) for c in runs])
        print(
            f"(b) 16 logreg runs: batched {t_batched:.2f} s | sequential {t_seq:.2f} s | "
            f"speed-up {t_seq / t_batched:.1f}x"
        )
        cnn = RunConfig(
            task="cnn",
            optimizer="adam",
            peak_lr=3e-3,
            steps=max(args.steps // 4, 50),
            device=dev,
            eval_every=args.steps,
        )
        cnns = [cnn.with_(seed=s) for s in range(4)]
        t_b = timed(lambda cnns=cnns: run_many(cnns))
        t_s = timed(lambda cnns=cnns: [train(c) for c in cnns])
        print(
            f"(c) 4 CNN runs x {cnn.steps} steps: vmap-batched {t_b:.2f} s | sequential {t_s:.2f} s | "
            f"speed-up {t_s / t_b:.1f}x"
        )


if __name__ == "__main__":
    main()
