"""The Lovász losses, functional form: prepare -> per-voxel errors -> sorted, weighted by the Lovász gradient of the
Jaccard loss -> reduce.

The Lovász extension of a set function evaluates it, convexly, on real-valued vectors; for the Jaccard loss ``Δ_J``
of a (sample, class), on the vector of per-voxel errors ``e`` sorted in decreasing order:
``Δ̄_J(e) = Σ_i e_(i) · (Δ_J({1..i}) - Δ_J({1..i-1}))``. At an indicator vector (hard predictions) it equals the
Jaccard loss of that set of mistakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..core.options import InputOptions, option
from ..core.prepare import prepare_input
from ..core.reduce import reduce_units, safe_ratio
from .base import loss_function

__all__ = ["LovaszOptions", "lovasz_loss", "lovasz_extension"]


@dataclass(frozen=True)
class LovaszOptions(InputOptions):
    """Options of :func:`lovasz_loss`."""

    per_image: bool = option(False, "one Lovász extension per sample, averaged over the samples; False (Berman's "
                                    "default) one over the whole batch.")
    classes: Literal["present", "all"] = option(
        "present", "Lovász-softmax: average over the classes present in the unit's target (Berman's default) or over "
                   "every kept class; the Lovász hinge scores every channel.")

    @property
    def batch(self) -> bool:
        """One unit per class over the batch (``per_image=False``), as the region losses' ``batch=True``: what the
        ``"units"`` shape of ``reduction="none"`` reads."""
        return not self.per_image


def lovasz_extension(errors: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The Lovász extension of the Jaccard loss for each row: ``errors``, ``target`` ``(U, L)``, ``valid`` ``(U, L)``
    bool or None -> ``(U,)``.

    Each row's errors are sorted in decreasing order (valid entries first; the order is not differentiated) and
    weighted by the increments of ``1 - (Σg - cumsum(g)) / (Σg + cumsum(1 - g))`` along that order (Berman et al.,
    Alg. 1). Invalid entries weigh 0, as if they were not there.
    """
    key = errors.detach() if valid is None else errors.detach().masked_fill(~valid, -math.inf)
    order = key.argsort(dim=1, descending=True)
    e = errors.gather(1, order)
    g = target.gather(1, order)
    negatives = 1 - g if valid is None else (1 - g) * valid.gather(1, order)
    total = g.sum(1, keepdim=True)
    jaccard = 1 - safe_ratio(total - g.cumsum(1), total + negatives.cumsum(1))
    grad = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], dim=1)
    return (e * grad).sum(1)


# ---------------------------------------------------------------- the units, one sort each, few temporaries
#
# :func:`lovasz_extension` through autograd keeps, for every unit at once, the errors, their sorted copy, the sorted
# targets, the sort's indices and the autograd graph of the cumulative sums (and the loss made a one-hot target
# first). The loss instead walks the units a few at a time (on CPU as many as torch has threads, so their sort still
# runs on several threads) in :class:`_LovaszUnits`: the errors sorted in place, the target gathered by the sort's
# indices (from a bool mask of the labels for a label map), the Jaccard increments made in the buffers of the two
# cumulative sums and sent back to the errors' order by one ``index_copy_`` with the same indices, times the
# derivative of the error; each unit's temporaries are freed before the next group. The forward keeps
# ∂value_u/∂score of every unit (one tensor of the scores' size); the backward scales it by each unit's gradient.


def _errors_into(scores: torch.Tensor, g: torch.Tensor, hinge: bool, errors: torch.Tensor) -> None:
    """The errors of one unit into ``errors`` (all ``(L,)``): ``max(0, 1 - x·(2g - 1))`` (hinge, logits x) or
    ``|g - p|`` (probabilities p), by the same operations as :func:`_lovasz` before."""
    if hinge:
        torch.mul(scores, torch.mul(g, 2).sub_(1), out=errors).neg_().add_(1).relu_()
    else:
        torch.sub(g, scores, out=errors).abs_()


def _slope_into(scores: torch.Tensor, g: torch.Tensor, hinge: bool, slope: torch.Tensor) -> None:
    """The derivative of the errors in the score into ``slope``: ``-(2g - 1)`` where the margin ``1 - x·(2g - 1)`` is
    positive and 0 elsewhere (hinge), or ``-sgn(g - p)``: what autograd gives through ``relu``/``abs``."""
    if hinge:
        torch.mul(g, 2, out=slope).sub_(1)
        slope.mul_(torch.mul(scores, slope).neg_().add_(1) > 0).neg_()
    else:
        torch.sub(g, scores, out=slope).sign_().neg_()


def _sorted_extension(values: torch.Tensor, order: torch.Tensor, g: torch.Tensor, valid: torch.Tensor | None,
                      dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One unit after its sort: ``values`` ``(L,)`` the errors sorted in decreasing order (invalid entries -inf, last),
    ``order`` the sort's indices, ``g`` the target (bool or floating; 0 at invalid entries), ``valid`` ``(L,)`` bool
    or None -> ``(value, Σg, ∂value/∂e, spare)``: ``∂value/∂e`` in the errors' order, written over ``values``, and a
    spare ``(L,)`` buffer.

    Berman et al., Alg. 1: the increments of ``1 - (Σg - cumsum(g)) / (Σg + cumsum(1 - g))`` along the order
    (1 where the denominator is 0), as :func:`lovasz_extension`."""
    gs = g[order].to(dtype)
    total = gs.sum()
    intersection = gs.cumsum(0).neg_().add_(total)  # Σg - cumsum(g)
    negatives = gs.neg_().add_(1)  # 1 - g
    if valid is not None:
        negatives.mul_(valid[order])
    union = negatives.cumsum_(0).add_(total)  # Σg + cumsum(1 - g)
    jaccard = intersection.div_(union).masked_fill_(union == 0, 1.0).neg_().add_(1)
    weights = union  # the Jaccard increments along the order
    weights[0] = jaccard[0]
    torch.sub(jaccard[1:], jaccard[:-1], out=weights[1:])
    del jaccard, intersection
    value = values.clamp_min_(0).mul_(weights).sum()  # invalid entries (-inf) weigh 0
    return value, total, values.index_copy_(0, order, weights), weights


class _LovaszUnits(torch.autograd.Function):
    """The Lovász extension of every unit from the scores ``s`` ``(B, C, N)`` (probabilities, or logits with
    ``hinge``) and the target (``labels`` ``(B, N)`` or ``dense`` ``(B, C, N)``, 0 at invalid voxels), over the kept
    ``channels`` ``(K,)`` and the validity ``(B, N)`` or None: ``(values, target sums)`` ``(U,)`` with U = B·K
    (``per_image``, sample-major) or K (section comment above; no channel id is read back to the host)."""

    @staticmethod
    def forward(ctx, s: torch.Tensor, labels: torch.Tensor | None, dense: torch.Tensor | None,
                valid: torch.Tensor | None, channels: torch.Tensor, per_image: bool, hinge: bool):
        b, c, n = s.shape
        k = channels.numel()
        grads = s.new_zeros(s.shape) if k < c else torch.empty_like(s)
        units = [(i, j) for i in range(b) for j in range(k)] if per_image else [(None, j) for j in range(k)]
        length = n if per_image else b * n
        # units sorted together: on CPU one per thread (torch sorts the rows of a 2-D tensor on several threads, a
        # 1-D tensor on one), elsewhere one at a time; a unit in flight holds its errors, the sort's int64 indices
        # and its target (bool for a label map): 13 bytes per element in float32
        threads = torch.get_num_threads() if s.device.type == "cpu" else 1
        group = max(1, min(len(units), threads))
        values, totals = [], []

        def unit(i: int | None, j: int) -> tuple[slice, torch.Tensor, torch.Tensor]:
            """``(rows, channel id (1,), scores (L,))`` of a unit."""
            rows, ch = slice(None) if i is None else slice(i, i + 1), channels[j:j + 1]
            return rows, ch, s[rows].index_select(1, ch).reshape(-1)

        for start in range(0, len(units), group):
            members = units[start:start + group]
            keys = s.new_empty(len(members), length)
            targets, valids = [], []
            for r, (i, j) in enumerate(members):
                rows, ch, scores = unit(i, j)
                v = None if valid is None else valid[rows].reshape(-1)
                if labels is not None:  # the target as a bool mask: its sorted copy is gathered from 1-byte data
                    g = (labels[rows] == ch).reshape(-1)
                    if v is not None:
                        g &= v
                else:
                    assert dense is not None
                    g = dense[rows].index_select(1, ch).reshape(-1)
                _errors_into(scores, g.to(s.dtype), hinge, keys[r])
                if v is not None:
                    keys[r].masked_fill_(~v, -math.inf)  # invalid entries sort last
                targets.append(g)
                valids.append(v)
            order = torch.empty(keys.shape, dtype=torch.long, device=s.device)
            torch.sort(keys, dim=1, descending=True, out=(keys, order))  # in place; the order is not differentiated
            for r, (i, j) in enumerate(members):
                value, total, grad, spare = _sorted_extension(keys[r], order[r], targets[r], valids[r], s.dtype)
                rows, ch, scores = unit(i, j)
                _slope_into(scores, targets[r].to(s.dtype), hinge, spare)
                grads[rows].index_copy_(1, ch, grad.mul_(spare).view(-1, 1, n))  # ∂value/∂e · ∂e/∂score
                values.append(value)
                totals.append(total)
                del spare, scores
            del keys, order, targets
        ctx.save_for_backward(grads, channels)
        totals_t = torch.stack(totals)
        ctx.mark_non_differentiable(totals_t)
        return torch.stack(values), totals_t

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_values: torch.Tensor, _d_totals: torch.Tensor):
        grads, channels = ctx.saved_tensors
        scale = d_values.to(grads.dtype).view(-1, channels.numel())  # (B or 1, K)
        if channels.numel() < grads.shape[1]:
            scale = scale.new_zeros(scale.shape[0], grads.shape[1]).index_copy_(1, channels, scale)
        return grads * scale.unsqueeze(-1), None, None, None, None, None, None


def _lovasz(input, target, mask, o: LovaszOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    hinge = o.sigmoid
    # Lovász hinge on the logits (the margin errors 1 - x·(2g - 1), clipped at 0), Lovász-softmax on the probabilities
    scores = prep.input if hinge else prep.probs()
    b, k = scores.shape[0], prep.channels.numel()
    dense = None if prep.dense is None else prep.dense.flatten(2)
    labels = None if prep.labels is None else prep.labels.flatten(1)
    valid = None if prep.valid is None else prep.valid.flatten(1)
    units, totals = _LovaszUnits.apply(scores.flatten(2), labels, dense, valid, prep.channels, o.per_image, hinge)
    if valid is None:
        counts = torch.full_like(units, float(scores[0, 0].numel() * (1 if o.per_image else b)))
    else:
        per_sample = valid.sum(1).to(units.dtype)
        counts = (per_sample.unsqueeze(1).expand(b, k) if o.per_image else per_sample.sum().expand(k)).reshape(-1)
    present = counts > 0
    if not hinge and o.classes == "present":
        present = present & (totals > 0)
    shape = (b, k) if o.per_image else (k,)
    units, present = units.view(shape), present.view(shape)
    if o.reduction != "mean" or not o.per_image:
        return reduce_units(units, o.reduction, weight=prep.weight, present=present)
    # Berman's per-image mean: the mean over the counted classes of each sample, then over the samples
    per_sample = reduce_units(units, "none", weight=prep.weight, present=present).sum(1)
    n = present.sum(1)
    return reduce_units(safe_ratio(per_sample, n.to(units.dtype), 0.0), "mean", present=n > 0)


lovasz_loss = loss_function(LovaszOptions, _lovasz, "lovasz_loss", """
    Lovász loss: the Lovász extension of the Jaccard (IoU) loss, per class, of the sorted per-voxel errors.

    Berman M., Rannen Triki A. & Blaschko M. B., "The Lovász-Softmax loss: a tractable surrogate for the optimization
    of the intersection-over-union measure in neural networks", CVPR 2018. Per unit (a class over the batch, or a
    (sample, class) with ``per_image=True``), ``Σ_i e_(i)·(Δ_J(1..i) - Δ_J(1..i-1))`` with the errors sorted in
    decreasing order and Δ_J the Jaccard loss of the i largest errors (:func:`lovasz_extension`). On hard
    predictions it equals the Jaccard loss ``1 - |A∩B| / |A∪B|`` (tested), and it is its tightest convex surrogate.

    - **Lovász hinge** (``sigmoid=True``): the errors are the hinge margins ``max(0, 1 - x·(2g - 1))`` of the logits
      x, each kept channel its own binary problem (Berman's ``lovasz_hinge``; with several channels,
      segmentation_models_pytorch flattens them into one problem).
    - **Lovász-softmax** (``softmax=True``, or probabilities): the errors are ``|g_c - p_c|``; with
      ``classes="present"`` a class counts only where its target has a voxel (Berman's ``lovasz_softmax``).

    ``"mean"`` averages the counted classes (weighted by ``weight`` as the region losses: ``Σ w·f / #units``), then,
    with ``per_image=True``, the samples (Berman's per-image mean; a sample without valid voxel does not count, where
    Berman counts it as 0). Ignored voxels count nowhere. The sort is over each DDP rank's own batch. The order of
    the errors is not differentiated (as in the paper).

    Example:
        >>> from monai_segloss.functional import lovasz_loss
        >>> probs = torch.tensor([[[1.0, 1.0, 0.0, 1.0]]])  # hard: 2 of the 3 predicted voxels are right
        >>> target = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{lovasz_loss(probs, target):.4f}")  # 1 - IoU = 1 - 2/3
        0.3333
""", returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(K,)`` (``(B, K)`` with ``per_image=True``), 0 where a
        unit does not count.
""", none_shape="units")
