"""The rule follows the optimizer (issue 17): logs say which optimizer made them, load_log,
the CLI and both helpers use it; resume keeps the whole log; the scheduler pickles."""

import copy
import io
import pickle
from contextlib import redirect_stderr

import numpy as np
import pytest

pytest.importorskip("transformers")
import torch  # noqa: E402
from _tiny import TinyClassifier, hf_args, hf_dataset, loader  # noqa: E402
from transformers import Trainer  # noqa: E402

from lrcore import refine, stretch  # noqa: E402
from lrcore.cli import main  # noqa: E402
from lrcore.export import to_lambda_lr  # noqa: E402
from lrcore.integrations.hf import GradNormCallback, use_schedule  # noqa: E402
from lrcore.logs import load_log, optimizer_family  # noqa: E402
from lrcore.logs._write import write_log  # noqa: E402
from lrcore.train.recorder import GradNormRecorder  # noqa: E402


def _refine_cli(argv, tmp_path):
    out, err = tmp_path / "refined.csv", io.StringIO()
    with redirect_stderr(err):
        assert main([*argv, "--out", str(out)]) == 0
    return np.loadtxt(out, delimiter=",", skiprows=1)[:, 1], err.getvalue()


def test_hf_adamw_run_then_refine_with_no_flags_is_the_adam_rule_on_l1(tmp_path):
    run = tmp_path / "out"
    cb = GradNormCallback()
    Trainer(
        model=TinyClassifier(), args=hf_args(run, max_steps=40), train_dataset=hf_dataset(),
        callbacks=[cb],
    ).train()  # fmt: skip
    path = run / "grad_norms.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "step,grad_norm_l2,grad_norm_l1,loss,optimizer"  # no comment line
    assert {row.split(",")[-1] for row in lines[1:]} == {"AdamW"}  # on every row
    log = load_log(path)
    assert (log.metric, log.suggested_optimizer, log.optimizer) == ("grad_norm_l1", "adam", "adam")
    assert log.rule_note is None
    values, err = _refine_cli(["refine", str(path)], tmp_path)
    expected = refine(cb.recorder.l1, tau=0.1, optimizer="adam")
    np.testing.assert_allclose(values, expected, rtol=1e-9)
    assert not np.allclose(values, refine(cb.recorder.l2, tau=0.1, optimizer="sgd"), rtol=1e-3)
    assert "Adam rule on l1 norms (the log records AdamW" in err and "note:" not in err
    # an explicit choice wins
    values, err = _refine_cli(["refine", str(path), "--optimizer", "sgd"], tmp_path)
    np.testing.assert_allclose(values, refine(cb.recorder.l2, tau=0.1, optimizer="sgd"), rtol=1e-9)
    assert "SGD rule on l2 norms (optimizer=sgd as asked)" in err
    # the helper uses the recorded rule by default, and metric= / rule= override it
    args = hf_args(tmp_path / "run2", max_steps=40)
    for kw, norms, rule in (
        ({}, cb.recorder.l1, "adam"),
        ({"rule": "sgd"}, cb.recorder.l2, "sgd"),
        ({"metric": "grad_norm_l2", "rule": "sgd"}, cb.recorder.l2, "sgd"),
    ):
        trainer = Trainer(model=TinyClassifier(), args=args, train_dataset=hf_dataset())
        sched = use_schedule(trainer, path, **kw)
        want = refine(norms, tau=0.1, optimizer=rule)
        got = np.array([sched.lr_lambdas[0](t) for t in range(40)])
        np.testing.assert_allclose(got, want / want.max(), rtol=1e-9)


def test_sgd_recorder_log_gets_the_sgd_rule_on_l2(tmp_path):
    model = TinyClassifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = GradNormRecorder(model, optimizer=opt)
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    for t in range(5):
        opt.zero_grad()
        model(x * (t + 1), y)["loss"].backward()
        rec.record(t)
        opt.step()
    log = load_log(rec.save(tmp_path / "g.csv"))
    assert (log.metric, log.suggested_optimizer) == ("grad_norm_l2", "sgd")
    assert log.rule_text.startswith("SGD rule on l2 norms (the log records SGD)")
    np.testing.assert_array_equal(log.grad_norms, rec.l2)  # repr round-trips exactly


def test_optimizer_family_names():
    assert [optimizer_family(n) for n in ("AdamW", "adamw_torch_fused", "paged_adamw_8bit")] == [
        "adam"
    ] * 3
    assert optimizer_family(torch.optim.SGD) == "sgd"
    assert optimizer_family("LBFGS") is None


def test_both_norms_and_nothing_recorded_gives_a_note(tmp_path, capsys):
    rng = np.random.default_rng(0)
    l2 = 1 + rng.random(50)
    text = "step,grad_norm,grad_norm_l1\n" + "".join(
        f"{i},{a},{10 * a * (1 + i / 50)}\n" for i, a in enumerate(l2)
    )
    path = tmp_path / "tb.csv"
    path.write_text(text)
    log = load_log(path)
    assert log.suggested_optimizer == "sgd" and "does not say which optimizer ran" in log.rule_note
    assert "--optimizer adam" in log.rule_note
    assert main(["refine", str(path), "--out", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: the log holds l1 and l2 norms") and "SGD rule on l2" in err
    log = load_log(path, optimizer="adam")
    assert log.metric == "grad_norm_l1" and log.rule_note is None


def test_hf_trainer_state_says_adam_needs_l1(tmp_path, capsys):
    path = write_log(tmp_path / "trainer_state.json", np.arange(10, 110, 10), np.ones(10) + 0.1,
                     "hf_trainer")  # fmt: skip
    log = load_log(path)
    assert log.suggested_optimizer == "sgd"
    assert "Adam's rule needs l1 norms, which Hugging Face does not log" in log.rule_note
    assert main(["inspect", str(path)]) == 0
    assert "note: trainer_state.json holds l2 norms only" in capsys.readouterr().err


def test_resumed_and_gappy_logs_are_reported(tmp_path):
    late = load_log(b"step,grad_norm\n" + b"".join(b"%d,1.5\n" % s for s in range(100, 200)))
    (w,) = late.continuity_warnings()
    assert "starts at step 100, far after step 0" in w
    gap = load_log(
        b"step,grad_norm\n" + b"".join(b"%d,1.5\n" % s for s in [*range(20), *range(60, 80)])
    )
    (w,) = gap.continuity_warnings()
    assert "no points between steps 19 and 60" in w
    assert load_log(b"step,grad_norm\n10,1\n20,2\n30,3\n40,1\n").continuity_warnings() == []


def test_hf_resume_from_checkpoint_keeps_the_whole_log(tmp_path):
    run = tmp_path / "out"
    first = Trainer(
        model=TinyClassifier(), train_dataset=hf_dataset(), callbacks=[GradNormCallback()],
        args=hf_args(run, max_steps=40, save_strategy="steps", save_steps=20),
    )  # fmt: skip
    first.train()
    full = load_log(run / "grad_norms.csv")
    (run / "grad_norms.csv").unlink()
    cb = GradNormCallback()
    again = Trainer(
        model=TinyClassifier(), train_dataset=hf_dataset(), callbacks=[cb],
        args=hf_args(run, max_steps=40, save_strategy="steps", save_steps=20),
    )  # fmt: skip
    again.train(resume_from_checkpoint=str(run / "checkpoint-20"))
    log = load_log(run / "grad_norms.csv")
    assert log.steps.tolist() == list(range(40)) and log.report.duplicates == 0
    assert log.continuity_warnings() == []
    np.testing.assert_allclose(log.grad_norms[:20], full.grad_norms[:20], rtol=1e-12)


def test_scheduler_pickles_and_resumes_mid_run(tmp_path):
    values = np.linspace(1.0, 0.1, 30)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    sched = to_lambda_lr(values, opt)
    pickle.dumps(sched)
    copy.deepcopy(sched)
    for _ in range(12):
        opt.step()
        sched.step()
    torch.save(sched, tmp_path / "s.pt")
    torch.save(sched.state_dict(), tmp_path / "sd.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=False)
    assert loaded.last_epoch == 12
    # a fresh scheduler over a constant schedule takes the saved schedule and step back
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    fresh = to_lambda_lr(np.ones(5), opt2)
    fresh.load_state_dict(torch.load(tmp_path / "sd.pt"))
    got = []
    for _ in range(10):
        opt2.step()
        fresh.step()
        got.append(opt2.param_groups[0]["lr"])
    np.testing.assert_allclose(got, 0.5 * values[13:23] / values.max(), rtol=1e-12)


def test_lightning_max_epochs_trains_on_a_refined_schedule(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from lrcore.integrations.lightning import GradNormCallback as LCallback
    from lrcore.integrations.lightning import scheduler_config

    log = tmp_path / "g.csv"
    write_log(log, np.arange(50), np.linspace(2.0, 1.0, 50))
    lrs = []

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = TinyClassifier()

        def training_step(self, batch, i):
            lrs.append(self.optimizers().param_groups[0]["lr"])
            return self.model(*batch)["loss"]

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=0.01)
            return {"optimizer": opt, "lr_scheduler": scheduler_config(opt, log, self.trainer)}

    cb = LCallback(dirpath=tmp_path)
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[cb],
    )  # fmt: skip
    trainer.fit(Module(), loader(16))  # 256 / 16 = 16 steps
    # the log does not say which optimizer made it: the rule is the AdamW's that will run
    want = stretch(refine(np.linspace(2.0, 1.0, 50), tau=0.1, optimizer="adam"), 16,
                   steps=np.arange(50))  # fmt: skip
    np.testing.assert_allclose(np.array(lrs) / 0.01, want / want.max(), rtol=1e-9)
    saved = load_log(cb.path)
    assert saved.optimizer == "adam" and saved.metric == "grad_norm_l1" and len(saved) == 16
    with pytest.raises(ValueError, match="total_steps is -1"):
        scheduler_config(torch.optim.SGD(TinyClassifier().parameters(), lr=1), log, -1)


def test_lightning_ckpt_path_resume_keeps_the_whole_log(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from _tiny import lightning_module

    from lrcore.integrations.lightning import GradNormCallback as LCallback

    def trainer(cb, ckpt=True):
        from lightning.pytorch.callbacks import ModelCheckpoint

        return pl.Trainer(
            max_steps=30, accelerator="cpu", logger=False, enable_progress_bar=False,
            enable_model_summary=False, default_root_dir=tmp_path,
            callbacks=[cb, ModelCheckpoint(dirpath=tmp_path / "ck", every_n_train_steps=10,
                                           save_top_k=-1)],
        )  # fmt: skip

    trainer(LCallback(dirpath=tmp_path / "a")).fit(lightning_module(), loader(8))
    ckpts = sorted((tmp_path / "ck").glob("*step=10*.ckpt"))
    cb = LCallback(dirpath=tmp_path / "b")
    trainer(cb).fit(lightning_module(), loader(8), ckpt_path=str(ckpts[0]))
    log = load_log(cb.path)
    assert log.steps.tolist() == list(range(30)) and log.optimizer == "sgd"


def test_version(capsys):
    from lrcore import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lrcore {__version__}"
