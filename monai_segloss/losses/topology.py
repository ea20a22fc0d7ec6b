"""Topology-aware losses (module face): one class per functional form of :mod:`monai_segloss.functional.topology`."""

from __future__ import annotations

from ..functional import topology as F
from .base import SegLoss
from .registry import register_loss

__all__ = ["ClDiceLoss"]


@register_loss("cldice")
class ClDiceLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import ClDiceLoss
        >>> target = torch.zeros(1, 1, 9, 9)
        >>> target[..., 4, 1:8] = 1.0  # a thin vessel
        >>> logits = 8 * target - 4
        >>> logits[..., 4, 4] = -4.0  # predicted with a gap
        >>> print(f"{ClDiceLoss(sigmoid=True)(logits, target):.4f}")
        0.0732
    """

    function = F.cldice_loss
