"""Geometry-aware losses (module face): distance-map losses and the lesion-wise blob loss.

Each class is registered under its key and calls its functional form in :mod:`monai_segloss.functional.geometry`,
whose module docstring defines the distance maps (mm, SimpleITK, precomputable by
:class:`monai_segloss.SignedDistanceMapd`) and the handling of empty and all-foreground targets.
"""

from __future__ import annotations

import torch

from ..functional import geometry as G
from .base import COMMON_INPUT_DOC, SegLoss, append_doc
from .registry import register_loss

__all__ = ["HausdorffDistanceLoss", "SurfaceBoundaryLoss", "ShapeAwareLoss", "DistancePenalizedCELoss",
           "StructuralSimilarityLoss", "BlobLoss"]

_SPACING_DOC = """
    Geometry arguments:
        spacing: voxel size in mm, one value per spatial dim (e.g. ``(0.8, 0.8, 3.0)``) or one for all. Default None:
            read per sample from the affine of ``target`` when it is a MONAI ``MetaTensor`` (else of ``distance``),
            otherwise 1 mm.

    Forward: ``loss(input, target, mask=None, distance=None)``. ``distance``: optional precomputed level sets φ of
    the target classes (signed distances in mm, the innermost foreground layer at 0), ``(B, C, *S)`` (or
    ``(B, K, *S)`` for the kept channels), as made by ``monai_segloss.SignedDistanceMapd`` (e.g.
    ``loss(out, batch["label"], distance=batch["label_dist"])``); None (default) computes them on the fly with
    SimpleITK. Distances are taken as given: build them from the same target, spacing and ignored voxels. In a
    MONAI trainer, which calls ``loss(pred, label)`` only, ``monai_segloss.BatchMapsHandler`` passes the
    batch's maps.
"""

_VOXEL_RETURNS = """
    Returns: a scalar for ``"mean"``/``"sum"``; ``(B, K, *S)`` voxel terms for ``"none"`` (0 at ignored voxels).
"""


class _DistanceLoss(SegLoss):
    """A loss that takes an optional precomputed ``distance`` map in its forward."""

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                distance: torch.Tensor | None = None) -> torch.Tensor:
        return type(self).compute(input, target, mask, self.options, distance)


@register_loss("hausdorff_dt")
@append_doc(COMMON_INPUT_DOC, _SPACING_DOC, _VOXEL_RETURNS)
class HausdorffDistanceLoss(_DistanceLoss):
    """Distance-transform Hausdorff loss: ``mean_v (p - g)² · (d_g^α + d_p^α)``.

    Karimi D. & Salcudean S. E., "Reducing the Hausdorff distance in medical image segmentation with convolutional
    neural networks", IEEE TMI 39(2), 2020 (arXiv 2019). ``d_g`` (``d_p``) is the distance in mm of each voxel to the
    nearest voxel of the other class in the target (in the prediction thresholded at 0.5, detached); an empty or full
    mask gives ``d = 0``, so an empty target is scored by ``(p - g)²·d_p^α`` alone, and a prediction and target both
    without boundary give 0. The mean runs over valid voxels and kept channels.

    With ``spacing`` 1 this is ``monai.losses.HausdorffDTLoss`` on shared options (``reduction="mean"``; MONAI's
    default ``include_background`` is False, ours True). With another spacing the distances are in mm where MONAI,
    which knows no spacing, keeps voxel units: e.g. spacing 2 in every axis with α = 2 gives 4 × MONAI's value, and
    an anisotropic spacing changes which voxel is nearest.

    Args:
        alpha: exponent α of the distances. Default 2.
    """

    options_cls = G.HausdorffOptions
    compute = staticmethod(G._hausdorff_dt)


@register_loss("boundary")
@append_doc(COMMON_INPUT_DOC, _SPACING_DOC, _VOXEL_RETURNS)
class SurfaceBoundaryLoss(_DistanceLoss):
    """Boundary loss: ``mean_v φ_g · p``, with φ_g the target's level set in mm (negative inside).

    Kervadec H. et al., "Boundary loss for highly unbalanced segmentation", MIDL 2019 / MedIA 2021. φ_g is the
    distance to the nearest foreground voxel outside the target and minus (the distance to the nearest background
    voxel - δ) inside, δ the smallest spacing, so the innermost layer of the target is 0. An empty or all-foreground
    target has no boundary: φ = 0, the (sample, class) contributes 0 (pair the loss with a region loss, as the
    paper does; see :class:`monai_segloss.LinearRamp`). The loss is not bounded below by 0: its minimum, reached by
    the perfect prediction, is ``mean(φ_g · g) <= 0``.

    With ``spacing`` 1 this equals ``monai.losses.BoundaryLoss`` on shared options (``reduction="mean"``: the sum
    over voxels divided by their number, averaged over samples and channels). With another spacing the map is in
    mm and the inner offset is δ (MONAI, which knows no spacing, uses voxel units and an offset of 1).

    Speed: the loss is linear in p, so under softmax (with ``reduction`` ``"mean"``/``"sum"``) it is one fused
    softmax-and-product with a closed-form backward; with φ precomputed by
    :class:`~monai_segloss.SignedDistanceMapd` a step costs about one softmax forward and backward.
    """

    options_cls = G.BoundaryOptions
    compute = staticmethod(G._boundary)


@register_loss("shape_aware")
@append_doc(COMMON_INPUT_DOC, _SPACING_DOC, _VOXEL_RETURNS)
class ShapeAwareLoss(_DistanceLoss):
    """Shape-aware loss: ``(1 + E_{b,c}) · CE`` per voxel.

    Jadon S., "A survey of loss functions for semantic segmentation", CIBCB 2020 (after Hayder Z. et al., "Boundary-
    aware instance segmentation", CVPR 2017): the cross-entropy is weighted by ``E``, the average Euclidean distance
    (mm) of the points of the predicted contour to the target contour. Here, per (sample, class), the predicted
    contour is the set of voxels of ``p > 0.5`` with a face neighbour outside it, and the distance of a voxel to the
    target contour is ``|φ_g|`` (the boundary-loss level set, 0 on the innermost target layer); E is detached. A
    prediction or target without boundary (empty or full) gives E = 0, i.e. plain cross-entropy.

    The cross-entropy is categorical (``-Σ_c g_c log p_c``, mean over valid voxels) with ``softmax=True`` or a label
    map, and binary per channel otherwise (mean over valid voxels and kept channels), from logits when an activation
    is set.
    """

    options_cls = G.ShapeAwareOptions
    compute = staticmethod(G._shape_aware)


@register_loss("distance_penalized_ce")
@append_doc(COMMON_INPUT_DOC, _SPACING_DOC, _VOXEL_RETURNS)
class DistancePenalizedCELoss(_DistanceLoss):
    """Distance-map-penalised cross-entropy: ``(1 + λ·Φ) · CE`` per voxel.

    Calivà F. et al., "Distance map loss penalty term for semantic segmentation", MIDL 2019. Φ is the inverted
    distance map of the target, normalised per (sample, class): ``Φ = 1 - d / max d`` with ``d = |φ_g|`` the
    distance (mm) to the target boundary (the boundary-loss level set: distance to the nearest target voxel outside,
    to the innermost target layer inside), so voxels at the boundary weigh ``1 + λ`` and the farthest ones 1. A
    target without boundary (empty or full) gives Φ = 0: plain cross-entropy. The cross-entropy is as in
    :class:`ShapeAwareLoss` (categorical with softmax or a label map, binary per channel otherwise).

    Args:
        penalty: λ. Default 1.
    """

    options_cls = G.DistancePenalizedOptions
    compute = staticmethod(G._distance_penalized_ce)


@register_loss("structural_similarity")
@append_doc(COMMON_INPUT_DOC, _VOXEL_RETURNS)
class StructuralSimilarityLoss(SegLoss):
    """Structural similarity loss: ``(1/M) Σ_{v,c} f_{v,c} e_{v,c} CE_{v,c}``.

    Zhao S. et al., "Correlation maximized structural similarity loss for semantic segmentation", arXiv 2019. With
    local means μ and standard deviations σ over a ``kernel_size`` window (valid voxels only), the structural error
    is ``e = |(g - μ_g)/(σ_g + C4) - (p - μ_p)/(σ_p + C4)|`` (differentiable in p, so the gradient also aligns the
    local structure of p with that of g), ``f = [e > β · max e]`` selects the voxels of large error per (sample,
    class), and M is the number of selected (voxel, class) pairs. The cross-entropy is as in
    :class:`ShapeAwareLoss`. A perfect prediction has e = 0 and CE = 0.

    Args:
        beta: β. Default 0.1.
        kernel_size: odd window side. Default 3.
        c4: C4. Default 0.01.
    """

    options_cls = G.StructuralSimilarityOptions
    compute = staticmethod(G._structural_similarity)


@register_loss("blob")
@append_doc(COMMON_INPUT_DOC)
class BlobLoss(SegLoss):
    """Blob loss: ``α · L(p, g) + β · mean_n L(p, g; lesion n)``, per (sample, class).

    Kofler F. et al., "blob loss: instance imbalance aware loss functions for semantic segmentation", IPMI 2023.
    L is any registered region loss (``region``, default Dice). The lesions are the connected components of the
    target of each kept class (26-connected in 3D); lesion n is scored with every *other* lesion of its class masked
    out, so each lesion counts once in the mean whatever its size. A (sample, class) without lesion falls back to the
    global term: its lesion term is ``L(p, g)``.

    Args:
        region: registry key of L. Default ``"dice"``.
        region_kwargs: options of L (``smooth_nr``, ``empty``, ``alpha``…), not the input options. Default None.
        global_weight: α. Default 2.
        lesion_weight: β. Default 1.
        fully_connected: 26- (True, default) or 6-connected lesions (8 or 4 in 2D).

    Forward: ``loss(input, target, mask=None, instances=None)``; ``instances``: optional precomputed lesion labels
    ``(B, C, *S)`` (or ``(B, K, *S)``) int, as made by ``monai_segloss.LesionInstancesd``; None (default)
    computes them on the fly with SimpleITK. In a MONAI trainer, pass them with
    ``monai_segloss.BatchMapsHandler({"instances": "label_instances"})``.

    Returns: a scalar for ``"mean"``/``"sum"``; ``(B, K)`` for ``"none"``.
    """

    options_cls = G.BlobOptions
    compute = staticmethod(G._blob)

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                instances: torch.Tensor | None = None) -> torch.Tensor:
        return G._blob(input, target, mask, self.options, instances)
