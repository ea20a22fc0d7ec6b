"""Region-based losses (module face): one class per functional form of :mod:`monai_segloss.functional.region`."""

from __future__ import annotations

from ..functional import region as F
from .base import SegLoss, deprecated_alias
from .registry import register_loss

__all__ = ["SegDiceLoss", "JaccardLoss", "SegGeneralizedDiceLoss", "SegTverskyLoss", "FocalTverskyLoss",
           "LogCoshDiceLoss", "SensitivitySpecificityLoss", "SegMCCLoss", "WassersteinDiceLoss",
           "SoftDiceLoss", "SoftJaccardLoss", "SoftGeneralizedDiceLoss", "SoftTverskyLoss"]


@register_loss("dice")
class SegDiceLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegDiceLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])  # (1, 2, 2, 2)
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])  # (1, 1, 2, 2)
        >>> loss = SegDiceLoss(softmax=True, to_onehot_y=True, include_background=False)
        >>> print(f"{loss(logits, labels):.4f}")
        0.1883
    """

    function = F.dice_loss


@register_loss("jaccard")
class JaccardLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import JaccardLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{JaccardLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.2239
    """

    function = F.jaccard_loss


@register_loss("generalized_dice")
class SegGeneralizedDiceLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegGeneralizedDiceLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{SegGeneralizedDiceLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.1611
    """

    function = F.generalized_dice_loss


@register_loss("tversky")
class SegTverskyLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegTverskyLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> loss = SegTverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7)
        >>> print(f"{loss(logits, labels):.4f}")
        0.1214
    """

    function = F.tversky_loss


@register_loss("focal_tversky")
class FocalTverskyLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import FocalTverskyLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> loss = FocalTverskyLoss(softmax=True, to_onehot_y=True, include_background=False)
        >>> print(f"{loss(logits, labels):.4f}")
        0.2553
    """

    function = F.focal_tversky_loss


@register_loss("log_cosh_dice")
class LogCoshDiceLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import LogCoshDiceLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{LogCoshDiceLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.0100
    """

    function = F.log_cosh_dice_loss


@register_loss("sensitivity_specificity")
class SensitivitySpecificityLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SensitivitySpecificityLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> loss = SensitivitySpecificityLoss(softmax=True, to_onehot_y=True, r=0.05)
        >>> print(f"{loss(logits, labels):.4f}")
        0.0192
    """

    function = F.sensitivity_specificity_loss


@register_loss("mcc")
class SegMCCLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegMCCLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{SegMCCLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.2535
    """

    function = F.mcc_loss


@register_loss("wasserstein_dice")
class WassersteinDiceLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import WassersteinDiceLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]], [[0.0, 2.0], [2.5, 0.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [2, 0]]]])
        >>> m = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]
        >>> print(f"{WassersteinDiceLoss(softmax=True, to_onehot_y=True, dist_matrix=m)(logits, labels):.4f}")
        0.1929
    """

    function = F.wasserstein_dice_loss


SoftDiceLoss = deprecated_alias(SegDiceLoss, "SoftDiceLoss")
SoftJaccardLoss = deprecated_alias(JaccardLoss, "SoftJaccardLoss")
SoftGeneralizedDiceLoss = deprecated_alias(SegGeneralizedDiceLoss, "SoftGeneralizedDiceLoss")
SoftTverskyLoss = deprecated_alias(SegTverskyLoss, "SoftTverskyLoss")
