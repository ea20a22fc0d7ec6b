"""Stage 2 of the region family: soft confusion statistics per (sample, channel), or per channel over the batch.

Notation, per kept channel c and sample b over the valid voxels v (docs/ARCHITECTURE.md §2): p probability, g target,
TP = Σ p·g, FP = Σ p·(1-g), FN = Σ (1-p)·g, TN = Σ (1-p)·(1-g).

A label-map target is never turned into a one-hot tensor. Every region loss goes through a fast path for it,
:class:`_LabelMapStats` (and :class:`_LabelMapSquaredErrors` for the sensitivity-specificity errors): from the raw
input and the labels straight to the ``(B, C)`` statistics, with a closed-form backward that writes the input's
gradient into the buffer of the probabilities, so a forward + backward needs one buffer of the input's size (the
gradient) plus chunk-sized temporaries. ``Σ p`` is a plain (cascade) float32 sum,
within 1e-7 relative of exact over millions of voxels; the per-class sums ``Σ_{y=c} p`` are float64 ``bincount``
accumulations (a sequential float32 ``scatter_add_`` would drift by ~1e-5 relative). One-hot or soft targets use
plain autograd algebra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .distributed import global_sum
from .prepare import PreparedInput

__all__ = ["RegionStats", "confusion_stats", "class_sums", "squared_error_sums", "kept_and_batched",
           "valid_counts"]


def _bin_index(labels: torch.Tensor, valid: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """Flat ``(sample, class)`` bin of each voxel of ``labels`` ``(B, N)``; invalid voxels go to a spare bin."""
    bins = num_classes + 1  # the last bin of each sample collects the invalid voxels
    y = labels if valid is None else labels.masked_fill(~valid, num_classes)
    return (y + bins * torch.arange(labels.shape[0], device=y.device).unsqueeze(1)).flatten()


def _binned_sums(index: torch.Tensor, values: torch.Tensor | None, batch: int, num_classes: int) -> torch.Tensor:
    """``(B, C)`` float64 sums of ``values`` ``(B, N)`` (counts when None) over the bins of :func:`_bin_index`.

    One ``bincount`` in float64: its sequential accumulation would drift by ~1e-5 relative over a million voxels
    in float32. Not differentiable; the callers supply the backward.
    """
    bins = num_classes + 1
    w = None if values is None else values.flatten().to(torch.float64)
    if index.is_cuda and torch.are_deterministic_algorithms_enabled():  # CUDA bincount is not deterministic
        ones = torch.ones_like(index, dtype=torch.float64) if w is None else w
        sums = torch.stack([torch.where(index == i, ones, 0).sum() for i in range(batch * bins)])
    else:
        sums = torch.bincount(index, weights=w, minlength=batch * bins)
    return sums.view(batch, bins)[:, :num_classes].to(torch.float64)


def class_sums(prep: PreparedInput, f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``Σ_v f(p, g)`` over the valid voxels, per (sample, channel) for *every* channel -> ``(B, C)``, for a one-hot
    or soft target (``f`` elementwise, through autograd). Label maps have closed-form fast paths instead."""
    if prep.labels is not None:
        raise ValueError("class_sums takes a one-hot or soft target; label maps go through the fast paths")
    vals = f(prep.probs(), prep.dense)
    v = prep.valid_float()
    return (vals if v is None else vals * v).flatten(2).sum(2)


# ---------------------------------------------------------------- the label-map fast path
#
# For a label map y, with p = act(x) (softmax over channels, sigmoid, or x itself), the statistics are
#     tp[b, c] = Σ_v [y_v = c]·p[b, c, v],    psum[b, c] = Σ_v p[b, c, v]  (Σ p² when squared),
# over the valid voxels v. Their gradient reaches p as
#     h[b, c, v] = dL/dpsum[b, c]·(2p if squared else 1) + [y_v = c]·dL/dtp[b, c],
# and x through the activation in closed form:
#     softmax  dL/dx_c = p_c·(h_c - Σ_k p_k h_k),    sigmoid  dL/dx_c = p_c(1 - p_c)·h_c,    none  dL/dx_c = h_c.
# The forward keeps only p (besides the caller's x and labels); the backward writes dL/dx into p's own buffer.
# Both walk the voxels in chunks, so every temporary is chunk-sized: one buffer of the input's size in all.

_CHUNK_ELEMENTS = 1 << 20  # (B, C, chunk) temporaries of at most about 4 MB in float32 ...
_MIN_CHUNKS = 8  # ... and at most 1/8 of the input's size


def _chunks(shape: torch.Size) -> list[slice]:
    """Slices of the voxel dim N of a ``(B, C, N)`` tensor, each of about ``min(_CHUNK_ELEMENTS, B·C·N / 8)``
    elements."""
    b, c, n = shape
    step = max(1, min(_CHUNK_ELEMENTS // (b * c), n // _MIN_CHUNKS))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _activate(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "softmax":
        return torch.softmax(x, dim=1)
    if act == "sigmoid":
        return torch.sigmoid(x)
    return x


def _stats_forward(p: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                   squared: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tp, psum, gsum)`` ``(B, C)`` float64 of ``p`` ``(B, C, N)``: ``tp`` sums ``p`` at each voxel's class
    (one gather) per class (one float64 bincount), ``psum`` is a float32 cascade sum, ``gsum`` a count."""
    c = p.shape[1]
    plain = valid is None and not squared
    psum = p.sum(2).double() if plain else 0  # (a dtype= argument would cast a copy of p)
    tp = gsum = 0
    for sl in _chunks(p.shape):
        pc, y = p[:, :, sl], labels[:, sl]
        v = None if valid is None else valid[:, sl]
        index = _bin_index(y, v, c)
        tp = tp + _binned_sums(index, pc.gather(1, y.unsqueeze(1)), p.shape[0], c)
        gsum = gsum + _binned_sums(index, None, p.shape[0], c)
        if not plain:
            q = pc * pc if squared else pc
            psum = psum + (q if v is None else q * v.unsqueeze(1)).sum(2).double()
    return tp, psum, gsum


def _stats_backward(p: torch.Tensor, out: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                    dtp: torch.Tensor, dpsum: torch.Tensor, act: str, squared: bool) -> torch.Tensor:
    """Write ``dL/dx`` ``(B, C, N)`` into ``out`` (which may be ``p`` itself), from ``dL/dtp`` and ``dL/dpsum``.

    Per chunk: ``h = dL/dp`` is ``dL/dpsum`` (times ``2p`` when squared) plus ``dL/dtp`` scattered at each voxel's
    class, then the activation's closed-form backward maps it to ``dL/dx``.
    """
    a = dpsum.unsqueeze(-1)  # (B, C, 1)
    for sl in _chunks(p.shape):
        pc, oc, y = p[:, :, sl], out[:, :, sl], labels[:, sl].unsqueeze(1)
        # clone, not contiguous(): for a one-voxel chunk expand_as is a no-op and contiguous() would return `a`
        h = pc * (2 * a) if squared else a.expand_as(pc).clone()
        h.scatter_add_(1, y, dtp.gather(1, y.squeeze(1)).unsqueeze(1))
        _activation_backward(pc, h, oc, act, None if valid is None else valid[:, sl])
    return out


def _activation_backward(pc: torch.Tensor, h: torch.Tensor, oc: torch.Tensor, act: str,
                         valid: torch.Tensor | None) -> None:
    """Write ``dL/dx`` of one chunk into ``oc`` from ``h = dL/dp`` (overwritten) in closed form; 0 at invalid
    voxels (``valid`` ``(B, n)`` bool or None)."""
    if act == "softmax":
        h.sub_((pc * h).sum(1, keepdim=True))
        torch.mul(pc, h, out=oc)
    elif act == "sigmoid":
        torch.mul(h.mul_(pc), 1 - pc, out=oc)
    else:
        oc.copy_(h)
    if valid is not None:
        oc.masked_fill_(~valid.unsqueeze(1), 0)


def _probs_and_grad_buffer(ctx, x: torch.Tensor, act: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The probabilities a fast path's forward kept (recomputed on a retained graph), and the buffer its backward
    writes ``dL/dx`` into: the probabilities' own, or a new one when ``x`` holds them (no activation)."""
    if act == "none":
        return x, torch.empty_like(x)
    p = ctx.probs if ctx.probs is not None else _activate(x, act)
    ctx.probs = None  # consumed: overwritten by dL/dx
    return p, p


class _LabelMapStats(torch.autograd.Function):
    """``(tp, psum, gsum)`` ``(B, C)`` from the raw input ``x`` ``(B, C, N)`` and a label map ``(B, N)``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, act: str,
                squared: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, enabled=False):
            p = _activate(x, act)
            tp, psum, gsum = (t.to(x.dtype) for t in _stats_forward(p, labels, valid, squared))
        ctx.mark_non_differentiable(gsum)
        ctx.save_for_backward(x, labels, valid)
        ctx.act, ctx.squared = act, squared
        ctx.probs = p if act != "none" else None  # consumed (overwritten by dL/dx) in the first backward
        return tp, psum, gsum

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dtp: torch.Tensor, dpsum: torch.Tensor, _dgsum: torch.Tensor):
        x, labels, valid = ctx.saved_tensors
        p, out = _probs_and_grad_buffer(ctx, x, ctx.act)
        with torch.autocast(x.device.type, enabled=False):
            grad = _stats_backward(p, out, labels, valid, dtp.to(p.dtype), dpsum.to(p.dtype), ctx.act, ctx.squared)
        return grad, None, None, None, None


class _LabelMapSquaredErrors(torch.autograd.Function):
    """``(Σ_v (g-p)²·g, Σ_v (g-p)²·(1-g))`` ``(B, C)`` from the raw input ``x`` ``(B, C, N)`` and a label map
    ``(B, N)``: the on-class sums ``Σ_{y=c} (1-p_c)²`` (float64 bincount) and the off-class sums
    ``Σ_{y≠c} p_c²``, each of non-negative terms (no cancellation near a perfect prediction). Their gradient
    reaches p as ``dL/dp_c = 2p_c·dL/doff_c`` off class and ``-2(1-p_y)·dL/don_y`` at the voxel's class, then x
    through the activation in closed form, chunk by chunk, as in :class:`_LabelMapStats`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None,
                act: str) -> tuple[torch.Tensor, torch.Tensor]:
        b, c = x.shape[:2]
        with torch.autocast(x.device.type, enabled=False):
            p = _activate(x, act)
            on = off = 0
            for sl in _chunks(p.shape):
                pc, y = p[:, :, sl], labels[:, sl]
                v = None if valid is None else valid[:, sl]
                miss = 1 - pc.gather(1, y.unsqueeze(1))
                on = on + _binned_sums(_bin_index(y, v, c), miss * miss, b, c)
                sq = (pc * pc).scatter_(1, y.unsqueeze(1), 0)
                off = off + (sq if v is None else sq * v.unsqueeze(1)).sum(2).double()
        ctx.save_for_backward(x, labels, valid)
        ctx.act = act
        ctx.probs = p if act != "none" else None
        return on.to(x.dtype), off.to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, don: torch.Tensor, doff: torch.Tensor):
        x, labels, valid = ctx.saved_tensors
        p, out = _probs_and_grad_buffer(ctx, x, ctx.act)
        with torch.autocast(x.device.type, enabled=False):
            don, doff2 = don.to(p.dtype), (2 * doff).to(p.dtype).unsqueeze(-1)
            for sl in _chunks(p.shape):
                pc, y = p[:, :, sl], labels[:, sl].unsqueeze(1)
                h = pc * doff2
                h.scatter_(1, y, (pc.gather(1, y) - 1).mul_(2 * don.gather(1, y.squeeze(1)).unsqueeze(1)))
                _activation_backward(pc, h, out[:, :, sl], ctx.act, None if valid is None else valid[:, sl])
        return out, None, None, None


def _fast_path_args(prep: PreparedInput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, str]:
    """``(x (B, C, N), labels (B, N), valid (B, N) or None, activation)`` for the label-map fast paths. A user's
    ``other_act`` stays in autograd: the fast path then starts from its output, with no activation."""
    act = prep.options.activation
    if act == "other":
        x, act = prep.probs(), "none"
    else:
        x = prep.input
    valid = None if prep.valid is None else prep.valid.flatten(1)
    return x.flatten(2), prep.labels.flatten(1), valid, act


def _label_map_stats(prep: PreparedInput, squared: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tp, psum, gsum)`` ``(B, C)`` of every channel for a label-map target, through :class:`_LabelMapStats`."""
    return _LabelMapStats.apply(*_fast_path_args(prep), squared)


def squared_error_sums(prep: PreparedInput) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Σ_v (g-p)²·g, Σ_v (g-p)²·(1-g))`` over the valid voxels, per (sample, channel) for every channel: two
    ``(B, C)`` (the numerators of the sensitivity and specificity errors, Brosch 2015). A label map goes through
    the closed-form :class:`_LabelMapSquaredErrors`, a one-hot or soft target through autograd."""
    if prep.labels is not None:
        return _LabelMapSquaredErrors.apply(*_fast_path_args(prep))
    return (class_sums(prep, lambda p, g: (g - p) ** 2 * g), class_sums(prep, lambda p, g: (g - p) ** 2 * (1 - g)))


@dataclass
class RegionStats:
    """Soft confusion statistics of the kept channels.

    Attributes:
        tp: ``(B, K)`` (``(K,)`` with ``batch=True``) Σ p·g.
        psum: Σ p (Σ p² with ``squared``).
        gsum: Σ g (Σ g² with ``squared``).
        n: number of valid voxels, broadcastable to ``tp``.
    """

    tp: torch.Tensor
    psum: torch.Tensor
    gsum: torch.Tensor
    n: torch.Tensor

    @property
    def fp(self) -> torch.Tensor:
        return self.psum - self.tp

    @property
    def fn(self) -> torch.Tensor:
        return self.gsum - self.tp

    @property
    def tn(self) -> torch.Tensor:
        return self.n - self.psum - self.gsum + self.tp

    @property
    def empty(self) -> torch.Tensor:
        """True for a unit with no target voxel."""
        return self.gsum == 0

    @property
    def present(self) -> torch.Tensor:
        """True for a unit with at least one valid voxel."""
        return (self.n > 0).expand_as(self.tp)


def valid_counts(prep: PreparedInput) -> torch.Tensor:
    """``(B, 1)`` number of valid voxels per sample, in the compute dtype."""
    x = prep.input
    if prep.valid is None:
        return torch.full((x.shape[0], 1), x[0, 0].numel(), dtype=x.dtype, device=x.device)
    return prep.valid.flatten(1).sum(1, keepdim=True).to(x.dtype)


def kept_and_batched(prep: PreparedInput, sums: torch.Tensor, batch: bool, distributed: bool) -> torch.Tensor:
    """Select the kept channels of ``(..., B, C)`` sums, then sum over the batch (and DDP ranks) when asked.

    Returns ``(..., B, K)``, or ``(..., K)`` with ``batch``.
    """
    if not prep.all_channels_kept:
        sums = sums.index_select(-1, prep.channels)
    if batch:
        sums = sums.sum(-2)
        if distributed:
            sums = global_sum(sums)
    return sums


def confusion_stats(prep: PreparedInput, *, squared: bool = False, batch: bool = False,
                    distributed: bool = False) -> RegionStats:
    """Soft TP, Σp and Σg of the kept channels, in one pass over the probabilities.

    Args:
        prep: the prepared input.
        squared: use Σp² and Σg² for ``psum``/``gsum`` (MONAI's ``squared_pred``).
        batch: sum over the batch before scoring (results ``(K,)``).
        distributed: with ``batch``, also sum over every DDP rank (autograd-aware).
    """
    if prep.labels is not None:
        tp, psum, gsum = _label_map_stats(prep, squared)
    else:
        p, g, v = prep.probs(), prep.dense, prep.valid_float()  # g is already zero at invalid voxels
        pv = p if v is None else p * v
        psum = (pv * p if squared else pv).flatten(2).sum(2)
        tp = (pv * g).flatten(2).sum(2)
        gsum = (g * g if squared else g).flatten(2).sum(2)
    stacked = torch.stack([tp, psum, gsum, valid_counts(prep).expand_as(tp)])
    tp, psum, gsum, n = kept_and_batched(prep, stacked, batch, distributed).unbind(0)
    return RegionStats(tp=tp, psum=psum, gsum=gsum, n=n)
