"""AdamC (lrcore.train.adamc): against a hand-written reference update, torch's AdamW, the
batched optimizer of lrcore.train, and the normalized-layer rule on real models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lrcore.export import to_lambda_lr
from lrcore.train import AdamC, RunConfig, adamc_param_groups, normalized_parameters, train
from lrcore.train.optim import BatchedOptimizer


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 3))


def _batches(n=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(4, 5, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)
    ]


def _reference(model, lrs, peak, wd, corrected_ids, batches, betas=(0.9, 0.999), eps=1e-8):
    """AdamC written out line by line: decay (corrected: lr_t^2 / peak * wd, else lr_t * wd),
    then Adam's bias-corrected step with lr_t."""
    params = [p for p in model.parameters()]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2 = betas
    for t, ((x, y), lr) in enumerate(zip(batches, lrs, strict=True), start=1):
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for i, p in enumerate(params):
                decay = lr * lr / peak * wd if id(p) in corrected_ids else lr * wd
                p.mul_(1 - decay)
                g = p.grad
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                mhat = m[i] / (1 - b1**t)
                denom = (v[i] / (1 - b2**t)).sqrt() + eps
                p.sub_(lr * mhat / denom)
    return [p.detach().clone() for p in params]


def _run(model, opt, sched, batches):
    for x, y in batches:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()
    return [p.detach().clone() for p in model.parameters()]


def test_adamc_matches_a_hand_written_reference_under_a_decaying_schedule():
    peak, wd, T = 0.05, 0.3, 12
    shape = 1 - np.arange(T) / T  # linear decay: the correction matters at every step
    ref_model, model = _net(), _net()
    norm_ids = {id(p) for p in normalized_parameters(ref_model)[0]}
    expected = _reference(ref_model, peak * shape, peak, wd, norm_ids, _batches(T))
    opt = AdamC(adamc_param_groups(model, weight_decay=wd), lr=peak)
    got = _run(model, opt, to_lambda_lr(shape, opt), _batches(T))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # and the correction is not a no-op: AdamW under the same schedule ends elsewhere
    adamw_model = _net()
    adamw = torch.optim.AdamW(adamw_model.parameters(), lr=peak, weight_decay=wd)
    other = _run(adamw_model, adamw, to_lambda_lr(shape, adamw), _batches(T))
    assert max(float((a - b).abs().max()) for a, b in zip(got, other, strict=True)) > 1e-5


def test_adamc_is_adamw_at_constant_lr_and_without_corrected_groups():
    wd, lr = 0.2, 0.03
    m1, m2, m3 = _net(), _net(), _net()
    adamw = _run(m1, torch.optim.AdamW(m1.parameters(), lr=lr, weight_decay=wd), None, _batches())
    # constant lr: lr**2 / max_lr = lr, the same decay as AdamW
    constant = _run(m2, AdamC(m2.parameters(), lr=lr, weight_decay=wd), None, _batches())
    groups = [{"params": list(m3.parameters()), "corrected": False}]
    plain = _run(m3, AdamC(groups, lr=lr, weight_decay=wd), None, _batches())
    for a, b, c in zip(adamw, constant, plain, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-8)
        torch.testing.assert_close(c, a, rtol=0, atol=0)


def test_adamc_max_lr_comes_from_the_scheduler_or_is_given():
    p = nn.Parameter(torch.ones(3, 3))
    opt = AdamC([p], lr=0.2, weight_decay=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.25)  # lr 0.05, initial_lr 0.2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    p.grad = torch.zeros(3, 3)
    opt.step()
    assert float(p.detach()[0, 0]) == pytest.approx(1 - 0.05**2 / 0.2)
    del sched
    q = nn.Parameter(torch.ones(2))
    opt2 = AdamC([q], lr=0.05, weight_decay=1.0, max_lr=0.1)
    q.grad = torch.zeros(2)
    opt2.step()
    assert float(q.detach()[0]) == pytest.approx(1 - 0.05**2 / 0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"lr": 0.0}, "lr must be a finite number > 0"), ({"max_lr": -1.0}, "max_lr must be > 0")],
)
def test_adamc_refuses_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdamC([nn.Parameter(torch.ones(2))], **{"lr": 0.1, **kwargs})


def test_the_normalized_rule_on_gpt2_and_on_a_network_without_normalization():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(
        n_layer=2, n_embd=16, n_head=2, vocab_size=40, n_positions=8, bos_token_id=0, eos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(cfg)
    names = {id(p): k for k, p in model.named_parameters()}
    norm, other = normalized_parameters(model)
    got = sorted(names[id(p)] for p in norm)
    assert got == sorted(
        f"transformer.h.{i}.{k}.weight"
        for i in range(2)
        for k in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    )
    assert "transformer.wte.weight" in {names[id(p)] for p in other}  # tied head: not normalized
    assert len(norm) + len(other) == len(list(model.parameters()))
    plain = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert normalized_parameters(plain)[0] == []
    with pytest.raises(ValueError, match="exclude names modules the model does not have"):
        normalized_parameters(plain, exclude=["nope"])


def test_batched_adamc_equals_adamc_per_run():
    """lrcore.train's batched optimizer (one lr and one peak per run) against AdamC."""
    torch.manual_seed(0)
    R, T, wd = 2, 6, 0.4
    peaks = torch.tensor([0.05, 0.02], dtype=torch.float64)
    w0 = torch.randn(R, 4, 3, dtype=torch.float64)
    b0 = torch.randn(R, 3, dtype=torch.float64)
    grads = [
        (torch.randn(R, 4, 3, dtype=torch.float64), torch.randn(R, 3, dtype=torch.float64))
        for _ in range(T)
    ]
    shape = torch.tensor([1.0, 0.8, 0.6, 0.4, 0.2, 0.1], dtype=torch.float64)
    W, B = w0.clone(), b0.clone()
    opt = BatchedOptimizer("adamc", [W, B], weight_decay=wd, corrected=[True, False], max_lr=peaks)
    for t in range(T):
        opt.step(list(grads[t]), peaks * shape[t])
    for r in range(R):
        w, b = nn.Parameter(w0[r].clone()), nn.Parameter(b0[r].clone())
        groups = [{"params": [w], "corrected": True}, {"params": [b], "corrected": False}]
        ref = AdamC(groups, lr=float(peaks[r]), weight_decay=wd)
        sched = to_lambda_lr(shape.numpy(), ref)
        for t in range(T):
            w.grad, b.grad = grads[t][0][r].clone(), grads[t][1][r].clone()
            ref.step()
            sched.step()
        torch.testing.assert_close(W[r], w.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(B[r], b.detach(), rtol=1e-12, atol=1e-14)


def test_lm_adamc_run_differs_from_adamw_only_where_the_lr_decays():
    base = dict(steps=30, eval_every=30, lm_d_model=16, lm_heads=2, lm_layers=1, lm_seq_len=12)
    kw = dict(base, warmup_steps=0, peak_lr=0.01, weight_decay=0.5)
    const = {"schedule": "constant"}
    a = train(RunConfig.for_task("lm", optimizer="adamw", **kw, **const))
    c = train(RunConfig.for_task("lm", optimizer="adamc", **kw, **const))
    np.testing.assert_allclose(c.loss, a.loss, rtol=1e-5)  # constant lr: the same update
    a = train(RunConfig.for_task("lm", optimizer="adamw", **kw))
    c = train(RunConfig.for_task("lm", optimizer="adamc", **kw))
    assert not np.allclose(c.loss[5:], a.loss[5:], rtol=1e-6)
    assert math.isfinite(c.final["suboptimality"])
