import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lrcore import evaluate, linear_decay, refine, stretch
from lrcore.cli import main
from lrcore.export import as_values, log_to_csv, to_csv, to_json, to_lambda_lr, to_snippet
from lrcore.logs import load_log


def test_csv_and_json_round_trip(tmp_path):
    v = refine(np.array([4, 2, 1, 1, 2.0]))
    text = to_csv(v, path=tmp_path / "s.csv", peak_lr=0.5)
    rows = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert text.startswith("step,lr\n")
    np.testing.assert_allclose(rows[:, 1], 0.5 * v)
    doc = json.loads(to_json(linear_decay(1.0, 4), total_steps=4, name="lin"))
    assert doc["lr"] == [1.0, 0.75, 0.5, 0.25] and doc["name"] == "lin"


def test_lambda_lr_drives_optimizer():
    v = np.array([0.5, 1.0, 0.25, 0.0])
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    sched = to_lambda_lr(v, opt)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(seen, [0.1, 0.2, 0.05, 0, 0, 0])


@pytest.mark.parametrize("n", [5, 50_000])
@pytest.mark.parametrize("flavour", ["torch", "hf"])
def test_snippet_rebuilds_schedule_without_lrcore(n, flavour):
    v = stretch(refine(np.r_[np.linspace(5, 1, 20), np.ones(80)]), n)
    ns = {}
    exec(to_snippet(v, flavour=flavour), ns)  # our own generated code
    got = np.array([ns["lr_factor"](t) for t in range(0, n, max(1, n // 997))])
    np.testing.assert_allclose(
        got, (v / v.max())[:: max(1, n // 997)], atol=1e-3 if n > 2000 else 1e-7
    )
    assert ns["TOTAL_STEPS"] == n


def test_log_round_trip(tmp_path):
    steps, g = np.array([0, 10, 20]), np.array([1.5, 2.25, 0.125])
    log_to_csv(steps, g, tmp_path / "g.csv")
    log = load_log(tmp_path / "g.csv")
    assert log.steps.tolist() == steps.tolist() and log.grad_norms.tolist() == g.tolist()


def test_as_values_errors():
    with pytest.raises(ValueError, match="needs total_steps"):
        as_values(linear_decay(1.0, 3))
    with pytest.raises(ValueError, match="use lrcore.stretch"):
        as_values([1.0, 0.0], total_steps=5)
    with pytest.raises(ValueError, match="flavour must be one of"):
        to_snippet([1.0, 0.0], flavour="jax")


def test_cli_refine_matches_library(tmp_path, capsys):
    g = np.r_[np.linspace(6, 1, 30), np.ones(70)]
    (tmp_path / "g.txt").write_text("\n".join(map(str, g)))
    assert main(["refine", str(tmp_path / "g.txt"), "--tau", "0.2", "--peak-lr", "0.3"]) == 0
    out, err = capsys.readouterr()
    rows = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(rows[:, 1], 0.3 * refine(g, 0.2, "sgd"), rtol=1e-9)
    assert rows[:, 0].tolist() == list(range(100))
    assert "peak at" in err and "halves at" in err


def test_cli_refine_steps_and_out(tmp_path, capsys):
    (tmp_path / "g.csv").write_text("step,grad_norm_l1\n0,3\n10,2\n20,1\n30,1\n")
    assert (
        main(["refine", str(tmp_path / "g.csv"), "--steps", "7", "--out", str(tmp_path / "o.csv")])
        == 0
    )
    rows = np.loadtxt(tmp_path / "o.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(rows[:, 1], stretch(refine([3, 2, 1, 1.0], optimizer="adam"), 7))
    assert "Adam rule on l1 norms" in capsys.readouterr().err


def test_cli_schedule(capsys):
    assert main(["schedule", "linear", "--total-steps", "4", "--peak-lr", "2"]) == 0
    rows = np.loadtxt(capsys.readouterr().out.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(rows[:, 1], 2 * evaluate(linear_decay(1.0, 4), 4))


@pytest.mark.parametrize(
    "argv,match",
    [
        (["refine", "/no/such/file.csv"], "no such file"),
        (["refine", "{bad}", "--tau", "3"], "tau must be in"),
        (
            ["schedule", "linear", "--total-steps", "0"],
            "--total-steps must be a whole number from 2",
        ),
        (
            ["schedule", "exponential", "--total-steps", "5", "--final-fraction", "0"],
            "must be >= 1e-12",
        ),
    ],
)
def test_cli_errors_are_one_line(argv, match, tmp_path, capsys):
    argv = [str(tmp_path / "g.csv") if a == "{bad}" else a for a in argv]
    (tmp_path / "g.csv").write_text("1\n2\n3\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrcore: error:") and match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_python_dash_m_and_console_script_work(tmp_path):
    (tmp_path / "g.csv").write_text("1\n2\n3\n")
    for cmd in ([sys.executable, "-m", "lrcore"], ["lrcore"]):
        r = subprocess.run(
            [*cmd, "inspect", str(tmp_path / "g.csv")], capture_output=True, text=True
        )
        assert r.returncode == 0 and "format:   text" in r.stdout
        r = subprocess.run(
            [*cmd, "inspect", str(tmp_path / "nope")], capture_output=True, text=True
        )
        assert r.returncode == 2 and "Traceback" not in r.stderr


def test_import_lrcore_stays_light_and_layering():
    code = (
        "import sys, lrcore, lrcore.logs, lrcore.cli, lrcore.export, lrcore.fit; "
        "print(sorted(m for m in ('torch', 'streamlit', 'plotly') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
    import pathlib

    for f in pathlib.Path(__file__).parents[1].joinpath("lrcore").rglob("*.py"):
        text = f.read_text()
        assert "import streamlit" not in text and "from app" not in text, f


def test_cli_bound_ranks_schedules(tmp_path, capsys):
    from lrcore import best_scale

    g = np.r_[np.linspace(5, 1, 50), np.ones(150)]
    (tmp_path / "g.csv").write_text(
        "step,grad_norm\n" + "".join(f"{i},{v}\n" for i, v in enumerate(g))
    )
    assert main(["bound", str(tmp_path / "g.csv"), "--schedules", "linear,constant"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["schedule", "bound", "best_peak_lr", "vs_linear"]
    rows = {ln.split()[0]: float(ln.split()[1]) for ln in lines[1:]}
    assert set(rows) == {"refined", "linear", "constant"}
    assert rows["refined"] == pytest.approx(best_scale(refine(g), g)[0], rel=1e-3)
    assert rows["refined"] < min(rows["linear"], rows["constant"])


def test_readme_quickstart_runs(monkeypatch, capsys):
    from pathlib import Path

    root = Path(__file__).parents[1]
    text = (root / "README.md").read_text()
    code = text.split("```python", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 15
    monkeypatch.chdir(root)
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)  # the project's own documentation
    assert ns["scheduler"].get_last_lr()[0] == pytest.approx(0.1 * ns["lrs"][0] / ns["lrs"].max())
    assert "refined" in capsys.readouterr().out


def test_csv_rows_formatted_in_parallel_slices_equal_one_pass(monkeypatch):
    """csv_bytes formats slices of rows in threads; cut into uneven slices, the file is the
    same bytes as formatted in one pass, and so is json_bytes."""
    from lrcore import export

    values = np.linspace(1.0, 0.0, 23) ** 1.5
    whole, doc = export.csv_bytes(values, peak_lr=0.1), export.json_bytes(values, peak_lr=0.1)
    monkeypatch.setattr(export, "_ROWS_PER_THREAD", 7)
    assert export.csv_bytes(values, peak_lr=0.1) == whole
    assert export.json_bytes(values, peak_lr=0.1) == doc
    lines = whole.decode().splitlines()
    assert lines[0] == "step,lr" and len(lines) == 24 and lines[-1] == "22,0"
    assert json.loads(doc)["lr"] == (0.1 * values).tolist()  # exact: shortest round-trip form


def test_json_lrs_are_exact_for_any_floats():
    rng = np.random.default_rng(0)
    values = np.r_[10.0 ** rng.uniform(-300, 300, 5000), rng.random(5000), 0.0, 1.0]
    doc = json.loads(to_json(values, peak_lr=1.0, name="x"))
    assert doc["lr"] == values.tolist() and doc["total_steps"] == len(values)
    assert doc["name"] == "x" and doc["peak_lr"] == 1.0


def test_csv_lrs_are_rounded_to_1e12_of_the_peak():
    text = to_csv(np.array([1.0, 1 / 3, 0.05 + 2e-17, 0.0]), peak_lr=0.1)
    assert text.splitlines() == ["step,lr", "0,0.1", "1,0.0333333333333", "2,0.005", "3,0"]
