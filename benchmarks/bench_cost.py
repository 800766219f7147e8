"""The cost model (lrcore.train.cost) against measured runs, and its calibration.

    python benchmarks/bench_cost.py          # measured vs estimated: defaults, scaled extremes
    python benchmarks/bench_cost.py --fit    # short runs -> coefficients to paste in cost.py

Every timing is normalised by the timing kernel (``cost._kernel``) measured just before it,
so a fit made on a loaded machine still gives seconds at the kernel's reference speed. The
1-minute load average is printed beside every timing. Peak memory is measured in a fresh
process (the resident size sampled every 2 ms during the runs, minus the resident size after
imports and a warm-up run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

from lrcore.train import cost
from lrcore.train.config import TASKS as TASKS_DATA
from lrcore.train.config import RunConfig

TASKS = ("logreg", "svm", "cnn", "lm")


def load() -> float:
    return os.getloadavg()[0]


class Timed:
    """Wraps the training loop's stages (data, scoring, results) to time them apart."""

    def __init__(self):
        import lrcore.train.loop as loop

        self.loop, self.t = loop, {}
        for name in ("load_dataset", "_evaluate", "_results"):
            self._wrap(name)

    def _wrap(self, name):
        f = getattr(self.loop, name)

        def g(*a, **k):
            s = time.thread_time()
            out = f(*a, **k)
            self.t[name] = self.t.get(name, 0.0) + time.thread_time() - s
            return out

        setattr(self.loop, name, g)

    def run(self, configs) -> dict:
        """CPU seconds of each stage (the fit is made on CPU time: a loaded machine slows
        the wall clock, not the work), the kernel's CPU time just before."""
        self.t = {}
        k = cost._kernel()[0]
        s, w = time.thread_time(), time.perf_counter()
        self.loop.run_many(configs)
        cpu, wall = time.thread_time() - s, time.perf_counter() - w
        steps = cpu - sum(self.t.values())
        return {"cpu": cpu, "wall": wall, "kernel": k, "steps": steps, **self.t, "load": load()}


def _lm(**kw) -> RunConfig:
    return RunConfig.for_task("lm", **kw)


def fit_cases() -> dict[str, list[list[RunConfig]]]:
    """Short runs per task, each the configs of one group: the defaults of ``lrcore run`` and of
    the Train page (one run and a batch), shortened, and every size the extreme cases grow
    (batch size, runs, layers, sequence length, held-out sequences)."""

    def grp(cfg, R):
        return [cfg.with_(seed=i % 3, peak_lr=cfg.peak_lr * (1 + i)) for i in range(R)]

    lr = RunConfig(steps=300, eval_every=50)
    lrs = RunConfig(dataset="synthetic", steps=300, eval_every=50, weight_decay=1e-3)
    sv = RunConfig(task="svm", dataset="synthetic", steps=300, eval_every=50)
    svd = RunConfig(task="svm", steps=300, eval_every=50)
    big = {"steps": 10, "eval_every": 10, "batch_size": 20_000}
    cn = RunConfig(task="cnn", optimizer="adam", peak_lr=3e-3, steps=60, eval_every=20)
    cn_sgd = cn.with_(optimizer="sgd", peak_lr=0.1)
    lm, lm4 = _lm(steps=16, eval_every=8), _lm(steps=4, eval_every=4)
    return {
        "logreg": [
            *(grp(lr, R) for R in (1, 6, 18)),
            grp(lr.with_(batch_size=256), 1),
            grp(lr.with_(batch_size=128), 6),
            grp(lrs, 1),
            grp(lrs, 18),
            grp(lr.with_(**big), 1),
            grp(lr.with_(**big).with_(batch_size=50_000), 1),
            grp(lr.with_(steps=3000, eval_every=3000), 1),
        ],
        "svm": [
            *(grp(sv, R) for R in (1, 9, 18)),
            grp(sv.with_(batch_size=256), 3),
            grp(svd, 1),
            grp(svd, 6),
            grp(svd.with_(**big), 1),
        ],
        "cnn": [
            *(grp(cn, R) for R in (1, 4, 12)),
            grp(cn.with_(batch_size=128), 2),
            grp(cn_sgd.with_(steps=200, eval_every=200), 1),
            grp(cn_sgd.with_(steps=30, eval_every=10), 12),
        ],
        "lm": [
            *(grp(lm, R) for R in (1, 6, 30)),
            grp(lm.with_(lm_seq_len=64, lm_d_model=48, batch_size=32), 2),
            grp(lm.with_(lm_d_model=32, lm_layers=4, batch_size=8), 2),
            grp(lm.with_(lm_seq_len=128, lm_d_model=32, lm_layers=1), 2),
            grp(lm.with_(lm_heldout=1024), 2),
            grp(lm.with_(lm_heldout=512), 12),
            grp(lm.with_(steps=60, eval_every=60), 1),
            grp(lm4.with_(lm_seq_len=256, lm_heldout=64), 1),
            grp(lm4.with_(lm_seq_len=192, lm_heldout=64), 3),
            grp(lm4.with_(lm_layers=50), 1),
            grp(lm4.with_(lm_layers=24, lm_heldout=1000), 1),
            grp(lm4.with_(lm_heldout=2000), 1),
        ],
    }


def _nnls(rows, y):
    """Non-negative least squares on relative errors (each row divided by its target)."""
    from scipy.optimize import nnls

    A = np.array(rows, dtype=float) / np.array(y)[:, None]
    keep = A.any(0)
    scale = np.where(keep, np.abs(A).max(0), 1.0)
    coef = np.zeros(A.shape[1])
    coef[keep] = nnls(A[:, keep] / scale[keep], np.ones(len(y)))[0] / scale[keep]
    return coef


def fit() -> None:
    timed = Timed()
    import lrcore.train.data as data
    from lrcore.train.objective import f_star

    kernels = []
    out = {}
    for task, cases in fit_cases().items():
        srows, sy, erows, ey = [], [], [], []
        timed.run(cases[0][:1])  # warm-up: imports, caches
        for group in cases:
            cfg, R = group[0], len(group)
            for c in group:  # data and f* first (fitted apart below): the steps alone
                if c.convex:
                    f_star(c)
            m = timed.run(group)
            kernels.append(m["kernel"])
            n_ev = cost._evals(cfg)
            f_s, e_s = cost.features(cfg, R)
            # seconds at this case's kernel speed -> divide by the kernel time (units)
            srows.append(f_s)
            sy.append(m["steps"] / cfg.steps / m["kernel"])
            erows.append(e_s)
            ey.append(m["_evaluate"] / n_ev / m["kernel"])
            print(
                f"  {task:6s} R={R:2d} B={cfg.batch_size:3d} T={cfg.steps}: steps "
                f"{m['steps']:.2f} s, scoring {m['_evaluate']:.2f} s ({n_ev} evals), kernel "
                f"{1e3 * m['kernel']:.1f} ms, load {m['load']:.1f}",
                flush=True,
            )
        cs, ce = _nnls(srows, sy), _nnls(erows, ey)
        out[task] = dict(zip(cost.STEP_TERMS, cs, strict=True))
        out[task] |= dict(zip(cost.EVAL_TERMS, ce, strict=True))
    # data: lm sampling, the stationary distribution, sklearn loads, f*, index and record;
    # each the least CPU time of 3 (fresh seeds: nothing cached)
    k = cost._kernel()[0]
    g = {}

    def least(make, n=3) -> float:
        out = []
        for i in range(n):
            todo = make(i)
            s = time.process_time()
            todo()
            out.append(time.process_time() - s)
        return min(out)

    def loads(cfg):
        return lambda: data._load(data.data_spec(cfg))

    lm_data = lambda i: lambda: data.lm_dataset(_lm(steps=400, batch_size=16, seed=70 + i))  # noqa: E731
    g["g_lm"] = least(lm_data) / ((6400 + 256) * 33 * 16) / k
    ctx = lambda i: lambda: data.MarkovSource(32, 2, 0.5, 30 + i).stationary  # noqa: E731
    g["g_ctx"] = least(ctx) / 1024**3 / k
    g["g_sklearn"] = least(lambda i: loads(RunConfig(seed=110 + i))) / k
    syn = RunConfig(dataset="synthetic", synthetic_samples=20000)
    g["g_syn"] = least(lambda i: loads(syn.with_(seed=120 + i))) / (20000 * 20 * 20) / k
    img = RunConfig(task="cnn", dataset="synthetic_images", synthetic_samples=20000)
    g["g_img"] = least(lambda i: loads(img.with_(seed=120 + i))) / 20000 / k
    fstar = {}
    for task in ("logreg", "svm"):
        for ds in TASKS_DATA[task]:
            for wd in (0.0, 1e-3) if task == "logreg" else (0.0,):
                ts = []
                for seed in (31, 32):
                    c = RunConfig(task=task, dataset=ds, weight_decay=wd, seed=seed)
                    data._load(data.data_spec(c))
                    kk = cost._kernel()[0]
                    s = time.process_time()
                    f_star(c)
                    ts.append((time.process_time() - s) / kk)
                fstar[f"{task}/{ds}/{'l2' if wd else 'none'}"] = min(ts)
    for task, kw in (("logreg", {"dataset": "digits"}), ("svm", {"dataset": "synthetic"})):
        times = []
        for seed in (21, 22):
            c = RunConfig(task=task, seed=seed, **kw)
            s = time.process_time()
            f_star(c)
            d, kk, n, _ = cost.data_shape(c)
            times.append((time.process_time() - s) / (n * d * kk) / k)
        out[task]["f"] = float(np.mean(times))
        print(f"  f* {task}: {np.mean(times) * k * n * d * kk:.2f} s, load {load():.1f}")
    T, R, B = 200_000, 2, 32
    s = time.process_time()
    np.stack(
        [np.random.default_rng([i, 3]).integers(0, 1000, (T, B)) + i * 1000 for i in range(R)]
    ).transpose(1, 0, 2).reshape(T, R * B)
    g["g_idx"] = (time.process_time() - s) / (T * R * B) / k
    rec = [RunConfig(steps=20_000, eval_every=20_000, seed=s) for s in range(4)]
    for c in rec:
        f_star(c)  # cached: _results then times the record and results only
    m = timed.run(rec)
    g["g_rec"] = m["_results"] / (20_000 * 4) / m["kernel"] / 2  # half: the rest is per run
    g["g_run"] = m["_results"] / 4 / m["kernel"] - g["g_rec"] * 20_000
    g["c_noise"] = _noise_coef()
    g["g_import"] = _import_seconds() / k
    kern = float(np.median(kernels))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    stamp = f"{datetime.date.today()} at {commit}, load {load():.1f}"
    print(f'\nCALIBRATION = "{stamp}"')
    print(f"KERNEL_SECONDS = {kern:.6g}")
    # coefficients are in kernel units; times kern gives seconds at the reference speed
    print("COEF = " + _py({t: {k2: v * kern for k2, v in c.items()} for t, c in out.items()}))
    print("DATA_COEF = " + _py({k2: v * kern for k2, v in g.items()}))
    print("FSTAR_SECONDS = " + _py({k2: v * kern for k2, v in fstar.items()}))


def _noise_coef() -> float:
    rngs = [np.random.default_rng(i) for i in range(3)]
    k = cost._kernel()[0]
    s = time.process_time()
    for r in rngs:
        r.standard_normal((256, 20_000))
    return (time.process_time() - s) / (3 * 256 * 20_000) / k


def _import_seconds() -> float:
    # as a run pays it: torch, numpy and the training loop are imported already
    code = (
        "import time, lrcore.train.loop; s = time.process_time(); "
        "import sklearn.model_selection, sklearn.datasets; print(time.process_time() - s)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(out.stdout.strip() or 0.0)


def _py(d) -> str:
    def fmt(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{k}": {fmt(x)}' for k, x in v.items()) + "}"
        return f"{float(v):.4g}"

    return fmt(d)


# ---------------------------------------------------------------- measured vs estimated
def app_group(task: str, steps: int | None = None) -> list[RunConfig]:
    """The Train page's first batch for ``task``'s default setup (app/presets.py: linear and
    cosine x its peak grid x 3 seeds; held-out scoring as app/train_run.py sets it);
    ``steps`` shortens it (same scoring per run)."""
    peaks = {"logreg": 3, "svm": 3, "cnn": 2, "lm": 5}[task]
    base = {
        "logreg": {"steps": 1000, "weight_decay": 1e-3},
        "svm": {"dataset": "synthetic", "steps": 1000},
        "cnn": {"steps": 300},
        "lm": {"steps": 800, "warmup_steps": 40},
    }[task]
    steps = steps or base["steps"]
    per_run = {"logreg": 50, "svm": 50, "cnn": 10, "lm": 10}[task]
    cfg = RunConfig.for_task(task, **{**base, "steps": steps}, eval_every=max(1, steps // per_run))
    return [
        cfg.with_(schedule=s, seed=seed, peak_lr=cfg.peak_lr * 2.0**j)
        for s in ("linear", "cosine")
        for j in range(peaks)
        for seed in range(3)
    ]


def defaults(lm_full: bool = False) -> dict[str, list[RunConfig]]:
    """Every task's default: ``lrcore run`` (one run) and the Train page's first batch (the
    language model's shortened to 80 steps unless ``lm_full``: 30 runs x 800 steps is
    minutes)."""
    out = {f"lrcore run --task {t}": [RunConfig.for_task(t)] for t in TASKS}
    for t in TASKS:
        short = t == "lm" and not lm_full
        out[f"app {t} first batch" + (" (T=80)" if short else "")] = app_group(
            t, 80 if short else None
        )
    return out


def extremes() -> dict[str, list[RunConfig]]:
    """Issue 27's extreme cases, scaled down so that the same term dominates and they run (the
    lm's for 16 steps: at 4 steps, --lm-seq-len 256 took 1.4-2.6 s from one process to the
    next, its first steps' allocations)."""
    lm = RunConfig.for_task("lm", steps=16, eval_every=16)
    return {
        "run --steps 60000 (of 20000000)": [RunConfig(steps=60_000, eval_every=60_000)],
        "run --batch-size 100000 (of 10000000)": [RunConfig(steps=10, batch_size=100_000)],
        "run --task lm --lm-seq-len 256 (of 100000)": [lm.with_(lm_seq_len=256, lm_heldout=64)],
        "run --task lm --lm-layers 100 (of 1000)": [lm.with_(lm_layers=100)],
        "run --task lm --lm-heldout 4000 (of 10000000)": [lm.with_(lm_heldout=4000)],
    }


def measure_time(configs) -> tuple[float, float, float]:
    import lrcore.train.data as data
    import lrcore.train.loop as loop
    import lrcore.train.objective as obj

    data._load.cache_clear()
    data._lm.cache_clear()
    data._source.cache_clear()
    obj.solve.cache_clear()
    cost.machine_speed.cache_clear()
    est = cost.estimate(configs)
    s = time.perf_counter()
    loop.run_many(configs)
    return time.perf_counter() - s, est.seconds, load()


MEM_CODE = """
import json, sys, threading, time
from lrcore.train.config import RunConfig
from lrcore.train.loop import run_many
from lrcore.train.cost import estimate
cfgs = [RunConfig(**c) for c in json.loads(sys.argv[1])]
# imports and kernels, on the task's default sizes: a warm-up of the same sizes would leave
# its memory resident (the allocators keep it) and hide the run's own
run_many([RunConfig.for_task(cfgs[0].task, steps=2, eval_every=1, warmup_steps=0)])
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
base, peak, done = rss(), [0], threading.Event()
def sample():  # ru_maxrss would keep the imports' peak: the resident size every 2 ms instead
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)
t = threading.Thread(target=sample, daemon=True)
t.start()
run_many(cfgs)
done.set()
t.join()
peak[0] = max(peak[0], rss())
print(json.dumps({"measured": peak[0] - base, "base": base,
                  "estimated": estimate(cfgs, speed=1.0).peak_bytes}))
"""


def measure_memory(configs) -> dict:
    arg = json.dumps([c.to_dict() for c in configs])
    out = subprocess.run([sys.executable, "-c", MEM_CODE, arg], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit", action="store_true", help="calibrate: print the coefficients")
    ap.add_argument("--only", choices=["time", "memory", "refused"], help="one part only")
    ap.add_argument("--lm-full", action="store_true", help="the lm's first batch at full length")
    args = ap.parse_args()
    if args.fit:
        fit()
        return
    print(f"calibration: {cost.CALIBRATION}")
    if args.only in (None, "time"):
        print("== time: measured wall vs estimated (each with the machine's speed just before)")
        for name, cfgs in {**defaults(args.lm_full), **extremes()}.items():
            m, e, ld = measure_time(cfgs)
            print(
                f"{name:48s} measured {m:7.2f} s  estimated {e:7.2f} s  ratio {e / m:4.2f}  "
                f"(speed x{cost.machine_speed():.1f}, load {ld:.1f})",
                flush=True,
            )
    if args.only in (None, "memory"):
        print(
            "== peak memory: measured (fresh process, resident size sampled every 2 ms, over the warm base)"
        )
        for name, cfgs in {**defaults(), **extremes()}.items():
            r = measure_memory(cfgs)
            print(
                f"{name:48s} measured {r['measured'] / 2**20:7.1f} MB  estimated "
                f"{r['estimated'] / 2**20:7.1f} MB  ratio {r['estimated'] / max(r['measured'], 1):4.2f}",
                flush=True,
            )
    if args.only in (None, "refused"):
        print("== issue 27's extreme cases: estimate only (refused, not run)")
        for argv in REFUSED:
            s = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "lrcore", *argv], capture_output=True, text=True
            )
            print(
                f"lrcore {' '.join(a if len(a) < 30 else a[:20] + '...' for a in argv)}: exit "
                f"{out.returncode} in {time.perf_counter() - s:.1f} s: {out.stderr.strip()[-300:]}"
            )


REFUSED = [
    ["run", "--steps", "20000000"],
    ["run", "--task", "cnn", "--steps", "20000000"],
    ["run", "--batch-size", "10000000"],
    ["run", "--task", "lm", "--lm-seq-len", "100000"],
    ["run", "--task", "lm", "--lm-layers", "1000"],
    ["run", "--task", "lm", "--lm-heldout", "10000000"],
    ["run", "--task", "lm", "--lm-vocab", "256", "--lm-order", "2"],
    ["run", "--task", "lm", "--lm-d-model", "100000", "--lm-heads", "1"],
    ["compare", "--seeds", ",".join(map(str, range(1000)))],
    ["compare", "--rounds", "1000"],
    ["study", "--smoke", "--seeds", "1000000"],
]


if __name__ == "__main__":
    main()
