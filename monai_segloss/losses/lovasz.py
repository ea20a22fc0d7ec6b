"""The Lovász losses (module face): the class of :func:`monai_segloss.functional.lovasz.lovasz_loss`."""

from __future__ import annotations

from ..functional import lovasz as F
from .base import SegLoss
from .registry import register_loss

__all__ = ["LovaszLoss"]


@register_loss("lovasz")
class LovaszLoss(SegLoss):
    """
    Example:
        >>> from monai_segloss import LovaszLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [1, 0]]]])
        >>> print(f"{LovaszLoss(softmax=True, to_onehot_y=True)(logits, labels):.4f}")  # Lovász-softmax
        0.3469
        >>> print(f"{LovaszLoss(sigmoid=True)(logits[:, :1], (labels == 0).float()):.4f}")  # Lovász hinge
        0.5000
    """

    function = F.lovasz_loss
