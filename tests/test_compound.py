"""CompoundLoss (terms, logging, schedules, configs), the dice_focal/dice_ce presets, DeepSupervisionWrapper."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from monai.losses import DeepSupervisionLoss, DiceLoss

import monai_segloss as M
from monai_segloss import functional as MF

D64 = torch.float64


def _close(a, b, tol=1e-6):
    a, b = torch.as_tensor(a, dtype=D64), torch.as_tensor(b, dtype=D64)
    assert torch.allclose(a, b, rtol=tol, atol=tol), (a, b)


def _data(c=3, spatial=(6, 5), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, *spatial, generator=g, dtype=dtype)
    y = torch.randint(0, c, (2, 1, *spatial), generator=g)
    return x, y


# ---------------------------------------------------------------- CompoundLoss

def test_logged_terms_are_the_values_summed():
    x, y = _data()
    shared = {"softmax": True, "to_onehot_y": True}
    loss = M.CompoundLoss([{"loss": "dice", "weight": 0.7},
                           {"loss": "focal", "weight": 1.3, "kwargs": {"gamma": 1.0}},
                           {"loss": M.SegTverskyLoss(softmax=True, to_onehot_y=True), "weight": 0.5}], shared=shared)
    total = loss(x, y)
    assert set(loss.last_terms) == {"dice", "focal", "tversky"}
    assert loss.last_weights == {"dice": 0.7, "focal": 1.3, "tversky": 0.5}
    _close(total, sum(loss.last_weights[k] * loss.last_terms[k] for k in loss.last_terms), 1e-7)
    # each logged value is the term computed alone
    _close(loss.last_terms["dice"], MF.dice_loss(x, y, **shared), 1e-7)
    _close(loss.last_terms["focal"], MF.focal_loss(x, y, gamma=1.0, **shared), 1e-7)
    _close(loss.last_terms["tversky"], MF.tversky_loss(x, y, **shared), 1e-7)
    assert not loss.last_terms["dice"].requires_grad


def test_shared_preparation_gives_the_same_values_and_gradients():
    x, y = _data(dtype=D64)
    kw = {"softmax": True, "to_onehot_y": True, "ignore_index": 2}
    x1 = x.clone().requires_grad_(True)
    M.get_loss("dice_focal", **kw)(x1, y).backward()
    x2 = x.clone().requires_grad_(True)
    (MF.dice_loss(x2, y, **kw) + MF.focal_loss(x2, y, **kw)).backward()
    _close(x1.grad, x2.grad, 1e-12)


def test_schedule_changes_weights_over_steps():
    x, y = _data()
    loss = M.CompoundLoss([{"loss": "dice"},
                           {"loss": "cross_entropy", "weight": 2.0,
                            "schedule": {"start": 0.0, "end": 1.0, "length": 4, "delay": 2}},
                           {"loss": "focal", "schedule": lambda t: 0.5 ** t, "unit": "epoch"}],
                          shared={"softmax": True, "to_onehot_y": True}, auto_step=True)
    seen = []
    for step in range(8):
        assert loss.step == step
        value = loss(x, y)
        w = loss.last_weights
        seen.append(w["cross_entropy"])
        _close(value, sum(w[k] * loss.last_terms[k] for k in w), 1e-7)
    # linear ramp of the factor from 0 (steps <= 2) to 1 (steps >= 6), times the weight 2
    assert seen == pytest.approx([0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    assert loss.last_weights["focal"] == 1.0  # epoch 0
    loss.set_epoch(3)
    assert loss.current_weights()["focal"] == pytest.approx(0.125)
    loss.eval()
    loss(x, y)
    assert loss.step == 8  # no auto step in eval mode
    # the counters are saved with the state dict
    other = M.CompoundLoss([{"loss": "dice"}, {"loss": "cross_entropy", "schedule": {"length": 4}},
                            {"loss": "focal", "schedule": lambda t: 0.5 ** t, "unit": "epoch"}])
    other.load_state_dict(loss.state_dict())
    assert (other.step, other.epoch) == (8, 3)


def test_dict_schedule_is_a_linear_ramp():
    loss = M.CompoundLoss([{"loss": "dice", "schedule": {"start": 1.0, "end": 0.0, "length": 10, "delay": 5}},
                           {"loss": "focal", "schedule": {"length": 0, "delay": 3, "unit": "epoch"}}])
    s, jump = loss.schedules
    assert isinstance(s, M.LinearRamp) and isinstance(jump, M.LinearRamp)
    assert [s(t) for t in (0, 5, 10, 15, 100)] == pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])
    assert [jump(t) for t in (2, 3)] == [0.0, 1.0]
    with pytest.raises(ValueError, match=r"terms\[0\]: schedule: length"):
        M.CompoundLoss([{"loss": "dice", "schedule": {"length": -1}}])


def test_mask_and_extra_kwargs_reach_the_terms():
    x, y = _data()
    mask = torch.ones(2, 1, 6, 5)
    mask[:, :, :3] = 0

    class NeedsExtra(torch.nn.Module):
        def forward(self, input, target, mask=None, scale=1.0):
            return scale * MF.dice_loss(input, target, mask=mask, softmax=True, to_onehot_y=True)

    loss = M.CompoundLoss(["focal", {"loss": NeedsExtra(), "name": "extra"}],
                          shared={"softmax": True, "to_onehot_y": True})
    value = loss(x, y, mask=mask, scale=3.0)
    _close(loss.last_terms["extra"], 3 * MF.dice_loss(x, y, mask=mask, softmax=True, to_onehot_y=True))
    _close(loss.last_terms["focal"], MF.focal_loss(x[:, :, 3:], y[:, :, 3:], softmax=True, to_onehot_y=True))
    _close(value, loss.last_terms["focal"] + loss.last_terms["extra"])


def test_compound_bad_specs():
    with pytest.raises(TypeError, match="terms"):
        M.CompoundLoss("dice")
    with pytest.raises(ValueError, match="unknown loss key"):
        M.CompoundLoss(["no_such_loss"])
    with pytest.raises(ValueError, match="unknown keys"):
        M.CompoundLoss([{"loss": "dice", "wieght": 1.0}])
    with pytest.raises(ValueError, match="weight"):
        M.CompoundLoss([{"loss": "dice", "weight": float("nan")}])
    with pytest.raises(ValueError, match="unit"):
        M.CompoundLoss([{"loss": "dice", "schedule": {"length": 3}, "unit": "batch"}])
    with pytest.raises(TypeError, match="schedule"):
        M.CompoundLoss([{"loss": "dice", "schedule": 3}])
    with pytest.raises(ValueError, match="valid keywords"):
        M.CompoundLoss([{"loss": "dice", "kwargs": {"gamma": 2.0}}])


@pytest.mark.parametrize(("cls", "name"), [("SegDiceCELoss", "lambda_dice"), ("SegDiceCELoss", "lambda_ce"),
                                           ("SegDiceFocalLoss", "lambda_dice"),
                                           ("SegDiceFocalLoss", "lambda_focal")])
@pytest.mark.parametrize(("bad", "error"), [(float("nan"), ValueError), (float("inf"), ValueError), (-1.0, ValueError),
                                            ("0.5", TypeError), (None, TypeError)])
def test_preset_lambdas_are_named(cls, name, bad, error):
    """Was (found by fuzzing): ``lambda_ce=nan`` raised "terms[1]: weight must be a finite number", naming an
    internal term, not the argument the user passed. A value of the wrong type is a TypeError, a number out of range
    a ValueError."""
    with pytest.raises(error, match=name):
        getattr(M, cls)(softmax=True, to_onehot_y=True, **{name: bad})


def test_compound_from_bundle_config():
    from monai.bundle import ConfigParser

    config = {
        "imports": ["$import monai_segloss"],
        "loss": {
            "_target_": "monai_segloss.CompoundLoss",
            "shared": {"softmax": True, "to_onehot_y": True},
            "terms": [{"loss": "dice", "weight": 1.0},
                      {"loss": "focal", "weight": 0.5, "kwargs": {"gamma": 2.0}},
                      {"loss": "cross_entropy", "schedule": {"start": 0.0, "end": 1.0, "length": 10}}],
        },
        "preset": {"_target_": "SegDiceFocalLoss", "softmax": True, "to_onehot_y": True, "gamma": 1.0},
    }
    parser = ConfigParser(config)
    loss = parser.get_parsed_content("loss")
    preset = parser.get_parsed_content("preset")
    x, y = _data()
    _close(loss(x, y), MF.dice_loss(x, y, softmax=True, to_onehot_y=True)
           + 0.5 * MF.focal_loss(x, y, softmax=True, to_onehot_y=True))
    _close(preset(x, y), MF.dice_loss(x, y, softmax=True, to_onehot_y=True)
           + MF.focal_loss(x, y, softmax=True, to_onehot_y=True, gamma=1.0))


# ---------------------------------------------------------------- presets

def test_dice_focal_routes_options():
    x, y = _data()
    loss = M.get_loss("dice_focal", softmax=True, to_onehot_y=True, include_background=False, gamma=1.5,
                      alpha=0.25, squared_pred=True, batch=True, lambda_dice=0.3, lambda_focal=2.0)
    value = loss(x, y)
    dice = MF.dice_loss(x, y, softmax=True, to_onehot_y=True, include_background=False, squared_pred=True, batch=True)
    focal = MF.focal_loss(x, y, softmax=True, to_onehot_y=True, include_background=False, gamma=1.5, alpha=0.25)
    _close(value, 0.3 * dice + 2.0 * focal)
    with pytest.raises(ValueError, match="label_smoothing"):
        M.get_loss("dice_focal", label_smoothing=0.1)


def test_dice_ce_matches_dice_plus_torch_cross_entropy():
    x, y = _data()
    w = [0.2, 1.0, 3.0]
    loss = M.get_loss("dice_ce", softmax=True, to_onehot_y=True, weight=w, label_smoothing=0.1)
    value = loss(x, y)
    ce = F.cross_entropy(x, y[:, 0], weight=torch.tensor(w), label_smoothing=0.1)
    dice = DiceLoss(softmax=True, to_onehot_y=True, weight=w)(x, y)
    _close(loss.last_terms["ce"], ce)
    _close(value, dice + ce, 1e-5)
    # sigmoid: the cross-entropy term is the binary cross-entropy with pos_weight
    xb = x[:, :1]
    yb = (y > 0).float()
    b = M.get_loss("dice_ce", sigmoid=True, pos_weight=2.0)
    _close(b(xb, yb), MF.dice_loss(xb, yb, sigmoid=True)
           + F.binary_cross_entropy_with_logits(xb, yb, pos_weight=torch.tensor(2.0)))


def test_dice_ce_cross_entropy_scores_every_class_as_monai_and_nnunet():
    """``include_background``/``exclude_channels`` select the Dice term's channels; the cross-entropy scores every
    class (MONAI's DiceCELoss, nnU-Net's DC_and_CE); ``weight`` of length C weighs both."""
    x, y = _data(c=4)
    w = [0.5, 1.0, 2.0, 3.0]
    for kw in ({"include_background": False}, {"exclude_channels": [0, 2]}, {"include_background": False,
                                                                           "weight": w}):
        loss = M.get_loss("dice_ce", softmax=True, to_onehot_y=True, **kw)
        ce = F.cross_entropy(x, y[:, 0], weight=None if "weight" not in kw else torch.tensor(w))
        _close(loss(x, y), MF.dice_loss(x, y, softmax=True, to_onehot_y=True, **kw) + ce, 1e-5)


def test_dice_ce_weight_is_the_bce_pos_weight_as_monai():
    """MONAI 1.6.1's DiceCELoss hands ``weight`` to ``BCEWithLogitsLoss(pos_weight=weight)``; an explicit
    ``pos_weight`` takes its place in the binary cross-entropy."""
    x, y = _data(c=2)
    xb, yb = x, F.one_hot(y[:, 0], 2).movedim(-1, 1).float()
    w = torch.tensor([2.0, 0.5]).view(1, 2, 1, 1)
    dice = MF.dice_loss(xb, yb, sigmoid=True, weight=[2.0, 0.5])
    _close(M.get_loss("dice_ce", sigmoid=True, weight=[2.0, 0.5])(xb, yb),
           dice + F.binary_cross_entropy_with_logits(xb, yb, pos_weight=w), 1e-5)
    _close(M.get_loss("dice_ce", sigmoid=True, weight=[2.0, 0.5], pos_weight=3.0)(xb, yb),
           dice + F.binary_cross_entropy_with_logits(xb, yb, pos_weight=torch.tensor(3.0)), 1e-5)


# ---------------------------------------------------------------- reductions

def test_compound_terms_must_agree_on_the_reduction():
    with pytest.raises(ValueError, match=r"reductions differ .*'dice': 'mean'.*'focal': 'sum'"):
        M.CompoundLoss([{"loss": "dice"}, {"loss": "focal", "kwargs": {"reduction": "sum"}}])
    with pytest.raises(ValueError, match="reductions differ"):  # a module of another library is checked too
        M.CompoundLoss(["dice", DiceLoss(reduction="sum")])
    for reduction in ("mean", "sum"):
        x, y = _data()
        kw = {"softmax": True, "to_onehot_y": True, "reduction": reduction}
        loss = M.CompoundLoss([{"loss": "dice", "weight": 0.5}, "focal", M.SegDiceCELoss(**kw)], shared=kw)
        assert loss.reduction == reduction
        value = loss(x, y)
        assert value.shape == ()
        _close(value, 0.5 * MF.dice_loss(x, y, **kw) + MF.focal_loss(x, y, **kw) + MF.dice_ce_loss(x, y, **kw))


def test_compound_none_needs_one_shape():
    """``"none"``: accepted when the terms' outputs have one shape, refused at construction otherwise."""
    x, y = _data()
    kw = {"softmax": True, "to_onehot_y": True, "reduction": "none"}
    units = M.CompoundLoss(["dice", {"loss": "tversky", "weight": 2.0}, "hausdorff_dt"], shared=kw)
    out = units(x, y)
    assert out.shape == (2, 3) and units.none_shape == ("units", False, (True, (), None))
    _close(out, MF.dice_loss(x, y, **kw) + 2 * MF.tversky_loss(x, y, **kw) + MF.hausdorff_dt_loss(x, y, **kw))
    batch = M.CompoundLoss(["dice", "exp_log"], shared={**kw, "batch": True})
    assert batch(x, y).shape == (3,)
    voxels = M.CompoundLoss(["focal", "cross_entropy", "boundary"], shared=kw)
    assert voxels(x, y).shape == (2, 3, 6, 5)
    nested = M.CompoundLoss([units, "jaccard"], shared=kw)
    assert nested(x, y).shape == (2, 3)
    for terms, shared, shapes in ((["dice", "focal"], kw, r"'dice': 'units', 'focal': 'voxels'"),
                                  (["dice", "tversky"], None, r"'units with batch'"),
                                  (["dice", "generalized_dice"], kw, r"'generalized_dice': 'samples'"),
                                  (["dice", DiceLoss(reduction="none")], kw, r"'DiceLoss': 'undeclared'"),
                                  ([{"loss": "dice", "kwargs": {"include_background": False}}, "tversky"], kw,
                                   r"'dice': 'units \(include_background=False, exclude_channels=\(\)")):
        if shared is None:
            terms = [{"loss": "dice", "kwargs": {**kw, "batch": True}}, {"loss": "tversky", "kwargs": kw}]
        with pytest.raises(ValueError, match=rf"reduction='none' needs terms whose outputs have one shape.*{shapes}"):
            M.CompoundLoss(terms, shared=shared)


@pytest.mark.parametrize("cls", [M.SegDiceCELoss, M.SegDiceFocalLoss])
def test_presets_refuse_none_naming_the_supported_values(cls):
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum'\), got 'none'"):
        cls(softmax=True, reduction="none")


# ---------------------------------------------------------------- deep supervision

def test_deep_supervision_three_scales_3d_label_map():
    g = torch.Generator().manual_seed(4)
    y = torch.randint(0, 3, (2, 1, 8, 8, 8), generator=g)
    outs = [torch.randn(2, 3, *(8 // 2 ** k,) * 3, generator=g) for k in range(3)]
    base = M.get_loss("dice_focal", softmax=True, to_onehot_y=True)
    ds = M.DeepSupervisionWrapper(base, weights="halving")
    value = ds(outs, y)
    weights = [4 / 7, 2 / 7, 1 / 7]
    expected = 0
    for k, (o, w) in enumerate(zip(outs, weights, strict=True)):
        t = y if k == 0 else F.interpolate(y.float(), size=o.shape[2:], mode="nearest-exact").long()
        assert set(t.unique().tolist()) <= {0, 1, 2}
        term = MF.dice_loss(o, t, softmax=True, to_onehot_y=True) + MF.focal_loss(o, t, softmax=True, to_onehot_y=True)
        _close(ds.last_terms[k], term)
        expected = expected + w * term
    _close(value, expected)
    assert ds.last_weights == pytest.approx(weights)
    # MONAI's DeepSupervisionLoss resizes label maps the same way (its "exp" weights are ours)
    monai_ds = DeepSupervisionLoss(DiceLoss(softmax=True, to_onehot_y=True), weight_mode="exp")
    ours_ds = M.DeepSupervisionWrapper("dice", softmax=True, to_onehot_y=True)
    _close(ours_ds(outs, y), monai_ds(outs, y.float()), 1e-5)  # (MONAI cannot resize an int64 target)
    # gradients reach every scale
    outs_g = [o.clone().requires_grad_(True) for o in outs]
    ds(outs_g, y).backward()
    assert all(o.grad is not None and torch.isfinite(o.grad).all() and o.grad.abs().sum() > 0 for o in outs_g)


def test_deep_supervision_soft_target_area_and_stacked():
    g = torch.Generator().manual_seed(6)
    soft = torch.softmax(torch.randn(1, 2, 4, 4, 4, generator=g), 1)
    outs = [torch.randn(1, 2, 4, 4, 4, generator=g), torch.randn(1, 2, 2, 2, 2, generator=g)]
    ds = M.DeepSupervisionWrapper("cross_entropy", weights=[1.0, 0.25], softmax=True)
    value = ds(outs, soft)
    pooled = F.avg_pool3d(soft, 2)
    _close(value, MF.cross_entropy_loss(outs[0], soft, softmax=True)
           + 0.25 * MF.cross_entropy_loss(outs[1], pooled, softmax=True))
    # stacked (B, L, C, *S) outputs of one size
    stacked = torch.stack([outs[0], outs[0] * 2], dim=1)
    ds_same = M.DeepSupervisionWrapper("cross_entropy", weights="same", softmax=True)
    _close(ds_same(stacked, soft), MF.cross_entropy_loss(outs[0], soft, softmax=True)
           + MF.cross_entropy_loss(outs[0] * 2, soft, softmax=True))
    single = M.DeepSupervisionWrapper("cross_entropy", stacked=False, softmax=True)
    _close(single(outs[0], soft), MF.cross_entropy_loss(outs[0], soft, softmax=True))


def test_deep_supervision_weights_and_errors():
    from monai_segloss.training.deep_supervision import scale_weights

    assert scale_weights("exp", 6) == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.0625]
    assert scale_weights("same", 3) == [1.0, 1.0, 1.0]
    assert sum(scale_weights("halving", 4)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="scales"):
        scale_weights([1.0], 2)
    with pytest.raises(ValueError, match="weights"):
        M.DeepSupervisionWrapper("dice", weights="two")
    with pytest.raises(ValueError, match="resize"):
        M.DeepSupervisionWrapper("dice", resize="bilinear")
    with pytest.raises(TypeError, match="input"):
        M.DeepSupervisionWrapper("dice")([], torch.zeros(1, 1, 4, 4))
