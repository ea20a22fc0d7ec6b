"""Functional API: pure functions ``<key>_loss(input, target, mask=None, **options)`` on tensors, one per registry
key, each with the signature and ``Args:`` of its options class."""

from .calibration import nacl_loss
from .compound import dice_ce_loss, dice_cldice_loss, dice_focal_loss, dice_topk_loss, generalized_dice_focal_loss
from .distribution import (
    balanced_ce_loss,
    bce_loss,
    combo_loss,
    cross_entropy_loss,
    exp_log_loss,
    focal_loss,
    topk_ce_loss,
    unified_focal_loss,
)
from .geometry import (
    blob_loss,
    boundary_loss,
    distance_penalized_ce_loss,
    hausdorff_dt_loss,
    log_hausdorff_dt_loss,
    shape_aware_loss,
    structural_similarity_loss,
)
from .lovasz import lovasz_loss
from .region import (
    dice_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    jaccard_loss,
    log_cosh_dice_loss,
    mcc_loss,
    sensitivity_specificity_loss,
    tversky_loss,
    wasserstein_dice_loss,
)
from .topology import cldice_loss

__all__ = [
    "dice_loss", "jaccard_loss", "generalized_dice_loss", "tversky_loss", "focal_tversky_loss", "log_cosh_dice_loss",
    "sensitivity_specificity_loss", "mcc_loss", "wasserstein_dice_loss",
    "bce_loss", "balanced_ce_loss", "cross_entropy_loss", "focal_loss", "topk_ce_loss", "exp_log_loss", "combo_loss",
    "unified_focal_loss",
    "hausdorff_dt_loss", "log_hausdorff_dt_loss", "boundary_loss", "shape_aware_loss", "distance_penalized_ce_loss",
    "structural_similarity_loss", "blob_loss",
    "cldice_loss", "lovasz_loss", "nacl_loss",
    "dice_ce_loss", "dice_focal_loss", "dice_topk_loss", "generalized_dice_focal_loss", "dice_cldice_loss",
]
