"""monai_segloss/app/study_data.py: a user's data set for ``monai-segloss study --dataset PATH``, on data written by
the data scripts (synthetic MSD, its nnU-Net v2 raw conversion, a fake ISLES'22 tree) and on every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from data_scripts._layout import split_cases
from data_scripts.nnunet_raw import to_nnunet_raw
from data_scripts.prepare_isles22 import prepare_isles22
from data_scripts.synthetic import generate
from monai_segloss.app.study_data import StudyData, StudyDataError, load_study_data

SHAPE = (20, 20, 16)
SPACING = (0.8, 0.8, 2.0)


def _ids(meta: dict, *splits: str) -> list[str]:
    return sorted(Path(e["label"]).name[: -len(".nii.gz")] for s in splits for e in meta[s])


@pytest.fixture(scope="module")
def lesion(tmp_path_factory) -> Path:
    """8 synthetic lesion cases (labels 0/1): 4 training, 2 validation, 2 test."""
    root = tmp_path_factory.mktemp("lesion") / "lesion"
    generate(root, task="lesion", num_cases=8, seed=0, shape=SHAPE, spacing=SPACING, val_frac=0.25, test_frac=0.25,
             foreground_fraction=0.05)
    return root


@pytest.fixture(scope="module")
def nnunet(lesion, tmp_path_factory) -> Path:
    """``lesion`` converted to nnU-Net v2's raw format (test list -> imagesTs/ + labelsTs/)."""
    return to_nnunet_raw(lesion, tmp_path_factory.mktemp("raw"), 501, "Lesion").parent


@pytest.fixture
def copy(tmp_path):
    """A private copy of a module data set, to modify."""

    def make(src: Path) -> Path:
        return Path(shutil.copytree(src, tmp_path / src.name))

    return make


def _write_meta(root: Path, meta: dict) -> None:
    (root / "dataset.json").write_text(json.dumps(meta, indent=1))


def _meta(root: Path) -> dict:
    return json.loads((root / "dataset.json").read_text())


# ---------------------------------------------------------------------------------------------- good data


def test_msd_synthetic_lesion(lesion):
    meta = _meta(lesion)
    calls = []
    data = load_study_data(lesion, progress=calls.append)
    assert isinstance(data, StudyData) and data.layout == "msd" and data.name == "synthetic_lesion"
    assert data.root == str(lesion) and Path(data.root).is_absolute()
    assert data.test_ids == tuple(_ids(meta, "test")) and len(data.test_ids) == 2
    assert data.pool_ids == tuple(_ids(meta, "training", "validation")) and len(data.pool_ids) == 6
    assert [c for c, _ in data.cases] == sorted(data.pool_ids + data.test_ids)
    assert data.entry("lesion_0003") == {"image": "./imagesTr/lesion_0003.nii.gz",
                                         "label": "./labelsTr/lesion_0003.nii.gz"}
    assert data.labels == ((0, "background"), (1, "lesion")) and data.num_classes == 2
    assert data.lesion_labels == (1,) and data.label_name(1) == "lesion" and data.in_channels == 1
    assert data.spacing == pytest.approx(SPACING)
    assert data.test_source == "the dataset's 'test' list (2 cases)"
    assert calls == [1] * 8
    # the summary is data_scripts' own stats.json summary of the same cases
    stats = json.loads((lesion / "stats.json").read_text())["summary"]
    assert data.summary["lesion_count"] == stats["lesion_count"] > 0
    assert data.summary["voxels"] == stats["voxels"] and data.summary["num_cases"] == 8
    volumes, expected = dict(data.summary["lesion_volume_mm3"]), dict(stats["lesion_volume_mm3"])
    assert volumes.pop("histogram") == expected.pop("histogram") and volumes.pop("count") == expected.pop("count")
    assert volumes.pop("histogram_edges") == expected.pop("histogram_edges")
    assert volumes == pytest.approx(expected)  # mm³ from the float32 header zooms, stats.json from the float64 ones
    assert "lesion_labels" not in data.summary
    # the dataset.json file itself is accepted and gives the same data
    assert load_study_data(lesion / "dataset.json") == data
    with pytest.raises(KeyError, match="lesion_9999"):
        data.entry("lesion_9999")
    with pytest.raises(KeyError, match="label 2"):
        data.label_name(2)


def test_nnunet_raw_conversion(lesion, nnunet):
    msd = load_study_data(lesion)
    data = load_study_data(nnunet)
    assert data.layout == "nnunet" and data.name == "Lesion" and data.root == str(nnunet)
    assert (data.pool_ids, data.test_ids) == (msd.pool_ids, msd.test_ids)  # nnunet_raw keeps the case ids
    assert data.test_source == "labelsTs/ (2 cases)"
    assert data.labels == msd.labels and data.lesion_labels == (1,) and data.in_channels == 1
    assert data.spacing == pytest.approx(SPACING) and data.summary == msd.summary
    test_case, pool_case = data.test_ids[0], data.pool_ids[0]
    assert data.entry(pool_case) == {"image": f"./imagesTr/{pool_case}_0000.nii.gz",
                                     "label": f"./labelsTr/{pool_case}.nii.gz"}
    assert data.entry(test_case) == {"image": f"./imagesTs/{test_case}_0000.nii.gz",
                                     "label": f"./labelsTs/{test_case}.nii.gz"}
    assert data.digest != msd.digest  # the layout and the paths are part of the identity


def _fake_isles(root: Path, n: int = 4) -> Path:
    """An ISLES'22 challenge tree (rawdata/sub/ses/*_{dwi,adc}.nii.gz, derivatives/.../*_msk.nii.gz)."""
    affine = np.diag([1.5, 1.5, 3.0, 1.0])
    shape = (12, 10, 8)
    for i in range(1, n + 1):
        stem = f"sub-strokecase{i:04d}_ses-0001"
        ses = root / "rawdata" / f"sub-strokecase{i:04d}" / "ses-0001"
        msk = root / "derivatives" / f"sub-strokecase{i:04d}" / "ses-0001"
        ses.mkdir(parents=True)
        msk.mkdir(parents=True)
        rng = np.random.default_rng(i)
        for mod in ("dwi", "adc"):
            nib.save(nib.Nifti1Image(rng.normal(size=shape).astype(np.float32), affine), ses / f"{stem}_{mod}.nii.gz")
        lab = np.zeros(shape, np.float32)
        lab[2 + i % 3 : 5 + i % 3, 3:6, 2:5] = 1
        nib.save(nib.Nifti1Image(lab, affine), msk / f"{stem}_msk.nii.gz")
    return root


def test_isles22_two_channels_msd_and_nnunet(tmp_path):
    root = _fake_isles(tmp_path / "ISLES-2022")
    prepare_isles22(tmp_path / "isles", root=root, val_frac=0.25, test_frac=0.25)
    meta = _meta(tmp_path / "isles")
    data = load_study_data(tmp_path / "isles")
    assert data.in_channels == 2 and data.name == "ISLES 2022" and data.spacing == pytest.approx((1.5, 1.5, 3.0))
    assert data.test_ids == tuple(_ids(meta, "test")) == ("sub-strokecase0001",)
    assert data.pool_ids == ("sub-strokecase0002", "sub-strokecase0003", "sub-strokecase0004")
    assert data.summary["lesion_count"] == 4 and data.summary["voxels"]["1"] == 4 * 27
    nn = load_study_data(to_nnunet_raw(tmp_path / "isles", tmp_path / "raw", 502).parent)
    assert nn.in_channels == 2 and (nn.pool_ids, nn.test_ids) == (data.pool_ids, data.test_ids)
    assert nn.entry("sub-strokecase0002")["image"] == [f"./imagesTr/sub-strokecase0002_{c:04d}.nii.gz"
                                                       for c in (0, 1)]


def test_organ_tumour_lesion_labels(tmp_path):
    generate(tmp_path / "organ", task="organ_tumour", num_cases=6, seed=0, shape=SHAPE, val_frac=0.2, test_frac=0.2,
             foreground_fraction=0.05, empty_fraction=0.0)
    data = load_study_data(tmp_path / "organ")
    assert data.labels == ((0, "background"), (1, "organ"), (2, "tumour")) and data.num_classes == 3
    assert data.lesion_labels == (1, 2) and data.label_name(2) == "tumour"
    stats = json.loads((tmp_path / "organ" / "stats.json").read_text())["summary"]
    assert data.summary["voxels"] == stats["voxels"] and data.summary["lesion_count"] == stats["lesion_count"]
    per = data.summary["lesion_labels"]
    assert sorted(per) == ["1", "2"]
    assert per["2"]["lesion_count"] == stats["lesion_count"]  # the tumours, as stats.json counts them
    assert per["1"]["voxels"]["1"] == stats["voxels"]["1"] and per["1"]["lesion_count"] >= 1
    tumour = load_study_data(tmp_path / "organ", lesion_labels=[2])
    assert tumour.lesion_labels == (2,) and "lesion_labels" not in tumour.summary
    assert (tumour.pool_ids, tumour.test_ids) == (data.pool_ids, data.test_ids)
    assert tumour.digest != data.digest  # what is scored is part of the identity
    organ = load_study_data(tmp_path / "organ", lesion_labels=(1,))
    assert list(organ.summary["lesion_labels"]) == ["1"]


# ---------------------------------------------------------------------------------------------- the test set


def test_no_labelled_test_list_draws_a_fraction(lesion, nnunet, copy):
    root = copy(lesion)
    meta = _meta(root)
    all_ids = _ids(meta, "training", "validation", "test")
    meta["training"] += meta.pop("test")
    _write_meta(root, meta)
    data = load_study_data(root, test_frac=0.25)
    assert data.test_ids == tuple(split_cases(all_ids, 0.0, 0.25, seed=0)["test"]) and len(data.test_ids) == 2
    assert data.pool_ids == tuple(sorted(set(all_ids) - set(data.test_ids)))
    assert data.test_source == ("a fraction 0.25 of the labelled cases drawn with seed 0, 2 of 8 cases "
                                "(dataset.json has no 'test' list)")
    assert load_study_data(root, test_frac=0.25) == data  # deterministic
    other = load_study_data(root, test_frac=0.25, seed=3)
    assert other.test_ids == tuple(split_cases(all_ids, 0.0, 0.25, seed=3)["test"]) != data.test_ids
    assert other.digest != data.digest
    assert len(load_study_data(root, test_frac=0.01).test_ids) == 1  # at least one
    # an official MSD "test" list (bare image paths) is no labelled test list
    meta["test"] = ["./imagesTs/lesion_0900.nii.gz"]
    _write_meta(root, meta)
    bare = load_study_data(root, test_frac=0.25)
    assert bare.test_ids == data.test_ids and bare.test_source.endswith("(dataset.json's 'test' list has no labels)")
    # nnU-Net without labelsTs/: drawn from labelsTr/
    nn = copy(nnunet)
    shutil.rmtree(nn / "labelsTs")
    drawn = load_study_data(nn)
    pool = sorted(_ids(_meta(lesion), "training", "validation"))
    assert drawn.test_ids == tuple(split_cases(pool, 0.0, 0.2, seed=0)["test"]) and len(drawn.test_ids) == 1
    assert drawn.test_source == ("a fraction 0.2 of the labelled cases drawn with seed 0, 1 of 6 cases "
                                 "(the nnU-Net folder has no labelsTs/)")


@pytest.mark.parametrize("test_frac", [0.0, 1.0, -0.1, 1.5, True, "0.2", float("nan")])
def test_test_frac_must_be_a_fraction(lesion, test_frac):
    with pytest.raises(ValueError, match=r"test_frac must be a number in \(0, 1\)") as err:
        load_study_data(lesion, test_frac=test_frac)
    assert not isinstance(err.value, StudyDataError)


# ---------------------------------------------------------------------------------------------- identity


def _rewrite_label(path: Path, change) -> None:
    img = nib.load(path)
    lab = np.asarray(img.dataobj).copy()
    change(lab)
    out = nib.Nifti1Image(lab, img.affine, img.header)
    nib.save(out, path)


def test_digest_stable_and_sensitive(lesion, copy, tmp_path):
    data = load_study_data(lesion)
    assert len(data.digest) == 40 and load_study_data(lesion).digest == data.digest
    root = copy(lesion)
    assert load_study_data(root).digest == data.digest  # where the data lies is not its identity
    # one label voxel
    case = data.pool_ids[0]

    def flip(lab):
        lab[0, 0, 0] = 1 - lab[0, 0, 0]

    _rewrite_label(root / "labelsTr" / f"{case}.nii.gz", flip)
    flipped = load_study_data(root)
    assert flipped.digest != data.digest and flipped.summary["voxels"] != data.summary["voxels"]
    shutil.copy(lesion / "labelsTr" / f"{case}.nii.gz", root / "labelsTr" / f"{case}.nii.gz")
    assert load_study_data(root).digest == data.digest  # the same file again
    # a case moved into test
    meta = _meta(root)
    moved = meta["training"].pop(0)
    meta["test"].append(moved)
    _write_meta(root, meta)
    assert load_study_data(root).digest not in (data.digest, flipped.digest)
    # an added case
    meta = _meta(root)
    meta["test"].remove(moved)
    meta["training"].insert(0, moved)
    _write_meta(root, meta)
    assert load_study_data(root).digest == data.digest
    for sub in ("imagesTr", "labelsTr"):
        shutil.copy(root / sub / f"{case}.nii.gz", root / sub / "extra_0001.nii.gz")
    meta["training"].append({"image": "./imagesTr/extra_0001.nii.gz", "label": "./labelsTr/extra_0001.nii.gz"})
    _write_meta(root, meta)
    added = load_study_data(root)
    assert len(added.pool_ids) == 7 and added.digest != data.digest


# ---------------------------------------------------------------------------------------------- bad input


def _save_like(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    ref = nib.load(path)
    nib.save(nib.Nifti1Image(data, ref.affine if affine is None else affine), path)


def _image(root: Path, case: str = "lesion_0001") -> Path:
    return root / "imagesTr" / f"{case}.nii.gz"


def _label(root: Path, case: str = "lesion_0001") -> Path:
    return root / "labelsTr" / f"{case}.nii.gz"


def _set_meta(**changes):
    def change(root: Path):
        meta = _meta(root)
        for key, value in changes.items():
            if value is None:
                meta.pop(key)
            else:
                meta[key] = value(meta) if callable(value) else value
        _write_meta(root, meta)

    return change


def _shifted(root: Path):
    affine = nib.load(_image(root)).affine.copy()
    affine[0, 3] += 0.4  # half a voxel
    _save_like(_image(root), np.zeros(SHAPE, np.float32), affine)


def _undeclared(root: Path):
    _rewrite_label(_label(root), lambda lab: lab.__setitem__((0, 0, 0), 3))


def _no_lesion(root: Path):
    for case in _ids(_meta(root), "training", "validation"):
        _rewrite_label(_label(root, case), lambda lab: lab.__setitem__(Ellipsis, 0))


def _two_channels(root: Path):
    _save_like(_image(root), np.zeros((*SHAPE, 2), np.float32))


def _nn_labels(labels):
    return _set_meta(labels=labels)


def _empty_labels_ts(root: Path):
    for p in (root / "labelsTs").iterdir():
        p.unlink()


def _extra_channel(root: Path):
    shutil.copy(root / "imagesTr" / "lesion_0001_0000.nii.gz", root / "imagesTr" / "lesion_0001_0001.nii.gz")


# (id, data set, change(root) -> None, load_study_data kwargs, the line, formatted with root=<the copy>)
BAD = [
    ("missing path", "msd", None, {"path": "{root}/nowhere"}, "{root}/nowhere: does not exist"),
    ("no dataset.json", "msd", lambda r: (r / "dataset.json").unlink(), {},
     "{root}: no dataset.json in this folder"),
    ("unreadable dataset.json", "msd", lambda r: (r / "dataset.json").write_text("{not json"), {},
     "{root}/dataset.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2"),
    ("dataset.json not an object", "msd", lambda r: (r / "dataset.json").write_text("[1, 2]"), {},
     "{root}/dataset.json: not a JSON object (got a list)"),
    ("neither layout", "msd", lambda r: (r / "dataset.json").write_text('{"name": "x", "labels": {"0": "b"}}'), {},
     "{root}/dataset.json: neither an MSD datalist (no 'training' list) nor an nnU-Net v2 raw dataset.json"),
    ("missing image", "msd", lambda r: _image(r).unlink(), {},
     "{root}/labelsTr/lesion_0001.nii.gz: image file not found: {root}/imagesTr/lesion_0001.nii.gz"),
    ("missing label", "msd", lambda r: _label(r).unlink(), {},
     "{root}/labelsTr/lesion_0001.nii.gz: label file not found: {root}/labelsTr/lesion_0001.nii.gz"),
    ("unreadable image", "msd", lambda r: _image(r).write_bytes(b"\x1f\x8b garbage"), {},
     "{root}/labelsTr/lesion_0001.nii.gz: cannot read image file {root}/imagesTr/lesion_0001.nii.gz"),
    ("shape mismatch", "msd", lambda r: _save_like(_image(r), np.zeros((20, 20, 15), np.float32)), {},
     "{root}/labelsTr/lesion_0001.nii.gz: label shape (20, 20, 16) differs from its image "
     "{root}/imagesTr/lesion_0001.nii.gz (20, 20, 15)"),
    ("affine mismatch", "msd", _shifted, {},
     "{root}/labelsTr/lesion_0001.nii.gz: label affine differs from its image {root}/imagesTr/lesion_0001.nii.gz"),
    ("undeclared label value", "msd", _undeclared, {},
     "{root}/labelsTr/lesion_0001.nii.gz: label values [3] are not declared in dataset.json's labels "
     "(0 background, 1 lesion)"),
    ("empty test list", "msd", _set_meta(test=[]), {},
     "{root}/dataset.json: the 'test' list is empty: a declared test split with no case"),
    ("empty labelsTs", "nnunet", _empty_labels_ts, {},
     "{root}/labelsTs: empty (no *.nii.gz file): a declared test split with no case"),
    ("no lesion in the pool", "msd", _no_lesion, {},
     "no lesion (labels [1]) in the 6 training/validation cases: nothing to learn"),
    ("undeclared lesion label", "msd", None, {"lesion_labels": [2]},
     "lesion_labels: 2 is not a declared label; the declared labels are {{0: 'background', 1: 'lesion'}}"),
    ("background as lesion label", "msd", None, {"lesion_labels": [0, 1]},
     "lesion_labels: 0 is the background, not a lesion label; the declared labels are {{0: 'background', "
     "1: 'lesion'}}"),
    ("lesion label not a number", "msd", None, {"lesion_labels": ["1"]},
     "lesion_labels: '1' is not a declared label"),
    ("too few cases", "msd", _set_meta(training=lambda m: m["training"][:1], validation=[]), {},
     "{root}/dataset.json: 1 training/validation case(s) besides the 2 test case(s): each study seed needs at "
     "least 2"),
    ("no labelled case", "msd", _set_meta(training=[], validation=[], test=None), {},
     "{root}/dataset.json: no labelled case in its 'training', 'validation' and 'test' lists"),
    ("channel counts differ (MSD)", "msd", _two_channels, {},
     "image channel counts differ between cases: 1 channel(s) in 7 case(s) (e.g. lesion_0000); 2 channel(s) in "
     "1 case(s) (e.g. lesion_0001)"),
    ("channel counts differ (nnU-Net)", "nnunet", _extra_channel, {},
     "{root}/imagesTr/lesion_0001_0001.nii.gz: channel file 1 of case 'lesion_0001' beyond the 1 channel(s) of "
     "dataset.json's channel_names"),
    ("missing channel file (nnU-Net)", "nnunet", lambda r: (r / "imagesTr" / "lesion_0001_0000.nii.gz").unlink(),
     {}, "{root}/labelsTr/lesion_0001.nii.gz: image file not found: {root}/imagesTr/lesion_0001_0000.nii.gz"),
    ("nnU-Net regions", "nnunet", _nn_labels({"background": 0, "lesion": [1]}), {},
     "{root}/dataset.json: nnU-Net region labels are not supported ({{\"lesion\": [1]}})"),
    ("nnU-Net ignore label", "nnunet", _nn_labels({"background": 0, "lesion": 1, "ignore": 2}), {},
     "{root}/dataset.json: nnU-Net's 'ignore' label (2, sparse annotation) is not supported"),
    ("nnU-Net file ending", "nnunet", _set_meta(file_ending=".png"), {},
     "{root}/dataset.json: file_ending '.png' is not supported (NIfTI only: .nii.gz, .nii)"),
    ("no labels", "msd", _set_meta(labels=None), {},
     "{root}/dataset.json: no 'labels' (MSD {{\"0\": \"background\", \"1\": \"lesion\"}} or nnU-Net"),
    ("labels without background", "msd", _set_meta(labels={"1": "lesion"}), {},
     "{root}/dataset.json: 'labels' must declare the background 0, got {{1: 'lesion'}}"),
    ("labels of neither form", "msd", _set_meta(labels={"0": "background", "lesion": "1"}), {},
     "{root}/dataset.json: 'labels' entries {{\"lesion\": \"1\"}} are neither MSD"),
    ("case listed twice", "msd", _set_meta(validation=lambda m: m["validation"] + m["training"][:1]), {},
     "{root}/dataset.json: case 'lesion_0001' is listed twice ('training'[0] and 'validation'[2])"),
]


@pytest.mark.parametrize("source,change,kwargs,line", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_named(lesion, nnunet, copy, source, change, kwargs, line):
    root = copy(lesion if source == "msd" else nnunet)
    if change is not None:
        change(root)
    kwargs = dict(kwargs)
    path = kwargs.pop("path", "{root}").format(root=root)
    with pytest.raises(StudyDataError) as err:
        load_study_data(path, **kwargs)
    expected = line.format(root=root)
    assert len(err.value.lines) == 1, err.value.lines
    assert err.value.lines[0].startswith(expected), (err.value.lines[0], expected)
    assert str(err.value).startswith(f"1 problem(s) in {path}:\n{expected}")


def test_several_problems_are_reported_together(lesion, copy):
    root = copy(lesion)
    pool = _ids(_meta(root), "training", "validation")
    _image(root, pool[0]).unlink()
    _shifted_case = pool[1]
    affine = nib.load(_image(root, _shifted_case)).affine.copy()
    affine[1, 3] -= 1.0
    _save_like(_image(root, _shifted_case), np.zeros(SHAPE, np.float32), affine)
    _rewrite_label(_label(root, pool[2]), lambda lab: lab.__setitem__((1, 1, 1), 7))
    calls = []
    with pytest.raises(StudyDataError) as err:
        load_study_data(root, progress=calls.append)
    assert str(err.value).startswith(f"3 problem(s) in {root}:\n")
    assert [line.split(":")[0] for line in err.value.lines] == [str(_label(root, c)) for c in pool[:3]]
    assert "image file not found" in err.value.lines[0] and "affine differs" in err.value.lines[1]
    assert "label values [7]" in err.value.lines[2]
    assert calls == [1] * 8  # every case was read before the error
    # problems dataset.json and the arguments show are raised together before any file is read
    _write_meta(root, {**_meta(root), "test": []})
    with pytest.raises(StudyDataError) as err:
        load_study_data(root, lesion_labels=[1, 4], progress=calls.append)
    assert len(err.value.lines) == 2 and err.value.lines[0].startswith("lesion_labels: 4 ")
    assert "the 'test' list is empty" in err.value.lines[1] and len(calls) == 8


def test_docstring_examples_run():
    import doctest

    import monai_segloss.app.study_data as module

    result = doctest.testmod(module)
    assert result.attempted >= 1 and result.failed == 0
