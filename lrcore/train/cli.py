"""``lrcore run`` and ``lrcore compare`` (torch is imported when they run, not before)."""

from __future__ import annotations

import argparse
import os
import stat
import sys
import warnings

import numpy as np

from lrcore._output import check_out, is_null, write_atomic
from lrcore._text import for_terminal
from lrcore._validate import MAX_STEPS, check_unit, validate_peak_lr
from lrcore.cli import whole
from lrcore.registry import REGISTRY

RUN_FILES = ("grad_norms.csv", "evals.csv", "result.json")  # what lrcore run --out writes

_FIELDS = (
    "task",
    "dataset",
    "optimizer",
    "momentum",
    "steps",
    "batch_size",
    "peak_lr",
    "weight_decay",
    "warmup_steps",
    "device",
    "eval_every",
    "noise",
    "noise_scale",
    "lm_vocab",
    "lm_order",
    "lm_seq_len",
    "lm_d_model",
    "lm_layers",
    "lm_heads",
    "lm_alpha",
    "lm_heldout",
)


class StderrProgress:
    """Progress on stderr through ``tqdm`` (an ``on_step`` for run_many): a bar of finished
    runs whose counter moves as each batch of runs ends, with the current batch's step and
    loss after it. ``compare`` calls run_many several times (tuning rounds, refinement, a
    widened grid) without knowing the next call's size in advance, so the total grows as
    calls arrive: it counts the runs started so far."""

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream or sys.stderr
        self.bar = None  # made at the first report (no empty "0/0" bar before training)
        self.base = 0  # runs of earlier run_many calls
        self.last = None  # the last Progress of the current call

    def __call__(self, p) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=p.total_runs,
                desc=self.label,
                unit="run",
                file=self.stream,
                mininterval=0.5,
                miniters=1,
                bar_format="{desc}: {percentage:3.0f}%|{bar:20}| runs {n_fmt}/{total_fmt} "
                "[{elapsed}{postfix}]",
            )
        last = self.last
        if last is not None and (p.total_runs != last.total_runs or p.runs_done < last.runs_done):
            self.base += last.total_runs  # a new run_many call: the previous one's runs ended
            self.bar.total = self.base + p.total_runs
        self.last = p
        self.bar.set_postfix_str(
            f"step {p.step}/{p.total_steps} loss {p.loss:.4g} ({p.device})", refresh=False
        )
        # finished runs: earlier calls' and this call's earlier groups' (the current group's
        # when the next group or call reports, or at close)
        self.bar.update(self.base + p.runs_done - self.bar.n)

    def close(self) -> None:
        """Count the last batch of runs (when training ran to its end) and end the line."""
        if self.bar is None:
            return
        if self.last is not None and self.last.step >= self.last.total_steps:
            self.bar.update(self.base + self.last.total_runs - self.bar.n)
        self.bar.close()


def _config_args(p: argparse.ArgumentParser) -> None:
    from lrcore.train.config import NOISES, OPTIMIZERS, TASK_DEFAULTS, TASKS

    lm = TASK_DEFAULTS["lm"]
    p.add_argument(
        "--task",
        choices=list(TASKS),
        default="logreg",
        help="logreg (logistic regression), svm (multiclass hinge, Crammer-Singer), cnn, or lm "
        "(small transformer on a Markov source, scored by excess held-out loss)",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="the task's first by default; "
        + "; ".join(f"{t}: {', '.join(d)}" for t, d in TASKS.items()),
    )
    # None = the task's default (RunConfig's, or TASK_DEFAULTS for lm)
    p.add_argument(
        "--optimizer",
        choices=list(OPTIMIZERS),
        default=None,
        help=f"default: sgd (lm: {lm['optimizer']})",
    )
    p.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    p.add_argument(
        "--steps",
        type=whole,
        default=None,
        help=f"optimizer steps (default: 1000; lm: {lm['steps']})",
    )
    p.add_argument(
        "--batch-size",
        type=whole,
        default=None,
        help=f"examples per step (default: 32; lm: {lm['batch_size']})",
    )
    p.add_argument(
        "--peak-lr",
        type=float,
        default=None,
        help=f"peak learning rate (default: 0.1; lm: {lm['peak_lr']:g})",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=None,
        help=f"default: 0 (lm: {lm['weight_decay']:g}, AdamW)",
    )
    p.add_argument(
        "--warmup-steps",
        type=whole,
        default=None,
        help="default: 0 (lm: 5%% of --steps, the paper's warm-up)",
    )
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: cuda if available"
    )
    p.add_argument(
        "--eval-every",
        type=whole,
        default=None,
        help=f"steps between evaluations (default: 100; lm: {lm['eval_every']})",
    )
    p.add_argument(
        "--lm-size",
        choices=["small", "converged"],
        default="small",
        help="lm: a named size; small (the default: d_model 64, T=800, fast, but linear decay "
        "closes only about 14%% of the gap to the true chain: before its learning transition) "
        "or converged (protocol v4: d_model 48, sequence 64, batch 32, T=600, Dirichlet 0.3, "
        "peak lr 0.016; linear closes 82-94%% of the gap, about 20 s a run on one core); the "
        "options below change either",
    )
    p.add_argument(
        "--lm-vocab", type=whole, default=None, help="lm: tokens of the source (default: 16)"
    )
    p.add_argument(
        "--lm-alpha",
        type=_finite_positive,
        default=None,
        help="lm: Dirichlet concentration of each transition row (default: 0.5; converged: 0.3)",
    )
    p.add_argument("--lm-heads", type=whole, default=None, help="lm: attention heads (default: 4)")
    p.add_argument(
        "--lm-order",
        type=_in_range(1, MAX_LM_ORDER),
        default=None,
        help="lm: order of the Markov chain (default: 2)",
    )
    p.add_argument(
        "--lm-seq-len", type=whole, default=None, help="lm: tokens per sequence (default: 32)"
    )
    p.add_argument(
        "--lm-d-model", type=whole, default=None, help="lm: transformer width (default: 64)"
    )
    p.add_argument(
        "--lm-layers", type=whole, default=None, help="lm: transformer blocks (default: 2)"
    )
    p.add_argument(
        "--lm-heldout", type=whole, default=None, help="lm: held-out sequences (default: 256)"
    )
    p.add_argument(
        "--noise",
        choices=list(NOISES),
        default="none",
        help=f"{', '.join(NOISES)}: Gaussian noise added to each stochastic gradient, std following this profile "
        "over the run (rise: x1 then up to x5 from half-way; fall: x5 down to x1 by 30%%)",
    )
    p.add_argument(
        "--noise-scale",
        type=float,
        default=1.0,
        help="expected l2 norm of the noise vector where the profile is x1",
    )


MAX_SEED = 2**32 - 1  # scikit-learn's random_state (the data split) takes seeds below 2**32
MAX_LM_ORDER = 16  # RunConfig needs lm_vocab ** lm_order <= 2**16 with lm_vocab >= 2


def _in_range(lo: int, hi: int):
    """An ``type=`` for a whole number in ``[lo, hi]`` (argparse names the option)."""

    def parse(text: str) -> int:
        value = whole(text)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {lo:,} to {hi:,}, got {text}"
            )
        return value

    return parse


_seed = _in_range(0, MAX_SEED)


def _jobs(text: str) -> int:
    """``study --jobs``: at most twice the host's CPUs, 8 at least (a process pool starts
    every worker at once: --jobs 1000 started 1000 Python processes, each importing torch);
    below 1 is refused by the command."""
    cpus = os.cpu_count() or 1
    most = max(8, 2 * cpus)
    value = whole(text)
    if value > most:
        raise argparse.ArgumentTypeError(
            f"must be at most {most} on this host ({cpus} CPUs; each worker runs one CPU "
            f"thread), got {text}"
        )
    return value


def _finite_positive(text: str) -> float:
    """A finite number > 0 (``--lm-alpha inf`` reached LAPACK, which printed its own line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _comma_items(text: str, example: str) -> list[str]:
    """The comma-separated items of an option's value; an empty one is refused."""
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item; give {example}")
    return items


def _seed_list(text: str) -> list[int]:
    """``--seeds``: distinct seeds, comma-separated (``0,1,2``)."""
    items = _comma_items(text, "seeds as 0,1,2")
    seeds = []
    for item in items:
        try:
            seeds.append(_seed(item))
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"seed {item!r}: {e}") from None
    if len(set(seeds)) < len(seeds):
        twice = next(s for s in seeds if seeds.count(s) > 1)
        raise argparse.ArgumentTypeError(f"seed {twice} is given twice in {text!r}")
    return seeds


def _peak_list(text: str) -> list[float]:
    """``--peak-lrs``: numbers, comma-separated (``0.05,0.1,0.2``; their range: cmd_compare)."""
    items = _comma_items(text, "peak lrs as 0.1,0.2")
    try:
        return [float(item) for item in items]
    except ValueError:
        bad = next(i for i in items if not _is_float(i))
        raise argparse.ArgumentTypeError(f"{bad!r} is not a number") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _base_config(args):
    from lrcore.train.config import RunConfig

    given = {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}
    task, size = given.pop("task"), getattr(args, "lm_size", "small")
    if size != "small" and task != "lm":
        raise ValueError(f"--lm-size: {size!r} is for --task lm only (got --task {task})")
    return RunConfig.for_task(task, size=size, **given)


MAX_SCHEDULE_BYTES = 64 * 2**20  # a --schedule file: read in a few seconds, < 1 GB


def _schedule(value: str, option: str = "--schedule", fn: str = "run"):
    """A registry name, or a CSV with an ``lr`` column (e.g. from ``lrcore refine``): at
    least 2 finite values >= 0, not all 0, at most MAX_STEPS rows. Every refusal names
    ``option`` and the file as typed."""
    if value in REGISTRY:
        return value
    where = f"{fn}: {option} {for_terminal(value)}"
    try:
        st = os.stat(value)
    except OSError as e:
        raise ValueError(
            f"{where}: neither a schedule name ({', '.join(sorted(REGISTRY))}) nor a file "
            f"that can be read ({e.strerror})"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ValueError(f"{where}: is {kind}; give a schedule name or a CSV file")
    if st.st_size == 0:
        raise ValueError(f"{where}: the file is empty; expected a CSV with an 'lr' column")
    if st.st_size > MAX_SCHEDULE_BYTES:  # a 466 MB file (20M rows) took 28 s and 2.1 GB
        raise ValueError(
            f"{where}: {st.st_size / 2**20:,.0f} MiB, more than the {MAX_SCHEDULE_BYTES >> 20} "
            "MiB a schedule file may have (about 2.5 million steps); a run stretches the "
            "schedule to its --steps, so fewer points do (lrcore refine --steps N)"
        )
    with open(value, "rb") as f:
        head = f.read(4096)
    try:
        if b"\0" in head:
            raise UnicodeDecodeError("utf-8", head, 0, 1, "NUL byte")
        head.decode("utf-8-sig", errors="strict") if len(head) < 4096 else None
    except UnicodeDecodeError:
        raise ValueError(f"{where}: binary content, not a CSV with an 'lr' column") from None
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' own warnings print a source line
            table = pd.read_csv(value, encoding="utf-8-sig", nrows=MAX_STEPS + 1)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        reason = " ".join(str(e).split()).removeprefix("Error tokenizing data. C error: ")[:160]
        raise ValueError(
            f"{where}: cannot be read as a CSV with an 'lr' column ({reason})"
        ) from None
    if "lr" not in table.columns:
        cols = ", ".join(repr(str(c))[:40] for c in list(table.columns)[:8])
        raise ValueError(f"{where}: has no 'lr' column (its columns: {for_terminal(cols)})")
    if len(table) > MAX_STEPS:
        raise ValueError(f"{where}: more than {MAX_STEPS:,} rows, the most a schedule may have")
    lr = pd.to_numeric(table["lr"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(lr) | (lr < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{where}: row {i + 1} has lr {for_terminal(repr(str(table['lr'].iloc[i])))}; "
            "every lr must be a finite number >= 0"
        )
    if len(lr) < 2 or lr.max() <= 0:
        raise ValueError(f"{where}: needs at least 2 lr values, not all 0 (got {len(lr)})")
    return tuple(lr.tolist())


def _fmt(x: float) -> str:
    return f"{x:.5g}"


def _costed(fn: str, cost, args, runs: str | None = None, fields=_FIELDS, study=False) -> None:
    """Refuse ``cost`` past the memory limit, or past the CLI's time limit without
    ``--force``, naming the options that make it large (``runs``: the options that set the
    number of runs; ``fields``: the RunConfig fields the command has as options); else print
    the estimate on stderr. ``study``: its own limits (cost.STUDY_SECONDS, free memory)."""
    from lrcore.train import cost as model

    def option(field: str) -> str | None:
        if field == "runs":
            return runs
        return "--" + field.replace("_", "-") if field in fields else None

    model.check(
        cost,
        fn,
        option,
        max_seconds=model.STUDY_SECONDS if study else model.CLI_SECONDS,
        force=args.force,
        force_hint=", or pass --force to run anyway",
        max_bytes=model.free_memory() if study else None,
    )
    print(f"estimate: {cost.text()}", file=sys.stderr, flush=True)


def cmd_run(args) -> int:
    from lrcore.train.loop import train

    inputs = [] if args.schedule in REGISTRY else [args.schedule]
    if args.peak_lr is not None:  # None: the task's default; 5e-324 would train at one value
        validate_peak_lr("run", "--peak-lr", args.peak_lr)
    check_out("run", args.out, inputs, writes=RUN_FILES)  # before training, not after
    cfg = _base_config(args).with_(schedule=_schedule(args.schedule), seed=args.seed)
    from lrcore.train.cost import estimate

    _costed("run", estimate([cfg]), args)
    progress = StderrProgress("run")
    try:
        result = train(cfg, on_step=progress)
    finally:
        progress.close()
    f = result.final
    print(
        f"{'schedule':<10} {'status':<23} {'objective':>10} {'subopt':>10} {'test_loss':>10} "
        f"{'test_acc':>8} {'wall_s':>7} device"
    )
    print(
        f"{cfg.schedule_name:<10} {result.status():<23} {f['objective']:>10.5f} "
        f"{f['suboptimality']:>10.5g} {f['test_loss']:>10.5f} {f['test_accuracy']:>8.4f} "
        f"{result.wall_time:>7.2f} {result.device}"
    )
    _say_flags(result)
    if args.out and not is_null(args.out):  # --out /dev/null: saved nowhere
        print(f"saved to {result.save(args.out)}", file=sys.stderr)
    return 0 if result.ok else 1


def _say_flags(result) -> None:
    """Why a run is flagged diverged or "did not learn", on stderr (thresholds: result.py)."""
    from lrcore.train.result import DIVERGE_FACTOR, LEARN_RTOL

    start = float(result.evals["objective"].iloc[0]) if len(result.evals) else float("nan")
    if result.diverged_at is not None:
        print(
            f"note: diverged: the loss, objective or held-out loss became nan or inf, or ended over "
            f"{DIVERGE_FACTOR:,.0f} times its start ({start:.5g}); try a smaller --peak-lr",
            file=sys.stderr,
        )
    elif result.ok and not result.learned:
        print(
            f"note: did not learn: the objective ended {result.final['objective']:.6g}, not "
            f"more than {LEARN_RTOL:.1%} below its start ({start:.6g}); the peak lr is "
            "probably far off (--peak-lr)",
            file=sys.stderr,
        )


def cmd_compare(args) -> int:
    from lrcore.train.experiments import BEST_COLUMNS, best_rows, compare, own_norm_bounds

    names = args.schedules.split(",")
    check_out("compare", args.out, [n for n in names if n != "refined" and n not in REGISTRY])
    cfg = _base_config(args)
    seeds, peaks = args.seeds, args.peak_lrs  # lists of numbers, parsed by argparse
    check_unit("compare", "--tau", args.tau)  # before training, not when refined is built
    for x in peaks or ([] if args.peak_lr is None else [args.peak_lr]):
        validate_peak_lr("compare", "--peak-lrs" if peaks else "--peak-lr", x)
    if not all(n.strip() for n in names):
        raise ValueError(f"compare: --schedules {for_terminal(args.schedules)!r} has an empty item")
    schedules = {
        name: "refined" if name == "refined" else _schedule(name, "--schedules", "compare")
        for name in names
    }
    from lrcore.train.cost import estimate_compare
    from lrcore.train.experiments import MAX_EXTENSIONS, MAX_ROUNDS

    if not 1 <= args.rounds <= MAX_ROUNDS:  # before the estimate: planning grows with them
        raise ValueError(
            f"compare: --rounds must be a whole number from 1 to {MAX_ROUNDS}, got {args.rounds}"
        )

    refined = "refined" in schedules
    named = len(schedules) - refined + (refined and "linear" not in schedules)
    _costed(
        "compare",
        estimate_compare(
            cfg,
            named,
            len(set(seeds)),
            peaks=len(set(peaks)) if peaks else 5,
            refined_rounds=args.rounds if refined else 0,
            max_extensions=0 if args.no_extend else MAX_EXTENSIONS,
        ),
        args,
        runs="--seeds, --peak-lrs, --schedules or --rounds",
    )
    progress = StderrProgress("compare")
    address = _dask_address(args)
    try:
        with _executor(address) as executor:  # None: the runs train in this process
            table, runs = compare(
                cfg,
                schedules,
                seeds=seeds,
                peak_lrs=peaks,
                on_step=progress,
                return_runs=True,
                extend_grid=not args.no_extend,
                tau=args.tau,
                rounds=args.rounds,
                executor=executor,
            )
    finally:
        progress.close()
    best = best_rows(table)
    for name, rows in table.groupby("schedule", observed=True, sort=False):
        if str(name) not in set(best.schedule.astype(str)):  # no peak lr gave a result
            peaks = ", ".join(f"{p:g}" for p in sorted(rows.peak_lr.unique()))
            print(
                f"warning: compare: every run of {for_terminal(str(name))} diverged (peak lrs "
                f"{peaks}): lower --peak-lrs",
                file=sys.stderr,
            )
    if best.empty:
        print("compare: no schedule has a result (every run diverged)", file=sys.stderr)
        return 1
    best["bound_vs_linear"] = own_norm_bounds(best, runs)
    if args.out:
        data = best.to_csv(index=False, float_format="%.9g").encode()
        write_atomic(args.out, data)
        print(f"wrote {for_terminal(args.out)}", file=sys.stderr)
    shown = table if args.all else best
    cols = [c for c in BEST_COLUMNS if c != "test_accuracy_sem"]
    cols += [] if args.all else ["bound_vs_linear"]
    if cfg.is_lm:  # the bound is SGD's (n/a); show the noise of the excess-loss estimate
        cols = [c for c in cols if c != "bound_vs_linear"] + ["suboptimality_se_mean"]
    print(shown[cols].to_string(index=False, float_format=_fmt))
    if cfg.is_lm:
        print(
            "lm: suboptimality = excess loss, the held-out cross-entropy minus the true Markov "
            "model's on the same tokens (nats/token); suboptimality_se_mean: its standard error "
            "over held-out sequences; at_grid_edge: the best peak lr is the smallest or largest "
            "tried (widen --peak-lrs)"
        )
    if not args.all and not cfg.is_lm:
        print(
            "best peak lr = lowest mean final objective; bound_vs_linear: each schedule's "
            "last-iterate bound under the gradient norms of its own runs, relative to linear"
        )
    return 0


def cmd_study(args) -> int:
    from pathlib import Path

    from lrcore.study.problems import full_problems, smoke_problems
    from lrcore.study.report import (
        check_readme,
        csv_report,
        markdown_report,
        readme_block,
        update_readme,
    )
    from lrcore.study.run import run_study

    if args.readme is not None and not args.readme.strip():
        raise ValueError("study: --readme is empty; name the README whose study block to rewrite")
    if args.readme:
        if args.readme.endswith(("/", os.sep)) or Path(args.readme).is_dir():
            raise ValueError(
                f"study: --readme {for_terminal(args.readme)} is a folder; name the README.md "
                "whose study block to rewrite"
            )
        try:
            check_readme(args.readme)  # before the study, not after it
        except UnicodeDecodeError:
            raise ValueError(
                f"study: --readme {for_terminal(args.readme)} is not UTF-8 text (a README.md)"
            ) from None
        except ValueError as e:  # check_readme speaks as update_readme: name the option
            raise ValueError(str(e).replace("update_readme: ", "study: --readme: ", 1)) from None
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    outs = (("--out", args.out), ("--csv", args.csv), ("--pickle", args.pickle))
    for opt, value in outs:
        if value is not None:  # the README is read and rewritten by design; nothing else
            try:
                check_out("study", value, [args.readme])  # before the study, not after it
            except ValueError as e:  # check_out says --out: name the option the user typed
                text = str(e).replace("(or leave --out out for stdout)", f"(or leave {opt} out)")
                raise ValueError(text.replace("study: --out", f"study: {opt}", 1)) from None
            for other, v2 in outs:
                same = Path(value).resolve() == Path(v2 or "").resolve() and not is_null(value)
                if other != opt and v2 is not None and same:  # /dev/null twice writes nowhere
                    raise ValueError(f"study: {opt} {for_terminal(value)} is also {other}")

    for opt, n in (("--seeds", args.seeds), ("--jobs", args.jobs)):
        if n is not None and n < (2 if opt == "--seeds" else 1):
            raise ValueError(f"study: {opt} must be >= {2 if opt == '--seeds' else 1}, got {n}")
    problems = smoke_problems() if args.smoke else full_problems()
    if args.seeds is not None:  # the convex problems' tuning, build and scoring seeds
        problems = [p.with_seeds(args.seeds) if p.convex else p for p in problems]
    from lrcore.train.cost import estimate_study

    _costed(
        "study", estimate_study(problems, args.jobs), args, runs="--seeds", fields=(), study=True
    )

    def on_problem(k, n, name, seconds):
        print(f"[{k}/{n}] {for_terminal(name)}: {seconds:.0f} s", file=sys.stderr, flush=True)

    result = run_study(
        problems, on_problem=on_problem, jobs=args.jobs, scheduler=_dask_address(args)
    )
    if args.pickle:  # first: the report below must not be able to lose the runs
        import pickle

        write_atomic(args.pickle, pickle.dumps(result))
    command = (
        "lrcore study " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["study"] else "lrcore study"
    )
    if args.csv:
        write_atomic(args.csv, csv_report(result).encode())
    report = markdown_report(result, command.strip())
    if args.out:
        write_atomic(args.out, report.encode())
        print(f"wrote {args.out} ({result.wall_time / 60:.1f} min)", file=sys.stderr)
    else:
        print(report)
    if args.readme:
        update_readme(args.readme, readme_block(result))
        print(f"updated {args.readme}", file=sys.stderr)
    return 0


def _dask_option(text: str) -> str:
    """``--dask``: blank (the environment variable's scheduler) or HOST:PORT, with or without
    a protocol (``tcp://10.0.0.5:8786``), checked here so the error names the option."""
    import re

    m = re.fullmatch(
        r"(?:[a-z][a-z0-9+.-]*://)?(?:\[[^\]]+\]|[^\s:/\[\]]+):(\d{1,5})/?", text.strip()
    )
    if text.strip() and not (m and 1 <= int(m.group(1)) <= 65535):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a scheduler address such as tcp://HOST:8786 (a host and a port)"
        )
    return text


def _dask_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--dask",
        type=_dask_option,
        metavar="ADDRESS",
        help=f"send {what} to the Dask scheduler at ADDRESS (tcp://HOST:8786; default: "
        "$LRCORE_DASK_SCHEDULER, else this host); same numbers; needs lrcore[dask]",
    )


def _dask_address(args) -> str | None:
    from lrcore.executors import scheduler_address

    return scheduler_address(args.dask)


def _executor(address: str | None):
    """A Dask executor for ``address``, or a context yielding None (run in this process)."""
    from contextlib import nullcontext

    from lrcore.executors import get_executor

    return get_executor(scheduler=address) if address else nullcontext()


def add_commands(sub, commands: dict) -> None:
    p = sub.add_parser("run", help="train once with a schedule (logistic regression or small CNN)")
    _config_args(p)
    p.add_argument(
        "--schedule", default="linear", help="a schedule name, or a CSV with an lr column"
    )
    p.add_argument(
        "--seed", type=_seed, default=0, help="seed of data, init and batches (0 to 4294967295)"
    )
    p.add_argument(
        "--out",
        help="save the run in this folder (grad_norms.csv, evals.csv, result.json; default: not saved)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run even when the estimate is past the time limit (1 h); never past the memory "
        "limit (2 GB or the free memory, whichever is less)",
    )
    commands["run"] = cmd_run

    p = sub.add_parser("compare", help="schedules x seeds (x peak lrs), mean and standard error")
    _config_args(p)
    p.add_argument(
        "--schedules",
        default="linear,cosine,refined",
        help="comma-separated names; 'refined' refines from a linear run first",
    )
    p.add_argument(
        "--seeds", default="0,1,2", type=_seed_list, help="comma-separated distinct seeds"
    )
    p.add_argument(
        "--peak-lrs",
        type=_peak_list,
        help="comma-separated grid (default: --peak-lr x 1/4, 1/2, 1, 2, 4); "
        "each schedule keeps its best",
    )
    p.add_argument(
        "--no-extend",
        action="store_true",
        help="do not add peak lrs beyond the grid when a schedule's best is at its edge",
    )
    p.add_argument("--tau", type=float, default=0.1, help="smoothing for 'refined'")
    p.add_argument(
        "--rounds",
        type=whole,
        default=1,
        help="rounds of refinement: round k refines round k-1's runs (refined, refined_2, ...)",
    )
    p.add_argument("--all", action="store_true", help="show every peak lr, not only each best")
    p.add_argument(
        "--out",
        help="write one row per schedule at its best peak lr to this CSV (default: no file)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run even when the estimate is past the time limit (1 h); never past the memory "
        "limit (2 GB or the free memory, whichever is less)",
    )
    _dask_arg(p, "each batch of runs (one task per batch)")
    commands["compare"] = cmd_compare

    p = sub.add_parser(
        "study",
        help="the paper's claims on logistic regression, the hinge, gradient noise, small "
        "batches, a long horizon and 2 CNNs (docs/results.md)",
    )
    p.add_argument(
        "--smoke", action="store_true", help="3 tiny problems, 2 seeds per set (seconds)"
    )
    p.add_argument(
        "--seeds",
        type=whole,
        help="tuning, build and scoring seeds per convex problem (default: 10, as "
        "docs/protocol.md; the lm and CNN problems keep theirs)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        help="worker processes, one problem each at a time (every run uses one CPU thread, so "
        "the numbers do not depend on it; at most the host's CPUs; default: 1)",
    )
    _dask_arg(p, "the problems (one task per problem, instead of --jobs)")
    p.add_argument("--out", help="write the markdown report here (default: stdout)")
    p.add_argument(
        "--csv", help="write every best row in full precision to this CSV (default: none)"
    )
    p.add_argument("--readme", help="also rewrite the study block of this README (default: none)")
    p.add_argument(
        "--pickle",
        help="also save the StudyResult here (pickle), to re-render it (default: not saved)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run even when the estimate is past the time limit (8 h); never past the free memory",
    )
    commands["study"] = cmd_study
