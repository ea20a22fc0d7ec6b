"""``monai-segloss study --dataset``: the study's protocol on data the data scripts write (MSD layout, nnU-Net raw,
an ISLES'22 tree through ``prepare_isles22``, a multi-class task), and bad input refused before anything is
written."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from data_scripts.nnunet_raw import to_nnunet_raw
from data_scripts.prepare_isles22 import prepare_isles22
from data_scripts.synthetic import generate
from monai_segloss.app.cli import main
from monai_segloss.app.study import PLAN_FILE, dataset_setting, report_study, run_study
from monai_segloss.app.study_data import StudyDataError
from tests.test_study_data import _fake_isles

SHAPE = (20, 20, 16)


def _tiny(path: Path, **changes):
    """A study of one loss, one seed, one rate and two epochs on a small network: the protocol, not a result."""
    values = {"losses": ("dice",), "seeds": (0,), "epochs": 2, "val_points": 2, "lr_grid": (1e-3,), "lr_extend": 0,
              "channels": (4, 8), "patch": (16, 16, 16), "num_samples": 1, "compile": False,
              "thresholds": (0.1, 0.5, 0.9), "min_sizes_mm3": (0.0,), "n_boot": 100}
    return dataset_setting(path, "cpu", **{**values, **changes})


@pytest.fixture(scope="module")
def lesion(tmp_path_factory) -> Path:
    """8 synthetic lesion cases in MSD layout: 4 training, 2 validation, 2 test."""
    root = tmp_path_factory.mktemp("lesion") / "lesion"
    generate(root, task="lesion", num_cases=8, seed=0, shape=SHAPE, spacing=(0.8, 0.8, 2.0), val_frac=0.25,
             test_frac=0.25, foreground_fraction=0.05)
    return root


def _listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def test_a_study_on_an_msd_dataset(lesion, tmp_path):
    before = _listing(lesion)
    out = tmp_path / "out"
    lines: list[str] = []
    paths = run_study(_tiny(lesion / "dataset.json"), out_dir=out, workers=1, echo=lines.append)
    assert _listing(lesion) == before  # the user's folder is only read
    metrics = json.loads(paths["metrics"].read_text())
    assert list(metrics["table"]) == ["dice"] and metrics["n_units"] == 2  # the dataset's 2 test cases, 1 seed
    assert {u["case"] for u in metrics["units"]} == {"lesion_0003", "lesion_0007"} or len(metrics["units"]) == 2
    assert "msd layout" in metrics["setting"]["data"] and "2 test cases (the dataset's" in metrics["setting"]["split"]
    assert (out / PLAN_FILE).is_file() and list((out / "runs").glob("dice-*/result.json"))
    assert list((out / "splits").glob("seed0_*.json"))
    assert lines[-1].startswith("report: ") and "| `dice`" in paths["report"].read_text()
    # the run's bundle configuration: the data's voxel size, channels and classes
    run = next((out / "runs").glob("dice-*"))
    record = json.loads((run / "training.json").read_text())
    assert record["loss"] == "dice" and len(record["curve"]) == 2


def test_bad_data_is_refused_before_anything_is_written(lesion, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    meta = json.loads((lesion / "dataset.json").read_text())
    meta["training"][0]["image"] = "./imagesTr/missing.nii.gz"
    meta["training"][1]["label"] = "./labelsTr/gone.nii.gz"
    for sub in ("imagesTr", "labelsTr"):
        (bad / sub).symlink_to(lesion / sub)
    (bad / "dataset.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    with pytest.raises(StudyDataError) as err:
        run_study(_tiny(bad / "dataset.json"), out_dir=out, workers=1, echo=lambda s: None)
    assert not out.exists()
    assert main(["study", "--dataset", str(bad / "dataset.json"), "--out", str(out), "--device", "cpu"]) == 2
    text = capsys.readouterr().err
    assert text.startswith("error: 2 problem(s) in ") and "missing.nii.gz" in text and "gone.nii.gz" in text
    assert not out.exists()
    assert len(err.value.lines) == 2  # every bad case, in one error
    assert main(["study", "report", str(tmp_path / "nowhere")]) == 2
    assert "holds no study.json" in capsys.readouterr().err
    assert main(["study", "--epochs", "3"]) == 2  # the budget options go with --dataset
    assert "go with --dataset" in capsys.readouterr().err
    assert main(["study", "--dataset", str(bad), "--device", "cpu", "--amp"]) == 2
    assert "amp (mixed precision) needs device 'cuda'" in capsys.readouterr().err


@pytest.mark.slow
def test_msd_and_nnunet_raw_of_the_same_data_run_the_same_study(lesion, tmp_path):
    """The nnU-Net raw conversion of the data (test list -> imagesTs/labelsTs) gives the same cases, the same
    splits and so the same test units; two losses x two seeds with the shards merged."""
    raw = to_nnunet_raw(lesion, tmp_path / "raw", 501, "Lesion").parent
    setting = _tiny(raw, losses=("dice", "tversky"), seeds=(0, 1))
    out = tmp_path / "nn"
    for shard in ((0, 2), (1, 2)):
        run_study(setting, out_dir=out, workers=1, shard=shard, echo=lambda s: None)
    paths = report_study(out, echo=lambda s: None)
    nn = json.loads(paths["metrics"].read_text())
    assert list(nn["table"]) == ["dice", "tversky"] and nn["n_units"] == 2 * 2
    assert "nnunet layout" in nn["setting"]["data"] and "labelsTs" in nn["setting"]["split"]
    msd = run_study(dataclasses.replace(setting, dataset=str(lesion), losses=("dice",)), out_dir=tmp_path / "msd",
                    workers=1, echo=lambda s: None)
    units = json.loads(msd["metrics"].read_text())["units"]
    assert units == nn["units"]  # the same (seed, case) units


@pytest.mark.slow
def test_isles22_tree_through_the_data_script_then_the_study(tmp_path):
    """A fake ISLES'22 challenge tree -> prepare_isles22 (DWI + ADC, two channels) -> study --dataset."""
    root = _fake_isles(tmp_path / "ISLES-2022", n=6)
    prepare_isles22(tmp_path / "isles", root=root, val_frac=0.2, test_frac=0.2)
    out = tmp_path / "out"
    assert main(["study", "--dataset", str(tmp_path / "isles"), "--out", str(out), "--device", "cpu", "--losses",
                 "dice", "--seeds", "0", "--epochs", "2", "--val-points", "2", "--lr-grid", "1e-3", "--channels",
                 "4,8", "--patch", "8,8,8", "--num-samples", "1", "--workers", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "2 image channel(s)" in metrics["setting"]["data"] and list(metrics["table"]) == ["dice"]
    plan = json.loads((out / PLAN_FILE).read_text())
    assert plan["data"]["in_channels"] == 2 and plan["setting"]["patch"] == [8, 8, 8]


@pytest.mark.slow
def test_a_multi_class_dataset_reports_each_lesion_label(tmp_path):
    """organ (1) and tumour (2): trained as three classes, scored lesion-wise per label, a report each."""
    generate(tmp_path / "organ", task="organ_tumour", num_cases=7, seed=0, shape=SHAPE, val_frac=0.2,
             test_frac=0.3, foreground_fraction=0.05, empty_fraction=0.0)
    out = tmp_path / "out"
    lines: list[str] = []
    paths = run_study(_tiny(tmp_path / "organ"), out_dir=out, workers=1, echo=lines.append)
    assert (out / "label1_organ" / "report.md").is_file() and (out / "label2_tumour" / "report.md").is_file()
    assert "label1_organ/report.md" in paths["report"].read_text()
    result = json.loads(next((out / "runs").glob("dice-*/result.json")).read_text())
    assert sorted(result["labels"]) == ["1", "2"]
    assert any(line.startswith("lesion label 2 (tumour)") for line in lines)
    run = next((out / "runs").glob("dice-*"))
    assert (run / "examples.npz").is_file() and (run / "examples_label2.npz").is_file()
    organ = json.loads((out / "label1_organ" / "metrics.json").read_text())
    tumour = json.loads((out / "label2_tumour" / "metrics.json").read_text())
    assert organ["data"] != tumour["data"]  # each label's own lesion statistics
    assert organ["setting"]["lesion label"] == "1 (organ)"
