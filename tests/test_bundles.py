"""The reference bundles, tested as in MONAI's model zoo: train -> evaluate -> inference through ConfigWorkflow on tiny
synthetic data, the `python -m monai.bundle` command line, metadata and network checks, every loss override, resume
after a kill, a 2-process torchrun (gloo, CPU) and short loss names in configs."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

import monai_segloss

pytest.importorskip("ignite", reason="the bundles run on MONAI's ignite engines (pip install pytorch-ignite)")
from monai.bundle import (  # noqa: E402
    ComponentLocator,
    ConfigParser,
    ConfigWorkflow,
    verify_metadata,
    verify_net_in_out,
)

REPO = Path(__file__).resolve().parents[1]
BUNDLES = REPO / "bundles"
LESION = BUNDLES / "lesion_focal_tversky"
ORGAN = BUNDLES / "organ_tumour_unified_focal"
SCHEMA_NAME = "meta_schema_20240725.json"
TINY = {"network_def#channels": [4, 8], "network_def#strides": [2], "network_def#num_res_units": 0,
        "patch_size": [16, 16, 16], "num_workers": 0, "num_samples": 1, "batch_size": 2}
LOSS_OVERRIDES = {  # override file -> monai_segloss names it needs
    "dice.json": ["SegDiceLoss"],
    "focal_tversky.json": ["FocalTverskyLoss"],
    "tversky.json": ["SegTverskyLoss"],
    "focal.json": ["SegFocalLoss"],
    "dice_ce.json": ["SegDiceCELoss"],
    "unified_focal.json": ["UnifiedFocalLoss"],
    "boundary.json": ["CompoundLoss", "SegBoundaryLoss", "LinearRamp", "BatchMapsHandler"],
    "blob.json": ["BlobLoss", "BatchMapsHandler"],
}
ORGAN_DEFAULT_NEEDS = ["CompoundLoss", "UnifiedFocalLoss"]
FALLBACK_LOSS = {"_target_": "monai_segloss.FocalTverskyLoss", "softmax": True, "to_onehot_y": True,
                 "include_background": False, "batch": True}


def _missing(names: list[str]) -> list[str]:
    return [n for n in names if not hasattr(monai_segloss, n)]


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    return env


# ----------------------------------------------------------------------------------------------- tiny data
def _tiny_dataset(out: Path, task: str, n: int = 7, shape=(24, 24, 16), seed: int = 0) -> None:
    """A tiny MSD-style data set (4 training, 2 validation, 1 test case) of spheres in noise: enough to run the
    bundles, nothing to learn from."""
    rng = np.random.default_rng(seed)
    (out / "imagesTr").mkdir(parents=True)
    (out / "labelsTr").mkdir()
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    entries = []
    for i in range(n):
        lab = np.zeros(shape, np.uint8)
        if task == "organ_tumour":
            c = np.array(shape) / 2
            lab[(((grid - c) / (np.array(shape) * 0.35)) ** 2).sum(-1) <= 1] = 1
        for _ in range(int(rng.integers(1, 3))):
            c, r = rng.uniform(4, np.array(shape) - 4), rng.uniform(1.5, 3.0)
            lab[((grid - c) ** 2).sum(-1) <= r * r] = 2 if task == "organ_tumour" else 1
        img = (rng.normal(0, 0.1, shape) + 0.8 * lab).astype(np.float32)
        nib.save(nib.Nifti1Image(img, np.eye(4)), out / "imagesTr" / f"case{i}.nii.gz")
        nib.save(nib.Nifti1Image(lab, np.eye(4)), out / "labelsTr" / f"case{i}.nii.gz")
        entries.append({"image": f"./imagesTr/case{i}.nii.gz", "label": f"./labelsTr/case{i}.nii.gz"})
    (out / "dataset.json").write_text(json.dumps(
        {"name": f"tiny_{task}", "training": entries[:4], "validation": entries[4:6], "test": entries[6:]}))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Tiny data sets (24x24x16, 4 training / 2 validation / 1 test case) from the project's synthetic generator
    (data_scripts/synthetic.py) when it is present, from the small stand-in above otherwise."""
    root = tmp_path_factory.mktemp("bundle_data")
    try:
        from data_scripts.synthetic import generate
    except ImportError:
        generate = None
    out = {}
    for task in ("lesion", "organ_tumour"):
        if generate is not None:
            generate(root / task, task=task, num_cases=7, seed=0, shape=(24, 24, 16), val_frac=0.3, test_frac=0.15)
        else:
            _tiny_dataset(root / task, task)
        splits = json.loads((root / task / "dataset.json").read_text())
        assert [len(splits[k]) for k in ("training", "validation", "test")] == [4, 2, 1]
        out[task] = root / task
    return out


def _workflow(bundle: Path, files: list[str], workflow_type: str, out: Path, dataset_dir: Path,
              **override) -> ConfigWorkflow:
    return ConfigWorkflow(config_file=[str(bundle / "configs" / f) for f in files],
                          meta_file=str(bundle / "configs" / "metadata.json"),
                          logging_file=str(bundle / "configs" / "logging.conf"), workflow_type=workflow_type,
                          bundle_root=str(out), dataset_dir=str(dataset_dir), **{**TINY, **override})


def _run(wf: ConfigWorkflow) -> ConfigWorkflow:
    wf.initialize()
    assert wf.check_properties() == []
    wf.run()
    wf.finalize()
    return wf


def _organ_loss_override() -> dict:
    missing = _missing(ORGAN_DEFAULT_NEEDS)
    return {"loss": FALLBACK_LOSS} if missing else {}


# ------------------------------------------------------------------------------------------- pipelines
@pytest.mark.parametrize("bundle,task", [(LESION, "lesion"), (ORGAN, "organ_tumour")], ids=["lesion", "organ"])
def test_train_evaluate_infer(bundle, task, data, tmp_path):
    """Train one epoch (with validation and checkpoints), evaluate the best model, infer on the test split.
    The organ bundle trains with its default loss once CompoundLoss and UnifiedFocalLoss are in the package (until
    then with the focal Tversky loss, so the rest of the pipeline is still exercised)."""
    extra = _organ_loss_override() if bundle is ORGAN else {}
    trainer = _run(_workflow(bundle, ["train.json"], "train", tmp_path, data[task], max_epochs=1, val_interval=1,
                             **extra))
    assert trainer.trainer.state.epoch == 1
    key = "val_lesion_f1" if bundle is LESION else "val_tumour_lesion_f1"
    f1 = trainer.evaluator.state.metrics[key]
    assert 0.0 <= f1 <= 1.0
    # the run's folder is named for its loss configuration (training/bundle_runs.py)
    run = trainer.parser.get_parsed_content("run_name")
    assert run == monai_segloss.training.bundle_runs.run_name(trainer.parser.get_parsed_content("loss"))
    assert (tmp_path / "models" / run / "model.pt").is_file()
    assert (tmp_path / "models" / run / "checkpoint_epoch=1.pt").is_file()

    evaluator = _run(_workflow(bundle, ["train.json", "evaluate.json"], "eval", tmp_path, data[task], **extra))
    metrics = evaluator.evaluator.state.metrics
    assert metrics[key] == pytest.approx(f1)  # the best model of one epoch is the trained model
    assert any(k.endswith("hd95") for k in metrics)
    assert (tmp_path / "eval" / run / "validation" / "metrics.csv").is_file()

    _run(_workflow(bundle, ["train.json", "inference.json"], "infer", tmp_path, data[task], **extra))
    test_case = json.loads((data[task] / "dataset.json").read_text())["test"][0]["image"]
    name = Path(test_case).name.replace(".nii.gz", "")
    seg = nib.load(tmp_path / "eval" / run / "test" / f"{name}_seg.nii.gz").get_fdata()
    assert seg.shape == nib.load(data[task] / test_case).shape  # back in the input geometry
    assert set(np.unique(seg)) <= set(range(3 if bundle is ORGAN else 2))


def test_organ_default_loss_one_iteration(data, tmp_path):
    missing = _missing(ORGAN_DEFAULT_NEEDS)
    if missing:
        pytest.skip(f"monai_segloss lacks {missing} (issue 3, not merged yet)")
    wf = _run(_workflow(ORGAN, ["train.json"], "train", tmp_path, data["organ_tumour"], max_epochs=1,
                        val_interval=100, **{"train#trainer#epoch_length": 1}))
    loss = wf.trainer.state.output[0]["loss"]
    assert wf.trainer.state.iteration == 1 and math.isfinite(float(loss))
    assert set(wf.parser.get_parsed_content("loss").last_terms) == {"modified_focal", "modified_focal_tversky"}


@pytest.mark.parametrize("override", sorted(LOSS_OVERRIDES))
def test_loss_override_one_iteration(override, data, tmp_path):
    missing = _missing(LOSS_OVERRIDES[override])
    if missing:
        pytest.skip(f"monai_segloss lacks {missing} (not merged yet)")
    cfg = json.loads((LESION / "configs" / override).read_text())
    assert cfg["loss"]["_target_"].startswith("monai_segloss.")
    wf = _run(_workflow(LESION, ["train.json", override], "train", tmp_path, data["lesion"], max_epochs=1,
                        val_interval=100, **{"train#trainer#epoch_length": 1}))
    loss_fn = wf.parser.get_parsed_content("loss")
    assert type(loss_fn).__name__ == cfg["loss"]["_target_"].rsplit(".", 1)[1]
    assert wf.trainer.state.iteration == 1
    assert math.isfinite(float(wf.trainer.state.output[0]["loss"]))
    maps = {"boundary.json": "label_dist", "blob.json": "label_instances"}.get(override)
    if maps is not None:  # precomputed by the transform in the loader, handed to the loss by BatchMapsHandler
        batch = wf.trainer.state.batch  # decollated after the iteration: a list of dicts
        assert maps in batch[0] and wf.trainer.loss_function.batch_maps_handler is not None
    if override == "boundary.json":  # the ramp starts at epoch 0: region weight 1, boundary weight 0
        assert loss_fn.epoch == 0
        assert loss_fn.current_weights() == pytest.approx({"region": 1.0, "boundary": 0.0})


def test_cli_run(data, tmp_path):
    """`python -m monai.bundle run` trains the lesion bundle for one epoch from the command line, in a fresh
    interpreter, with the loss named by its short name (resolvable because train.json does `$import monai_segloss`).
    """
    cmd = [sys.executable, "-m", "monai.bundle", "run",
           "--config_file", "['configs/train.json']", "--meta_file", "configs/metadata.json",
           "--logging_file", "configs/logging.conf", "--bundle_root", str(tmp_path),
           "--dataset_dir", str(data["lesion"]), "--max_epochs", "1", "--val_interval", "1",
           "--loss", repr({"_target_": "FocalTverskyLoss", "softmax": True, "to_onehot_y": True,
                           "include_background": False})]
    for k, v in TINY.items():
        cmd += [f"--{k}", json.dumps(v)]
    proc = subprocess.run(cmd, cwd=LESION, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (ckpt,) = (tmp_path / "models").glob("focal_tversky-*/checkpoint_epoch=1.pt")  # named for the loss
    assert "val_lesion_f1" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- run folders, data checks
def test_short_run_two_losses_and_missing_model(data, tmp_path, capsys):
    """A budget below val_interval still ends with model.pt (the last weights); a second loss trains into its own
    folder, keeping the first model; evaluating a loss never trained stops with one line naming the file."""
    from monai_segloss.training.bundle_runs import RunRefused

    first = _run(_workflow(LESION, ["train.json"], "train", tmp_path, data["lesion"], max_epochs=1, val_interval=5))
    second = _run(_workflow(LESION, ["train.json", "tversky.json"], "train", tmp_path, data["lesion"], max_epochs=1,
                            val_interval=5))
    from monai_segloss.app.study import shipped_loss

    folders = [Path(wf.parser.get_parsed_content("ckpt_dir")) for wf in (first, second)]
    default = shipped_loss(LESION)  # the default loss's folder is named for its override file's key
    assert default not in (None, "tversky") and folders[0] != folders[1]
    assert [f.name.rsplit("-", 1)[0] for f in folders] == [default, "tversky"]
    for folder in folders:
        assert (folder / "model.pt").is_file() and (folder / "checkpoint_epoch=1.pt").is_file()
    state = torch.load(folders[0] / "model.pt", weights_only=True)
    assert all(torch.equal(v, state[k]) for k, v in first.parser.get_parsed_content("network").state_dict().items())
    assert "the last weights (epoch 1; no validation ran in this run)" in capsys.readouterr().out
    wf = _workflow(LESION, ["train.json", "focal.json", "evaluate.json"], "eval", tmp_path, data["lesion"])
    wf.initialize()
    with pytest.raises(RunRefused, match=r"no trained model .*/models/focal-[0-9a-f]{8}/model.pt: train this loss"):
        wf.run()


def test_bad_data_stops_before_training(data, tmp_path):
    """A label smaller than its image (which the padding transform would silently pad) stops the run before any
    training, naming the file; no checkpoint is written."""
    from monai_segloss.training.bundle_runs import RunRefused

    bad = tmp_path / "bad"
    shutil.copytree(data["lesion"], bad)
    label = bad / json.loads((bad / "dataset.json").read_text())["validation"][0]["label"]
    img = nib.load(label)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[:, :, :10], img.affine), label)
    wf = _workflow(LESION, ["train.json"], "train", tmp_path, bad, max_epochs=1)
    wf.initialize()
    with pytest.raises(RunRefused) as info:
        wf.run()
    lines = str(info.value).splitlines()
    assert lines[0] == f"error: 1 of 6 cases of {bad / 'dataset.json'} failed the data check; nothing was trained:"
    image = label.parent.parent / "imagesTr" / label.name
    assert lines[1] == f"  {label}: label shape (24, 24, 10) differs from its image {image} (24, 24, 16)"
    assert not list((tmp_path / "models").glob("*/checkpoint_epoch=*.pt"))


# ------------------------------------------------------------------------------------------ resume
_KILL_SCRIPT = """
import os, signal, sys
from ignite.engine import Events
from monai.bundle import ConfigWorkflow
cfg = {cfg!r}
wf = ConfigWorkflow(**cfg)
wf.initialize()
# mid-run: after the first iteration of epoch 2 (epoch 1, its validation and checkpoint are done), die hard
trainer = wf.parser.get_parsed_content("train#trainer")
trainer.add_event_handler(Events.ITERATION_COMPLETED,
                          lambda e: e.state.epoch == 2 and os.kill(os.getpid(), signal.SIGKILL))
wf.run()
"""


def test_resume_after_kill(data, tmp_path):
    """Killed during epoch 2 of 2, training resumes from the latest checkpoint at epoch 2 with the optimizer state."""
    base = {"config_file": str(LESION / "configs" / "train.json"), "workflow_type": "train",
            "meta_file": str(LESION / "configs" / "metadata.json"), "bundle_root": str(tmp_path),
            "dataset_dir": str(data["lesion"]), "max_epochs": 2, "val_interval": 1, "run_name": "r", **TINY}
    script = _KILL_SCRIPT.format(cfg=base)
    proc = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-2000:]
    ckpt = tmp_path / "models" / "r" / "checkpoint_epoch=1.pt"
    assert ckpt.is_file() and not (tmp_path / "models" / "r" / "checkpoint_epoch=2.pt").exists()
    assert monai_segloss.latest_checkpoint(tmp_path / "models" / "r") == str(ckpt)
    saved = torch.load(ckpt, weights_only=True)  # plain tensors and containers: loads without unpickling code
    assert set(saved) == {"model", "optimizer", "lr_scheduler", "trainer"}
    iters_per_epoch = saved["trainer"]["epoch_length"]
    assert saved["trainer"]["iteration"] == iters_per_epoch
    saved_steps = {float(s["step"]) for s in saved["optimizer"]["state"].values()}
    assert saved_steps == {float(iters_per_epoch)}

    cfg = {k: v for k, v in base.items() if k != "config_file"}
    wf = ConfigWorkflow(config_file=base["config_file"], resume=True, **{k: v for k, v in cfg.items()})
    wf.initialize()
    assert wf.check_properties() == []
    started: list[int] = []
    from ignite.engine import Events

    trainer = wf.parser.get_parsed_content("train#trainer")
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda e: started.append(e.state.epoch))
    wf.run()
    assert started == [2]  # only the second epoch ran
    assert trainer.state.epoch == 2 and trainer.state.iteration == 2 * iters_per_epoch
    optimizer = wf.parser.get_parsed_content("optimizer")
    steps = {float(s["step"]) for s in optimizer.state.values()}
    assert steps == {2.0 * iters_per_epoch}  # Adam's step count continued from the checkpoint
    scheduler = wf.parser.get_parsed_content("lr_scheduler")
    assert scheduler.last_epoch == 2
    assert (tmp_path / "models" / "r" / "checkpoint_epoch=2.pt").is_file()
    wf.finalize()


def test_no_resume_without_checkpoint(data, tmp_path):
    wf = _workflow(LESION, ["train.json"], "train", tmp_path, data["lesion"], resume=True)
    wf.initialize()
    assert wf.parser.get_parsed_content("resume_checkpoint") is None
    assert wf.parser.get_parsed_content("train#checkpoint_loader") is None  # disabled: nothing to load


# -------------------------------------------------------------------------------------- distributed
def test_multi_gpu_config_torchrun_gloo(data, tmp_path):
    """multi_gpu_train.json under torchrun with 2 CPU processes (gloo): both ranks train, rank 0 writes; the
    validation metric over 3 cases split 2 + 1 over the ranks counts each case once."""
    # 3 validation cases (the data set's 2 and its test case): an even split over 2 ranks would repeat one
    split = json.loads((data["lesion"] / "dataset.json").read_text())
    split["validation"] = split["validation"] + split["test"]
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps(split))
    assert len(split["validation"]) == 3
    # after one epoch of a tiny network the 3 cases may score alike, so the gathered value alone cannot tell a
    # repeated case: the validation sampler must not pad the split to an even length
    multi = json.loads((LESION / "configs" / "multi_gpu_train.json").read_text())
    assert multi["validate#sampler"]["even_divisible"] is False
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "-m", "monai.bundle", "run",
           "--config_file", "['configs/train.json','configs/multi_gpu_train.json']",
           "--meta_file", "configs/metadata.json", "--logging_file", "configs/logging.conf",
           "--bundle_root", str(tmp_path), "--dataset_dir", str(data["lesion"]), "--datalist_file", str(datalist),
           "--max_epochs", "1", "--val_interval", "1"]
    for k, v in TINY.items():
        cmd += [f"--{k}", json.dumps(v)]
    proc = subprocess.run(cmd, cwd=LESION, env=_env(), capture_output=True, text=True, timeout=400)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "Engine run finished" in log and "val_lesion_f1" in log
    (run,) = (tmp_path / "models").iterdir()
    saved = torch.load(run / "checkpoint_epoch=1.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in saved["model"])  # the DDP wrapper is not saved
    # 4 training cases, 1 sample each, batch 2, split over 2 ranks: 1 iteration per rank and epoch
    assert saved["trainer"]["epoch_length"] == 1
    assert (run / "model.pt").is_file()
    # the validation metric was gathered over both ranks (2 cases and 1): evaluating the saved model on the same 3
    # cases in one process gives the same lesion F1
    match = re.search(r"Key metric: val_lesion_f1 best value: ([0-9.eE+-]+) at epoch: 1", log)
    assert match, log[-3000:]
    single = _run(_workflow(LESION, ["train.json", "evaluate.json"], "eval", tmp_path, data["lesion"],
                            datalist_file=str(datalist)))
    assert len(single.evaluator.data_loader.dataset) == 3
    assert single.evaluator.state.metrics["val_lesion_f1"] == pytest.approx(float(match.group(1)))


# ------------------------------------------------------------------------------- metadata and network
# MONAI's bundle metadata schema (the "schema" URL of every metadata.json), kept in the repository so the check
# runs offline; its md5 is the published file's
SCHEMA = REPO / "tests" / "data" / SCHEMA_NAME
SCHEMA_MD5 = "5ebfc81f0a154be3be8c809d03ba10fc"


@pytest.mark.parametrize("bundle", [LESION, ORGAN], ids=["lesion", "organ"])
def test_metadata_and_network(bundle, tmp_path):
    local = tmp_path / SCHEMA_NAME
    shutil.copy(SCHEMA, local)  # verify_metadata downloads the schema unless the file is already there
    meta = bundle / "configs" / "metadata.json"
    verify_metadata(meta_file=str(meta), filepath=str(local), hash_val=SCHEMA_MD5, hash_type="md5")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(meta.read_text()), json.loads(local.read_text()))
    verify_net_in_out(net_id="network_def", meta_file=str(meta), config_file=str(bundle / "configs" / "train.json"),
                      device="cpu", n=2, any=1)


def test_bundle_layout_and_dotted_paths():
    for bundle in (LESION, ORGAN):
        for f in ("configs/metadata.json", "configs/train.json", "configs/evaluate.json", "configs/inference.json",
                  "configs/multi_gpu_train.json", "configs/logging.conf", "docs/README.md", "LICENSE"):
            assert (bundle / f).is_file(), f"{bundle.name}/{f}"
        for cfg_file in (bundle / "configs").glob("*.json"):
            text = cfg_file.read_text()
            cfg = json.loads(text)
            ours = [t for t in _targets(cfg) if t in _our_names() or t.split(".")[-1] in _our_names()]
            assert all(t.startswith("monai_segloss.") for t in ours), (cfg_file, ours)
            if cfg_file.name == "train.json":  # the others merge on it
                assert "$import monai_segloss" in cfg["imports"]


def _targets(cfg):
    if isinstance(cfg, dict):
        if "_target_" in cfg:
            yield cfg["_target_"]
        for v in cfg.values():
            yield from _targets(v)
    elif isinstance(cfg, list):
        for v in cfg:
            yield from _targets(v)


def _our_names() -> set[str]:
    return {n for n in dir(monai_segloss) if not n.startswith("_")} | {"LossScheduleHandler"}


# ----------------------------------------------------------------------------------------- short names
def test_short_names_resolve_to_monai_segloss():
    """A config that imports monai_segloss names every loss class, the lesion metric and the schedule helpers by
    short name, and each short name resolves to exactly one module: ours (MONAI's locator searches every module
    whose name starts with "monai" and silently takes the first on a clash). The fresh-interpreter case is
    test_cli_run, whose loss is named by short name."""
    names: dict[str, dict] = {monai_segloss.loss_class(k).__name__: {} for k in monai_segloss.available_losses()}
    names["SegDiceCELoss"] = {"softmax": True}  # without an activation it warns (test_common_mistakes)
    names["LesionWiseMetric"] = {}
    names["LossScheduleHandler"] = {"loss": "$None", "epoch": False, "step": False}
    if hasattr(monai_segloss, "CompoundLoss"):
        names["CompoundLoss"] = {"terms": ["dice"]}
    if hasattr(monai_segloss, "LinearRamp"):
        names["LinearRamp"] = {}
    config = {n: {"_target_": n, **kw} for n, kw in names.items()}
    parser = ConfigParser({"imports": ["$import monai_segloss"], **config})
    locator = ComponentLocator()
    for name in names:
        located = locator.get_component_module_name(name)
        assert isinstance(located, str) and located.startswith("monai_segloss"), (name, located)
        obj = parser.get_parsed_content(name)
        assert type(obj).__name__ == name and type(obj).__module__.startswith("monai_segloss")
    assert {"FocalTverskyLoss", "SegDiceLoss"} <= set(names)
