"""Functional API: pure functions ``loss(input, target, mask=None, **options)`` on tensors."""

from .region import (
    dice_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    jaccard_loss,
    log_cosh_dice_loss,
    sensitivity_specificity_loss,
    tversky_loss,
)

__all__ = ["dice_loss", "focal_tversky_loss", "generalized_dice_loss", "jaccard_loss", "log_cosh_dice_loss",
           "sensitivity_specificity_loss", "tversky_loss"]
from .geometry import (  # noqa: E402
    blob_loss,
    boundary_loss,
    distance_penalized_ce_loss,
    hausdorff_dt_loss,
    shape_aware_loss,
    structural_similarity_loss,
)

__all__ += ["blob_loss", "boundary_loss", "distance_penalized_ce_loss", "hausdorff_dt_loss", "shape_aware_loss",
            "structural_similarity_loss"]
