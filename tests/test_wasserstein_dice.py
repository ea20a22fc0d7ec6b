"""Generalised Wasserstein Dice loss (``wasserstein_dice``): hand-computed values, MONAI parity
(``monai.losses.GeneralizedWassersteinDiceLoss``, both weighting modes), target formats, ignored voxels, batch
statistics, and the checks of the distance matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.losses import GeneralizedWassersteinDiceLoss

import monai_segloss.core.stats as stats_module
from monai_segloss import WassersteinDiceLoss, get_loss
from monai_segloss.functional import wasserstein_dice_loss
from monai_segloss.functional.region import _LabelMapWasserstein
from tests._parity import assert_parity

LABEL = {"softmax": True, "to_onehot_y": True}
M3 = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]


def _data(seed=0, b=3, c=4, spatial=(5, 6, 7)):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.randn(b, c, *spatial, generator=g)
    y = torch.randint(0, c, (b, 1, *spatial), generator=g)
    m = torch.rand(c, c, generator=g) * 3
    return x, y, m * (1 - torch.eye(c))  # asymmetric: M[l][c] != M[c][l], so a transposed M shows


def test_hand_computed_with_the_default_matrix():
    """With M = 1 - I, W_i = 1 - p_{l_i}: GWDS = 2 Σ_fg p_l / (2 Σ_fg p_l + Σ_i (1 - p_{l_i}))."""
    p = torch.tensor([[[0.7, 0.2, 0.1], [0.2, 0.6, 0.3], [0.1, 0.2, 0.6]]])  # (1, 3 classes, 3 voxels)
    y = torch.tensor([[[0, 1, 2]]])
    tp = 0.6 + 0.6
    errors = (1 - 0.7) + (1 - 0.6) + (1 - 0.6)
    expected = 1 - (2 * tp + 1e-5) / (2 * tp + errors + 1e-5)
    assert wasserstein_dice_loss(p, y, to_onehot_y=True).item() == pytest.approx(expected, rel=1e-6)


def test_close_classes_cost_less():
    """Predicting class 2 where the label is 1 costs M[1][2] = 0.5, predicting the background costs 1."""
    y = torch.tensor([[[1, 1]]])
    to_close = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]])
    to_far = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    close = wasserstein_dice_loss(to_close, y, to_onehot_y=True, dist_matrix=M3, smooth_nr=0, empty="skip")
    far = wasserstein_dice_loss(to_far, y, to_onehot_y=True, dist_matrix=M3, smooth_nr=0, empty="skip")
    # TP = 2·(1 - 0.5) = 1, errors = 1: 1 - 2/3; far: TP = 0: 1
    assert close.item() == pytest.approx(1 / 3, rel=1e-5)
    assert far.item() == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["default", "GDL"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_equals_monai(mode, reduction):
    x, y, m = _data()
    assert_parity(WassersteinDiceLoss(dist_matrix=m, weighting_mode=mode, reduction=reduction, **LABEL),
                  GeneralizedWassersteinDiceLoss(m, weighting_mode=mode, reduction=reduction), x, y)


@pytest.mark.parametrize("mode", ["default", "GDL"])
def test_equals_monai_with_an_asymmetric_matrix(mode):
    """M[l][c] (row l: the true class) differs from M[c][l]: using M transposed would show."""
    x, y, _ = _data(seed=7)
    m = torch.rand(4, 4, generator=torch.Generator().manual_seed(8)) * 3 * (1 - torch.eye(4))
    assert not torch.allclose(m, m.T, atol=0.1)
    assert_parity(WassersteinDiceLoss(dist_matrix=m, weighting_mode=mode, reduction="none", **LABEL),
                  GeneralizedWassersteinDiceLoss(m, weighting_mode=mode, reduction="none"), x, y)


def test_asymmetric_matrix_hand_computed():
    """Label 1 predicted as class 2 costs M[1][2] = 0.25 (the row is the true class), not M[2][1] = 1."""
    m = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.25], [1.0, 1.0, 0.0]]
    y = torch.tensor([[[1, 1]]])
    p = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]])
    # W = 0.25 per voxel, TP = 2 (1 - 0.25) = 1.5, errors = 0.5: 1 - 3 / 3.5
    loss = wasserstein_dice_loss(p, y, to_onehot_y=True, dist_matrix=m, smooth_nr=0, smooth_dr=0)
    assert loss.item() == pytest.approx(1 - 3 / 3.5, rel=1e-6)


def test_equals_monai_2d_numpy_matrix_and_label_without_channel():
    x, y, _ = _data(seed=1, c=3, spatial=(8, 9))
    ours = WassersteinDiceLoss(dist_matrix=np.array(M3), **LABEL)(x, y[:, 0])
    torch.testing.assert_close(ours, GeneralizedWassersteinDiceLoss(np.array(M3))(x, y[:, 0]).float())


def test_one_hot_and_soft_targets():
    x, y, m = _data(seed=2)
    onehot = F.one_hot(y[:, 0], 4).movedim(-1, 1).float()
    torch.testing.assert_close(wasserstein_dice_loss(x, onehot, softmax=True, dist_matrix=m),
                               wasserstein_dice_loss(x, y, dist_matrix=m, **LABEL))
    # a soft target: W_i = Σ_l g_il (M p_i)_l, TP = Σ_i (Σ_l α_l g_il)(1 - W_i)
    soft = torch.softmax(torch.randn(x.shape, generator=torch.Generator().manual_seed(5)), 1)
    p, mn = torch.softmax(x, 1), m / m.max()
    w = torch.einsum("bl...,lc,bc...->b...", soft, mn, p)
    a = soft[:, 1:].sum(1)
    tp = (a * (1 - w)).flatten(1).sum(1)
    expected = 1 - (2 * tp + 1e-5) / (2 * tp + w.flatten(1).sum(1) + 1e-5)
    torch.testing.assert_close(wasserstein_dice_loss(x, soft, softmax=True, dist_matrix=m, reduction="none"), expected)


def test_ignored_voxels_equal_cropping_and_batch_equals_one_long_sample():
    x, y, m = _data(seed=3, spatial=(6, 5))
    kw = {**LABEL, "dist_matrix": m}
    cropped = wasserstein_dice_loss(x[..., :4, :], y[..., :4, :], **kw)
    y_ign = y.clone()
    y_ign[..., 4:, :] = 255
    torch.testing.assert_close(wasserstein_dice_loss(x, y_ign, ignore_index=255, **kw), cropped)
    long_x, long_y = torch.cat(list(x), -1)[None], torch.cat(list(y), -1)[None]
    for mode in ("default", "GDL"):
        torch.testing.assert_close(wasserstein_dice_loss(x, y, batch=True, weighting_mode=mode, **kw),
                                   wasserstein_dice_loss(long_x, long_y, weighting_mode=mode, **kw))


def test_weight_multiplies_alpha_and_excluded_channels_get_none():
    x, y, m = _data(seed=4)
    p, mn = torch.softmax(x, 1), m / m.max()
    w = torch.einsum("lc,bc...->bl...", mn, p).gather(1, y)[:, 0]
    alpha = torch.tensor([0.0, 2.0, 0.0, 0.5])  # weight (1, 2, 3, 0.5), channel 2 excluded, background 0
    a = alpha[y[:, 0]]
    tp = (a * (1 - w)).flatten(1).sum(1)
    expected = 1 - (2 * tp + 1e-5) / (2 * tp + w.flatten(1).sum(1) + 1e-5)
    ours = wasserstein_dice_loss(x, y, dist_matrix=m, weight=[1.0, 2.0, 3.0, 0.5], exclude_channels=[2],
                                 reduction="none", **LABEL)
    torch.testing.assert_close(ours, expected)


def test_background_only_sample_is_empty():
    x, y, _ = _data(seed=5, b=2, c=3)
    y[1] = 0
    p = torch.softmax(x[1:], 1)
    loss = wasserstein_dice_loss(x, y, empty="fp", reduction="none", **LABEL)
    torch.testing.assert_close(loss[1], (1 - p[:, 0]).mean())  # mean W under M = 1 - I
    assert wasserstein_dice_loss(x, y, empty="skip", reduction="none", **LABEL)[1] == 0


def test_bad_matrix_and_modes_are_refused():
    with pytest.raises(ValueError, match="dist_matrix"):
        WassersteinDiceLoss(dist_matrix=[[0.0, 1.0], [1.0]])
    with pytest.raises(ValueError, match="dist_matrix"):
        WassersteinDiceLoss(dist_matrix=[[0.0, -1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="dist_matrix"):
        WassersteinDiceLoss(dist_matrix=torch.zeros(2, 2))
    with pytest.raises(TypeError, match="dist_matrix"):
        WassersteinDiceLoss(dist_matrix="euclidean")
    with pytest.raises(ValueError, match="weighting_mode"):
        WassersteinDiceLoss(weighting_mode="gdl")
    x, y, _ = _data(seed=6, c=3)
    with pytest.raises(ValueError, match="dist_matrix must be C x C"):
        get_loss("wasserstein_dice", dist_matrix=[[0.0, 1.0], [1.0, 0.0]], **LABEL)(x, y)
    with pytest.raises(ValueError, match="sigmoid"):
        get_loss("wasserstein_dice", sigmoid=True)(x, F.one_hot(y[:, 0], 3).movedim(-1, 1).float())


def test_monai_example_is_zero():
    x = torch.tensor([[1000.0, 0, 0], [0, 1000.0, 0], [0, 0, 1000.0]]).T[None]  # (1, 3 classes, 3 voxels)
    y = torch.tensor([[0, 1, 2]])
    assert wasserstein_dice_loss(x, y, dist_matrix=M3, **LABEL).item() == pytest.approx(0.0, abs=1e-6)


def test_soft_label_is_refused():
    with pytest.raises(ValueError, match="soft_label does not apply to the Wasserstein Dice loss"):
        get_loss("wasserstein_dice", soft_label=True)


# ---- the label-map path: W = Σ_c M[y, c]·p_c straight from the labels (no one-hot target, no M p tensor)

def _softmax1(t):
    return torch.softmax(t, 1)


ACTIVATIONS = {"softmax": {"softmax": True}, "probabilities": {}, "other_act": {"other_act": _softmax1}}


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("kw", [{}, {"weighting_mode": "GDL", "batch": True}, {"reduction": "none", "empty": "fp"},
                                {"include_background": False, "weight": [1.0, 2.0, 0.5, 3.0], "empty": "skip"},
                                {"weighting_mode": "GDL", "exclude_channels": [2], "smooth_dr": 0.0}])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("chunked", [False, True])
def test_label_map_path_equals_the_one_hot_target(act, kw, masked, chunked, monkeypatch):
    """The label map's fused pass gives the value and input gradient of the same labels as a one-hot target (the
    dense path, through autograd), float64, also walked in many small chunks and with ignored voxels."""
    if chunked:
        monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 37)
    x, y, m = _data(seed=9, b=2, spatial=(5, 4, 3))
    x = x.double()
    if act != "softmax":
        x = torch.softmax(x, 1)
    g = torch.Generator().manual_seed(10)
    mask = (torch.rand(2, 1, 5, 4, 3, generator=g) > 0.3).double() if masked else None
    y_ign = y.clone()
    y_ign[:, :, 0] = 255  # ignored voxels
    onehot = F.one_hot(y[:, 0], 4).movedim(-1, 1).double()
    onehot[:, :, 0] = 0
    keep = torch.ones_like(y, dtype=torch.double)
    keep[:, :, 0] = 0
    dense_mask = keep if mask is None else keep * mask
    opts = {"dist_matrix": m, **ACTIVATIONS[act], **kw}
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    la = wasserstein_dice_loss(xa, y_ign, mask, to_onehot_y=True, ignore_index=255, **opts)
    lb = wasserstein_dice_loss(xb, onehot, dense_mask, **opts)
    torch.testing.assert_close(la, lb, rtol=1e-12, atol=1e-12)
    la.sum().backward()
    lb.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-12)
    assert xa.grad[:, :, 0].abs().max() == 0


@pytest.mark.parametrize("act", ["softmax", "none"])
@pytest.mark.parametrize("c", [3, 10])  # 10 > 8 classes: the softmax is written chunk by chunk
@pytest.mark.parametrize("masked", [False, True])
def test_label_map_op_gradcheck(act, c, masked, monkeypatch):
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 7 * c)
    x, y, m = _data(seed=11, b=2, c=c, spatial=(4, 3))
    x = x.double() if act == "softmax" else torch.softmax(x.double(), 1)
    valid = (torch.rand(2, 12, generator=torch.Generator().manual_seed(12)) > 0.3) if masked else None
    alpha = torch.rand(2, c, generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    m = (m / m.max()).double()

    def f(t):
        return _LabelMapWasserstein.apply(t.flatten(2), y.flatten(1), valid, m, alpha, act)

    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),))


def test_label_map_retained_graph_recomputes_the_probabilities():
    x, y, m = _data(seed=14)
    x.requires_grad_()
    loss = wasserstein_dice_loss(x, y, dist_matrix=m, **LABEL)
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)  # the first backward consumed the kept probabilities: recomputed
    assert torch.equal(g1, g2) and g1.abs().max() > 0
