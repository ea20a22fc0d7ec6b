"""The nnU-Net v2 trainers (monai_segloss/nnunet/trainers.py) inside nnU-Net, on a tiny synthetic data set.

Once per session (shared by the xdist workers through a file lock), ``benchmarks.bench_nnunet.ensure_tiny_dataset``
writes 6 synthetic organ/tumour cases of 32³ (``data_scripts.synthetic``) in nnU-Net's raw format
(``data_scripts.nnunet_raw``) twice — labels with unannotated slabs (ignore label 3), and nested regions with the same
ignore label — and runs ``nnUNetv2_plan_and_preprocess -c 3d_fullres``. Each trainer then runs on CPU, one thread,
with the plan's U-Net at 4-32 features per stage instead of 32-256 (about 0.4 s per training step, measured), for
one epoch of 2 training and 1 validation iterations, without nnU-Net's final validation.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

nnunetv2 = pytest.importorskip("nnunetv2", reason="nnunetv2 is not installed (the nnunet extra; make test installs it)")

from filelock import FileLock  # noqa: E402
from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss, DC_and_CE_loss  # noqa: E402
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss  # noqa: E402
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer  # noqa: E402

import monai_segloss as M  # noqa: E402
from benchmarks import bench_nnunet as bench  # noqa: E402
from benchmarks.bench_nnunet import LABELS_ID, REGIONS_ID, ensure_tiny_dataset  # noqa: E402
from monai_segloss.nnunet import TRAINER_NAMES, ext_trainer_folder  # noqa: E402
from monai_segloss.nnunet import trainers as T  # noqa: E402
from monai_segloss.nnunet.spec import SPEC_ENV  # noqa: E402

IGNORE = 3  # organ 1, tumour 2, unannotated 3
FEATURES = [4, 8, 16, 32]
LABEL_OPTS = {"softmax": True, "to_onehot_y": True, "ignore_index": IGNORE}


# ---------------------------------------------------------------- the data set, once per session

@pytest.fixture(scope="session")
def nnunet_data(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run
    root = base / "nnunet_tiny"
    with FileLock(str(root) + ".lock"):
        return ensure_tiny_dataset(root)


@pytest.fixture
def nnunet_env(nnunet_data, tmp_path, monkeypatch):
    # one thread per test worker: two xdist workers with two threads each on two cores make the CPU backward of the
    # 3D network 10-40x slower (0.4 s -> 11 s per step measured under load)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for key, value in bench.nnunet_env(nnunet_data, tmp_path / "results").items():
        monkeypatch.setenv(key, value)
    yield nnunet_data
    torch.set_num_threads(threads)


def _trainer(cls, root: Path, dataset_id: int = LABELS_ID, batch_dice: bool | None = None):
    return bench.make_trainer(cls, root, dataset_id, FEATURES, batch_dice)


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


NAMED = ["FocalTversky", "UnifiedFocal", "DiceFocal", "DiceTopK", "Blob", "DiceBoundary"]


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
    # the dice_ce preset gives include_background to its Dice only (its CE covers every class, as nnU-Net's): the same
    preset = M.get_loss("dice_ce", include_background=False, batch=batch_dice, **opts)(x, y)
    assert float(preset) == pytest.approx(float(ours), abs=1e-6)


@pytest.mark.parametrize("ignore", [False, True])
def test_region_counterpart_of_dc_and_bce_on_random_tensors(ignore):
    """Without an ignore label nnU-Net's DC_and_BCE_loss is ours - 1; with one, its BCE is R times the mean."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 8, 7, generator=g)
    t = torch.rand(2, 4, 9, 8, 7, generator=g) > 0.6  # 3 regions + the ignore channel
    target, mask = (t, ~t[:, -1:]) if ignore else (t[:, :-1], None)
    theirs = DC_and_BCE_loss({}, {"batch_dice": True, "do_bg": True, "smooth": 1e-5, "ddp": False},
                             use_ignore_label=ignore, dice_class=MemoryEfficientSoftDiceLoss)(x, target)
    dice = M.get_loss("dice", sigmoid=True, batch=True)(x, t[:, :-1], mask=mask)
    bce = M.get_loss("bce", sigmoid=True)(x, t[:, :-1], mask=mask)
    assert float(dice + bce) == pytest.approx(float(theirs) + 1.0 - (2.0 * float(bce) if ignore else 0.0), abs=1e-5)


# ---------------------------------------------------------------- start-up errors and the recorded spec

@pytest.mark.parametrize("value, dataset_id, message", [
    (None, LABELS_ID, f"environment variable {SPEC_ENV}"),
    ('{"loss": "focal_tverskyy"}', LABELS_ID, "unknown loss key 'focal_tverskyy'"),
    ('{"loss": "focal_tversky", "kwargs": {"gama": 2}}', LABELS_ID, "unexpected keyword argument(s) ['gama']"),
    ('{"loss": "dice", "kwargs": {"softmax": false}}', LABELS_ID, "set by the nnU-Net trainer"),
    ('{"loss": "cross_entropy"}', REGIONS_ID, "use bce for per-channel sigmoid outputs"),  # caught by the probe
])
def test_bad_spec_stops_training_at_start(nnunet_env, monkeypatch, value, dataset_id, message):
    if value is None:
        monkeypatch.delenv(SPEC_ENV, raising=False)
    else:
        monkeypatch.setenv(SPEC_ENV, value)
    with pytest.raises(ValueError) as err:
        _trainer(T.nnUNetTrainerSegLoss, nnunet_env, dataset_id)
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
