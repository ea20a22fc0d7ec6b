"""The brain task of the synthetic generator: real anatomy (MNI ICBM152 from the nilearn wheel), lesion model,
determinism and the lesion size distribution."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from data_scripts.brain import BrainParams, _deform, _lesions, _pareto_volume, template_maps
from data_scripts.synthetic import SyntheticParams, _case_rng, generate, main, make_case

pytest.importorskip("nilearn")  # the template ships in the nilearn wheel (the demo extra)

FAST = 4.0  # mm: small volumes for the byte-level tests


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_template_maps_are_probabilities_cropped_to_the_brain():
    m = template_maps(2.0)
    shape = m["t1"].shape
    assert all(m[k].shape == shape for k in ("gm", "wm", "csf", "vent"))
    assert 70 <= shape[0] <= 85 and 85 <= shape[1] <= 100 and 75 <= shape[2] <= 90  # ~145 x 181 x 155 mm + margin
    for k in ("gm", "wm", "csf"):
        assert m[k].min() >= 0.0 and m[k].max() <= 1.0
    # T1 contrast of the template: white matter > grey matter > CSF
    t1 = m["t1"]
    assert np.median(t1[m["wm"] > 0.9]) > np.median(t1[m["gm"] > 0.8]) > np.median(t1[m["csf"] > 0.8])
    # the ventricles are deep CSF: a few tens of ml around the centre
    vent_ml = m["vent"].sum() * 8 / 1000
    assert 10 < vent_ml < 80
    assert not m["t1"].flags.writeable  # shared by every case of the process


def test_same_seed_byte_identical_and_seed_changes_data(tmp_path):
    kw = {"task": "brain", "num_cases": 2, "seed": 5, "spacing": FAST, "empty_fraction": 0.0}
    generate(tmp_path / "a", **kw)
    generate(tmp_path / "b", **kw)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == sorted(b) and len([k for k in a if k.startswith("imagesTr")]) == 2
    assert all(a[k] == b[k] for k in a)
    generate(tmp_path / "c", **{**kw, "seed": 6})
    assert _files(tmp_path / "c")["imagesTr/brain_0000.nii.gz"] != a["imagesTr/brain_0000.nii.gz"]


def test_pareto_sizes_are_heavy_tailed_and_mostly_small():
    p = BrainParams()
    rng = np.random.default_rng(0)
    v = np.array([_pareto_volume(rng, p) for _ in range(20000)])
    lo, hi = p.volume_range_mm3
    a = p.volume_tail
    assert v.min() >= lo and v.max() <= hi
    # truncated Pareto: P(V < x) = (1 - (lo/x)^a) / (1 - (lo/hi)^a)
    for x in (50.0, 100.0, 1000.0):
        expected = (1 - (lo / x) ** a) / (1 - (lo / hi) ** a)
        assert (v < x).mean() == pytest.approx(expected, abs=0.01)
    assert (v < 100).mean() > 0.6  # most lesions are under 100 mm³
    assert v.mean() > 2 * np.median(v)  # heavy tail: the mean far above the median


def test_lesions_hypointense_periventricular_white_matter_with_partial_volume():
    p = BrainParams(empty_fraction=0.0, mean_lesions=8.0)
    volumes, wm_inside, d_lesion, d_random, drops = [], [], [], [], []
    for index in range(3):
        rng = _case_rng(1, "brain", index)
        anat = _deform(rng, p)  # the same draws as make_case("brain", index, seed=1)
        occupancy, label, level, lesions = _lesions(rng, p, anat)
        image, label2, _ = make_case("brain", index, seed=1, params=p)
        assert np.array_equal(label, label2 > 0) and image.dtype == np.float32 and label2.dtype == np.uint8
        comp, n = ndimage.label(label, np.ones((3, 3, 3)))
        assert n == len(lesions) >= 1  # lesions never touch: one component each
        d_vent = ndimage.distance_transform_edt(anat["vent"] < 0.5, sampling=p.spacing)
        wm_points = np.argwhere(anat["wm"] > 0.8)
        d_random.append(d_vent[tuple(wm_points[np.random.default_rng(index).integers(len(wm_points), size=200)].T)])
        for i in range(1, n + 1):
            les = comp == i
            volumes.append(les.sum() * p.spacing**3)
            wm_inside.append(float(anat["wm"][les].mean()))
            d_lesion.append(float(d_vent[les].min()))
        # T1-hypointense: the lesion only darkens the anatomy, most where it fully occupies a voxel
        t1 = anat["t1"] - occupancy * np.maximum(anat["t1"] - level, 0.0)
        full, part = occupancy >= 0.99, (occupancy > 0.05) & (occupancy < 0.5)
        assert (t1 <= anat["t1"] + 1e-6).all()
        drops.append((float((anat["t1"] - t1)[full].mean()), float((anat["t1"] - t1)[part].mean())))
    assert np.median(volumes) < 100.0
    assert min(wm_inside) >= 0.5  # mostly white matter
    assert np.median(d_lesion) < 0.7 * np.median(np.concatenate(d_random))  # nearer the ventricles than WM at random
    full_drop, partial_drop = np.mean(drops, axis=0)
    assert full_drop > 0.2 and 0 < partial_drop < full_drop  # partial-volume edges: a smaller drop at the border


def test_empty_cases_and_stats_json(tmp_path):
    generate(tmp_path, task="brain", num_cases=3, seed=2, spacing=FAST, empty_fraction=1.0)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["summary"]["lesion_count"] == 0 and stats["summary"]["cases_without_lesion"] == 3
    assert stats["summary"]["lesion_volume_mm3"]["count"] == 0
    generate(tmp_path / "b", task="brain", num_cases=2, seed=2, spacing=FAST, empty_fraction=0.0)
    s = json.loads((tmp_path / "b" / "stats.json").read_text())
    dist = s["summary"]["lesion_volume_mm3"]
    assert dist["count"] == s["summary"]["lesion_count"] == sum(c["lesion_count"] for c in s["cases"].values())
    assert sum(dist["histogram"]) == dist["count"] and 0.0 <= dist["fraction_below_100"] <= 1.0
    assert dist["min"] <= dist["median"] <= dist["max"]
    case = s["cases"]["brain_0000"]
    assert case["spacing"] == [FAST] * 3 and all(v % 64.0 == 0 for v in case["lesion_volumes_mm3"])
    assert s["generator"]["task"] == "brain" and s["generator"]["spacing"] == FAST


def test_brain_arguments_are_checked(tmp_path, capsys):
    with pytest.raises(ValueError, match="shape"):
        generate(tmp_path / "x", task="brain", num_cases=1, shape=(32, 32, 32))
    with pytest.raises(ValueError, match="isotropic"):
        generate(tmp_path / "x", task="brain", num_cases=1, spacing=(2.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="unknown parameter"):
        generate(tmp_path / "x", task="brain", num_cases=1, radius_range=(1, 2))
    with pytest.raises(ValueError, match="volume_range_mm3"):
        BrainParams(volume_range_mm3=(100.0, 10.0))
    with pytest.raises(ValueError, match="spacing"):
        BrainParams(spacing=0.5)
    with pytest.raises(TypeError, match="BrainParams"):
        make_case("brain", 0, params=SyntheticParams())
    assert main(["--task", "brain", "--out", str(tmp_path / "cli"), "--cases", "1", "--spacing", "4", "4", "4",
                 "--empty-fraction", "1"]) == 0
    assert (tmp_path / "cli" / "dataset.json").is_file()
    assert main(["--task", "brain", "--out", str(tmp_path / "cli2"), "--shape", "8", "8", "8"]) == 2
    assert "shape" in capsys.readouterr().err
