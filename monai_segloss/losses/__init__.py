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
from .distribution import (  # noqa: E402
    BalancedCrossEntropyLoss,
    BinaryCrossEntropyLoss,
    ComboLoss,
    ExpLogLoss,
    SegCrossEntropyLoss,
    SegFocalLoss,
    UnifiedFocalLoss,
)

__all__ += ["BalancedCrossEntropyLoss", "BinaryCrossEntropyLoss", "ComboLoss", "ExpLogLoss", "SegCrossEntropyLoss",
            "SegFocalLoss", "UnifiedFocalLoss"]
