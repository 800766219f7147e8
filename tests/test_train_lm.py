"""task="lm": the Markov source, its entropy rate, the transformer, excess-loss scoring, the CLI.

Every run here is tiny (seconds). Reproducibility across CPU kernels:
``../shared/tools/on-other-cpus tests/test_train_lm.py``.
"""

import itertools

import numpy as np
import pytest
import torch

from lrcore.train import RunConfig, run_many, train
from lrcore.train.data import MarkovSource, lm_dataset, markov_source
from lrcore.train.models import TinyLM

TINY = dict(
    steps=12, lm_d_model=16, lm_layers=1, lm_seq_len=8, lm_heldout=16, eval_every=6, device="cpu"
)


def _brute_force_rate(P: np.ndarray, V: int, k: int, n: int) -> float:
    """Entropy rate of an order-k chain with rows P (indexed by the context tuple, oldest token
    first) as H(X_1..X_n) - H(X_1..X_{n-1}) from every sequence of length n, the starting
    context distribution found by iterating the chain from uniform (no eigen-solver)."""
    contexts = list(itertools.product(range(V), repeat=k))
    row = {c: P[sum(t * V ** (k - 1 - i) for i, t in enumerate(c))] for c in contexts}
    dist = {c: 1.0 / len(contexts) for c in contexts}
    for _ in range(5000):
        new = dict.fromkeys(contexts, 0.0)
        for c, p in dist.items():
            for x in range(V):
                new[c[1:] + (x,)] += p * row[c][x]
        dist = new

    def block_entropy(m):
        h = 0.0
        for seq in itertools.product(range(V), repeat=m):
            p = dist[seq[:k]]
            for t in range(k, m):
                p *= row[seq[t - k : t]][seq[t]]
            h -= p * np.log(p)
        return h

    return block_entropy(n) - block_entropy(n - 1)


@pytest.mark.parametrize(
    ("V", "k", "alpha", "seed"), [(2, 1, 0.5, 0), (3, 2, 0.5, 1), (2, 3, 2, 2)]
)
def test_entropy_rate_matches_brute_force(V, k, alpha, seed):
    src = MarkovSource(V, k, alpha, seed)
    assert src.P.shape == (V**k, V) and np.allclose(src.P.sum(1), 1)
    assert src.stationary @ src.context_matrix() == pytest.approx(src.stationary, abs=1e-12)
    assert src.entropy_rate == pytest.approx(_brute_force_rate(src.P, V, k, k + 3), abs=1e-9)
    assert 0 < src.entropy_rate < np.log(V)


def test_true_model_cross_entropy_is_the_entropy_rate_in_expectation():
    src = MarkovSource(16, 2, 0.5, 4)
    seqs = src.sample(4000, 40, np.random.default_rng(0))
    losses = src.token_losses(seqs)  # (n, 38)
    per_seq = losses.mean(1)
    se = per_seq.std(ddof=1) / np.sqrt(len(per_seq))
    assert abs(per_seq.mean() - src.entropy_rate) < 4 * se
    # every position is stationary: the first scored token has the same expected loss as the last
    for col in (0, losses.shape[1] - 1):
        col_se = losses[:, col].std(ddof=1) / np.sqrt(len(losses))
        assert abs(losses[:, col].mean() - src.entropy_rate) < 4 * col_se
    # and a wrong model (uniform) pays more: log V > entropy rate
    assert np.log(16) - per_seq.mean() > 10 * se


def test_shapes_and_recorded_norms():
    cfg = RunConfig.for_task("lm", **TINY)
    data = lm_dataset(cfg)
    L, k = cfg.lm_seq_len, cfg.lm_order
    assert data.X_train.shape == (cfg.steps * cfg.batch_size, L)
    assert data.y_train.shape == (cfg.steps * cfg.batch_size, L - k + 1)
    assert data.X_test.shape == (cfg.lm_heldout, L) and data.y_test.shape == (
        cfg.lm_heldout,
        L - k + 1,
    )
    assert data.X_train.dtype == np.uint8 and data.X_train.max() < cfg.lm_vocab
    # targets are the inputs shifted by one, from position k on
    assert np.array_equal(data.y_train[:, :-1], data.X_train[:, k:])
    model = TinyLM(3, 16, L, 16, 1, 4, k, [0, 1, 2], "cpu")
    assert all(p.shape[0] == 3 for p in model.params)
    logits = model.logits(torch.from_numpy(np.stack([data.X_test[:5]] * 3)))
    assert logits.shape == (3, 5, L - k + 1, 16)
    res = train(cfg)
    assert res.ok and len(res.loss) == len(res.grad_norm_l1) == len(res.grad_norm_l2) == cfg.steps
    # l1 >= l2 >= l1 / sqrt(P) for every step's gradient
    n_params = sum(int(np.prod(p.shape[1:])) for p in model.params)
    assert np.all(res.grad_norm_l1 >= res.grad_norm_l2)
    assert np.all(res.grad_norm_l2 >= res.grad_norm_l1 / np.sqrt(n_params))
    assert res.config.norm_type == "l1" and res.config.optimizer == "adamw"
    assert list(res.evals.step) == [0, 6, 12]
    assert res.lr[: cfg.warmup_steps + 1].argmax() == cfg.warmup_steps  # warm-up, then decay


def test_suboptimality_nonnegative_up_to_its_noise_and_se_is_right():
    cfg = RunConfig.for_task("lm", **{**TINY, "steps": 60, "lm_heldout": 64}, peak_lr=1e-2)
    res = train(cfg)
    f = res.final
    assert f["f_star"] == pytest.approx(lm_dataset(cfg).reference_test_loss.mean())
    assert f["suboptimality"] == pytest.approx(f["objective"] - f["f_star"])
    assert 0 < f["suboptimality_se"] < 0.2
    assert f["suboptimality"] >= -3 * f["suboptimality_se"]
    assert f["suboptimality"] < res.evals.objective.iloc[0] - f["f_star"]  # it learned
    # the s.e. is that of per-sequence (model - true) differences, recomputed here
    data = lm_dataset(cfg)
    init = TinyLM(1, 16, 8, 16, 1, 4, 2, [cfg.seed], "cpu")
    trained = _final_params(cfg)
    with torch.no_grad():
        for p, q in zip(init.params, trained, strict=True):
            p.copy_(q)
        per_seq = (
            init.example_losses(
                init.logits(torch.from_numpy(data.X_test[None])),
                torch.from_numpy(data.y_test[None]),
            )[0]
            .double()
            .numpy()
        )
    diff = per_seq - data.reference_test_loss
    assert diff.mean() == pytest.approx(f["suboptimality"], rel=1e-5)
    assert diff.std(ddof=1) / np.sqrt(len(diff)) == pytest.approx(f["suboptimality_se"], rel=1e-3)


def _final_params(cfg):
    """The parameters of ``cfg``'s run after training (captured from the loop's model)."""
    import lrcore.train.loop as loop

    seen = {}
    orig = loop.build_model

    def capture(*a, **kw):
        seen["model"] = orig(*a, **kw)
        return seen["model"]

    loop.build_model = capture
    try:
        train(cfg)
    finally:
        loop.build_model = orig
    return [p.detach()[0:1] for p in seen["model"].params]


def test_deterministic_from_the_seed_on_any_cpu():
    cfg = RunConfig.for_task("lm", precision="float64", seed=3, **TINY)
    data = lm_dataset(cfg)
    # tokens and the true model come from numpy only: exact on every machine
    assert int(data.X_train.astype(np.int64).sum()) == 11360
    assert int(data.X_test.astype(np.int64).sum()) == 936
    assert float(data.reference_test_loss.mean()) == pytest.approx(1.9633544935546494, abs=1e-12)
    a, b = run_many([cfg, cfg.with_(peak_lr=cfg.peak_lr)])
    assert np.array_equal(a.grad_norm_l1, b.grad_norm_l1)
    # committed values from this machine's default kernels, float64: 1e-8 relative elsewhere
    assert a.final["objective"] == pytest.approx(2.7696275434449555, rel=1e-8)
    assert a.grad_norm_l1[-1] == pytest.approx(13.993284122388204, rel=1e-8)
    assert a.loss[-1] == pytest.approx(2.7571837511102726, rel=1e-8)
    other = train(cfg.with_(seed=4))
    assert other.final["objective"] != a.final["objective"]
    assert markov_source(cfg) is markov_source(cfg.with_(peak_lr=1.0))  # cached per source


def test_config_checks():
    with pytest.raises(ValueError, match="lm_heads"):
        RunConfig.for_task("lm", lm_d_model=10, lm_heads=4)
    with pytest.raises(ValueError, match="lm_seq_len"):
        RunConfig.for_task("lm", lm_seq_len=2, lm_order=2)
    with pytest.raises(ValueError, match="dataset"):
        RunConfig(task="lm", dataset="digits")
    assert RunConfig.for_task("lm", steps=200).warmup_steps == 10


SMALL = ["--steps", "30", "--lm-d-model", "16", "--lm-layers", "1", "--lm-seq-len", "8"]
SMALL += ["--lm-heldout", "32", "--lm-vocab", "8", "--lm-order", "2", "--device", "cpu"]


def test_cli_compare_lm_reports_excess_loss_and_grid_edges(capsys):
    from lrcore.cli import main

    # lrs far below the useful range: every schedule's best is the largest lr tried
    args = ["compare", "--task", "lm", "--schedules", "linear,cosine,refined"]
    args += ["--seeds", "0,1,2", "--peak-lrs", "1e-4,2e-4", "--no-extend", *SMALL]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "suboptimality_mean" in lines[0] and "at_grid_edge" in lines[0]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:4]}
    assert set(rows) == {"linear", "cosine", "refined"}
    header = lines[0].split()
    for row in rows.values():
        assert row[header.index("at_grid_edge")] == "True"
        assert float(row[header.index("suboptimality_mean")]) > 0  # an untrained model pays
    assert "excess loss" in out


def test_cli_run_lm(capsys, tmp_path):
    from lrcore.cli import main
    from lrcore.logs import load_log

    assert main(["run", "--task", "lm", *SMALL, "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "finished" in out
    assert load_log(tmp_path / "r").report.rows_read == 30
