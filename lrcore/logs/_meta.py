"""Which optimizer made a log, and so which refinement rule and norm to use by default.

Logs written by lrcore (``GradNormRecorder``, the Hugging Face and Lightning callbacks,
``write_log(optimizer=...)``) record the optimizer family:

- CSV: a first line ``# lrcore: optimizer=adam (AdamW)`` (pandas: ``read_csv(comment="#")``);
- HF ``trainer_state.json``: ``stateful_callbacks.GradNormCallback.attributes.optimizer``.

The optimizer decides the rule (refinement.md): Adam family -> l1 norms and the Adam rule,
SGD -> l2 norms and the SGD rule. :func:`choose_rule` applies that, and says why and, when
it had to guess, how to switch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

FAMILIES = ("adam", "sgd")
# optimizers whose update is scaled per coordinate (sign-like, l_inf geometry): l1 norms
_ADAM_WORDS = ("adam", "lamb", "lion", "adafactor", "rmsprop", "adagrad", "adadelta", "sophia")
_SGD_WORDS = ("sgd", "nesterov", "momentum", "heavyball")
_LINE = re.compile(
    rb"^(?:\xef\xbb\xbf)?#[ \t]*lrcore:[ \t]*optimizer=([A-Za-z0-9_.-]+)"
    rb"(?:[ \t]*\(([^)\r\n]{0,200})\))?[^\n]*(?:\n|$)"
)


def optimizer_family(optimizer) -> str | None:
    """``"adam"``, ``"sgd"`` or None (unknown) for an optimizer object, class or name
    (a torch class name such as ``AdamW``, or Hugging Face's ``args.optim`` such as
    ``adamw_torch_fused`` or ``paged_adamw_8bit``).

    >>> optimizer_family("adamw_torch"), optimizer_family("SGD"), optimizer_family("LBFGS")
    ('adam', 'sgd', None)
    """
    name = optimizer_label(optimizer).lower()
    if name in FAMILIES:
        return name
    if any(w in name for w in _ADAM_WORDS):
        return "adam"
    if any(w in name for w in _SGD_WORDS):
        return "sgd"
    return None


def optimizer_label(optimizer) -> str:
    """A short name for an optimizer object, class or string (``AdamW``, ``adamw_torch``)."""
    if optimizer is None:
        return ""
    if isinstance(optimizer, str):
        return optimizer.strip()
    if isinstance(optimizer, type):
        return optimizer.__name__
    inner = getattr(optimizer, "optimizer", None)  # accelerate / Lightning wrappers
    if inner is not None and inner is not optimizer and not isinstance(inner, str):
        return optimizer_label(inner)
    return type(optimizer).__name__


@dataclass(frozen=True)
class Recorded:
    """What a log says about the run that made it."""

    family: str | None  # "adam", "sgd" or None (the optimizer is not one lrcore knows)
    name: str  # the optimizer's own name, e.g. "AdamW"
    # set when the log names optimizers of different families (an optimizer column whose
    # rows disagree): what it names, for people; the rule then comes from the norm
    conflict: str | None = None

    def describe(self) -> str:
        if self.conflict is not None:
            return f"the log names optimizers of different families ({self.conflict})"
        if self.family is None:
            return f"the log records optimizer {self.name!r} (not an SGD or Adam family)"
        fam = "Adam" if self.family == "adam" else "SGD"
        if self.name.lower() == self.family:
            return f"the log records {fam}"
        return f"the log records {self.name}, {fam} family"


def csv_comment(optimizer) -> str:
    """The first line lrcore writes into a CSV log: ``# lrcore: optimizer=adam (AdamW)``."""
    family = optimizer_family(optimizer) or "unknown"
    label = re.sub(r"[()\r\n]", "", optimizer_label(optimizer))[:100]
    return f"# lrcore: optimizer={family} ({label})" if label else f"# lrcore: optimizer={family}"


def split_comment(head: bytes) -> tuple[Recorded | None, int]:
    """(what a leading ``# lrcore:`` line records, its length in bytes) or (None, 0)."""
    m = _LINE.match(head)
    if not m:
        return None, 0
    family = m[1].decode("ascii").lower()
    name = (m[2] or m[1]).decode("utf-8", "replace").strip() or family
    return Recorded(family if family in FAMILIES else None, name), m.end()


def recorded_from_labels(found: dict[str, str], column: str = "optimizer") -> Recorded | None:
    """What an optimizer column records, from its distinct labels (label -> where it first
    appears, e.g. ``"line 2"``): one family (one label, or several of one family such as
    ``AdamW`` and ``adamw_torch``), or a conflict to report; None for no label.

    >>> recorded_from_labels({"AdamW": "line 2"})
    Recorded(family='adam', name='AdamW', conflict=None)
    >>> recorded_from_labels({"AdamW": "line 2", "SGD": "line 90"}).conflict
    "column 'optimizer': 'AdamW' from line 2, 'SGD' from line 90"
    """
    if not found:
        return None
    families = {optimizer_family(label) for label in found}
    name = ", ".join(found)[:200]
    if len(families) == 1:
        return Recorded(families.pop(), name)
    shown = ", ".join(f"{label[:40]!r} from {where}" for label, where in list(found.items())[:4])
    more = f" and {len(found) - 4:,} more" if len(found) > 4 else ""
    return Recorded(None, name, f"column {column!r}: {shown}{more}")


def hf_recorded(text: str) -> Recorded | None:
    """What lrcore's HF callback left in a ``trainer_state.json`` (``stateful_callbacks``)."""
    if '"GradNormCallback"' not in text:
        return None
    try:
        return hf_recorded_doc(json.loads(text))
    except ValueError:
        return None


def hf_recorded_doc(doc) -> Recorded | None:
    """:func:`hf_recorded` of the parsed document."""
    try:
        state = doc["stateful_callbacks"]["GradNormCallback"]
        if isinstance(state, list):
            state = state[-1]
        attrs = state["attributes"]
        family, name = attrs.get("optimizer"), attrs.get("optimizer_name") or ""
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    if not isinstance(family, str) or not family:
        return None
    family = family.lower()
    return Recorded(family if family in FAMILIES else None, str(name) or family)


# --------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Rule:
    """The refinement rule for a log and why (every output line naming the rule says why)."""

    optimizer: str  # "adam" or "sgd": the rule
    norm: str  # "l1" or "l2": the norms it is applied to
    reason: str  # why this rule, for people
    note: str | None = None  # said when the choice was a guess (CLI: ``note:``; app: st.info)

    def describe(self) -> str:
        """``'Adam rule on l1 norms (the log records the optimizer (AdamW, Adam family))'``."""
        return f"{'Adam' if self.optimizer == 'adam' else 'SGD'} rule on {self.norm} norms ({self.reason})"


# "l1" anywhere, or Lightning's grad_norm(norm_type=1) names: grad_1.0_norm_total, grad_1.0_norm/w
_L1_NAME = re.compile(r"l1|grad_1(?:\.0*)?_norm")


def norm_of(metric: str) -> str:
    """``"l1"`` when a series' name says so, else ``"l2"``.

    >>> [norm_of(m) for m in ["grad_norm_l1", "grad_1.0_norm_total", "grad_2.0_norm_total"]]
    ['l1', 'l1', 'l2']
    """
    return "l1" if _L1_NAME.search(metric.lower()) else "l2"


def wanted_norm(recorded: Recorded | None, optimizer: str = "auto") -> str | None:
    """The norm to pick among a log's series, or None for the loader's usual guess."""
    family = optimizer if optimizer != "auto" else (recorded.family if recorded else None)
    return None if family is None else ("l1" if family == "adam" else "l2")


def choose_rule(
    metric: str,
    candidates: tuple[str, ...],
    fmt: str,
    recorded: Recorded | None,
    optimizer: str = "auto",
    metric_given: bool = False,
) -> Rule:
    """The refinement rule for the loaded series ``metric`` (see the module docstring)."""
    norm = norm_of(metric)
    norms = {norm_of(c) for c in candidates} | {norm}
    if optimizer != "auto":
        return Rule(optimizer, norm, f"optimizer={optimizer} as asked")
    if recorded is not None and recorded.family is not None:
        note = None
        if recorded.family == "adam" and norm == "l2":
            note = (
                f"{recorded.describe()} but the series used, {metric!r}, is an l2 norm: "
                "Adam's rule is meant for l1 norms"
                + ("" if "l1" in norms else ", which this log does not hold")
            )
        return Rule(recorded.family, norm, recorded.describe(), note)
    guessed = "adam" if norm == "l1" else "sgd"
    why = f"{metric!r} is an {norm} norm"
    unknown = f"; {recorded.describe()}" if recorded is not None else ""
    rule, other = ("Adam", "SGD") if guessed == "adam" else ("SGD", "Adam")
    switch = f"(CLI: --optimizer {other.lower()}; app: 'Refinement rule')"
    if recorded is not None and recorded.conflict is not None:
        return Rule(
            guessed,
            norm,
            why + unknown,
            f"{recorded.describe()}, so the rule cannot come from the log: used {metric!r} "
            f"({norm}) and the {rule} rule; if an {other}-family optimizer ran the steps "
            f"you refine, say so {switch}",
        )
    if norms == {"l1", "l2"} and not metric_given:
        other = "l2" if norm == "l1" else "l1"
        alt = next(c for c in candidates if norm_of(c) == other)
        return Rule(
            guessed,
            norm,
            why + " and the log does not say which optimizer ran" + unknown,
            f"the log holds l1 and l2 norms and does not say which optimizer ran: used "
            f"{metric!r} ({norm}) and the {'Adam' if guessed == 'adam' else 'SGD'} rule; for "
            f"{'an SGD' if guessed == 'adam' else 'an Adam-family'} run use {alt!r} "
            f"({other}) with the {'SGD' if guessed == 'adam' else 'Adam'} rule "
            f"(CLI: --optimizer {'sgd' if guessed == 'adam' else 'adam'}; app: "
            "'Refinement rule')",
        )
    if fmt == "hf_trainer" and norms == {"l2"}:
        return Rule(
            guessed,
            norm,
            why + " (Hugging Face logs l2 only)" + unknown,
            "trainer_state.json holds l2 norms only; Hugging Face's default optimizer is "
            "AdamW, and Adam's rule needs l1 norms, which Hugging Face does not log: record "
            "them with lrcore.integrations.hf.GradNormCallback (writes grad_norms.csv with "
            "the optimizer). Used the SGD rule on l2 norms; for an AdamW run this is an "
            "approximation (CLI: --optimizer adam applies Adam's rule to these l2 norms; app: "
            "'Refinement rule')",
        )
    if fmt in SILENT_FORMATS and recorded is None:
        return Rule(
            guessed,
            norm,
            why + "; the log does not record the optimizer",
            f"{SILENT_FORMATS[fmt]} does not record the optimizer: assumed the {rule} rule on "
            f"{norm} norms ({metric!r} is an {norm} norm); for an"
            f" {other}{'-family' if other == 'Adam' else ''} run use the {other} rule {switch}"
            + (
                ", which is meant for l1 norms: log them too (Lightning: "
                "grad_norm(self, norm_type=1); lrcore's callbacks record both)"
                if other == "Adam" and "l1" not in norms
                else ""
            ),
        )
    return Rule(guessed, norm, why + unknown)


# formats written by a framework that does not record the optimizer (their own names)
SILENT_FORMATS = {
    "lightning": "a Lightning metrics.csv",
    "tensorboard_csv": "a TensorBoard CSV download",
    "tensorboard_json": "a TensorBoard JSON download",
    "tensorboard": "a TensorBoard event file",
}
