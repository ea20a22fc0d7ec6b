"""Calibration losses, functional form: the neighbour-aware calibration loss (cross-entropy plus a penalty that
pulls the logits towards the class proportions of each voxel's neighbourhood)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..core import checks
from ..core.broadcast import channel_view
from ..core.options import InputOptions, option
from ..core.prepare import PreparedInput, prepare_input, shared_preparation
from ..core.reduce import reduce_voxels, voxel_count
from .base import loss_function
from .distribution import CrossEntropyOptions, cross_entropy_loss

__all__ = ["NACLOptions", "nacl_loss", "neighbourhood_proportions"]

_CONV = (F.conv1d, F.conv2d, F.conv3d)


@dataclass(frozen=True)
class NACLOptions(InputOptions):
    """Options of :func:`nacl_loss`."""

    alpha: float = option(0.1, "λ >= 0, weight of the penalty.", checks.number(0))
    kernel_ops: Literal["mean", "gaussian"] = option("mean", "the neighbourhood filter: a ``kernel_size``-wide mean, "
                                                             "or a Gaussian of ``sigma`` truncated at 4σ (as MONAI).")
    kernel_size: int = option(3, "odd side of the mean filter's window.", checks.odd_integer(1))
    sigma: float = option(1.0, "σ > 0 of the Gaussian filter, in voxels.", checks.number(0, low_open=True))
    distance_type: Literal["l1", "l2"] = option("l1", "the penalty per voxel and class: ``|τ - x|`` or ``(τ - x)²``.")
    classes: int | None = option(None, "MONAI's ``classes``: when given, checked against the input's C.",
                                 checks.optional_integer(2))
    dim: int | None = option(None, "MONAI's ``dim``: when given, checked against the input's spatial dims.",
                             checks.optional_integer(1, 3))

    def validate(self) -> None:
        super().validate()
        if self.sigmoid:
            raise ValueError("sigmoid=True: NACL is a categorical (softmax) loss on the logits; use softmax=True with "
                             "C >= 2 classes")


def _gaussian_1d(sigma: float, like: torch.Tensor) -> torch.Tensor:
    """The Gaussian of ``sigma`` integrated over each unit interval (its error function at ±0.5 around each
    integer), truncated at 4σ and not renormalised: MONAI's ``gaussian_1d(approx="erf")``."""
    tail = int(max(4.0 * sigma, 0.5) + 0.5)
    t = torch.arange(-tail, tail + 1, dtype=like.dtype, device=like.device) / (math.sqrt(2.0) * sigma)
    half = 0.5 / (math.sqrt(2.0) * sigma)
    return (0.5 * (torch.erf(t + half) - torch.erf(t - half))).clamp_min(0)


def neighbourhood_proportions(g: torch.Tensor, o: NACLOptions) -> torch.Tensor:
    """τ: the target ``(B, C, *S)`` filtered per channel (zero padding: outside the image counts as no class)."""
    c, d = g.shape[1], g.ndim - 2
    conv = _CONV[d - 1]
    if o.kernel_ops == "mean":
        k = o.kernel_size
        w = g.new_full((c, 1, *([k] * d)), 1.0 / k ** d)
        return conv(g, w, padding=k // 2, groups=c)
    kernel = _gaussian_1d(o.sigma, g)
    for axis in range(d):  # separable
        shape = [1] * d
        shape[axis] = -1
        w = kernel.view(1, 1, *shape).expand(c, 1, *shape[:axis], kernel.numel(), *shape[axis + 1:])
        padding = tuple(kernel.numel() // 2 if a == axis else 0 for a in range(d))
        g = conv(g, w, padding=padding, groups=c)
    return g


def _check_shape(prep: PreparedInput, o: NACLOptions) -> None:
    c, d = prep.num_classes, prep.input.ndim - 2
    if o.classes is not None and o.classes != c:
        raise ValueError(f"classes={o.classes} does not match the input's C={c} channels")
    if o.dim is not None and o.dim != d:
        raise ValueError(f"dim={o.dim} does not match the input's {d} spatial dims: pass dim={d}, or leave dim out "
                         "(it is read from the input)")


def _nacl(input, target, mask, o: NACLOptions) -> torch.Tensor:
    with shared_preparation():
        prep = prepare_input(input, target, o, mask)
        _check_shape(prep, o)
        ce = cross_entropy_loss.apply(input, target, mask, o.part(CrossEntropyOptions))
    with torch.no_grad(), torch.autocast(prep.input.device.type, enabled=False):  # a constant, in float32
        tau = prep.keep(neighbourhood_proportions(prep.target_onehot(), o))
    diff = tau - prep.keep(prep.input)
    penalty = diff.abs() if o.distance_type == "l1" else diff * diff
    if prep.weight is not None:
        penalty = penalty * channel_view(prep.weight, penalty.ndim)
    v = prep.valid_float()
    if v is not None:
        penalty = penalty * v
    k = penalty.shape[1]
    if o.reduction == "mean":
        return ce + o.alpha * penalty.sum() / voxel_count(penalty, prep.valid).clamp_min(1)
    return ce + reduce_voxels(penalty, o.reduction) * (o.alpha / k)


nacl_loss = loss_function(NACLOptions, _nacl, "nacl_loss", """
    Neighbour-aware calibration loss: ``CE + λ·mean_{v,c} d(τ_vc, x_vc)`` with x the logits and τ the class
    proportions of each voxel's neighbourhood in the target.

    Murugesan B. et al., "Trust your neighbours: penalty-based constraints for model calibration", MICCAI 2023, and
    "Neighbor-aware calibration of segmentation networks with penalty-based constraints", MedIA 2025 (arXiv
    2401.14487). τ is the one-hot (or soft) target filtered per class by a ``kernel_size`` mean or a Gaussian of
    ``sigma`` (zero padding at the border); d is ``|τ - x|`` (``"l1"``) or ``(τ - x)²`` (``"l2"``), a linear penalty
    on the *logits* that keeps them near the neighbourhood proportions, so that the softmax stays calibrated at
    boundaries instead of saturating. CE is :func:`~monai_segloss.functional.cross_entropy_loss` (torch's). The
    penalty reads ``input`` as given: logits with ``softmax=True`` (as the paper and MONAI).

    Same quantity as ``monai.losses.NACLLoss(classes, dim)`` with ``softmax=True`` and a label map (parity tested for
    both filters and distances); ``classes`` and ``dim`` are accepted for its configs and only checked. Beyond MONAI:
    1-3 spatial dims, one-hot and soft targets, ``mask``/``ignore_index`` (an ignored voxel adds no term and is no
    class in its neighbours' τ), excluded channels and class weights (of the CE, as torch, and of the penalty).
    ``"mean"`` adds CE's mean and the penalty's mean over valid voxels and kept channels; ``"none"`` gives ``(B, K,
    *S)``: each voxel's cross-entropy share plus ``λ/K`` times its penalty, and ``"sum"`` their sum. A perfect
    prediction is not the minimum (saturated logits are penalised): that is the point.

    Example:
        >>> from monai_segloss.functional import nacl_loss
        >>> logits = torch.tensor([[[2.0, 1.0, -1.0, -2.0], [-2.0, -1.0, 1.0, 2.0]]])  # (1, 2 classes, 4 voxels)
        >>> labels = torch.tensor([[[0, 0, 1, 1]]])
        >>> ce = torch.nn.functional.cross_entropy(logits, labels[:, 0])
        >>> tau = torch.tensor([[[2 / 3, 2 / 3, 1 / 3, 0.0], [0.0, 1 / 3, 2 / 3, 2 / 3]]])  # 3-voxel means
        >>> expected = ce + 0.1 * (tau - logits).abs().mean()
        >>> loss = nacl_loss(logits, labels, softmax=True, to_onehot_y=True)
        >>> print(f"{loss:.4f} {expected:.4f}")
        0.1975 0.1975
""", returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K, *S)`` with K kept channels.
""", none_shape="voxels")
