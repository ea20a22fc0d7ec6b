"""Topology losses: the soft skeleton, clDice (``cldice``) and Dice + clDice (``dice_cldice``): hand-computed
skeletons and values, MONAI parity (``SoftclDiceLoss``, ``SoftDiceclDiceLoss``) where MONAI scores the same
quantity (one kept channel), per-class units, ignored voxels, batch statistics."""

from __future__ import annotations

import pytest
import torch
from monai.losses import SoftclDiceLoss, SoftDiceclDiceLoss
from monai.losses.cldice import soft_skel

from monai_segloss import ClDiceLoss, DiceClDiceLoss, get_loss
from monai_segloss.functional import cldice_loss, dice_cldice_loss, dice_loss
from monai_segloss.functional.topology import soft_skeleton
from tests._parity import assert_parity


def test_skeleton_of_a_bar_is_its_centre_line():
    x = torch.zeros(1, 1, 9, 11)
    x[..., 2:7, 1:10] = 1  # a 5 x 9 bar
    expected = torch.zeros(9, 11)
    expected[4, 3:8] = 1  # the medial axis, two voxels short at each end after 2 erosions
    torch.testing.assert_close(soft_skeleton(x, 3)[0, 0], expected)
    line = torch.zeros(1, 1, 12)
    line[..., 2:9] = 1
    assert soft_skeleton(line, 3)[0, 0].nonzero().flatten().tolist() == [5]  # 1D: the middle voxel
    thin = torch.zeros(1, 1, 7, 7)
    thin[..., 3, 1:6] = 1
    torch.testing.assert_close(soft_skeleton(thin, 3), thin)  # a one-voxel line is its own skeleton


@pytest.mark.parametrize("grad", [False, True], ids=["shifted", "pooled"])
@pytest.mark.parametrize("shape,iterations", [((2, 3, 10, 11), 3), ((2, 2, 6, 7, 8), 5), ((1, 2, 1, 9, 1), 2)])
def test_skeleton_equals_monai_soft_skel(shape, iterations, grad):
    # both paths: without autograd (CPU: shifted views, in place) and with it (max pools, as MONAI)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    ours = soft_skeleton(x.clone().requires_grad_(grad), iterations)
    assert ours.requires_grad == grad
    torch.testing.assert_close(ours.detach(), soft_skel(x, iterations), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(2, 2, 17), (2, 2, 9, 10), (2, 3, 6, 7, 8)])
def test_skeleton_paths_agree_with_outside_voxels(shape):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(shape, generator=g)
    outside = torch.rand(shape[0], 1, *shape[2:], generator=g) < 0.3
    shifted = soft_skeleton(x, 4, outside)
    pooled = soft_skeleton(x.clone().requires_grad_(), 4, outside)
    torch.testing.assert_close(shifted, pooled.detach(), rtol=0, atol=0)
    assert shifted.masked_select(outside.expand(shape)).eq(0).all()


@pytest.mark.parametrize("grad", [False, True], ids=["shifted", "pooled"])
@pytest.mark.parametrize("spatial,crop", [((12, 10), (slice(2, 9), slice(0, 7))),
                                          ((7, 8, 9), (slice(1, 6), slice(0, 8), slice(2, 9)))])
def test_skeleton_with_outside_voxels_is_that_of_the_cropped_image(spatial, crop, grad):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 2, *spatial, generator=g, dtype=torch.float64)
    inner = (..., *crop)
    outside = torch.ones(2, 1, *spatial, dtype=torch.bool)
    outside[inner] = False
    xa, xc = x.clone().requires_grad_(grad), x[inner].clone().requires_grad_(grad)
    skel, cropped = soft_skeleton(xa, 4, outside), soft_skeleton(xc, 4)
    torch.testing.assert_close(skel[inner], cropped, rtol=0, atol=0)
    assert skel.masked_select(outside.expand_as(skel)).eq(0).all()
    if grad:
        w = torch.rand(cropped.shape, generator=g, dtype=torch.float64)
        (skel[inner] * w).sum().backward()
        (cropped * w).sum().backward()
        torch.testing.assert_close(xa.grad[inner], xc.grad, rtol=1e-12, atol=0)
        assert xa.grad.masked_select(outside.expand_as(xa)).eq(0).all()


@pytest.mark.parametrize("spatial,iterations", [((15, 16), 5), ((9, 10, 11), 3), ((9, 10, 11), 6)])
def test_cldice_input_gradient_equals_monai_on_continuous_input(spatial, iterations):
    # probabilities drawn at random (no two voxels equal: no tie in any window), one channel: the same quantity as
    # MONAI's; the gradients differ only by the order of float summation (a reused erosion sums its gradient once)
    g = torch.Generator().manual_seed(6)
    p = torch.rand(2, 1, *spatial, generator=g, dtype=torch.float64)
    y = (torch.rand(2, 1, *spatial, generator=g) < 0.4).to(torch.float64)
    ours, peer = p.clone().requires_grad_(), p.clone().requires_grad_()
    a = cldice_loss(ours, y, iter_=iterations, reduction="sum")
    b = SoftclDiceLoss(iter_=iterations, reduction="sum")(peer, y)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=0)
    a.backward()
    b.backward()
    assert ours.grad.count_nonzero() > ours.numel() // 10  # the skeleton reaches many voxels
    torch.testing.assert_close(ours.grad, peer.grad, rtol=1e-10, atol=1e-15)


def _vessel_data(seed=0, spatial=(12, 13)):
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(2, 1, *spatial, dtype=torch.long)
    y[:, :, 5] = 1  # a thin structure across the image
    y[1, :, :, 3:5] = 1
    return 2 * torch.randn(2, 2, *spatial, generator=g), y


@pytest.mark.parametrize("spatial", [(12, 13), (8, 9, 10)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kw", [{}, {"iter_": 1, "smooth_nr": 0.5, "smooth_dr": 2.0, "smooth": 1e-3}])
def test_cldice_equals_monai_on_one_kept_channel(spatial, reduction, kw):
    x, y = _vessel_data(spatial=spatial)
    opts = {"softmax": True, "to_onehot_y": True, "include_background": False, "reduction": reduction, **kw}
    assert_parity(get_loss("cldice", **opts), SoftclDiceLoss(**opts), x, y, grad_atol=1e-8)


def test_cldice_binary_sigmoid_equals_monai():
    x, y = _vessel_data(seed=1)
    x, y = x[:, :1], y.float()
    assert_parity(ClDiceLoss(sigmoid=True), SoftclDiceLoss(sigmoid=True), x, y, grad_atol=1e-8)


def test_dice_cldice_equals_monai_on_one_kept_channel():
    x, y = _vessel_data(seed=2)
    x, y = x[:, :1], y.float()
    for alpha in (0.0, 0.3, 1.0):
        assert_parity(DiceClDiceLoss(sigmoid=True, alpha=alpha), SoftDiceclDiceLoss(sigmoid=True, alpha=alpha), x, y,
                      grad_atol=1e-8)
    total = dice_cldice_loss(x, y, sigmoid=True, alpha=0.3)
    parts = 0.7 * dice_loss(x, y, sigmoid=True, smooth_nr=1.0, smooth_dr=1.0) + 0.3 * cldice_loss(x, y, sigmoid=True)
    torch.testing.assert_close(total, parts)


def test_classes_are_scored_one_by_one_where_monai_pools_them():
    g = torch.Generator().manual_seed(3)
    x = 2 * torch.randn(2, 3, 10, 11, generator=g)
    y = torch.randint(0, 3, (2, 1, 10, 11), generator=g)
    kw = {"softmax": True, "to_onehot_y": True}
    per_class = get_loss("cldice", reduction="none", **kw)(x, y)  # (B, C)
    onehot = torch.nn.functional.one_hot(y[:, 0], 3).movedim(-1, 1).float()
    p = torch.softmax(x, 1)
    for c in range(3):  # each class alone, with the probabilities of the softmax over all classes
        ref = SoftclDiceLoss(reduction="none")(p[:, c:c + 1], onehot[:, c:c + 1])
        torch.testing.assert_close(per_class[:, c], ref)
    pooled = SoftclDiceLoss(**kw)(x, y)
    assert abs(per_class.mean().item() - pooled.item()) > 1e-3  # MONAI pools the classes of a sample


def test_a_break_costs_clDice_more_than_dice():
    target = torch.zeros(1, 1, 13, 17)
    target[..., 3:10, 2:15] = 1.0  # a vessel 7 voxels wide, 13 long: its skeleton is a line of 7 voxels
    broken = target.clone()
    broken[..., 8] = 0.0  # one column missing: the vessel falls in two pieces
    assert soft_skeleton(target, 3)[0, 0].nonzero().tolist() == [[6, c] for c in range(5, 12)]
    kw = {"smooth_nr": 0.0, "smooth_dr": 0.0, "empty": "skip"}
    dice = dice_loss(broken, target, **kw).item()
    cl = cldice_loss(broken, target, **kw).item()
    assert dice == pytest.approx(1 - 168 / 175, rel=1e-5)  # 2·84 / (84 + 91)
    # Tprec = 1 (the skeletons of both pieces lie in the target), Tsens = 6/7 (one skeleton voxel lost)
    assert cl == pytest.approx(1 - 2 * (6 / 7) / (1 + 6 / 7 + 1e-4), rel=1e-5)
    assert cl > 1.9 * dice


@pytest.mark.parametrize("iterations", [0, 3])
def test_ignored_voxels_equal_cropping_them(iterations):
    x, y = _vessel_data(seed=4, spatial=(12, 10))
    kw = {"softmax": True, "to_onehot_y": True, "iter_": iterations, "reduction": "none"}
    cropped = cldice_loss(x[..., :8, :], y[..., :8, :], **kw)
    y_ign = y.clone()
    y_ign[..., 8:, :] = 255
    torch.testing.assert_close(cldice_loss(x, y_ign, ignore_index=255, **kw), cropped)
    mask = torch.ones(2, 1, 12, 10)
    mask[..., 8:, :] = 0
    torch.testing.assert_close(cldice_loss(x, y, mask=mask, **kw), cropped)
    # and the input gradient: the cropped image's inside, 0 at the masked voxels
    xa, xc = x.clone().requires_grad_(), x[..., :8, :].clone().requires_grad_()
    cldice_loss(xa, y, mask=mask, **kw).sum().backward()
    cldice_loss(xc, y[..., :8, :], **kw).sum().backward()
    torch.testing.assert_close(xa.grad[..., :8, :], xc.grad)
    assert xa.grad[..., 8:, :].eq(0).all()


def test_batch_statistics_are_the_papers_single_score():
    x, y = _vessel_data(seed=5)
    p = torch.softmax(x, 1)[:, 1:]
    g = y.float()
    sp, sg = soft_skeleton(p, 3), soft_skeleton(g, 3)
    tprec = ((sp * g).sum() + 1) / (sp.sum() + 1)
    tsens = ((sg * p).sum() + 1) / (sg.sum() + 1)
    expected = 1 - 2 * tprec * tsens / (tprec + tsens + 1e-4)
    ours = cldice_loss(x, y, softmax=True, to_onehot_y=True, include_background=False, batch=True)
    torch.testing.assert_close(ours, expected)


def test_options_are_checked():
    with pytest.raises(TypeError, match="iter_"):
        ClDiceLoss(iter_=2.0)
    with pytest.raises(ValueError, match="iter_"):
        ClDiceLoss(iter_=-1)
    with pytest.raises(ValueError, match="smooth"):
        ClDiceLoss(smooth=0.0)
    with pytest.raises(ValueError, match="alpha"):
        DiceClDiceLoss(alpha=1.5)
    with pytest.raises(ValueError, match="reduction"):
        DiceClDiceLoss(reduction="none")


@pytest.mark.parametrize("key", ["cldice", "dice_cldice"])
def test_soft_label_is_refused(key):
    with pytest.raises(ValueError, match="soft_label does not apply to clDice"):
        get_loss(key, soft_label=True)
