"""monai_segloss: segmentation losses for 2D/3D medical images, as a MONAI plugin.

Every loss is a ``torch.nn.Module`` (``monai_segloss.SegDiceLoss`` …) over a functional form
(``monai_segloss.functional.dice_loss`` …), registered under a key (``get_loss("dice", softmax=True)``).
"""

from . import functional
from .evaluation.lesion_metrics import LesionWiseMetric, LesionWiseStats, lesion_wise_stats
from .evaluation.postprocess import LesionPostprocessd, lesion_mask
from .geometry.transforms import LesionInstancesd, SignedDistanceMapd
from .losses import *  # noqa: F401,F403  (registers every loss)
from .losses import __all__ as _loss_names
from .losses.from_monai import from_monai
from .losses.registry import available_losses, get_loss, loss_class, register_loss
from .training import bundle_runs as _bundle_runs  # noqa: F401  (the bundles name monai_segloss.training.bundle_runs)
from .training.checkpoints import latest_checkpoint
from .training.deep_supervision import DeepSupervisionWrapper
from .training.handlers import BatchMapsHandler, LossScheduleHandler
from .training.schedules import LinearRamp

__version__ = "0.2.0"

__all__ = [*_loss_names, "DeepSupervisionWrapper", "LinearRamp", "LesionWiseMetric", "LesionWiseStats",
           "lesion_wise_stats", "LesionPostprocessd", "lesion_mask", "latest_checkpoint", "SignedDistanceMapd",
           "LesionInstancesd", "BatchMapsHandler", "LossScheduleHandler", "available_losses", "get_loss", "loss_class",
           "register_loss", "from_monai", "functional"]
