"""What a training run is: one dataclass, one comment per field (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from lrcore.refine import stretch
from lrcore.registry import REGISTRY, build_schedule
from lrcore.schedules import evaluate

_TABULAR = ("digits", "breast_cancer", "wine", "iris", "synthetic")
TASKS = {
    # task -> datasets it can train on
    "logreg": _TABULAR,
    "svm": _TABULAR,
    "cnn": ("digits", "synthetic_images"),
    "lm": ("markov",),  # a seeded order-k Markov chain over a small vocabulary
}
# settings a task needs other than RunConfig's defaults (the CLI and apps start from these)
TASK_DEFAULTS = {
    "lm": {
        "dataset": "markov",
        "optimizer": "adamw",
        "steps": 800,  # sized by wall time: 45 runs (5 lrs x 3 schedules x 3 seeds) ~10 min
        "batch_size": 16,
        "peak_lr": 3e-3,
        "weight_decay": 0.1,
        "warmup_steps": 40,  # 5 % of the steps: linear decay with warm-up is the paper's baseline
        "eval_every": 200,
    },
}
LM_WARMUP_FRACTION = 0.05
# named lm sizes (RunConfig.for_task("lm", size=...), `lrcore compare --task lm --lm-size ...`):
# "small" is TASK_DEFAULTS["lm"], fast but before its learning transition (linear decay closes
# about 14 % of the uniform-to-chain gap: not a test of schedules); "converged" is protocol
# v4's size, where linear decay closes 82-94 % of the gap in about 20 s a run on one core
LM_SIZES = {
    "small": {},
    "converged": {
        "lm_alpha": 0.3,
        "lm_d_model": 48,
        "lm_heads": 4,
        "lm_seq_len": 64,
        "batch_size": 32,
        "steps": 600,
        "warmup_steps": 30,
        "peak_lr": 0.016,
        "eval_every": 100,
    },
}
# held-out scoring runs this many examples (sequences) at a time, a cache-sized piece: the
# CNN's full-data forward over 12 runs took 1.03 s in one piece, 0.43 s in pieces of 128, with
# equal bits per example (lrcore.train.loop._evaluate; the cost model counts the same pieces)
EVAL_CHUNK = {"cnn": 128, "lm": 32}
# held-out sequences scored per evaluation, at most: 100,000 put the standard error of the excess
# loss far below any difference the study reads; past it a run's scoring was not costed right
# (a 400,000-sequence lm run peaked at 1.4 GB against 0.2 GB estimated, 2,000,000 at 12.6 GB)
LM_HELDOUT_MAX = 100_000
CONVEX_TASKS = ("logreg", "svm")  # computed in float64 on the CPU; f_star is known
OPTIMIZERS = ("sgd", "adam", "adamw", "adamc")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "float32", "float64")
NOISES = ("none", "flat", "rise", "fall")  # see lrcore.train.noise.noise_profile


@dataclass(frozen=True)
class RunConfig:
    """One training run. Runs that differ only in schedule, peak lr or seed batch together."""

    task: str = "logreg"  # "logreg" (convex, smooth), "svm" (convex, Lipschitz, non-smooth:
    # the multiclass hinge of Crammer & Singer, the theory's loss class), "cnn" (small conv net)
    # or "lm" (small decoder-only transformer on a Markov source: non-convex, never reaches 0)
    dataset: str = "digits"  # see TASKS; all ship with scikit-learn or are generated
    optimizer: str = "sgd"  # "sgd" (l2 norms, refine with sgd) or "adam"/"adamw"/"adamc" (l1
    # norms); "adamc" is adamw whose decay on normalized weights is lr_t**2 / peak_lr * decay
    # (lrcore.train.adamc; on tasks without normalization layers it equals adamw)
    momentum: float = 0.0  # SGD momentum (0 = plain SGD, the setting the theory covers)
    steps: int = 1000  # optimizer steps (the T of the schedule)
    batch_size: int = 32  # examples per step, drawn i.i.d. with replacement
    peak_lr: float = 0.1  # the schedule's largest lr; shapes are peak-normalised
    weight_decay: float = 0.0  # L2 for sgd/adam, decoupled for adamw and adamc
    schedule: str | tuple = "linear"  # a registry name, or a shape (tuple of floats, peak 1)
    schedule_params: dict = field(default_factory=dict)  # registry parameters, e.g. {"power": 2}
    warmup_steps: int = 0  # linear warm-up in front of a registry schedule
    seed: int = 0  # data split, initialisation and batches; same seed, same numbers
    device: str = "auto"  # "auto" = CUDA when available, else CPU
    eval_every: int = 100  # steps between full evaluations (train loss, test loss, accuracy)
    synthetic_samples: int = 2000  # synthetic datasets only: number of examples
    synthetic_features: int = 20  # synthetic logreg/svm only: feature dimension
    synthetic_classes: int = 4  # synthetic datasets only: number of classes
    synthetic_condition: float = 1.0  # synthetic logreg/svm only: condition number of the features
    noise: str = "none"  # Gaussian noise added to every stochastic gradient, its std following
    # a fixed profile over the run: "flat", "rise" (x1, then up to x5 from half-way) or "fall"
    # (x5 down to x1 by 30 %); seeded by `seed` only, so every schedule and peak lr sees the same
    noise_scale: float = 1.0  # expected l2 norm of the noise vector where the profile is x1
    precision: str = "auto"  # "auto" = float64 for the convex tasks, float32 for the CNN;
    # "float64" makes a CNN run reproducible across CPUs (its float32 sums differ from the 7th
    # digit between SIMD kernels, and thousands of Adam steps amplify that to 1e-3)
    # task "lm" only (see lrcore.train.data.MarkovSource and lrcore.train.models.TinyLM):
    lm_vocab: int = 16  # tokens of the Markov source
    lm_order: int = 2  # k: each token depends on the k before it
    lm_alpha: float = (
        0.5  # concentration of the symmetric Dirichlet each transition row is drawn from
    )
    lm_seq_len: int = 32  # tokens the model reads per sequence (targets: the next token at each)
    lm_d_model: int = 64  # transformer width
    lm_layers: int = 2  # transformer blocks (causal self-attention + MLP, pre-norm)
    lm_heads: int = 4  # attention heads (must divide lm_d_model)
    lm_heldout: int = 256  # held-out sequences scored at each evaluation

    def __post_init__(self):
        if not isinstance(self.schedule, str):  # arrays become tuples: configs stay hashable
            object.__setattr__(self, "schedule", tuple(float(v) for v in np.ravel(self.schedule)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, the value and what is allowed."""

        def bad(name, allowed):
            raise ValueError(f"RunConfig: {name} must be {allowed}, got {getattr(self, name)!r}")

        if self.task not in TASKS:
            bad("task", f"one of {list(TASKS)}")
        if self.dataset not in TASKS[self.task]:
            bad("dataset", f"one of {list(TASKS[self.task])} for task {self.task!r}")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"one of {list(OPTIMIZERS)}")
        if self.device not in DEVICES:
            bad("device", f"one of {list(DEVICES)}")
        if self.noise not in NOISES:
            bad("noise", f"one of {list(NOISES)}")
        if self.precision not in PRECISIONS:
            bad("precision", f"one of {list(PRECISIONS)}")
        for name, lo in (
            ("steps", 2),
            ("batch_size", 1),
            ("eval_every", 1),
            ("synthetic_samples", 20),
            ("synthetic_features", 2),
            ("synthetic_classes", 2),
            ("lm_vocab", 2),
            ("lm_order", 1),
            ("lm_d_model", 4),
            ("lm_layers", 1),
            ("lm_heads", 1),
            ("lm_heldout", 2),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                bad(name, f"an integer >= {lo}")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int | np.integer)
            or self.seed < 0
        ):
            bad("seed", "an integer >= 0")
        for name in ("peak_lr", "momentum", "weight_decay", "synthetic_condition", "noise_scale"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not np.isfinite(v):
                bad(name, "a finite number")
        if self.peak_lr <= 0:
            bad("peak_lr", "> 0")
        if not 0 <= self.momentum < 1:
            bad("momentum", "in [0, 1)")
        if self.weight_decay < 0:
            bad("weight_decay", ">= 0")
        if self.noise_scale < 0:
            bad("noise_scale", ">= 0")
        if self.synthetic_condition < 1:
            bad("synthetic_condition", ">= 1")
        if not isinstance(self.lm_alpha, int | float) or not self.lm_alpha > 0:
            bad("lm_alpha", "a number > 0")
        if self.lm_heldout > LM_HELDOUT_MAX:
            bad("lm_heldout", f"an integer in [2, {LM_HELDOUT_MAX:,}]")
        if self.lm_vocab > 256:
            bad("lm_vocab", "an integer in [2, 256] (tokens are stored as uint8)")
        if self.lm_vocab**self.lm_order > 2**16:
            bad("lm_order", f"such that lm_vocab ** lm_order <= 65536 (lm_vocab={self.lm_vocab})")
        if (
            isinstance(self.lm_seq_len, bool)
            or not isinstance(self.lm_seq_len, int | np.integer)
            or self.lm_seq_len <= self.lm_order
        ):
            bad("lm_seq_len", f"an integer > lm_order ({self.lm_order})")
        if self.lm_d_model % self.lm_heads:
            bad("lm_heads", f"a divisor of lm_d_model ({self.lm_d_model})")
        if not isinstance(self.warmup_steps, int) or not 0 <= self.warmup_steps < self.steps:
            bad("warmup_steps", f"an integer in [0, steps={self.steps})")
        if isinstance(self.schedule, str):
            if self.schedule not in REGISTRY:
                bad("schedule", f"a registry name {sorted(REGISTRY)} or an array")
        elif (
            len(self.schedule) < 2
            or not np.all(np.isfinite(self.schedule))
            or min(self.schedule) < 0
        ):
            bad("schedule", "an array of at least 2 finite values >= 0")

    def lrs(self) -> np.ndarray:
        """The lr of every step: the schedule's shape (peak 1) times ``peak_lr``."""
        if isinstance(self.schedule, str):
            sched = build_schedule(
                self.schedule,
                self.steps,
                peak_lr=1.0,
                warmup_steps=self.warmup_steps,
                **self.schedule_params,
            )
            shape = evaluate(sched, self.steps)
        else:
            shape = np.asarray(self.schedule, dtype=np.float64)
            if len(shape) != self.steps:
                shape = stretch(shape, self.steps)
            if shape.max() <= 0:
                raise ValueError("RunConfig: schedule is all zeros")
            shape = shape / shape.max()
        return self.peak_lr * shape

    @property
    def schedule_name(self) -> str:
        return self.schedule if isinstance(self.schedule, str) else "custom"

    @property
    def is_lm(self) -> bool:
        return self.task == "lm"

    @property
    def convex(self) -> bool:
        """Logistic regression and the hinge task: convex, run in float64, f_star is known."""
        return self.task in CONVEX_TASKS

    @property
    def float64(self) -> bool:
        """Whether the run computes in float64 (the convex tasks always do)."""
        return self.precision == "float64" or (self.precision == "auto" and self.convex)

    @property
    def l2_in_objective(self) -> bool:
        """Weight decay is an L2 term of the objective (sgd, adam), not decoupled (adamw)."""
        return self.weight_decay > 0 and self.optimizer not in ("adamw", "adamc")

    @property
    def norm_type(self) -> str:
        """The gradient norm that refinement uses for this optimizer (l2 for SGD, l1 for Adam)."""
        return "l2" if self.optimizer == "sgd" else "l1"

    def batch_key(self) -> tuple:
        """Configs with equal keys share data and model shape and can run as one batch."""
        d = _as_dict(self)
        for k in ("schedule", "schedule_params", "warmup_steps", "peak_lr", "seed"):
            d.pop(k)
        return tuple(sorted((k, repr(v)) for k, v in d.items()))

    @classmethod
    def for_task(cls, task: str, size: str = "small", **changes) -> RunConfig:
        """A config with ``task``'s own defaults (:data:`TASK_DEFAULTS`; for "lm" the named
        ``size`` of :data:`LM_SIZES` on top), then ``changes``; for "lm" a changed ``steps``
        brings the warm-up along (5 % of the steps) unless ``warmup_steps`` is given too."""
        if size not in LM_SIZES or (size != "small" and task != "lm"):
            raise ValueError(
                f"RunConfig.for_task: size must be one of {list(LM_SIZES)} (task 'lm' only), "
                f"got {size!r} for task {task!r}"
            )
        base = {"task": task, "dataset": TASKS.get(task, ("",))[0], **TASK_DEFAULTS.get(task, {})}
        base.update(LM_SIZES[size])
        if task == "lm" and "steps" in changes and "warmup_steps" not in changes:
            base["warmup_steps"] = round(LM_WARMUP_FRACTION * changes["steps"])
        return cls(**{**base, **changes})

    def with_(self, **changes) -> RunConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = _as_dict(self)
        d["schedule"] = d["schedule"] if isinstance(d["schedule"], str) else list(d["schedule"])
        return d


def _as_dict(cfg: RunConfig) -> dict:
    """``dataclasses.asdict`` without its deep copy of every element: a schedule read from a
    file of 1.4 million steps took 22 s of a 31 s ``lrcore run`` there. The fields are scalars,
    the schedule (a str or a tuple of floats: immutable) and schedule_params (a dict: copied)."""
    return {f.name: _copy(getattr(cfg, f.name)) for f in fields(cfg)}


def _copy(v):
    return dict(v) if isinstance(v, dict) else v
