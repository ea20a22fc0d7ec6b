"""Tests of the public-data preparation scripts on small fake folder trees of the real layouts (no internet)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from data_scripts import prepare_atlas as atlas_mod
from data_scripts import prepare_isles22 as isles_mod
from data_scripts import prepare_msd as msd_mod
from data_scripts._io import ChecksumError, UnsafeArchiveError
from data_scripts.prepare_atlas import prepare_atlas
from data_scripts.prepare_isles22 import prepare_isles22
from data_scripts.prepare_msd import prepare_msd

SHAPE = (10, 9, 6)
AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
AFFINE[:3, 3] = [-4.0, 3.0, 10.0]


def _nii(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def _label(i: int, num_classes: int = 2) -> np.ndarray:
    lab = np.zeros(SHAPE, dtype=np.uint8)
    if num_classes == 3:
        lab[2:8, 2:7, 1:5] = 1
    lab[1 + i % 3 : 3 + i % 3, 2:4, 2:4] = num_classes - 1
    lab[7:9, 6:8, 4:6] = num_classes - 1  # a second, separate lesion
    return lab


def _image(i: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(i).normal(size=SHAPE) * 100 * scale).astype(np.int16)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def _check_output(out: Path, case_ids: list[str], num_classes: int) -> dict:
    ds = _read_json(out / "dataset.json")
    listed = sorted(Path(e["image"]).name[: -len(".nii.gz")] for s in ("training", "validation", "test") for e in ds[s])
    assert listed == sorted(case_ids)
    assert len(ds["labels"]) == num_classes
    stats = _read_json(out / "stats.json")
    for case_id, st in stats["cases"].items():
        label = np.asarray(nib.load(out / "labelsTr" / f"{case_id}.nii.gz").dataobj)
        assert label.dtype == np.uint8
        counts = np.bincount(label.ravel(), minlength=num_classes)
        assert [st["voxels"][str(c)] for c in range(num_classes)] == counts.tolist()
        n = ndimage.label(label == num_classes - 1, structure=np.ones((3, 3, 3)))[1]
        assert st["lesion_count"] == n
        assert st["spacing"] == pytest.approx([0.8, 0.8, 2.5])
        img = nib.load(out / "imagesTr" / f"{case_id}.nii.gz")
        np.testing.assert_allclose(img.affine, AFFINE, atol=1e-5)
    return ds


# ---------------------------------------------------------------- MSD


def _fake_msd(root: Path, task: str = "Task06_Lung", n: int = 6) -> Path:
    prefix = {"Task06_Lung": "lung", "Task03_Liver": "liver", "Task10_Colon": "colon"}[task]
    labels = {"Task06_Lung": {"0": "background", "1": "cancer"}, "Task10_Colon": {"0": "background", "1": "colon"},
              "Task03_Liver": {"0": "background", "1": "liver", "2": "cancer"}}[task]
    tdir = root / task
    training = []
    for i in range(n):
        name = f"{prefix}_{i:03d}.nii.gz"
        _nii(tdir / "imagesTr" / name, _image(i))
        _nii(tdir / "labelsTr" / name, _label(i, len(labels)))
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    _nii(tdir / "imagesTs" / f"{prefix}_900.nii.gz", _image(900))
    meta = {"name": task, "description": "fake", "reference": "x", "licence": "CC-BY-SA 4.0", "release": "1.0",
            "tensorImageSize": "3D", "modality": {"0": "CT"}, "labels": labels, "numTraining": n, "numTest": 1,
            "training": training, "test": [f"./imagesTs/{prefix}_900.nii.gz"]}
    (tdir / "dataset.json").write_text(json.dumps(meta))
    return tdir


@pytest.mark.parametrize("task,num_classes", [("Task06_Lung", 2), ("Task03_Liver", 3), ("Task10_Colon", 2)])
def test_msd_from_extracted_folder(tmp_path, task, num_classes):
    tdir = _fake_msd(tmp_path / "msd", task, n=7)
    out = tmp_path / "out"
    prepare_msd(out, task, msd_root=tmp_path / "msd", val_frac=0.15, test_frac=0.15, seed=0)
    ids = [p.name[: -len(".nii.gz")] for p in sorted((tdir / "labelsTr").iterdir())]
    ds = _check_output(out, ids, num_classes)
    assert ds["labels"] == _read_json(tdir / "dataset.json")["labels"]
    # DecathlonDataset holds out int(7 * (0.15 + 0.15)) = 2 cases, divided 1 : 1 into validation and test
    assert (ds["numTraining"], ds["numValidation"], ds["numTest"]) == (5, 1, 1)
    for case_id in ids:  # images are byte-identical copies
        src = (tdir / "imagesTr" / f"{case_id}.nii.gz").read_bytes()
        assert (out / "imagesTr" / f"{case_id}.nii.gz").read_bytes() == src
    # the training list is exactly DecathlonDataset's
    from monai.apps import DecathlonDataset

    ref = DecathlonDataset(tmp_path / "msd", task, "training", transform=(), seed=0, val_frac=0.3, cache_rate=0.0,
                           progress=False)
    assert sorted(Path(d["image"]).name for d in ref.data) == sorted(Path(e["image"]).name for e in ds["training"])
    # the task folder itself is accepted too
    prepare_msd(tmp_path / "out2", task, msd_root=tdir)
    assert (tmp_path / "out2" / "dataset.json").read_bytes() == (out / "dataset.json").read_bytes()


def _tar_folder(folder: Path, tar_path: Path) -> Path:
    with tarfile.open(tar_path, "w") as tar:
        tar.add(folder, arcname=folder.name)
    return tar_path


def test_msd_archive_is_checksummed_before_use(tmp_path):
    tdir = _fake_msd(tmp_path / "src")
    (tmp_path / "dl").mkdir()
    arc = _tar_folder(tdir, tmp_path / "dl" / "Task06_Lung.tar")
    # MONAI's published md5 does not match the fake archive: refused, nothing extracted
    with pytest.raises(ChecksumError, match="Task06_Lung.tar"):
        prepare_msd(tmp_path / "out", "Task06_Lung", archive=arc)
    assert not (tmp_path / "dl" / "Task06_Lung").exists()
    assert not (tmp_path / "out").exists()
    md5 = hashlib.md5(arc.read_bytes()).hexdigest()
    prepare_msd(tmp_path / "out", "Task06_Lung", archive=arc, expected_md5=md5)
    assert (tmp_path / "dl" / "Task06_Lung" / "dataset.json").is_file()
    _check_output(tmp_path / "out", [f"lung_{i:03d}" for i in range(6)], 2)


def test_msd_download_verifies_checksum(tmp_path, monkeypatch):
    tdir = _fake_msd(tmp_path / "src")
    arc = _tar_folder(tdir, tmp_path / "served.tar")
    calls = []

    def fake_download(url, filepath, md5):  # stands in for the network; MONAI's URL and md5 are passed
        calls.append((url, md5))
        shutil.copy(arc, filepath)

    monkeypatch.setattr(msd_mod, "_download_url", fake_download)
    with pytest.raises(ChecksumError, match="Task06_Lung.tar"):
        prepare_msd(tmp_path / "out", "Task06_Lung", download=tmp_path / "cache")
    from monai.apps import DecathlonDataset

    assert calls[0] == (DecathlonDataset.resource["Task06_Lung"], DecathlonDataset.md5["Task06_Lung"])
    assert not (tmp_path / "cache" / "Task06_Lung").exists()
    (tmp_path / "cache" / "Task06_Lung.tar").unlink()
    md5 = hashlib.md5(arc.read_bytes()).hexdigest()
    prepare_msd(tmp_path / "out", "Task06_Lung", download=tmp_path / "cache", expected_md5=md5)
    assert (tmp_path / "out" / "dataset.json").is_file()


def test_msd_crafted_archive_refused(tmp_path):
    tdir = _fake_msd(tmp_path / "src", n=3)
    arc = tmp_path / "dl" / "Task06_Lung.tar"
    arc.parent.mkdir()
    with tarfile.open(arc, "w") as tar:
        tar.add(tdir, arcname="Task06_Lung")
        evil = tarfile.TarInfo("Task06_Lung/../../escaped.txt")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    md5 = hashlib.md5(arc.read_bytes()).hexdigest()
    with pytest.raises(UnsafeArchiveError, match="escaped.txt"):
        prepare_msd(tmp_path / "out", "Task06_Lung", archive=arc, expected_md5=md5)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "dl" / "Task06_Lung").exists()


def test_msd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.json"):
        prepare_msd(tmp_path / "out", "Task06_Lung", msd_root=tmp_path)
    with pytest.raises(ValueError, match="task"):
        prepare_msd(tmp_path / "out", "Task09_Spleen", msd_root=tmp_path)
    with pytest.raises(ValueError, match="exactly one"):
        prepare_msd(tmp_path / "out", "Task06_Lung")
    tdir = _fake_msd(tmp_path / "msd", n=4)
    (tdir / "imagesTr" / "lung_002.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lung_002.nii.gz"):
        prepare_msd(tmp_path / "out", "Task06_Lung", msd_root=tmp_path / "msd")
    assert not (tmp_path / "out").exists()  # checked before anything is written
    _nii(tdir / "imagesTr" / "lung_002.nii.gz", _image(2))
    bad = _label(1)
    bad[0, 0, 0] = 3
    _nii(tdir / "labelsTr" / "lung_001.nii.gz", bad)
    with pytest.raises(ValueError, match=r"lung_001.nii.gz holds values \[3\]"):
        prepare_msd(tmp_path / "out", "Task06_Lung", msd_root=tmp_path / "msd")
    _nii(tdir / "labelsTr" / "lung_001.nii.gz", _label(1)[:, :, :5])
    with pytest.raises(ValueError, match="lung_001.nii.gz"):
        prepare_msd(tmp_path / "out2", "Task06_Lung", msd_root=tmp_path / "msd")
    (tdir / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json"):
        prepare_msd(tmp_path / "out3", "Task06_Lung", msd_root=tmp_path / "msd")


def test_msd_overwrite_and_cli(tmp_path, capsys):
    _fake_msd(tmp_path / "msd", n=4)
    out = tmp_path / "out"
    args = ["--task", "Task06_Lung", "--msd-root", str(tmp_path / "msd"), "--out", str(out)]
    assert msd_mod.main(args) == 0
    first = (out / "stats.json").read_bytes()
    assert msd_mod.main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert msd_mod.main([*args, "--overwrite"]) == 0
    assert (out / "stats.json").read_bytes() == first


# ---------------------------------------------------------------- ISLES'22


def _fake_isles(root: Path, n: int = 4, layout: str = "challenge") -> Path:
    """ISLES'22 tree: 'challenge' = rawdata/sub/ses/*.nii.gz, 'zenodo' = sub/ses/{anat,dwi}/...,
    'bids' = rawdata/sub/ses/{anat,dwi}/..."""
    for i in range(1, n + 1):
        sub = f"sub-strokecase{i:04d}"
        stem = f"{sub}_ses-0001"
        if layout == "challenge":
            ses = root / "rawdata" / sub / "ses-0001"
            _nii(ses / f"{stem}_dwi.nii.gz", _image(i).astype(np.float32))
            _nii(ses / f"{stem}_adc.nii.gz", _image(i + 100).astype(np.float32))
            _nii(ses / f"{stem}_flair.nii.gz", np.zeros((20, 20, 12), np.float32), np.eye(4))
            (ses / f"{stem}_dwi.json").write_text("{}")
        else:
            ses = (root / "rawdata" if layout == "bids" else root) / sub / "ses-0001"
            _nii(ses / "dwi" / f"{stem}_dwi.nii.gz", _image(i).astype(np.float32))
            _nii(ses / "dwi" / f"{stem}_adc.nii.gz", _image(i + 100).astype(np.float32))
            _nii(ses / "anat" / f"{stem}_FLAIR.nii.gz", np.zeros((20, 20, 12), np.float32), np.eye(4))
        _nii(root / "derivatives" / sub / "ses-0001" / f"{stem}_msk.nii.gz", _label(i).astype(np.float32))
    return root


@pytest.mark.parametrize("layout", ["challenge", "zenodo", "bids"])
def test_isles22_layouts(tmp_path, layout):
    root = _fake_isles(tmp_path / "ISLES-2022", layout=layout)
    out = tmp_path / "out"
    prepare_isles22(out, root=root)
    ids = [f"sub-strokecase{i:04d}" for i in range(1, 5)]
    ds = _check_output(out, ids, 2)
    assert ds["modality"] == {"0": "DWI", "1": "ADC"} and ds["tensorImageSize"] == "4D"
    img = nib.load(out / "imagesTr" / "sub-strokecase0003.nii.gz")
    assert img.shape == (*SHAPE, 2)
    np.testing.assert_allclose(img.get_fdata()[..., 0], _image(3))
    np.testing.assert_allclose(img.get_fdata()[..., 1], _image(103))
    # the parent folder of the data set is accepted as well
    prepare_isles22(tmp_path / "out2", root=tmp_path)
    assert (tmp_path / "out2" / "dataset.json").read_bytes() == (out / "dataset.json").read_bytes()


def test_isles22_single_modality_and_flair_mismatch(tmp_path):
    root = _fake_isles(tmp_path / "ISLES-2022", n=2)
    prepare_isles22(tmp_path / "out", root=root, modalities=["dwi"])
    assert nib.load(tmp_path / "out" / "imagesTr" / "sub-strokecase0001.nii.gz").shape == SHAPE
    with pytest.raises(ValueError, match="flair.nii.gz"):  # FLAIR is on its own grid
        prepare_isles22(tmp_path / "out2", root=root, modalities=["dwi", "flair"])
    with pytest.raises(ValueError, match="modalities"):
        prepare_isles22(tmp_path / "out3", root=root, modalities=["t2"])


def test_isles22_missing_and_malformed(tmp_path):
    root = _fake_isles(tmp_path / "ISLES-2022", n=3)
    mask = root / "derivatives" / "sub-strokecase0002" / "ses-0001" / "sub-strokecase0002_ses-0001_msk.nii.gz"
    mask.unlink()
    with pytest.raises(FileNotFoundError, match="sub-strokecase0002_ses-0001_msk.nii.gz"):
        prepare_isles22(tmp_path / "out", root=root)
    mask.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="sub-strokecase0002_ses-0001_msk.nii.gz"):
        prepare_isles22(tmp_path / "out", root=root)
    _nii(mask, _label(2).astype(np.float32) * 0.5)  # soft / non-integer mask
    with pytest.raises(ValueError, match="non-integer"):
        prepare_isles22(tmp_path / "out", root=root)
    assert not (tmp_path / "out").exists()  # case 1 was fine, but nothing is moved into place after a failure
    # a failed --overwrite run leaves the previous complete output untouched
    _nii(mask, _label(2))
    prepare_isles22(tmp_path / "out", root=root)
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    _nii(mask, _label(2) * 7)
    with pytest.raises(ValueError, match="outside the label set"):
        prepare_isles22(tmp_path / "out", root=root, overwrite=True, seed=5)
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before
    with pytest.raises(FileNotFoundError, match="derivatives"):
        prepare_isles22(tmp_path / "out", root=tmp_path / "ISLES-2022" / "rawdata")
    with pytest.raises(FileNotFoundError, match="nothing"):
        prepare_isles22(tmp_path / "out", root=tmp_path / "nothing")


def test_isles22_zip_archive_with_checksum(tmp_path):
    root = _fake_isles(tmp_path / "src" / "ISLES-2022", n=3, layout="zenodo")
    arc = tmp_path / "ISLES-2022.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path / "src").as_posix())
    md5 = hashlib.md5(arc.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError, match="ISLES-2022.zip"):
        prepare_isles22(tmp_path / "out", archive=arc, checksum="md5:" + "0" * 32, extract_to=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    prepare_isles22(tmp_path / "out", archive=arc, checksum=f"md5:{md5}", extract_to=tmp_path / "x")
    _check_output(tmp_path / "out", [f"sub-strokecase{i:04d}" for i in range(1, 4)], 2)
    with pytest.warns(UserWarning, match="no checksum"):
        prepare_isles22(tmp_path / "out2", archive=arc, extract_to=tmp_path / "y")
    assert (tmp_path / "out2" / "dataset.json").is_file()


def test_isles22_cli_overwrite(tmp_path, capsys):
    root = _fake_isles(tmp_path / "ISLES-2022", n=3)
    args = ["--root", str(root), "--out", str(tmp_path / "out")]
    assert isles_mod.main(args) == 0
    assert isles_mod.main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert isles_mod.main([*args, "--overwrite"]) == 0


# ---------------------------------------------------------------- ATLAS v2.0

T1 = "_ses-1_space-MNI152NLin2009aSym_T1w.nii.gz"
MASK = "_ses-1_space-MNI152NLin2009aSym_label-L_desc-T1lesion_mask.nii.gz"


def _fake_atlas(root: Path, subjects=(("R001", 1), ("R001", 2), ("R002", 1), ("R034", 5)),
                derivatives: bool = False) -> Path:
    for k, (cohort, s) in enumerate(subjects):
        sub = f"sub-{cohort.lower()}s{s:03d}"
        if derivatives:
            anat = root / "Training" / sub / "ses-1" / "anat"
            mask_dir = root / "derivatives" / "ATLAS" / sub / "ses-1" / "anat"
        else:
            anat = mask_dir = root / "Training" / cohort / sub / "ses-1" / "anat"
        _nii(anat / f"{sub}{T1}", _image(k).astype(np.float32))
        _nii(mask_dir / f"{sub}{MASK}", _label(k))
    (root / "Testing" / "R001" / "sub-r001s099" / "ses-1" / "anat").mkdir(parents=True)
    return root


@pytest.mark.parametrize("derivatives", [False, True])
def test_atlas_layouts(tmp_path, derivatives):
    root = _fake_atlas(tmp_path / "ATLAS_2", derivatives=derivatives)
    out = tmp_path / "out"
    prepare_atlas(out, root=root)
    ids = ["sub-r001s001", "sub-r001s002", "sub-r002s001", "sub-r034s005"]
    ds = _check_output(out, ids, 2)
    assert ds["modality"] == {"0": "T1w"}
    src = next(root.rglob(f"sub-r002s001{T1}"))
    assert (out / "imagesTr" / "sub-r002s001.nii.gz").read_bytes() == src.read_bytes()
    for alt in (tmp_path, root / "Training"):  # parent folder and Training itself are accepted
        prepare_atlas(tmp_path / f"o{len(str(alt))}", root=alt)


def test_atlas_missing_and_malformed(tmp_path):
    root = _fake_atlas(tmp_path / "ATLAS_2")
    mask = root / "Training" / "R002" / "sub-r002s001" / "ses-1" / "anat" / f"sub-r002s001{MASK}"
    mask.unlink()
    with pytest.raises(FileNotFoundError, match=f"sub-r002s001{MASK}"):
        prepare_atlas(tmp_path / "out", root=root)
    _nii(mask, _label(1))
    t1 = root / "Training" / "R001" / "sub-r001s002" / "ses-1" / "anat" / f"sub-r001s002{T1}"
    t1.write_bytes(b"corrupt")
    with pytest.raises(ValueError, match=f"sub-r001s002{T1}"):
        prepare_atlas(tmp_path / "out", root=root)
    _nii(t1, _image(1).astype(np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))  # wrong grid vs its mask
    with pytest.raises(ValueError, match="affines"):
        prepare_atlas(tmp_path / "out", root=root)
    assert not (tmp_path / "out" / "dataset.json").exists()
    with pytest.raises(FileNotFoundError, match="no T1w images under .*Testing"):
        prepare_atlas(tmp_path / "out", root=tmp_path / "ATLAS_2" / "Testing")
    with pytest.raises(FileNotFoundError, match="Training"):
        prepare_atlas(tmp_path / "out", root=tmp_path / "ATLAS_2" / "Testing" / "R001" / "sub-r001s099" / "ses-1")


def test_atlas_overwrite_refused_keeps_files(tmp_path):
    root = _fake_atlas(tmp_path / "ATLAS_2")
    out = tmp_path / "out"
    prepare_atlas(out, root=root)
    stamp = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert atlas_mod.main(["--root", str(root), "--out", str(out), "--seed", "3"]) == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == stamp
    assert atlas_mod.main(["--root", str(root), "--out", str(out), "--seed", "3", "--overwrite"]) == 0
    assert _read_json(out / "dataset.json")["source"]["seed"] == 3


def test_affine_tolerance(tmp_path):
    root = _fake_atlas(tmp_path / "ATLAS_2", subjects=(("R001", 1), ("R002", 1), ("R003", 1)))
    t1 = next(root.rglob(f"sub-r002s001{T1}"))
    jitter = AFFINE.copy()
    jitter[:3, 3] += 2e-4  # header rounding: accepted
    _nii(t1, _image(1).astype(np.float32), jitter)
    prepare_atlas(tmp_path / "a", root=root)
    shifted = AFFINE.copy()
    shifted[0, 3] += 0.4  # half a voxel (0.8 mm spacing): a real misalignment
    _nii(t1, _image(1).astype(np.float32), shifted)
    with pytest.raises(ValueError, match=f"sub-r002s001{T1}.*affine"):
        prepare_atlas(tmp_path / "b", root=root)
    assert atlas_mod.main(["--root", str(root), "--out", str(tmp_path / "c"), "--affine-tol", "0.6"]) == 0
    with pytest.raises(ValueError, match="affine_tol"):
        prepare_atlas(tmp_path / "d", root=root, affine_tol=2.0)
