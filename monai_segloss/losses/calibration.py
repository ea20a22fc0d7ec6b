"""Calibration losses (module face): the class of :func:`monai_segloss.functional.calibration.nacl_loss`."""

from __future__ import annotations

import torch

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

    def forward(self, input: torch.Tensor | None = None, target: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, *, inputs: torch.Tensor | None = None,
                targets: torch.Tensor | None = None, **maps: torch.Tensor | None) -> torch.Tensor:
        """``loss(input, target, mask=None)``; MONAI's ``NACLLoss`` keywords ``inputs=``/``targets=`` are accepted
        for ``input``/``target`` (one of each pair)."""
        input = _one_of("input", input, "inputs", inputs)
        target = _one_of("target", target, "targets", targets)
        return super().forward(input, target, mask, **maps)


def _one_of(name: str, value: torch.Tensor | None, alias: str, alias_value: torch.Tensor | None) -> torch.Tensor:
    """The tensor given as ``name`` or as MONAI's ``alias``: exactly one of them."""
    if (value is None) == (alias_value is None):
        raise TypeError(f"SegNACLLoss.forward needs {name} (or MONAI's keyword {alias}), exactly one of them")
    return value if value is not None else alias_value  # type: ignore[return-value]
