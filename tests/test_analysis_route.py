"""One analysis route (issue 25 items 4-5, issue 24 item 5): ``lrcore refine``, ``lrcore
inspect``, the Python helpers and the Refine page take the next run's length, the rule, the
series and the warnings from ``lrcore.analyse``; the late rise is reported everywhere."""

import json
import re
import warnings

import numpy as np
import pytest

from lrcore import RefinementWarning, analyse, summarize
from lrcore.analysis import fmt_pct
from lrcore.cli import main
from lrcore.diagnose import diagnose_refined
from lrcore.integrations import schedule_values
from lrcore.late_rise import RISE_WARN, diagnose_late_rise, late_rise
from lrcore.logs import load_log
from lrcore.refine import refine

RNG = np.random.default_rng(3)


def noisy(n: int, trend) -> np.ndarray:
    return np.exp(0.2 * RNG.normal(size=n)) * trend


def hf_state(path, every: int, total: int, norms) -> None:
    """A trainer_state.json as Hugging Face writes it: a point every ``every`` steps, its
    step the global step after the update (``every``, 2 ``every``, ..., ``total``)."""
    steps = np.arange(every, total + 1, every)
    history = [
        {
            "epoch": s / total,
            "grad_norm": float(g),
            "learning_rate": 1e-3,
            "loss": 2.0,
            "step": int(s),
        }
        for s, g in zip(steps, norms, strict=True)
    ]
    history.append({"epoch": 1.0, "step": total, "train_loss": 2.0, "train_runtime": 1.0})
    doc = {"global_step": total, "max_steps": total, "log_history": history}
    path.write_text(json.dumps(doc))


def events(folder, steps, series: dict[str, np.ndarray]):
    """A TensorBoard event file with one scalar per tag per step (l1 and l2 side by side)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    for i, s in enumerate(steps):
        values = [Summary.Value(tag=t, simple_value=float(v[i])) for t, v in series.items()]
        writer.add_event(Event(wall_time=1.7e9 + i, step=int(s), summary=Summary(value=values)))
    writer.close()
    (path,) = folder.glob("events.out.tfevents.*")
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def make_logs(tmp_path) -> dict[str, tuple]:
    """Each generated log and the options both commands get."""
    logs = {}
    n = 240  # HF: logged every 5 steps of a 1,200-step run (once 1,196 steps from refine)
    hf = tmp_path / "trainer_state.json"
    hf_state(hf, 5, 1200, noisy(n, np.linspace(3, 1, n) ** 0.5))
    logs["hf"] = (hf, ())
    steps = np.arange(0, 3000, 10)
    wandb = tmp_path / "wandb.csv"
    trend = np.r_[np.linspace(4, 1, 100), np.ones(200)]
    rows = "".join(
        f'"{s}","{g}","{g}","{g}"\n' for s, g in zip(steps, noisy(300, trend), strict=True)
    )
    head = '"Step","run - grad_norm","run - grad_norm__MIN","run - grad_norm__MAX"\n'
    wandb.write_text(head + rows)
    logs["wandb"] = (wandb, ())
    l2 = noisy(300, np.linspace(2, 1, 300))
    l1 = noisy(300, np.r_[np.full(150, 50.0), np.linspace(50, 20, 150)])
    tb = events(tmp_path / "tb", np.arange(300), {"grad_norm_l2": l2, "grad_norm_l1": l1})
    logs["tensorboard"] = (tb, ())
    logs["tensorboard adam"] = (tb, ("--optimizer", "adam"))
    plain = tmp_path / "plain.csv"
    g = noisy(500, np.linspace(1, 2, 500))
    plain.write_text("step,grad_norm\n" + "".join(f"{s},{v}\n" for s, v in enumerate(g, 1)))
    logs["csv"] = (plain, ("--tau", "0.05"))
    return logs


def test_refine_and_inspect_agree_on_length_peak_halving_and_warnings(tmp_path, capsys):
    logs = make_logs(tmp_path)
    seen = {}
    for name, (path, opts) in logs.items():
        rc, out, err_i = run(capsys, "inspect", path, *opts)
        assert rc == 0, err_i
        (length,) = re.findall(r"^next run: ([\d,]+) steps", out, re.M)
        peak, half = re.search(r"peak at ([\d.]+%) of the run, halves at ([\d.]+%)", out).groups()
        dest = tmp_path / f"{name} refined.csv"
        rc, _, err_r = run(capsys, "refine", path, *opts, "--out", dest)
        assert rc == 0, err_r
        lrs = np.loadtxt(dest, delimiter=",", skiprows=1)[:, 1]
        s = summarize(lrs)
        # the file refine writes has inspect's length, peak and halving point
        assert (f"{len(lrs):,}", fmt_pct(s.warmup_fraction), fmt_pct(s.half_fraction)) == (
            length,
            peak,
            half,
        ), name
        assert f"peak at {peak} of the run, halves at {half}" in err_r
        assert f"over a next run of {length} steps" in err_r
        # the same notes and warnings, line for line
        said = [ln for ln in err_r.splitlines() if ln.startswith(("note:", "warning:"))]
        assert said == [ln for ln in err_i.splitlines() if ln.startswith(("note:", "warning:"))]
        seen[name] = (length, peak, half, said)
    assert seen["hf"][0] == "1,200"  # HF's global step, not the logged span (1,196)
    assert seen["wandb"][0] == "2,991" and seen["csv"][0] == "500"
    # the Adam rule reads the l1 series of the TensorBoard file: another schedule
    assert seen["tensorboard"][1:3] != seen["tensorboard adam"][1:3]
    assert any("holds l1 and l2 norms" in ln for ln in seen["tensorboard"][3])


def test_the_adam_rule_on_a_file_with_l1_and_l2_reads_l1_everywhere(tmp_path, capsys):
    path, _ = make_logs(tmp_path)["tensorboard"]
    rc, out, _ = run(capsys, "inspect", path, "--optimizer", "adam")
    assert rc == 0 and "chosen:   grad_norm_l1 (l1 norms)" in out
    log = load_log(path, optimizer="adam")
    shape = refine(log.grad_norms, 0.1, "adam")
    values = schedule_values(path, 300, optimizer="adam")
    np.testing.assert_allclose(values, shape / shape.max(), rtol=1e-12)
    a = analyse(log)
    assert (a.metric, a.optimizer, a.rule) == ("grad_norm_l1", "adam", "Adam rule on l1 norms")
    assert f"halves at {fmt_pct(a.summary.half_fraction)}" in out


def test_inspect_takes_the_options_it_recommends(tmp_path, capsys):
    hf = tmp_path / "trainer_state.json"
    hf_state(hf, 5, 1200, noisy(240, np.linspace(3, 1, 240)))
    rc, _, err = run(capsys, "inspect", hf)
    assert rc == 0 and "--optimizer adam" in err  # the advice
    for opts in (("--optimizer", "adam"), ("--tau", "0.2"), ("--steps", "600")):
        rc, out, err = run(capsys, "inspect", hf, *opts)
        assert rc == 0, err
        refined = re.search(r"^refined: .*$", out, re.M)[0]
        assert (
            "optimizer=adam" in refined
            if opts[0] == "--optimizer"
            else "tau 0.2" in refined
            if opts[0] == "--tau"
            else "next run of 600 steps" in refined
        )
    rc, _, err = run(capsys, "inspect", hf, "--steps", "1")
    assert rc == 2 and err.startswith("lrcore: error: inspect: --steps must be")


def late_and_flat(tmp_path) -> tuple:
    n = 1000
    rise = np.r_[np.ones(850), np.linspace(1, 4, 50), np.full(100, 4.0)] * noisy(n, 1.0)
    flat = noisy(n, np.ones(n))
    paths = []
    for name, g in (("rise.csv", rise), ("flat.csv", flat)):
        p = tmp_path / name
        p.write_text("step,grad_norm_l1\n" + "".join(f"{s},{v}\n" for s, v in enumerate(g)))
        paths.append(p)
    return (*paths, rise, flat)


def test_a_late_rise_is_printed_always_and_warned_when_it_is_large(tmp_path, capsys):
    rise_csv, flat_csv, rise, flat = late_and_flat(tmp_path)
    r = late_rise(rise)
    assert r.ratio >= 3 and r.ratio >= RISE_WARN  # the log rises 3x+ in its last tenth
    (expected,) = diagnose_late_rise(r)
    rc, out, err = run(capsys, "inspect", rise_csv)
    assert rc == 0
    assert f"late rise: {r.describe()}\n" in out
    assert f"warning: {expected}" in err.splitlines()
    rc, _, err_refine = run(capsys, "refine", rise_csv, "--out", tmp_path / "o.csv")
    assert rc == 0 and f"warning: {expected}" in err_refine.splitlines()
    rc, out, err = run(capsys, "inspect", flat_csv)
    assert rc == 0 and f"late rise: {late_rise(flat).describe()}\n" in out
    assert "warning:" not in err
    # the analysis holds it; its warnings are the CLI's
    a = analyse(load_log(rise_csv))
    assert a.late_rise == r and expected in a.warnings and not a.degenerate


def test_the_late_rise_uses_the_log_s_training_loss():
    n = 1000
    steps = np.arange(n)
    g = np.r_[np.ones(500), np.linspace(1, 6, 300), np.full(200, 6.0)]
    loss = np.r_[np.full(500, 2.6), np.linspace(2.6, 2.0, 500)]
    text = "step,grad_norm_l1,loss\n" + "".join(
        f"{s},{a},{b}\n" for s, a, b in zip(steps, g, loss, strict=True)
    )
    log = load_log(text.encode())
    a = analyse(log)
    assert a.late_rise == late_rise(g, steps, loss=loss, loss_steps=steps)
    assert a.late_rise.coincides and "at the same time as the rise" in a.late_rise_line


def warned(fn, *args, **kwargs) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    assert all(issubclass(w.category, RefinementWarning) for w in caught)
    assert all(w.filename == __file__ for w in caught)  # the caller's line, not lrcore's
    return out, [str(w.message) for w in caught]


def test_the_helpers_warn_every_warning_the_cli_prints(tmp_path, capsys):
    rise_csv, flat_csv, _, _ = late_and_flat(tmp_path)
    collapse = tmp_path / "collapse.csv"
    c = np.geomspace(100, 1, 1000)
    collapse.write_text("step,grad_norm\n" + "".join(f"{s},{v}\n" for s, v in enumerate(c)))
    resumed = tmp_path / "resumed.csv"  # starts at step 5,000 of a run logged every 10
    resumed.write_text(
        "step,grad_norm\n" + "".join(f"{s},{1 + (s % 7) / 10}\n" for s in range(5000, 8000, 10))
    )
    assert diagnose_refined(refine(c), c), "collapsing norms: a degenerate refinement"
    for path, n in ((rise_csv, 1000), (collapse, 1000), (resumed, 3000), (flat_csv, 1000)):
        rc, _, err = run(capsys, "refine", path, "--steps", n, "--out", tmp_path / "o.csv")
        assert rc == 0
        printed = [ln.removeprefix("warning: ") for ln in err.splitlines() if "warning:" in ln]
        assert (path == flat_csv) == (not printed)
        # a path and a loaded log, as the HF and Lightning helpers pass them
        for source in (path, load_log(path)):
            values, said = warned(schedule_values, source, n)
            assert said == printed, path.name
            assert len(values) == n and values.max() == 1.0


def test_our_own_schedule_export_is_refused_in_one_error_line(tmp_path, capsys):
    sched = tmp_path / "sched.csv"
    assert run(capsys, "schedule", "linear", "--total-steps", 100, "--out", sched)[0] == 0
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(sched.read_text().splitlines(keepends=True)[:40]))
    for path in (sched, cut):
        for command in ("refine", "inspect"):
            rc, out, err = run(capsys, command, path)
            assert rc == 2 and out == ""
            (line,) = err.splitlines()
            assert line.startswith("lrcore: error: ") and "schedule" in line, line


@pytest.mark.parametrize("rule", ["adam", "sgd"])
def test_the_page_s_rule_switch_reads_the_series_the_cli_reads(tmp_path, capsys, rule):
    from _apptest import app, assert_clean, upload

    from lrcore._text import for_markdown as md

    path, _ = make_logs(tmp_path)["tensorboard"]
    rc, out, _ = run(capsys, "inspect", path, "--optimizer", rule)
    assert rc == 0
    peak, half = re.search(r"peak at ([\d.]+%) of the run, halves at ([\d.]+%)", out).groups()
    metric = re.search(r"^chosen:   (\S+)", out, re.M)[1]
    assert metric == ("grad_norm_l1" if rule == "adam" else "grad_norm_l2")
    at = upload(app(), "refine_uploads", (path.name, path.read_bytes()))
    assert_clean(at)
    (radio,) = [r for r in at.sidebar.radio if r.label == "Refinement rule"]
    assert radio.value == "sgd"  # l1 and l2, no optimizer recorded: SGD's rule on l2
    radio.set_value(rule).run()
    assert_clean(at)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Implied warm-up"], shown["Halves at"]) == (peak, half)
    view = at.session_state["refine_results"][0]
    assert (view.metric, view.optimizer) == (metric, rule)
    assert any(f"metric {md(metric)}" in c.value for c in at.caption)


def test_the_page_shows_the_late_rise_and_its_warning(tmp_path):
    from _apptest import app, assert_clean, upload

    rise_csv, flat_csv, rise, _ = late_and_flat(tmp_path)
    (expected,) = diagnose_late_rise(late_rise(rise))
    at = upload(app(), "refine_uploads", ("rise.csv", rise_csv.read_bytes()))
    assert_clean(at)
    assert [w.value for w in at.warning] == [expected]
    from lrcore._text import for_markdown as md

    line = late_rise(rise).describe()
    assert any(c.value == f"**Late rise:** {md(line)}." for c in at.caption)
    at = upload(app(), "refine_uploads", ("flat.csv", flat_csv.read_bytes()))
    assert_clean(at)
    assert not at.warning
    assert any(c.value.startswith("**Late rise:** ") for c in at.caption)


def test_a_long_log_refine_writes_every_point_and_prints_inspect_s_numbers(
    tmp_path, capsys, monkeypatch
):
    """inspect and the page analyse a long log on evenly spaced points; refine prints those
    numbers too, writes the schedule from every point, and says where that one peaks when it
    reads differently (a flat top)."""
    import lrcore.analysis

    monkeypatch.setattr(lrcore.analysis, "SAMPLE_POINTS", 100)
    rng = np.random.default_rng(0)  # a flat top whose peak moves with the sample
    g = np.exp(0.2 * rng.normal(size=400)) * np.r_[np.linspace(3, 1, 100), np.ones(300)]
    path = tmp_path / "long.csv"
    path.write_text("step,grad_norm\n" + "".join(f"{s},{float(v)!r}\n" for s, v in enumerate(g)))
    rc, out, err = run(capsys, "inspect", path)
    assert rc == 0 and "from 100 evenly spaced points" in out, err
    sentence = re.search(r"^refined:  (.*)$", out, re.MULTILINE)[1]
    rc, _, err = run(capsys, "refine", path, "--out", tmp_path / "o.csv")
    assert rc == 0 and sentence in err
    lrs = np.loadtxt(tmp_path / "o.csv", delimiter=",", skiprows=1)[:, 1]
    np.testing.assert_allclose(lrs, refine(g), rtol=1e-10, atol=1e-12)  # every point
    s, a = summarize(lrs), analyse(load_log(path)).summary
    said = [fmt_pct(x) for x in (s.warmup_fraction, s.half_fraction)]
    differs = said != [fmt_pct(x) for x in (a.warmup_fraction, a.half_fraction)]
    clause = f"written from every point, it peaks at {said[0]} and halves at {said[1]}"
    assert differs and clause in err  # 35.3% from 100 points, 27.6% from all 400
