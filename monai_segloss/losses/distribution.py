"""Distribution-based losses and their region hybrids (module face): one class per functional form of
:mod:`monai_segloss.functional.distribution`."""

from __future__ import annotations

from ..functional import distribution as F
from .base import SegLoss, deprecated_alias
from .registry import register_loss

__all__ = ["SegBCELoss", "BalancedCELoss", "SegCrossEntropyLoss", "SegFocalLoss", "TopKCELoss", "ExpLogLoss",
           "ComboLoss", "UnifiedFocalLoss", "BinaryCrossEntropyLoss", "BalancedCrossEntropyLoss"]


@register_loss("bce")
class SegBCELoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegBCELoss
        >>> logits, target = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]]), torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> print(f"{SegBCELoss(sigmoid=True, pos_weight=2.0)(logits, target):.4f}")
        0.3910
    """

    function = F.bce_loss


@register_loss("balanced_ce")
class BalancedCELoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import BalancedCELoss
        >>> logits, target = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]]), torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> print(f"{BalancedCELoss(sigmoid=True)(logits, target):.4f}")
        0.1073
    """

    function = F.balanced_ce_loss


@register_loss("cross_entropy")
class SegCrossEntropyLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegCrossEntropyLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{SegCrossEntropyLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.1152
    """

    function = F.cross_entropy_loss


@register_loss("focal")
class SegFocalLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegFocalLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{SegFocalLoss(softmax=True, to_onehot_y=True, gamma=2.0)(logits, labels):.4f}")
        0.0061
    """

    function = F.focal_loss


@register_loss("topk_ce")
class TopKCELoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import TopKCELoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [1, 0]]]])
        >>> print(f"{TopKCELoss(softmax=True, to_onehot_y=True, k=25)(logits, labels):.4f}")  # the worst voxel
        1.3133
    """

    function = F.topk_ce_loss


@register_loss("exp_log")
class ExpLogLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import ExpLogLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{ExpLogLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.5536
    """

    function = F.exp_log_loss


@register_loss("combo")
class ComboLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import ComboLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{ComboLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")
        0.0934
    """

    function = F.combo_loss


@register_loss("unified_focal")
class UnifiedFocalLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import UnifiedFocalLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{UnifiedFocalLoss(softmax=True, to_onehot_y=True, variant='asymmetric')(logits, labels):.4f}")
        0.1413
    """

    function = F.unified_focal_loss


BinaryCrossEntropyLoss = deprecated_alias(SegBCELoss, "BinaryCrossEntropyLoss")
BalancedCrossEntropyLoss = deprecated_alias(BalancedCELoss, "BalancedCrossEntropyLoss")
