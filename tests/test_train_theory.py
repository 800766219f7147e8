"""The training checks that measure what the theory is about: the objective and f_star,
the hinge task, controlled gradient noise, fair tuning, iterated refinement, --out."""

import numpy as np
import pandas as pd
import pytest
import torch

from lrcore import refine
from lrcore.cli import main
from lrcore.train import (
    RunConfig,
    best_rows,
    compare,
    convex_objective,
    f_star,
    noise_profile,
    own_norm_bounds,
    refine_and_retrain,
    run_many,
    train,
)
from lrcore.train.data import data_spec, load_dataset
from lrcore.train.experiments import MAX_EXTENSIONS
from lrcore.train.models import Hinge
from lrcore.train.objective import F_STAR_TOL, GTOL, hinge_lp, solve

SVM = RunConfig(task="svm", dataset="synthetic", steps=300, eval_every=100, peak_lr=0.05)


def test_hinge_subgradient_matches_autograd_and_the_numpy_objective():
    data = load_dataset(SVM)
    X = torch.from_numpy(data.X_train[:64])[None].repeat(2, 1, 1)
    y = torch.from_numpy(data.y_train[:64])[None].repeat(2, 1)
    model = Hinge(2, X.shape[-1], 4, [0, 1], "cpu", dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for p in model.params:
        p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    loss, grads = model.loss_and_grads(X, y)
    W = model.params[0].clone().requires_grad_(True)
    b = model.params[1].clone().requires_grad_(True)
    s = torch.baddbmm(b.unsqueeze(1), X, W)
    m = 1 + s - s.gather(-1, y.unsqueeze(-1))
    m = m.scatter(-1, y.unsqueeze(-1), 0.0)
    ref = m.amax(-1).mean(1)
    ref.sum().backward()  # random weights: no ties, so the subgradient is the gradient
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[0], W.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[1], b.grad, rtol=1e-12, atol=1e-12)
    np_loss = convex_objective("svm", W[0].detach(), b[0].detach(), X[0], y[0])
    assert np_loss == pytest.approx(float(loss[0]), rel=1e-12)


@pytest.mark.parametrize(
    "cfg",
    [
        RunConfig(dataset="iris", steps=200, peak_lr=1.0, weight_decay=1e-3),
        RunConfig(dataset="synthetic", steps=200, peak_lr=1.0, synthetic_condition=100.0),
        RunConfig(dataset="iris", task="svm", steps=400, peak_lr=0.3),
        SVM.with_(noise="rise"),
    ],
)
def test_suboptimality_is_never_negative_and_f_star_is_a_minimum(cfg):
    """f_star <= objective of every run (tolerance F_STAR_TOL = 1e-6), and no point near the
    solver's minimiser is lower (convex: a local minimum is the global one)."""
    results = run_many(
        [cfg.with_(peak_lr=cfg.peak_lr * f, seed=s) for f in (0.3, 1, 3) for s in (0, 1)]
    )
    for r in results:
        assert r.final["f_star"] == f_star(r.config)
        assert np.isfinite(r.final["f_star"]) and r.final["suboptimality"] >= -F_STAR_TOL
        assert r.final["suboptimality"] == r.final["objective"] - r.final["f_star"]
    data = load_dataset(cfg)
    l2 = cfg.weight_decay if cfg.l2_in_objective else 0.0
    fs, W, b = solve(data_spec(cfg), cfg.task, l2)
    rng = np.random.default_rng(0)
    for _ in range(30):
        dW, db = rng.normal(size=W.shape) * 1e-3, rng.normal(size=b.shape) * 1e-3
        near = convex_objective(cfg.task, W + dW, b + db, data.X_train, data.y_train, l2)
        assert near >= fs - 1e-9


def test_f_star_is_exact_known_values_and_cached():
    # strictly separable training set: the hinge's minimum is exactly 0 (LP agrees)
    wine = RunConfig(task="svm", dataset="wine")
    assert f_star(wine) == 0.0
    data = load_dataset(wine)
    assert hinge_lp(data.X_train, data.y_train, 3)[0] == pytest.approx(0.0, abs=1e-9)
    iris = RunConfig(task="svm", dataset="iris")  # not separable: the LP's value, > 0
    data = load_dataset(iris)
    assert f_star(iris) == hinge_lp(data.X_train, data.y_train, 3)[0] > 0.01
    # logistic regression with L2: the gradient at the solver's point is below GTOL
    cfg = RunConfig(dataset="breast_cancer", weight_decay=1e-3)
    before = solve.cache_info().hits
    value = f_star(cfg)
    assert f_star(cfg.with_(schedule="cosine", peak_lr=3.0)) == value  # same split, same l2
    assert solve.cache_info().hits == before + 1
    # hinge with an L2 term is a QP: no certified minimum, nan (documented)
    assert np.isnan(f_star(RunConfig(task="svm", dataset="iris", weight_decay=1e-3)))
    assert np.isnan(f_star(RunConfig(task="cnn", dataset="digits")))
    assert GTOL < 1e-6


def test_objective_includes_the_l2_term_for_sgd_and_adam_not_adamw():
    base = RunConfig(dataset="iris", steps=100, eval_every=50, weight_decay=0.01, peak_lr=0.5)
    sgd, adamw = run_many([base, base.with_(optimizer="adamw", peak_lr=0.05)])
    assert sgd.final["objective"] > sgd.final["train_loss"]
    assert adamw.final["objective"] == adamw.final["train_loss"]
    # the recorded norm at step 0 (weights 0) is the loss gradient's; later it includes l2 * w
    plain = train(base.with_(weight_decay=0.0))
    assert sgd.grad_norm_l2[0] == pytest.approx(plain.grad_norm_l2[0], rel=1e-12)


def test_noise_profile_values_and_errors():
    T = 101
    rise, fall, flat = (noise_profile(n, T) for n in ("rise", "fall", "flat"))
    assert (rise[:51] == 1).all() and rise[-1] == pytest.approx(5) and rise[75] == pytest.approx(3)
    assert fall[0] == 5 and fall[30] == pytest.approx(1) and (fall[30:] == pytest.approx(1))
    assert (flat == 1).all() and (noise_profile("none", T) == 0).all()
    assert np.all(np.diff(rise) >= 0) and np.all(np.diff(fall) <= 0)
    with pytest.raises(ValueError, match="noise_profile: name must be one of"):
        noise_profile("loud", T)
    with pytest.raises(ValueError, match="noise_profile: steps must be an integer >= 2"):
        noise_profile("rise", 1)


def test_noise_is_seeded_by_the_seed_only_and_has_the_stated_size():
    # a tiny lr keeps the weights at 0, so every gradient is the loss gradient at 0 + noise
    cfg = RunConfig(dataset="synthetic", steps=400, peak_lr=1e-12, noise="rise", noise_scale=3.0)
    a, b, c, clean = run_many(
        [
            cfg,
            cfg.with_(schedule="cosine", peak_lr=2e-12),
            cfg.with_(seed=1),
            cfg.with_(noise="none"),
        ]
    )
    np.testing.assert_allclose(a.grad_norm_l2, b.grad_norm_l2, rtol=1e-9)
    assert not np.allclose(a.grad_norm_l2, c.grad_norm_l2, rtol=1e-3)
    extra = a.grad_norm_l2**2 - clean.grad_norm_l2**2  # E = scale^2 * profile^2 (+ cross term)
    prof = noise_profile("rise", 400)
    early, late = extra[:200] / prof[:200] ** 2, extra[-50:] / prof[-50:] ** 2
    assert np.mean(early) == pytest.approx(9.0, rel=0.1) and np.mean(late) == pytest.approx(
        9.0, rel=0.15
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"noise": "loud"}, r"noise must be one of"),
        ({"noise_scale": -1.0}, r"noise_scale must be >= 0"),
        ({"noise_scale": float("nan")}, r"noise_scale must be a finite number"),
        ({"task": "svm", "dataset": "synthetic_images"}, r"dataset must be one of .* 'svm'"),
    ],
)
def test_new_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunConfig(**kwargs)


def test_grid_extends_until_the_best_is_inside_or_the_budget_is_spent():
    cfg = SVM.with_(noise="rise")
    table = compare(cfg, ["linear"], seeds=[0], peak_lrs=[0.4, 0.8])
    tried = sorted(table.peak_lr)
    best = table[table.best].iloc[0]
    assert tried[:-2] == pytest.approx([0.4 / 2**k for k in range(len(tried) - 2, 0, -1)])
    assert len(tried) <= 2 + MAX_EXTENSIONS
    assert best.at_grid_edge == (best.peak_lr in (tried[0], tried[-1]))
    if not best.at_grid_edge:  # stopped because the best moved inside
        assert len(tried) < 2 + MAX_EXTENSIONS or best.peak_lr != tried[0]
    # a grid far too low: every extension goes up, and the best is still flagged at the edge
    low = compare(cfg, ["linear"], seeds=[0], peak_lrs=[1e-6, 2e-6])
    assert len(low) == 2 + MAX_EXTENSIONS and low[low.best].at_grid_edge.all()
    assert low.peak_lr.max() == pytest.approx(2e-6 * 2**MAX_EXTENSIONS)
    fixed = compare(cfg, ["linear"], seeds=[0], peak_lrs=[1e-6, 2e-6], extend_grid=False)
    assert len(fixed) == 2


def test_refined_uses_linear_best_peak_lr_and_rounds_chain():
    cfg = SVM.with_(noise="rise")
    table, runs = compare(
        cfg, ["refined"], seeds=[0, 1], peak_lrs=[0.025, 0.05, 0.1], return_runs=True, rounds=2
    )
    assert list(table.schedule.cat.categories) == ["linear", "refined", "refined_2"]
    lin_best = float(table[(table.schedule == "linear") & table.best].peak_lr.iloc[0])
    norms = np.mean([runs[("linear", lin_best, s)].grad_norm_l2 for s in (0, 1)], axis=0)
    shape1 = runs[("refined", 0.05, 0)].config.schedule
    np.testing.assert_allclose(shape1, refine(norms, 0.1, "sgd"), rtol=1e-12)
    best = best_rows(table)
    assert best.schedule.tolist() == ["linear", "refined", "refined_2"]
    assert list(best.columns[:3]) == ["schedule", "peak_lr", "at_grid_edge"]
    bounds = own_norm_bounds(best, runs)
    assert bounds.iloc[0] == 1.0 and np.isfinite(bounds).all()


def test_refine_and_retrain_rounds():
    rr = refine_and_retrain(SVM.with_(noise="rise"), rounds=2)
    assert len(rr.rounds) == 2 and rr.refined is rr.rounds[-1].result
    np.testing.assert_allclose(rr.rounds[0].schedule, refine(rr.linear.grad_norm_l2, 0.1, "sgd"))
    np.testing.assert_allclose(
        rr.rounds[1].schedule, refine(rr.rounds[0].result.grad_norm_l2, 0.1, "sgd")
    )
    assert all(np.isfinite(r.result.final["suboptimality"]) for r in rr.rounds)
    with pytest.raises(ValueError, match="rounds must be an integer >= 1, got 0"):
        refine_and_retrain(SVM, rounds=0)


def test_own_norm_bounds_are_nan_for_adam():
    cfg = RunConfig(dataset="iris", steps=60, optimizer="adam", peak_lr=0.01, eval_every=30)
    table, runs = compare(cfg, ["linear", "cosine"], seeds=[0], return_runs=True, extend_grid=False)
    assert own_norm_bounds(best_rows(table), runs).isna().all()


def test_cli_compare_out_csv_done_when_command(tmp_path, capsys):
    out = tmp_path / "r.csv"
    argv = "compare --task svm --dataset synthetic --noise rise --steps 2000 "
    argv += f"--schedules linear,cosine,refined --seeds 0,1,2 --out {out}"
    assert main(argv.split()) == 0
    text = capsys.readouterr().out
    csv = pd.read_csv(out)
    assert csv.columns[:12].tolist() == [
        "schedule",
        "peak_lr",
        "at_grid_edge",
        "n_seeds",
        "diverged",
        "learned",
        "objective_mean",
        "objective_sem",
        "suboptimality_mean",
        "suboptimality_sem",
        "test_accuracy_mean",
        "test_accuracy_sem",
    ]
    assert "bound_vs_linear" in csv.columns and csv.schedule.tolist() == [
        "linear",
        "cosine",
        "refined",
    ]
    assert (csv.suboptimality_mean >= -F_STAR_TOL).all() and csv.learned.all()
    sub = csv.set_index("schedule").suboptimality_mean
    bound = csv.set_index("schedule").bound_vs_linear
    # what the bound predicts under rising noise: refined below linear, in bound and in fact
    assert bound["refined"] < 1 and sub["refined"] < sub["linear"]
    assert "refined" in text and "suboptimality_mean" in text
    assert main(["compare", "--steps", "50", "--noise", "loud"]) == 2
    assert main(["compare", "--steps", "50", "--rounds", "0"]) == 2
    assert "--rounds must be a whole number from 1 to 20, got 0" in capsys.readouterr().err


def test_refinement_survives_steps_without_loss():
    """The hinge on separable data: once a batch meets every margin its subgradient is 0;
    refine_from_runs floors such norms (NORM_FLOOR x the largest) instead of failing."""
    from lrcore.train.experiments import NORM_FLOOR, refine_from_runs

    runs = run_many(
        [RunConfig(task="svm", dataset="wine", steps=300, peak_lr=1.0, seed=s) for s in (0, 1)]
    )
    raw = np.mean([r.grad_norm_l2 for r in runs], axis=0)
    assert (raw == 0).any()
    shape, norms = refine_from_runs(runs)
    assert np.isfinite(shape).all() and shape.max() == pytest.approx(1.0)
    assert (
        norms.min() == pytest.approx(NORM_FLOOR * raw.max())
        and (norms[raw > 0] == raw[raw > 0]).all()
    )
