"""Record gradient norms in your own torch training loop.

    recorder = GradNormRecorder(model)
    for step, batch in enumerate(loader):
        loss = loss_fn(model(batch.x), batch.y)
        loss.backward()
        recorder.record(step)          # after backward(), before clipping and optimizer.step()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step(); optimizer.zero_grad()
    recorder.save("grad_norms.csv")    # lrcore refine grad_norms.csv

The norms stay on the device until you read them (no GPU sync per step). Under
``DistributedDataParallel`` the gradients are already all-reduced after ``backward()``,
so every rank records the global norm; save from rank 0. Under FSDP (``fully_shard``)
each rank holds a shard of each gradient (a ``DTensor``): the squares and absolute
values of the local shards are summed, the sums are all-reduced across the shard group,
and the l2 norm is the square root of the reduced sum of squares (:func:`grad_norms`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lrcore.logs._meta import csv_comment, optimizer_family, optimizer_label


def grad_norms(grads: list[torch.Tensor], l2: bool = True) -> torch.Tensor:
    """``[l2, l1]`` of all ``grads`` together, as one tensor on their device (no sync);
    with ``l2=False`` only the l1 norm is computed (the first entry is then 0).

    Sharded ``DTensor`` gradients (FSDP) contribute their local shard and the sums of
    squares and absolute values are all-reduced over the shard group; replicated or plain
    tensors (DDP: already averaged across ranks) are counted once.
    """
    plain, sharded = [], []
    for g in grads:
        placements = getattr(g, "placements", None)
        if placements is None:
            plain.append(g)
        elif any(p.is_shard() for p in placements):
            sharded.append(g)
        else:
            plain.append(g.to_local())
    out = _sums(plain, l2) if plain else None
    if sharded:
        import torch.distributed as dist

        local = _sums([g.to_local() for g in sharded], l2)
        dist.all_reduce(local, group=sharded[0].device_mesh.get_group())
        out = local if out is None else out + local.to(out.device)
    with torch.no_grad():
        return torch.stack([out[0].sqrt(), out[1]])


def _sums(grads: list[torch.Tensor], with_l2: bool = True) -> torch.Tensor:
    """``[sum of squares, sum of absolute values]`` of ``grads``, summed in float32 or wider
    (bf16 / fp16 gradients too), with no copy of any gradient (``with_l2=False``: the sum
    of squares is not computed and reads 0)."""
    with torch.no_grad():
        low = [g for g in grads if g.dtype in (torch.float16, torch.bfloat16)]
        wide = {"dtype": torch.float32} if low else {}
        if with_l2:
            l2 = torch.stack(torch._foreach_norm(grads, 2, **wide)).float()
        else:
            l2 = torch.zeros(1, device=grads[0].device)
        if grads[0].device.type == "cpu":
            with _one_blas_thread():  # BLAS threads next to torch's stall on a busy CPU
                l1 = torch.tensor([_l1_cpu(g) for g in grads], dtype=torch.float64)
        else:  # one fused kernel per dtype on the device; no sync
            l1 = torch.stack(torch._foreach_norm(grads, 1, **wide)).float()
        return torch.stack([(l2 * l2).sum(), l1.sum().to(l2.dtype)])


_CONTROLLER = None


def _one_blas_thread():
    """A context in which BLAS uses one thread (threadpoolctl; a no-op without it)."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    if _CONTROLLER is None:
        from scipy.linalg import blas  # noqa: F401 - load scipy's BLAS before looking

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _l1_cpu(g: torch.Tensor) -> float:
    """Sum of |g| on the CPU: BLAS ``asum`` on float32 / float64 (vectorised, reads the
    gradient in place: torch's CPU l1 reduction is not vectorised and ``g.abs().sum()``
    copies it); other dtypes through ``vector_norm`` summing in float32."""
    if g.dtype in (torch.float32, torch.float64) and g.is_contiguous() and g.numel():
        from scipy.linalg import blas

        flat = g.detach().reshape(-1).numpy()
        return float((blas.sasum if g.dtype == torch.float32 else blas.dasum)(flat))
    return float(torch.linalg.vector_norm(g, 1, dtype=torch.float32))


class GradNormRecorder:
    """Per-step l2 and l1 norms of all gradients of ``model`` (or an iterable of parameters).

    ``optimizer`` (the optimizer object, its class or its name, e.g. ``"adamw"``) is written
    into the saved log, so that ``load_log`` and ``lrcore refine`` pick the matching rule
    (Adam family -> l1 norms and the Adam rule; SGD -> l2 and the SGD rule)."""

    def __init__(self, model_or_params, optimizer=None, capacity: int = 1024):
        params = (
            model_or_params.parameters()
            if hasattr(model_or_params, "parameters")
            else model_or_params
        )
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("GradNormRecorder: no parameters that require grad")
        device = self.params[0].device
        self._buf = torch.zeros(2, capacity, device=device)  # grows by doubling, on the device
        self._steps: list[int] = []
        self.optimizer = optimizer_label(optimizer) or None  # e.g. "AdamW"
        self.family = optimizer_family(optimizer) if optimizer is not None else None

    def state_dict(self) -> dict:
        """Steps, norms and optimizer as plain lists (what a checkpoint keeps)."""
        return {
            "steps": [int(s) for s in self._steps],
            "l2": self.l2.tolist(),
            "l1": self.l1.tolist(),
            "optimizer": self.optimizer,
        }

    def load_state_dict(self, state: dict, before: int | None = None) -> None:
        """Put back what :meth:`state_dict` returned (rows at steps ``< before`` only, when
        given: a run resumed at step ``before`` records the later steps again)."""
        steps = [int(s) for s in state.get("steps", [])]
        keep = [i for i, s in enumerate(steps) if before is None or s < before]
        l2 = [float(state["l2"][i]) for i in keep]
        l1 = [float(state["l1"][i]) for i in keep]
        cap = max(self._buf.shape[1], 2 * len(keep))
        buf = torch.zeros(2, cap, device=self._buf.device)
        if keep:
            buf[:, : len(keep)] = torch.tensor([l2, l1], dtype=buf.dtype)
        self._buf, self._steps = buf, [steps[i] for i in keep]
        if self.optimizer is None and state.get("optimizer"):
            self.optimizer = state["optimizer"]
            self.family = optimizer_family(self.optimizer)

    def record(self, step: int | None = None, *, l2=None, scale=None) -> None:
        """Record the norms of the current ``.grad`` of every parameter (None counts as 0).

        ``l2``: the l2 norm of these gradients computed elsewhere (e.g. the pre-clip norm
        a trainer's clipping returned; a tensor stays on its device): only the l1 norm is
        computed here. ``scale``: the factor the gradients were multiplied by after that
        norm was taken (clipping's coefficient): the recorded l1 is divided by it."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            raise ValueError("GradNormRecorder.record: no gradients yet; call it after backward()")
        n = len(self._steps)
        if n == self._buf.shape[1]:
            self._buf = torch.cat([self._buf, torch.zeros_like(self._buf)], dim=1)
        with torch.no_grad():
            dev = self._buf.device
            norms = grad_norms(grads, l2=l2 is None).to(dev)
            if l2 is not None:
                norms[0] = torch.as_tensor(l2, dtype=norms.dtype).to(dev)
            if scale is not None:
                norms[1] = norms[1] / torch.as_tensor(scale, dtype=norms.dtype).to(dev)
            self._buf[:, n] = norms
        self._steps.append(n if step is None else int(step))

    def __len__(self) -> int:
        return len(self._steps)

    def last(self) -> tuple[float, float]:
        """``(l2, l1)`` of the latest recorded step: one small copy to the host (``l2`` and
        ``l1`` copy every norm so far)."""
        if not self._steps:
            raise ValueError("GradNormRecorder.last: nothing recorded yet")
        l2, l1 = self._buf[:, len(self._steps) - 1].double().tolist()
        return l2, l1

    @property
    def steps(self) -> np.ndarray:
        return np.asarray(self._steps, dtype=np.int64)

    @property
    def l2(self) -> np.ndarray:
        return self._buf[0, : len(self)].double().cpu().numpy()

    @property
    def l1(self) -> np.ndarray:
        return self._buf[1, : len(self)].double().cpu().numpy()

    def save(self, path: str | Path, norm: str = "both") -> Path:
        """CSV that ``load_log`` reads: a first line ``# lrcore: optimizer=adam (AdamW)``
        when the optimizer is known, then ``step,grad_norm_l2,grad_norm_l1`` (or one of
        them). Written to a temporary file and renamed (a reader never sees half a file)."""
        if norm not in ("both", "l1", "l2"):
            raise ValueError(
                f"GradNormRecorder.save: norm must be 'both', 'l1' or 'l2', got {norm!r}"
            )
        path = Path(path)
        cols = {"l2": [self.l2], "l1": [self.l1], "both": [self.l2, self.l1]}[norm]
        names = {"l2": "grad_norm_l2", "l1": "grad_norm_l1"}
        header = "step," + ",".join(names[n] for n in (["l2", "l1"] if norm == "both" else [norm]))
        lines = [csv_comment(self.optimizer)] if self.optimizer else []
        lines.append(header)
        steps = self.steps
        for i in range(len(steps)):
            lines.append(f"{steps[i]}," + ",".join(repr(float(c[i])) for c in cols))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, path)
        return path
