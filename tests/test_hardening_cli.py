"""Issue 10: every ``--as`` output of ``refine`` and ``schedule`` runs (the json crash shipped
because none was tested), to stdout and to ``--out``; the last-resort error handler."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrcore import build_schedule, evaluate, refine, stretch
from lrcore.cli import main

NORMS = np.r_[np.linspace(5.0, 1.0, 40), np.full(24, 1.0)]
PEAK = 3e-4


def expected(command: str) -> np.ndarray:
    """The lrs each command should write, normalised to peak 1."""
    if command == "refine":
        return stretch(refine(NORMS, tau=0.1, optimizer="sgd"), 100, steps=np.arange(0, 640, 10))
    return evaluate(build_schedule("cosine", 100), 100)


def argv(command: str, tmp_path) -> list[str]:
    if command == "refine":
        log = tmp_path / "g.csv"
        log.write_text("step,grad_norm\n" + "".join(f"{10 * i},{g}\n" for i, g in enumerate(NORMS)))
        return ["refine", str(log), "--steps", "100"]
    return ["schedule", "cosine", "--total-steps", "100"]


def parse(fmt: str, text: str) -> np.ndarray:
    """The lrs (absolute) a written schedule holds, read back the way a user would."""
    if fmt == "csv":
        lines = text.splitlines()
        assert lines[0] == "step,lr"
        rows = np.loadtxt(lines[1:], delimiter=",")
        assert rows[:, 0].tolist() == list(range(len(rows)))
        return rows[:, 1]
    if fmt == "json":
        doc = json.loads(text)
        assert doc["total_steps"] == len(doc["lr"]) and doc["peak_lr"] == PEAK
        assert isinstance(doc["description"], str) and doc["description"]
        return np.array(doc["lr"])
    ns: dict = {}
    exec(compile(text, "<snippet>", "exec"), ns)  # needs no lrcore, no numpy (optax: jax)
    return PEAK * np.array([float(ns["lr_factor"](t)) for t in range(ns["TOTAL_STEPS"])])


@pytest.mark.parametrize("fmt", ["csv", "json", "torch", "hf", "optax"])
@pytest.mark.parametrize("command", ["refine", "schedule"])
@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "out"])
def test_every_output_format_runs_and_round_trips(tmp_path, capsys, command, fmt, to_file):
    args = [*argv(command, tmp_path), "--as", fmt, "--peak-lr", str(PEAK)]
    out_path = tmp_path / f"schedule.{fmt}"
    if to_file:
        args += ["--out", str(out_path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    text = out_path.read_text() if to_file else out
    assert (out == "") == to_file
    lrs = parse(fmt, text)
    want = expected(command)
    if fmt in ("torch", "hf", "optax"):  # factors are lr / max lr: the optimizer's lr is the peak
        want = want / want.max()
        # the usage comment names the optimizer the schedule was refined for
        named = {
            "torch": "#   optimizer = torch.optim.SGD(",
            "hf": '#   args = TrainingArguments(..., optim="sgd",',  # the Trainer builds it
            "optax": "#   optimizer = optax.sgd(",
        }
        if command == "refine":
            assert named[fmt] in text
    # csv keeps 12 significant digits of the peak, json is exact, snippets 8 digits of a
    # factor (optax: jax computes in float32)
    tol = {"csv": 1e-11, "json": 1e-15, "torch": 1e-8, "hf": 1e-8, "optax": 1e-6}[fmt]
    np.testing.assert_allclose(lrs, PEAK * want, rtol=0, atol=tol * PEAK)
    where = str(out_path) if to_file else "stdout"
    *warnings, summary = err.splitlines()  # refine may warn about the schedule's shape first
    assert summary.endswith(f"wrote 100 steps to {where}")
    assert all(w.startswith("warning: ") for w in warnings)


def test_unexpected_exceptions_become_one_line(monkeypatch, capsys):
    """The last-resort handler: any exception (MemoryError included), one line, exit 2."""
    from lrcore import cli

    for exc, line in (
        (MemoryError(), "lrcore: error: out of memory\n"),
        (
            RecursionError("maximum recursion depth exceeded"),
            "lrcore: error: inspect: unexpected error (please report the command that caused "
            "it): RecursionError: maximum recursion depth exceeded\n",
        ),
        (
            KeyError("Step"),
            "lrcore: error: inspect: unexpected error (please report the command that caused "
            "it): KeyError: 'Step'\n",
        ),
        (
            OSError(28, "No space left on device", "o.csv"),
            "lrcore: error: o.csv: No space left on device\n",
        ),
        (ValueError("two\nlines"), "lrcore: error: two lines\n"),
    ):

        def boom(args, exc=exc):
            raise exc

        monkeypatch.setitem(cli.COMMANDS, "inspect", boom)
        assert main(["inspect", "x.csv"]) == 2
        out, err = capsys.readouterr()
        assert (out, err) == ("", line)


def test_inspect_lists_metrics_once_and_truncates_long_lists(tmp_path, capsys):
    cols = [f"layer{i}/grad_norm" for i in range(30)]
    (tmp_path / "w.csv").write_text(
        "step," + ",".join(cols) + "\n0" + ",1" * 30 + "\n1" + ",2" * 30 + "\n"
    )
    assert main(["inspect", str(tmp_path / "w.csv"), "--metric", "layer3/grad_norm"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("metrics:"))
    assert line == "metrics:  " + ", ".join(cols[:20]) + " and 10 more"
    assert "chosen:   layer3/grad_norm" in out


# --------------------------------------------------------------------------- extreme norms

RNG_NORMS = np.exp(np.random.default_rng(3).normal(size=200))
RNG_NORMS /= RNG_NORMS.max()  # so 2^1020 times them stays finite


@pytest.mark.parametrize("scale", [2.0**1020, 2.0**-1000], ids=["2^1020", "2^-1000"])
def test_refine_and_bound_are_scale_invariant_at_the_float_limits(scale):
    """Scaling by a power of two is exact, so the results must agree to rounding."""
    from lrcore import compare_bounds

    shape = refine(RNG_NORMS)
    np.testing.assert_allclose(refine(RNG_NORMS * scale), shape, rtol=1e-12, atol=1e-15)
    n = len(RNG_NORMS)
    shapes = {"linear": 1 - np.arange(n) / n, "constant": np.ones(n), "refined": shape}
    base, scaled = compare_bounds(shapes, RNG_NORMS), compare_bounds(shapes, RNG_NORMS * scale)
    np.testing.assert_allclose(scaled.vs_linear, base.vs_linear, rtol=1e-12)
    np.testing.assert_allclose(scaled.bound / scale, base.bound, rtol=1e-12)
    np.testing.assert_allclose(scaled.best_peak_lr * scale, base.best_peak_lr, rtol=1e-12)


@pytest.mark.parametrize("level", [1e300, 1e-300])
def test_extreme_norms_through_the_cli_give_finite_numbers(tmp_path, capsys, level):
    norms = level * np.r_[np.linspace(1.0, 0.5, 30), np.full(30, 0.5)]
    log = tmp_path / "g.csv"
    log.write_text("step,grad_norm\n" + "".join(f"{i},{float(g)!r}\n" for i, g in enumerate(norms)))
    assert main(["refine", str(log)]) == 0
    rows = np.loadtxt(capsys.readouterr().out.splitlines()[1:], delimiter=",")
    assert np.all(np.isfinite(rows)) and rows[:, 1].max() == 1.0 and rows[-1, 1] == 0.0
    assert main(["bound", str(log)]) == 0
    table = capsys.readouterr().out.splitlines()
    ratios = [float(line.split()[-1]) for line in table[1:]]
    assert len(ratios) == 5 and all(np.isfinite(ratios)) and 1.0 in ratios
    assert main(["inspect", str(log)]) == 0
    assert f"median {np.median(norms):.4g}" in capsys.readouterr().out


@pytest.mark.parametrize("level", [1e308, 1e-320])
def test_norms_whose_best_peak_lr_leaves_float64_are_refused_in_one_line(tmp_path, capsys, level):
    """Issue 27: the best peak lr of norms of 1e308 is subnormal (~1e-309), of 1e-320 inf;
    every command says so in one line instead of printing inf or a subnormal lr."""
    norms = level * np.r_[np.linspace(1.0, 0.5, 30), np.full(30, 0.5)]
    log = tmp_path / "g.csv"
    log.write_text("step,grad_norm\n" + "".join(f"{i},{float(g)!r}\n" for i, g in enumerate(norms)))
    for cmd in ("refine", "bound", "inspect"):
        assert main([cmd, str(log)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "outside the normal float64 range" in err[0], err
