"""The cost model of a run: time and peak memory of a list of RunConfigs, as ``run_many``
would batch them, before anything runs (no torch here, except the tiny timing kernel).

``run_many`` runs each group of configs with equal ``batch_key`` as one batched computation
(R runs of batch B for T steps), one group after another, on one CPU thread. A group costs

- **steps**: ``T * speed * (a + a_layer * layers + c_par * R * P + c_ex * R * B * w
  + c_att * R * B * w_att + c_in * R * B * x + c_noise * seeds * P)``; ``P`` = parameters of
  one run, ``w`` the flops-ish work of one example: ``d * k`` (logreg, svm), the conv and head
  multiply-adds of one 8x8 image (cnn), ``L * (12 * D**2 * layers + D * V)`` (lm, with
  ``w_att = L**2 * D * layers`` for attention), ``x`` the numbers one example holds (``d``, 64
  pixels, ``L`` tokens: gathering the minibatch), ``+ c_cache * R * B * x * log2(1 + MB)`` for
  a minibatch of that many MB past the caches;
- **held-out scoring**: ``evals * speed * (e + e_piece * R * pieces * (1 + layers)
  + e_ex * R * N * w + e_att * R * N * w_att)``, ``N`` = examples scored (the whole split;
  lm: ``lm_heldout`` + 64 training sequences) in ``pieces`` of :data:`EVAL_CHUNK`,
  ``evals = T // eval_every + 1`` (+ 1 when ``eval_every`` does not divide ``T``);
- **data**: per seed, the dataset (lm: ``g_lm * sequences * (L + 1) * V`` to sample the
  Markov chain, ``g_ctx * C**3`` for its stationary distribution, ``C = V**order``), the
  exact optimum f* of the convex tasks (``g_fstar * n * d * k``), and per group the minibatch
  index and the per-step record (``g_idx * T * R * B``, ``g_rec * T * R``).

The coefficients were fitted once by ``benchmarks/bench_cost.py --fit`` (see
:data:`CALIBRATION`); ``speed`` is this machine's time for a tiny fixed kernel relative to
the calibration machine's, measured at first use and cached per process.

Memory (bytes) is the sum of the dominant tensors of the largest group: parameters x runs x
(gradient, optimizer state, copies), the minibatch index (``2 * T * R * B * 8``, built then
reshaped), the per-step record and results (``T * R * ~72``), the datasets stacked per run,
the noise buffer, and the larger of the training activations, the scoring activations and
the data generation's temporaries; for a plan (compare, study) the results kept from earlier
groups are added.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from lrcore.train.config import EVAL_CHUNK, RunConfig

# fitted by `python benchmarks/bench_cost.py --fit` (seconds at KERNEL_SECONDS), see CALIBRATION
CALIBRATION = "2026-12-05 03:40 UTC, load 1.1 (fit committed in 4256747)"
KERNEL_SECONDS = 0.00187649
COEF: dict[str, dict[str, float]] = {
    "logreg": {
        "a": 0.0001238,
        "a_layer": 0,
        "c_par": 9.863e-09,
        "c_ex": 0,
        "c_att": 0,
        "c_in": 5.984e-09,
        "c_cache": 1.573e-09,
        "e": 0.0002492,
        "e_piece": 0.0001402,
        "e_ex": 2.693e-10,
        "e_att": 0,
        "f": 6.215e-08,
    },
    "svm": {
        "a": 0.0001565,
        "a_layer": 0,
        "c_par": 4.714e-09,
        "c_ex": 0,
        "c_att": 0,
        "c_in": 6.228e-09,
        "c_cache": 3.686e-10,
        "e": 0.0002148,
        "e_piece": 7.272e-05,
        "e_ex": 1.822e-10,
        "e_att": 0,
        "f": 3.929e-06,
    },
    "cnn": {
        "a": 0.001046,
        "a_layer": 0,
        "c_par": 0,
        "c_ex": 1.333e-10,
        "c_att": 0,
        "c_in": 0,
        "c_cache": 0,
        "e": 0.002816,
        "e_piece": 0.002447,
        "e_ex": 0,
        "e_att": 0,
    },
    "lm": {
        "a": 0.0005624,
        "a_layer": 0.00155,
        "c_par": 1.112e-08,
        "c_ex": 6.261e-11,
        "c_att": 1.027e-09,
        "c_in": 1.347e-06,
        "c_cache": 3.779e-05,
        "e": 0,
        "e_piece": 0.0005081,
        "e_ex": 1.725e-11,
        "e_att": 5.05e-10,
    },
}
DATA_COEF = {
    "g_lm": 9.461e-09,
    "g_ctx": 2.869e-10,
    "g_sklearn": 0.03465,
    "g_syn": 3.334e-09,
    "g_img": 2.942e-06,
    "g_idx": 3.691e-08,
    "g_rec": 2.36e-08,
    "g_run": 0.000472,
    "c_noise": 9.1e-09,
    "g_import": 0.5209,  # sklearn, imported after torch and the loop
}

# CPU seconds of the exact optimum f* of one data split (task/dataset/L2 term), at
# KERNEL_SECONDS; synthetic data scale with n * d * k from its default (1500 x 20 x 4)
FSTAR_SECONDS = {
    "logreg/digits/none": 0.02233,
    "logreg/digits/l2": 0.0565,
    "logreg/breast_cancer/none": 0.00887,
    "logreg/breast_cancer/l2": 0.01526,
    "logreg/wine/none": 0.002543,
    "logreg/wine/l2": 0.002654,
    "logreg/iris/none": 0.003067,
    "logreg/iris/l2": 0.006746,
    "logreg/synthetic/none": 0.02207,
    "logreg/synthetic/l2": 0.009662,
    "svm/digits/none": 0.0238,
    "svm/breast_cancer/none": 0.01178,
    "svm/wine/none": 0.006567,
    "svm/iris/none": 0.003077,
    "svm/synthetic/none": 0.4878,
}

MEMORY_LIMIT = 2 * 1024**3  # bytes: a setup past this (or the free memory, if less) is refused
APP_SECONDS = 600.0  # the Train and check page: at most this long per Start
CLI_SECONDS = 3600.0  # lrcore run / compare: past this only with --force
# lrcore study: its plan is docs/protocol.md's (only --seeds and --jobs change it): it may
# use the host's free memory, and runs up to 8 h without --force (the full study is 40 min
# of one idle core's work, hours on a busy machine)
STUDY_SECONDS = 8 * 3600.0

# (features, classes, examples) of the datasets that ship with scikit-learn
_SHAPES = {"digits": (64, 10, 1797), "breast_cancer": (30, 2, 569), "wine": (13, 3, 178)}
_SHAPES["iris"] = (4, 3, 150)
LM_TRAIN_EVAL = 64  # lrcore.train.data.LM_TRAIN_EVAL (not imported: it would load numpy's RNG)
NOISE_CHUNK = 256  # lrcore.train.loop.NOISE_CHUNK


@dataclass(frozen=True)
class Term:
    """One part of a cost: what it is, its seconds and bytes, the settings it grows with."""

    what: str
    seconds: float = 0.0
    nbytes: float = 0.0
    grows_with: tuple[str, ...] = ()  # RunConfig fields, or "runs" for the number of runs
    shrinks_with: tuple[str, ...] = ()  # fields that make it smaller when raised


@dataclass(frozen=True)
class Cost:
    """The estimated cost of some runs: expected wall time, the most memory held at once."""

    seconds: float  # expected wall time on this machine (grid extensions not counted)
    peak_bytes: float  # the most memory the runs hold at once
    runs: int  # training runs
    seconds_max: float = 0.0  # with every grid extension a compare may add (>= seconds)
    terms: tuple[Term, ...] = field(default=(), repr=False)

    def slowest(self) -> Term:
        return max(self.terms, key=lambda t: t.seconds)

    def scaled(self, factor: float) -> Cost:
        """The same cost with every time ``factor`` times as long (memory unchanged): at the
        pace runs have really had on a machine (the app's :meth:`lrcore.train.pool.Pool.pace`)."""
        return replace(
            self,
            seconds=self.seconds * factor,
            seconds_max=self.seconds_max * factor,
            terms=tuple(replace(t, seconds=t.seconds * factor) for t in self.terms),
        )

    def largest(self) -> Term:
        return max(self.terms, key=lambda t: t.nbytes)

    def text(self) -> str:
        """``~3 min 10 s, ~120 MB`` (and the upper bound when grid extensions may add runs)."""
        out = f"~{duration(self.seconds)}, ~{size(self.peak_bytes)}"
        if self.seconds_max > 1.05 * self.seconds:
            out += f" (up to ~{duration(self.seconds_max)} if the peak-lr grid is extended)"
        return out


def duration(seconds: float) -> str:
    """``3 min 10 s``, ``45 s``, ``2 h 5 min``.

    >>> duration(190), duration(0.4), duration(7500)
    ('3 min 10 s', '1 s', '2 h 5 min')
    """
    if not (isinstance(seconds, numbers.Real) and math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"duration: seconds must be a finite number >= 0, got {seconds!r}")
    s = max(1, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 else f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if h < 100 else f"{h:,} h"


def size(nbytes: float) -> str:
    """``120 MB``, ``2.1 GB`` (powers of 1024).

    >>> size(120 * 1024**2), size(2.25 * 1024**3), size(10)
    ('120 MB', '2.2 GB', '1 MB')
    """
    if not (isinstance(nbytes, numbers.Real) and math.isfinite(nbytes) and nbytes >= 0):
        raise ValueError(f"size: nbytes must be a finite number >= 0, got {nbytes!r}")
    mb = nbytes / 1024**2
    if mb < 1000:
        return f"{max(1, round(mb))} MB"
    gb = mb / 1024
    return f"{gb:.1f} GB" if gb < 100 else f"{gb:,.0f} GB"


# ---------------------------------------------------------------- the machine's speed
def _kernel(reps: int = 30) -> tuple[float, float]:
    """(CPU seconds of a fixed mix of small batched matmuls, softmaxes and elementwise ops on
    one thread, the kind of work these small models do: median of ``reps``; wall time over
    CPU time: 1 on an idle core, 4 when the process gets a quarter of one: the mean of the
    middle half of the reps' ratios, so that one preemption in 60 ms does not read as load)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, w = torch.ones(8, 32, 64), torch.full((8, 64, 64), 1e-3)
        cpu, ratio = [], []
        for _ in range(reps):
            # this thread's CPU time: the process's would count other threads (an OpenMP pool
            # left spinning by a run just before made it read 3x slow every other rep)
            t0, w0 = time.thread_time(), time.perf_counter()
            y = x
            for _ in range(40):
                y = torch.bmm(y, w).softmax(-1).mul_(0.5).add_(x)
            c = time.thread_time() - t0
            cpu.append(c)
            ratio.append((time.perf_counter() - w0) / max(c, 1e-9))
    finally:
        torch.set_num_threads(before)
    mid = sorted(ratio)[reps // 4 : reps - reps // 4]
    return sorted(cpu)[reps // 2], max(1.0, sum(mid) / len(mid))


@lru_cache(maxsize=1)
def machine_speed() -> float:
    """How much longer a run takes here than on the calibration machine's idle core (2 =
    twice as long): this CPU's time for :func:`_kernel` over the calibration's, times the
    wall/CPU ratio of that kernel (the share of a core this process gets now). Measured once
    per process (about 60 ms of CPU)."""
    cpu, share = _kernel()
    return cpu / KERNEL_SECONDS * share


@lru_cache(maxsize=1)
def cpu_speed() -> float:
    """:func:`machine_speed` on an idle core: this CPU's time for :func:`_kernel` over the
    calibration's, without the share of a core this process gets at that moment. For a
    measurement kept long after it is taken, where one moment's load does not last: the app
    measures once per server, and a class's first Train page, measured while 30 students'
    pages loaded on the server's one core, put every run's estimate 6x high for the server's
    lifetime (~10.5 s a run for runs of 1.6 s). The load the runs then meet is measured from
    the runs themselves (:meth:`lrcore.train.pool.Pool.pace`)."""
    return _kernel()[0] / KERNEL_SECONDS


# ---------------------------------------------------------------- sizes of a config
def data_shape(cfg: RunConfig) -> tuple[int, int, int, int]:
    """(features, classes, training examples, scored examples) of ``cfg``'s data; lm: (seq_len,
    vocab, training sequences, scored sequences)."""
    if cfg.task == "lm":
        return cfg.lm_seq_len, cfg.lm_vocab, cfg.steps * cfg.batch_size, cfg.lm_heldout + 64
    if cfg.dataset in _SHAPES:
        d, k, n = _SHAPES[cfg.dataset]
    else:
        d = 64 if cfg.dataset == "synthetic_images" else cfg.synthetic_features
        k, n = cfg.synthetic_classes, cfg.synthetic_samples
    n_test = math.ceil(0.25 * n)
    return d, k, n - n_test, n


def params(cfg: RunConfig) -> int:
    """Parameters of one run's model."""
    d, k, _, _ = data_shape(cfg)
    if cfg.task == "cnn":
        return 16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * k + k
    if cfg.task == "lm":
        D, V, L = cfg.lm_d_model, cfg.lm_vocab, cfg.lm_seq_len
        return V * D + L * D + cfg.lm_layers * (12 * D * D + 13 * D) + 2 * D + D * V + V
    return d * k + k


def work(cfg: RunConfig) -> tuple[float, float]:
    """(w, w_att): flops-ish work of one example's forward pass (matmul-like, attention)."""
    d, k, _, _ = data_shape(cfg)
    if cfg.task == "cnn":
        return 64.0 * (16 * 9 + 32 * 16 * 9) + 512 * k, 0.0
    if cfg.task == "lm":
        D, V, L, n = cfg.lm_d_model, cfg.lm_vocab, cfg.lm_seq_len, cfg.lm_layers
        return float(L) * (12 * D * D * n + D * V), float(L) * L * D * n
    return float(d * k), 0.0


def _evals(cfg: RunConfig) -> int:
    T, e = cfg.steps, cfg.eval_every
    return T // e + 1 + (T % e != 0)


STEP_TERMS = ("a", "a_layer", "c_par", "c_ex", "c_att", "c_in", "c_cache")  # per training step
EVAL_TERMS = ("e", "e_piece", "e_ex", "e_att")  # per held-out scoring


def features(cfg: RunConfig, R: int) -> tuple[list[float], list[float]]:
    """What one training step and one held-out scoring of a group of ``R`` runs of ``cfg``
    cost in units of :data:`COEF`'s coefficients (:data:`STEP_TERMS`, :data:`EVAL_TERMS`); the
    fit (``benchmarks/bench_cost.py --fit``) and the estimate use this one function."""
    P, (w, w_att) = params(cfg), work(cfg)
    d, _, _, n_eval = data_shape(cfg)
    B = cfg.batch_size
    layers = cfg.lm_layers if cfg.is_lm else 0
    x = cfg.lm_seq_len if cfg.is_lm else (64 if cfg.task == "cnn" else d)
    pieces = math.ceil(n_eval / min(n_eval, EVAL_CHUNK.get(cfg.task, n_eval)))
    # a minibatch past the caches costs more per number (batch 20,000 -> 100,000 of logreg:
    # 0.013 -> 0.1 s a step): c_cache * numbers * log2(1 + its MB)
    cache = R * B * x * math.log2(1 + R * B * x * 4 / 2**20)
    step = [1.0, layers, R * P, R * B * w, R * B * w_att, R * B * x, cache]
    ev = [1.0, R * pieces * (1 + layers), R * n_eval * w, R * n_eval * w_att]
    return [float(v) for v in step], [float(v) for v in ev]


# ---------------------------------------------------------------- one group of runs
Group = tuple[RunConfig, int, int]  # a group's config, its runs R, its distinct seeds


def _group_terms(group: Group, speed: float, data_paid: bool = False) -> list[Term]:
    """The terms of one group; ``data_paid``: its datasets (and f*) are already cached."""
    cfg, R, seeds = group
    c, g = COEF[cfg.task], DATA_COEF
    T, B = cfg.steps, cfg.batch_size
    P = params(cfg)
    d, k, n_train, n_eval = data_shape(cfg)
    dsize = 8 if cfg.float64 else 4
    layers = cfg.lm_layers if cfg.is_lm else 0
    noise = cfg.noise != "none"
    f_step, f_eval = features(cfg, R)
    per_step = sum(c.get(n, 0.0) * v for n, v in zip(STEP_TERMS, f_step, strict=True))
    per_step += g["c_noise"] * seeds * P if noise else 0.0
    lm = ("lm_seq_len", "lm_d_model", "lm_layers") if cfg.is_lm else ()
    model = ("lm_d_model", "lm_layers", "lm_vocab") if cfg.is_lm else ()
    # parameters, gradients, their flat copy, the optimizer's state, the noise
    state = 3 + (2 if cfg.optimizer != "sgd" else int(cfg.momentum > 0)) + noise
    noise_buf = seeds * NOISE_CHUNK * P * (8 + dsize) if noise else 0
    piece = min(n_eval, EVAL_CHUNK.get(cfg.task, n_eval))  # scored this many at a time
    if cfg.is_lm:
        D, V, L, H = cfg.lm_d_model, cfg.lm_vocab, cfg.lm_seq_len, cfg.lm_heads
        # numbers kept per token, fitted to the resident size of 9 lm setups (bench_cost.py
        # --only memory): 22 D + 6 H L per layer (attention scores and probabilities, per
        # head), 45 D outside the layers (embeddings, norms, the head's input and gradients)
        act = R * B * L * (layers * (22 * D + 6 * H * L) + 45 * D + 3 * V) * dsize
        act_eval = R * piece * L * (12 * D + 6 * H * L + 3 * V) * dsize
    elif cfg.task == "cnn":
        # per image: the convolutions' unfolded inputs (9 x 16 x 64 for the second) and
        # outputs, kept for the backward pass in training (measured: 17,000 numbers an image
        # in training; scoring 12,000 in 2 scorings, 20,000 over the 11 of the Train page's
        # batch: the allocator's pieces grow)
        act = R * B * 17_000 * dsize
        act_eval = R * piece * 20_000 * dsize
    else:
        act, act_eval = R * B * (d + 4 * k) * dsize, R * n_eval * 4 * k * dsize
    per_eval = sum(c.get(n, 0.0) * v for n, v in zip(EVAL_TERMS, f_eval, strict=True))
    terms = [
        Term("training steps", T * per_step * speed, 0, ("steps", "runs", "batch_size", *lm)),
        Term(
            "parameters and optimizer state",
            0.0,
            R * P * dsize * state + noise_buf,
            ("runs", *model),
        ),
        # only the largest of the transient terms is alive at once (see _peak)
        Term("activations", 0.0, act, ("batch_size", "runs", *lm, "lm_heads"[: 8 * cfg.is_lm])),
        Term(
            "held-out scoring",
            _evals(cfg) * per_eval * speed,
            act_eval,
            ("lm_heldout", "lm_seq_len", "runs") if cfg.is_lm else ("runs",),
            ("eval_every",),
        ),
        Term(
            "minibatch index and per-step record",
            (g["g_idx"] * T * R * B + g["g_rec"] * T * R + g["g_run"] * R) * speed,
            2 * T * R * B * 8 + T * R * (8 + 4 * dsize + 32) + 32 * T,
            ("steps", "batch_size", "runs"),
        ),
    ]
    return terms + _data(group, speed, data_paid)


def _peak(terms: list[Term]) -> float:
    """Bytes held at once: everything kept, plus the largest transient term (the training
    activations, the scoring activations and data generation's temporaries come one after
    another)."""
    kept = sum(t.nbytes for t in terms if t.what not in _TRANSIENT)
    return kept + max((t.nbytes for t in terms if t.what in _TRANSIENT), default=0.0)


_TRANSIENT = ("activations", "held-out scoring", "Markov chain tables")


def _data(group: Group, speed: float, paid: bool) -> list[Term]:
    """The group's datasets: time (none when ``paid``: cached by an earlier group of the same
    plan), memory kept (stacked once per run) and temporaries."""
    cfg, R, seeds = group
    g = DATA_COEF
    d, k, n_train, n_eval = data_shape(cfg)
    if cfg.is_lm:
        V, L, C = cfg.lm_vocab, cfg.lm_seq_len, cfg.lm_vocab**cfg.lm_order
        seqs = n_train + cfg.lm_heldout
        sample = 0.0 if paid else seeds * g["g_lm"] * seqs * (L + 1) * V * speed
        ctx = 0.0 if paid else seeds * g["g_ctx"] * C**3 * speed
        kept = seeds * seqs * (L + 1) + R * seqs * 2 * L + cfg.lm_heldout * L * 24
        return [
            Term(
                "training and held-out tokens",
                sample,
                kept + seqs * (9 * V + 40),
                ("steps", "batch_size", "lm_seq_len", "runs", "lm_heldout"),
            ),
            Term(
                "Markov chain tables", ctx, 3 * C * C * 8 + 2 * C * V * 8, ("lm_vocab", "lm_order")
            ),
        ]
    seconds = 0.0
    if not paid:
        if "sklearn.model_selection" not in sys.modules:
            seconds += g["g_import"] * speed
        if cfg.dataset in _SHAPES:
            seconds += g["g_sklearn"] * seeds * speed
        elif cfg.dataset == "synthetic":
            seconds += g["g_syn"] * seeds * n_eval * d * d * speed
        else:
            seconds += g["g_img"] * seeds * n_eval * speed
        if cfg.convex:  # the exact optimum, solved once per data split
            seconds += seeds * _fstar_seconds(cfg) * speed
    dsize = 8 if cfg.float64 else 4
    kept = R * n_eval * d * dsize + seeds * n_eval * d * 8 + 3 * n_eval * d * 8
    return [Term("data", seconds, kept, ("runs",))]


def _fstar_seconds(cfg: RunConfig) -> float:
    if cfg.task == "svm" and cfg.l2_in_objective:
        return 0.0  # a QP: not solved (f* is nan)
    key = f"{cfg.task}/{cfg.dataset}/{'l2' if cfg.l2_in_objective else 'none'}"
    d, k, n, _ = data_shape(cfg)
    scale = n * d * k / (1500 * 20 * 4) if cfg.dataset == "synthetic" else 1.0
    return FSTAR_SECONDS.get(key, COEF[cfg.task]["f"] * n * d * k) * scale


def _data_key(cfg: RunConfig) -> tuple:
    """Groups of one plan with equal keys share their cached datasets and f*."""
    return cfg.with_(schedule="linear", peak_lr=1.0, warmup_steps=0, eval_every=1).batch_key()


def groups(configs: Sequence[RunConfig]) -> list[Group]:
    """The groups ``run_many`` makes of ``configs`` (equal ``batch_key``)."""
    out: dict[tuple, list[RunConfig]] = {}
    for cfg in configs:
        out.setdefault(cfg.batch_key(), []).append(cfg)
    return [(g[0], len(g), len({c.seed for c in g})) for g in out.values()]


def estimate(configs: Sequence[RunConfig], speed: float | None = None) -> Cost:
    """The cost of ``run_many(configs)``: groups run one after another, so times add up and
    the peak memory is the largest group's (plus the results of the groups before it).

    >>> c = estimate([RunConfig(steps=100)], speed=1.0)
    >>> c.runs, c.seconds > 0, c.peak_bytes > 100 * 32 * 8
    (1, True, True)
    """
    return plan_cost([groups(configs)], speed)


def _merge(terms: dict[str, Term], new: Sequence[Term], count: bool = True) -> None:
    for t in new:
        old = terms.get(t.what, Term(t.what))
        terms[t.what] = Term(
            t.what,
            old.seconds + (t.seconds if count else 0.0),
            max(old.nbytes, t.nbytes),
            tuple(dict.fromkeys(old.grows_with + t.grows_with)),
            tuple(dict.fromkeys(old.shrinks_with + t.shrinks_with)),
        )


def plan_cost(calls: Sequence[Sequence[Group]], speed: float | None = None, extra=()) -> Cost:
    """The cost of ``run_many`` called once per item of ``calls`` (each a list of groups);
    ``extra``: calls that may happen (grid extensions), counted in ``seconds_max`` only."""
    speed = machine_speed() if speed is None else float(speed)
    seconds = seconds_max = peak = kept = kept_at_peak = 0.0
    runs, terms, paid = 0, {}, set()
    for i, call in enumerate([*calls, *extra]):
        for group in call:
            key = _data_key(group[0])
            parts = _group_terms(group, speed, key in paid)
            paid.add(key)
            s = sum(t.seconds for t in parts)
            seconds_max += s
            if i < len(calls):
                seconds += s
                runs += group[1]
            if kept + _peak(parts) > peak:
                peak, kept_at_peak = kept + _peak(parts), kept
            kept += group[1] * group[0].steps * 40  # results kept: lr, loss, two norms
            _merge(terms, parts, i < len(calls))
    if kept_at_peak:  # so that a refusal can name it when it is the largest part
        what = "results of earlier runs, kept"
        terms[what] = Term(what, 0.0, kept_at_peak, ("steps", "runs"))
    return Cost(seconds, peak, runs, seconds_max, tuple(terms.values()))


# ---------------------------------------------------------------- plans: compare, study
def compare_plan(
    config: RunConfig,
    schedules: int,
    seeds: int,
    peaks: int = 5,
    refined_rounds: int = 0,
    max_extensions: int = 4,
) -> tuple[list[list[Group]], list[list[Group]]]:
    """The ``run_many`` calls of :func:`lrcore.train.experiments.compare` with ``schedules``
    named schedules (linear included when refined is asked for), ``seeds`` seeds and
    ``peaks`` peak lrs, then ``refined_rounds`` refined schedules tuned one after another:
    (the calls it makes, the grid extensions it may add: one peak lr per schedule, at most
    ``max_extensions`` times per tuning)."""
    certain = [[(config, schedules * peaks * seeds, seeds)]]
    extra = [[(config, schedules * seeds, seeds)]] * max_extensions
    for _ in range(refined_rounds):
        certain.append([(config, peaks * seeds, seeds)])
        extra += [[(config, seeds, seeds)]] * max_extensions
    return certain, extra


def estimate_compare(config: RunConfig, schedules: int, seeds: int, speed=None, **kw) -> Cost:
    """:func:`compare_plan`'s cost (``seconds_max`` counts every grid extension).

    >>> c = estimate_compare(RunConfig(steps=100), 3, 3, refined_rounds=1, speed=1.0)
    >>> c.runs, c.seconds_max > c.seconds   # 3 x 5 peak lrs x 3 seeds, then refined's 15
    (60, True)
    """
    certain, extra = compare_plan(config, schedules, seeds, **kw)
    return plan_cost(certain, speed, extra)


def estimate_study(problems, jobs: int = 1, speed=None) -> Cost:
    """The cost of ``run_study(problems, jobs=jobs)``: per problem, tuning the baselines and
    refined (a compare each), the build runs and the scoring runs; with ``jobs`` workers
    the time is the larger of the total over ``jobs`` and the longest problem, the memory
    ``jobs`` times the largest problem's."""
    costs, terms = [], {}
    for p in problems:
        cfg = p.config
        rounds = sum(str(s).startswith("refined") for s in p.schedules)  # refined, refined_2
        certain, extra = compare_plan(
            cfg,
            len(p.schedules) - rounds,
            p.n_tune,
            peaks=getattr(p, "grid_points", 5),
            refined_rounds=rounds,
            max_extensions=p.max_extensions,
        )
        build = [(cfg, p.n_build, p.n_build)]
        score = [(cfg, len(p.schedules) * p.n_score, p.n_score)]
        costs.append(plan_cost([*certain, build, score], speed, extra))
        _merge(terms, costs[-1].terms)
    if not costs:
        return Cost(0.0, 0.0, 0)
    jobs = max(1, min(int(jobs), len(costs)))
    return Cost(
        max(sum(c.seconds for c in costs) / jobs, max(c.seconds for c in costs)),
        jobs * max(c.peak_bytes for c in costs),
        sum(c.runs for c in costs),
        max(sum(c.seconds_max for c in costs) / jobs, max(c.seconds_max for c in costs)),
        tuple(terms.values()),
    )


# ---------------------------------------------------------------- limits
def free_memory() -> float:
    """Bytes the host can still give (MemAvailable; inf where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def memory_limit() -> float:
    """:data:`MEMORY_LIMIT` or the host's free memory, whichever is less."""
    return min(float(MEMORY_LIMIT), free_memory())


def check(
    cost: Cost,
    fn: str,
    option: Callable[[str], str] | Mapping[str, str] = lambda f: f,
    max_seconds: float | None = None,
    force: bool = False,
    force_hint: str = "",
    max_bytes: float | None = None,
    speed: float | None = None,
) -> None:
    """Raise ``ValueError`` when ``cost`` is past the memory limit (always) or past
    ``max_seconds`` (unless ``force``), naming the settings that make it large as the user
    knows them (``option`` maps a RunConfig field, or "runs", to that name) and giving the
    estimate. ``max_bytes``: the memory limit (default :func:`memory_limit`), never more than
    the free memory. ``speed``: how much slower than the calibration runs are here, for the
    refusal's words (default :func:`machine_speed`, measured in this process)."""
    name = option.get if isinstance(option, Mapping) else option
    limit = memory_limit() if max_bytes is None else min(float(max_bytes), free_memory())
    what = f"the smaller of {size(MEMORY_LIMIT)} and " if max_bytes is None else ""

    def advice(term: Term, memory: bool) -> str:
        up = [] if memory else list(dict.fromkeys(n for f in term.shrinks_with if (n := name(f))))
        down = list(dict.fromkeys(n for f in term.grows_with if (n := name(f))))[:4]
        out = f"lower {' or '.join(down)}" if down else ""
        if up:
            out += f"{' or ' if out else ''}raise {' or '.join(up)}"
        return out or "make the setup smaller"

    if cost.peak_bytes > limit:
        t = cost.largest()
        raise ValueError(
            f"{fn}: this setup would need ~{size(cost.peak_bytes)} of memory, more than the "
            f"limit of {size(limit)} ({what}the free memory); "
            f"its {t.what} take ~{size(t.nbytes)}: {advice(t, True)}. Estimate: {cost.text()}"
        )
    if max_seconds is not None and not force and cost.seconds > max_seconds:
        t = cost.slowest()
        speed = machine_speed() if speed is None else speed
        busy = f" (this machine runs {speed:.1f}x slower now)" if speed > 1.5 else ""
        raise ValueError(
            f"{fn}: this setup would take ~{duration(cost.seconds)}{busy}, more than the limit "
            f"of {duration(max_seconds)}; its {t.what} take ~{duration(t.seconds)}: "
            f"{advice(t, False)}{force_hint}. Estimate: {cost.text()}"
        )


def cpu_note(device: str) -> str:
    """Estimates are for the CPU (the calibration's); on a GPU they are only an upper guess."""
    return "" if device == "cpu" else " (calibrated on a CPU; on a GPU most setups are faster)"


__all__ = [
    "APP_SECONDS",
    "CLI_SECONDS",
    "STUDY_SECONDS",
    "MEMORY_LIMIT",
    "Cost",
    "Term",
    "check",
    "compare_plan",
    "groups",
    "plan_cost",
    "duration",
    "estimate",
    "estimate_compare",
    "estimate_study",
    "machine_speed",
    "cpu_speed",
    "memory_limit",
    "size",
]
