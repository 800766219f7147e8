"""Run by test_integrations_dist.py, under torchrun (2 gloo processes) or alone (1 process).

``python _dist_integrations.py MODE OUT``: MODE is recorder (DDP), fsdp (FSDP2
``fully_shard``: sharded DTensor gradients), hf or lightning; the same
global batch of 16 each step (2 x 8 under torchrun, 16 alone); rank 0 saves [l2, l1] to OUT.
"""

import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _tiny import TinyClassifier, data, hf_args, hf_dataset, lightning_module  # noqa: E402

GLOBAL_BATCH, STEPS = 16, 6
WORLD = int(os.environ.get("WORLD_SIZE", "1"))
RANK = int(os.environ.get("RANK", "0"))
os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
# The wrapped models live until os._exit below. Freed when recorder() returned, DDP's reducer
# destroyed the gloo process group on the main thread, which joins gloo's worker thread while
# holding the GIL, and that thread waits for the GIL to free the barrier's work: both ranks
# hung until the test's 240 s timeout (py-spy, about 1 run in 6 on this 2-core machine).
KEEP: list = []


def recorder(fsdp: bool = False):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from lrcore.train.recorder import GradNormRecorder

    model = TinyClassifier()
    if WORLD > 1:
        dist.init_process_group("gloo")
        if fsdp:  # FSDP2: each rank holds a shard of every parameter and gradient (DTensor)
            from torch.distributed.fsdp import fully_shard

            for layer in model.net:
                if isinstance(layer, torch.nn.Linear):
                    fully_shard(layer)
            model = fully_shard(model)
        else:
            model = DDP(model)
    KEEP.append(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = GradNormRecorder(model)
    X, y = data()
    per = GLOBAL_BATCH // WORLD
    for t in range(STEPS):
        lo = t * GLOBAL_BATCH + RANK * per
        opt.zero_grad()
        torch.nn.functional.cross_entropy(
            model(X[lo : lo + per])["logits"], y[lo : lo + per]
        ).backward()
        if fsdp and WORLD > 1:  # the recorder really sees sharded gradients here
            assert all(p.grad.placements[0].is_shard() for p in model.parameters())
        rec.record(t)
        opt.step()
    if WORLD > 1:
        dist.barrier()
        dist.destroy_process_group()
    return rec


def hf():
    from transformers import Trainer

    from lrcore.integrations.hf import GradNormCallback

    cb = GradNormCallback()
    with tempfile.TemporaryDirectory() as out:
        args = hf_args(
            out, per_device_train_batch_size=GLOBAL_BATCH // WORLD, max_steps=STEPS,
            ddp_backend="gloo" if WORLD > 1 else None, max_grad_norm=0.01,
        )  # fmt: skip
        Trainer(
            model=TinyClassifier(), args=args, train_dataset=hf_dataset(), callbacks=[cb]
        ).train()
    return cb.recorder


def lightning():
    import lightning.pytorch as pl

    from lrcore.integrations.lightning import GradNormCallback

    cb = GradNormCallback(dirpath=tempfile.mkdtemp())
    trainer = pl.Trainer(
        max_steps=STEPS, accelerator="cpu", devices=WORLD, num_nodes=1,
        strategy="ddp" if WORLD > 1 else "auto", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[cb],
        gradient_clip_val=0.01, use_distributed_sampler=False,
    )  # fmt: skip
    per = GLOBAL_BATCH // WORLD  # this rank's contiguous part of each global batch
    X, y = data()
    idx = [t * GLOBAL_BATCH + RANK * per + i for t in range(STEPS) for i in range(per)]
    ds = torch.utils.data.TensorDataset(X[idx], y[idx])
    trainer.fit(lightning_module(), torch.utils.data.DataLoader(ds, batch_size=per))
    return cb.recorder


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    modes = {
        "recorder": recorder,
        "fsdp": lambda: recorder(fsdp=True),
        "hf": hf,
        "lightning": lightning,
    }
    rec = modes[mode]()
    if RANK == 0:
        np.save(out, np.stack([rec.l2, rec.l1]))
    if WORLD > 1:
        # the work is done and saved; skip C++ static teardown, where gloo's threads sometimes
        # abort the process ("terminate called without an active exception", SIGABRT) after
        # a clean destroy_process_group (seen about 1 run in 10 on a busy 2-core machine)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
