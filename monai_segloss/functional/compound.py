"""Preset compound losses, functional forms: weighted sums of the functional forms of their terms.

A preset's options class is the union of its terms' options plus one weight per term; :meth:`terms` hands each term
its own options. The functional form sums the terms on one shared preparation; the module form
(:class:`monai_segloss.SegDiceCELoss` ...) builds a :class:`~monai_segloss.CompoundLoss` from the same
:meth:`terms`, which also reports each term for logging.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

import torch

from ..core import checks
from ..core.options import InputOptions, Options, option
from ..core.prepare import prepare_input, shared_preparation
from .base import LossFunction, loss_function
from .distribution import (
    BCEOptions,
    CrossEntropyOptions,
    FocalOptions,
    TopKCEOptions,
    bce_loss,
    cross_entropy_loss,
    focal_loss,
    topk_ce_loss,
)
from .fused import fuse_binary_focal
from .region import DiceOptions, GeneralizedDiceOptions, dice_loss, generalized_dice_loss
from .topology import ClDiceOptions, cldice_loss

__all__ = ["Term", "PresetOptions", "LABEL_LOG_PROB_TERMS", "DiceCEOptions", "DiceFocalOptions", "DiceTopKOptions",
           "GeneralizedDiceFocalOptions", "DiceClDiceOptions", "dice_ce_loss", "dice_focal_loss", "dice_topk_loss",
           "generalized_dice_focal_loss", "dice_cldice_loss", "fuse_generalized_dice_focal"]

_WEIGHT = checks.number(0)
LABEL_LOG_PROB_TERMS = ("cross_entropy", "focal", "topk_ce")
"""The registry keys of the terms that read the log-probabilities at the labels (the region statistics of a label
map make them in their fused pass when a compound loss has one of them)."""


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
               o: PresetOptions, terms: Sequence[Term] | None = None) -> torch.Tensor:
    """``Σ_i w_i·L_i(input, target)`` on one shared preparation (``terms``: ``o.terms()`` when None)."""
    total: torch.Tensor | None = None
    terms = o.terms() if terms is None else terms
    # with a cross-entropy, focal or TopK term, under softmax with a label map, its log-probabilities at the labels
    # come from the region term's fused statistics (one softmax, one backward)
    fuse = any(t.function.__name__.removesuffix("_loss") in LABEL_LOG_PROB_TERMS for t in terms)
    with shared_preparation(label_log_probs=fuse):
        for term in terms:
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

    @classmethod
    def parse(cls, kwargs: Mapping[str, Any], owner: str) -> DiceCEOptions:
        """As :meth:`Options.parse`, warning when no activation keyword is given at all: MONAI's ``DiceCELoss``
        reads the input as logits in its cross-entropy whatever the activation, ours as probabilities in both terms
        unless one is set, so logits that happen to lie in [0, 1] would silently give another quantity."""
        if not {"sigmoid", "softmax", "other_act"} & set(kwargs):
            warnings.warn(f"{owner} got no activation, so it reads input as probabilities in both terms (MONAI's "
                          "DiceCELoss reads it as logits in its cross-entropy): pass softmax=True (or sigmoid=True) "
                          "for logits, or softmax=False to state that input holds probabilities",
                          UserWarning, stacklevel=4)
        return super().parse(kwargs, owner)

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


@dataclass(frozen=True)
class DiceTopKOptions(DiceOptions, TopKCEOptions, PresetOptions):
    """Options of :func:`dice_topk_loss`: those of the Dice term and of the TopK cross-entropy term, and their
    weights."""

    lambda_dice: float = option(1.0, "weight of the Dice term, >= 0.", _WEIGHT)
    lambda_topk: float = option(1.0, "weight of the TopK cross-entropy term, >= 0.", _WEIGHT)
    reduction: Literal["mean", "sum"] = option("mean", _REDUCED_DOC)

    def terms(self) -> Sequence[Term]:
        # the cross-entropy of a voxel runs over every class, as in nnU-Net's DC_and_topk_loss
        topk = self.part(TopKCEOptions, include_background=True, exclude_channels=(), weight=None)
        return (Term("dice", dice_loss, self.lambda_dice, self.part(DiceOptions)),
                Term("topk", topk_ce_loss, self.lambda_topk, topk))


@dataclass(frozen=True)
class GeneralizedDiceFocalOptions(GeneralizedDiceOptions, FocalOptions, PresetOptions):
    """Options of :func:`generalized_dice_focal_loss`: those of the generalised Dice term and of the focal term, and
    their weights (MONAI's names)."""

    lambda_gdl: float = option(1.0, "weight of the generalised Dice term, >= 0.", _WEIGHT)
    lambda_focal: float = option(1.0, "weight of the focal term, >= 0.", _WEIGHT)
    reduction: Literal["mean", "sum"] = option("mean", "``\"mean\"`` or ``\"sum\"``; ``\"none\"`` is refused: the "
                                                       "generalised Dice term is per sample and the focal term per "
                                                       "voxel, so they have no common shape.")

    def terms(self) -> Sequence[Term]:
        return (Term("generalized_dice", generalized_dice_loss, self.lambda_gdl, self.part(GeneralizedDiceOptions)),
                Term("focal", focal_loss, self.lambda_focal, self.part(FocalOptions)))


def fuse_generalized_dice_focal(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                                dice_options: InputOptions, gamma: float) -> None:
    """Inside a :func:`~monai_segloss.core.prepare.shared_preparation` block, before the terms of
    ``generalized_dice_focal`` run: under ``sigmoid=True`` with a label map, make the generalised Dice term's
    statistics and the focal term's sums in one pass over the logits (:func:`~monai_segloss.functional.fused.
    fuse_binary_focal`), which the two terms then read from their shared preparation; nothing otherwise. The
    preparation is the one the Dice term makes first anyway (same options, same tensors): invalid input raises the
    same errors."""
    fuse_binary_focal(prepare_input(input, target, dice_options, mask), gamma)


def _generalized_dice_focal(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                            o: GeneralizedDiceFocalOptions) -> torch.Tensor:
    """The terms' sum; under ``sigmoid=True`` with a label map, on one fused pass
    (:func:`fuse_generalized_dice_focal`)."""
    if not (o.sigmoid and o.to_onehot_y):
        return _sum_terms(input, target, mask, o)
    terms = o.terms()
    with shared_preparation(label_log_probs=True):
        fuse_generalized_dice_focal(input, target, mask, cast(InputOptions, terms[0].options), o.gamma)
        return _sum_terms(input, target, mask, o, terms)


@dataclass(frozen=True)
class DiceClDiceOptions(ClDiceOptions, DiceOptions, PresetOptions):
    """Options of :func:`dice_cldice_loss`: those of the Dice and clDice terms (one smoothing for both, 1 as MONAI),
    and α."""

    alpha: float = option(0.5, "α in [0, 1], weight of the clDice term; the Dice term weighs 1 - α.",
                          checks.number(0, 1))
    reduction: Literal["mean", "sum"] = option("mean", "``\"mean\"`` or ``\"sum\"`` (of each term); ``\"none\"`` "
                                                       "is refused, as by the other presets.")

    def terms(self) -> Sequence[Term]:
        return (Term("dice", dice_loss, 1 - self.alpha, self.part(DiceOptions)),
                Term("cldice", cldice_loss, self.alpha, self.part(ClDiceOptions)))


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

dice_topk_loss = loss_function(DiceTopKOptions, _sum_terms, "dice_topk_loss", """
    Dice + TopK cross-entropy: ``λ_dice·(Dice loss) + λ_topk·(TopK cross-entropy)``, nnU-Net's ``DC_and_topk_loss``.

    The Dice term is :func:`~monai_segloss.functional.dice_loss` (``include_background``, ``exclude_channels`` and
    ``weight`` select and weigh its channels; ``batch``, ``distributed``, smoothing and ``empty`` are its own); the
    TopK term is :func:`~monai_segloss.functional.topk_ce_loss` (``k``, ``per_image``, ``label_smoothing``) over every
    class without class weights, as nnU-Net's (and as MONAI's ``DiceCELoss``, whose cross-entropy keeps the
    background). Both share one softmax. ``dice_topk(softmax=True, to_onehot_y=True, include_background=False,
    batch=batch_dice)`` equals nnU-Net's ``DC_and_topk_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg":
    False}, {"k": 10})`` plus 1: nnU-Net's Dice term is ``-Dice``, ours ``1 - Dice`` (parity tested). With an ignore
    label the TopK term takes k % of the valid voxels where nnU-Net takes k % of all voxels (see
    :func:`~monai_segloss.functional.topk_ce_loss`). With ``batch=True, distributed=True`` the Dice statistics are
    global across DDP ranks and the TopK selection stays on each rank's batch, as in nnU-Net.

    Example:
        >>> from monai_segloss.functional import dice_topk_loss, dice_loss, topk_ce_loss
        >>> logits, labels = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]]]), torch.tensor([[[0, 1, 1]]])
        >>> kw = dict(softmax=True, to_onehot_y=True)
        >>> total = dice_topk_loss(logits, labels, k=50, **kw)
        >>> bool(torch.isclose(total, dice_loss(logits, labels, **kw) + topk_ce_loss(logits, labels, k=50, **kw)))
        True
""", returns="""
    Returns:
        A scalar.
""")

generalized_dice_focal_loss = loss_function(GeneralizedDiceFocalOptions, _generalized_dice_focal,
                                            "generalized_dice_focal_loss", """
    Generalised Dice + focal: ``λ_gdl·(generalised Dice loss) + λ_focal·(focal loss)`` on the same options.

    The terms are :func:`~monai_segloss.functional.generalized_dice_loss` (Sudre 2017; ``w_type``, batch statistics,
    smoothing, ``empty``) and :func:`~monai_segloss.functional.focal_loss` (Lin 2017; ``gamma``, ``alpha``), on one
    shared preparation of the input. With ``sigmoid=True`` and ``reduction="mean"`` this is
    ``monai.losses.GeneralizedDiceFocalLoss`` (parity tested; MONAI's focal ``"sum"`` adds per-(sample, channel)
    spatial means, ours adds the voxel terms). Where MONAI is not right we differ: its focal term always scores each
    channel with a sigmoid of the raw input, also with ``softmax=True`` (where it should score the softmax
    probabilities of the Dice term) and with ``other_act``; ours follows the activation (the categorical focal loss
    under softmax, as :func:`~monai_segloss.functional.dice_focal_loss`). ``weight`` weighs both terms (MONAI gives it
    to the focal term only).

    Example:
        >>> from monai_segloss.functional import generalized_dice_focal_loss, generalized_dice_loss, focal_loss
        >>> logits, target = torch.tensor([[[2.0, 1.0, -1.0, -2.0]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> total = generalized_dice_focal_loss(logits, target, sigmoid=True, lambda_gdl=0.5)
        >>> parts = 0.5 * generalized_dice_loss(logits, target, sigmoid=True) + focal_loss(logits, target, sigmoid=True)
        >>> bool(torch.isclose(total, parts))
        True
""", returns="""
    Returns:
        A scalar.
""")

dice_cldice_loss = loss_function(DiceClDiceOptions, _sum_terms, "dice_cldice_loss", """
    Dice + clDice: ``(1 - α)·(Dice loss) + α·(clDice loss)``, the combination Shit et al. (CVPR 2021) train with.

    The terms are :func:`~monai_segloss.functional.dice_loss` and :func:`~monai_segloss.functional.cldice_loss` on
    the same options (one shared preparation): the Dice term keeps the volume right, the clDice term the
    connectivity of thin structures. Same quantity as ``monai.losses.SoftDiceclDiceLoss`` (α, ``iter_``,
    ``smooth_nr`` = ``smooth_dr`` = 1 and ε = ``smooth`` as MONAI) when one channel is kept; with several, MONAI's
    clDice term pools the channels of a sample (see :func:`~monai_segloss.functional.cldice_loss`).

    Example:
        >>> from monai_segloss.functional import dice_cldice_loss, dice_loss, cldice_loss
        >>> logits, target = torch.linspace(-3, 3, 64).view(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)
        >>> target[..., 4, 1:7] = 1.0
        >>> total = dice_cldice_loss(logits, target, sigmoid=True, alpha=0.3)
        >>> dice = dice_loss(logits, target, sigmoid=True, smooth_nr=1.0, smooth_dr=1.0)
        >>> bool(torch.isclose(total, 0.7 * dice + 0.3 * cldice_loss(logits, target, sigmoid=True)))
        True
""", returns="""
    Returns:
        A scalar.
""")
