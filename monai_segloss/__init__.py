"""monai_segloss: segmentation losses for 2D/3D medical images, as a MONAI plugin.

Every loss is a ``torch.nn.Module`` (``monai_segloss.SoftDiceLoss`` …) over a functional form
(``monai_segloss.functional.dice_loss`` …), registered under a key (``get_loss("dice", softmax=True)``).
"""

from . import functional
from .losses import *  # noqa: F401,F403  (registers every loss)
from .losses import __all__ as _loss_names
from .registry import available_losses, get_loss, loss_class, register_loss

__version__ = "0.1.0"

__all__ = [*_loss_names, "available_losses", "get_loss", "loss_class", "register_loss", "functional"]

from .metrics import LesionWiseMetric, LesionWiseStats, lesion_wise_stats  # noqa: E402

__all__ += ["LesionWiseMetric", "LesionWiseStats", "lesion_wise_stats"]
from .checkpoints import latest_checkpoint  # noqa: E402

__all__ += ["latest_checkpoint"]
from .handlers import LossScheduleHandler  # noqa: E402

__all__ += ["LossScheduleHandler"]
