"""Which series in a log is the gradient norm (log-formats.md, 'Metric names to try first')."""

from __future__ import annotations

from lrcore._validate import name_list
from lrcore.logs._types import LogError

_L2_EXACT = ("grad_norm", "gnorm", "grad_norm_l2", "gradient_norm", "grad_2.0_norm_total")
_L2_SUFFIX = ("/grad_norm", "/gnorm")
_L1_EXACT = ("grad_norm_l1", "gnorm_l1")


def short_name(name: str) -> str:
    """The metric part of a W&B column ``"<run> - <metric>"``, else the name itself."""
    return name.split(" - ", 1)[1] if " - " in name else name


def norm_rank(name: str) -> int | None:
    """Lower is a better guess for 'the gradient norm'; ``None`` = not a norm name."""
    s = short_name(name).lower()
    if s in _L2_EXACT:
        return _L2_EXACT.index(s)
    if s.endswith(_L2_SUFFIX):
        return 10
    if s in _L1_EXACT:
        return 20
    if "l1" in s and ("norm" in s or "grad" in s):
        return 21
    if "norm" in s and "grad" in s or "gnorm" in s:
        return 30
    return None


def norm_candidates(names: list[str]) -> list[str]:
    """Names that look like gradient norms, best guesses first; all names if none do."""
    ranked = sorted((r, i, n) for i, n in enumerate(names) if (r := norm_rank(n)) is not None)
    return [n for _, _, n in ranked] or list(names)


def choose_metric(names: list[str], metric: str | None, source: str) -> str:
    """The series to load: ``metric`` if given (full or short name), else the best guess."""
    if not names:
        raise LogError(f"{source}: no numeric series found")
    if metric is not None:
        if metric in names:
            return metric
        matches = [n for n in names if short_name(n) == metric]
        if len(matches) == 1:
            return matches[0]
        found = name_list(names, limit=12)
        hint = " (it names several runs: use the full column name)" if matches else ""
        err = LogError(f"{source}: no metric {metric!r}{hint}; found: {found}")
        # for callers that word it their own way (the CLI names its --metric option)
        err.metric, err.source, err.found, err.ambiguous = metric, source, found, bool(matches)
        raise err
    ranked = [(norm_rank(n), n) for n in names]
    normish = sorted((r, n) for r, n in ranked if r is not None)
    if not normish:
        if len(names) == 1:
            return names[0]
        raise LogError(
            f"{source}: no gradient-norm series recognised; found: "
            f"{name_list(names, limit=12)}; choose one with metric= (CLI: --metric)"
        )
    best = [n for r, n in normish if r == normish[0][0]]
    if len(best) > 1:
        raise LogError(
            f"{source}: several gradient-norm series found: {name_list(best, limit=12)}; "
            "choose one with metric= (CLI: --metric)"
        )
    return best[0]
