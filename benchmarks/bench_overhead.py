"""Cost of recording gradient norms, each against the same loop without the recording.

(a) GradNormRecorder.record(step, loss=loss) in a plain autograd loop (MLP
    784-2048-1024-512-10: 4.2M parameters in 8 tensors, batch 256, SGD) vs the same loop
    without it; the rows are flushed to grad_norms.csv every 10 steps, as a log would.
(a2) the same with per-group norms (groups: the three hidden layers vs the head).
(b) lrcore.integrations.hf.GradNormCallback in a Hugging Face Trainer vs the same
    Trainer without it (same model, data, batch, steps; max_grad_norm 1.0, HF's default).
(b2) the same with a tiny GPT-2 (transformers GPT2LMHeadModel from a GPT2Config: 2 layers,
    width 128, 4 heads, vocabulary 1,000, context 64: 533k parameters in 28 tensors;
    built from the config, nothing downloaded), AdamW, batch 8 x 64 tokens.
(b3) the same with groups="normalized" (its 8 normalized matrices vs the other 20 tensors).
The HF and Lightning callbacks record the loss and append to grad_norms.csv at each log.
(c) lrcore.integrations.lightning.GradNormCallback in a Lightning Trainer vs the same
    Trainer without it.
Target: median ratio <= 1.03 each. Runs interleave with and without (A/B, --repeat times);
the first figure is the median over repetitions of each pair's median-step ratio, with its
IQR; the second pools every step of all repetitions (both robust to the other processes of
a shared machine preempting a few steps). A second figure is the median time of the recording call itself
as a share of the baseline's median step. --threads defaults to 1: on a shared, loaded
CPU torch's parallel reductions stall waiting for their threads and swamp what is measured.

    python benchmarks/bench_overhead.py [--steps 100] [--repeat 5] [--threads 1] [--only hf,gpt2]
    python benchmarks/bench_overhead.py --clock thread   # CPU time of the training thread
    python benchmarks/bench_overhead.py --only recorder --device cuda   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from lrcore.train.recorder import GradNormRecorder  # noqa: E402

BATCH, D_IN, K = 256, 784, 10


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(D_IN, 2048),
            torch.nn.ReLU(),
            torch.nn.Linear(2048, 1024),
            torch.nn.ReLU(),
            torch.nn.Linear(1024, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, K),
        )  # fmt: skip  (4,235,786 parameters in 8 tensors)

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


DEVICE = "cpu"
CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}
CLOCK = "wall"


def now() -> float:
    """The --clock: wall time, or this thread's CPU time (torch runs on this thread with
    --threads 1 and the data loaders have no workers, so other processes preempting it on a
    shared machine do not count)."""
    return CLOCKS[CLOCK]()


def plain(steps: int, record: bool, groups: bool = False) -> float:
    X, y = (a.to(DEVICE) for a in data(steps))
    model = MLP().to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    split = {"hidden": list(model.net[:6].parameters())} if groups else None
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "grad_norms.csv")
    rec = GradNormRecorder(model, optimizer=opt, groups=split, path=path) if record else None
    ends, inside = [now()], []
    for t in range(steps):
        opt.zero_grad()
        loss = model(X[t * BATCH : (t + 1) * BATCH], y[t * BATCH : (t + 1) * BATCH])["loss"]
        loss.backward()
        if rec is not None:
            t0 = now()
            rec.record(t, loss=loss)
            if t % 10 == 9:
                rec.flush()
            inside.append(now() - t0)
        opt.step()
        if DEVICE != "cpu":
            torch.cuda.synchronize()  # per-step times need the step to have run
        ends.append(now())
    if rec is not None:
        rec.flush()  # the whole log on disk, as a user would
    tmp.cleanup()
    return np.diff(ends), inside


def _hf_trainer(steps: int, record: bool, model, ds, batch: int, optim: str, groups=None):
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    from lrcore.integrations.hf import GradNormCallback

    class Clock(TrainerCallback):  # per-step times of the training loop, not the setup
        def on_train_begin(self, *a, **k):
            self.ends = [now()]

        def on_step_end(self, *a, **k):
            self.ends.append(now())

    class Timed(GradNormCallback):
        def on_pre_optimizer_step(self, *a, **k):
            t0 = now()
            super().on_pre_optimizer_step(*a, **k)
            self.inside.append(now() - t0)

    clock, cb = Clock(), Timed(groups=groups)
    cb.inside = []
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            out, per_device_train_batch_size=batch, max_steps=steps, learning_rate=0.01,
            report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True,
            logging_steps=10, train_sampling_strategy="sequential", optim=optim,
            max_grad_norm=1.0,
        )  # fmt: skip
        cbs = [clock] + ([cb] if record else [])
        trainer = Trainer(model=model(), args=args, train_dataset=ds, callbacks=cbs)
        trainer.remove_callback(PrinterCallback)  # no end-of-run metrics line per run
        trainer.train()
    return np.diff(clock.ends), cb.inside


def hf(steps: int, record: bool):
    X, y = data(steps)
    ds = [{"x": X[i], "labels": y[i]} for i in range(len(X))]
    return _hf_trainer(steps, record, MLP, ds, BATCH, "sgd")


GPT2_BATCH, GPT2_CTX, GPT2_VOCAB = 8, 64, 1000


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=GPT2_VOCAB, n_positions=GPT2_CTX, n_embd=128, n_layer=2, n_head=4,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(cfg)


def gpt2(steps: int, record: bool, groups=None):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, GPT2_VOCAB, (steps * GPT2_BATCH, GPT2_CTX), generator=g)
    ds = [{"input_ids": ids[i], "labels": ids[i]} for i in range(len(ids))]
    return _hf_trainer(steps, record, tiny_gpt2, ds, GPT2_BATCH, "adamw_torch", groups)


def plain_groups(steps: int, record: bool):
    return plain(steps, record, groups=True)


def gpt2_groups(steps: int, record: bool):
    return gpt2(steps, record, groups="normalized")


def lightning(steps: int, record: bool) -> float:
    import logging
    import warnings

    import lightning.pytorch as pl

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)  # no banner per run
    warnings.filterwarnings("ignore", module="lightning")

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
            self.ends = [now()]

        def on_train_batch_end(self, *a):
            self.ends.append(now())

    class Timed(GradNormCallback):
        def on_before_optimizer_step(self, *a):
            t0 = now()
            super().on_before_optimizer_step(*a)
            self.inside.append(now() - t0)

    X, y = data(steps)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=BATCH)
    clock, cb = Clock(), Timed()
    cb.inside = []
    with tempfile.TemporaryDirectory() as out:
        cb.dirpath = out
        trainer = pl.Trainer(
            default_root_dir=out, max_steps=steps, accelerator="cpu", devices=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[clock] + ([cb] if record else []),
        )  # fmt: skip
        trainer.fit(Module(), loader)
    return np.diff(clock.ends), cb.inside


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--only",
        default="recorder,recorder_groups,hf,gpt2,gpt2_groups,lightning",
        help="comma-separated subset",
    )
    p.add_argument("--device", default="cpu", help="device of the plain loop (cuda on a GPU)")
    p.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="wall, or thread: the main thread's CPU time (robust to a loaded machine; CPU only)",
    )
    args = p.parse_args()
    global DEVICE, CLOCK
    DEVICE, CLOCK = args.device, args.clock
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, "
        f"{args.steps} steps, {args.repeat} repetitions, clock: {CLOCK}"
    )
    cases = {
        "recorder": ("GradNormRecorder", plain, "the same autograd loop without it"),
        "recorder_groups": (
            "GradNormRecorder, 2 groups",
            plain_groups,
            "the same autograd loop without it",
        ),
        "hf": ("HF GradNormCallback", hf, "the same HF Trainer without it"),
        "gpt2": ("HF GradNormCallback, tiny GPT-2", gpt2, "the same HF Trainer without it"),
        "gpt2_groups": (
            "HF GradNormCallback, tiny GPT-2, groups='normalized'",
            gpt2_groups,
            "the same HF Trainer without it",
        ),
        "lightning": (
            "Lightning GradNormCallback",
            lightning,
            "the same Lightning Trainer without it",
        ),
    }
    for key in args.only.split(","):
        name, fn, baseline = cases[key]
        fn(min(args.steps, 10), True)  # warm-up: imports, allocator
        base, rec, inside, ratios = [], [], [], []
        for _ in range(args.repeat):  # interleaved A/B repetitions
            b_steps = fn(args.steps, False)[0]
            steps, hook = fn(args.steps, True)
            base += list(b_steps)
            rec += list(steps)
            inside += hook
            ratios.append(np.median(steps) / np.median(b_steps))
        b, r, h = np.median(base), np.median(rec), np.median(inside)
        q1, q3 = np.percentile(ratios, [25, 75])
        print(
            f"{name}: per-repetition ratio median {np.median(ratios):.3f}, IQR {q1:.3f}-{q3:.3f} "
            f"over {args.repeat} interleaved A/B repetitions (target <= 1.03)",
            flush=True,
        )
        print(
            f"{name}: median step {r * 1e3:.2f} ms vs {b * 1e3:.2f} ms for {baseline}: "
            f"ratio {r / b:.3f} (overhead {100 * (r / b - 1):+.1f} %, target <= +3 %); "
            f"the recording call itself: median {h * 1e3:.3f} ms = {100 * h / b:.1f} % of the "
            "baseline step",
            flush=True,
        )


if __name__ == "__main__":
    main()
