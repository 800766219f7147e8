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

from pathlib import Path

import numpy as np
import torch

from lrcore.export import log_to_csv


def grad_norms(grads: list[torch.Tensor]) -> torch.Tensor:
    """``[l2, l1]`` of all ``grads`` together, as one tensor on their device (no sync).

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
    out = _sums(plain) if plain else None
    if sharded:
        import torch.distributed as dist

        local = _sums([g.to_local() for g in sharded])
        dist.all_reduce(local, group=sharded[0].device_mesh.get_group())
        out = local if out is None else out + local.to(out.device)
    with torch.no_grad():
        return torch.stack([out[0].sqrt(), out[1]])


def _sums(grads: list[torch.Tensor]) -> torch.Tensor:
    """``[sum of squares, sum of absolute values]`` of ``grads`` (float32 or wider)."""
    with torch.no_grad():
        l2 = torch.stack(torch._foreach_norm(grads, 2)).float()
        if grads[0].device.type == "cpu":  # torch's CPU l1 norm is not vectorised: sum |g|
            l1 = torch.stack([g.abs().sum() for g in grads]).float()  # is 4x faster here
        else:
            l1 = torch.stack(torch._foreach_norm(grads, 1)).float()
        return torch.stack([(l2 * l2).sum(), l1.sum()])


class GradNormRecorder:
    """Per-step l2 and l1 norms of all gradients of ``model`` (or an iterable of parameters)."""

    def __init__(self, model_or_params, capacity: int = 1024):
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

    def record(self, step: int | None = None) -> None:
        """Record the norms of the current ``.grad`` of every parameter (None counts as 0)."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            raise ValueError("GradNormRecorder.record: no gradients yet; call it after backward()")
        n = len(self._steps)
        if n == self._buf.shape[1]:
            self._buf = torch.cat([self._buf, torch.zeros_like(self._buf)], dim=1)
        with torch.no_grad():
            self._buf[:, n] = grad_norms(grads).to(self._buf.device)
        self._steps.append(n if step is None else int(step))

    def __len__(self) -> int:
        return len(self._steps)

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
        """CSV that ``load_log`` reads: ``step,grad_norm_l2,grad_norm_l1`` (or one of them)."""
        path = Path(path)
        if norm == "both":
            data = np.column_stack([self.steps, self.l2, self.l1])
            np.savetxt(
                path,
                data,
                fmt=["%d", "%.9g", "%.9g"],
                delimiter=",",
                header="step,grad_norm_l2,grad_norm_l1",
                comments="",
            )
        elif norm in ("l1", "l2"):
            log_to_csv(self.steps, self.l1 if norm == "l1" else self.l2, path)
        else:
            raise ValueError(
                f"GradNormRecorder.save: norm must be 'both', 'l1' or 'l2', got {norm!r}"
            )
        return path
