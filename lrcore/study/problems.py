"""The study's problems (docs/protocol.md, section 4): the regimes the report groups them in,
what one problem is (a RunConfig and its three seed sets), the full list and the smoke list.

To add a problem, append a :class:`Problem` naming its regime to the list of its kind
(:func:`_convex_problems`, :func:`_lm_problems`, :func:`_cnn_problems`; the order of
:func:`full_problems` is the order of the report's rows) or to :func:`smoke_problems`. To add a regime, add an entry to
:data:`REGIMES` first: its place in the dict is its place in every table of the report, and
``apart=True`` keeps it out of the verdicts on the theory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lrcore.train.config import RunConfig

BASELINES = ("constant", "step", "cosine", "linear")
SCHEDULES = (*BASELINES, "refined")
DEEP_SCHEDULES = ("constant", "cosine", "linear", "refined")  # step left out (time budget)
MAX_EXTENSIONS = 8  # extra peak lrs per schedule while its best is at an edge (v2: 4)
BUILD_SEED0 = 100  # build seeds: 100, 101, ...
SCORE_SEED0 = 1000  # scoring seeds: 1000, 1001, ...


LM_CONVERGED = "lm converged (AdamW wd 0.1)"
LM_WD = "lm mechanism: weight decay"
LM_CHAIN = "lm mechanism: transition point"
LM_SMALL = "lm pre-transition (d64, T=800): not a test"
LM_MECHANISM = (LM_CONVERGED, LM_WD, LM_CHAIN)  # the regimes of the mechanism table (v4.3)
ROUND_SCHEDULES = ("constant", "cosine", "linear", "refined", "refined_2", "refined_3")


@dataclass(frozen=True)
class Regime:
    what: str  # what is in it (the report prints it)
    status: str  # pre-pilot | post-pilot | pre-registered (docs/protocol.md, section 1)
    apart: bool = False  # reported apart from the verdicts on the theory (the CNN)


REGIMES = {
    "logreg T=1000 b=32": Regime(
        "logistic regression + L2 1e-3 (smooth convex), SGD, batch 32, T = 1000, no noise",
        "pre-pilot",
    ),
    "hinge T=1000 b=32": Regime(
        "multiclass hinge (Lipschitz, non-smooth convex), SGD, batch 32, T = 1000, no noise",
        "post-pilot",
    ),
    "rising noise (hinge+logreg)": Regime(
        "gradient noise rising x1 -> x5 over the second half; hinge and logreg at T = 2000, "
        "hinge at T = 5000",
        "post-pilot",
    ),
    "flat noise (hinge+logreg)": Regime("gradient noise of constant size, T = 2000", "post-pilot"),
    "falling noise (hinge+logreg)": Regime(
        "gradient noise falling x5 -> x1 over the first 30 %, T = 2000", "post-pilot"
    ),
    "batch 1 (hinge+logreg)": Regime("batch size 1, T = 2000, no noise", "post-pilot"),
    "long T=5000 no noise (logreg)": Regime(
        "logreg synthetic cond 100, batch 32, T = 5000", "post-pilot"
    ),
    LM_CONVERGED: Regime(
        "decoder-only transformer (d_model 48, 2 layers, 4 heads) on an order-2 Markov chain "
        "over 16 tokens (Dirichlet 0.3), sequences of 64, batch 32, T = 600, AdamW with weight "
        "decay 0.1 and 5 % warm-up, scored by excess held-out loss (nats/token); refined rounds "
        "1-3; a size where the model learns (it passes its learning transition), still a toy: "
        "not the paper's LLM runs",
        "pre-registered (v4)",
    ),
    LM_WD: Regime(
        "the converged lm with AdamW weight decay 0 and 0.01, and AdamC (corrected decay on the "
        "normalized weights) at 0.1: does the late rise of the norms follow weight decay?",
        "pre-registered (v4)",
        apart=True,
    ),
    LM_CHAIN: Regime(
        "the converged lm on chain B (Dirichlet 0.15: its loss drops earlier in the run): does "
        "the late rise, and refined's loss, move with the learning transition?",
        "pre-registered (v4)",
        apart=True,
    ),
    LM_SMALL: Regime(
        "decoder-only transformer (d_model 64, 2 layers) on an order-2 Markov chain over 16 "
        "tokens (Dirichlet 0.5), batch 16, T = 800, AdamW with 5 % warm-up: linear decay closes "
        "about a seventh of the uniform-to-chain gap, so the model has not reached its learning "
        "transition; v3's lm regime, relabelled by protocol v4 and kept out of the verdicts",
        "pre-registered (v3)",
        apart=True,
    ),
    "cnn: interpolating (Adam)": Regime(
        "small CNN with Adam, T = 500; its norms collapse (it interpolates): outside the "
        "paper's deep-learning regime and the theory",
        "pre-pilot",
        apart=True,
    ),
}


@dataclass(frozen=True)
class Problem:
    name: str
    regime: str  # a key of REGIMES
    config: RunConfig  # peak_lr is the centre of the grid
    n_tune: int = 10
    n_build: int = 10
    n_score: int = 10
    schedules: tuple[str, ...] = SCHEDULES
    max_extensions: int = MAX_EXTENSIONS
    grid_points: int = 5  # the tuning grid's first peak lrs (factor 2, centred on peak_lr)
    # refined round k (refined_2, refined_3 in schedules): refined again from round k-1's runs
    # on the build seeds at its best peak lr (protocol v4)

    def __post_init__(self):
        if self.regime not in REGIMES:
            raise ValueError(
                f"Problem: regime {self.regime!r} of {self.name!r} is not a regime; "
                f"allowed: {', '.join(map(repr, REGIMES))} (add new ones to REGIMES)"
            )

    @property
    def tune_seeds(self) -> list[int]:
        return list(range(self.n_tune))

    @property
    def build_seeds(self) -> list[int]:
        return list(range(BUILD_SEED0, BUILD_SEED0 + self.n_build))

    @property
    def score_seeds(self) -> list[int]:
        return list(range(SCORE_SEED0, SCORE_SEED0 + self.n_score))

    @property
    def convex(self) -> bool:
        return self.config.convex

    @property
    def metric(self) -> str:
        """The name of the score: suboptimality (convex), excess_loss (lm), objective (CNN)."""
        if self.config.is_lm:
            return "excess_loss"
        return "suboptimality" if self.convex else "objective"

    def with_seeds(self, n: int) -> Problem:
        """The same problem with ``n`` tuning, build and scoring seeds."""
        return replace(self, n_tune=n, n_build=n, n_score=n)


def _p(name, regime, task="logreg", dataset="synthetic", steps=1000, peak_lr=1.0, **kw) -> Problem:
    cfg = RunConfig(
        task=task,
        dataset=dataset,
        optimizer="sgd",
        steps=steps,
        batch_size=kw.pop("batch_size", 32),
        peak_lr=peak_lr,
        weight_decay=1e-3 if task == "logreg" else 0.0,  # L2 gives logreg a finite minimiser
        eval_every=max(steps // 10, 1),
        device="cpu",
        **kw,
    )
    return Problem(name, regime, cfg)


def full_problems() -> list[Problem]:
    """The problems of docs/results.md, as docs/protocol.md (section 4) lists them."""
    return _convex_problems() + _lm_problems() + _cnn_problems()


def _convex_problems() -> list[Problem]:
    """Logistic regression and the hinge, SGD: the regimes of the theory."""
    hinge = {"task": "svm", "peak_lr": 0.1}
    out = [
        _p(f"logreg {d}", "logreg T=1000 b=32", dataset=d)
        for d in ("digits", "breast_cancer", "wine", "iris")
    ]
    out += [
        _p(f"logreg synthetic cond={c}", "logreg T=1000 b=32", synthetic_condition=float(v))
        for c, v in (("1", 1), ("100", 100), ("10^4", 1e4))
    ]
    out += [
        _p(f"hinge {d}", "hinge T=1000 b=32", dataset=d, **hinge)
        for d in ("synthetic", "iris", "digits")
    ]
    for noise, regime in (
        ("rise", "rising noise (hinge+logreg)"),
        ("flat", "flat noise (hinge+logreg)"),
        ("fall", "falling noise (hinge+logreg)"),
    ):
        out += [
            _p(f"hinge synthetic noise={noise}", regime, steps=2000, noise=noise, **hinge),
            _p(f"logreg synthetic noise={noise}", regime, steps=2000, noise=noise),
        ]
    out += [
        _p(
            "hinge synthetic noise=rise T=5000",
            "rising noise (hinge+logreg)",
            steps=5000,
            noise="rise",
            **hinge,
        ),
        _p("hinge synthetic batch=1", "batch 1 (hinge+logreg)", steps=2000, batch_size=1, **hinge),
        _p(
            "logreg synthetic cond=100 batch=1",
            "batch 1 (hinge+logreg)",
            steps=2000,
            batch_size=1,
            synthetic_condition=100.0,
            peak_lr=0.25,
        ),
        _p(
            "logreg synthetic cond=100 T=5000",
            "long T=5000 no noise (logreg)",
            steps=5000,
            synthetic_condition=100.0,
        ),
    ]
    return out


def _lm_problems() -> list[Problem]:
    """The transformer language models: protocol v4's converged size and its mechanism
    regimes (2 tuning, 2 build, 5 scoring seeds; 3 peak lrs around 0.016, widened at an edge),
    then v3's pre-transition size."""
    lm = RunConfig.for_task("lm", size="converged", device="cpu")
    v4 = {"n_tune": 2, "n_build": 2, "n_score": 5, "grid_points": 3}
    pair = ("linear", "refined")
    out = [Problem("lm converged (adamw 0.1)", LM_CONVERGED, lm, schedules=ROUND_SCHEDULES, **v4)]
    out += [
        Problem(name, LM_WD, lm.with_(**changes), schedules=pair, **v4)
        for name, changes in (
            ("lm converged (adamw 0)", {"weight_decay": 0.0}),
            ("lm converged (adamw 0.01)", {"weight_decay": 0.01}),
            ("lm converged (adamc 0.1)", {"optimizer": "adamc"}),
        )
    ]
    out.append(
        Problem("lm chain B (adamw 0.1)", LM_CHAIN, lm.with_(lm_alpha=0.15), schedules=pair, **v4)
    )
    # v3's size, TASK_DEFAULTS["lm"]: AdamW, 800 steps of 16 sequences, 5 % warm-up
    small = RunConfig.for_task("lm", device="cpu")
    out.append(Problem("lm markov order-2 (adamw)", LM_SMALL, small, 3, 3, 5, DEEP_SCHEDULES))
    return out


def _cnn_problems() -> list[Problem]:
    """The CNNs (Adam), which interpolate: kept apart from the verdicts."""
    out = []
    for d in ("digits", "synthetic_images"):
        cfg = RunConfig(
            task="cnn",
            dataset=d,
            optimizer="adam",
            steps=500,
            batch_size=32,
            peak_lr=1e-3,
            eval_every=50,
            device="cpu",
        )
        out.append(
            Problem(f"cnn {d} (adam)", "cnn: interpolating (Adam)", cfg, 3, 3, 3, DEEP_SCHEDULES)
        )
    return out


def smoke_problems() -> list[Problem]:
    """Three tiny problems (seconds), 2 seeds per set: a convex one with rising noise, a CNN
    and a language model."""
    return [
        Problem(
            "hinge synthetic noise=rise (smoke)",
            "rising noise (hinge+logreg)",
            RunConfig(
                task="svm",
                dataset="synthetic",
                steps=300,
                eval_every=100,
                peak_lr=0.05,
                noise="rise",
                synthetic_samples=400,
                device="cpu",
            ),
            2,
            2,
            2,
        ),
        Problem(
            "cnn synthetic_images (smoke)",
            "cnn: interpolating (Adam)",
            RunConfig(
                task="cnn",
                dataset="synthetic_images",
                optimizer="adam",
                steps=20,
                eval_every=10,
                synthetic_samples=100,
                peak_lr=2e-3,
                device="cpu",
            ),
            2,
            2,
            2,
            DEEP_SCHEDULES,
            max_extensions=2,
        ),
        Problem(
            "lm markov (smoke)",
            LM_CONVERGED,
            RunConfig.for_task(
                "lm",
                steps=40,
                eval_every=20,
                batch_size=4,
                lm_d_model=8,
                lm_layers=1,
                lm_heads=2,
                lm_seq_len=8,
                lm_heldout=16,
                device="cpu",
            ),
            2,
            2,
            2,
            (*DEEP_SCHEDULES, "refined_2"),
            max_extensions=2,
        ),
    ]
