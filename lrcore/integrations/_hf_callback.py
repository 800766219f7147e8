"""The Hugging Face ``GradNormCallback`` (import it from :mod:`lrcore.integrations.hf`)."""

from __future__ import annotations

import sys
import time
import warnings
import weakref
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from lrcore.integrations._common import FILENAME, FLUSH_SECONDS
from lrcore.logs._meta import optimizer_family, optimizer_label
from lrcore.train import _normfile
from lrcore.train.recorder import GradNormRecorder

_ABSENT = object()  # the accelerator had no clip_grad_norm_ of its own (the class's method)


class GradNormCallback(TrainerCallback, ExportableState):
    """Per optimizer step l2 and l1 gradient norms and the training loss, appended to
    ``<output_dir>/<filename>`` on rank 0 as the run goes (at every logging step, every
    checkpoint save and at train end: a killed run keeps the rows up to its last log).

    The file: ``step,grad_norm_l2,grad_norm_l1,loss,optimizer`` (:mod:`lrcore.train._normfile`);
    ``step`` is the 0-based index of the optimizer step whose gradient the row holds;
    ``loss`` the loss the Trainer accumulated for that step (its ``_tr_loss``: the mean over
    the step's micro-batches; on rank 0 under DDP; the logged loss at logging steps only if
    the Trainer keeps no such tensor); ``optimizer`` the optimizer the Trainer built, on
    every row, so ``lrcore refine`` picks its rule (AdamW -> the Adam rule on l1 norms).
    ``groups="normalized"`` (or a dict name -> parameters or parameter names) adds
    per-group columns ``grad_norm_l2_<name>``, ``grad_norm_l1_<name>``.

    At each logging step the latest norms are added to the Trainer's log entry
    (``grad_norm_l2``, ``grad_norm_l1`` beside HF's ``grad_norm``, and ``lrcore_step``: the
    row's step, which is the entry's ``step`` - 1, as HF counts updates done).

    Checkpoints stay small: each checkpoint folder gets ``lrcore_grad_norms.npz`` (the rows
    so far, binary) and its ``trainer_state.json`` only a pointer and a summary
    (``stateful_callbacks`` -> ``GradNormCallback`` -> ``attributes.lrcore_norms``).
    Resuming (``trainer.train(resume_from_checkpoint=...)``) puts those rows back and
    rewrites the file, so it holds one row per optimizer step of the whole run."""

    def __init__(self, filename: str = FILENAME, groups=None):
        self.filename = filename
        self.groups = groups
        self.recorder: GradNormRecorder | None = None
        self.path: Path | None = None
        self._optimizer: str | None = None
        self._accelerator = None  # whose clip_grad_norm_ the callback listens to
        self._pre_clip = None  # what that clip returned at this step (pre-clip l2)
        self._warned = False
        self._trainer = None  # weak reference to the Trainer (its accumulated loss)
        self._args = None
        self._state = None
        self._loss_prev = None  # the Trainer's accumulated loss after the previous step
        self._loss_per_step = False

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        """What each checkpoint's ``trainer_state.json`` keeps: the optimizer (which
        ``load_log`` reads back) and a pointer to the rows, written beside it as
        ``lrcore_grad_norms.npz`` (HF calls this on rank 0 while saving a checkpoint,
        after the model and before ``trainer_state.json``)."""
        args = {"filename": self.filename}
        if isinstance(self.groups, str):
            args["groups"] = self.groups
        return {
            "args": args,
            "attributes": {
                "optimizer": optimizer_family(self._optimizer) if self._optimizer else None,
                "optimizer_name": self._optimizer,
                "lrcore_norms": self._write_sidecar(),
            },
        }

    def _write_sidecar(self) -> dict | None:
        rec = self.recorder
        if rec is None or self._args is None:
            return None
        step = self._state.global_step
        folder = Path(self._args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}"
        n = len(rec)
        summary = {
            "format": 2,
            "file": None,
            "rows": n,
            "first_step": int(rec.steps[0]) if n else None,
            "last_step": int(rec.steps[-1]) if n else None,
            "columns": ["step", *rec.columns, "optimizer"],
        }
        if folder.is_dir():
            state = rec.state_dict()
            values = torch.stack([state[c] for c in rec.columns]).numpy()
            _normfile.write_sidecar(
                folder / _normfile.SIDECAR, state["step"].numpy(), values, rec.columns,
                rec.optimizer,
            )  # fmt: skip
            summary["file"] = _normfile.SIDECAR
        return summary

    def _resume(self, saved: dict | None, step: int) -> None:
        """Put back the rows of steps ``< step`` from the checkpoint resumed from."""
        rec = self.recorder
        if saved is not None and "steps" in saved:  # older lrcore: the lists in the JSON
            rec.load_state_dict(saved, before=step)
            return
        name = (saved or {}).get("file")
        for folder in _checkpoint_folders(self._args, step) if name else []:
            if (folder / name).is_file():
                rec.load_state_dict(_normfile.read_sidecar(folder / name), before=step)
                return
        warnings.warn(
            f"GradNormCallback: the checkpoint at step {step} holds no lrcore gradient norms "
            f"(or its {_normfile.SIDECAR} is missing); {self.filename} starts at step {step}",
            stacklevel=3,
        )

    # ------------------------------------------------------------------ training
    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if args.fp16:
            raise ValueError(
                "GradNormCallback: fp16=True scales the gradients the callback sees; "
                "use bf16=True or fp32"
            )
        self._optimizer = optimizer_label(optimizer) if optimizer is not None else str(args.optim)
        self._args, self._state = args, state
        path = Path(args.output_dir) / self.filename
        self.recorder = GradNormRecorder(
            model, optimizer=self._optimizer, groups=self.groups, path=path
        )
        trainer = _calling_trainer()
        self._trainer = weakref.ref(trainer) if trainer is not None else None
        self._loss_prev, self._loss_per_step = None, False
        if state.global_step > 0:  # resumed: the steps before the checkpoint
            self._resume(_saved_norms(state), state.global_step)
            self._flush(state)  # the file now holds those rows only (no later duplicates)
        self._listen(trainer)

    def _listen(self, trainer) -> None:
        """Wrap ``trainer.accelerator.clip_grad_norm_`` (on that instance only) so that the
        pre-clip norm it returns reaches :meth:`on_pre_optimizer_step`; clipping itself is
        untouched. The wrapper holds the callback weakly; at train end whatever the
        instance held before (its own attribute, or none: the class's method) is put back."""
        self._unlisten()
        acc = getattr(trainer, "accelerator", None)
        if acc is None:
            return
        own = vars(acc).get("clip_grad_norm_", _ABSENT)
        if hasattr(own, "_lrcore_wrapped"):  # a wrapper left by a run that raised
            before, clip = own._lrcore_before, own._lrcore_wrapped
        else:
            before, clip = own, getattr(acc, "clip_grad_norm_", None)
        if clip is None:
            return
        ref = weakref.ref(self)

        def clip_grad_norm_(*a, **k):
            norm = clip(*a, **k)
            cb = ref()
            if cb is not None:
                cb._pre_clip = norm
            return norm

        clip_grad_norm_._lrcore_wrapped = clip
        clip_grad_norm_._lrcore_before = before
        acc.clip_grad_norm_ = clip_grad_norm_
        self._accelerator = acc

    def _unlisten(self) -> None:
        acc, self._accelerator = self._accelerator, None
        own = vars(acc).get("clip_grad_norm_") if acc is not None else None
        if not hasattr(own, "_lrcore_wrapped"):
            return
        if own._lrcore_before is _ABSENT:
            del acc.clip_grad_norm_  # back to the class's method
        else:
            acc.clip_grad_norm_ = own._lrcore_before  # what the instance held before

    def _step_loss(self):
        """This step's loss: the growth of the Trainer's on-device ``_tr_loss`` since the
        previous step (no sync), or None when the Trainer keeps no such tensor."""
        trainer = self._trainer() if self._trainer is not None else None
        total = getattr(trainer, "_tr_loss", None)
        if not isinstance(total, torch.Tensor):
            return None
        self._loss_per_step = True
        with torch.no_grad():
            loss = total - self._loss_prev if self._loss_prev is not None else total.clone()
            self._loss_prev = total.clone()
        return loss

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        norm, self._pre_clip = self._pre_clip, None
        max_norm = float(args.max_grad_norm or 0.0)
        loss = self._step_loss()
        if norm is None:  # the Trainer's norm was not seen: compute both norms here
            if max_norm > 0 and not self._warned:
                self._warned = True
                warnings.warn(
                    "GradNormCallback: the Trainer's pre-clip gradient norm was not seen "
                    "(accelerator.clip_grad_norm_ not called); recording the norms after "
                    "clipping",
                    stacklevel=2,
                )
            self.recorder.record(state.global_step, loss=loss)
            return
        if hasattr(norm, "full_tensor"):  # a replicated DTensor (FSDP2)
            norm = norm.full_tensor()
        scale = None
        if max_norm > 0:  # the coefficient torch's clip multiplied the gradients by
            n = torch.as_tensor(norm, dtype=torch.float32)
            scale = torch.clamp(max_norm / (n + 1e-6), max=1.0)
        self.recorder.record(state.global_step, l2=norm, scale=scale, loss=loss)

    def on_log(self, args, state, control, logs=None, **kwargs):
        rec = self.recorder
        if rec is None:
            return
        trainer = self._trainer() if self._trainer is not None else None
        total = getattr(trainer, "_tr_loss", None)
        if isinstance(total, torch.Tensor) and self._loss_prev is not None:
            with torch.no_grad():  # a training log has just set it back to 0
                self._loss_prev = total.clone()
        if len(rec) and logs is not None and "loss" in logs:
            last = state.log_history[-1] if state.log_history else None
            if last is not None and last.get("step") == state.global_step:
                l2, l1 = rec.last()  # this step's two norms, not every norm so far (rec.l2/l1)
                last["grad_norm_l2"], last["grad_norm_l1"] = l2, l1
                last["lrcore_step"] = int(rec._steps[-1])
                if not self._loss_per_step:  # no per-step loss: the logged one, here only
                    rec.set_loss(float(logs["loss"]))
        self._flush(state)

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - getattr(self, "_flushed_at", 0.0) >= FLUSH_SECONDS:
            self._flush(state)  # between logging steps too: a crash keeps what ran

    def on_save(self, args, state, control, **kwargs):
        self._flush(state, sync=True)

    def on_train_end(self, args, state, control, **kwargs):
        self._unlisten()
        self._flush(state, sync=True)

    def _flush(self, state, sync: bool = False) -> None:
        rec = self.recorder
        if rec is not None and state.is_world_process_zero and (len(rec) or rec.path.exists()):
            rec.path.parent.mkdir(parents=True, exist_ok=True)
            self.path = rec.flush(sync=sync)
        self._flushed_at = time.monotonic()


def _calling_trainer():
    """The ``transformers.Trainer`` whose callback handler called us (from the stack;
    callbacks are not given the Trainer), or None."""
    from transformers import Trainer

    frame = sys._getframe(1)
    while frame is not None:
        obj = frame.f_locals.get("self")
        if isinstance(obj, Trainer):
            return obj
        frame = frame.f_back
    return None


def _checkpoint_folders(args, step: int) -> list[Path]:
    """Where the checkpoint resumed from may be: the ``resume_from_checkpoint`` the Trainer
    was given (from the stack), then ``<output_dir>/checkpoint-<step>``."""
    found = []
    frame = sys._getframe(1)
    while frame is not None:
        value = frame.f_locals.get("resume_from_checkpoint")
        if isinstance(value, str | Path):
            found.append(Path(value))
            break
        frame = frame.f_back
    found.append(Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}")
    return found


def _saved_norms(state) -> dict | None:
    """What a checkpoint's trainer_state.json kept (``stateful_callbacks``): the pointer to
    the sidecar, or (older lrcore) the lists themselves."""
    saved = (getattr(state, "stateful_callbacks", None) or {}).get("GradNormCallback")
    if isinstance(saved, list):
        saved = saved[-1] if saved else None
    if not isinstance(saved, dict):
        return None
    norms = saved.get("attributes", {}).get("lrcore_norms")
    return norms if isinstance(norms, dict) else None
