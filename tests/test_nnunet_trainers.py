"""The nnU-Net v2 trainers (monai_segloss/nnunet/trainers.py) inside nnU-Net, on a tiny synthetic data set.

Once per session (shared by the xdist workers through a file lock): 6 synthetic organ/tumour cases of 32³ made by
``data_scripts.synthetic``, written in nnU-Net's raw format by ``data_scripts.nnunet_raw`` twice — labels with
unannotated slabs (ignore label 3), and nested regions with the same ignore label — then
``nnUNetv2_plan_and_preprocess -c 3d_fullres``. Each trainer then runs on CPU with the plan's architecture at 4-32
features per stage (the plan's 32-256 take about 10 s per step on a shared core) for one epoch of 2 training and
1 validation iterations, without nnU-Net's final validation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

nnunetv2 = pytest.importorskip("nnunetv2", reason="nnunetv2 is not installed (the nnunet extra; make test installs it)")

from batchgenerators.utilities.file_and_folder_operations import load_json  # noqa: E402
from filelock import FileLock  # noqa: E402
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss, DC_and_CE_loss  # noqa: E402
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss  # noqa: E402
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer  # noqa: E402

import monai_segloss as M  # noqa: E402
from data_scripts.nnunet_raw import to_nnunet_raw  # noqa: E402
from data_scripts.synthetic import generate  # noqa: E402
from monai_segloss.nnunet import TRAINER_NAMES, ext_trainer_folder  # noqa: E402
from monai_segloss.nnunet import trainers as T  # noqa: E402
from monai_segloss.nnunet.spec import SPEC_ENV  # noqa: E402

LABELS_ID, REGIONS_ID = 501, 502
IGNORE = 3  # organ 1, tumour 2, unannotated 3
CPU = torch.device("cpu")
FEATURES = [4, 8, 16, 32]
LABEL_OPTS = {"softmax": True, "to_onehot_y": True, "ignore_index": IGNORE}
HAS_TOPK = "topk_ce" in M.available_losses()


# ---------------------------------------------------------------- the data set, once per session

def _build(root: Path) -> None:
    generate(root / "msd", task="organ_tumour", num_cases=6, seed=0, shape=(32, 32, 32), foreground_fraction=0.03,
             empty_fraction=0.0, val_frac=0.0, test_frac=0.0)
    to_nnunet_raw(root / "msd", root / "raw", LABELS_ID, "TinyLabels", unannotated_slabs=4)
    to_nnunet_raw(root / "msd", root / "raw", REGIONS_ID, "TinyRegions", regions=True, unannotated_slabs=4)
    env = {**os.environ, "nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
           "nnUNet_results": str(root / "results")}
    cmd = [str(Path(sys.executable).parent / "nnUNetv2_plan_and_preprocess"), "-d", str(LABELS_ID), str(REGIONS_ID),
           "-c", "3d_fullres", "-np", "1", "-npfp", "1", "--verify_dataset_integrity", "--no_pbar"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    cases = [f"organ_tumour_{i:04d}" for i in range(6)]
    for d in root.glob("pre/Dataset*"):  # one fixed fold: 4 training and 2 validation cases
        (d / "splits_final.json").write_text(json.dumps([{"train": cases[:4], "val": cases[4:]}]))
    (root / "done").touch()


@pytest.fixture(scope="session")
def nnunet_data(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run
    root = base / "nnunet_tiny"
    with FileLock(str(root) + ".lock"):
        if not (root / "done").is_file():
            _build(root)
    return root


@pytest.fixture
def nnunet_env(nnunet_data, tmp_path, monkeypatch):
    # one thread per test worker: two xdist workers with two threads each on two cores make the CPU backward of the
    # 3D network 10-40x slower (0.4 s -> 11 s per step measured under load)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("nnUNet_raw", str(nnunet_data / "raw"))
    monkeypatch.setenv("nnUNet_preprocessed", str(nnunet_data / "pre"))
    monkeypatch.setenv("nnUNet_results", str(tmp_path / "results"))
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")  # augmentation in the main process
    monkeypatch.setenv("nnUNet_compile", "false")
    yield nnunet_data
    torch.set_num_threads(threads)


def _plans_and_json(root: Path, dataset_id: int, batch_dice: bool | None = None) -> tuple[dict, dict]:
    folder = next((root / "pre").glob(f"Dataset{dataset_id}_*"))
    plans = load_json(str(folder / "nnUNetPlans.json"))
    plans["continue_training"] = False
    config = plans["configurations"]["3d_fullres"]
    config["architecture"]["arch_kwargs"]["features_per_stage"] = FEATURES
    if batch_dice is not None:
        config["batch_dice"] = batch_dice
    return plans, load_json(str(folder / "dataset.json"))


def _trainer(cls, root: Path, dataset_id: int = LABELS_ID, batch_dice: bool | None = None):
    plans, dataset_json = _plans_and_json(root, dataset_id, batch_dice)
    tr = cls(plans=plans, configuration="3d_fullres", fold=0, dataset_json=dataset_json, device=CPU)
    tr.num_epochs, tr.num_iterations_per_epoch, tr.num_val_iterations_per_epoch = 1, 2, 1
    return tr


def _nnunet_weights(root: Path, dataset_id: int) -> tuple[float, ...]:
    """The deep-supervision weights nnU-Net's own trainer gives this plan."""
    return _trainer(nnUNetTrainer, root, dataset_id)._build_loss().weight_factors


def _fixed_batch(tr, epoch: int = 0):
    """Initialise, set the epoch through the trainer's hook, draw one batch and the network's output on it."""
    tr.num_epochs = max(tr.num_epochs, epoch + 1)  # the poly learning-rate schedule is defined up to num_epochs
    tr.initialize()
    tr.current_epoch = epoch
    tr.on_train_epoch_start()  # network.train() and the loss's epoch
    dl_train, _ = tr.get_dataloaders()
    batch = next(dl_train)
    with torch.no_grad():
        outputs = tr.network(batch["data"])
    return batch, outputs


def _weighted(weights, outputs, targets, fn) -> float:
    return float(sum(w * fn(o, t) for w, o, t in zip(weights, outputs, targets, strict=True) if w != 0))


def _finish_short_run(tr) -> None:
    """One epoch of nnU-Net's own loop (2 training, 1 validation iterations); it writes the final checkpoint."""
    tr.current_epoch, tr.num_epochs = 0, 1
    tr.run_training()
    ckpt = torch.load(os.path.join(tr.output_folder, "checkpoint_final.pth"), map_location="cpu", weights_only=False)
    assert ckpt["trainer_name"] == type(tr).__name__ and ckpt["current_epoch"] == 1
    losses = tr.logger.get_value("train_losses", step=None)
    assert len(losses) == 1 and np.isfinite(losses[0])
    record = json.loads(Path(tr.output_folder, T.SPEC_FILE).read_text())
    assert record == {"trainer": type(tr).__name__, "spec": tr.segloss_spec}


# ---------------------------------------------------------------- the named trainers, label maps + ignore label

def _dice(**kw):
    return M.get_loss("dice", include_background=False, batch=False, **LABEL_OPTS, **kw)


def _direct_label_loss(name: str):
    """Our loss called directly on nnU-Net's output and target of one scale, as each trainer should compute it."""
    fg = {"include_background": False}
    if name == "FocalTversky":
        return M.get_loss("focal_tversky", batch=False, **fg, **LABEL_OPTS)
    if name == "UnifiedFocal":
        return M.get_loss("unified_focal", variant="asymmetric", batch=False, **LABEL_OPTS)
    if name == "DiceFocal":
        focal = M.get_loss("focal", gamma=2.0, **LABEL_OPTS)
        return lambda o, t: _dice()(o, t) + focal(o, t)
    if name == "DiceTopK":
        topk = M.get_loss("topk_ce", **LABEL_OPTS)
        return lambda o, t: _dice()(o, t) + topk(o, t)
    if name == "Blob":
        return M.get_loss("blob", **fg, **LABEL_OPTS)
    if name == "DiceBoundary":  # at epoch 50 of the Kervadec ramp: α = 1 - 0.99·50/99 = 0.5
        boundary = M.get_loss("boundary", **fg, **LABEL_OPTS)
        return lambda o, t: 0.5 * _dice()(o, t) + 0.5 * boundary(o, t)
    raise AssertionError(name)


NAMED = ["FocalTversky", "UnifiedFocal", "DiceFocal",
         pytest.param("DiceTopK", marks=pytest.mark.skipif(not HAS_TOPK, reason="the topk_ce loss is not registered "
                                                           "yet (issue 15)")),
         "Blob", "DiceBoundary"]


@pytest.mark.parametrize("name", NAMED)
def test_named_trainer_logs_our_loss_and_trains(nnunet_env, name):
    tr = _trainer(getattr(T, f"nnUNetTrainerSegLoss_{name}"), nnunet_env)
    batch, outputs = _fixed_batch(tr, epoch=50 if name == "DiceBoundary" else 0)
    weights = _nnunet_weights(nnunet_env, LABELS_ID)
    assert tr.loss.weight_factors == weights and tr.loss.loss is tr._segloss  # nnU-Net's wrapper, our loss
    assert len(weights) == len(outputs) == len(batch["target"]) and weights[-1] == 0
    assert (batch["target"][0] == IGNORE).any()  # the unannotated slabs reach the loss as label 3
    expected = _weighted(weights, outputs, batch["target"], _direct_label_loss(name))
    logged = float(tr.train_step(batch)["loss"])  # what nnU-Net logs as train_loss for this batch
    assert logged == pytest.approx(expected, rel=1e-5, abs=1e-6)
    _finish_short_run(tr)


# ---------------------------------------------------------------- region-based training (sigmoid) + ignore label

@pytest.mark.parametrize("name, direct", [
    ("FocalTversky", lambda o, t: M.get_loss("focal_tversky", sigmoid=True)(o, t[:, :-1], mask=~t[:, -1:])),
    ("DiceFocal", lambda o, t: M.get_loss("dice", sigmoid=True)(o, t[:, :-1], mask=~t[:, -1:])
     + M.get_loss("focal", sigmoid=True, gamma=2.0)(o, t[:, :-1], mask=~t[:, -1:])),
])
def test_region_training_logs_our_loss(nnunet_env, name, direct):
    tr = _trainer(getattr(T, f"nnUNetTrainerSegLoss_{name}"), nnunet_env, REGIONS_ID)
    assert tr.segloss_targets.regions and tr.segloss_targets.ignore_label == IGNORE
    batch, outputs = _fixed_batch(tr)
    target = batch["target"][0]
    assert target.dtype == torch.bool and target.shape[1] == outputs[0].shape[1] + 1  # regions + ignore channel
    weights = _nnunet_weights(nnunet_env, REGIONS_ID)
    assert tr.loss.weight_factors == weights
    expected = _weighted(weights, outputs, batch["target"], direct)
    assert float(tr.train_step(batch)["loss"]) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    if name == "FocalTversky":
        _finish_short_run(tr)


# ---------------------------------------------------------------- the generic trainer and nnU-Net's default loss

COUNTERPART = {"terms": [{"loss": "dice", "kwargs": {"include_background": False}}, {"loss": "cross_entropy"}]}


def test_generic_trainer_counterpart_of_dc_and_ce_equals_nnunet_plus_one(nnunet_env, monkeypatch, tmp_path):
    """nnU-Net's DC_and_CE_loss is CE - Dice (its Dice loss is -Dice); ours is CE + (1 - Dice): the same up to 1."""
    spec_file = tmp_path / "loss.json"
    spec_file.write_text(json.dumps(COUNTERPART))
    monkeypatch.setenv(SPEC_ENV, str(spec_file))
    tr = _trainer(T.nnUNetTrainerSegLoss, nnunet_env)
    assert tr.segloss_spec == {"terms": [{"loss": "dice", "kwargs": {"include_background": False}},
                                         {"loss": "cross_entropy", "kwargs": {}}]}
    batch, outputs = _fixed_batch(tr)
    nnunet_loss = _trainer(nnUNetTrainer, nnunet_env)._build_loss()
    assert isinstance(nnunet_loss.loss, DC_and_CE_loss)
    with torch.no_grad():
        theirs = float(nnunet_loss(outputs, batch["target"]))
    ours = float(tr.train_step(batch)["loss"])
    assert ours == pytest.approx(theirs + 1.0, rel=1e-5, abs=1e-5)
    _finish_short_run(tr)


def test_region_counterpart_of_dc_and_bce(nnunet_env, monkeypatch):
    """Region mode: nnU-Net's DC_and_BCE_loss with an ignore label divides the masked BCE sum over the R region
    channels by the number of valid *voxels*, i.e. R times the mean BCE it computes without an ignore label; ours
    is the mean over valid voxel-channels in both cases. Both values are shown: ours = theirs + 1 - (R - 1)·BCE."""
    monkeypatch.setenv(SPEC_ENV, json.dumps({"terms": [{"loss": "dice"}, {"loss": "bce"}]}))
    tr = _trainer(T.nnUNetTrainerSegLoss, nnunet_env, REGIONS_ID)
    batch, outputs = _fixed_batch(tr)
    nnunet_loss = _trainer(nnUNetTrainer, nnunet_env, REGIONS_ID)._build_loss()
    assert isinstance(nnunet_loss.loss, DC_and_BCE_loss)
    with torch.no_grad():
        theirs = float(nnunet_loss(outputs, batch["target"]))
    weights = nnunet_loss.weight_factors
    bce = _weighted(weights, outputs, batch["target"],
                    lambda o, t: M.get_loss("bce", sigmoid=True)(o, t[:, :-1], mask=~t[:, -1:]))
    regions = outputs[0].shape[1]
    ours = float(tr.train_step(batch)["loss"])
    assert ours == pytest.approx(theirs + 1.0 - (regions - 1) * bce, rel=1e-5, abs=1e-5)
    assert abs(ours - (theirs + 1.0)) > 0.1 * bce  # the difference is real, not rounding


@pytest.mark.parametrize("batch_dice", [False, True])
def test_counterpart_equals_dc_and_ce_on_random_tensors(batch_dice):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 9, 8, 7, generator=g)
    y = torch.randint(0, 4, (3, 1, 9, 8, 7), generator=g)
    y[:, :, :3] = 4  # ignore label
    theirs = DC_and_CE_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                            ignore_label=4, dice_class=MemoryEfficientSoftDiceLoss)(x, y)
    opts = {"softmax": True, "to_onehot_y": True, "ignore_index": 4}
    ours = M.CompoundLoss([{"loss": "dice", "kwargs": {"include_background": False, "batch": batch_dice, **opts}},
                           {"loss": "cross_entropy", "kwargs": opts}])(x, y)
    assert float(ours) == pytest.approx(float(theirs) + 1.0, abs=1e-5)
    # the dice_ce preset routes include_background to both terms: its CE then leaves the background voxels out
    preset = M.get_loss("dice_ce", include_background=False, batch=batch_dice, **opts)(x, y)
    assert abs(float(preset) - float(ours)) > 0.05


# ---------------------------------------------------------------- start-up errors and the recorded spec

@pytest.mark.parametrize("value, message", [
    (None, f"environment variable {SPEC_ENV}"),
    ('{"loss": "focal_tverskyy"}', "unknown loss key 'focal_tverskyy'"),
    ('{"loss": "focal_tversky", "kwargs": {"gama": 2}}', "unexpected keyword argument(s) ['gama']"),
    ('{"loss": "dice", "kwargs": {"softmax": false}}', "set by the nnU-Net trainer"),
])
def test_bad_spec_stops_training_at_start(nnunet_env, monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv(SPEC_ENV, raising=False)
    else:
        monkeypatch.setenv(SPEC_ENV, value)
    with pytest.raises(ValueError) as err:
        _trainer(T.nnUNetTrainerSegLoss, nnunet_env)
    assert message in str(err.value)


def test_a_run_of_another_spec_in_the_same_folder_is_refused(nnunet_env, monkeypatch):
    monkeypatch.setenv(SPEC_ENV, '{"loss": "dice"}')
    _trainer(T.nnUNetTrainerSegLoss, nnunet_env)
    _trainer(T.nnUNetTrainerSegLoss, nnunet_env)  # the same spec again (e.g. nnUNetv2_train --c): fine
    monkeypatch.setenv(SPEC_ENV, '{"loss": "tversky"}')
    with pytest.raises(ValueError, match="records a run with another loss spec"):
        _trainer(T.nnUNetTrainerSegLoss, nnunet_env)


# ---------------------------------------------------------------- DDP: batch Dice across ranks, nnU-Net's DDP weights

def test_ddp_sets_distributed_batch_statistics_and_nnunet_ddp_weights(nnunet_env, tmp_path):
    """A one-rank gloo process group makes nnU-Net take its DDP branch (it then asks for CUDA, which is never
    touched here): our Dice gets ``distributed=True`` with the plan's batch_dice, the weights are nnU-Net's DDP
    weights (1e-6 for the coarsest scale), and the value equals the single-process value."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        with pytest.warns(UserWarning, match="CUDA is not available"):  # nnU-Net's GradScaler on a CPU build
            tr = _trainer(T.nnUNetTrainerSegLoss_FocalTversky, nnunet_env, batch_dice=True)
            plain = _trainer(nnUNetTrainer, nnunet_env, batch_dice=True)
        assert tr.is_ddp and tr.segloss_targets.ddp
        opts = tr._segloss.loss.options
        assert (opts.batch, opts.distributed) == (True, True)
        ours, theirs = tr._build_loss(), plain._build_loss()
        assert ours.weight_factors == theirs.weight_factors
        assert ours.weight_factors == pytest.approx([1 / 1.500001, 0.5 / 1.500001, 1e-6 / 1.500001], rel=1e-12)
        g = torch.Generator().manual_seed(1)
        outs = [torch.randn(2, 3, s, s, s, generator=g) for s in (8, 4, 2)]
        tgts = [torch.randint(0, 4, (2, 1, s, s, s), generator=g) for s in (8, 4, 2)]
        single = M.get_loss("focal_tversky", include_background=False, batch=True, **LABEL_OPTS)
        expected = _weighted(ours.weight_factors, outs, tgts, single)
        assert float(ours(outs, tgts)) == pytest.approx(expected, rel=1e-6)
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------- discovery through nnUNet_extTrainer

def test_nnunet_finds_every_trainer_through_nnunet_ext_trainer(monkeypatch):
    """nnU-Net's own lookup (``nnUNetv2_train -tr NAME``): its package first, then the ``nnUNet_extTrainer``
    folders. Its package holds the Primus trainers, which import timm and torchvision; where those cannot load (the
    CPU torch of this suite has no matching torchvision wheel on PyPI) a stand-in module takes their place so the
    scan reaches the external folder, as it does on a normal GPU install."""
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    primus = "nnunetv2.training.nnUNetTrainer.primus.primus_trainers"
    try:
        __import__(primus)
    except (ImportError, RuntimeError):
        monkeypatch.setitem(sys.modules, primus, types.ModuleType(primus))
    monkeypatch.setenv("nnUNet_extTrainer", str(ext_trainer_folder()))
    assert TRAINER_NAMES == tuple(T.__all__)
    for name in TRAINER_NAMES:
        assert recursive_find_trainer_class_by_name(name) is getattr(T, name)
    installed = Path(nnunetv2.__file__).parent
    assert not any(installed.rglob("*segloss*"))  # nothing written into nnU-Net's package
