"""GradNormRecorder's plain CSV (loss, optimizer, groups), flush as the run goes, compact
state; to_lambda_lr's compact state_dict; Lightning's callback flushes and records the loss."""

import pickle

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
from _tiny import TinyClassifier, loader  # noqa: E402

from lrcore.export import STATE_MAX_ERROR, to_lambda_lr  # noqa: E402
from lrcore.train.recorder import GradNormRecorder  # noqa: E402


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 8),
        torch.nn.LayerNorm(8), torch.nn.Linear(8, 2),
    )  # fmt: skip


def _train(rec, model, steps, start=0, flush_every=None, loss_at=lambda t: True):
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(start)
    for t in range(start, start + steps):
        opt.zero_grad()
        loss = model(torch.randn(16, 4, generator=g)).pow(2).mean()
        loss.backward()
        rec.record(t, loss=loss if loss_at(t) else None)
        opt.step()
        if flush_every and (t + 1) % flush_every == 0:
            rec.flush()


def test_groups_normalized_split_the_norms_and_add_up_to_the_total(tmp_path):
    model = _net()
    rec = GradNormRecorder(model, optimizer="AdamW", groups="normalized", path=tmp_path / "g.csv")
    _train(rec, model, 6, loss_at=lambda t: t != 2)
    df = pd.read_csv(rec.flush())
    assert list(df.columns) == [
        "step", "grad_norm_l2", "grad_norm_l1", "loss", "optimizer",
        "grad_norm_l2_normalized", "grad_norm_l1_normalized",
        "grad_norm_l2_other", "grad_norm_l1_other",
    ]  # fmt: skip
    np.testing.assert_allclose(np.hypot(df.grad_norm_l2_normalized, df.grad_norm_l2_other),
                               df.grad_norm_l2, rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(df.grad_norm_l1_normalized + df.grad_norm_l1_other,
                               df.grad_norm_l1, rtol=1e-5)  # fmt: skip
    # the normalized group is the two hidden matrices: compare with a direct computation
    w = [model[0].weight.grad, model[2].weight.grad]
    assert df.grad_norm_l1_normalized.iloc[-1] == pytest.approx(
        float(sum(g.abs().sum() for g in w)), rel=1e-5
    )
    assert df["loss"].isna().tolist() == [False, False, True, False, False, False]
    assert set(df["optimizer"]) == {"AdamW"}


def test_groups_by_name_and_errors():
    model = _net()
    rec = GradNormRecorder(model, groups={"head": ["4.weight", "4.bias"]})
    assert rec.columns[-2:] == ["grad_norm_l2_head", "grad_norm_l1_head"]
    with pytest.raises(ValueError, match=r"GradNormRecorder: groups must be 'normalized'"):
        GradNormRecorder(model, groups="layers")
    with pytest.raises(ValueError, match=r"group 'x' names parameter 'nope', not in the model"):
        GradNormRecorder(model, groups={"x": ["nope"]})
    with pytest.raises(ValueError, match=r"a parameter is in two groups \(the second: 'b'\)"):
        GradNormRecorder(model, groups={"a": ["0.bias"], "b": ["0.bias"]})
    with pytest.raises(ValueError, match=r"group names must be 1-64 letters"):
        GradNormRecorder(model, groups={"a,b": ["0.bias"]})
    with pytest.raises(ValueError, match=r"not a trainable parameter of the model"):
        GradNormRecorder(model, groups={"a": [torch.nn.Parameter(torch.zeros(1))]})
    with pytest.raises(ValueError, match=r"loss must be one number, got a tensor of shape \(2,\)"):
        model(torch.randn(3, 4)).sum().backward()
        rec.record(0, loss=torch.ones(2))
    with pytest.raises(ValueError, match=r"flush: path is None and the recorder has no path"):
        rec.flush()


def test_flush_appends_only_new_rows_and_resume_rewrites_the_file(tmp_path):
    model = _net()
    path = tmp_path / "g.csv"
    rec = GradNormRecorder(model, optimizer="SGD", path=path)
    _train(rec, model, 10, flush_every=4)
    assert pd.read_csv(path)["step"].tolist() == list(range(8))  # the rows up to the last flush
    before = path.read_text()
    rec.flush()
    assert path.read_text().startswith(before)  # appended, not rewritten
    assert pd.read_csv(path)["step"].tolist() == list(range(10))
    # a killed run resumed from a state saved at step 6: the file is rewritten, 0..9 once each
    state = rec.state_dict()
    model2 = _net()
    again = GradNormRecorder(model2, path=path)
    again.load_state_dict(pickle.loads(pickle.dumps(state)), before=6)
    assert again.optimizer == "SGD" and again.steps.tolist() == list(range(6))
    _train(again, model2, 4, start=6)
    df = pd.read_csv(again.flush())
    assert df["step"].tolist() == list(range(10))
    np.testing.assert_array_equal(df["grad_norm_l1"][:6], rec.l1[:6])
    # the older list form (lrcore <= 0.1 checkpoints) still loads
    old = GradNormRecorder(_net())
    old.load_state_dict({"steps": [0, 1, 2], "l2": [1.0, 2.0, 3.0], "l1": [4.0, 5.0, 6.0]})
    assert old.l1.tolist() == [4.0, 5.0, 6.0] and np.isnan(old.loss).all()


def test_save_one_norm_keeps_loss_and_optimizer(tmp_path):
    model = _net()
    rec = GradNormRecorder(model, optimizer="AdamW", groups={"a": ["0.weight"]})
    _train(rec, model, 3)
    df = pd.read_csv(rec.save(tmp_path / "l1.csv", norm="l1"))
    assert list(df.columns) == ["step", "grad_norm_l1", "loss", "optimizer", "grad_norm_l1_a"]


def test_lambda_lr_state_is_a_description_and_restores_the_schedule():
    rng = np.random.default_rng(0)
    n = 200_000
    values = np.cumsum(rng.random(n))[::-1].copy()  # 200k distinct factors
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = to_lambda_lr(values, opt)
    state = sched.state_dict()
    desc = state["lr_lambdas"][0]
    assert len(desc["knot_steps"]) < n / 100  # not one float per step
    assert len(pickle.dumps(state)) < 100_000
    # into a scheduler over the same schedule: the exact factors stay
    same = to_lambda_lr(values, torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0))
    same.load_state_dict(state)
    t = np.arange(0, n, 977)
    exact = values[t] / values.max()
    assert [same.lr_lambdas[0](int(i)) for i in t] == exact.tolist()
    # into one over another schedule: the saved schedule, within STATE_MAX_ERROR of the peak
    other = to_lambda_lr(np.ones(5), torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0))
    other.load_state_dict(state)
    got = np.array([other.lr_lambdas[0](int(i)) for i in t])
    assert (
        np.abs(got - exact).max() <= STATE_MAX_ERROR
        and other.lr_lambdas[0](n + 5) == values[-1] / values.max()
    )
    # a state saved by older lrcore (every factor) loads exactly
    fresh = to_lambda_lr(np.ones(5), torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0))
    fresh.load_state_dict({**state, "lr_lambdas": [{"factors": [1.0, 0.25, 0.5]}]})
    assert [fresh.lr_lambdas[0](i) for i in range(4)] == [1.0, 0.25, 0.5, 0.5]


def test_lightning_flushes_at_log_steps_and_records_the_loss(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from _tiny import lightning_module

    from lrcore.integrations.lightning import GradNormCallback

    seen = {}

    class Peek(pl.Callback):  # what the file holds while the run goes
        def on_train_batch_end(self, trainer, *a):
            if trainer.global_step in (5, 12):
                seen.setdefault(trainer.global_step, len(pd.read_csv(tmp_path / "g.csv")))

    losses = []

    class Module(type(lightning_module())):
        def training_step(self, batch, i):
            loss = super().training_step(batch, i)
            losses.append(float(loss))
            return loss

    cb = GradNormCallback(dirpath=tmp_path, filename="g.csv", groups="normalized")
    trainer = pl.Trainer(
        max_steps=12, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=5,
        accumulate_grad_batches=2, callbacks=[cb, Peek()],
    )  # fmt: skip
    trainer.fit(Module(), loader(8))
    assert seen == {5: 5, 12: 10}  # flushed at steps 5 and 10, before the end
    df = pd.read_csv(cb.path)
    assert df["step"].tolist() == list(range(12)) and set(df["optimizer"]) == {"SGD"}
    # the loss of a step: the mean of its two accumulated batches' training_step losses
    np.testing.assert_allclose(df["loss"], np.mean(np.reshape(losses, (12, 2)), axis=1), rtol=1e-6)
    assert "grad_norm_l1_other" in df.columns  # TinyClassifier has no norm layer: all "other"
    np.testing.assert_allclose(df["grad_norm_l1_other"], df["grad_norm_l1"], rtol=1e-6)


def test_package_import_still_loads_no_torch():
    import subprocess
    import sys

    code = "import sys, lrcore; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert TinyClassifier  # the tiny models import without side effects
