"""data_scripts/nnunet_raw.py: our MSD layout -> nnU-Net v2's raw format (labels, regions, unannotated slabs)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from data_scripts.nnunet_raw import main, nnunet_labels, to_nnunet_raw
from data_scripts.synthetic import generate

MSD_LABELS = {"0": "background", "1": "organ", "2": "tumour"}


def test_nnunet_labels():
    assert nnunet_labels(MSD_LABELS) == {"background": 0, "organ": 1, "tumour": 2}
    assert nnunet_labels(MSD_LABELS, regions=True, ignore=True) == \
        {"background": 0, "organ": [1, 2], "tumour": [2], "ignore": 3}
    with pytest.raises(ValueError, match="without gaps"):
        nnunet_labels({"0": "background", "2": "tumour"})
    with pytest.raises(ValueError, match="unique and not 'ignore'"):
        nnunet_labels({"0": "background", "1": "ignore"})


@pytest.fixture(scope="module")
def msd(tmp_path_factory):
    root = tmp_path_factory.mktemp("msd")
    generate(root, task="organ_tumour", num_cases=3, shape=(16, 16, 12), foreground_fraction=0.05,
             empty_fraction=0.0, val_frac=0.0, test_frac=0.34)
    return root


def _case_ids(msd, split):
    meta = json.loads((msd / "dataset.json").read_text())
    return [e["image"].split("/")[-1][:-7] for e in meta[split]]


def test_labels_with_unannotated_slabs(msd, tmp_path):
    path = to_nnunet_raw(msd, tmp_path, 7, "Tiny", unannotated_slabs=4)
    assert path == tmp_path / "Dataset007_Tiny" / "dataset.json"
    meta = json.loads(path.read_text())
    assert meta["labels"] == {"background": 0, "organ": 1, "tumour": 2, "ignore": 3}
    assert meta["channel_names"] == {"0": "synthetic MRI"} and meta["file_ending"] == ".nii.gz"
    train, test = _case_ids(msd, "training"), _case_ids(msd, "test")
    assert meta["numTraining"] == len(train) == 2 and len(test) == 1
    for case in train:
        img = tmp_path / "Dataset007_Tiny" / "imagesTr" / f"{case}_0000.nii.gz"
        assert img.read_bytes() == (msd / "imagesTr" / f"{case}.nii.gz").read_bytes()  # copied as is
        src = np.asanyarray(nib.load(msd / "labelsTr" / f"{case}.nii.gz").dataobj)
        out = nib.load(tmp_path / "Dataset007_Tiny" / "labelsTr" / f"{case}.nii.gz")
        lab = np.asanyarray(out.dataobj)
        assert out.get_data_dtype() == np.uint8
        unannotated = (np.arange(12) // 4) % 2 == 1  # slices 4-7
        assert (lab[:, :, unannotated] == 3).all()
        assert np.array_equal(lab[:, :, ~unannotated], src[:, :, ~unannotated])
    assert (tmp_path / "Dataset007_Tiny" / "imagesTs" / f"{test[0]}_0000.nii.gz").is_file()
    # the test labels keep the fixed test set (nnU-Net ignores labelsTs/): copied whole, no unannotated slab
    assert sorted(p.name for p in (tmp_path / "Dataset007_Tiny" / "labelsTs").iterdir()) == [f"{test[0]}.nii.gz"]
    test_label = tmp_path / "Dataset007_Tiny" / "labelsTs" / f"{test[0]}.nii.gz"
    assert test_label.read_bytes() == (msd / "labelsTr" / f"{test[0]}.nii.gz").read_bytes()


def test_regions_keep_label_maps_and_the_region_order(msd, tmp_path):
    path = to_nnunet_raw(msd, tmp_path, 8, "TinyRegions", regions=True)
    text = path.read_text()
    meta = json.loads(text)
    assert list(meta["labels"]) == ["background", "organ", "tumour"]  # nnU-Net reads the regions in this order
    assert meta["labels"]["organ"] == [1, 2] and meta["regions_class_order"] == [1, 2]
    case = _case_ids(msd, "training")[0]
    lab = tmp_path / "Dataset008_TinyRegions" / "labelsTr" / f"{case}.nii.gz"
    assert lab.read_bytes() == (msd / "labelsTr" / f"{case}.nii.gz").read_bytes()


def test_multichannel_images_are_split(tmp_path):
    src = tmp_path / "src"
    (src / "imagesTr").mkdir(parents=True)
    (src / "labelsTr").mkdir()
    data = np.arange(4 * 5 * 3 * 2, dtype=np.float32).reshape(4, 5, 3, 2)
    nib.save(nib.Nifti1Image(data, np.eye(4)), src / "imagesTr" / "c0.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 3), np.uint8), np.eye(4)), src / "labelsTr" / "c0.nii.gz")
    entry = {"image": "./imagesTr/c0.nii.gz", "label": "./labelsTr/c0.nii.gz"}
    (src / "dataset.json").write_text(json.dumps({"name": "two-channel", "labels": {"0": "background", "1": "x"},
                                                  "modality": {"0": "DWI", "1": "ADC"}, "training": [entry]}))
    path = to_nnunet_raw(src, tmp_path / "raw", 12)
    assert path.parent.name == "Dataset012_twochannel"
    for c in (0, 1):
        img = nib.load(path.parent / "imagesTr" / f"c0_{c:04d}.nii.gz")
        assert np.array_equal(np.asanyarray(img.dataobj), data[..., c])
    assert json.loads(path.read_text())["channel_names"] == {"0": "DWI", "1": "ADC"}
    assert not (path.parent / "labelsTs").exists() and not (path.parent / "imagesTs").exists()  # no "test" list


def test_refuses_to_overwrite_and_bad_arguments(msd, tmp_path, capsys):
    to_nnunet_raw(msd, tmp_path, 9, "Tiny")
    with pytest.raises(FileExistsError):
        to_nnunet_raw(msd, tmp_path, 9, "Tiny")
    to_nnunet_raw(msd, tmp_path, 9, "Tiny", overwrite=True)
    with pytest.raises(ValueError, match="dataset_id"):
        to_nnunet_raw(msd, tmp_path, 1000)
    with pytest.raises(ValueError, match="name must hold"):
        to_nnunet_raw(msd, tmp_path, 10, "a-b")
    assert main(["--src", str(msd), "--raw", str(tmp_path), "--id", "0"]) == 2
    assert "dataset_id must be an integer in [1, 999]" in capsys.readouterr().err
    assert main(["--src", str(msd), "--raw", str(tmp_path), "--id", "11", "--regions"]) == 0
