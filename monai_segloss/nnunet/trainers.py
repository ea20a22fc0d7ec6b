"""nnU-Net v2 trainers whose loss is a monai-segloss loss; everything else is nnU-Net's ``nnUNetTrainer``.

Only the loss changes: nnU-Net's deep supervision (its ``DeepSupervisionWrapper`` with the plan's scale weights,
kept as nnU-Net builds it, with our loss inside), the ignore label, region-based training with sigmoid outputs,
DDP, data augmentation, schedule, checkpoints and inference are nnU-Net's own. See ``docs/nnunet.md``.

================================== ==========================================================================
``-tr`` name                       loss
================================== ==========================================================================
``nnUNetTrainerSegLoss``           any registry key or compound, from the JSON spec in
                                   ``$MONAI_SEGLOSS_NNUNET_LOSS`` (inline JSON or a file path)
``nnUNetTrainerSegLoss_FocalTversky`` ``focal_tversky`` (Abraham 2019: α 0.3, β 0.7, γ 4/3)
``nnUNetTrainerSegLoss_UnifiedFocal`` ``unified_focal``, asymmetric (Yeung 2022: λ 0.5, δ 0.6, γ 0.5)
``nnUNetTrainerSegLoss_DiceFocal``   Dice + focal (γ 2), weights 1 and 1
``nnUNetTrainerSegLoss_DiceTopK``    Dice + ``topk_ce`` (TopK cross-entropy, nnU-Net's k = 10 %), weights 1 and 1
``nnUNetTrainerSegLoss_Blob``        ``blob`` (Kofler 2023: 2·Dice + 1·mean lesion-wise Dice)
``nnUNetTrainerSegLoss_DiceBoundary`` α·Dice + (1 - α)·``boundary``, α from 1 down to 0.01 by 0.01 per epoch
================================== ==========================================================================

In label-map mode the Dice-type terms leave the background out (nnU-Net's ``do_bg=False``) and the voxel terms
(focal, TopK) keep every class, as nnU-Net's ``DC_and_CE_loss`` and ``DC_and_topk_loss`` do; in region mode every
output is a foreground region and every channel is scored. This module imports nnunetv2.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from ..losses.compound import CompoundLoss
from ..training.schedules import LinearRamp
from .spec import SPEC_ENV, NNUNetTargets, build_loss, check_spec, probe_loss, read_spec

__all__ = ["nnUNetTrainerSegLoss", "nnUNetTrainerSegLoss_FocalTversky", "nnUNetTrainerSegLoss_UnifiedFocal",
           "nnUNetTrainerSegLoss_DiceFocal", "nnUNetTrainerSegLoss_DiceTopK", "nnUNetTrainerSegLoss_Blob",
           "nnUNetTrainerSegLoss_DiceBoundary"]

_CUDA = torch.device("cuda")  # nnU-Net's default device
SPEC_FILE = "segloss_spec.json"  # written into the fold's output folder: the loss this run trains with


class nnUNetTrainerSegLoss(nnUNetTrainer):
    """nnU-Net's trainer with the loss of a monai-segloss spec (``monai_segloss.nnunet.spec``).

    The generic trainer reads the spec from the environment variable ``MONAI_SEGLOSS_NNUNET_LOSS`` (an inline JSON
    object or the path of a JSON file); subclasses return theirs from :meth:`loss_spec`. The spec is validated, the
    loss built and run once on a small dummy batch in ``__init__``, so a bad key or option, or a loss that cannot
    take nnU-Net's outputs, stops ``nnUNetv2_train`` at start with a ``ValueError``.
    The spec is written to ``segloss_spec.json`` in the fold's output folder and printed to nnU-Net's log; a folder
    that already holds a run of another spec is refused (a second run of the generic trainer with another loss
    would otherwise mix with the first: give it its own ``nnUNet_results``).

    Attributes:
        segloss_targets: the :class:`~monai_segloss.nnunet.spec.NNUNetTargets` read from the plans and dataset.json.
        segloss_spec: the validated spec.
    """

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = _CUDA):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.segloss_targets = NNUNetTargets(regions=self.label_manager.has_regions,
                                             ignore_label=self.label_manager.ignore_label,
                                             batch_dice=bool(self.configuration_manager.batch_dice),
                                             ddp=self.is_ddp)
        self.segloss_spec = check_spec(self.loss_spec())
        self._segloss = build_loss(self.segloss_spec, self.segloss_targets)
        probe_loss(self.segloss_spec, self.segloss_targets, self.label_manager.num_segmentation_heads,
                   len(self.configuration_manager.patch_size))
        self._record_spec()

    # ---- the loss
    def loss_spec(self) -> dict[str, Any]:
        """The loss spec of this trainer; the generic trainer reads ``$MONAI_SEGLOSS_NNUNET_LOSS``."""
        value = os.environ.get(SPEC_ENV)
        if value is None:
            raise ValueError(f"{type(self).__name__} reads its loss from the environment variable {SPEC_ENV}: set "
                             'it to a JSON object such as \'{"loss": "focal_tversky", "kwargs": '
                             '{"include_background": false}}\' or to the path of a JSON file (see docs/nnunet.md)')
        return read_spec(value)

    def foreground_only(self) -> dict[str, Any]:
        """``{"include_background": False}`` in label-map mode (nnU-Net's Dice leaves channel 0 out); nothing in
        region mode, where every output channel is a foreground region."""
        return {} if self.segloss_targets.regions else {"include_background": False}

    def _record_spec(self) -> None:
        record = {"trainer": type(self).__name__, "spec": self.segloss_spec}
        path = os.path.join(self.output_folder, SPEC_FILE)
        if os.path.isfile(path):
            with open(path) as f:
                previous = json.load(f)
            if previous.get("spec") != self.segloss_spec:
                raise ValueError(f"{path} records a run with another loss spec ({previous.get('spec')}); this run "
                                 f"uses {self.segloss_spec}. Use another nnUNet_results folder (or remove that run)")
        if self.local_rank == 0:
            with open(path, "w") as f:
                json.dump(record, f, indent=2)
                f.write("\n")
        self.print_to_log_file(f"monai-segloss loss spec: {json.dumps(self.segloss_spec)}\n{self._segloss}",
                               also_print_to_console=False)

    def _build_loss(self):
        nnunet_loss = super()._build_loss()
        if isinstance(nnunet_loss, DeepSupervisionWrapper):
            nnunet_loss.loss = self._segloss  # nnU-Net's deep supervision and scale weights, our loss at each scale
            return nnunet_loss
        return self._segloss

    def _compound_losses(self) -> list[CompoundLoss]:
        return [m for m in self._segloss.modules() if isinstance(m, CompoundLoss)]

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        for loss in self._compound_losses():
            loss.set_epoch(self.current_epoch)
            if any(s is not None for s in loss.schedules):
                weights = {k: round(v, 4) for k, v in loss.current_weights().items()}
                self.print_to_log_file(f"loss term weights: {weights}")


class nnUNetTrainerSegLoss_FocalTversky(nnUNetTrainerSegLoss):
    """Focal Tversky loss (Abraham & Khan 2019; α 0.3, β 0.7, γ 4/3), background left out in label-map mode."""

    def loss_spec(self) -> dict[str, Any]:
        return {"loss": "focal_tversky", "kwargs": self.foreground_only()}


class nnUNetTrainerSegLoss_UnifiedFocal(nnUNetTrainerSegLoss):
    """Asymmetric unified focal loss (Yeung et al. 2022; λ 0.5, δ 0.6, γ 0.5); channel 0 is its background class
    in label-map mode, each region a binary problem in region mode."""

    def loss_spec(self) -> dict[str, Any]:
        return {"loss": "unified_focal", "kwargs": {"variant": "asymmetric"}}


class nnUNetTrainerSegLoss_DiceFocal(nnUNetTrainerSegLoss):
    """Dice (background left out in label-map mode) + focal loss (γ 2, every class), weights 1 and 1."""

    def loss_spec(self) -> dict[str, Any]:
        return {"terms": [{"loss": "dice", "kwargs": self.foreground_only()},
                          {"loss": "focal", "kwargs": {"gamma": 2.0}}]}


class nnUNetTrainerSegLoss_DiceTopK(nnUNetTrainerSegLoss):
    """Dice (background left out in label-map mode) + TopK cross-entropy (``topk_ce``, its default k = 10 % as
    nnU-Net's ``nnUNetTrainerDiceTopK10Loss``), weights 1 and 1."""

    def loss_spec(self) -> dict[str, Any]:
        return {"terms": [{"loss": "dice", "kwargs": self.foreground_only()}, {"loss": "topk_ce"}]}


class nnUNetTrainerSegLoss_Blob(nnUNetTrainerSegLoss):
    """Blob loss (Kofler et al. 2023) over Dice: 2·Dice + mean lesion-wise Dice, lesions = connected components of
    each foreground class (computed per batch and deep-supervision scale), background left out."""

    def loss_spec(self) -> dict[str, Any]:
        return {"loss": "blob", "kwargs": self.foreground_only()}


class nnUNetTrainerSegLoss_DiceBoundary(nnUNetTrainerSegLoss):
    """α·Dice + (1 - α)·boundary loss (Kervadec et al. 2019), α = 1 at epoch 0, decreasing by 0.01 per nnU-Net
    epoch down to 0.01 (reached at epoch 99): :meth:`monai_segloss.LinearRamp.kervadec`. The level sets are
    computed per batch and deep-supervision scale, in voxels of that scale; background left out."""

    def loss_spec(self) -> dict[str, Any]:
        region, boundary = LinearRamp.kervadec()
        fg = self.foreground_only()

        def ramp(r: LinearRamp) -> dict[str, Any]:
            return {"start": r.start, "end": r.end, "length": r.length, "delay": r.delay}

        return {"terms": [{"loss": "dice", "kwargs": fg, "schedule": ramp(region), "unit": "epoch"},
                          {"loss": "boundary", "kwargs": fg, "schedule": ramp(boundary), "unit": "epoch"}]}
