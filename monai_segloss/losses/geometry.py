"""Geometry-aware losses (module face): the distance-map losses and the lesion-wise blob loss, one class per
functional form of :mod:`monai_segloss.functional.geometry` (whose module docstring defines the distance maps: mm,
SimpleITK, precomputable by :class:`monai_segloss.SignedDistanceMapd`)."""

from __future__ import annotations

from ..functional import geometry as F
from .base import SegLoss, deprecated_alias
from .registry import register_loss

__all__ = ["SegHausdorffDTLoss", "SegLogHausdorffDTLoss", "SegBoundaryLoss", "ShapeAwareLoss",
           "DistancePenalizedCELoss", "StructuralSimilarityLoss", "BlobLoss", "HausdorffDistanceLoss",
           "SurfaceBoundaryLoss"]


@register_loss("hausdorff_dt")
class SegHausdorffDTLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegHausdorffDTLoss
        >>> logits = torch.full((1, 1, 8, 8), -4.0)
        >>> logits[..., 2:5, 2:6] = 4.0  # a predicted square one column wider than the target
        >>> target = torch.zeros(1, 1, 8, 8)
        >>> target[..., 2:5, 2:5] = 1.0
        >>> print(f"{SegHausdorffDTLoss(sigmoid=True, spacing=(0.5, 0.5))(logits, target):.4f}")
        0.0233
    """

    function = F.hausdorff_dt_loss


@register_loss("log_hausdorff_dt")
class SegLogHausdorffDTLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegHausdorffDTLoss, SegLogHausdorffDTLoss
        >>> logits = torch.full((1, 1, 6, 6), -4.0)
        >>> logits[..., 1:4, 1:5] = 4.0
        >>> target = (logits > 0).float()
        >>> target[..., 1:4, 4] = 0.0  # the target is one column narrower than the prediction
        >>> h = SegHausdorffDTLoss(sigmoid=True)(logits, target)
        >>> print(f"{SegLogHausdorffDTLoss(sigmoid=True)(logits, target):.4f} = log(1 + {h:.4f})")
        0.1502 = log(1 + 0.1620)
    """

    function = F.log_hausdorff_dt_loss


@register_loss("boundary")
class SegBoundaryLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegBoundaryLoss
        >>> logits = torch.zeros(1, 2, 8, 8)
        >>> labels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
        >>> labels[..., 2:5, 2:5] = 1
        >>> loss = SegBoundaryLoss(softmax=True, to_onehot_y=True, include_background=False)
        >>> print(f"{loss(logits, labels):.4f}")
        0.9310
    """

    function = F.boundary_loss


@register_loss("shape_aware")
class ShapeAwareLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import ShapeAwareLoss
        >>> logits = torch.zeros(1, 2, 8, 8)
        >>> logits[:, 1, 2:5, 2:6] = 3.0
        >>> labels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
        >>> labels[..., 2:5, 2:5] = 1
        >>> print(f"{ShapeAwareLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.7150
    """

    function = F.shape_aware_loss


@register_loss("distance_penalized_ce")
class DistancePenalizedCELoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import DistancePenalizedCELoss
        >>> logits = torch.zeros(1, 2, 8, 8)
        >>> logits[:, 1, 2:5, 2:6] = 3.0
        >>> labels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
        >>> labels[..., 2:5, 2:5] = 1
        >>> print(f"{DistancePenalizedCELoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        1.2074
    """

    function = F.distance_penalized_ce_loss


@register_loss("structural_similarity")
class StructuralSimilarityLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import StructuralSimilarityLoss
        >>> logits = torch.zeros(1, 2, 8, 8)
        >>> logits[:, 1, 2:5, 2:6] = 3.0
        >>> labels = torch.zeros(1, 1, 8, 8, dtype=torch.long)
        >>> labels[..., 2:5, 2:5] = 1
        >>> print(f"{StructuralSimilarityLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.6082
    """

    function = F.structural_similarity_loss


@register_loss("blob")
class BlobLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import BlobLoss
        >>> logits = torch.full((1, 1, 8, 8), -4.0)
        >>> logits[..., 1:4, 1:4] = 4.0  # finds the large lesion, misses the small one
        >>> target = torch.zeros(1, 1, 8, 8)
        >>> target[..., 1:4, 1:4] = 1.0
        >>> target[..., 6, 6] = 1.0
        >>> print(f"{BlobLoss(sigmoid=True, region='dice')(logits, target):.4f}")
        0.7344
    """

    function = F.blob_loss


HausdorffDistanceLoss = deprecated_alias(SegHausdorffDTLoss, "HausdorffDistanceLoss")
SurfaceBoundaryLoss = deprecated_alias(SegBoundaryLoss, "SurfaceBoundaryLoss")
