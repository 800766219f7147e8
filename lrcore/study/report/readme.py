"""The README's headline block (between README_START and README_END), written by
``lrcore study --readme``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from lrcore.study.problems import REGIMES
from lrcore.study.report._fmt import _cell, _p, _pct, _wall
from lrcore.study.report.lm import lm_best, lm_gap, lm_rows, lm_sentence
from lrcore.study.result import StudyResult
from lrcore.study.stats import ALPHA, CLAIMS

README_START = "<!-- study:start (written by `lrcore study --readme README.md`) -->"
README_END = "<!-- study:end -->"


def readme_block(result: StudyResult) -> str:
    """The README's headline: per claim and regime the verdict with its sign-test p, the
    absolute sizes where refined is clearly better or worse, and the language model."""
    regimes = [g for g in result.regimes if not REGIMES[g].apart]
    apart = [g for g in result.regimes if REGIMES[g].apart]
    n = len(result.results)
    comp = result.comparisons
    out = [
        f"[docs/results.md](docs/results.md) tests the paper's claims on {n} problems in "
        f"{len(result.regimes)} regimes under [protocol v4](docs/protocol.md) (v3 amended for a "
        "language model that learns; held-out build and "
        "scoring seeds, each schedule at its own best peak lr, Holm-corrected paired tests; "
        f"full numbers in [docs/results.csv](docs/results.csv); {_wall(result.wall_time)} on "
        f"{result.jobs} process(es)). Verdicts (clearly better = Holm p < {ALPHA:g}):",
        "",
    ]
    head = [c for c, *_ in CLAIMS]
    out += ["| regime | status | " + " | ".join(head) + " |", "|---" * (len(head) + 2) + "|"]
    for g in regimes:
        cells = [_cell(result.counts(c, g)) for c in head]
        out.append(f"| {g} | {REGIMES[g].status} | " + " | ".join(cells) + " |")
    out += _shared_generator(result, regimes)
    out += [
        "",
        "*holds* / *reversed*: clearly better / worse on more than half of the counted problems"
        " (neither inconclusive nor degenerate); *mixed*: some clear result short of that; "
        "*better*: a lower mean, however small; status: whether the regime was fixed before "
        "any result (pre-pilot, pre-registered) or added after pilots had shown refined "
        "winning (post-pilot).",
        "",
        "- " + _refined_tally(result, regimes),
        "- " + _sign_sentence(result, regimes),
    ]
    out += _sizes(result)
    out += _helps_hurts(result, regimes)
    for r in lm_rows(result):
        if REGIMES[r.problem.regime].apart:  # mechanism regimes and v3's size: below
            continue
        rc = comp[(comp.problem == r.problem.name) & (comp.claim == CLAIMS[1][0])].iloc[0]
        out.append(
            f"- **Language model** ({r.problem.name}): "
            + lm_sentence(rc, r.best.set_index("schedule").loc["linear"])
            + ". "
            + lm_gap(r)
            + " "
            + lm_best(result, r)
        )
    out += _mechanism_bullet(result)
    if apart:
        for g in apart:
            c = result.counts(CLAIMS[1][0], g)
            out.append(f"- Kept apart, {g}: refined beats linear: {_cell(c, sign=False)}.")
    agree, total, p = result.bound_agrees()
    out.append(
        f"- **The bound** (own-norm scoring) called refined vs linear right on {agree} of "
        f"{total} SGD problems (one-sided binomial p = {_p(p)} against chance)."
    )
    return "\n".join(out)


def _sizes(result: StudyResult) -> list[str]:
    """The bullet with the sizes where refined is clearly better or worse (none: no bullet)."""
    comp = result.comparisons
    out = []
    rb = comp[(comp.claim == CLAIMS[1][0]) & comp.outcome.isin(["clearly better", "clearly worse"])]
    scale = {r.problem.name: r.best.set_index("schedule") for r in result.results}
    if len(rb):
        sizes = []
        for row in rb.itertuples():
            b = scale[row.problem]
            others = b.score_mean.drop(["refined", "linear"], errors="ignore")
            best_other = ""
            if len(others.dropna()):
                top = str(others.idxmin())
                best_other = f"; best other schedule {top} {others[top]:.3g}"
            sizes.append(
                f"{row.problem} {row.outcome.split()[1]} by {abs(row.diff_mean):.2g} "
                f"(linear {row.score_b:.3g}, objective {b.objective_mean['linear']:.3g}; "
                f"test {_pct(row.test_a)} vs {_pct(row.test_b)}{best_other})"
            )
        out.append(
            "- Sizes where refined is clearly better or worse than linear: "
            + "; ".join(sizes)
            + "."
        )
    return out


def check_readme(path: str | Path) -> str:
    """The text of ``path``; ValueError when it lacks the study block's markers."""
    from lrcore._output import check_input_file

    path = Path(path)
    check_input_file("update_readme", path, 16 * 2**20)  # /dev/zero: no end to read
    try:
        text = path.read_text()
    except OSError as e:
        raise ValueError(f"update_readme: cannot read {path}: {e.strerror}") from None
    if README_START not in text or README_END not in text:
        raise ValueError(f"update_readme: {path} has no {README_START!r} ... {README_END!r} block")
    return text


def update_readme(path: str | Path, block: str) -> None:
    """Replace the text between README_START and README_END in ``path`` with ``block``."""
    path, text = Path(path), check_readme(path)
    pattern = re.escape(README_START) + ".*?" + re.escape(README_END)
    path.write_text(
        re.sub(pattern, lambda _: f"{README_START}\n{block}\n{README_END}", text, flags=re.S)
    )


def _sign_sentence(result: StudyResult, regimes: list[str]) -> str:
    """Where a regime's exact sign test reaches ALPHA, and which regimes are too small to."""
    low = [
        f"{claim} in {g} (p = {_p(c['sign_p'])})"
        for claim, *_ in CLAIMS
        for g in regimes
        if (c := result.counts(claim, g))["counted"] and c["sign_p"] < ALPHA
    ]
    sizes = {g: max(result.counts(c, g)["counted"] for c, *_ in CLAIMS) for g in regimes}
    k = int(np.floor(np.log2(1 / ALPHA)))  # n <= k problems: 2^-n >= ALPHA
    small = [g for g in regimes if sizes[g] <= k]
    return (
        "Sign test per regime (one-sided, 'better on k of n counted problems'): "
        + (f"p < {ALPHA:g} for {'; '.join(low)}" if low else f"no claim reaches p < {ALPHA:g}")
        + f". {len(small)} of {len(regimes)} regimes have {k} or fewer counted problems and "
        f"cannot reach it (the smallest possible p of n problems is 2^-n)."
    )


def _refined_tally(result: StudyResult, regimes: list[str]) -> str:
    """Refined vs linear over the given regimes: how many problems went which way, and the
    regimes (with status and problems) where the claim holds."""
    c = result.comparisons
    c = c[(c.claim == CLAIMS[1][0]) & c.regime.isin(regimes)]
    clear = c.p_holm < ALPHA
    deg = c.outcome == "degenerate"
    parts = [
        f"{int((clear & (c.diff_mean > 0) & ~deg).sum())} clearly better",
        f"{int((clear & (c.diff_mean < 0) & ~deg).sum())} clearly worse",
        f"{int((c.outcome == 'no clear difference').sum())} no clear difference",
        f"{int(deg.sum())} degenerate ({int((deg & clear & (c.diff_mean < 0)).sum())} of them "
        "clearly worse)",
        f"{int((c.outcome == 'inconclusive').sum())} inconclusive",
    ]
    holds = [
        f"{g} ({REGIMES[g].status}: {', '.join(c[c.regime == g].problem)})"
        for g in regimes
        if result.counts(CLAIMS[1][0], g)["verdict"].startswith("holds")
    ]
    return (
        f"Refined vs linear on all {len(c)} problems above: "
        + ", ".join(parts)
        + ". "
        + ("It holds in " + "; ".join(holds) + "." if holds else "It holds in no regime.")
    )


def _shared_generator(result: StudyResult, regimes: list[str]) -> list[str]:
    """A note for each regime whose problems all draw their data and noise from one
    generator (the synthetic data set with one noise profile): its k/n is one finding seen k
    times, not k independent ones."""
    out = []
    for g in regimes:
        probs = [r.problem for r in result.results if r.problem.regime == g]
        kinds = {(p.config.dataset, p.config.noise) for p in probs}
        if len(probs) > 1 and len(kinds) == 1 and next(iter(kinds))[1] != "none":
            data, noise = next(iter(kinds))
            out.append(
                f"\n{g}: its {len(probs)} problems share one generator (the {data} data set "
                f"with {noise} noise, lrcore.train.noise), so its counts are one finding seen "
                f"{len(probs)} times, not {len(probs)} independent ones."
            )
    return out


def _helps_hurts(result: StudyResult, regimes: list[str]) -> list[str]:
    """Where refinement clearly helps and where it clearly hurts, by how much: the regimes
    of its clear gains, the language model's loss at its learning transition, and the range
    of the other clear losses (relative to linear's score)."""
    comp = result.comparisons
    c = comp[(comp.claim == CLAIMS[1][0]) & comp.regime.isin(regimes) & (comp.p_holm < ALPHA)]
    if c.empty:
        return []
    rises = {r.problem.name: r.late_rise for r in result.results if r.late_rise is not None}
    lm = {r.problem.name for r in result.results if r.problem.config.is_lm}

    def rel(row) -> float:
        return abs(row.diff_mean) / row.score_b if row.score_b else float("nan")

    def span(rows) -> str:
        r = [rel(x) for x in rows.itertuples() if np.isfinite(rel(x))]
        return f"{min(r):.0%} to {max(r):.0%}" if len(r) > 1 else (f"{r[0]:.0%}" if r else "n/a")

    helped, hurt = c[c.diff_mean > 0], c[c.diff_mean < 0]
    out = []
    if len(helped):
        where = sorted(set(helped.regime), key=regimes.index)
        out.append(
            f"- Refinement **helps** on {len(helped)} problems, by {span(helped)} of linear's "
            f"score (in {'; '.join(where)}); most where gradient noise imposed from outside "
            "rises late ("
            + "; ".join(
                f"{x.problem}: {rel(x):.0%}, norms rising {rises[x.problem].ratio:.2g}x"
                for x in helped.itertuples()
                if x.problem in rises and rises[x.problem].ratio >= 2
            )
            + ")."
        )
    for x in hurt[hurt.problem.isin(lm)].itertuples():
        rise = rises.get(x.problem)
        how = (
            f"; linear's norms rise {rise.ratio:.2g}x late while its training loss falls "
            f"{rise.loss_drop:.0%}"
            if rise is not None and rise.loss_drop is not None
            else ""
        )
        out.append(
            f"- It **hurts most** where the model learns something new late ({x.problem}): "
            f"worse by {abs(x.diff_mean):.3g} ± {x.diff_sem:.2g} nats/token, "
            f"{abs(x.diff_mean) / x.score_b:.1f} times linear's excess loss{how} (Holm p = "
            f"{_p(x.p_holm)}; see the mechanism table)."
        )
    other = hurt[~hurt.problem.isin(lm)]
    deg = other[other.outcome == "degenerate"]
    other = other[other.outcome != "degenerate"]
    if len(other):
        out.append(
            f"- Elsewhere it is clearly worse on {len(other)} problems, by {span(other)} of "
            "linear's score ("
            + ", ".join(other.problem)
            + ")"
            + (
                f"; and on {len(deg)} whose refinement is degenerate ("
                + ", ".join(deg.problem)
                + ", counted apart)"
                if len(deg)
                else ""
            )
            + "."
        )
    return out


def _mechanism_bullet(result: StudyResult) -> list[str]:
    """Protocol v4.4's reading of the late rise, per mechanism, in one bullet."""
    from lrcore.study.report.mechanism import mechanism_rows, predictions, support

    rows = mechanism_rows(result)
    preds = predictions(rows)
    if all(h is None for p in preds.values() for _, h in p):
        return []
    words = "; ".join(f"{m}: {support(p)}" for m, p in preds.items())
    return [
        "- **Why the language model's norms rise late** (protocol v4.4, "
        f"[the mechanism table](docs/results.md#why-the-norms-rise-late-the-mechanism-measured-protocol-v4)): "
        f"{words}."
    ]
