"""Regenerate every file in sample_runs/ (the same files, to one float32 ulp, on any x86 CPU).

python sample_runs/make_samples.py            # the small files that are committed
python sample_runs/make_samples.py --large    # also synthetic_1m.csv (~25 MB, not committed)
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from lrcore.logs._write import write_log
from lrcore.synthetic import synthetic_norms
from lrcore.train import RunConfig, train

HERE = Path(__file__).parent

LOGREG = RunConfig(
    task="logreg",
    dataset="digits",
    optimizer="sgd",
    steps=3000,
    batch_size=32,
    peak_lr=0.5,
    schedule="linear",
    seed=0,
    device="cpu",
    eval_every=500,
)
CNN = RunConfig(
    task="cnn",
    dataset="digits",
    optimizer="adam",
    steps=3000,
    batch_size=32,
    peak_lr=0.002,
    schedule="linear",
    seed=0,
    device="cpu",
    eval_every=500,
    precision="float64",  # float32 Adam drifts to 1e-3 between CPU kernels; float64 to 1e-11
)


def small(out: Path, logreg: RunConfig = LOGREG, cnn: RunConfig | None = CNN) -> None:
    """Write the committed files into ``out`` from the two runs (tests pass other configs;
    ``cnn=None`` writes the logistic-regression files only)."""
    r = train(logreg)
    steps = r.steps
    write_log(out / "logreg_digits_sgd.csv", steps, r.grad_norm_l2, "csv", metric="grad_norm")
    write_log(
        out / "logreg_digits_sgd_wandb.csv", steps, r.grad_norm_l2, "wandb", metric="grad_norm"
    )
    tb = out / "logreg_digits_sgd_tensorboard"
    shutil.rmtree(tb, ignore_errors=True)
    events = write_log(tb, steps, r.grad_norm_l2, "tensorboard", metric="train/grad_norm")
    for f in events.glob("*tfevents*"):  # a fixed name, so regenerating replaces the file
        f.rename(tb / "events.out.tfevents.0.lrcore")

    if cnn is None:
        return
    c = train(cnn)
    every = 10  # logged every 10 steps, as trainers usually do
    s = c.steps[::every]
    write_log(
        out / "cnn_digits_adam_l1.jsonl", s, c.grad_norm_l1[::every], "jsonl", metric="grad_norm_l1"
    )
    write_log(out / "cnn_digits_adam_trainer_state.json", s, c.grad_norm_l2[::every], "hf_trainer")
    write_log(
        out / "cnn_digits_adam_lightning_metrics.csv", s, c.grad_norm_l2[::every], "lightning"
    )


def large(out: Path) -> None:
    n = 1_000_000
    write_log(out / "synthetic_1m.csv", np.arange(n), synthetic_norms("llm", n, seed=0), "csv")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--large", action="store_true", help="also write the 1-million-point log")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    small(args.out)
    if args.large:
        large(args.out)
    for f in sorted(args.out.iterdir()):
        if f.name not in ("README.md", "make_samples.py", "__pycache__"):
            print(f.name)


if __name__ == "__main__":
    main()
