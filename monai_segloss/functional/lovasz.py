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


def _lovasz(input, target, mask, o: LovaszOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    g = prep.keep(prep.target_onehot())  # (B, K, *S), 0 at invalid voxels
    hinge = o.sigmoid
    if hinge:  # Lovász hinge on the logits: the margin errors 1 - x·(2g - 1), clipped at 0
        errors = 1 - prep.keep(prep.input) * (2 * g - 1)
    else:  # Lovász-softmax on the probabilities
        errors = (g - prep.keep(prep.probs())).abs()
    b, k = g.shape[:2]
    valid = None if prep.valid is None else prep.valid.unsqueeze(1).expand(b, k, *prep.valid.shape[1:])

    def rows(t: torch.Tensor) -> torch.Tensor:  # (U, L): one row per (sample, class), or per class for the batch
        return t.flatten(2).reshape(b * k, -1) if o.per_image else t.transpose(0, 1).reshape(k, -1)

    e = rows(errors)
    if hinge:
        e = torch.relu(e)
    units = lovasz_extension(e, rows(g), None if valid is None else rows(valid))
    counts = torch.full_like(units, float(g[0, 0].numel() * (1 if o.per_image else b))) if valid is None \
        else rows(valid).sum(1).to(units.dtype)
    present = counts > 0
    if not hinge and o.classes == "present":
        present = present & (rows(g).sum(1) > 0)
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
