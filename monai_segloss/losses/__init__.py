"""Loss modules, one module per family; importing this package registers every loss.

Naming: the class of the loss registered as ``key`` is ``<Key>Loss`` (``focal_tversky`` -> ``FocalTverskyLoss``),
with the prefix ``Seg`` where ``monai.losses`` or ``torch.nn`` already has that name (``dice`` -> ``SegDiceLoss``,
``bce`` -> ``SegBCELoss``); its functional form is ``<key>_loss`` and its options class ``<Key>Options``. Earlier
names are kept as deprecated aliases.
"""

from .compound import (
    CompoundLoss,
    DiceCECompoundLoss,
    DiceFocalCompoundLoss,
    DiceTopKLoss,
    SegDiceCELoss,
    SegDiceFocalLoss,
    SegGeneralizedDiceFocalLoss,
)
from .distribution import (
    BalancedCELoss,
    BalancedCrossEntropyLoss,
    BinaryCrossEntropyLoss,
    ComboLoss,
    ExpLogLoss,
    SegBCELoss,
    SegCrossEntropyLoss,
    SegFocalLoss,
    TopKCELoss,
    UnifiedFocalLoss,
)
from .geometry import (
    BlobLoss,
    DistancePenalizedCELoss,
    HausdorffDistanceLoss,
    SegBoundaryLoss,
    SegHausdorffDTLoss,
    SegLogHausdorffDTLoss,
    ShapeAwareLoss,
    StructuralSimilarityLoss,
    SurfaceBoundaryLoss,
)
from .region import (
    FocalTverskyLoss,
    JaccardLoss,
    LogCoshDiceLoss,
    SegDiceLoss,
    SegGeneralizedDiceLoss,
    SegMCCLoss,
    SegTverskyLoss,
    SensitivitySpecificityLoss,
    SoftDiceLoss,
    SoftGeneralizedDiceLoss,
    SoftJaccardLoss,
    SoftTverskyLoss,
    WassersteinDiceLoss,
)

__all__ = [
    # region
    "SegDiceLoss", "JaccardLoss", "SegGeneralizedDiceLoss", "SegTverskyLoss", "FocalTverskyLoss", "LogCoshDiceLoss",
    "SensitivitySpecificityLoss", "SegMCCLoss", "WassersteinDiceLoss",
    # distribution and hybrids
    "SegBCELoss", "BalancedCELoss", "SegCrossEntropyLoss", "SegFocalLoss", "TopKCELoss", "ExpLogLoss", "ComboLoss",
    "UnifiedFocalLoss",
    # geometry
    "SegHausdorffDTLoss", "SegLogHausdorffDTLoss", "SegBoundaryLoss", "ShapeAwareLoss", "DistancePenalizedCELoss",
    "StructuralSimilarityLoss", "BlobLoss",
    # compound
    "CompoundLoss", "SegDiceCELoss", "SegDiceFocalLoss", "DiceTopKLoss", "SegGeneralizedDiceFocalLoss",
    # deprecated aliases
    "SoftDiceLoss", "SoftJaccardLoss", "SoftGeneralizedDiceLoss", "SoftTverskyLoss", "BinaryCrossEntropyLoss",
    "BalancedCrossEntropyLoss", "HausdorffDistanceLoss", "SurfaceBoundaryLoss", "DiceCECompoundLoss",
    "DiceFocalCompoundLoss",
]
