"""Calibration losses (module face): the class of :func:`monai_segloss.functional.calibration.nacl_loss`."""

from __future__ import annotations

from ..functional import calibration as F
from .base import SegLoss
from .registry import register_loss

__all__ = ["SegNACLLoss"]


@register_loss("nacl")
class SegNACLLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import SegNACLLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{SegNACLLoss(softmax=True, to_onehot_y=True, alpha=0.1)(logits, labels):.4f}")
        0.2721
    """

    function = F.nacl_loss
