"""The language model: its section of the report and the sentences the README repeats."""

from __future__ import annotations

import numpy as np

from lrcore.study.report._fmt import _p, _pct_pm, _pm
from lrcore.study.result import StudyResult
from lrcore.study.stats import CLAIM_OF, CLAIMS
from lrcore.train.findings import gap_closed


def lm_rows(result: StudyResult) -> list:
    return [r for r in result.results if r.problem.config.is_lm]


def lm_section(result: StudyResult) -> list[str]:
    out = []
    for r in lm_rows(result):
        best = r.best.set_index("schedule")
        cfg = r.problem.config
        lin = best.loc["linear"]
        true_ce = float(lin.objective_mean - lin.score_mean)
        out += [
            "",
            f"## The language model: {r.problem.name}",
            "",
            f"A decoder-only transformer (d_model {cfg.lm_d_model}, layers {cfg.lm_layers}, "
            f"heads {cfg.lm_heads}) trained with AdamW (weight decay {cfg.weight_decay:g}) for "
            f"{cfg.steps} steps of {cfg.batch_size} sequences of {cfg.lm_seq_len} tokens, on an "
            f"order-{cfg.lm_order} Markov chain over {cfg.lm_vocab} tokens (a new chain per seed); "
            f"linear, cosine and constant with {cfg.warmup_steps} warm-up steps, refined from "
            "linear's l1 norms by the Adam rule. Scoring seeds: "
            f"{r.problem.n_score}. The true chain's cross-entropy on the held-out tokens is "
            f"{true_ce:.4g} nats/token on average, linear's {lin.objective_mean:.4g}: the model "
            f"is {lin.score_mean:.4g} nats/token above the floor. {lm_gap(r)} "
            f"{lm_best(result, r)} This is a toy that, like language-model pre-training, is "
            "non-convex and never reaches 0; it does not test the paper's LLM runs.",
            "",
            "| schedule | peak lr | excess loss (nats/token) | held-out cross-entropy | "
            "next-token accuracy | minus linear | Holm p |",
            "|---|---|---|---|---|---|---|",
        ]
        comp = result.comparisons
        comp = comp[comp.problem == r.problem.name].set_index("claim")
        for s, row in best.iterrows():
            d = "-" if s == "linear" else _pm(*r.paired("linear", s))
            claim = CLAIM_OF.get(s)
            hp = _p(comp.p_holm[claim]) if claim in comp.index else "-"
            flag = " (edge)" if row.inconclusive else ""
            out.append(
                f"| {s} | {row.peak_lr:.4g}{flag} | {_pm(row.score_mean, row.score_sem)} "
                f"(held-out s.e. {row.token_se:.2g}) | {row.objective_mean:.4g} | "
                f"{_pct_pm(row.test_mean, row.test_sem)} | {d} | {hp} |"
            )
        rc = comp.loc[CLAIMS[1][0]]
        out += ["", "Refined vs linear here: " + lm_sentence(rc, lin) + "."]
    return out


def lm_gap(r) -> str:
    """How far from converged the language model is: the share of the gap between a uniform
    guess and the true chain that linear decay closes."""
    cfg = r.problem.config
    lin = r.best.set_index("schedule").loc["linear"]
    true_ce = float(lin.objective_mean - lin.score_mean)
    uniform = float(np.log(cfg.lm_vocab))
    share = gap_closed(lin.objective_mean, lin.score_mean, cfg.lm_vocab)
    where = (
        "the model learns (protocol v4 asks for at least 70 %)"
        if share >= 0.7
        else "the model is far from converged, before its learning transition: not a test"
    )
    return (
        f"At this size {where}: linear decay closes {share:.0%} of the "
        f"gap between a uniform guess (ln {cfg.lm_vocab} = {uniform:.4g}) and the true chain "
        f"({true_ce:.4g})."
    )


def lm_best(result: StudyResult, r) -> str:
    """Which schedule scored lowest on the language model, against linear, with its Holm p."""
    best = r.best.set_index("schedule")
    top = str(best.score_mean.idxmin())
    if top == "linear":
        return "Linear decay has the lowest excess loss."
    comp = result.comparisons
    row = comp[(comp.problem == r.problem.name) & (comp.claim == CLAIM_OF[top])].iloc[0]
    return (
        f"The lowest excess loss is {top}'s, {best.score_mean[top]:.4g} vs linear's "
        f'{best.score_mean["linear"]:.4g} ("{row.claim}": {row.outcome}, Holm p = '
        f"{_p(row.p_holm)})."
    )


def lm_sentence(rc, lin) -> str:
    gain = rc.diff_mean  # score(linear) - score(refined): > 0 refined better
    if rc.outcome == "clearly better":
        return (
            f"refined is clearly better, by {gain:.4g} ± {rc.diff_sem:.2g} nats/token "
            f"({gain / lin.score_mean:.1%} of linear's excess loss; Holm p = {_p(rc.p_holm)})"
        )
    if rc.outcome == "clearly worse":
        return (
            f"refined is clearly worse, by {-gain:.4g} ± {rc.diff_sem:.2g} nats/token "
            f"({-gain / lin.score_mean:.1%} of linear's excess loss; Holm p = {_p(rc.p_holm)})"
        )
    word = "lower (better)" if gain > 0 else "higher (worse)"
    return (
        f"{rc.outcome}: refined {rc.score_a:.4g} vs linear {rc.score_b:.4g} nats/token, "
        f"refined's excess loss {word} by {abs(gain):.2g} ± {rc.diff_sem:.2g} "
        f"({abs(gain) / lin.score_mean:.1%} of linear's; t-test p = {_p(rc.p_t)} before "
        f"correction, Holm p = {_p(rc.p_holm)})"
    )
