"""Tests of the synthetic small-lesion generator (data_scripts/synthetic.py)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from data_scripts.synthetic import SyntheticParams, generate, main, make_case

SMALL = (32, 32, 24)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("task", ["lesion", "organ_tumour"])
def test_same_seed_byte_identical(tmp_path, task):
    kw = {"task": task, "num_cases": 3, "seed": 7, "shape": SMALL, "foreground_fraction": 0.02}
    generate(tmp_path / "a", **kw)
    generate(tmp_path / "b", **kw)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == sorted(b)
    assert len([k for k in a if k.startswith("imagesTr")]) == 3
    for name in a:
        assert a[name] == b[name], name
    # a different seed gives different data
    generate(tmp_path / "c", **{**kw, "seed": 8})
    c = _files(tmp_path / "c")
    assert c[f"imagesTr/{task}_0000.nii.gz"] != a[f"imagesTr/{task}_0000.nii.gz"]


def test_gzip_header_has_no_time_or_name(tmp_path):
    generate(tmp_path, num_cases=1, shape=SMALL)
    raw = (tmp_path / "imagesTr" / "lesion_0000.nii.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw[4:8] == b"\x00\x00\x00\x00"  # MTIME field
    assert raw[3] & 0x08 == 0  # FNAME flag not set


def test_case_unchanged_when_case_count_changes(tmp_path):
    generate(tmp_path / "two", num_cases=2, seed=3, shape=SMALL, foreground_fraction=0.02)
    generate(tmp_path / "five", num_cases=5, seed=3, shape=SMALL, foreground_fraction=0.02)
    for case in ("lesion_0000", "lesion_0001"):
        for sub in ("imagesTr", "labelsTr"):
            a = (tmp_path / "two" / sub / f"{case}.nii.gz").read_bytes()
            b = (tmp_path / "five" / sub / f"{case}.nii.gz").read_bytes()
            assert a == b, (case, sub)
    s2 = json.loads((tmp_path / "two" / "stats.json").read_text())["cases"]["lesion_0001"]
    s5 = json.loads((tmp_path / "five" / "stats.json").read_text())["cases"]["lesion_0001"]
    s2.pop("split"), s5.pop("split")
    assert s2 == s5


@pytest.mark.parametrize("task,fg_class", [("lesion", 1), ("organ_tumour", 2)])
def test_default_foreground_fraction_at_most_half_percent(task, fg_class):
    total = 64 * 64 * 48
    fractions, counts = [], []
    for i in range(8):
        _, label, lesions = make_case(task, i, seed=0)  # default shape 64x64x48 and default parameters
        assert label.shape == (64, 64, 48)
        fractions.append((label == fg_class).sum() / total)
        counts.append(len(lesions))
    assert max(fractions) <= 0.005
    assert max(fractions) > 0.001  # the budget is used, not trivially empty
    assert sum(c > 0 for c in counts) >= 4


def test_foreground_fraction_is_controllable():
    small = [make_case("lesion", i, 0, SyntheticParams(shape=(48, 48, 32), foreground_fraction=0.002))[1].mean()
             for i in range(6)]
    large = [make_case("lesion", i, 0, SyntheticParams(shape=(48, 48, 32), foreground_fraction=0.03,
                                                      empty_fraction=0.0))[1].mean() for i in range(6)]
    assert max(small) <= 0.002
    assert max(large) <= 0.03
    assert np.mean(large) > 3 * np.mean(small)


def test_empty_fraction_extremes_and_radius_range():
    p_empty = SyntheticParams(shape=SMALL, empty_fraction=1.0)
    for i in range(3):
        _, label, lesions = make_case("lesion", i, 0, p_empty)
        assert label.sum() == 0 and lesions == []
    p_full = SyntheticParams(shape=(48, 48, 32), empty_fraction=0.0, foreground_fraction=0.05, radius_range=(2.0, 4.0))
    for i in range(3):
        _, label, lesions = make_case("lesion", i, 0, p_full)
        assert label.sum() > 0 and len(lesions) >= 1
        for les in lesions:
            assert 2.0 <= les["radius"] <= 4.0
            assert 0.1 <= les["contrast"] <= 0.6


def test_lesions_are_brighter_and_tumours_darker_and_inside_organ():
    p = SyntheticParams(shape=(48, 48, 32), empty_fraction=0.0, foreground_fraction=0.05, contrast_range=(0.5, 0.5),
                        noise_std=0.0)
    image, label, _ = make_case("lesion", 0, 0, p)
    lesion = label == 1
    shell = ndimage.binary_dilation(lesion, iterations=3) & ~ndimage.binary_dilation(lesion, iterations=1)
    assert image[lesion].mean() - image[shell].mean() > 0.25
    image, label, lesions = make_case("organ_tumour", 1, 0, p)
    tumour, organ = label == 2, label == 1
    assert tumour.sum() > 0 and organ.sum() > 5 * tumour.sum()
    # every tumour lies inside the organ: its 26-neighbourhood holds only organ or tumour voxels
    assert (label[ndimage.binary_dilation(tumour, structure=np.ones((3, 3, 3)))] > 0).all()
    assert image[organ].mean() - image[tumour].mean() > 0.25


def test_partial_volume_edges():
    from data_scripts.synthetic import _lesions

    p = SyntheticParams(shape=(40, 40, 32), empty_fraction=0.0, foreground_fraction=0.05, contrast_range=(0.5, 0.5))
    region = np.ones(p.shape, dtype=bool)
    signal, label, lesions = _lesions(np.random.default_rng(0), p, region)
    assert len(lesions) >= 1 and label.any()
    pv = signal / 0.5
    # the label is the set of voxels at least half covered; border voxels carry fractional occupancy
    np.testing.assert_array_equal(label, pv >= 0.5 - 1e-6)
    partial = (pv > 0.01) & (pv < 0.99)
    assert partial.sum() > 0.2 * label.sum()
    assert (pv[ndimage.binary_erosion(label)] > 0.99).mean() > 0.9
    assert sum(les["voxels"] for les in lesions) == label.sum()  # lesions are kept apart


def test_stats_match_labels(tmp_path):
    spacing = (0.8, 1.0, 2.0)
    generate(tmp_path, task="organ_tumour", num_cases=4, seed=1, shape=SMALL, spacing=spacing,
             foreground_fraction=0.02)
    stats = json.loads((tmp_path / "stats.json").read_text())
    total = {"0": 0, "1": 0, "2": 0}
    for case_id, st in stats["cases"].items():
        label = np.asarray(nib.load(tmp_path / "labelsTr" / f"{case_id}.nii.gz").dataobj)
        counts = np.bincount(label.ravel(), minlength=3)
        for c in range(3):
            assert st["voxels"][str(c)] == counts[c]
            assert st["fraction"][str(c)] == pytest.approx(counts[c] / label.size)
            total[str(c)] += int(counts[c])
        comp, n = ndimage.label(label == 2, structure=np.ones((3, 3, 3)))
        sizes = sorted(np.bincount(comp.ravel())[1:].tolist(), reverse=True)
        assert st["lesion_count"] == n
        assert st["lesion_sizes"] == sizes
        assert st["lesion_volumes_mm3"] == pytest.approx([s * 0.8 * 1.0 * 2.0 for s in sizes])
        assert st["shape"] == list(SMALL) and st["spacing"] == list(spacing)
    assert stats["summary"]["voxels"] == total
    assert stats["summary"]["num_cases"] == 4
    assert stats["summary"]["lesion_count"] == sum(s["lesion_count"] for s in stats["cases"].values())


def test_dataset_json_valid(tmp_path):
    from monai.data import load_decathlon_datalist

    generate(tmp_path, num_cases=7, seed=0, shape=SMALL)
    ds = json.loads((tmp_path / "dataset.json").read_text())
    for key in ("name", "description", "labels", "modality", "tensorImageSize", "numTraining", "training",
                "validation", "test"):
        assert key in ds
    assert ds["labels"] == {"0": "background", "1": "lesion"}
    ids = {s: [Path(e["image"]).name for e in ds[s]] for s in ("training", "validation", "test")}
    assert ds["numTraining"] == len(ids["training"]) and ds["numTest"] == len(ids["test"])
    all_ids = sum(ids.values(), [])
    assert sorted(all_ids) == [f"lesion_{i:04d}.nii.gz" for i in range(7)]  # each case in exactly one split
    assert all(len(v) >= 1 for v in ids.values())
    for entry in ds["training"] + ds["validation"] + ds["test"]:
        assert entry["image"].startswith("./imagesTr/") and entry["label"].startswith("./labelsTr/")
        assert (tmp_path / entry["image"]).is_file() and (tmp_path / entry["label"]).is_file()
    for key in ("training", "validation", "test"):
        items = load_decathlon_datalist(tmp_path / "dataset.json", True, key, base_dir=tmp_path)
        assert all(Path(it["image"]).is_file() and Path(it["label"]).is_file() for it in items)


def test_spacing_affine_and_dtypes(tmp_path):
    from monai.transforms import LoadImage

    spacing = (0.7, 0.9, 2.5)
    generate(tmp_path, num_cases=1, shape=SMALL, spacing=spacing)
    for sub, dtype in (("imagesTr", np.float32), ("labelsTr", np.uint8)):
        img = nib.load(tmp_path / sub / "lesion_0000.nii.gz")
        assert img.shape == SMALL
        assert img.get_data_dtype() == dtype
        np.testing.assert_allclose(img.header.get_zooms(), spacing, rtol=1e-6)
        np.testing.assert_allclose(img.affine, np.diag([*spacing, 1.0]), rtol=1e-6)
        assert int(img.header["qform_code"]) == 1 and int(img.header["sform_code"]) == 1
        assert img.header.get_xyzt_units()[0] == "mm"
    loaded = LoadImage(image_only=True)(str(tmp_path / "imagesTr" / "lesion_0000.nii.gz"))
    np.testing.assert_allclose(np.asarray(loaded.pixdim), spacing, rtol=1e-6)


def test_anisotropic_lesions_are_round_in_mm():
    p = SyntheticParams(shape=(48, 48, 16), spacing=(1.0, 1.0, 3.0), empty_fraction=0.0, foreground_fraction=0.05,
                        radius_range=(4.0, 4.0), irregularity=0.0, max_lesions=1)
    _, label, lesions = make_case("lesion", 0, 0, p)
    idx = np.argwhere(label == 1)
    extent_mm = (idx.max(0) - idx.min(0) + 1) * np.array([1.0, 1.0, 3.0])
    # a radius-4 (x smallest spacing 1 mm) ellipsoid with aspect within exp(+-0.3): 2*4*[0.7, 1.5] mm per axis,
    # plus up to one voxel of discretisation
    assert (extent_mm >= 2 * 4 * 0.7 - 3.0).all() and (extent_mm <= 2 * 4 * 1.5 * 1.35 + 3.0).all()
    assert len(lesions) == 1


def test_refuses_to_overwrite_and_writes_nothing(tmp_path):
    (tmp_path / "dataset.json").write_text("{}")
    with pytest.raises(FileExistsError, match="dataset.json"):
        generate(tmp_path, num_cases=2, shape=SMALL)
    assert not (tmp_path / "imagesTr").exists()
    assert (tmp_path / "dataset.json").read_text() == "{}"
    generate(tmp_path, num_cases=2, shape=SMALL, overwrite=True)
    assert json.loads((tmp_path / "dataset.json").read_text())["numTraining"] >= 1
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temporary files left behind


def test_cli(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["--task", "organ_tumour", "--out", str(out), "--cases", "2", "--seed", "4", "--shape", *map(str, SMALL),
            "--spacing", "1", "1", "2"]
    assert main(args) == 0
    before = _files(out)
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert _files(out) == before  # deterministic rewrite
    img = nib.load(out / "imagesTr" / "organ_tumour_0001.nii.gz")
    np.testing.assert_allclose(img.header.get_zooms(), (1, 1, 2))
    assert main(["--out", str(tmp_path / "e"), "--shape", "4", "4", "4"]) == 2
    assert "shape" in capsys.readouterr().err


def test_module_entry_point_matches_api(tmp_path):
    """`python -m data_scripts.synthetic` in a fresh process (other hash seed) writes the same bytes as the API."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "data_scripts.synthetic", "--out", str(tmp_path / "cli"), "--cases", "2", "--seed",
           "5", "--shape", *map(str, SMALL)]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    generate(tmp_path / "api", num_cases=2, seed=5, shape=SMALL)
    assert _files(tmp_path / "cli") == _files(tmp_path / "api")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"task": "tumour"}, "task"),
        ({"num_cases": 0}, "num_cases"),
        ({"seed": -1}, "seed"),
        ({"shape": (32, 32)}, "shape"),
        ({"spacing": (1.0, 0.0, 1.0)}, "spacing"),
        ({"radius_range": (5.0, 2.0)}, "radius_range"),
        ({"foreground_fraction": 0.0}, "foreground_fraction"),
        ({"empty_fraction": 1.5}, "empty_fraction"),
        ({"bogus": 1}, "bogus"),
        ({"val_frac": 0.6, "test_frac": 0.5}, "val_frac"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(tmp_path, **{"num_cases": 1, "shape": SMALL, **kwargs})
    assert not (tmp_path / "dataset.json").exists()


def test_ensure_generated(tmp_path):
    from data_scripts.synthetic import ensure_generated

    kw = {"task": "lesion", "num_cases": 2, "seed": 1, "shape": SMALL}
    path = ensure_generated(tmp_path, **kw)
    before = _files(tmp_path)
    stamp = path.stat().st_mtime_ns
    assert ensure_generated(tmp_path, **kw) == path  # same settings: nothing rewritten
    assert path.stat().st_mtime_ns == stamp and _files(tmp_path) == before
    with pytest.raises(FileExistsError, match="num_cases"):
        ensure_generated(tmp_path, **{**kw, "num_cases": 3})
    with pytest.raises(FileExistsError, match="noise_std"):
        ensure_generated(tmp_path, **kw, noise_std=0.1)
    gen = json.loads(path.read_text())["generator"]
    assert gen["val_frac"] == 0.15 and gen["shape"] == list(SMALL) and gen["seed"] == 1
    with pytest.raises(ValueError, match="bogus"):
        ensure_generated(tmp_path / "x", bogus=1)
