"""lrcore schedules next to the same schedule built by a peer library, step by step.

Each case is ``(name, peer, ours, theirs)``: two arrays of lrs over the same steps.
``python tests/_peers.py`` prints the table (schedule, peer, max abs diff) that the
tests assert on.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from lrcore import schedules as S
from lrcore.registry import build_schedule

T, W = 200, 20
HAS_HF = importlib.util.find_spec("transformers") is not None
HAS_OPTAX = importlib.util.find_spec("optax") is not None


def ours(name, total=T, warmup_steps=W, steps=None, **kw):
    return S.evaluate(build_schedule(name, total, warmup_steps=warmup_steps, **kw), steps or total)


def torch_lrs(make, steps, base_lr=1.0):
    """What the optimizer sees at each step when ``scheduler.step()`` follows ``opt.step()``."""
    import torch

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def torch_cases():
    from torch.optim import lr_scheduler as L

    n = T + 5
    return [
        ("linear", "torch LinearLR", ours("linear", warmup_steps=0, steps=n),
         torch_lrs(lambda o: L.LinearLR(o, 1.0, 0.0, total_iters=T), n)),
        ("cosine final 0.1", "torch CosineAnnealingLR", ours("cosine", warmup_steps=0, steps=T + 1, final_fraction=0.1),
         torch_lrs(lambda o: L.CosineAnnealingLR(o, T, eta_min=0.1), T + 1)),
        ("polynomial power 2", "torch PolynomialLR", ours("polynomial", warmup_steps=0, steps=n, power=2.0),
         torch_lrs(lambda o: L.PolynomialLR(o, T, 2.0), n)),
        ("step", "torch StepLR", S.evaluate(S.step_decay(1.0, 30, 0.5), n),
         torch_lrs(lambda o: L.StepLR(o, 30, 0.5), n)),
        ("multistep", "torch MultiStepLR", ours("multistep", warmup_steps=0, milestones="0.5,0.75", gamma=0.3),
         torch_lrs(lambda o: L.MultiStepLR(o, [100, 150], 0.3), T)),
        ("exponential", "torch ExponentialLR", ours("exponential", warmup_steps=0, steps=T + 1, final_fraction=0.01),
         torch_lrs(lambda o: L.ExponentialLR(o, 0.01 ** (1 / T)), T + 1)),
        ("warm-up start 0.25", "torch LinearLR(start_factor)", ours("constant", warmup_start=0.25),
         torch_lrs(lambda o: L.LinearLR(o, 0.25, 1.0, total_iters=W), T)),
        ("cosine_restarts x4 final 0.05", "torch CosineAnnealingWarmRestarts",
         ours("cosine_restarts", warmup_steps=0, num_cycles=4, final_fraction=0.05),
         torch_lrs(lambda o: L.CosineAnnealingWarmRestarts(o, T // 4, eta_min=0.05), T)),
        ("one_cycle cos", "torch OneCycleLR", S.evaluate(S.one_cycle(0.8, T), T),
         torch_lrs(lambda o: L.OneCycleLR(o, 0.8, total_steps=T, cycle_momentum=False), T)),
        ("one_cycle linear", "torch OneCycleLR", S.evaluate(S.one_cycle(0.8, T, 0.25, 10, 100, "linear"), T),
         torch_lrs(lambda o: L.OneCycleLR(o, 0.8, total_steps=T, pct_start=0.25, div_factor=10,
                                          final_div_factor=100, anneal_strategy="linear",
                                          cycle_momentum=False), T)),
    ] + [
        (f"cyclic {mode}", "torch CyclicLR", S.evaluate(S.cyclic(1.0, 0.1, 15, 25, mode, 0.995), T),
         torch_lrs(lambda o, m=mode: L.CyclicLR(o, 0.1, 1.0, 15, 25, mode=m, gamma=0.995,
                                                cycle_momentum=False), T))
        for mode in ("triangular", "triangular2", "exp_range")
    ]  # fmt: skip


def hf_cases():
    import transformers.optimization as H

    # steps 0..T: after T, HF's cosines rise again (lrcore and torch stay at the final lr)
    def hf(make):
        return torch_lrs(make, T + 1)

    def mine(name, **kw):
        return ours(name, steps=T + 1, **kw)

    return [
        ("linear + warm-up", "HF linear", mine("linear"),
         hf(lambda o: H.get_linear_schedule_with_warmup(o, W, T))),
        ("cosine + warm-up", "HF cosine", mine("cosine"),
         hf(lambda o: H.get_cosine_schedule_with_warmup(o, W, T))),
        ("cosine final 0.1", "HF cosine_with_min_lr", mine("cosine", final_fraction=0.1),
         hf(lambda o: H.get_cosine_with_min_lr_schedule_with_warmup(o, W, T, min_lr_rate=0.1))),
        ("cosine_restarts x3", "HF cosine_with_restarts", mine("cosine_restarts", num_cycles=3),
         hf(lambda o: H.get_cosine_with_hard_restarts_schedule_with_warmup(o, W, T, 3))),
        ("polynomial power 2 final 0.01", "HF polynomial", mine("polynomial", power=2.0, final_fraction=0.01),
         hf(lambda o: H.get_polynomial_decay_schedule_with_warmup(o, W, T, lr_end=0.01, power=2.0))),
        ("constant + warm-up", "HF constant_with_warmup", mine("constant"),
         hf(lambda o: H.get_constant_schedule_with_warmup(o, W))),
        ("inverse_sqrt", "HF inverse_sqrt", S.evaluate(S.warmup(S.inverse_sqrt(1.0, 50), W), T + 1),
         hf(lambda o: H.get_inverse_sqrt_schedule(o, W, timescale=50))),
    ] + [
        (f"wsd {shape} warm-up, {cool} cool-down", "HF wsd",
         mine("wsd", decay_fraction=0.25, cooldown=cool, final_fraction=0.1, warmup_shape=shape,
              warmup_start=0.1),  # HF's wsd warm-up starts at min_lr_ratio
         hf(lambda o, s=shape, c=cool: H.get_wsd_schedule(
             o, W, num_decay_steps=45, num_stable_steps=T - W - 45, warmup_type=s, decay_type=c,
             min_lr_ratio=0.1)))
        for shape, cool in [("linear", "linear"), ("cosine", "cosine"), ("1-sqrt", "1-sqrt")]
    ]  # fmt: skip


def optax_cases():
    import jax

    jax.config.update("jax_enable_x64", True)  # compare in float64 (optax's default is float32)
    import optax

    t = np.arange(T + 3)

    def ox(sched):
        return np.asarray(sched(t), dtype=np.float64)

    n = T + 3
    return [
        ("cosine + warm-up final 0.1", "optax warmup_cosine_decay_schedule", ours("cosine", steps=n, final_fraction=0.1),
         ox(optax.warmup_cosine_decay_schedule(0.0, 1.0, W, T, end_value=0.1))),
        ("constant + warm-up from 0.3", "optax join(linear, constant)", ours("constant", steps=n, warmup_start=0.3),
         ox(optax.join_schedules([optax.linear_schedule(0.3, 1.0, W), optax.constant_schedule(1.0)], [W]))),
        ("linear", "optax linear_schedule", ours("linear", warmup_steps=0, steps=n),
         ox(optax.linear_schedule(1.0, 0.0, T))),
        ("polynomial power 3", "optax polynomial_schedule", ours("polynomial", warmup_steps=0, steps=n, power=3.0),
         ox(optax.polynomial_schedule(1.0, 0.0, 3.0, T))),
        ("exponential final 0.01", "optax exponential_decay", ours("exponential", warmup_steps=0, steps=n, final_fraction=0.01),
         ox(optax.exponential_decay(1.0, T, 0.01, end_value=0.01))),
        ("piecewise", "optax piecewise_constant_schedule", ours("piecewise", warmup_steps=0, steps=n, boundaries="0.5,0.75", values="1,0.1,0.01"),
         ox(optax.piecewise_constant_schedule(1.0, {100: 0.1, 150: 0.1}))),
        ("join(constant, linear)", "optax join_schedules", S.evaluate(S.join([S.constant(1.0), S.linear_decay(1.0, 40)], [160]), n),
         ox(optax.join_schedules([optax.constant_schedule(1.0), optax.linear_schedule(1.0, 0.0, 40)], [160]))),
        ("cosine_restarts x4", "optax sgdr_schedule", ours("cosine_restarts", warmup_steps=0, num_cycles=4, steps=T),
         ox(optax.sgdr_schedule([dict(init_value=1.0, peak_value=1.0, warmup_steps=0, decay_steps=T // 4)] * 4))[:T]),
    ]  # fmt: skip


def all_cases():
    cases = torch_cases()
    if HAS_HF:
        cases += hf_cases()
    if HAS_OPTAX:
        cases += optax_cases()
    return cases


def table() -> list[tuple[str, str, float]]:
    return [(name, peer, float(np.max(np.abs(a - b)))) for name, peer, a, b in all_cases()]


if __name__ == "__main__":
    print("| schedule | peer | max abs diff (peak 1) |\n|---|---|---|")
    for name, peer, diff in table():
        print(f"| {name} | {peer} | {diff:.1e} |")
