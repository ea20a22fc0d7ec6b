"""Region-based losses (module face). Each class is registered under its key and calls its functional form."""

from __future__ import annotations

from ..functional import region as R
from .base import COMMON_REGION_DOC, SegLoss, append_doc
from .registry import register_loss

__all__ = ["SoftDiceLoss", "SoftJaccardLoss", "SoftGeneralizedDiceLoss", "SoftTverskyLoss", "FocalTverskyLoss",
           "LogCoshDiceLoss", "SensitivitySpecificityLoss"]


@register_loss("dice")
@append_doc(COMMON_REGION_DOC)
class SoftDiceLoss(SegLoss):
    """Soft Dice loss, per (sample, class): ``1 - (2TP + s_nr) / (2TP + FP + FN + s_dr)``.

    Milletari F. et al., "V-Net: Fully convolutional neural networks for volumetric medical image segmentation",
    3DV 2016. Same quantity as ``monai.losses.DiceLoss`` on shared options.

    Args:
        squared_pred: use Σp² + Σg² as the denominator (the V-Net form). Default False.
        jaccard: score MONAI's soft Jaccard ``(2TP + s_nr) / (2(TP + FP + FN) + s_dr)`` instead. Default False.
    """

    options_cls = R.DiceOptions
    compute = staticmethod(R._dice)


@register_loss("jaccard")
@append_doc(COMMON_REGION_DOC)
class SoftJaccardLoss(SegLoss):
    """Soft Jaccard (IoU) loss in MONAI's form, per unit: ``1 - (2TP + s_nr) / (2(TP + FP + FN) + s_dr)``.

    Rahman M. A. & Wang Y., "Optimizing intersection-over-union in deep neural networks for image segmentation",
    ISVC 2016. Same quantity as ``monai.losses.DiceLoss(jaccard=True)``.

    Args:
        squared_pred: use Σp² and Σg² in the denominator. Default False.
    """

    options_cls = R.JaccardOptions
    compute = staticmethod(R._jaccard)


@register_loss("generalized_dice")
@append_doc(COMMON_REGION_DOC)
class SoftGeneralizedDiceLoss(SegLoss):
    """Generalised Dice loss, per sample (or once with ``batch=True``):
    ``1 - (2 Σ_c w_c TP_c + s_nr) / (Σ_c w_c (Σp_c + Σg_c) + s_dr)``.

    Sudre C. H. et al., "Generalised Dice overlap as a deep learning loss function for highly unbalanced
    segmentations", DLMIA 2017. Same quantity as ``monai.losses.GeneralizedDiceLoss``. A class with no target
    voxel gets the largest weight of its sample, as in MONAI; ``weight`` multiplies the Sudre weights.

    Args:
        w_type: ``"square"`` w = 1/(Σg)² (default), ``"simple"`` w = 1/Σg, ``"uniform"`` w = 1.

    The unit of reduction and of the ``empty`` policy is the sample: ``"none"`` gives ``(B,)`` (a 0-d tensor with
    ``batch=True``), and a sample is empty when no kept class has a target voxel (its ``"fp"`` score is the mean
    false-positive rate of its classes).
    """

    options_cls = R.GeneralizedDiceOptions
    compute = staticmethod(R._generalized_dice)


@register_loss("tversky")
@append_doc(COMMON_REGION_DOC)
class SoftTverskyLoss(SegLoss):
    """Tversky loss, per unit: ``1 - (TP + s_nr) / (TP + α·FP + β·FN + s_dr)``.

    Salehi S. S. M. et al., "Tversky loss function for image segmentation using 3D fully convolutional deep
    networks", MLMI 2017. Same quantity as ``monai.losses.TverskyLoss`` (whose defaults are α = β = 0.5).

    Args:
        alpha: weight of false positives. Default 0.3.
        beta: weight of false negatives. Default 0.7 (recall favoured, for small lesions).
    """

    options_cls = R.TverskyOptions
    compute = staticmethod(R._tversky)


@register_loss("focal_tversky")
@append_doc(COMMON_REGION_DOC)
class FocalTverskyLoss(SegLoss):
    """Focal Tversky loss, per unit: ``(1 - TI)^(1/γ)`` with TI the Tversky index.

    Abraham N. & Khan N. M., "A novel focal Tversky loss function with improved attention U-Net for lesion
    segmentation", ISBI 2019. With γ > 1 the exponent is below 1: poorly segmented (small) structures keep a
    large gradient. Near TI = 1 the power is continued linearly below 1e-12 so the gradient stays finite.

    Args:
        alpha: weight of false positives. Default 0.3.
        beta: weight of false negatives. Default 0.7.
        gamma: γ. Default 4/3.
    """

    options_cls = R.FocalTverskyOptions
    compute = staticmethod(R._focal_tversky)


@register_loss("log_cosh_dice")
@append_doc(COMMON_REGION_DOC)
class LogCoshDiceLoss(SegLoss):
    """Log-cosh Dice loss, per unit: ``log(cosh(1 - Dice))``.

    Jadon S., "A survey of loss functions for semantic segmentation", CIBCB 2020. A smoothed Dice loss in
    [0, log cosh 1 ≈ 0.434].

    Args:
        squared_pred: use Σp² + Σg² as the Dice denominator. Default False.
    """

    options_cls = R.LogCoshDiceOptions
    compute = staticmethod(R._log_cosh_dice)


@register_loss("sensitivity_specificity")
@append_doc(COMMON_REGION_DOC)
class SensitivitySpecificityLoss(SegLoss):
    """Sensitivity-specificity loss, per unit:
    ``r·Σ(g-p)²g/(Σg + s_dr) + (1-r)·Σ(g-p)²(1-g)/(Σ(1-g) + s_dr)``.

    Brosch T. et al., "Deep convolutional encoder networks for multiple sclerosis lesion segmentation",
    MICCAI 2015. The first term is the mean squared error over the target voxels (sensitivity), the second over
    the background (specificity); a small ``r`` counters the imbalance of lesion segmentation. Both terms are error
    rates (0 at best), so ``smooth_nr`` is not used: a numerator smoothing would score a class with no target voxel
    as a full error even for a perfect prediction.

    Args:
        r: weight of the sensitivity term, in [0, 1]. Default 0.05.
    """

    options_cls = R.SensitivitySpecificityOptions
    compute = staticmethod(R._sensitivity_specificity)
