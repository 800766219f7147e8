"""What a checkpoint holds for lrcore at 1e6 steps, before and after the compact state.

(a) HF: the norms in ``trainer_state.json``. Before: the callback's state held every norm
    as JSON lists (``{"steps", "l2", "l1"}``), written by HF's ``TrainerState.save_to_json``
    at every checkpoint. After: the rows (step, l2, l1, loss) in ``lrcore_grad_norms.npz``
    beside it, and a pointer and summary in the JSON.
(b) ``to_lambda_lr(...).state_dict()`` of a refined schedule, saved with ``torch.save`` and
    loaded with ``torch.load`` (weights_only, torch's default). Before: every factor as a
    list of floats (``{"factors": [...]}``). After: a digest and the knots within 1e-4.

    python benchmarks/bench_checkpoint.py [--steps 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_of  # noqa: E402

from lrcore import refine  # noqa: E402
from lrcore.export import to_lambda_lr  # noqa: E402
from lrcore.train import _normfile  # noqa: E402


def trainer_state(norms) -> str:
    """What HF's TrainerState.save_to_json writes (indent 2, sorted keys)."""
    doc = {"global_step": 10**6, "stateful_callbacks": {"GradNormCallback": {
        "args": {"filename": "grad_norms.csv"},
        "attributes": {"optimizer": "adam", "optimizer_name": "AdamW", "lrcore_norms": norms}}}}  # fmt: skip
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def hf(n: int, folder: Path) -> tuple[tuple[int, float], tuple[int, float]]:
    rng = np.random.default_rng(0)
    l2 = rng.random(n, dtype=np.float32) + 1
    l1 = 100 * l2
    loss = rng.random(n, dtype=np.float32)
    old = {"steps": list(range(n)), "l2": l2.astype(float).tolist(),
           "l1": l1.astype(float).tolist(), "optimizer": "AdamW"}  # fmt: skip
    path = folder / "trainer_state.json"

    def before():
        path.write_text(trainer_state(old))

    t_old = best_of(before, 1)
    size_old = path.stat().st_size
    cols = ["grad_norm_l2", "grad_norm_l1", "loss"]
    side = folder / _normfile.SIDECAR
    summary = {"format": 2, "file": _normfile.SIDECAR, "rows": n, "first_step": 0,
               "last_step": n - 1, "columns": ["step", *cols, "optimizer"]}  # fmt: skip

    def after():
        _normfile.write_sidecar(side, np.arange(n), np.stack([l2, l1, loss]), cols, "AdamW")
        path.write_text(trainer_state(summary))

    t_new = best_of(after, 3)
    size_new = path.stat().st_size + side.stat().st_size
    back = _normfile.read_sidecar(side)
    assert np.array_equal(back["grad_norm_l1"], l1) and len(back["step"]) == n
    return (size_old, t_old), (size_new, t_new)


def lambda_lr(n: int, folder: Path) -> tuple[tuple[int, float], tuple[int, float]]:
    rng = np.random.default_rng(0)
    values = refine(np.exp(rng.normal(0, 0.3, n)) * (1 + np.arange(n) / n), tau=0.1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = to_lambda_lr(values, opt)
    state = sched.state_dict()
    old = {**state, "lr_lambdas": [{"factors": (values / values.max()).tolist()}]}
    out = []
    for st in (old, state):
        path = folder / "sched.pt"
        torch.save(st, path)
        t = best_of(lambda path=path: torch.load(path), 1 if st is old else 3)
        out.append((path.stat().st_size, t))
    # the compact state restores the schedule into a scheduler built over another one
    fresh = to_lambda_lr(np.ones(5), torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0))
    fresh.load_state_dict(torch.load(folder / "sched.pt"))
    got = np.array([fresh.lr_lambdas[0](t) for t in range(0, n, 997)])
    err = np.abs(got - values[::997] / values.max()).max()
    assert err <= 1e-4, err
    return out[0], out[1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1_000_000)
    args = p.parse_args()
    print(f"{args.steps:,} steps; torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn, what in (
            ("HF checkpoint norms", hf, "write"),
            ("LambdaLR state_dict", lambda_lr, "torch.load"),
        ):
            (s0, t0), (s1, t1) = fn(args.steps, Path(tmp))
            print(
                f"{name}: before {s0 / 1e6:.2f} MB, {what} {t0:.3f} s; after {s1 / 1e6:.3f} MB, "
                f"{what} {t1:.4f} s; size ratio {s0 / s1:,.0f}x smaller, time ratio "
                f"{t0 / t1:,.0f}x faster",
                flush=True,
            )


if __name__ == "__main__":
    main()
