"""Record gradient norms in your own torch training loop.

    recorder = GradNormRecorder(model, optimizer=optimizer, path="grad_norms.csv")
    for step, batch in enumerate(loader):
        loss = loss_fn(model(batch.x), batch.y)
        loss.backward()
        recorder.record(step, loss=loss)   # after backward(), before clipping and optimizer.step()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step(); optimizer.zero_grad()
        if step % 100 == 0:
            recorder.flush()               # appends the new rows to grad_norms.csv
    recorder.flush()                       # lrcore refine grad_norms.csv

The file (``step,grad_norm_l2,grad_norm_l1,loss,optimizer``; see :mod:`lrcore.train._normfile`)
grows as the run goes: a run killed at any point keeps every row flushed before.
``groups="normalized"`` (or a dict name -> parameters) adds per-group columns
``grad_norm_l2_<name>``, ``grad_norm_l1_<name>``.

The norms and the loss stay on the device until you read or flush them (no GPU sync per
step). Inside a ``torch.compile``d step :meth:`GradNormRecorder.record` runs eagerly
(``torch.compiler.disable``: one graph break, no recompilation as the step changes). Under
``DistributedDataParallel`` the gradients are already all-reduced after ``backward()``,
so every rank records the global norm; save from rank 0. Under FSDP (``fully_shard``)
each rank holds a shard of each gradient (a ``DTensor``): the squares and absolute
values of the local shards are summed, the sums are all-reduced across the shard group,
and the l2 norm is the square root of the reduced sum of squares (:func:`grad_norms`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from lrcore.logs._meta import optimizer_family, optimizer_label
from lrcore.train import _normfile


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


def _per_tensor(grads: list[torch.Tensor]) -> torch.Tensor:
    """``(2, len(grads))``: each gradient's sum of squares and of absolute values (float64
    on the CPU, float32 on a device), by the reductions :func:`_sums` uses."""
    with torch.no_grad():
        low = [g for g in grads if g.dtype in (torch.float16, torch.bfloat16)]
        wide = {"dtype": torch.float32} if low else {}
        l2 = torch.stack(torch._foreach_norm(grads, 2, **wide)).float()
        if grads[0].device.type == "cpu":
            with _one_blas_thread():
                l1 = torch.tensor([_l1_cpu(g) for g in grads], dtype=torch.float64)
            l2 = l2.double()
        else:
            l1 = torch.stack(torch._foreach_norm(grads, 1, **wide)).float()
        return torch.stack([l2 * l2, l1])


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


def _resolve_groups(groups, model_or_params, params: list) -> dict[str, list]:
    """``groups`` as ``{name: [parameters]}``: ``None`` -> {}, ``"normalized"`` -> the split
    of :func:`lrcore.train.adamc.normalized_parameters` (``normalized``, ``other``), a dict
    name -> parameters or parameter names (``model.named_parameters()``)."""
    fn = "GradNormRecorder"
    if groups is None:
        return {}
    if isinstance(groups, str):
        if groups != "normalized" or not hasattr(model_or_params, "named_modules"):
            raise ValueError(
                f"{fn}: groups must be 'normalized' (with a model, not a parameter list) or "
                f"a dict name -> parameters, got {groups!r}"
            )
        from lrcore.train.adamc import normalized_parameters

        normalized, other = normalized_parameters(model_or_params)
        groups = {"normalized": normalized, "other": other}
    if not isinstance(groups, dict) or not groups:
        raise ValueError(
            f"{fn}: groups must be 'normalized' or a non-empty dict name -> parameters, "
            f"got {groups!r}"
        )
    named = (
        dict(model_or_params.named_parameters())
        if hasattr(model_or_params, "named_parameters")
        else {}
    )
    ours = {id(p) for p in params}
    out, seen = {}, set()
    for name, members in groups.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ValueError(
                f"{fn}: group names must be 1-64 letters, digits, '_', '.' or '-', got {name!r}"
            )
        resolved = []
        for p in members:
            if isinstance(p, str):
                if p not in named:
                    raise ValueError(
                        f"{fn}: group {name!r} names parameter {p!r}, not in the model"
                    )
                p = named[p]
            if id(p) not in ours:
                raise ValueError(
                    f"{fn}: group {name!r} holds a tensor that is not a trainable parameter "
                    "of the model"
                )
            if id(p) in seen:
                raise ValueError(f"{fn}: a parameter is in two groups (the second: {name!r})")
            seen.add(id(p))
            resolved.append(p)
        out[name] = resolved
    return out


class GradNormRecorder:
    """Per-step l2 and l1 norms of all gradients of ``model`` (or an iterable of parameters),
    with the step's training loss and, on request, per-group norms.

    ``optimizer`` (the optimizer object, its class or its name, e.g. ``"adamw"``) is written
    on every row of the saved log, so that ``load_log`` and ``lrcore refine`` pick the
    matching rule (Adam family -> l1 norms and the Adam rule; SGD -> l2 and the SGD rule).
    ``groups``: ``"normalized"`` (weights followed by a normalization layer vs the rest,
    :func:`lrcore.train.adamc.normalized_parameters`) or a dict name -> parameters (or
    parameter names); each group adds the columns ``grad_norm_l2_<name>``,
    ``grad_norm_l1_<name>``. ``path``: where :meth:`flush` appends the rows."""

    def __init__(self, model_or_params, optimizer=None, capacity: int = 1024, *,
                 groups=None, path: str | Path | None = None):  # fmt: skip
        params = (
            model_or_params.parameters()
            if hasattr(model_or_params, "parameters")
            else model_or_params
        )
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("GradNormRecorder: no parameters that require grad")
        self.groups = _resolve_groups(groups, model_or_params, self.params)
        in_group = {id(p) for ps in self.groups.values() for p in ps}
        self._rest = [p for p in self.params if id(p) not in in_group]
        self.columns = _normfile.norm_columns(self.groups)
        device = self.params[0].device
        # rows: l2, l1, loss, then l2 and l1 per group; grows by doubling, on the device
        self._buf = torch.zeros(len(self.columns), capacity, device=device)
        self._steps: list[int] = []
        self.optimizer = optimizer_label(optimizer) or None  # e.g. "AdamW"
        self.family = optimizer_family(optimizer) if optimizer is not None else None
        self.path = Path(path) if path is not None else None
        self._written: int | None = None  # rows already in self.path (None: not started)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Steps, columns (CPU tensors: compact in a torch checkpoint) and optimizer."""
        n = len(self)
        state = {"step": torch.tensor(self._steps, dtype=torch.int64)}
        values = self._buf[:, :n].cpu()
        for i, name in enumerate(self.columns):
            state[name] = values[i].clone()
        state["optimizer"] = self.optimizer or ""
        return state

    def load_state_dict(self, state: dict, before: int | None = None) -> None:
        """Put back what :meth:`state_dict` (or a sidecar, or the old list form
        ``{"steps", "l2", "l1"}``) holds: rows at steps ``< before`` only, when given (a run
        resumed at step ``before`` records the later steps again). Columns the state lacks
        (a group, the loss) are NaN. The next :meth:`flush` rewrites the file whole."""
        if "steps" in state and "step" not in state:  # the old form: plain lists
            state = {"step": state["steps"], "grad_norm_l2": state.get("l2", []),
                     "grad_norm_l1": state.get("l1", []), "optimizer": state.get("optimizer")}  # fmt: skip
        steps = np.asarray(_host(state.get("step", [])), dtype=np.int64).reshape(-1)
        keep = np.flatnonzero(steps < before) if before is not None else np.arange(len(steps))
        n = len(keep)
        cap = max(self._buf.shape[1], 2 * n)
        rows = np.full((len(self.columns), n), np.nan)
        for i, name in enumerate(self.columns):
            if name in state:
                rows[i] = np.asarray(_host(state[name]), dtype=np.float64).reshape(-1)[keep]
        buf = torch.zeros(len(self.columns), cap, device=self._buf.device)
        buf[:, :n] = torch.as_tensor(rows, dtype=buf.dtype)
        self._buf, self._steps = buf, steps[keep].tolist()
        self._written = None
        if self.optimizer is None and state.get("optimizer"):
            self.optimizer = str(state["optimizer"])
            self.family = optimizer_family(self.optimizer)

    # ------------------------------------------------------------------ recording
    @torch.compiler.disable  # eager inside a compiled step: no guard on the step index
    def record(self, step: int | None = None, *, loss=None, l2=None, scale=None) -> None:
        """Record the norms of the current ``.grad`` of every parameter (None counts as 0)
        as the row of optimizer step ``step`` (0-based; default: the next row's index).

        ``loss``: this step's training loss (a tensor stays on its device; None: unknown).
        ``l2``: the l2 norm of these gradients computed elsewhere (e.g. the pre-clip norm
        a trainer's clipping returned; a tensor stays on its device): only the l1 norm is
        computed here (and the groups' norms, when asked). ``scale``: the factor the
        gradients were multiplied by after that norm was taken (clipping's coefficient):
        the recorded l1 and group norms are divided by it."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            raise ValueError("GradNormRecorder.record: no gradients yet; call it after backward()")
        n = len(self._steps)
        if n == self._buf.shape[1]:
            self._buf = torch.cat([self._buf, torch.zeros_like(self._buf)], dim=1)
        with torch.no_grad():
            dev = self._buf.device
            if self.groups:
                norms, per_group = self._group_norms(dev)
            else:
                norms, per_group = grad_norms(grads, l2=l2 is None).to(dev), None
            if l2 is not None:
                norms[0] = torch.as_tensor(l2, dtype=norms.dtype).to(dev)
            if scale is not None:
                s = torch.as_tensor(scale, dtype=norms.dtype).to(dev)
                norms[1] = norms[1] / s
                per_group = per_group / s if per_group is not None else None
            self._buf[:2, n] = norms
            self._buf[2, n] = _as_loss(loss, dev)
            if per_group is not None:
                self._buf[3:, n] = per_group
        self._steps.append(n if step is None else int(step))

    def _group_norms(self, dev) -> tuple[torch.Tensor, torch.Tensor]:
        """``([l2, l1] of all gradients, [l2, l1] per group)``: each gradient read once, by
        the same per-tensor reductions as without groups, summed per group."""
        parts = [*self.groups.values(), self._rest]
        grads, where = [], []
        for i, ps in enumerate(parts):
            for p in ps:
                if p.grad is not None:
                    grads.append(p.grad)
                    where.append(i)
        if any(getattr(g, "placements", None) is not None for g in grads):  # DTensor (FSDP)
            sums = []
            for ps in parts:
                gs = [p.grad for p in ps if p.grad is not None]
                sums.append(grad_norms(gs).to(dev) if gs else torch.zeros(2, device=dev))
            stacked = torch.stack(sums)  # (groups + rest, 2)
        else:
            per = _per_tensor(grads).to(dev)  # (2, tensors): squares, absolute values
            idx = torch.tensor(where, device=dev)
            acc = torch.zeros(len(parts), 2, dtype=per.dtype, device=dev)
            acc.index_add_(0, idx, per.T)
            stacked = torch.stack([acc[:, 0].sqrt(), acc[:, 1]], dim=1).float()
        total = torch.stack([(stacked[:, 0] ** 2).sum().sqrt(), stacked[:, 1].sum()])
        return total, stacked[:-1].reshape(-1)

    @torch.compiler.disable
    def set_loss(self, loss) -> None:
        """Set the training loss of the latest recorded step (e.g. known only after the
        optimizer stepped); a tensor stays on its device."""
        if not self._steps:
            raise ValueError("GradNormRecorder.set_loss: nothing recorded yet")
        with torch.no_grad():
            self._buf[2, len(self._steps) - 1] = _as_loss(loss, self._buf.device)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._steps)

    def last(self) -> tuple[float, float]:
        """``(l2, l1)`` of the latest recorded step: one small copy to the host (``l2`` and
        ``l1`` copy every norm so far)."""
        if not self._steps:
            raise ValueError("GradNormRecorder.last: nothing recorded yet")
        l2, l1 = self._buf[:2, len(self._steps) - 1].double().tolist()
        return l2, l1

    @property
    def steps(self) -> np.ndarray:
        return np.asarray(self._steps, dtype=np.int64)

    def column(self, name: str) -> np.ndarray:
        """One column (``grad_norm_l2``, ``loss``, ``grad_norm_l1_<group>``...) as float64."""
        if name not in self.columns:
            raise ValueError(
                f"GradNormRecorder.column: name must be one of {self.columns}, got {name!r}"
            )
        return self._buf[self.columns.index(name), : len(self)].double().cpu().numpy()

    @property
    def l2(self) -> np.ndarray:
        return self.column("grad_norm_l2")

    @property
    def l1(self) -> np.ndarray:
        return self.column("grad_norm_l1")

    @property
    def loss(self) -> np.ndarray:
        """The recorded losses (NaN where unknown)."""
        return self.column("loss")

    # ------------------------------------------------------------------ writing
    def _rows(self, start: int, keep: list[str]) -> str:
        values = self._buf[:, start : len(self)].double().cpu().numpy()
        steps = self.steps[start:]
        return _normfile.csv_text(steps, values, self.columns, keep, self.optimizer)

    def save(self, path: str | Path, norm: str = "both") -> Path:
        """The whole log as CSV ``step,grad_norm_l2,grad_norm_l1,loss,optimizer`` (then the
        group columns), or with one norm only (``norm="l1"`` / ``"l2"``). Written to a
        temporary file and renamed (a reader never sees half a file)."""
        if norm not in ("both", "l1", "l2"):
            raise ValueError(
                f"GradNormRecorder.save: norm must be 'both', 'l1' or 'l2', got {norm!r}"
            )
        drop = {"both": (), "l1": ("grad_norm_l2",), "l2": ("grad_norm_l1",)}[norm]
        keep = [c for c in self.columns if not any(c.startswith(d) for d in drop)]
        path = Path(path)
        text = _normfile.csv_header(self.columns, keep) + self._rows(0, keep)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path

    def flush(self, path: str | Path | None = None, sync: bool = False) -> Path:
        """Append the rows recorded since the last flush to ``path`` (default: the
        recorder's ``path``) and hand them to the OS, so a killed process keeps them; the
        first flush (or one after :meth:`load_state_dict`, or to a new path, or when the
        file is gone) writes the whole file (header and every row) and renames it into
        place. ``sync``: also ``os.fsync`` (survives a power cut; slower)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("GradNormRecorder.flush: path is None and the recorder has no path")
        n = len(self)
        if self._written is None or target != self.path or not target.exists():
            self.save(target)
        elif n > self._written:
            with open(target, "a") as f:
                f.write(self._rows(self._written, self.columns))
                f.flush()
                if sync:
                    os.fsync(f.fileno())
        self.path, self._written = target, n
        return target


def _host(x):
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else x


def _as_loss(loss, dev) -> torch.Tensor:
    """The loss as a float32 scalar on ``dev`` (NaN when None), with no sync."""
    if loss is None:
        return torch.tensor(float("nan"), device=dev)
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise ValueError(
                f"GradNormRecorder.record: loss must be one number, got a tensor of shape "
                f"{tuple(loss.shape)}"
            )
        return loss.detach().reshape(()).to(device=dev, dtype=torch.float32)
    return torch.tensor(float(loss), device=dev)
