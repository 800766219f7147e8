"""Cost of recording gradient norms, each against the same loop without the recording.

(a) GradNormRecorder.record() in a plain autograd loop (MLP 784-512-512-10, batch 256,
    SGD) vs the same loop without it.
(b) lrcore.integrations.hf.GradNormCallback in a Hugging Face Trainer vs the same
    Trainer without it (same model, data, batch, steps).
(c) lrcore.integrations.lightning.GradNormCallback in a Lightning Trainer vs the same
    Trainer without it.
Target: overhead <= 5 % each. Timings interleave with and without, best of --repeat.

    python benchmarks/bench_overhead.py [--steps 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from lrcore.train.recorder import GradNormRecorder  # noqa: E402

BATCH, D_IN, K = 256, 784, 10


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(D_IN, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
            torch.nn.ReLU(), torch.nn.Linear(512, K),
        )  # fmt: skip

    def forward(self, x, labels=None):
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


def data(steps: int):
    g = torch.Generator().manual_seed(0)
    return torch.randn(steps * BATCH, D_IN, generator=g), torch.randint(
        0, K, (steps * BATCH,), generator=g
    )


def plain(steps: int, record: bool) -> float:
    X, y = data(steps)
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    rec = GradNormRecorder(model) if record else None
    start = time.perf_counter()
    for t in range(steps):
        opt.zero_grad()
        model(X[t * BATCH : (t + 1) * BATCH], y[t * BATCH : (t + 1) * BATCH])["loss"].backward()
        if rec is not None:
            rec.record(t)
        opt.step()
    if rec is not None:
        _ = rec.l2  # read back, as a user would
    return time.perf_counter() - start


def hf(steps: int, record: bool) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lrcore.integrations.hf import GradNormCallback

    class Clock(TrainerCallback):  # time the training loop only, not the Trainer's setup
        def on_train_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.start

    X, y = data(steps)
    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            out, per_device_train_batch_size=BATCH, max_steps=steps, learning_rate=0.01,
            report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True,
            logging_steps=10**9, train_sampling_strategy="sequential", optim="sgd",
            max_grad_norm=0.0,
        )  # fmt: skip
        ds = [{"x": X[i], "labels": y[i]} for i in range(len(X))]
        cbs = [clock] + ([GradNormCallback()] if record else [])
        Trainer(model=MLP(), args=args, train_dataset=ds, callbacks=cbs).train()
    return clock.seconds


def lightning(steps: int, record: bool) -> float:
    import lightning.pytorch as pl

    from lrcore.integrations.lightning import GradNormCallback

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = MLP()

        def training_step(self, batch, i):
            return self.model(*batch)["loss"]

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class Clock(pl.Callback):
        def on_train_start(self, *a):
            self.start = time.perf_counter()

        def on_train_end(self, *a):
            self.seconds = time.perf_counter() - self.start

    X, y = data(steps)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=BATCH)
    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        trainer = pl.Trainer(
            default_root_dir=out, max_steps=steps, accelerator="cpu", devices=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[clock] + ([GradNormCallback(dirpath=out)] if record else []),
        )  # fmt: skip
        trainer.fit(Module(), loader)
    return clock.seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, {args.steps} steps"
    )
    for name, fn, baseline in [
        ("GradNormRecorder", plain, "the same autograd loop without it"),
        ("HF GradNormCallback", hf, "the same HF Trainer without it"),
        ("Lightning GradNormCallback", lightning, "the same Lightning Trainer without it"),
    ]:
        fn(min(args.steps, 20), True)  # warm-up: imports, allocator
        base, rec = [], []
        for _ in range(args.repeat):
            base.append(fn(args.steps, False))
            rec.append(fn(args.steps, True))
        b, r = min(base), min(rec)
        print(
            f"{name}: {r / args.steps * 1e3:.2f} ms/step vs {b / args.steps * 1e3:.2f} ms/step for "
            f"{baseline}: ratio {r / b:.3f} (overhead {100 * (r / b - 1):+.1f} %, target <= +5 %)"
        )


if __name__ == "__main__":
    main()
