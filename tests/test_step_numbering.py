"""The next run's length from a log's step numbers: one numbering per format, the same in the
CLI, the Python route and the app (issue 25: a Lightning metrics.csv read one step short)."""

from __future__ import annotations

import numpy as np

from lrcore.analysis import analyse, default_steps
from lrcore.cli import main
from lrcore.logs import load_log


def _lightning(path, steps):
    rows = ["epoch,step,train/grad_norm_l2,train_loss"]
    rng = np.random.default_rng(3)
    rows += [f"0,{s},{1 + rng.random():.6f}," for s in steps]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_lightning_steps_count_from_zero(tmp_path, capsys):
    # Lightning logs global_step - 1: a 40-step run logged every 5 writes steps 4, 9, ..., 39
    log = load_log(_lightning(tmp_path / "metrics.csv", range(4, 40, 5)))
    assert log.fmt == "lightning"
    assert analyse(log).default_steps == 40
    assert main(["inspect", str(tmp_path / "metrics.csv")]) == 0
    assert "next run: 40 steps" in capsys.readouterr().out


def test_lrcore_csv_resumed_counts_from_zero(tmp_path):
    steps = np.arange(5000, 6000)
    g = 1 + np.random.default_rng(4).random(len(steps))
    rows = ["step,grad_norm_l2,grad_norm_l1,loss,optimizer"]
    rows += [f"{s},{v:.6f},{3 * v:.6f},1.0,SGD" for s, v in zip(steps, g, strict=True)]
    (tmp_path / "grad_norms.csv").write_text("\n".join(rows) + "\n")
    assert analyse(load_log(tmp_path / "grad_norms.csv")).default_steps == 6000


def test_counts_of_steps_done_stay_one_based():
    # steps that are multiples of the interval are counts of steps done (HF's 10, 20, ...)
    assert default_steps(np.arange(10, 1210, 10))[0] == 1200
    # a plain CSV resumed at 5000 with every step logged says nothing: the last step is kept
    assert default_steps(np.arange(5000, 6000))[0] == 5999
