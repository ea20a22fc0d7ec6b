"""Stage 2 of the region family: soft confusion statistics per (sample, channel), or per channel over the batch.

Notation, per kept channel c and sample b over the valid voxels v (DESIGN.md §4): p probability, g target,
TP = Σ p·g, FP = Σ p·(1-g), FN = Σ (1-p)·g, TN = Σ (1-p)·(1-g).

A label-map target is never turned into a one-hot tensor. Every region loss goes through one fast path for it,
:class:`_LabelMapStats`: from the raw input and the labels straight to the ``(B, C)`` statistics, with a closed-form
backward that writes the input's gradient into the buffer of the probabilities, so a forward + backward needs one
buffer of the input's size (the gradient) plus chunk-sized temporaries. ``Σ p`` is a plain (cascade) float32 sum,
within 1e-7 relative of exact over millions of voxels; the per-class sums ``Σ_{y=c} p`` are float64 ``bincount``
accumulations (a sequential float32 ``scatter_add_`` would drift by ~1e-5 relative). One-hot or soft targets use
plain autograd algebra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._prepare import PreparedInput
from .distributed import global_sum

__all__ = ["RegionStats", "confusion_stats", "class_sum", "class_sums", "kept_and_batched", "valid_counts"]


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


def _grouped_sums(values: torch.Tensor | None, labels: torch.Tensor, valid: torch.Tensor | None,
                  num_classes: int) -> torch.Tensor:
    """``out[b, c] = Σ_n values[b, n]·[labels[b, n] == c]`` over the valid ``n`` (a count when ``values`` is None).

    ``labels`` ``(B, N)`` int64 in ``[0, C)``; ``valid`` ``(B, N)`` bool or None. Returns ``(B, C)`` float64.
    """
    return _binned_sums(_bin_index(labels, valid, num_classes), values, labels.shape[0], num_classes)


class _ClassSum(torch.autograd.Function):
    """``out[b, c] = Σ_n values[b, n]·[labels[b, n] == c]``; labels of -1 belong to no class."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
        ctx.save_for_backward(labels)
        return _grouped_sums(values, labels.clamp_min(0), labels >= 0, num_classes).to(values.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (labels,) = ctx.saved_tensors
        g = grad.gather(1, labels.clamp_min(0))
        return g.masked_fill(labels < 0, 0), None, None


def class_sum(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class sums of ``values`` ``(B, N)`` grouped by ``labels`` ``(B, N)`` (int64, -1 = none) -> ``(B, C)``.

    Differentiable in ``values``; the backward pass is one gather, and nothing of size ``(B, C, N)`` is made.
    """
    return _ClassSum.apply(values, labels, num_classes)


def _flat_labels(prep: PreparedInput) -> torch.Tensor:
    """``(B, N)`` class ids with -1 at invalid voxels."""
    y = prep.labels.flatten(1)
    if prep.valid is not None:
        y = y.masked_fill(~prep.valid.flatten(1), -1)
    return y


def class_sums(prep: PreparedInput, f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``Σ_v f(p, g)`` over the valid voxels, per (sample, channel) for *every* channel -> ``(B, C)``.

    ``f`` is an elementwise function of the probability and the target. For a label map, the sum is taken as
    ``Σ_v f(p, 0) + Σ_{v: y=c} [f(p_y, 1) - f(p_y, 0)]``, without a one-hot tensor.
    """
    p = prep.probs()
    b, c = p.shape[:2]
    v = prep.valid_float()
    if prep.labels is None:
        vals = f(p, prep.dense)
        if v is not None:
            vals = vals * v
        return vals.flatten(2).sum(2)
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    base = f(p, zero)
    if v is not None:
        base = base * v
    py = p.gather(1, prep.labels.unsqueeze(1)).flatten(1)
    one = torch.ones((), dtype=p.dtype, device=p.device)
    return base.flatten(2).sum(2) + class_sum(f(py, one) - f(py, zero), _flat_labels(prep), c)


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
        if act == "softmax":
            h.sub_((pc * h).sum(1, keepdim=True))
            torch.mul(pc, h, out=oc)
        elif act == "sigmoid":
            torch.mul(h.mul_(pc), 1 - pc, out=oc)
        else:
            oc.copy_(h)
        if valid is not None:
            oc.masked_fill_(~valid[:, sl].unsqueeze(1), 0)
    return out


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
        act = ctx.act
        if act == "none":
            p, out = x, torch.empty_like(x)
        else:
            p = ctx.probs if ctx.probs is not None else _activate(x, act)  # recomputed on a retained graph
            ctx.probs, out = None, p
        with torch.autocast(x.device.type, enabled=False):
            grad = _stats_backward(p, out, labels, valid, dtp.to(p.dtype), dpsum.to(p.dtype), act, ctx.squared)
        return grad, None, None, None, None


def _label_map_stats(prep: PreparedInput, squared: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tp, psum, gsum)`` ``(B, C)`` of every channel for a label-map target, through :class:`_LabelMapStats`."""
    act = prep.options.activation
    if act == "other":  # the user's activation stays in autograd; the statistics start from its output
        x, act = prep.probs(), "none"
    else:
        x = prep.input
    valid = None if prep.valid is None else prep.valid.flatten(1)
    return _LabelMapStats.apply(x.flatten(2), prep.labels.flatten(1), valid, act, squared)


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
