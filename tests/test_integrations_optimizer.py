"""Run 2 is run 1 but for the schedule (issue 25): the helpers keep the optimizer the framework
builds (groups, betas, eps, optim) and attach only the schedule; compared with the
framework's own objects on a tiny GPT-2 and a plain torch module."""

import warnings

import numpy as np
import pytest

pytest.importorskip("transformers")
import torch  # noqa: E402
from _tiny import TinyClassifier, hf_args, hf_dataset  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback  # noqa: E402

from lrcore import refine  # noqa: E402
from lrcore.integrations.hf import optimizers, use_schedule  # noqa: E402

VOCAB, LEN = 32, 12


def gpt2(seed: int = 0):
    """A tiny GPT-2 (28 tensors: 18 biases and LayerNorm weights), no dropout, no download."""
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=VOCAB, n_positions=LEN, n_embd=16, n_layer=2, n_head=2,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(cfg)


def lm_dataset(n: int = 96):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (n, LEN), generator=g)
    return [{"input_ids": x, "labels": x} for x in ids]


MODELS = {"gpt2": (gpt2, lm_dataset), "torch": (TinyClassifier, hf_dataset)}
ARGS = {  # default AdamW (adamw_torch_fused), non-default Adam args, SGD, Adafactor
    "default": {},
    "adam_args": dict(adam_beta1=0.8, adam_beta2=0.95, adam_epsilon=1e-6, weight_decay=0.1),
    "sgd": dict(optim="sgd", weight_decay=0.01),
    "adafactor": dict(optim="adafactor", weight_decay=0.05),
}


def _trainer(tmp_path, model, kind, cls=Trainer, **kw):
    args = hf_args(tmp_path / "out", learning_rate=0.01, **{**ARGS[kind], **kw})
    return cls(model=model, args=args, train_dataset=MODELS[model_name(model)][1]())


def model_name(model) -> str:
    return "gpt2" if isinstance(model, GPT2LMHeadModel) else "torch"


def _groups(opt):
    """Per group: the parameter ids and every hyperparameter but the lr the schedule sets."""
    skip = {"params", "lr", "initial_lr"}
    return [
        ({id(p) for p in g["params"]}, {k: v for k, v in g.items() if k not in skip})
        for g in opt.param_groups
    ]


def _with_helper(helper, trainer):
    values = np.linspace(1.0, 0.1, trainer.args.max_steps)
    if helper == "use_schedule":
        use_schedule(trainer, values)
        return trainer.optimizer, trainer.lr_scheduler
    with pytest.warns(DeprecationWarning, match="use_schedule"):
        return optimizers(trainer.model, trainer.args, values)


@pytest.mark.parametrize("helper", ["use_schedule", "optimizers"])
@pytest.mark.parametrize("kind", list(ARGS))
@pytest.mark.parametrize("name", list(MODELS))
def test_the_helpers_optimizer_is_the_trainers(tmp_path, name, kind, helper):
    model = MODELS[name][0]()
    ours, sched = _with_helper(helper, _trainer(tmp_path, model, kind))
    theirs = _trainer(tmp_path, model, kind).create_optimizer()  # the Trainer's own
    assert type(ours) is type(theirs)
    assert _groups(ours) == _groups(theirs)  # same ids per group, weight decay, betas, eps...
    assert {k: v for k, v in ours.defaults.items() if k != "lr"} == {
        k: v for k, v in theirs.defaults.items() if k != "lr"
    }
    peak = 0.01  # args.learning_rate
    assert [g["initial_lr"] for g in ours.param_groups] == [peak, peak]
    assert theirs.param_groups[0]["lr"] == peak and sched.lr_lambdas[0](0) == 1.0
    (decay, d), (no_decay, nd) = _groups(ours)
    assert (d["weight_decay"], nd["weight_decay"]) == (ARGS[kind].get("weight_decay", 0.0), 0.0)
    if name == "gpt2":  # biases and LayerNorm weights: no decay (the 18 of 28)
        assert (len(decay), len(no_decay)) == (10, 18)
    if kind == "adam_args":
        assert (d["betas"], d["eps"]) == ((0.8, 0.95), 1e-6)
    # what the old helper built (AdamW on every tensor, default betas) is not the Trainer's
    old = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=d["weight_decay"])
    assert _groups(old) != _groups(theirs)


class Lrs(TrainerCallback):
    def __init__(self):
        self.lrs = []

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kw):
        self.lrs.append([g["lr"] for g in optimizer.param_groups])


def _factor(values):
    peak, n = max(values), len(values)
    return lambda t: values[min(t, n - 1)] / peak


class OwnSchedule(Trainer):
    """The Trainer's documented extension point: it builds its optimizer when and how it
    always does; only the scheduler is a LambdaLR over the given values."""

    values: list = []

    def create_scheduler(self, num_training_steps, optimizer=None):
        if self.lr_scheduler is None:
            opt = optimizer if optimizer is not None else self.optimizer
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(opt, _factor(self.values))
        return self.lr_scheduler


def _train(trainer):
    spy = Lrs()
    trainer.add_callback(spy)
    trainer.train()
    flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    return flat, np.array(spy.lrs)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,kind", [("gpt2", "adam_args"), ("gpt2", "adafactor"), ("torch", "sgd")]
)
def test_run_2_is_run_1_but_for_the_schedule(tmp_path, name, kind):
    make, steps = MODELS[name][0], 16
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.random(steps))[::-1].tolist()  # any decreasing schedule
    ours = _trainer(tmp_path, make(), kind, max_steps=steps)
    use_schedule(ours, values)
    w_ours, lr_ours = _train(ours)
    OwnSchedule.values = values
    w_hf, lr_hf = _train(_trainer(tmp_path, make(), kind, OwnSchedule, max_steps=steps))
    want = 0.01 * np.array(values) / max(values)
    np.testing.assert_allclose(lr_ours, np.c_[want, want], rtol=1e-12)
    np.testing.assert_allclose(lr_hf, lr_ours, rtol=1e-12)
    torch.testing.assert_close(w_ours, w_hf, rtol=0, atol=1e-6)
    if kind == "adam_args":  # the old helper's optimizer on the same schedule: another run
        old = _trainer(tmp_path, make(), kind, max_steps=steps)
        opt = torch.optim.AdamW(old.model.parameters(), lr=0.01, weight_decay=0.1)
        old.optimizer = opt
        old.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(opt, _factor(values))
        w_old, _ = _train(old)
        assert (w_old - w_hf).abs().max() > 1e-4


def _unrecorded_log(path, steps=40):
    """Both norms and no optimizer: the rule must come from the optimizer that will run."""
    rng = np.random.default_rng(0)
    l2 = 1 + rng.random(steps)
    l1 = 10 * l2 * np.linspace(1, 3, steps)
    text = "step,grad_norm_l2,grad_norm_l1\n" + "".join(
        f"{i},{float(a)!r},{float(b)!r}\n" for i, (a, b) in enumerate(zip(l2, l1, strict=True))
    )
    path.write_text(text)
    return l2, l1


def _recorded_sgd_log(path, steps=40):
    """A log whose first line records SGD (lrcore's own header, which every version reads)."""
    l2, l1 = _unrecorded_log(path, steps)
    path.write_text("# lrcore: optimizer=sgd (SGD)\n" + path.read_text())
    return path, l2


@pytest.mark.parametrize("kind,rule", [("default", "adam"), ("sgd", "sgd")])
def test_the_rule_follows_the_trainers_optimizer_when_the_log_does_not_say(tmp_path, kind, rule):
    l2, l1 = _unrecorded_log(tmp_path / "norms.csv")
    trainer = _trainer(tmp_path, TinyClassifier(), kind, max_steps=40)
    sched = use_schedule(trainer, tmp_path / "norms.csv")
    want = refine(l1 if rule == "adam" else l2, tau=0.1, optimizer=rule)
    got = [sched.lr_lambdas[0](t) for t in range(40)]
    np.testing.assert_allclose(got, want / want.max(), rtol=1e-9)
    other = refine(l2 if rule == "adam" else l1, tau=0.1, optimizer=rule)
    assert not np.allclose(got, other / other.max(), rtol=1e-3)
    # a log that records its optimizer keeps its rule (SGD here, whatever runs now)
    path, rec_l2 = _recorded_sgd_log(tmp_path / "sgd.csv")
    sched = use_schedule(_trainer(tmp_path, TinyClassifier(), "default", max_steps=40), path)
    want = refine(rec_l2, tau=0.1, optimizer="sgd")
    got = [sched.lr_lambdas[0](t) for t in range(40)]
    np.testing.assert_allclose(got, want / want.max(), rtol=1e-9)


def test_use_schedule_errors(tmp_path):
    trainer = _trainer(tmp_path, TinyClassifier(), "default", max_steps=-1, num_train_epochs=1)
    with pytest.raises(ValueError, match=r"use_schedule: TrainingArguments.max_steps must be > 0"):
        use_schedule(trainer, np.ones(3))
    assert trainer.lr_scheduler is None
    sched = use_schedule(trainer, np.ones(32), total_steps=32)  # 256 / 8 = 32 steps, one epoch
    assert trainer.lr_scheduler is sched
    with pytest.raises(ValueError, match=r"schedule_values: the schedule has 3 steps but the run"):
        use_schedule(_trainer(tmp_path, TinyClassifier(), "default", max_steps=5), np.ones(3))
    with pytest.raises(ValueError, match=r"use_schedule: trainer must be a transformers.Trainer"):
        use_schedule(object(), np.ones(3))
    init = Trainer(
        model_init=lambda: TinyClassifier(), args=hf_args(tmp_path), train_dataset=hf_dataset()
    )
    with pytest.raises(ValueError, match=r"use_schedule: the Trainer has a model_init"):
        use_schedule(init, np.ones(12))


def test_a_second_train_keeps_the_schedule(tmp_path):
    trainer = _trainer(tmp_path, TinyClassifier(), "default", max_steps=6)
    trainer.train()  # the Trainer's own linear schedule, which it rebuilds on each train()
    values = np.linspace(1.0, 0.5, 6)
    use_schedule(trainer, values)
    spy = Lrs()
    trainer.add_callback(spy)
    trainer.train()
    np.testing.assert_allclose(np.array(spy.lrs)[:, 0], 0.01 * values, rtol=1e-12)


def test_optimizers_warns_where_it_is_called(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimizers(TinyClassifier(), hf_args(tmp_path, max_steps=4), np.ones(4))
    (w,) = [w for w in caught if w.category is DeprecationWarning]
    assert w.filename == __file__ and "use_schedule(trainer, schedule)" in str(w.message)


def test_lightning_scheduler_config_leaves_the_optimizer_as_built(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from _tiny import loader

    from lrcore.integrations.lightning import scheduler_config

    values, seen = np.linspace(1.0, 0.2, 10), {"lrs": []}

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = TinyClassifier()

        def training_step(self, batch, i):
            seen["lrs"].append([g["lr"] for g in self.optimizers().param_groups])
            return self.model(*batch)["loss"]

        def configure_optimizers(self):
            named = list(self.named_parameters())
            opt = torch.optim.AdamW(
                [
                    {"params": [p for n, p in named if n.endswith("weight")]},
                    {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": 0.0},
                ],
                lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1,
            )  # fmt: skip
            seen["opt"], seen["built"] = opt, _groups(opt)
            config = scheduler_config(opt, values, self.trainer)
            seen["attached"] = _groups(opt)
            return {"optimizer": opt, "lr_scheduler": config}

    trainer = pl.Trainer(
        max_steps=10, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(Module(), loader(8))
    (opt,) = trainer.optimizers
    assert opt is seen["opt"]  # the user's optimizer, not a copy
    assert seen["attached"] == seen["built"] == _groups(opt)  # groups, betas, eps, decay
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.01, 0.01]  # the built lr: peak
    np.testing.assert_allclose(seen["lrs"], 0.01 * np.c_[values, values], rtol=1e-12)


@pytest.mark.parametrize("make,rule", [(torch.optim.AdamW, "adam"), (torch.optim.SGD, "sgd")])
def test_lightning_rule_follows_the_optimizer_when_the_log_does_not_say(tmp_path, make, rule):
    pytest.importorskip("lightning.pytorch")
    from lrcore.integrations.lightning import scheduler_config

    l2, l1 = _unrecorded_log(tmp_path / "norms.csv")
    opt = make(TinyClassifier().parameters(), lr=0.1)
    sched = scheduler_config(opt, tmp_path / "norms.csv", 40)["scheduler"]
    want = refine(l1 if rule == "adam" else l2, tau=0.1, optimizer=rule)
    got = [sched.lr_lambdas[0](t) for t in range(40)]
    np.testing.assert_allclose(got, want / want.max(), rtol=1e-9)


@pytest.mark.parametrize("rule,optim", [("sgd", "sgd"), (None, "adamw_torch_fused")])
def test_the_hf_snippet_keeps_the_trainers_optimizer(tmp_path, rule, optim):
    """``lrcore refine --as hf``: its usage lines, run as written (``...`` filled in), train
    the optimizer the Trainer builds on the schedule."""
    from transformers import TrainingArguments

    from lrcore.export import to_snippet

    values = [1.0, 0.8, 0.5, 0.2]
    text = to_snippet(values, flavour="hf", optimizer=rule)
    usage = "\n".join(line[4:] for line in text.splitlines() if line.startswith("#   "))
    usage = usage.replace("TrainingArguments(..., ", "TrainingArguments(OUT, **FLAGS, ")
    usage = usage.replace(", ...)", ", train_dataset=hf_dataset(), callbacks=[spy])")
    model, spy = TinyClassifier(), Lrs()
    flags = dict(report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True)
    ns = dict(torch=torch, Trainer=Trainer, TrainingArguments=TrainingArguments, FLAGS=flags,
              OUT=str(tmp_path), hf_dataset=hf_dataset, model=model, spy=spy, PEAK_LR=0.01)  # fmt: skip
    exec(compile(text + usage, "snippet", "exec"), ns)  # our own generated code
    np.testing.assert_allclose(np.array(spy.lrs)[:, 0], 0.01 * np.array(values), rtol=1e-12)
    trainer = ns["trainer"]
    assert trainer.args.optim == optim
    theirs = Trainer(model=model, args=trainer.args, train_dataset=hf_dataset()).create_optimizer()
    ours = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate's wrapper
    assert type(ours) is type(theirs) and _groups(ours) == _groups(theirs)
