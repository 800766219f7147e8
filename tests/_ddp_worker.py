"""Spawned by test_train.py: two gloo processes train one DDP model on halves of each batch."""

import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from lrcore.train.recorder import GradNormRecorder


def make_problem(steps=8, batch=16, d=5, k=3):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(steps, batch, d, generator=g)
    y = torch.randint(0, k, (steps, batch), generator=g)
    return X, y


def make_model(d=5, k=3):
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.Tanh(), torch.nn.Linear(8, k))


def run_single():
    X, y = make_problem()
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = GradNormRecorder(model)
    for t in range(len(X)):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[t]), y[t]).backward()
        rec.record(t)
        opt.step()
    return rec.l2, rec.l1


def worker(rank, world, init_file, out_file):
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only: no interface or hostname guessing
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    X, y = make_problem()
    model = DDP(make_model())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = GradNormRecorder(model)
    half = X.shape[1] // world
    for t in range(len(X)):
        opt.zero_grad()
        xs, ys = X[t, rank * half : (rank + 1) * half], y[t, rank * half : (rank + 1) * half]
        torch.nn.functional.cross_entropy(model(xs), ys).backward()  # DDP averages the grads
        rec.record(t)
        opt.step()
    if rank == 0:
        np.save(out_file, np.stack([rec.l2, rec.l1]))
    dist.barrier()  # both ranks finish communicating before either tears gloo down
    dist.destroy_process_group()
    # skip C++ static teardown, where gloo's threads sometimes abort a finished process
    # ("terminate called without an active exception")
    os._exit(0)
