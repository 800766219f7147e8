import math

import numpy as np
import pandas as pd
import pytest
import torch

from lrcore import refine
from lrcore.logs import load_log
from lrcore.train import GradNormRecorder, RunConfig, compare, refine_and_retrain, run_many, train
from lrcore.train.data import load_dataset
from lrcore.train.models import SmallCNN

FAST = RunConfig(steps=60, eval_every=20, peak_lr=0.5)


def test_same_seed_same_numbers_and_different_seed_differs():
    a, b = train(FAST), train(FAST)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.grad_norm_l2, b.grad_norm_l2)
    assert a.final == b.final
    c = train(FAST.with_(seed=1))
    assert not np.array_equal(a.loss, c.loss)
    assert a.device == "cpu" and a.ok and len(a.evals) == 4  # steps 0, 20, 40, 60


def _torch_oracle(cfg: RunConfig, make_opt):
    """Same problem, same batches, nn.Linear + torch.optim + autograd: independent norms
    (of the gradient the step uses: the loss's plus the L2 term for sgd/adam)."""
    data = load_dataset(cfg)
    X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
    batches = np.random.default_rng([cfg.seed, 3]).integers(0, len(X), (cfg.steps, cfg.batch_size))
    model = torch.nn.Linear(X.shape[1], data.n_classes).double()
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = make_opt(model.parameters())
    lrs = cfg.lrs()
    l2, l1, losses = [], [], []
    for t in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lrs[t]
        idx = torch.from_numpy(batches[t])
        loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        if cfg.l2_in_objective:
            flat = torch.cat([p.detach().flatten() for p in model.parameters()])
            grads = grads + cfg.weight_decay * flat
            loss = loss + 0.5 * cfg.weight_decay * flat.pow(2).sum()
        l2.append(grads.norm(2).item())
        l1.append(grads.norm(1).item())
        losses.append(loss.item())
        opt.step()
    return np.array(losses), np.array(l2), np.array(l1)


@pytest.mark.parametrize(
    "overrides,make_opt",
    [
        ({}, lambda p: torch.optim.SGD(p, lr=0.1)),
        (
            {"momentum": 0.9, "weight_decay": 0.01},
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
        ),
        (
            {"optimizer": "adam", "peak_lr": 0.01, "weight_decay": 0.001},
            lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.001),
        ),
        (
            {"optimizer": "adamw", "peak_lr": 0.01, "weight_decay": 0.1},
            lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1),
        ),
    ],
)
def test_recorded_norms_and_updates_match_torch_autograd_and_optimizers(overrides, make_opt):
    cfg = FAST.with_(schedule="cosine", **overrides)
    result = train(cfg)
    loss, l2, l1 = _torch_oracle(cfg, make_opt)
    # float64 on both sides: only the order of sums differs
    np.testing.assert_allclose(result.loss, loss, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.grad_norm_l2, l2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.grad_norm_l1, l1, rtol=1e-9, atol=1e-12)


def test_cnn_first_step_norm_matches_autograd():
    cfg = RunConfig(task="cnn", steps=3, batch_size=8, peak_lr=0.01, eval_every=3)
    result = train(cfg)
    data = load_dataset(cfg)
    model = SmallCNN(1, data.n_features, data.n_classes, [cfg.seed], "cpu")
    idx = np.random.default_rng([cfg.seed, 3]).integers(0, len(data.X_train), (3, 8))[0]
    X = torch.from_numpy(data.X_train[idx]).unsqueeze(0)
    y = torch.from_numpy(data.y_train[idx]).unsqueeze(0)
    _, grads = model.loss_and_grads(X, y)
    flat = torch.cat([g.flatten() for g in grads])
    assert result.grad_norm_l2[0] == pytest.approx(flat.norm(2).item(), rel=1e-5)
    assert result.grad_norm_l1[0] == pytest.approx(flat.norm(1).item(), rel=1e-5)


def test_divergence_is_reported_not_raised():
    result = train(
        RunConfig(task="cnn", steps=50, peak_lr=1000.0, schedule="constant", eval_every=10)
    )  # overflows to inf within 4 steps (at 50 the ReLUs can die first and the loss recovers)
    assert result.diverged_at is not None and result.diverged_at < 50
    assert result.status() == f"diverged at step {result.diverged_at}"
    assert len(result.loss) == result.diverged_at + 1 and not math.isfinite(result.loss[-1])
    assert all(math.isnan(v) for v in result.final.values())


def test_cancel_stops_the_run():
    seen = []

    def on_step(p):
        seen.append(p.step)
        return p.step < 100

    result = train(RunConfig(steps=1000, eval_every=50), on_step=on_step)
    assert result.cancelled and 100 <= len(result.loss) < 1000
    assert result.status() == "cancelled" and seen[-1] == len(result.loss)


def test_batched_runs_equal_runs_one_by_one():
    configs = [
        FAST.with_(schedule=s, seed=seed, peak_lr=p)
        for s, seed, p in [
            ("linear", 0, 0.5),
            ("cosine", 1, 0.5),
            ("constant", 0, 0.1),
            (tuple(refine(np.linspace(3, 1, 60))), 2, 1.0),
        ]
    ]
    batched = run_many(configs)
    assert {r.runs_in_batch for r in batched} == {4}
    for cfg, b in zip(configs, batched, strict=True):
        one = train(cfg)
        np.testing.assert_allclose(b.loss, one.loss, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b.grad_norm_l2, one.grad_norm_l2, rtol=1e-5, atol=1e-7)
        assert b.final["test_accuracy"] == pytest.approx(one.final["test_accuracy"])


def test_cnn_batched_equals_one_by_one():
    cfg = RunConfig(
        task="cnn",
        dataset="synthetic_images",
        steps=20,
        optimizer="adam",
        peak_lr=0.003,
        eval_every=10,
        synthetic_samples=200,
        precision="float64",  # in float32, batched and single convolutions sum in other orders
    )  # and 20 Adam steps amplify that to 1e-3; in float64 the two agree to 1e-12
    configs = [cfg.with_(seed=0), cfg.with_(seed=1, schedule="cosine")]
    for b, cfg_i in zip(run_many(configs), configs, strict=True):
        np.testing.assert_allclose(b.grad_norm_l1, train(cfg_i).grad_norm_l1, rtol=1e-9)


def test_saved_run_loads_with_load_log(tmp_path):
    result = train(FAST.with_(optimizer="adam", peak_lr=0.01))
    folder = result.save(tmp_path / "run")
    # the plain format (issue 25): pandas keeps every column, the optimizer on every row
    plain = pd.read_csv(folder / "grad_norms.csv")
    assert plain.columns.tolist()[:5] == [
        "step",
        "grad_norm_l2",
        "grad_norm_l1",
        "loss",
        "optimizer",
    ]
    assert set(plain.optimizer) == {"Adam"} and len(plain) == len(result.loss)
    log = load_log(folder)  # the run's optimizer picks the series and the rule: l1, Adam
    assert (log.metric, log.suggested_optimizer, log.rule_note) == ("grad_norm_l1", "adam", None)
    np.testing.assert_allclose(log.grad_norms, result.grad_norm_l1, rtol=1e-8)
    np.testing.assert_allclose(log.grad_norms, result.grad_norms(), rtol=1e-8)
    l2 = load_log(folder, metric="grad_norm_l2")
    np.testing.assert_allclose(l2.grad_norms, result.grad_norm_l2, rtol=1e-8)
    sgd = load_log(train(FAST).save(tmp_path / "sgd"))
    assert (sgd.metric, sgd.suggested_optimizer) == ("grad_norm_l2", "sgd")
    assert pd.read_csv(folder / "evals.csv").shape == (4, 5)  # step + 4 metrics


def test_recorder_matches_manual_norms_and_saves(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    rec = GradNormRecorder(model, capacity=2)  # forces the buffer to grow
    expected = []
    for t in range(5):
        model.zero_grad()
        model(torch.randn(6, 4)).pow(2).sum().backward()
        rec.record(10 * t)
        g = torch.cat([p.grad.flatten() for p in model.parameters()])
        expected.append((g.norm(2).item(), g.norm(1).item()))
    np.testing.assert_allclose(np.c_[rec.l2, rec.l1], expected, rtol=1e-6)
    assert rec.last() == (rec.l2[-1], rec.l1[-1])  # the latest step, from one small copy
    log = load_log(rec.save(tmp_path / "g.csv"))
    assert log.steps.tolist() == [0, 10, 20, 30, 40]
    with pytest.raises(ValueError, match="call it after backward"):
        GradNormRecorder(torch.nn.Linear(2, 2)).record()


def test_recorder_records_global_norm_under_ddp(tmp_path, monkeypatch):
    import sys
    import types

    import _ddp_worker
    import torch.multiprocessing as mp

    # spawned children re-run the parent's __main__; after an AppTest in the same session that
    # is the app's main.py (streamlit sets it), so give them an empty one
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))

    out = tmp_path / "ddp.npy"
    mp.spawn(_ddp_worker.worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    l2, l1 = np.load(out)
    single_l2, single_l1 = _ddp_worker.run_single()
    np.testing.assert_allclose(l2, single_l2, rtol=1e-5)
    np.testing.assert_allclose(l1, single_l1, rtol=1e-5)


def test_compare_table_and_best_peak():
    table, runs = compare(
        FAST,
        ["linear", "constant"],
        seeds=[0, 1],
        peak_lrs=[0.1, 1.0, 1e307],
        return_runs=True,
        extend_grid=False,
    )
    assert len(runs) == 12 and list(table.schedule.unique()) == ["linear", "constant"]
    assert (
        runs[("constant", 0.1, 1)].config.seed == 1
        and runs[("linear", 1.0, 0)].config.peak_lr == 1.0
    )
    assert set(table.columns) >= {
        "schedule",
        "peak_lr",
        "n_seeds",
        "diverged",
        "objective_mean",
        "objective_sem",
        "suboptimality_mean",
        "suboptimality_sem",
        "train_loss_mean",
        "test_accuracy_mean",
        "test_accuracy_sem",
        "best",
        "at_grid_edge",
        "learned",
    }
    assert table.groupby("schedule", observed=True).best.sum().tolist() == [1, 1]
    for _, rows in table.groupby("schedule", observed=True):
        ok = rows[rows.diverged == 0]
        assert rows[rows.best].objective_mean.iloc[0] == ok.objective_mean.min()
    assert (table.n_seeds == 2).all()
    assert table[table.peak_lr == 1e307].diverged.tolist() == [2, 2]
    assert not table[table.peak_lr == 1e307].learned.any()
    assert table[table.peak_lr < 1e307].objective_sem.notna().all()
    assert table.at_grid_edge.tolist() == [True, False, True] * 2
    # no weight decay: objective = train loss; suboptimality = objective - f_star per seed
    np.testing.assert_array_equal(table.objective_mean, table.train_loss_mean)
    r = runs[("linear", 1.0, 0)]
    assert r.final["suboptimality"] == r.final["objective"] - r.final["f_star"]


def test_refine_and_retrain():
    rr = refine_and_retrain(RunConfig(steps=200, peak_lr=0.5, eval_every=50), tau=0.1)
    np.testing.assert_allclose(rr.schedule, refine(rr.linear.grad_norm_l2, 0.1, "sgd"))
    assert rr.refined.lr.max() == pytest.approx(0.5) and rr.refined.lr[-1] == 0
    assert rr.linear.ok and rr.refined.ok


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"task": "rnn"}, r"task must be one of"),
        ({"dataset": "mnist"}, r"dataset must be one of .* for task 'logreg'"),
        ({"optimizer": "lion"}, r"optimizer must be one of"),
        ({"steps": 1}, r"steps must be an integer >= 2, got 1"),
        ({"peak_lr": 0.0}, r"peak_lr must be > 0, got 0.0"),
        ({"peak_lr": float("inf")}, r"peak_lr must be a finite number"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"schedule": "zigzag"}, r"schedule must be a registry name"),
        ({"schedule": (1.0,)}, r"schedule must be an array of at least 2 finite values"),
        ({"warmup_steps": 5, "steps": 5}, r"warmup_steps must be an integer in \[0, steps=5\)"),
        ({"device": "tpu"}, r"device must be one of"),
        ({"seed": -1}, r"seed must be an integer >= 0"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunConfig(**kwargs)


def test_cli_run_and_compare(tmp_path, capsys):
    from lrcore.cli import main

    assert (
        main(
            [
                "run",
                "--steps",
                "50",
                "--peak-lr",
                "0.5",
                "--eval-every",
                "25",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "finished" in captured.out and "cpu" in captured.out and "100%" in captured.err
    assert load_log(tmp_path / "r").report.rows_read == 50
    assert (
        main(
            [
                "compare",
                "--steps",
                "50",
                "--seeds",
                "0,1",
                "--peak-lrs",
                "0.1,0.5",
                "--schedules",
                "linear,cosine,refined",
                "--eval-every",
                "25",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:6] == [
        "schedule",
        "peak_lr",
        "at_grid_edge",
        "n_seeds",
        "diverged",
        "learned",
    ]
    assert [ln.split()[0] for ln in lines[1:4]] == ["linear", "cosine", "refined"]
    assert "gradient norms of its own runs" in lines[4]
    assert main(["run", "--steps", "50", "--dataset", "mnist"]) == 2
    assert "dataset must be one of" in capsys.readouterr().err
