"""The README's framework sections run as written; its conventions table is computed here."""

import re
from pathlib import Path

import numpy as np
import pytest

from lrcore import build_schedule, evaluate

README = (Path(__file__).parents[1] / "README.md").read_text()


def _block(heading: str) -> str:
    part = README.split(f"### {heading}\n", 1)[1]
    return part.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "heading,module", [("Hugging Face Trainer", "transformers"), ("Lightning", "lightning")]
)
def test_framework_section_runs_and_writes_a_log(heading, module, tmp_path, monkeypatch):
    pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(_block(heading), "README.md", "exec"), ns)  # the project's own documentation
    from lrcore import refine, stretch
    from lrcore.logs import load_log

    folder, steps = ("hf_run", 30) if module == "transformers" else ("pl_run", 32)
    path = tmp_path / folder / "grad_norms.csv"
    assert path.read_text().startswith("step,grad_norm_l2,grad_norm_l1,loss,optimizer\n0,")
    log = load_log(path)  # no flags: the recorded AdamW picks l1 and the Adam rule
    assert (log.metric, log.suggested_optimizer, len(log)) == ("grad_norm_l1", "adam", steps)
    # the second run trained on that refinement, over its own length (Lightning: max_epochs)
    if module == "transformers":
        assert ns["norms"].columns.tolist() == [
            "step", "grad_norm_l2", "grad_norm_l1", "loss", "optimizer"
        ]  # fmt: skip
        assert set(ns["norms"]["optimizer"]) == {"AdamW"} and ns["norms"]["loss"].notna().all()
        assert len(ns["norms"]) == steps
        sched = ns["trainer"].lr_scheduler
        # run 2's optimizer is the Trainer's own: Linear's weight decayed, its bias not
        args, groups = ns["args"], ns["trainer"].optimizer.param_groups
        assert [(len(g["params"]), g["weight_decay"]) for g in groups] == [
            (1, args.weight_decay),
            (1, 0.0),
        ]
        assert groups[1]["params"][0] is ns["trainer"].model.net.bias
        assert groups[0]["betas"] == (args.adam_beta1, args.adam_beta2)
        assert groups[0]["initial_lr"] == args.learning_rate
    else:
        assert ns["refined"].trainer.global_step == steps
        sched = ns["refined"].trainer.lr_scheduler_configs[0].scheduler
    expected = stretch(refine(log.grad_norms, tau=0.1, optimizer="adam"), steps, steps=log.steps)
    np.testing.assert_allclose(sched.lr_lambdas[0].factors, expected / expected.max(), rtol=1e-12)
    sgd = stretch(refine(load_log(path, optimizer="sgd").grad_norms, tau=0.1), steps)
    assert not np.allclose(expected / expected.max(), sgd / sgd.max(), rtol=1e-3)


def test_optax_section_runs():
    optax = pytest.importorskip("optax")
    ns: dict = {}
    exec(compile(_block("optax (and copy-paste snippets)"), "README.md", "exec"), ns)
    state = ns["optimizer"].init({"w": np.zeros(3)})
    assert state is not None and isinstance(ns["optimizer"], optax.GradientTransformation)
    assert float(ns["namespace"]["lr_factor"](2_999)) == pytest.approx(0.1, abs=1e-6)


def _table() -> dict[str, list[str]]:
    # to the next section
    part = README.split("### Schedule conventions", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in part.splitlines() if r.startswith("| ") and not r.startswith("| schedule")]
    return {
        cells[0]: cells[1:4]
        for cells in ([c.strip() for c in r.strip("|").split("|")] for r in rows)
    }


def test_conventions_table_is_what_the_registry_computes():
    T = 100
    table = _table()
    assert {"linear", "cosine", "wsd", "inverse_sqrt", "one_cycle"} <= set(table)
    for name, (at0, last, after) in table.items():
        v = evaluate(build_schedule(name, T), T + 30)
        for cell, value in [(at0, v[0]), (last, v[T - 1])]:
            assert float(cell) == pytest.approx(value, rel=5e-3, abs=1e-12), (name, cell, value)
        if re.fullmatch(r"[0-9.e-]+", after):
            assert np.all(v[T:] == pytest.approx(float(after), rel=5e-3, abs=1e-12)), name
        else:  # "decays on" / "cycles on": not constant after T
            assert np.ptp(v[T:]) > 0, name
    w = evaluate(build_schedule("linear", 20, warmup_steps=5), 20)
    assert w[0] == 0 and w[1] == pytest.approx(0.2)  # warm-up from 0 by default (HF, optax, torch)
