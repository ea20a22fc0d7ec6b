"""Train a trainer by name with nnU-Net's own pipeline, on any torch build: ``monai-segloss nnunet-train``.

``nnUNetv2_train -tr NAME`` looks the trainer up by scanning nnU-Net's trainer package first, which imports every
module there; its Primus trainers import ``timm`` (and so ``torchvision``), which a CPU-only torch install lacks
(docs/nnunet.md). :func:`find_trainer` looks in this package's trainers, nnU-Net's base ``nnUNetTrainer`` and the
``nnUNet_extTrainer`` folders first, and scans nnU-Net's package only for another name. :func:`train` then does what
``nnUNetv2_train`` does for one process (nnunetv2 2.8: ``nnunetv2.run.run_training``): build the trainer from the
preprocessed plans, load a checkpoint with ``continue_training`` (``--c``) or ``validation_only`` (``--val``),
``run_training()``, and nnU-Net's final validation, ``perform_actual_validation``. The budget can be shortened:
``epochs`` (nnU-Net's ``num_epochs``, default 1000), ``iterations_per_epoch`` (250) and ``val_iterations_per_epoch``
(50), set on the trainer after it is built, as a trainer subclass would.

nnU-Net's environment variables (``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results``) must be set, as for its
own commands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["find_trainer", "train"]


def _positive(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


def find_trainer(name: str) -> type:
    """The nnU-Net trainer class called ``name``: one of ours (:data:`monai_segloss.nnunet.TRAINER_NAMES`),
    ``nnUNetTrainer``, a class in a folder of ``nnUNet_extTrainer``, or else (last, as it imports every module there,
    Primus and timm included) one of nnU-Net's own package.

    Raises:
        ValueError: no trainer of that name (or nnU-Net's package cannot be scanned: the missing module is named).
    """
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from . import TRAINER_NAMES, ext_trainer_folder
    from . import trainers as ours

    if not isinstance(name, str) or not name:
        raise TypeError(f"trainer must be a non-empty str, got {name!r}")
    if name in TRAINER_NAMES:
        return getattr(ours, name)
    if name == "nnUNetTrainer":
        return nnUNetTrainer
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    folders = [p for p in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if p.strip()]
    for folder in folders:
        if Path(folder).resolve() == ext_trainer_folder() or not Path(folder).is_dir():
            continue
        found = recursive_find_python_class(folder, name, None, base_folder=folder,
                                            cleanup_imports_from_base_folder=True)
        if found is not None:
            return found
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    try:
        return recursive_find_trainer_class_by_name(name)
    except ImportError as err:
        raise ValueError(f"trainer {name!r} is not one of monai-segloss ({', '.join(TRAINER_NAMES)}) nor in "
                         f"nnUNet_extTrainer; nnU-Net's own trainers cannot be scanned here: {err}") from None
    except RuntimeError as err:
        raise ValueError(f"no nnU-Net trainer named {name!r} ({str(err).split('.')[0]})") from None


def train(dataset: str | int, configuration: str, fold: int | str, trainer: str = "nnUNetTrainerSegLoss",
          plans: str = "nnUNetPlans", device: str | Any = "cpu", epochs: int | None = None,
          iterations_per_epoch: int | None = None, val_iterations_per_epoch: int | None = None,
          continue_training: bool = False, validation_only: bool = False, export_probabilities: bool = False,
          disable_checkpointing: bool = False) -> Path:
    """Train fold ``fold`` of ``configuration`` with the trainer ``trainer``, then run nnU-Net's final validation.

    Args:
        dataset: the data set's id or name (``DatasetXXX_Name``), preprocessed by ``nnUNetv2_plan_and_preprocess``.
        configuration: e.g. ``"3d_fullres"``.
        fold: 0-4 or ``"all"``.
        trainer: a trainer class name (:func:`find_trainer`). Default ``"nnUNetTrainerSegLoss"``.
        plans: the plans identifier. Default ``"nnUNetPlans"``.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or a ``torch.device``. Default ``"cpu"``.
        epochs: nnU-Net's ``num_epochs`` (default None: the trainer's, 1000 for nnU-Net's).
        iterations_per_epoch: training iterations per epoch (None: the trainer's, 250).
        val_iterations_per_epoch: validation iterations per epoch (None: the trainer's, 50).
        continue_training: resume from the fold's latest checkpoint (``--c``).
        validation_only: only the final validation of a finished training (``--val``).
        export_probabilities: also save the validation's softmax outputs (``--npz``).
        disable_checkpointing: write no checkpoint (nnU-Net's ``--disable_checkpointing``).

    Returns:
        the fold's output folder (checkpoints, ``validation/summary.json``, the training log).

    Raises:
        ValueError: unknown trainer, bad budget, or ``continue_training`` with ``validation_only``.
    """
    import torch
    from nnunetv2.run.run_training import maybe_load_checkpoint
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    for name, value in (("epochs", epochs), ("iterations_per_epoch", iterations_per_epoch),
                        ("val_iterations_per_epoch", val_iterations_per_epoch)):
        _positive(name, value)
    if continue_training and validation_only:
        raise ValueError("continue_training and validation_only exclude each other (nnU-Net's --c and --val)")
    preprocessed = os.environ.get("nnUNet_preprocessed")
    if not preprocessed:
        raise ValueError("nnUNet_preprocessed is not set: export nnU-Net's environment variables (nnUNet_raw, "
                         "nnUNet_preprocessed, nnUNet_results) as for nnUNetv2_train")
    cls = find_trainer(trainer)
    try:
        name = maybe_convert_to_dataset_name(int(dataset) if str(dataset).isdigit() else str(dataset))
    except RuntimeError as err:  # nnU-Net's message, less its listing of the environment
        raise ValueError(f"{str(err).splitlines()[0].split('. ')[0]} (nnUNet_raw={os.environ.get('nnUNet_raw')}, "
                         f"nnUNet_preprocessed={preprocessed})") from None
    folder = Path(preprocessed) / name
    plans_file = folder / f"{plans}.json"
    if not plans_file.is_file():
        raise ValueError(f"no plans {plans_file}: run nnUNetv2_plan_and_preprocess -d {dataset} first")
    plans_dict = json.loads(plans_file.read_text())
    plans_dict["continue_training"] = continue_training  # nnunetv2 2.8.1's trainer reads (pops) it
    fold_value: int | str = int(fold) if str(fold).isdigit() else str(fold)
    tr = cls(plans=plans_dict, configuration=configuration, fold=fold_value,
             dataset_json=json.loads((folder / "dataset.json").read_text()),
             device=device if isinstance(device, torch.device) else torch.device(device))
    if epochs is not None:
        tr.num_epochs = epochs
    if iterations_per_epoch is not None:
        tr.num_iterations_per_epoch = iterations_per_epoch
    if val_iterations_per_epoch is not None:
        tr.num_val_iterations_per_epoch = val_iterations_per_epoch
    tr.disable_checkpointing = disable_checkpointing
    maybe_load_checkpoint(tr, continue_training, validation_only, None)
    if not validation_only:
        tr.run_training()
    tr.perform_actual_validation(export_probabilities)
    return Path(tr.output_folder)
