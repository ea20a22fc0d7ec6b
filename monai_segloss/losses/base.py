"""The module face of the losses: thin ``nn.Module`` classes holding validated options over the functional code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn as nn

from ..core.options import parse_options

__all__ = ["SegLoss", "COMMON_INPUT_DOC", "COMMON_REGION_DOC", "append_doc"]

COMMON_INPUT_DOC = """
    Common arguments (keyword only; names and meaning as in ``monai.losses``):
        sigmoid: apply a sigmoid to ``input``. Default False.
        softmax: apply a softmax over all channels of ``input`` (before any exclusion; needs C >= 2). Default False.
        other_act: another callable activation. Default None. At most one activation may be set.
        to_onehot_y: ``target`` is a label map ``(B, 1, *S)`` or ``(B, *S)`` of class ids in [0, C); it is never
            expanded to a one-hot tensor where the loss does not need one. Default False: ``target`` is one-hot
            or soft, ``(B, C, *S)`` (for C = 1, a binary ``(B, 1, *S)`` map).
        include_background: False drops channel 0 from what is scored. Default True.
        exclude_channels: sequence of further channel ids not scored. Default ().
        weight: per-class weights, length C (by channel id) or the number of kept channels. Default None.
        ignore_index: label value whose voxels count nowhere (no sum, mean or denominator). With a label map, a
            real class id is also left unscored. With a one-hot/soft target a voxel is ignored when every channel
            holds this value. Default None.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``. Default ``"mean"``.

    Forward: ``loss(input, target, mask=None)``; ``input`` ``(B, C, *S)`` with 1-3 spatial dims, logits when an
    activation is set and probabilities in [0, 1] otherwise; ``mask`` broadcastable to ``(B, 1, *S)``, voxels
    where it is 0 count nowhere.
"""

COMMON_REGION_DOC = COMMON_INPUT_DOC + """
    Region arguments:
        batch: sum the statistics over the batch before scoring. Default False.
        distributed: with ``batch=True``, sum them over every DDP rank (autograd-aware). Default False.
        smooth_nr: added to the numerator. Default 1e-5.
        smooth_dr: added to the denominator. Default 1e-5.
        empty: a (sample, class) with no target voxel is scored by the smoothing terms (``"smooth"``, MONAI's
            behaviour), left out of the mean (``"skip"``) or scored by its false-positive rate FP / (FP + TN)
            in place of ``1 - score`` (then the loss's focal power or log-cosh, if any) (``"fp"``). Default
            ``"smooth"``.

    Returns: a scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K)`` with K kept channels (``(K,)`` with
    ``batch=True``), 0 where a unit does not count (no valid voxel, or skipped as empty).
"""


def append_doc(*blocks: str) -> Callable[[type], type]:
    """Class decorator: append shared docstring blocks (common arguments, modes) to a loss class's docstring."""

    def deco(cls: type) -> type:
        cls.__doc__ = (cls.__doc__ or "") + "".join(blocks)
        return cls

    return deco


class SegLoss(nn.Module):
    """Base of every loss module: validates its options once, then calls its functional form on each forward.

    Subclasses set ``options_cls`` (a frozen options dataclass) and ``compute`` (a function
    ``(input, target, mask, options) -> Tensor``).
    """

    options_cls: ClassVar[type]
    compute: ClassVar[Callable[..., torch.Tensor]]
    registry_key: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = parse_options(self.options_cls, options, type(self).__name__)

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return type(self).compute(input, target, mask, self.options)

    def extra_repr(self) -> str:
        defaults = self.options_cls()
        return ", ".join(f"{f.name}={getattr(self.options, f.name)!r}" for f in dataclasses.fields(self.options)
                         if getattr(self.options, f.name) != getattr(defaults, f.name))
