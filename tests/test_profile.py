"""`monai-segloss profile`: statistics on label volumes with known content, recommendations and errors."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_segloss.app.cli import main
from monai_segloss.app.evidence import study_evidence
from monai_segloss.app.profile import profile_dataset, recommend_loss


def _save(path, data, zooms=(1.0, 1.0, 2.0)):
    img = nib.Nifti1Image(data, np.diag([*zooms, 1.0]))
    img.header.set_zooms(zooms)
    nib.save(img, str(path))


@pytest.fixture
def lesion_folder(tmp_path):
    """3 cases of 20x20x10 = 4000 voxels: case 0 has a 2x2x2 and a 1x1x1 lesion, case 1 a 3x3x3 one, case 2 none."""
    a = np.zeros((20, 20, 10), np.uint8)
    a[2:4, 2:4, 2:4] = 1
    a[10, 10, 5] = 1
    b = np.zeros((20, 20, 10), np.uint8)
    b[5:8, 5:8, 5:8] = 1
    c = np.zeros((20, 20, 10), np.uint8)
    for name, d in zip("abc", (a, b, c), strict=True):
        _save(tmp_path / f"{name}.nii.gz", d)
    return tmp_path


def test_profile_known_fractions(lesion_folder):
    prof = profile_dataset(lesion_folder)
    assert prof.num_cases == 3 and prof.total_voxels == 12000
    fg = prof.classes[1]
    assert fg.label == 1
    assert fg.voxel_fraction == pytest.approx((8 + 1 + 27) / 12000)
    assert fg.lesion_count == 3
    assert fg.size_voxels["min"] == 1 and fg.size_voxels["median"] == 8 and fg.size_voxels["max"] == 27
    assert fg.size_mm3["max"] == pytest.approx(54.0)  # voxels of 1 x 1 x 2 mm
    assert fg.cases_without == pytest.approx(1 / 3)
    assert prof.cases_without_foreground == pytest.approx(1 / 3)
    key, kwargs, reasons = recommend_loss(prof)
    evidence = study_evidence()
    assert key == evidence["validation_best"] and kwargs["softmax"] is True and kwargs["empty"] == "fp"
    assert kwargs["include_background"] is False
    assert any("heavy imbalance" in r for r in reasons)


def test_profile_dataset_json_multiclass_and_recommendations(tmp_path):
    (tmp_path / "labelsTr").mkdir()
    (tmp_path / "imagesTr").mkdir()
    lab = np.zeros((10, 10, 10), np.uint8)
    lab[:5] = 1          # 50 % organ
    lab[0, 0, :5] = 2    # 0.5 % tumour
    _save(tmp_path / "labelsTr" / "c0.nii.gz", lab)
    _save(tmp_path / "imagesTr" / "c0.nii.gz", np.zeros((10, 10, 10), np.float32))
    meta = {"labels": {"0": "background", "1": "organ", "2": "tumour"},
            "training": [{"image": "./imagesTr/c0.nii.gz", "label": "./labelsTr/c0.nii.gz"}]}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    prof = profile_dataset(tmp_path / "dataset.json")
    assert [c.name for c in prof.classes] == ["background", "organ", "tumour"]
    assert prof.classes[2].voxel_fraction == pytest.approx(0.005)
    key, kwargs, _ = recommend_loss(prof)
    assert key == "unified_focal" and kwargs["variant"] == "asymmetric" and kwargs["softmax"] is True
    lab[0, :, :] = 2     # tumour now 10 %, organ 40 %
    _save(tmp_path / "labelsTr" / "c0.nii.gz", lab)
    assert recommend_loss(profile_dataset(tmp_path))[0] == "dice"


def test_profile_balanced_recommends_cross_entropy(tmp_path):
    lab = np.zeros((10, 10, 4), np.uint8)
    lab[:5] = 1
    _save(tmp_path / "a.nii", lab)
    assert recommend_loss(profile_dataset(tmp_path))[0] == "dice_ce"


def test_profile_errors(tmp_path, lesion_folder, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no label NIfTI"):
        profile_dataset(empty)
    (lesion_folder / "z_broken.nii.gz").write_bytes(b"not a nifti at all")
    with pytest.raises(ValueError, match="z_broken.nii.gz"):
        profile_dataset(lesion_folder)
    assert main(["profile", str(empty)]) == 2
    assert "no label NIfTI" in capsys.readouterr().err


def test_profile_label_image_mismatch(tmp_path):
    _save(tmp_path / "lab.nii.gz", np.zeros((8, 8, 8), np.uint8))
    _save(tmp_path / "img.nii.gz", np.zeros((8, 8, 9), np.float32))
    (tmp_path / "dataset.json").write_text(json.dumps({"training": [{"image": "img.nii.gz",
                                                                      "label": "lab.nii.gz"}]}))
    with pytest.raises(ValueError, match="lab.nii.gz.*img.nii.gz"):
        profile_dataset(tmp_path)


def test_profile_cli_prints_and_writes_override(lesion_folder, tmp_path, capsys):
    out = tmp_path / "override.json"
    assert main(["profile", str(lesion_folder), "--write-override", str(out)]) == 0
    text = capsys.readouterr().out
    best = study_evidence()["validation_best"]
    assert f"recommended loss: {best}" in text and "heavy imbalance" in text
    assert "study 'full' (5 seeds" in text and "docs/study/full/report.md" in text  # the evidence behind the rule
    cfg = json.loads(out.read_text())
    bundle = json.loads((Path(__file__).resolve().parents[1] / "bundles" / "lesion_focal_tversky" / "configs"
                         / f"{best}.json").read_text())["loss"]
    assert cfg["loss"] == {**bundle, "empty": "fp"}  # the configuration the study trained (+ empty cases)
    assert main(["profile", str(lesion_folder), "--write-override", str(out)]) == 2  # no silent overwrite
    assert main(["profile", str(lesion_folder), "--write-override", str(out), "--overwrite", "--json"]) == 0
