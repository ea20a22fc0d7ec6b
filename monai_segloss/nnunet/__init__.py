"""nnU-Net v2 trainers whose loss is any monai-segloss loss (``pip install monai-segloss[nnunet]``).

nnU-Net finds trainers by class name in its own package and in the folders of the ``nnUNet_extTrainer`` environment
variable (nnunetv2 >= 2.8)::

    export nnUNet_extTrainer=$(monai-segloss nnunet-path)
    nnUNetv2_train DATASET 3d_fullres 0 -tr nnUNetTrainerSegLoss_FocalTversky

:func:`ext_trainer_folder` is that folder: it holds one module that re-exports the trainers of
:mod:`monai_segloss.nnunet.trainers`. Importing this package does not import nnunetv2 (only ``.trainers`` does);
:mod:`monai_segloss.nnunet.spec` (the JSON loss spec of the generic trainer) needs torch only.
"""

from __future__ import annotations

from pathlib import Path

from .spec import SPEC_ENV, NNUNetLoss, NNUNetTargets, build_loss, check_spec, read_spec

__all__ = ["ext_trainer_folder", "SPEC_ENV", "NNUNetLoss", "NNUNetTargets", "build_loss", "check_spec", "read_spec",
           "TRAINER_NAMES"]

TRAINER_NAMES = ("nnUNetTrainerSegLoss", "nnUNetTrainerSegLoss_FocalTversky", "nnUNetTrainerSegLoss_UnifiedFocal",
                 "nnUNetTrainerSegLoss_DiceFocal", "nnUNetTrainerSegLoss_DiceTopK", "nnUNetTrainerSegLoss_Blob",
                 "nnUNetTrainerSegLoss_DiceBoundary")


def ext_trainer_folder() -> Path:
    """The folder to put in ``nnUNet_extTrainer`` (inside the installed package; nothing is written to nnU-Net's)."""
    return Path(__file__).resolve().parent / "ext_trainer"
