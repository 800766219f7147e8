"""lrcore: learning-rate schedules from the theory of schedule refinement.

Linear decay is the worst-case optimal schedule for the last iterate of SGD; given the
gradient norms of a previous run, refinement yields a schedule for that problem
(Defazio, Cutkosky, Mehta, Mishchenko, arXiv:2310.07831).

Importing ``lrcore`` loads numpy, scipy and pandas only: torch lives in ``lrcore.train``.
"""

from lrcore._validate import MAX_STEPS
from lrcore.analysis import LogAnalysis, RefinementWarning, analyse
from lrcore.bound import (
    best_scale,
    bound_terms,
    compare_bounds,
    last_iterate_bound,
    optimal_schedule,
)
from lrcore.diagnose import diagnose_refined, refined_shape
from lrcore.refine import (
    ScheduleSummary,
    refine,
    refine_reference,
    smooth_norms,
    smoothing_width,
    stretch,
    summarize,
)
from lrcore.registry import REGISTRY, build_schedule
from lrcore.schedules import (
    constant,
    cosine_decay,
    cosine_restarts,
    cyclic,
    evaluate,
    exponential_decay,
    from_array,
    inverse_sqrt,
    join,
    linear_decay,
    multi_step,
    one_cycle,
    piecewise_constant,
    polynomial_decay,
    rsqrt,
    step_decay,
    warmup,
    warmup_stable_decay,
)

__version__ = "0.1.0"

__all__ = [
    "LogAnalysis",
    "RefinementWarning",
    "analyse",
    "MAX_STEPS",
    "REGISTRY",
    "ScheduleSummary",
    "best_scale",
    "bound_terms",
    "compare_bounds",
    "build_schedule",
    "constant",
    "cosine_decay",
    "cosine_restarts",
    "cyclic",
    "diagnose_refined",
    "evaluate",
    "exponential_decay",
    "from_array",
    "inverse_sqrt",
    "join",
    "last_iterate_bound",
    "linear_decay",
    "multi_step",
    "one_cycle",
    "optimal_schedule",
    "piecewise_constant",
    "polynomial_decay",
    "refine",
    "refine_reference",
    "refined_shape",
    "rsqrt",
    "smooth_norms",
    "smoothing_width",
    "step_decay",
    "stretch",
    "summarize",
    "warmup",
    "warmup_stable_decay",
]
