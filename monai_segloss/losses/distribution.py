"""Distribution-based losses and their region hybrids (module face). Each class is registered under its key and
calls its functional form in :mod:`monai_segloss.functional.distribution`."""

from __future__ import annotations

from ..functional import distribution as D
from .base import COMMON_INPUT_DOC, COMMON_REGION_DOC, SegLoss, append_doc
from .registry import register_loss

__all__ = ["BinaryCrossEntropyLoss", "BalancedCrossEntropyLoss", "SegCrossEntropyLoss", "SegFocalLoss",
           "ExpLogLoss", "ComboLoss", "UnifiedFocalLoss"]

VOXEL_DOC = COMMON_INPUT_DOC + """
    Returns: a scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K, *S)`` with K kept channels, 0 at invalid
    voxels.
"""

HYBRID_DOC = COMMON_REGION_DOC + """
    With ``reduction="none"`` the result is ``(B, K)`` (``(K,)`` with ``batch=True``): the region term of each unit
    plus the unit's share of the voxel term (its sum over the sample's valid voxels divided by their number, times
    K in categorical mode); its mean equals ``"mean"`` when every sample has the same number of valid voxels.
"""

MODES_DOC = """
    Modes: *binary* when ``sigmoid=True`` or C = 1 (each kept channel is a two-class problem; ``"mean"`` over valid
    voxels and kept channels); *categorical* otherwise (``softmax=True``, or C >= 2 probabilities; classes compete,
    per-voxel sum over the kept classes, ``"mean"`` over valid voxels). Softmax is over all channels, before any
    exclusion. Log-probabilities come from ``logsigmoid``/``log_softmax`` of the logits.
"""


@register_loss("bce")
@append_doc(VOXEL_DOC)
class BinaryCrossEntropyLoss(SegLoss):
    """Binary cross-entropy per voxel and kept channel, from logits with ``sigmoid=True``:
    ``-w_c·[β_c·g·log p + (1-g)·log(1-p)]``; β = ``pos_weight`` gives the weighted BCE.

    Equals ``torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=β)`` over the valid voxels (``"mean"`` divides by the
    number of valid voxels times K, whatever the weights). With ``softmax=True`` each channel's softmax probability
    is scored as a binary problem (``log(1 - p)`` computed without cancellation); for the categorical loss use
    ``cross_entropy``. Without an activation ``input`` holds probabilities and a probability of exactly 0 or 1 gives
    the float type's most negative finite log.

    Args:
        pos_weight: β, a number or one per class (length C or K). Default None (β = 1).
    """

    options_cls = D.BCEOptions
    compute = staticmethod(D._bce)


@register_loss("balanced_ce")
@append_doc(VOXEL_DOC)
class BalancedCrossEntropyLoss(SegLoss):
    """Class-balanced cross-entropy per voxel and kept channel: ``-w_c·[β·g·log p + (1-β)·(1-g)·log(1-p)]``.

    Xie S. & Tu Z., "Holistically-nested edge detection", ICCV 2015. With ``beta="auto"``, β = |Y-|/|Y| is the
    fraction of negative voxels of each (sample, channel) over the valid voxels, treated as a constant (no
    gradient), so the rare positives weigh as much as the negatives in total. With ``softmax=True`` each channel's
    softmax probability is scored as a binary problem.

    Args:
        beta: β in [0, 1] or ``"auto"``. Default ``"auto"``.
    """

    options_cls = D.BalancedCEOptions
    compute = staticmethod(D._balanced_ce)


@register_loss("cross_entropy")
@append_doc(VOXEL_DOC)
class SegCrossEntropyLoss(SegLoss):
    """Categorical cross-entropy ``-Σ_c w_c·g_c·log p_c``, identical to ``torch.nn.functional.cross_entropy``.

    Set ``softmax=True`` for logits (without an activation ``input`` holds class probabilities). Conventions are
    torch's: with a label map and ``weight``, ``"mean"`` divides by ``Σ_v w_{y_v}`` over the valid voxels (a voxel
    of an excluded class counts with its class weight when ``weight`` has length C, else 1); with a one-hot/soft
    target, by the number of valid voxels. Label smoothing ε gives ``(1-ε)·CE + (ε/C)·Σ_c w_c·(-log p_c)``; a real
    class used as ``ignore_index`` keeps its smoothing share in ``"mean"``/``"sum"`` as in torch (``"none"`` only
    reports the kept channels). Excluded channels (``include_background=False``, ``exclude_channels``) add no
    term. Needs C >= 2 and no ``sigmoid`` (use ``bce``).

    Args:
        label_smoothing: ε in [0, 1]. Default 0.
    """

    options_cls = D.CrossEntropyOptions
    compute = staticmethod(D._cross_entropy)


@register_loss("focal")
@append_doc(VOXEL_DOC + MODES_DOC)
class SegFocalLoss(SegLoss):
    """Focal loss ``-α_t·(1-p_t)^γ·log p_t``.

    Lin T.-Y. et al., "Focal loss for dense object detection", ICCV 2017.

    - binary mode (``sigmoid=True``): per voxel and kept channel
      ``-w_c·[α_c·g·(1-p)^γ·log p + (1-α_c)·(1-g)·p^γ·log(1-p)]`` (without ``alpha`` both factors are 1), mean
      over valid voxels and kept channels: ``monai.losses.FocalLoss`` on shared options. A per-class ``alpha``
      balances positives and negatives of each channel (α_c and 1-α_c, as Lin's scalar α), where MONAI leaves the
      negatives at 1.
    - categorical mode (``softmax=True``): per voxel ``-Σ_{c kept} α_c·w_c·g_c·(1-p_c)^γ·log p_c``, mean over valid
      voxels, i.e. MONAI's softmax focal loss times C, except where MONAI is wrong: it renormalises the softmax
      after dropping the background, and with ``ignore_index`` its sigmoid mean is C times too large. A scalar α
      gives 1-α to channel 0 and α to the others (as MONAI); ``weight`` follows ``torch.nn.functional.cross_entropy``
      (weighted mean over ``Σ_v w_{y_v}`` for a label map), so that γ = 0 without ``alpha`` is exactly
      :class:`SegCrossEntropyLoss`.

    Finite for logits of ±100 in float32 and under fp16/bf16 autocast (computed in float32 from
    ``logsigmoid``/``log_softmax``).

    Args:
        gamma: γ >= 0. Default 2.
        alpha: α in [0, 1], a number or one per class (length C or K). Default None.
    """

    options_cls = D.FocalOptions
    compute = staticmethod(D._focal)


@register_loss("exp_log")
@append_doc(HYBRID_DOC + MODES_DOC)
class ExpLogLoss(SegLoss):
    """Exponential logarithmic loss: ``w_d·E_c[(-ln Dice_c)^γ_d] + w_c·E_v[w_l·(-ln p_l)^γ_c]``.

    Wong K. C. L. et al., "3D segmentation with exponential logarithmic loss for highly unbalanced object sizes",
    MICCAI 2018. Dice_c is the soft Dice of each unit (as :class:`SoftDiceLoss`); l is the true label of voxel v
    and ``w_l = (Σ_k f_k / f_l)^0.5`` with f_k the number of valid voxels of label k in the batch (a constant;
    over every DDP rank's batch with ``batch=True, distributed=True``; ``frequency_weighting=False`` gives
    w_l = 1). In binary mode each channel has two labels, positive and
    negative, each with its own frequency weight. ``weight`` multiplies both terms of a class. Powers below 1 are
    continued linearly below 1e-12 so the gradient stays finite at a perfect prediction, and so is ``-ln`` below a
    Dice of 1e-12 (a Dice of 0, possible only with ``smooth_nr=0``, gives a finite loss: about 28.6^γ_d).

    Args:
        gamma_dice: γ_d > 0. Default 0.3.
        gamma_cross: γ_c > 0. Default 0.3.
        w_dice: w_d. Default 0.8.
        w_cross: w_c. Default 0.2.
        frequency_weighting: use Wong's w_l. Default True.
    """

    options_cls = D.ExpLogOptions
    compute = staticmethod(D._exp_log)


@register_loss("combo")
@append_doc(HYBRID_DOC)
class ComboLoss(SegLoss):
    """Combo loss: ``α·(β-weighted cross-entropy) + (1-α)·(1 - Dice)``.

    Taghanaki S. A. et al., "Combo loss: handling input and output imbalance in multi-organ segmentation",
    CMIG 2019. The first term is :class:`BalancedCrossEntropyLoss` with a fixed β (``ce_beta``; β > 0.5 penalises
    false negatives more), the second :class:`SoftDiceLoss` on the same options; the paper's ``-(1-α)·Dice`` differs
    by the constant 1-α. The cross-entropy is per channel (binary), also with ``softmax=True`` (each channel's
    softmax probability against its one-hot target, as in the paper's multi-organ setting).

    Args:
        alpha: α in [0, 1], weight of the cross-entropy. Default 0.5.
        ce_beta: β in [0, 1]. Default 0.5.
    """

    options_cls = D.ComboOptions
    compute = staticmethod(D._combo)


@register_loss("unified_focal")
@append_doc(HYBRID_DOC + MODES_DOC)
class UnifiedFocalLoss(SegLoss):
    """Unified focal loss: ``λ·L_mF + (1-λ)·L_mFT``, symmetric or asymmetric.

    Yeung M. et al., "Unified Focal loss: generalising Dice and cross entropy-based losses to handle class
    imbalanced medical image segmentation", CMIG 2022 (equations as in the authors' reference implementation).
    Classes are *rare* or *background*:

    - categorical mode: the rare classes are the channel ids in ``rare_classes``, by default **every channel but
      0** (channel 0 is the background).
    - binary mode (``sigmoid=True`` or C = 1): each channel is a two-class problem whose **positive class is rare**
      and whose negative class (1-p, 1-g) is the background.

    With ``CE_c = -g_c·log p_c`` and the modified Tversky index ``mTI_c = TP/(TP + δ·FN + (1-δ)·FP)`` (smoothed):

    - modified focal, per voxel summed over classes, mean over valid voxels (and channels in binary mode):
      background ``(1-δ)·(1-p_c)^γ·CE_c``; rare ``δ·(1-p_c)^γ·CE_c`` (symmetric) or ``δ·CE_c`` (asymmetric: no
      suppression of the rare class).
    - modified focal Tversky, mean over classes: rare ``(1-mTI)^(1-γ)``; background ``(1-mTI)^(1-γ)`` (symmetric)
      or ``1-mTI`` (asymmetric). In binary mode the unit of a channel is the mean of its two classes.

    In the binary case the asymmetric variant is MONAI's ``AsymmetricUnifiedFocalLoss`` with its focal term summed
    (not averaged) over the two classes, as in the reference implementation.

    Args:
        variant: ``"asymmetric"`` (default) or ``"symmetric"``.
        lambda_focal: λ in [0, 1]. Default 0.5.
        delta: δ in [0, 1], weight of the rare class and of false negatives. Default 0.6.
        gamma: γ in [0, 1). Default 0.5.
        rare_classes: channel ids of the rare classes (categorical mode only). Default None (all but 0).
    """

    options_cls = D.UnifiedFocalOptions
    compute = staticmethod(D._unified_focal)
