"""Number and cell formats shared by the report's sections."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lrcore.study.result import StudyResult

TASK_WORDS = {"svm": "hinge", "lm": "language model"}
METRIC_WORDS = {
    "suboptimality": "suboptimality",
    "excess_loss": "excess loss (nats/token)",
    "objective": "objective",
}


def _g(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if np.isfinite(x) else "n/a"


def _pm(mean: float, sem: float) -> str:
    if not np.isfinite(mean):
        return "diverged"
    return f"{mean:.4g} ± {sem:.2g}" if np.isfinite(sem) else f"{mean:.4g}"


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %" if np.isfinite(x) else "n/a"


def _pct_pm(mean: float, sem: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{100 * mean:.1f} ± {100 * sem:.1f} %" if np.isfinite(sem) else _pct(mean)


def _test(row) -> str:
    return f"{_pct(row.test_a)} vs {_pct(row.test_b)}"


def _scale(x: float, metric: str) -> str:
    if metric == "suboptimality" and x == 0:
        return "0 (f* = 0, reached)"
    return _g(x)


def _wall(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _regime_time(result: StudyResult, g: str) -> float:
    return sum(r.wall_time for r in result.results if r.problem.regime == g)


def _cell(c: dict, sign: bool = True) -> str:
    extra = [f"sign p = {_p(c['sign_p'])}"] if c["counted"] and sign else []
    if c["inconclusive"]:
        extra.append(f"{c['inconclusive']} inconclusive")
    if c["degenerate"]:
        seen = [
            f"{c[f'degenerate clearly {w}']} clearly {w}"
            for w in ("better", "worse")
            if c[f"degenerate clearly {w}"]
        ]
        extra.append(f"{c['degenerate']} degenerate" + (f" ({', '.join(seen)})" if seen else ""))
    return c["verdict"] + ("; " + ", ".join(extra) if extra else "")
