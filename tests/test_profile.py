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
    # the evidence behind the rule, cited as an installed package's user can get it (the report is not in the wheel)
    assert "study 'full' (5 seeds" in text and "report.md of `monai-segloss study --setting full`" in text
    cfg = json.loads(out.read_text())
    bundle = json.loads((Path(__file__).resolve().parents[1] / "bundles" / "lesion_focal_tversky" / "configs"
                         / f"{best}.json").read_text())["loss"]
    assert cfg["loss"] == {**bundle, "empty": "fp"}  # the configuration the study trained (+ empty cases)
    assert main(["profile", str(lesion_folder), "--write-override", str(out)]) == 2  # no silent overwrite
    assert main(["profile", str(lesion_folder), "--write-override", str(out), "--overwrite", "--json"]) == 0


def test_written_override_merges_with_train_json(lesion_folder, tmp_path):
    """Merged after the bundle's train.json as the docs merge override files, the written file swaps the loss and
    keeps train.json's imports (it once replaced them, and training stopped with NameError: os)."""
    from monai.bundle import ConfigParser

    import monai_segloss

    out = tmp_path / "override.json"
    assert main(["profile", str(lesion_folder), "--write-override", str(out)]) == 0
    assert "imports" not in json.loads(out.read_text())
    train = Path(__file__).resolve().parents[1] / "bundles" / "lesion_focal_tversky" / "configs" / "train.json"
    parser = ConfigParser()
    parser.read_config([str(train), str(out)])
    parser["bundle_root"] = str(tmp_path)
    assert "$import os" in parser["imports"]
    loss = parser.get_parsed_content("loss")
    assert isinstance(loss, monai_segloss.loss_class(study_evidence()["validation_best"]))
    assert loss.options.empty == "fp"
    assert parser.get_parsed_content("datalist_file") == str(tmp_path / "data" / "synthetic_lesion" / "dataset.json")
    assert parser.get_parsed_content("ckpt_dir").startswith(str(tmp_path / "models" / loss.registry_key) + "-")


def test_undeclared_label_is_profiled_and_warned(tmp_path, capsys):
    """A label value dataset.json does not declare is profiled as "undeclared" and warned about (it changes the
    recommendation), by the same check the bundles refuse such a case with."""
    (tmp_path / "labelsTr").mkdir()
    lab = np.zeros((10, 10, 10), np.uint8)
    lab[:5] = 1
    lab[0, 0, 0] = 3
    _save(tmp_path / "labelsTr" / "c0.nii.gz", lab)
    meta = {"labels": {"0": "background", "1": "organ"}, "training": [{"label": "./labelsTr/c0.nii.gz"}]}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    prof = profile_dataset(tmp_path)
    assert [(c.label, c.name) for c in prof.classes] == [(0, "background"), (1, "organ"), (3, "undeclared")]
    assert prof.classes[2].voxel_fraction == pytest.approx(0.001)
    (warning,) = prof.warnings
    assert warning.startswith("label 3 is not declared in ") and "(labels: 0 background, 1 organ)" in warning
    assert "c0.nii.gz" in warning and "changes the recommendation" in warning
    assert main(["profile", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: label 3 is not declared") == 1


def test_every_bad_case_is_listed_once(tmp_path):
    """The profile refuses with one line per bad case, each naming its file (shape, affine, missing image)."""
    (tmp_path / "labelsTr").mkdir()
    (tmp_path / "imagesTr").mkdir()
    entries = []
    for i, (lab_shape, img_shape, zooms) in enumerate([((8, 8, 8), (8, 8, 8), (1.0, 1.0, 2.0)),
                                                         ((8, 8, 6), (8, 8, 8), (1.0, 1.0, 2.0)),
                                                         ((8, 8, 8), (8, 8, 8), (1.0, 1.0, 1.0))]):
        _save(tmp_path / "labelsTr" / f"c{i}.nii.gz", np.zeros(lab_shape, np.uint8))
        _save(tmp_path / "imagesTr" / f"c{i}.nii.gz", np.zeros(img_shape, np.float32), zooms=zooms)
        entries.append({"image": f"./imagesTr/c{i}.nii.gz", "label": f"./labelsTr/c{i}.nii.gz"})
    entries.append({"image": "./imagesTr/gone.nii.gz", "label": "./labelsTr/c0.nii.gz"})
    (tmp_path / "dataset.json").write_text(json.dumps({"training": entries}))
    with pytest.raises(ValueError) as info:
        profile_dataset(tmp_path)
    lines = str(info.value).splitlines()
    assert lines[0] == "3 of 4 cases failed the data check:"
    assert lines[1].endswith("c1.nii.gz: label shape (8, 8, 6) differs from its image "
                             f"{tmp_path / 'imagesTr' / 'c1.nii.gz'} (8, 8, 8)")
    assert "c2.nii.gz: label affine differs from its image" in lines[2]
    assert lines[3].endswith(f"image file not found: {tmp_path / 'imagesTr' / 'gone.nii.gz'}")
