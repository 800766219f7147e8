import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from lrcore.cli import main
from lrcore.study.problems import LM_MECHANISM, smoke_problems
from lrcore.study.report import README_END, README_START, markdown_report, readme_block
from lrcore.study.run import run_study
from lrcore.study.stats import CLAIMS, ROUND_CLAIMS, holm, paired_p, sign_test_p, verdict
from lrcore.train.experiments import refine_from_runs
from lrcore.train.loop import run_many
from lrcore.train.objective import F_STAR_TOL

GOLDEN = Path(__file__).parent / "data" / "study_smoke_golden.json"
# the convex problems run in float64 on one thread: another x86 machine gives the same
# numbers to ~1e-9 relative; the test allows 1e-6
STUDY_RTOL = 1e-6
GOLDEN_KEYS = ("tuning_score_mean", "score_mean", "score_sem", "objective_mean")


@pytest.fixture(scope="module")
def smoke():
    return run_study(smoke_problems())


def test_smoke_study_runs_end_to_end(smoke):
    problems = smoke_problems()
    t = smoke.table
    assert len(t) == sum(len(p.schedules) for p in problems)
    for prob, res in zip(problems, smoke.results, strict=True):
        rows = t[t.problem == prob.name]
        assert rows.schedule.tolist() == list(prob.schedules)
        assert np.isfinite(rows[["score_mean", "test_mean", "objective_mean"]].to_numpy()).all()
        assert 0 <= res.peak_fraction <= 1 and 0 < res.above_half <= 1
        for a in prob.schedules:  # scores are the scoring seeds' runs, one per seed
            assert len(res.scores[a]) == prob.n_score == len(res.tests[a])
            d = res.scores[a] - res.scores["linear"]
            assert res.paired("linear", a)[0] == pytest.approx(d.mean(), abs=1e-15)
        assert rows.inconclusive.tolist() == (rows.at_grid_edge | rows.edge_tie).tolist()
        assert set(res.phase_times) == {"tune", "build", "score"}
    convex, cnn, lm = smoke.results
    assert (convex.metric, cnn.metric, lm.metric) == ("suboptimality", "objective", "excess_loss")
    assert (convex.best.score_mean >= -F_STAR_TOL).all()
    assert convex.best.set_index("schedule").bound_vs_linear["linear"] == 1.0
    assert cnn.best.bound_vs_linear.isna().all()  # no SGD bound for Adam runs
    assert lm.best.token_se.gt(0).all() and convex.best.token_se.isna().all()
    assert "step" not in cnn.scores and "step" not in lm.scores
    v = smoke.verdicts()
    assert list(v.columns) == smoke.regimes and list(v.index) == [c for c, *_ in CLAIMS]
    report = markdown_report(smoke, "lrcore study --smoke")
    for part in (
        "## Verdicts",
        "## Every comparison",
        "## The language model",
        "Holm",
        "## Departures from the protocol",
        "sign p",
        "torch",
        "Wall time:",
    ):
        assert part in report, part
    c = smoke.comparisons
    left_out = c.outcome.isin(["inconclusive", "degenerate"]).sum()
    mechanism = sum(p.regime in LM_MECHANISM for p in problems)  # its table's rows
    assert report.count("(smoke) |") == len(t) + len(c) + len(problems) + left_out + mechanism


def test_seed_sets_are_disjoint_and_refined_comes_from_the_build_seeds(smoke):
    """Refined is neither built nor tuned nor scored on the same runs: rebuild it from
    linear's runs on the build seeds at linear's best peak lr and compare shapes."""
    prob, res = smoke_problems()[0], smoke.results[0]
    sets = [set(prob.tune_seeds), set(prob.build_seeds), set(prob.score_seeds)]
    assert all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    peak = float(res.best.set_index("schedule").peak_lr["linear"])
    build = run_many([prob.config.with_(peak_lr=peak, seed=s) for s in prob.build_seeds])
    np.testing.assert_allclose(refine_from_runs(build, 0.1)[0], res.refined, rtol=1e-12)
    tuned = run_many([prob.config.with_(peak_lr=peak, seed=s) for s in prob.tune_seeds])
    assert not np.allclose(refine_from_runs(tuned, 0.1)[0], res.refined, rtol=1e-3)


def test_comparisons_p_values_holm_and_outcomes(smoke):
    from scipy import stats

    c = smoke.comparisons
    assert len(c) == sum(
        a in r.scores and b in r.scores for r in smoke.results for _, a, b in CLAIMS + ROUND_CLAIMS
    )
    for row in c.itertuples():
        r = next(x for x in smoke.results if x.problem.name == row.problem)
        d = r.scores[row.b] - r.scores[row.a]
        assert row.diff_mean == pytest.approx(d.mean(), abs=1e-15)
        assert row.p_t == pytest.approx(stats.ttest_rel(r.scores[row.b], r.scores[row.a]).pvalue)
        if row.inconclusive:
            assert np.isnan(row.p_holm) and row.outcome == "inconclusive"
        else:
            assert row.p_holm >= row.p_t
    family = c.p_holm.notna()
    assert family.sum() == (c.inconclusive == "").sum()
    assert c.p_holm[family].to_numpy() == pytest.approx(holm(c.p_t[family]))


def test_holm_sign_test_and_paired_p_against_hand_values():
    # Holm: sorted p 0.01, 0.03, 0.04 (m = 3) -> 0.03, max(0.03, 0.06), max(0.06, 0.04)
    assert holm([0.04, 0.01, 0.03]).tolist() == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]
    assert sign_test_p(3, 3) == 0.125 and sign_test_p(13, 20) == pytest.approx(0.131588, abs=1e-6)
    assert sign_test_p(0, 2) == 1.0 and np.isnan(sign_test_p(0, 0))
    assert paired_p(np.zeros(5)) == 1.0 and paired_p(np.full(4, 0.1)) == 0.0
    assert paired_p(np.array([1.0, -1.0, 1.0, -1.0])) == pytest.approx(1.0)
    assert np.isnan(paired_p(np.array([1.0, np.nan])))


def test_verdict_words():
    def c(better, clear, lost, n):
        return {"better": better, "clearly better": clear, "clearly worse": lost, "counted": n}

    assert verdict(c(2, 2, 0, 2)) == "holds (2/2 clearly better)"
    assert verdict(c(0, 0, 2, 3)) == "reversed (2/3 clearly worse)"
    assert verdict(c(2, 1, 1, 4)) == "mixed (1 clearly better, 1 clearly worse of 4)"


def test_a_problem_must_name_a_known_regime():
    from lrcore.study.problems import REGIMES, Problem

    cfg = smoke_problems()[0].config
    assert Problem("x", next(iter(REGIMES)), cfg).regime in REGIMES
    with pytest.raises(ValueError, match=r"Problem: regime 'lm: no such' of 'x' is not a regime"):
        Problem("x", "lm: no such", cfg)


def test_edges_flag_a_tie_at_the_edge_and_a_best_at_the_edge():
    """Hinge digits in v2: linear scored exactly 0 at its largest peak lrs; the best (the
    smallest of the ties) was not at the edge, yet the edge ties it: inconclusive."""
    import pandas as pd

    from lrcore.study.run import _edges

    t = pd.DataFrame(
        {
            "schedule": ["linear"] * 4 + ["cosine"] * 3,
            "peak_lr": [0.1, 0.2, 0.4, 0.8, 0.1, 0.2, 0.4],
            "objective_mean": [0.3, 0.0, 0.0, 0.0, 0.5, 0.4, 0.3],
            "diverged": [0] * 7,
            "best": [False, True, False, False, False, False, True],
        }
    )
    e = _edges(t)
    assert e["linear"][:2] == (False, True) and "ties" in e["linear"][2]
    assert e["cosine"][:2] == (True, False) and "largest of 3" in e["cosine"][2]


def test_smoke_study_reproduces_committed_numbers(smoke):
    """Cross-machine check: the convex smoke problem's numbers as committed (regenerate with
    ``python tests/test_study.py``) must come back to STUDY_RTOL on any x86 machine."""
    golden = json.loads(GOLDEN.read_text())
    best = smoke.results[0].best.set_index("schedule")
    assert sorted(golden) == sorted(best.index)
    for schedule, values in golden.items():
        assert best.peak_lr[schedule] == values["peak_lr"], schedule
        for k in GOLDEN_KEYS:
            assert best[k][schedule] == pytest.approx(values[k], rel=STUDY_RTOL), (schedule, k)


def test_study_cli_writes_report_csv_readme_and_pickle_with_two_jobs(tmp_path, capsys, smoke):
    """--jobs 2 gives the numbers of the in-process run exactly (the CNN and lm rows, float32);
    the CSV round-trips them; --seeds 3 gives the convex problem 3 seeds per set."""
    out, readme, pkl = tmp_path / "results.md", tmp_path / "README.md", tmp_path / "s.pkl"
    csv = tmp_path / "results.csv"
    readme.write_text(f"# x\n\n{README_START}\nold text\n{README_END}\n\nrest\n")
    argv = ["study", "--smoke", "--jobs", "2", "--seeds", "3", "--out", str(out), "--csv", str(csv)]
    assert main([*argv, "--readme", str(readme), "--pickle", str(pkl)]) == 0
    text = out.read_text()
    assert text.startswith("# Do the paper's claims hold here?") and "## Verdicts" in text
    err = capsys.readouterr().err
    assert "[3/3] " in err and "cnn synthetic_images (smoke): " in err
    new = readme.read_text()
    assert "old text" not in new and new.endswith("rest\n") and "| refined beats linear |" in new
    res = pickle.loads(pkl.read_bytes())
    assert res.jobs == 2 and readme_block(res) in new
    import pandas as pd

    got = pd.read_csv(csv)  # empty cells (no claim for linear and step) read back as nan
    convex = got.task == "svm"
    assert (got[convex][["n_tuning_seeds", "n_build_seeds", "n_scoring_seeds"]] == 3).all().all()
    assert (got[~convex].n_scoring_seeds == 2).all()
    family = ["problem_wall_s", "p_holm", "outcome"]  # Holm: the family changed with --seeds
    want = smoke.csv_table().replace({"": np.nan})
    want = want[want.task != "svm"].drop(columns=family).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got[~convex].drop(columns=family).reset_index(drop=True),
        want,
        check_dtype=False,
        rtol=0,
        atol=0,
    )
    readme.write_text("no markers\n")
    assert main(["study", "--smoke", "--readme", str(readme)]) == 2
    assert "has no" in capsys.readouterr().err
    assert main(["study", "--smoke", "--csv", str(csv), "--out", str(csv)]) == 2
    assert "is also" in capsys.readouterr().err
    assert main(["study", "--smoke", "--jobs", "0"]) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err
    assert main(["study", "--smoke", "--seeds", "1"]) == 2
    assert "--seeds must be >= 2" in capsys.readouterr().err


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
    res = run_study(smoke_problems()[:1]).results[0].best
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(
        json.dumps(
            {
                r["schedule"]: {"peak_lr": r["peak_lr"], **{k: r[k] for k in GOLDEN_KEYS}}
                for r in res.to_dict("records")
            },
            indent=1,
        )
        + "\n"
    )


def test_workers_do_not_run_the_callers_main_script(tmp_path, monkeypatch):
    """Under Streamlit or AppTest, ``__main__`` is a page script (app/main.py); spawned workers
    would re-run it and die (BrokenProcessPool in the full suite). They must not run it."""
    import sys
    import types

    from lrcore.study.run import _workers_skip_main

    script = tmp_path / "main.py"
    script.write_text("raise SystemExit('the main script ran in a worker')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    before = dict(vars(fake))
    res = run_study(smoke_problems()[:2], jobs=2)  # spawned workers: would die on the script
    assert [r.problem.name for r in res.results] == [p.name for p in smoke_problems()[:2]]
    assert dict(vars(fake)) == before  # restored
    with _workers_skip_main():
        assert not hasattr(fake, "__file__") and fake.__spec__ is None
