"""Stage 2 of the region family: soft confusion statistics per (sample, channel), or per channel over the batch.

Notation, per kept channel c and sample b over the valid voxels v (DESIGN.md §4): p probability, g target,
TP = Σ p·g, FP = Σ p·(1-g), FN = Σ (1-p)·g, TN = Σ (1-p)·(1-g).

A label-map target is never turned into a one-hot tensor: with ``y`` the class id of each voxel,
``Σ_v p[c]·[y=c]`` is the sum of ``p[y]`` (one gather) over the voxels of class c, computed by
:func:`class_sum`, whose backward is a single gather of the incoming gradient. ``Σ p`` is a plain sum, ``Σ g`` a
count. Sums are plain (cascade) ``torch.sum`` calls in float32 (float64 for float64 input), which stay within
1e-7 relative of a float64 reference over millions of voxels; the per-class sums of a label map are one
``scatter_add_`` into float64 bins (a sequential float32 scatter would not be accurate enough), the class counts
one ``bincount``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._prepare import PreparedInput
from .distributed import global_sum

__all__ = ["RegionStats", "confusion_stats", "class_counts", "class_sum", "class_sums", "kept_and_batched",
           "valid_counts"]


class _ClassSum(torch.autograd.Function):
    """``out[b, c] = Σ_n values[b, n]·[labels[b, n] == c]``; labels of -1 belong to no class."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, labels: torch.Tensor, num_classes: int, has_none: bool) -> torch.Tensor:
        # one pass: scatter-add into float64 bins (bin C collects the labels of -1), exact to ~N·1e-16 relative
        bins = labels.masked_fill(labels < 0, num_classes) if has_none else labels
        out = values.new_zeros(values.shape[0], num_classes + 1, dtype=torch.float64)
        out.scatter_add_(1, bins, values.to(torch.float64))
        ctx.save_for_backward(bins)
        ctx.num_classes = num_classes
        return out[:, :num_classes].to(values.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (bins,) = ctx.saved_tensors
        padded = torch.cat([grad, grad.new_zeros(grad.shape[0], 1)], dim=1)  # bin C (no class) gets 0
        return padded.gather(1, bins), None, None, None


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(B, C)`` int64 number of voxels of each class in ``labels`` ``(B, N)`` (int64, -1 = none)."""
    return torch.stack([torch.bincount(row[row >= 0] if bool((row < 0).any()) else row, minlength=num_classes)
                        [:num_classes] for row in labels])


def class_sum(values: torch.Tensor, labels: torch.Tensor, num_classes: int, has_none: bool = True) -> torch.Tensor:
    """Per-class sums of ``values`` ``(B, N)`` grouped by ``labels`` ``(B, N)`` (int64, -1 = none) -> ``(B, C)``.

    Differentiable in ``values``; the backward pass is one gather, and nothing of size ``(B, C, N)`` is made.
    ``has_none=False`` promises that no label is -1 (skips a masking pass).
    """
    return _ClassSum.apply(values, labels, num_classes, has_none)


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
    py = prep.label_probs().flatten(1)
    one = torch.ones((), dtype=p.dtype, device=p.device)
    return base.flatten(2).sum(2) + class_sum(f(py, one) - f(py, zero), _flat_labels(prep), c,
                                              prep.valid is not None)


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
    p = prep.probs()
    b, c = p.shape[:2]
    v = prep.valid_float()
    pv = p if v is None else p * v
    psum = (pv * p if squared else pv).flatten(2).sum(2)
    if prep.labels is None:
        g = prep.dense  # already zero at invalid voxels
        tp = (pv * g).flatten(2).sum(2)
        gsum = (g * g if squared else g).flatten(2).sum(2)
    else:
        y = _flat_labels(prep)
        py = prep.label_probs().flatten(1)
        tp = class_sum(py, y, c, prep.valid is not None)
        gsum = class_counts(y, c).to(p.dtype)
    stacked = torch.stack([tp, psum, gsum, valid_counts(prep).expand_as(tp)])
    tp, psum, gsum, n = kept_and_batched(prep, stacked, batch, distributed).unbind(0)
    return RegionStats(tp=tp, psum=psum, gsum=gsum, n=n)
