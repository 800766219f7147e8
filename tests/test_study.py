import numpy as np

from lrcore.cli import main
from lrcore.train.study import SCHEDULES, markdown_report, run_study, smoke_problems


def test_smoke_study_runs_end_to_end():
    problems = smoke_problems()
    result = run_study(problems, seeds=[0, 1])
    t = result.table
    assert len(t) == len(problems) * len(SCHEDULES)
    for prob in problems:
        rows = t[t.problem == prob.name]
        assert rows.schedule.tolist() == list(SCHEDULES)
        assert (rows.n_seeds == 2).all()
        assert np.isfinite(
            rows[["train_loss_mean", "train_loss_sem", "test_accuracy_mean", "bound"]].to_numpy()
        ).all()
        assert rows.peak_lr.isin(prob.peak_lrs).all()
        assert rows.set_index("schedule").bound_vs_linear["linear"] == 1.0
    better, significant, total = result.wins("linear", "cosine")
    assert total == 2 and 0 <= significant <= better <= 2
    report = markdown_report(result, "lrcore study --smoke")
    assert "| linear beats cosine |" in report and report.count("(smoke) |") == 10


def test_study_cli_writes_report(tmp_path, capsys):
    out = tmp_path / "results.md"
    assert main(["study", "--smoke", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Do the paper's claims hold here?") and "Wall time:" in text
    assert "[2/2] cnn synthetic_images (smoke)" in capsys.readouterr().err


def test_sample_runs_still_load_and_are_small():
    from pathlib import Path

    from lrcore.logs import load_log

    folder = Path(__file__).parents[1] / "sample_runs"
    found = {}
    for p in sorted(folder.iterdir()):
        if p.name in ("README.md", "make_samples.py") or p.name.startswith(
            (".", "__", "synthetic_1m")
        ):
            continue
        size = sum(f.stat().st_size for f in p.rglob("*")) if p.is_dir() else p.stat().st_size
        assert size < 1_000_000, p
        found[p.name] = load_log(p)
    assert {"csv", "wandb", "tensorboard", "jsonl", "hf_trainer", "lightning"} <= {
        log.fmt for log in found.values()
    }
    assert found["cnn_digits_adam_l1.jsonl"].suggested_optimizer == "adam"
    assert len(found["logreg_digits_sgd.csv"]) == 3000
    assert (folder / "README.md").read_text().count("python sample_runs/make_samples.py") >= 1


def test_sample_generation_is_deterministic(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[1]
    subprocess.run(
        [sys.executable, str(root / "sample_runs" / "make_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in (
        "logreg_digits_sgd.csv",
        "cnn_digits_adam_l1.jsonl",
        "cnn_digits_adam_trainer_state.json",
    ):
        assert (tmp_path / name).read_bytes() == (root / "sample_runs" / name).read_bytes(), name
