"""Loss modules, one module per family; importing this package registers every loss.

Naming: the class of the loss registered as ``key`` is ``<Key>Loss`` (``focal_tversky`` -> ``FocalTverskyLoss``),
with the prefix ``Seg`` where ``monai.losses`` or ``torch.nn`` already has that name (``dice`` -> ``SegDiceLoss``,
``bce`` -> ``SegBCELoss``); its functional form is ``<key>_loss`` and its options class ``<Key>Options``. Earlier
names are kept as deprecated aliases.
"""

from .calibration import SegNACLLoss
from .compound import (
    CompoundLoss,
    DiceCECompoundLoss,
    DiceClDiceLoss,
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
from .lovasz import LovaszLoss
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
from .topology import ClDiceLoss

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
    # topology, Lovász and calibration
    "ClDiceLoss", "LovaszLoss", "SegNACLLoss",
    # compound
    "CompoundLoss", "SegDiceCELoss", "SegDiceFocalLoss", "DiceTopKLoss", "SegGeneralizedDiceFocalLoss",
    "DiceClDiceLoss",
    # deprecated aliases
    "SoftDiceLoss", "SoftJaccardLoss", "SoftGeneralizedDiceLoss", "SoftTverskyLoss", "BinaryCrossEntropyLoss",
    "BalancedCrossEntropyLoss", "HausdorffDistanceLoss", "SurfaceBoundaryLoss", "DiceCECompoundLoss",
    "DiceFocalCompoundLoss",
]
