"""Preset compound losses, functional forms: weighted sums of the functional forms of their terms.

A preset's options class is the union of its terms' options plus one weight per term; :meth:`terms` hands each term
its own options. The functional form sums the terms on one shared preparation; the module form
(:class:`monai_segloss.SegDiceCELoss` ...) builds a :class:`~monai_segloss.CompoundLoss` from the same
:meth:`terms`, which also reports each term for logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from ..core import checks
from ..core.options import Options, option
from ..core.prepare import shared_preparation
from .base import LossFunction, loss_function
from .distribution import BCEOptions, CrossEntropyOptions, FocalOptions, bce_loss, cross_entropy_loss, focal_loss
from .region import DiceOptions, dice_loss

__all__ = ["Term", "PresetOptions", "DiceCEOptions", "DiceFocalOptions", "dice_ce_loss", "dice_focal_loss"]

_WEIGHT = checks.number(0)


class Term(NamedTuple):
    """One term of a preset: its logging ``name``, functional form, weight and options."""

    name: str
    function: LossFunction
    weight: float
    options: Options


class PresetOptions(Options):
    """What a preset's options class provides: its terms."""

    def terms(self) -> Sequence[Term]:
        raise NotImplementedError


def _sum_terms(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
               o: PresetOptions) -> torch.Tensor:
    """``Σ_i w_i·L_i(input, target)`` on one shared preparation."""
    total: torch.Tensor | None = None
    # every preset has a cross-entropy or focal term: under softmax with a label map, its log-probabilities at the
    # labels come from the Dice term's fused statistics (one softmax, one backward)
    with shared_preparation(label_log_probs=True):
        for term in o.terms():
            value = term.weight * term.function.apply(input, target, mask, term.options)
            total = value if total is None else total + value
    assert total is not None
    return total


_REDUCED_DOC = ("``\"mean\"`` or ``\"sum\"``; ``\"none\"`` is refused: the region term is per (sample, class) and "
                "the voxel term per voxel, so they have no common shape (as in MONAI).")


@dataclass(frozen=True)
class DiceCEOptions(DiceOptions, CrossEntropyOptions, BCEOptions, PresetOptions):
    """Options of :func:`dice_ce_loss`: those of the Dice term and of the cross-entropy term, and their weights."""

    lambda_dice: float = option(1.0, "weight of the Dice term, >= 0.", _WEIGHT)
    lambda_ce: float = option(1.0, "weight of the cross-entropy term, >= 0.", _WEIGHT)
    reduction: Literal["mean", "sum"] = option("mean", _REDUCED_DOC)

    def validate(self) -> None:
        super().validate()
        if self.sigmoid and self.label_smoothing != 0:
            raise ValueError("label_smoothing applies to the softmax cross-entropy; with sigmoid=True the term is the "
                             "binary cross-entropy (use pos_weight)")
        if not self.sigmoid and self.pos_weight is not None:
            raise ValueError("pos_weight applies to the binary cross-entropy (sigmoid=True); the softmax "
                             "cross-entropy takes weight and label_smoothing")

    def terms(self) -> Sequence[Term]:
        every_channel = {"include_background": True, "exclude_channels": ()}  # the channels select the Dice term's
        if self.sigmoid:  # MONAI's DiceCELoss: BCEWithLogitsLoss(pos_weight=weight)
            pos = self.weight if self.pos_weight is None else self.pos_weight
            ce = Term("ce", bce_loss, self.lambda_ce, self.part(BCEOptions, weight=None, pos_weight=pos,
                                                                **every_channel))
        else:
            ce = Term("ce", cross_entropy_loss, self.lambda_ce, self.part(CrossEntropyOptions, **every_channel))
        return (Term("dice", dice_loss, self.lambda_dice, self.part(DiceOptions)), ce)


@dataclass(frozen=True)
class DiceFocalOptions(DiceOptions, FocalOptions, PresetOptions):
    """Options of :func:`dice_focal_loss`: those of the Dice term and of the focal term, and their weights."""

    lambda_dice: float = option(1.0, "weight of the Dice term, >= 0.", _WEIGHT)
    lambda_focal: float = option(1.0, "weight of the focal term, >= 0.", _WEIGHT)
    reduction: Literal["mean", "sum"] = option("mean", _REDUCED_DOC)

    def terms(self) -> Sequence[Term]:
        return (Term("dice", dice_loss, self.lambda_dice, self.part(DiceOptions)),
                Term("focal", focal_loss, self.lambda_focal, self.part(FocalOptions)))


dice_ce_loss = loss_function(DiceCEOptions, _sum_terms, "dice_ce_loss", """
    Dice + cross-entropy: ``λ_dice·(Dice loss) + λ_ce·(cross-entropy)`` on the same input.

    The cross-entropy term is :func:`~monai_segloss.functional.cross_entropy_loss` (softmax, identical to torch's,
    with ``label_smoothing``), or :func:`~monai_segloss.functional.bce_loss` when ``sigmoid=True``; the Dice term is
    :func:`~monai_segloss.functional.dice_loss`. Both share one preparation of the input when they score the same
    channels. As in MONAI's ``DiceCELoss``:

    - ``include_background`` and ``exclude_channels`` select the channels of the Dice term; the cross-entropy term
      scores every class (so ``batch=True, include_background=False`` is nnU-Net's default loss);
    - ``weight`` weighs the classes of both terms (length C for the softmax cross-entropy, torch's weighted mean);
      with ``sigmoid=True`` it is the binary cross-entropy's ``pos_weight`` (``BCEWithLogitsLoss(pos_weight=weight)``)
      unless ``pos_weight`` is given, and the BCE takes no class weight.

    Differences with MONAI's ``DiceCELoss``, on purpose: one activation serves both terms (MONAI's cross-entropy
    always reads the input as logits, whatever ``softmax``/``sigmoid``/``other_act`` give the Dice term: without an
    activation MONAI scores a one-hot prediction equal to its target 0.3133 per voxel); ``sigmoid=True`` with C > 1
    gives the binary cross-entropy per channel (MONAI uses the softmax cross-entropy unless C = 1); a single class
    weight is applied to the Dice term too (MONAI's Dice ignores a weight when one class is scored); ``"none"`` is
    refused, as in MONAI.

    Example:
        >>> from monai_segloss.functional import dice_ce_loss, dice_loss, cross_entropy_loss
        >>> logits, labels = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]]]), torch.tensor([[[0, 1, 1]]])
        >>> kw = dict(softmax=True, to_onehot_y=True)
        >>> total = dice_ce_loss(logits, labels, include_background=False, **kw)
        >>> dice = dice_loss(logits, labels, include_background=False, **kw)
        >>> bool(torch.isclose(total, dice + cross_entropy_loss(logits, labels, **kw)))
        True
""", returns="""
    Returns:
        A scalar.
""")

dice_focal_loss = loss_function(DiceFocalOptions, _sum_terms, "dice_focal_loss", """
    Dice + focal: ``λ_dice·(Dice loss) + λ_focal·(focal loss)`` on the same options.

    The focal term is :func:`~monai_segloss.functional.focal_loss` and honours the activation: with
    ``softmax=True`` it is the categorical (softmax) focal loss, where MONAI's ``DiceFocalLoss`` always applies a
    sigmoid focal loss. ``gamma`` and ``alpha`` go to the focal term, the region options to the Dice term.

    Example:
        >>> from monai_segloss.functional import dice_focal_loss, dice_loss, focal_loss
        >>> logits, labels = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]]]), torch.tensor([[[0, 1, 1]]])
        >>> kw = dict(softmax=True, to_onehot_y=True)
        >>> total = dice_focal_loss(logits, labels, gamma=2.0, **kw)
        >>> bool(torch.isclose(total, dice_loss(logits, labels, **kw) + focal_loss(logits, labels, gamma=2.0, **kw)))
        True
""", returns="""
    Returns:
        A scalar.
""")
