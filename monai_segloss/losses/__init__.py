"""Loss modules, one module per family; importing this package registers every loss."""

from .region import (
    FocalTverskyLoss,
    LogCoshDiceLoss,
    SensitivitySpecificityLoss,
    SoftDiceLoss,
    SoftGeneralizedDiceLoss,
    SoftJaccardLoss,
    SoftTverskyLoss,
)

__all__ = ["FocalTverskyLoss", "LogCoshDiceLoss", "SensitivitySpecificityLoss", "SoftDiceLoss",
           "SoftGeneralizedDiceLoss", "SoftJaccardLoss", "SoftTverskyLoss"]
from .geometry import (  # noqa: E402
    BlobLoss,
    DistancePenalizedCELoss,
    HausdorffDistanceLoss,
    ShapeAwareLoss,
    StructuralSimilarityLoss,
    SurfaceBoundaryLoss,
)

__all__ += ["BlobLoss", "DistancePenalizedCELoss", "HausdorffDistanceLoss", "ShapeAwareLoss",
            "StructuralSimilarityLoss", "SurfaceBoundaryLoss"]
