"""Loss modules, one module per family; importing this package registers every loss."""

from .distribution import (
    BalancedCrossEntropyLoss,
    BinaryCrossEntropyLoss,
    ComboLoss,
    ExpLogLoss,
    SegCrossEntropyLoss,
    SegFocalLoss,
    UnifiedFocalLoss,
)
from .geometry import (
    BlobLoss,
    DistancePenalizedCELoss,
    HausdorffDistanceLoss,
    ShapeAwareLoss,
    StructuralSimilarityLoss,
    SurfaceBoundaryLoss,
)
from .region import (
    FocalTverskyLoss,
    LogCoshDiceLoss,
    SensitivitySpecificityLoss,
    SoftDiceLoss,
    SoftGeneralizedDiceLoss,
    SoftJaccardLoss,
    SoftTverskyLoss,
)

__all__ = [
    # region
    "FocalTverskyLoss", "LogCoshDiceLoss", "SensitivitySpecificityLoss", "SoftDiceLoss", "SoftGeneralizedDiceLoss",
    "SoftJaccardLoss", "SoftTverskyLoss",
    # distribution
    "BalancedCrossEntropyLoss", "BinaryCrossEntropyLoss", "ComboLoss", "ExpLogLoss", "SegCrossEntropyLoss",
    "SegFocalLoss", "UnifiedFocalLoss",
    # geometry
    "BlobLoss", "DistancePenalizedCELoss", "HausdorffDistanceLoss", "ShapeAwareLoss", "StructuralSimilarityLoss",
    "SurfaceBoundaryLoss",
]
