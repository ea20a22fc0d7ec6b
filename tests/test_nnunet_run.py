"""``monai-segloss nnunet-train`` (monai_segloss/nnunet/run.py): the trainer lookup that avoids nnU-Net's Primus
modules (timm), and the checks before training. A real run, from the wheel, is in tests/test_user_path.py (slow)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("nnunetv2", reason="nnunetv2 is not installed (the nnunet extra; make test installs it)")

from monai_segloss.app.cli import main  # noqa: E402
from monai_segloss.nnunet import TRAINER_NAMES  # noqa: E402
from monai_segloss.nnunet import trainers as T  # noqa: E402
from monai_segloss.nnunet.run import find_trainer, train  # noqa: E402


def test_find_trainer_needs_no_timm(monkeypatch):
    """Our trainers and nnU-Net's base class are found without scanning nnU-Net's package (whose Primus trainers
    import timm): with timm made unimportable, every name still resolves."""
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    for name in TRAINER_NAMES:
        assert find_trainer(name) is getattr(T, name)
    assert find_trainer("nnUNetTrainer").__name__ == "nnUNetTrainer"


def test_find_trainer_in_ext_folder_and_unknown(tmp_path, monkeypatch):
    (tmp_path / "my_trainers.py").write_text(
        "from monai_segloss.nnunet.trainers import nnUNetTrainerSegLoss_FocalTversky\n\n"
        "class MyShortTrainer(nnUNetTrainerSegLoss_FocalTversky):\n    pass\n")
    monkeypatch.setenv("nnUNet_extTrainer", str(tmp_path))
    assert find_trainer("MyShortTrainer").__name__ == "MyShortTrainer"
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ValueError, match="trainer 'NoSuchTrainer' is not one of monai-segloss"):
        find_trainer("NoSuchTrainer")


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": 0}, "epochs must be a positive int or None, got 0"),
    ({"iterations_per_epoch": 2.5}, "iterations_per_epoch must be a positive int or None, got 2.5"),
    ({"continue_training": True, "validation_only": True}, "continue_training and validation_only exclude"),
])
def test_train_checks_its_arguments_first(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train("1", "3d_fullres", 0, **kwargs)


def test_cli_unknown_dataset_is_one_line(tmp_path, monkeypatch, capsys):
    for key in ("raw", "preprocessed", "results"):
        (tmp_path / key).mkdir()
        monkeypatch.setenv(f"nnUNet_{key}", str(tmp_path / key))
    assert main(["nnunet-train", "991", "3d_fullres", "0", "-device", "cpu", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: Could not find a dataset with the ID 991 (nnUNet_raw={tmp_path / 'raw'}, "
                   f"nnUNet_preprocessed={tmp_path / 'preprocessed'})\n")
    monkeypatch.delenv("nnUNet_preprocessed")
    assert main(["nnunet-train", "1", "3d_fullres", "0", "-device", "cpu"]) == 2
    assert capsys.readouterr().err.startswith("error: nnUNet_preprocessed is not set: export nnU-Net's environment")
