"""The path a new user walks, from the built wheel in a fresh environment and an empty folder, following only the
README, the bundle docs and docs/nnunet.md (slow: ``make test-slow``).

The wheel and the cached environment come from tests/test_packaging.py (``build/wheel-test/``; nnU-Net is added as
``make test`` adds it, without timm). In an empty folder: ``--help``; synthetic data; the lesion bundle exported;
two losses trained one after the other, both models kept; each resumed; evaluation on the validation and the test
split into separate files; inference; ``profile`` with its override merged after train.json and trained; every bad
input of issue 21 refused with its one-line message (the table of inputs, messages and lines printed is written to
``build/user-path/bad_inputs.json``); and nnU-Net on CPU: plan and preprocess, one short epoch of our trainer through
``monai-segloss nnunet-train`` and nnU-Net's final validation, then one more epoch through the Python API
(``continue_training``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from test_packaging import REPO, TORCH_SPEC, _fresh_venv, _run, _tracked_copy  # tests/ is on sys.path

NNUNET_SPEC = ["nnunetv2==2.8.1", "dynamic-network-architectures==0.4.4"]  # as the Makefile's NNUNET_SPEC
TINY = {"network_def#channels": [4, 8], "network_def#strides": [2], "network_def#num_res_units": 0,
        "patch_size": [16, 16, 16], "num_samples": 1, "batch_size": 2}
REPORT = REPO / "build" / "user-path" / "bad_inputs.json"


class Walk:
    """Runs the user's commands in ``work`` with the wheel's environment; keeps the bad-input table."""

    def __init__(self, root: Path, work: Path, env: dict[str, str]) -> None:
        self.py, self.cli, self.bin = root / "bin" / "python", root / "bin" / "monai-segloss", root / "bin"
        self.work, self.env = work, env
        self.table: list[dict] = []

    def run(self, cmd: list, expect: int = 0, timeout: float = 900) -> str:
        proc = subprocess.run([str(c) for c in cmd], cwd=self.work, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        out = proc.stdout + proc.stderr
        assert proc.returncode == expect, f"{cmd}: exit {proc.returncode}, expected {expect}\n{out[-5000:]}"
        return out

    def bundle(self, configs: list[str], *args: str, expect: int = 0) -> str:
        files = [f"b/configs/{c}" if "/" not in c else c for c in configs]
        cmd = [self.py, "-m", "monai.bundle", "run", "--config_file", json.dumps(files).replace('"', "'"),
               "--bundle_root", "b", "--meta_file", "b/configs/metadata.json", "--dataset_dir", "data", *args]
        for k, v in TINY.items():
            cmd += [f"--{k}", json.dumps(v)]
        return self.run(cmd, expect)

    def refused(self, what: str, out: str, message: str) -> None:
        """``out`` holds exactly one line starting with ``error: ``, containing ``message``; record it."""
        errors = [line for line in out.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and message in errors[0], f"{what}:\n{out[-3000:]}"
        assert "Traceback" not in out, f"{what}:\n{out[-3000:]}"
        ours = out[out.index(errors[0]):].rstrip("\n").splitlines()
        self.table.append({"input": what, "message": "\n".join(ours), "lines_printed": len(out.splitlines()),
                           "lines_of_ours": len(ours)})


def _variant(src: Path, dest: Path, edit) -> Path:
    """A copy of the data set ``src`` whose first training label is replaced by ``edit(label array)``."""
    shutil.copytree(src, dest)
    entry = json.loads((dest / "dataset.json").read_text())["training"][0]
    path = dest / entry["label"]
    img = nib.load(path)
    nib.save(nib.Nifti1Image(edit(np.asarray(img.dataobj)), img.affine), path)
    return path


@pytest.mark.slow
def test_the_user_path(tmp_path):
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore:Editable installation")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, _tracked_copy(tmp_path / "src")],
         tmp_path, env)
    (wheel,) = dist.glob("monai_segloss-*.whl")
    assert wheel.name.startswith("monai_segloss-0.2.0-")  # the version the CHANGELOG describes
    root = _fresh_venv(env)
    pip = [root / "bin" / "python", "-m", "pip", "install", "-q"]
    _run([*pip, f"{wheel}[bundle,demo,nnunet-cpu]", TORCH_SPEC], tmp_path, env)
    _run([*pip, "--no-deps", "--force-reinstall", wheel], tmp_path, env)
    _run([*pip, "--no-deps", *NNUNET_SPEC], tmp_path, env)
    (root / ".ready").touch()
    work = tmp_path / "work"
    work.mkdir()
    w = Walk(root, work, env)
    installed = time.perf_counter()

    # --help and bundle list answer without importing torch (the parser is outside the package)
    t0 = time.perf_counter()
    assert "nnunet-train" in w.run([w.cli, "--help"])
    help_s = time.perf_counter() - t0
    assert "lesion_focal_tversky" in w.run([w.cli, "bundle", "list"])
    probe = "import sys, monai_segloss_cli as c; c.main(['bundle', 'list']); print('torch' in sys.modules)"
    assert w.run([w.py, "-c", probe]).splitlines()[-1] == "False"
    usage = w.run([w.py, "-m", "monai_segloss.data_scripts.synthetic", "--help"])
    assert usage.startswith("usage: python -m monai_segloss.data_scripts.synthetic")

    # data and the bundle, as the README and the bundle docs say
    w.run([w.py, "-m", "monai_segloss.data_scripts.synthetic", "--task", "lesion", "--out", "data", "--cases", "7",
           "--shape", "24", "24", "16", "--val-frac", "0.3"])
    w.run([w.cli, "bundle", "export", "lesion_focal_tversky", "b"])

    # two losses, one after the other, with fewer epochs than val_interval: both models kept
    out = w.bundle(["train.json"], "--max_epochs", "2")
    assert "worker processes in total" not in out  # num_workers fits the machine: no DataLoader warning
    w.bundle(["train.json", "dice_ce.json"], "--max_epochs", "2")
    runs = {p.name.split("-")[0]: p for p in (work / "b" / "models").iterdir()}
    assert sorted(runs) == ["dice", "dice_ce"]
    for run in runs.values():
        assert (run / "model.pt").is_file() and (run / "checkpoint_epoch=2.pt").is_file()
    # resume each: only its own checkpoint
    for configs, key in ((["train.json"], "dice"), (["train.json", "dice_ce.json"], "dice_ce")):
        out = w.bundle(configs, "--max_epochs", "3", "--resume", "True")
        assert f"resuming from b/models/{runs[key].name}/checkpoint_epoch=2.pt (epoch 2 of 3)" in out
        assert (runs[key] / "checkpoint_epoch=3.pt").is_file()
    w.refused("--resume True when max_epochs is already reached",
              w.bundle(["train.json", "dice_ce.json"], "--max_epochs", "3", "--resume", "True", expect=2),
              "nothing left to train; pass --max_epochs N with N > 3")
    w.refused("a new run over an existing run of the same loss",
              w.bundle(["train.json"], "--max_epochs", "2", expect=2),
              "already holds a run of this loss configuration (checkpoint_epoch=3.pt); continue it with --resume")
    out = w.bundle(["train.json", "focal.json"], "--max_epochs", "1", "--resume", "True")
    assert "note: --resume True: no checkpoint of this loss configuration in b/models/focal-" in out

    # evaluation on validation and on test, separate files; inference
    w.bundle(["train.json", "evaluate.json"])
    default_eval = work / "b" / "eval" / runs["dice"].name
    val_csv, test_csv = (default_eval / s / "metrics.csv" for s in ("validation", "test"))
    written = val_csv.stat().st_mtime_ns
    w.bundle(["train.json", "evaluate.json"], "--eval_split", "test")
    assert test_csv.is_file() and val_csv.stat().st_mtime_ns == written  # the validation's file is kept
    w.bundle(["train.json", "dice_ce.json", "inference.json"])
    test_case = json.loads((work / "data" / "dataset.json").read_text())["test"][0]["image"]
    seg = work / "b" / "eval" / runs["dice_ce"].name / "test" / Path(test_case).name.replace(".nii.gz", "_seg.nii.gz")
    assert nib.load(seg).shape == nib.load(work / "data" / test_case).shape
    w.refused("evaluate a loss that was never trained",
              w.bundle(["train.json", "blob.json", "evaluate.json"], expect=2),
              "no trained model b/models/blob-")
    w.refused("inference with a loss that was never trained",
              w.bundle(["train.json", "unified_focal.json", "inference.json"], expect=2),
              "no trained model b/models/unified_focal-")

    # profile, its override merged after train.json, and trained
    w.run([w.cli, "profile", "data", "--write-override", "profiled.json"])
    assert "imports" not in json.loads((work / "profiled.json").read_text())
    w.bundle(["train.json", "./profiled.json"], "--max_epochs", "1", "--run_name", "profiled")
    assert (work / "b" / "models" / "profiled" / "model.pt").is_file()

    # bad data: refused before training, one line per bad case naming the file
    data = work / "data"
    lab = _variant(data, work / "small", lambda a: a[:, :, :12].copy())
    w.refused("a label smaller than its image (train)", w.bundle(["train.json"], "--dataset_dir", "small",
                                                                  "--run_name", "x", expect=2),
              "1 of 6 cases of small/dataset.json failed the data check; nothing was trained")
    assert w.table[-1]["message"].splitlines()[1].startswith(f"  small/{lab.relative_to(work / 'small')}: "
                                                             "label shape (24, 24, 12) differs from its image")
    _variant(data, work / "large", lambda a: np.pad(a, ((0, 0), (0, 0), (0, 8))))
    w.refused("a label larger than its image (train)",
              w.bundle(["train.json"], "--dataset_dir", "large", "--run_name", "x", expect=2),
              "1 of 6 cases of large/dataset.json failed the data check")

    def three(a):
        a = a.copy()
        a[0, 0, 0] = 3
        return a

    _variant(data, work / "value3", three)
    w.refused("label value 3 in the binary bundle (train)",
              w.bundle(["train.json"], "--dataset_dir", "value3", "--run_name", "x", expect=2),
              "1 of 6 cases of value3/dataset.json failed the data check")
    assert "label values [3] are not declared in dataset.json's labels (0 background, 1 lesion)" in \
        w.table[-1]["message"]
    out = w.run([w.cli, "profile", "value3"])
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: label 3 is not declared in value3/dataset.json")
    w.table.append({"input": "label value 3 (profile)", "message": warnings[0], "lines_printed": len(out.splitlines()),
                    "lines_of_ours": 1})
    w.refused("a label smaller than its image (profile)", w.run([w.cli, "profile", "small"], expect=2),
              "1 of 6 cases failed the data check:")
    shutil.copytree(data, work / "missing")
    (work / "missing" / json.loads((data / "dataset.json").read_text())["validation"][0]["image"]).unlink()
    w.refused("a missing image file (train)",
              w.bundle(["train.json"], "--dataset_dir", "missing", "--run_name", "x", expect=2),
              "1 of 6 cases of missing/dataset.json failed the data check")
    assert "image file not found: missing/imagesTr/" in w.table[-1]["message"]
    bundle_s = time.perf_counter() - installed

    # nnU-Net on CPU: raw data, plan and preprocess, one short epoch of our trainer, nnU-Net's final validation
    t0 = time.perf_counter()
    nn_env = {**env, "nnUNet_raw": str(work / "nn_raw"), "nnUNet_preprocessed": str(work / "nn_pre"),
              "nnUNet_results": str(work / "nn_results"), "nnUNet_compile": "false"}
    w.env = nn_env
    w.run([w.py, "-m", "monai_segloss.data_scripts.synthetic", "--task", "organ_tumour", "--out", "organ",
           "--cases", "6", "--shape", "32", "32", "32", "--val-frac", "0", "--test-frac", "0"])
    w.run([w.py, "-m", "monai_segloss.data_scripts.nnunet_raw", "--src", "organ", "--raw", "nn_raw", "--id", "501"])
    w.run([w.bin / "nnUNetv2_plan_and_preprocess", "-d", "501", "-c", "3d_fullres", "-np", "1", "-npfp", "1",
           "--verify_dataset_integrity", "--no_pbar"])
    w.refused("nnunet-train of an unknown data set",
              w.run([w.cli, "nnunet-train", "999", "3d_fullres", "0", "-device", "cpu"], expect=2),
              "Could not find a dataset with the ID 999")
    w.env = {**nn_env, "nnUNet_n_proc_DA": "0"}
    out = w.run([w.cli, "nnunet-train", "501", "3d_fullres", "0", "-tr", "nnUNetTrainerSegLoss_FocalTversky",
                 "--epochs", "1", "--iterations", "2", "--val-iterations", "1", "-device", "cpu"])
    fold = next((work / "nn_results").glob("Dataset501_*/nnUNetTrainerSegLoss_FocalTversky__nnUNetPlans__3d_fullres"
                                          "/fold_0"))
    assert f"done: {fold}" in out and (fold / "checkpoint_final.pth").is_file()
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert "foreground_mean" in summary
    api = ("from monai_segloss.nnunet.run import train; "
           "print(train('501', '3d_fullres', 0, trainer='nnUNetTrainerSegLoss_FocalTversky', device='cpu', epochs=2, "
           "iterations_per_epoch=1, val_iterations_per_epoch=1, continue_training=True))")
    assert w.run([w.py, "-c", api]).splitlines()[-1] == str(fold)
    log = sorted(fold.glob("training_log_*.txt"))[-1].read_text()
    assert "Epoch 1" in log
    nnunet_s = time.perf_counter() - t0

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"bad_inputs": w.table, "seconds": {
        "install": installed - start, "help": help_s, "bundle_walk": bundle_s, "nnunet": nnunet_s,
        "total": time.perf_counter() - start}}, indent=1) + "\n")
