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
    from lrcore.logs import load_log

    folder = "hf_run" if module == "transformers" else "pl_run"
    assert len(load_log(tmp_path / folder / "grad_norms.csv", metric="grad_norm_l1")) == 30


def test_optax_section_runs():
    optax = pytest.importorskip("optax")
    ns: dict = {}
    exec(compile(_block("optax (and copy-paste snippets)"), "README.md", "exec"), ns)
    state = ns["optimizer"].init({"w": np.zeros(3)})
    assert state is not None and isinstance(ns["optimizer"], optax.GradientTransformation)
    assert float(ns["namespace"]["lr_factor"](2_999)) == pytest.approx(0.1, abs=1e-6)


def _table() -> dict[str, list[str]]:
    part = README.split("### Schedule conventions", 1)[1]
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
