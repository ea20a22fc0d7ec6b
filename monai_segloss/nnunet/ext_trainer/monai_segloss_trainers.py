"""Imported by nnU-Net as a top-level module when ``nnUNet_extTrainer`` names this folder: the monai-segloss
trainers, defined in :mod:`monai_segloss.nnunet.trainers` (an absolute import: nnU-Net imports this file by name)."""

from monai_segloss.nnunet.trainers import *  # noqa: F401,F403
