import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from lrcore.cli import main
from lrcore.train.objective import F_STAR_TOL
from lrcore.train.report import README_END, README_START, markdown_report, readme_block
from lrcore.train.study import CLAIMS, SCHEDULES, run_study, smoke_problems, verdict

GOLDEN = Path(__file__).parent / "data" / "study_smoke_golden.json"
# the convex problems run in float64 on one thread: another x86 machine gives the same
# numbers to ~1e-9 relative; the test allows 1e-6
STUDY_RTOL = 1e-6


@pytest.fixture(scope="module")
def smoke():
    return run_study(smoke_problems(), seeds=[0, 1])


def test_smoke_study_runs_end_to_end(smoke):
    problems = smoke_problems()
    t = smoke.table
    assert len(t) == len(problems) * len(SCHEDULES)
    for prob, res in zip(problems, smoke.results, strict=True):
        rows = t[t.problem == prob.name]
        assert rows.schedule.tolist() == list(SCHEDULES)
        assert (rows.n_seeds == 2).all() and rows.learned.all()
        assert np.isfinite(rows[["objective_mean", "test_accuracy_mean"]].to_numpy()).all()
        assert 0 <= res.peak_fraction <= 1 and 0 < res.above_half <= 1
        for a in SCHEDULES:  # paired differences are the per-seed scores' differences
            d = res.scores[a] - res.scores["linear"]
            assert res.paired("linear", a)[0] == pytest.approx(d.mean(), abs=1e-15)
    convex, cnn = smoke.results
    assert convex.metric == "suboptimality" and cnn.metric == "objective"
    assert (convex.best.suboptimality_mean >= -F_STAR_TOL).all()
    assert convex.best.set_index("schedule").bound_vs_linear["linear"] == 1.0
    assert cnn.best.bound_vs_linear.isna().all()  # no SGD bound for Adam runs
    for _, a, b in CLAIMS:
        better, clear, lost, total = smoke.wins(a, b)
        assert total == 2 and clear <= better and clear + lost <= total
    v = smoke.verdicts()
    assert list(v.columns) == ["noise rise", "cnn"] and len(v) == len(CLAIMS) + 1
    assert v.loc["refined beats linear", "noise rise"] == verdict(
        smoke.wins("refined", "linear", "noise rise")
    )
    report = markdown_report(smoke, "lrcore study --smoke")
    assert "| refined beats linear |" in report and report.count("(smoke) |") == 12
    assert "torch" in report and "scipy" in report and "Wall time:" in report


def test_smoke_study_reproduces_committed_numbers(smoke):
    """Cross-machine check: the convex smoke problem's numbers as committed (regenerate with
    ``python tests/test_study.py``) must come back to STUDY_RTOL on any x86 machine."""
    golden = json.loads(GOLDEN.read_text())
    best = smoke.results[0].best.set_index("schedule")
    for schedule, values in golden.items():
        assert best.peak_lr[schedule] == values["peak_lr"], schedule
        for k in ("objective_mean", "suboptimality_mean"):
            assert best[k][schedule] == pytest.approx(values[k], rel=STUDY_RTOL), (schedule, k)


def test_verdict_words():
    assert verdict((2, 2, 0, 2)) == "holds (2/2 clear)"
    assert verdict((0, 0, 2, 3)) == "reversed (2/3 clearly worse)"
    assert verdict((2, 1, 1, 4)).startswith("mixed (1 clear wins, 1 clear losses of 4)")


def test_study_cli_writes_report_readme_and_pickle(tmp_path, capsys, smoke):
    out, readme, pkl = tmp_path / "results.md", tmp_path / "README.md", tmp_path / "s.pkl"
    readme.write_text(f"# x\n\n{README_START}\nold text\n{README_END}\n\nrest\n")
    argv = ["study", "--smoke", "--out", str(out), "--readme", str(readme), "--pickle", str(pkl)]
    assert main(argv) == 0
    text = out.read_text()
    assert text.startswith("# Do the paper's claims hold here?") and "## Verdicts" in text
    assert "[2/2] cnn synthetic_images (smoke)" in capsys.readouterr().err
    new = readme.read_text()
    assert "old text" not in new and new.endswith("rest\n") and "**refined beats linear**" in new
    assert readme_block(pickle.loads(pkl.read_bytes())) in new
    readme.write_text("no markers\n")
    assert main(["study", "--smoke", "--readme", str(readme)]) == 2
    assert "has no" in capsys.readouterr().err


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


# What can be exact across CPUs, per file. Every sample run computes in float64 (the CNN with
# precision="float64", initialised from numpy, not torch's RNG whose draws differ between CPU
# kernels) and runs on one torch thread. Other CPUs and kernels (SIMD width, BLAS) still sum in
# other orders: about 1e-16 per operation, which 3,000 steps amplify by about 1e5 (Adam on the
# CNN is chaotic; measured: 7e-12 relative between ATEN_CPU_CAPABILITY=default and AVX-512; the
# same run in float32 drifts to 1e-3, which is why the samples are not float32). The factor is a
# property of the run, not of the machine, so 1e-8 relative holds on any x86 CPU with a margin
# of 1000, and any change of seed, schedule, model or step count moves the norms by 1e-3 to
# order 1 (test_the_check_catches_a_changed_run). Steps, formats, headers and row counts are
# exact everywhere.
SAMPLE_RTOL = 1e-8
SAMPLES = Path(__file__).parents[1] / "sample_runs"


def _load_make_samples():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_mismatches(new_dir: Path, names: list[str]) -> list[str]:
    """How the files ``names`` in ``new_dir`` differ from the committed ones (empty: none)."""
    from lrcore.logs import LogError, load_log

    problems = []
    for name in names:
        old = load_log(SAMPLES / name)
        try:
            new = load_log(new_dir / name)
        except LogError as e:  # e.g. a hinge run's zero subgradient
            problems.append(f"{name}: {e}")
            continue
        if (new.fmt, new.metric, new.norm_type) != (old.fmt, old.metric, old.norm_type):
            problems.append(f"{name}: format {new.fmt, new.metric, new.norm_type}")
        elif not np.array_equal(new.steps, old.steps):
            problems.append(f"{name}: steps {new.steps[[0, -1]]} x{len(new)}")
        elif not np.allclose(new.grad_norms, old.grad_norms, rtol=SAMPLE_RTOL, atol=0):
            rel = np.max(np.abs(new.grad_norms / old.grad_norms - 1))
            problems.append(f"{name}: norms differ by up to {rel:.3g} relative")
        if not (SAMPLES / name).is_dir():  # same layout: header and row count
            a = (new_dir / name).read_text().splitlines()
            b = (SAMPLES / name).read_text().splitlines()
            if (len(a), a[0][:40]) != (len(b), b[0][:40]):
                problems.append(f"{name}: {len(a)} lines, header {a[0][:40]!r}")
    return problems


def _committed_samples() -> list[str]:
    return sorted(
        p.name
        for p in SAMPLES.iterdir()
        if p.name not in ("README.md", "make_samples.py") and not p.name.startswith((".", "__"))
    )


@pytest.mark.parametrize(
    "env",
    [{}, {"ATEN_CPU_CAPABILITY": "default"}],
    ids=["this-cpu", "portable-kernels"],
)
def test_sample_generation_is_reproducible(tmp_path, env):
    """make_samples.py, run as a user would (another process), on this CPU's kernels and on
    torch's portable ones (what another CPU computes): every file as committed."""
    import os
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(SAMPLES / "make_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )
    names = _committed_samples()
    assert len(names) == 6, names
    assert sample_mismatches(tmp_path, names) == []


@pytest.mark.parametrize(
    "change",
    [{"seed": 1}, {"schedule": "cosine"}, {"task": "svm"}, {"optimizer": "adam"}, {"steps": 2999}],
    ids=["seed", "schedule", "model", "optimizer", "steps"],
)
def test_the_check_catches_a_changed_run(tmp_path, change):
    """The check is tight enough to see a changed run (the logistic-regression files: 1 s)."""
    ms = _load_make_samples()
    ms.small(tmp_path, logreg=ms.LOGREG.with_(**change), cnn=None)
    names = [n for n in _committed_samples() if n.startswith("logreg")]
    problems = sample_mismatches(tmp_path, names)
    assert len(problems) >= len(names), problems  # every file is flagged
    ms.small(tmp_path, cnn=None)  # and the unchanged run passes
    assert sample_mismatches(tmp_path, names) == []


if __name__ == "__main__":  # regenerate the golden numbers of the smoke study
    res = run_study(smoke_problems()[:1], seeds=[0, 1]).results[0].best
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(
        json.dumps(
            {
                r.schedule: {
                    "peak_lr": r.peak_lr,
                    "objective_mean": r.objective_mean,
                    "suboptimality_mean": r.suboptimality_mean,
                }
                for r in res.itertuples()
            },
            indent=1,
        )
        + "\n"
    )
