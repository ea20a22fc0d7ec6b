"""The loss spec of the nnU-Net trainers (monai_segloss/nnunet/spec.py) and `monai-segloss nnunet-path`: torch only,
no nnunetv2 needed (the trainers themselves are tested in test_nnunet_trainers.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import monai_segloss as M
from monai_segloss import functional as MF
from monai_segloss.app.cli import main
from monai_segloss.nnunet import NNUNetLoss, NNUNetTargets, build_loss, check_spec, ext_trainer_folder, read_spec
from monai_segloss.nnunet.spec import SPEC_ENV, probe_loss

D64 = torch.float64
LABELS = NNUNetTargets(regions=False, ignore_label=3, batch_dice=False)
REGIONS = NNUNetTargets(regions=True, ignore_label=3, batch_dice=True)


def _close(a, b, tol=1e-10):
    a, b = torch.as_tensor(a, dtype=D64), torch.as_tensor(b, dtype=D64)
    assert torch.allclose(a, b, rtol=tol, atol=tol), (a, b)


def _label_batch(seed=0, ignore=3):
    """nnU-Net's label-map input: logits (B, 3, *S) and a (B, 1, *S) int16 target with the ignore label."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 6, 5, 4, generator=g, dtype=D64)
    y = torch.randint(0, 3, (2, 1, 6, 5, 4), generator=g).to(torch.int16)
    y[:, :, :, :2] = ignore  # an unannotated slab
    return x, y


def _region_batch(seed=0):
    """nnU-Net's region input: logits (B, 2, *S) and a bool (B, 2 + 1, *S) target whose last channel is the ignore
    mask, as ConvertSegmentationToRegionsTransform builds it (regions {1, 2} and {2}, ignore label 3)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 2, 6, 5, 4, generator=g, dtype=D64)
    seg = torch.randint(0, 3, (2, 6, 5, 4), generator=g)
    seg[:, :, :2] = 3
    target = torch.stack([(seg == 1) | (seg == 2), seg == 2, seg == 3], 1)
    return x, target


# ---------------------------------------------------------------- structure of a spec

@pytest.mark.parametrize("spec, message", [
    ([], "must be a JSON object"),
    ({}, "exactly one of"),
    ({"loss": "dice", "terms": [{"loss": "dice"}]}, "exactly one of"),
    ({"loss": 3}, "registry key"),
    ({"loss": "dice", "extra": 1}, "unknown keys ['extra']"),
    ({"loss": "dice", "kwargs": [1]}, "kwargs must be an object"),
    ({"terms": []}, "non-empty list"),
    ({"terms": ["dice"]}, "terms[0] must be an object"),
    ({"terms": [{"loss": "dice"}], "kwargs": {}}, "inside each term"),
    ({"loss": "dice", "kwargs": {"softmax": True}}, "['softmax'] are set by the nnU-Net trainer"),
    ({"terms": [{"loss": "dice", "kwargs": {"ignore_index": 2, "distributed": True}}]},
     "terms[0]: ['distributed', 'ignore_index'] are set by the nnU-Net trainer"),
])
def test_bad_spec_structure_raises_value_error(spec, message):
    with pytest.raises(ValueError) as err:
        check_spec(spec)
    assert message in str(err.value)


@pytest.mark.parametrize("spec, message", [
    ({"loss": "dicee"}, "unknown loss key 'dicee'; available losses: ["),
    ({"loss": "dice", "kwargs": {"smooth": 1.0}}, "unexpected keyword argument(s) ['smooth']"),
    ({"loss": "focal_tversky", "kwargs": {"alpha": -1}}, "alpha"),
    ({"terms": [{"loss": "dice"}, {"loss": "focall"}]}, "unknown loss key 'focall'"),
    ({"terms": [{"loss": "dice", "unit": "hour"}]}, "terms[0]: unit must be one of ('step', 'epoch')"),
    ({"terms": [{"loss": "dice", "schedule": {"start": 1, "lenght": 3}}]}, "unknown schedule keys ['lenght']"),
])
def test_bad_key_or_option_raises_our_value_error_when_built(spec, message):
    with pytest.raises(ValueError) as err:
        build_loss(spec, LABELS)
    assert message in str(err.value)


@pytest.mark.parametrize("targets, spec, message", [
    (REGIONS, {"loss": "cross_entropy"}, "use bce for per-channel sigmoid outputs"),
    (LABELS, {"loss": "dice", "kwargs": {"exclude_channels": [5]}}, "exclude_channels holds ids outside [0, 3)"),
])
def test_a_loss_that_cannot_take_nnunet_outputs_fails_the_probe(targets, spec, message):
    build_loss(spec, targets)  # builds: the options are valid on their own
    with pytest.raises(ValueError) as err:
        probe_loss(spec, targets, channels=3 if not targets.regions else 2, spatial_dims=3)
    assert message in str(err.value)
    probe_loss({"loss": "dice"}, targets, channels=3, spatial_dims=2)  # a fitting loss runs, in 2D too


def test_read_spec_inline_and_from_file(tmp_path):
    spec = {"loss": "focal_tversky", "kwargs": {"gamma": 1.5}, "comment": "lesions"}
    assert read_spec(json.dumps(spec)) == {"loss": "focal_tversky", "kwargs": {"gamma": 1.5}}
    path = tmp_path / "loss.json"
    path.write_text(json.dumps(spec))
    assert read_spec(str(path)) == read_spec(json.dumps(spec))
    with pytest.raises(ValueError, match="no such file"):
        read_spec(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_spec('{"loss": dice}')
    with pytest.raises(ValueError, match=SPEC_ENV):
        read_spec("  ")


# ---------------------------------------------------------------- the options the trainer adds

def test_label_map_mode_options():
    loss = build_loss({"loss": "focal_tversky", "kwargs": {"include_background": False}}, LABELS)
    o = loss.loss.options
    assert (o.softmax, o.sigmoid, o.to_onehot_y, o.ignore_index) == (True, False, True, 3)
    assert (o.batch, o.distributed, o.include_background) == (False, False, False)
    assert not loss.ignore_channel


def test_region_mode_options():
    loss = build_loss({"loss": "dice"}, REGIONS)
    o = loss.loss.options
    assert (o.sigmoid, o.softmax, o.to_onehot_y, o.ignore_index) == (True, False, False, None)
    assert (o.batch, o.include_background) == (True, True)
    assert loss.ignore_channel
    assert not build_loss({"loss": "dice"}, NNUNetTargets(True, None, True)).ignore_channel


@pytest.mark.parametrize("batch_dice, ddp, override, expected", [
    (True, False, None, (True, False)),
    (True, True, None, (True, True)),  # batch Dice is global across DDP ranks, as nnU-Net's
    (False, True, None, (False, False)),
    (True, True, False, (False, False)),  # a spec may turn batch statistics off
    (False, True, True, (True, True)),
])
def test_batch_statistics_follow_the_plan_and_ddp(batch_dice, ddp, override, expected):
    targets = NNUNetTargets(regions=False, ignore_label=None, batch_dice=batch_dice, ddp=ddp)
    kwargs = {} if override is None else {"batch": override}
    loss = build_loss({"terms": [{"loss": "dice", "kwargs": kwargs}, {"loss": "focal"}]}, targets)
    dice, focal = loss.loss.losses
    assert (dice.options.batch, dice.options.distributed) == expected
    assert not hasattr(focal.options, "batch")  # a voxel loss has no batch statistics and gets none
    preset = build_loss({"loss": "dice_ce", "kwargs": kwargs}, targets).loss
    assert (preset.losses[0].options.batch, preset.losses[0].options.distributed) == expected


# ---------------------------------------------------------------- nnU-Net's targets as they come

class _Recorder(torch.nn.Module):
    def forward(self, input, target, mask=None):
        self.seen = (target, mask)
        return input.sum()


def test_targets_reach_the_loss_without_a_copy():
    x, y = _label_batch()
    rec = _Recorder()
    NNUNetLoss(rec)(x, y)
    assert rec.seen[0] is y and rec.seen[1] is None  # the label map itself: no one-hot, no cast
    xr, t = _region_batch()
    NNUNetLoss(rec, ignore_channel=True)(xr, t)
    regions, mask = rec.seen
    assert regions.data_ptr() == t.data_ptr() and regions.shape == (2, 2, 6, 5, 4)  # a view of the R channels
    assert torch.equal(mask, ~t[:, -1:])


def _valid_only(x, y, valid):
    """The voxels where ``valid`` holds, as one (1, C, N) sample (batch statistics make this the same problem)."""
    keep = valid.reshape(-1)
    xs = x.movedim(1, -1).reshape(-1, x.shape[1])[keep].T.unsqueeze(0)
    ys = y.movedim(1, -1).reshape(-1, y.shape[1])[keep].T.unsqueeze(0)
    return xs, ys


@pytest.mark.parametrize("key, kwargs", [("dice", {}), ("focal_tversky", {"include_background": False}),
                                         ("unified_focal", {})])
def test_ignore_label_in_label_map_mode_equals_the_loss_on_annotated_voxels(key, kwargs):
    x, y = _label_batch()
    loss = build_loss({"loss": key, "kwargs": {**kwargs, "batch": True}}, LABELS)
    xs, ys = _valid_only(x, y, y != 3)
    direct = M.get_loss(key, softmax=True, to_onehot_y=True, batch=True, **kwargs)(xs, ys)
    _close(loss(x, y), direct)


@pytest.mark.parametrize("key", ["dice", "focal_tversky", "bce"])
def test_region_ignore_channel_equals_the_loss_on_annotated_voxels(key):
    x, t = _region_batch()
    loss = build_loss({"loss": key}, REGIONS)
    xs, ys = _valid_only(x, t[:, :-1].to(D64), ~t[:, -1])
    options = {"sigmoid": True} | ({"batch": True} if key != "bce" else {})
    _close(loss(x, t), M.get_loss(key, **options)(xs, ys))


def test_epoch_schedule_of_a_compound_spec():
    spec = {"terms": [{"loss": "dice", "schedule": {"start": 1.0, "end": 0.01, "length": 99}, "unit": "epoch"},
                      {"loss": "boundary", "schedule": {"start": 0.0, "end": 0.99, "length": 99}, "unit": "epoch"}]}
    loss = build_loss(spec, LABELS).loss
    loss.set_epoch(0)
    assert loss.current_weights() == {"dice": 1.0, "boundary": 0.0}
    loss.set_epoch(50)
    w = loss.current_weights()
    assert w["dice"] == pytest.approx(0.5) and w["boundary"] == pytest.approx(0.5)
    loss.set_epoch(500)
    assert loss.current_weights() == {"dice": 0.01, "boundary": 0.99}
    x, y = _label_batch()
    y = torch.where(y == 3, torch.zeros_like(y), y)
    loss.set_epoch(50)
    expected = 0.5 * MF.dice_loss(x, y, softmax=True, to_onehot_y=True) \
        + 0.5 * MF.boundary_loss(x, y, softmax=True, to_onehot_y=True)
    _close(loss(x, y), expected, 1e-9)


# ---------------------------------------------------------------- discovery

def test_nnunet_path_prints_the_ext_trainer_folder(capsys):
    assert main(["nnunet-path"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == str(ext_trainer_folder())
    assert (ext_trainer_folder() / "monai_segloss_trainers.py").is_file()


def test_importing_the_package_does_not_import_nnunetv2():
    code = ("import sys, monai_segloss, monai_segloss.nnunet; from monai_segloss.app.cli import main; "
            "main(['nnunet-path']); print(sorted(m for m in sys.modules if m.split('.')[0] == 'nnunetv2'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [str(ext_trainer_folder()), "[]"]
