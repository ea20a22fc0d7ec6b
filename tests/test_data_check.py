"""The data check the bundles run before training and ``profile`` runs before counting (training/data_check.py)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_segloss.training.data_check import (
    DataCheckError,
    check_case,
    check_datalist,
    declared_labels,
    read_entries,
)


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


@pytest.fixture
def case(tmp_path):
    lab = np.zeros((6, 5, 4), np.uint8)
    lab[1:3, 1:3, 1:3] = 1
    img = np.random.default_rng(0).normal(size=(6, 5, 4)).astype(np.float32)
    return _save(tmp_path / "lab.nii.gz", lab), _save(tmp_path / "img.nii.gz", img)


def test_a_good_case_has_no_problem_and_keeps_its_label(case):
    lab, img = case
    got = check_case(lab, [img], {0: "background", 1: "lesion"}, num_classes=2)
    assert got.problems == [] and got.undeclared == []
    assert got.label is not None and got.label.dtype == np.int64 and int(got.label.sum()) == 8
    assert got.zooms == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("shape", [(6, 5, 3), (6, 5, 6)], ids=["smaller", "larger"])
def test_shape_mismatch(case, tmp_path, shape):
    lab, _ = case
    img = _save(tmp_path / "other.nii.gz", np.zeros(shape, np.float32))
    assert check_case(lab, [img]).problems == [f"label shape (6, 5, 4) differs from its image {img} {shape}"]


def test_affine_mismatch_and_tolerance(case, tmp_path):
    lab, _ = case
    shifted = np.eye(4)
    shifted[0, 3] = 0.5
    img = _save(tmp_path / "shifted.nii.gz", np.zeros((6, 5, 4), np.float32), shifted)
    (problem,) = check_case(lab, [img]).problems
    assert problem.startswith(f"label affine differs from its image {img} (more than 0.001 mm)")
    assert check_case(lab, [img], atol=0.6).problems == []


def test_label_values(tmp_path):
    lab = np.zeros((4, 4, 4), np.float32)
    lab[0, 0, 0], lab[1, 1, 1] = 3, 1
    path = _save(tmp_path / "l.nii.gz", lab)
    declared = {0: "background", 1: "lesion"}
    strict = check_case(path, declared=declared, num_classes=2)
    assert strict.problems == ["label values [3] are not declared in dataset.json's labels (0 background, 1 lesion)"]
    loose = check_case(path, declared=declared, strict=False)
    assert loose.problems == [] and loose.undeclared == [3]
    assert check_case(path, num_classes=2).problems == ["label values [3] are outside 0..1 (num_classes 2)"]
    assert check_case(path, num_classes=4).problems == []
    lab[2, 2, 2] = 0.5
    assert check_case(_save(tmp_path / "f.nii.gz", lab)).problems == ["label holds non-integer values"]
    lab[2, 2, 2] = -1
    assert check_case(_save(tmp_path / "n.nii.gz", lab)).problems == ["label holds negative values (-1)"]


def test_unreadable_and_missing_files(case, tmp_path):
    lab, img = case
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(img.read_bytes()[:-200])  # truncated
    (problem,) = check_case(lab, [broken]).problems
    assert problem.startswith(f"cannot read image file {broken} (")
    assert check_case(tmp_path / "gone.nii.gz").problems == [f"label file not found: {tmp_path / 'gone.nii.gz'}"]
    with pytest.raises(ValueError, match="num_classes must be a positive int or None, got 0"):
        check_case(lab, num_classes=0)


def test_declared_labels_msd_and_nnunet_styles():
    assert declared_labels({"labels": {"0": "background", "1": "lesion"}}) == {0: "background", 1: "lesion"}
    assert declared_labels({"labels": {"background": 0, "tumour": 2, "region": [1, 2]}}) == {0: "background",
                                                                                              2: "tumour"}
    assert declared_labels({}) == {}


def test_check_datalist_lists_every_bad_case_once(case, tmp_path):
    lab, img = case
    small = _save(tmp_path / "small.nii.gz", np.zeros((6, 5, 3), np.uint8))
    meta = {"labels": {"0": "background", "1": "lesion"},
            "training": [{"image": img.name, "label": lab.name}, {"image": img.name, "label": small.name}],
            "validation": [{"image": [img.name, "missing.nii.gz"], "label": lab.name}],
            "test": [{"image": img.name, "label": "gone.nii.gz"}]}
    datalist = tmp_path / "dataset.json"
    datalist.write_text(json.dumps(meta))
    entries, names = read_entries(datalist, ("training", "validation"))
    assert len(entries) == 3 and entries[2][1] == [img, tmp_path / "missing.nii.gz"] and names[1] == "lesion"
    with pytest.raises(DataCheckError) as info:
        check_datalist(datalist, num_classes=2)
    assert info.value.total == 3
    assert info.value.lines == [f"{small}: label shape (6, 5, 3) differs from its image {img} (6, 5, 4)",
                                f"{lab}: image file not found: {tmp_path / 'missing.nii.gz'}"]
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"training": meta["training"][:1], "validation": meta["training"][:1]}))
    assert check_datalist(good, num_classes=2) == 2
    with pytest.raises(DataCheckError, match="label file not found"):
        check_datalist(datalist, ("test",))
    with pytest.raises(ValueError, match="lists no case in nope"):
        check_datalist(datalist, ("nope",))
