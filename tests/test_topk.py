"""TopK cross-entropy (``topk_ce``) and the Dice + TopK preset (``dice_topk``): hand-computed values, torch and
nnU-Net parity, the selection rules (k % of the valid voxels, over the batch or per sample), reductions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from monai_segloss import DiceTopKLoss, TopKCELoss, get_loss
from monai_segloss.functional import dice_loss, dice_topk_loss, topk_ce_loss
from tests._parity import assert_parity

LABEL = {"softmax": True, "to_onehot_y": True}


def _data(b=2, c=3, spatial=(6, 5, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(b, c, *spatial, generator=g), torch.randint(0, c, (b, 1, *spatial), generator=g)


def _reference(x, y, k, per_image=False, **ce_kw):
    """torch's per-voxel cross-entropy, the floor(N·k/100) largest of the batch (or of each sample) averaged."""
    ce = F.cross_entropy(x, y[:, 0], reduction="none", **ce_kw)
    rows = ce.flatten(1) if per_image else ce.reshape(1, -1)
    n = max(1, int(rows.shape[1] * k / 100))
    return rows.topk(n, dim=1).values.mean(1).mean()


def test_hand_computed():
    # CE per voxel: -log softmax at the label; k = 50 % of 4 voxels keeps the 2 largest
    x = torch.tensor([[[4.0, 0.0, -1.0, 2.0], [0.0, 1.0, 1.0, 0.0]]])
    y = torch.tensor([[[0, 0, 1, 1]]])
    ce = [math.log1p(math.exp(-4.0)), math.log1p(math.exp(1.0)), math.log1p(math.exp(-2.0)),
          math.log1p(math.exp(2.0))]
    expected = (ce[3] + ce[1]) / 2
    assert topk_ce_loss(x, y, k=50, **LABEL).item() == pytest.approx(expected, rel=1e-6)
    # k = 100 % is the plain cross-entropy; k = 1 % still keeps one voxel, the worst
    assert topk_ce_loss(x, y, k=100, **LABEL).item() == pytest.approx(sum(ce) / 4, rel=1e-6)
    assert topk_ce_loss(x, y, k=1, **LABEL).item() == pytest.approx(max(ce), rel=1e-6)
    # k = 30 %: floor(1.2) = 1 voxel (not 2 as rounding up would keep); k = 70 %: floor(2.8) = 2 (not 3)
    assert topk_ce_loss(x, y, k=30, **LABEL).item() == pytest.approx(max(ce), rel=1e-6)
    assert topk_ce_loss(x, y, k=70, **LABEL).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("k", [10.0, 2.5, 37.0, 100.0])
@pytest.mark.parametrize("per_image", [False, True])
def test_equals_torch_cross_entropy_topk(k, per_image):
    x, y = _data()
    ours = topk_ce_loss(x, y, k=k, per_image=per_image, **LABEL)
    torch.testing.assert_close(ours, _reference(x, y, k, per_image), rtol=1e-6, atol=1e-7)


def test_weights_and_label_smoothing_follow_torch_terms():
    x, y = _data(seed=1)
    w = [0.5, 1.0, 3.0]
    ours = topk_ce_loss(x, y, weight=w, label_smoothing=0.1, k=20, **LABEL)
    ref = _reference(x, y, 20, weight=torch.tensor(w), label_smoothing=0.1)  # a plain mean of the weighted terms
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-7)


def test_one_hot_and_soft_targets():
    x, y = _data(seed=2)
    onehot = F.one_hot(y[:, 0], 3).movedim(-1, 1).float()
    torch.testing.assert_close(topk_ce_loss(x, onehot, softmax=True), topk_ce_loss(x, y, **LABEL))
    soft = torch.softmax(torch.randn(x.shape, generator=torch.Generator().manual_seed(3)), 1)
    ce = -(soft * torch.log_softmax(x, 1)).sum(1).flatten()
    n = int(ce.numel() * 0.1)
    torch.testing.assert_close(topk_ce_loss(x, soft, softmax=True), ce.topk(n).values.mean())


@pytest.mark.parametrize("per_image", [False, True])
def test_ignored_voxels_equal_cropping_them(per_image):
    x, y = _data(spatial=(8, 6))
    kw = {**LABEL, "k": 16, "per_image": per_image}  # 9.6 and 4.8 voxels: floor, round and ceil all differ
    cropped = topk_ce_loss(x[..., :5, :], y[..., :5, :], **kw)
    y_ign = y.clone()
    y_ign[..., 5:, :] = 255
    torch.testing.assert_close(topk_ce_loss(x, y_ign, ignore_index=255, **kw), cropped)
    mask = torch.ones(2, 1, 8, 6)
    mask[..., 5:, :] = 0
    torch.testing.assert_close(topk_ce_loss(x, y, mask=mask, **kw), cropped)
    # k % of the valid voxels: floor(2·5·6 · 16/100) = 9 over the batch, floor(5·6 · 16/100) = 4 per sample
    ce = F.cross_entropy(x[..., :5, :], y[:, 0, :5, :], reduction="none")
    rows = ce.flatten(1) if per_image else ce.reshape(1, -1)
    n = 4 if per_image else 9
    torch.testing.assert_close(cropped, rows.topk(n, dim=1).values.mean(1).mean())


def test_reductions_and_gradient_support():
    x, y = _data(spatial=(5, 6))
    x.requires_grad_(True)
    kw = {**LABEL, "k": 20}
    none = topk_ce_loss(x, y, reduction="none", **kw)
    assert none.shape == x.shape
    total = topk_ce_loss(x, y, reduction="sum", **kw)
    torch.testing.assert_close(none.sum(), total)
    n = int(x[:, 0].numel() * 0.2)
    torch.testing.assert_close(topk_ce_loss(x, y, **kw), total / n)
    selected = none.detach().sum(1) > 0
    assert int(selected.sum()) == n
    total.backward()
    grad_voxels = x.grad.abs().sum(1) > 0
    assert torch.equal(grad_voxels, selected), "the gradient reaches the selected voxels only"


def test_per_image_averages_the_samples():
    x, y = _data(b=3, spatial=(4, 5))
    ref = torch.stack([_reference(x[i:i + 1], y[i:i + 1], 25) for i in range(3)]).mean()
    torch.testing.assert_close(topk_ce_loss(x, y, k=25, per_image=True, **LABEL), ref)


def test_excluded_channels_add_no_term():
    x, y = _data(seed=4)
    ce = F.cross_entropy(x, y[:, 0], reduction="none").masked_fill(y[:, 0] == 0, 0)
    n = int(ce.numel() * 0.1)
    ours = topk_ce_loss(x, y, include_background=False, **LABEL)
    torch.testing.assert_close(ours, ce.flatten().topk(n).values.mean())


def test_binary_mode_is_refused():
    x = torch.randn(2, 1, 4, 4)
    with pytest.raises(ValueError, match="sigmoid"):
        TopKCELoss(sigmoid=True)
    with pytest.raises(ValueError, match="sigmoid"):
        DiceTopKLoss(sigmoid=True)
    with pytest.raises(ValueError, match="C >= 2"):
        topk_ce_loss(x.sigmoid(), (x > 0).float())


@pytest.mark.parametrize("bad", [0.0, -1.0, 100.5, math.nan])
def test_k_is_checked(bad):
    with pytest.raises(ValueError, match="k must be"):
        TopKCELoss(softmax=True, k=bad)


# ------------------------------------------------------------------------------------------------- dice_topk

def test_dice_topk_is_the_sum_of_its_terms():
    x, y = _data(seed=5)
    loss = DiceTopKLoss(include_background=False, batch=True, k=15, lambda_dice=0.5, lambda_topk=2.0, **LABEL)
    total = loss(x, y)
    dice = dice_loss(x, y, include_background=False, batch=True, **LABEL)
    topk = topk_ce_loss(x, y, k=15, **LABEL)  # every class: the background keeps its cross-entropy
    torch.testing.assert_close(total, 0.5 * dice + 2.0 * topk)
    torch.testing.assert_close(loss.last_terms["dice"], dice)
    torch.testing.assert_close(loss.last_terms["topk"], topk)
    torch.testing.assert_close(dice_topk_loss(x, y, include_background=False, batch=True, k=15, lambda_dice=0.5,
                                              lambda_topk=2.0, **LABEL), total)


def test_dice_topk_refuses_reduction_none():
    with pytest.raises(ValueError, match="reduction"):
        get_loss("dice_topk", reduction="none", **LABEL)


# ------------------------------------------------------------------------------------------------- nnU-Net parity

def _nnunet_losses():
    pytest.importorskip("nnunetv2")
    from nnunetv2.training.loss.compound_losses import DC_and_topk_loss
    from nnunetv2.training.loss.robust_ce_loss import TopKLoss

    return TopKLoss, DC_and_topk_loss


@pytest.mark.filterwarnings("ignore:size_average and reduce args")
@pytest.mark.parametrize("k,smoothing", [(10, 0.0), (10, 0.1), (33, 0.0)])
def test_topk_ce_equals_nnunet_topk_loss(k, smoothing):
    TopKLoss, _ = _nnunet_losses()
    x, y = _data(spatial=(9, 10, 11))
    assert_parity(lambda a, t: topk_ce_loss(a, t, k=k, label_smoothing=smoothing, **LABEL),
                  TopKLoss(k=k, label_smoothing=smoothing), x, y, rtol=1e-6, grad_rtol=1e-5, grad_atol=1e-9)


@pytest.mark.filterwarnings("ignore:size_average and reduce args")
@pytest.mark.parametrize("batch_dice", [False, True])
def test_dice_topk_equals_nnunet_dc_and_topk_plus_one(batch_dice):
    """nnU-Net's Dice term is -Dice, ours 1 - Dice: the losses differ by the constant 1 and share gradients."""
    _, DC_and_topk_loss = _nnunet_losses()
    x, y = _data(spatial=(9, 10, 11), seed=6)
    nnunet = DC_and_topk_loss({"batch_dice": batch_dice, "smooth": 1e-5, "do_bg": False, "ddp": False},
                              {"k": 10, "label_smoothing": 0.0})
    ours = DiceTopKLoss(include_background=False, batch=batch_dice, **LABEL)
    assert_parity(ours, nnunet, x, y, offset=1.0, rtol=1e-6, grad_rtol=1e-5, grad_atol=1e-9)


@pytest.mark.filterwarnings("ignore:size_average and reduce args")
def test_ignore_label_differs_from_nnunet_as_documented():
    """nnU-Net takes k % of every voxel, ignored ones scoring 0; we take k % of the valid voxels only."""
    TopKLoss, _ = _nnunet_losses()
    x, y = _data(spatial=(9, 10, 11), seed=7)
    y[:, :, :4] = 255
    ours = topk_ce_loss(x, y, ignore_index=255, **LABEL)
    nnunet = TopKLoss(k=10, ignore_index=255)(x, y)
    ce = F.cross_entropy(x, y[:, 0], reduction="none", ignore_index=255)
    valid = ce[:, 4:].flatten()
    torch.testing.assert_close(ours, valid.topk(int(valid.numel() * 0.1)).values.mean())
    torch.testing.assert_close(nnunet, ce.flatten().topk(int(ce.numel() * 0.1)).values.mean())
    assert ours.item() > nnunet.item()  # fewer voxels kept: only the harder ones


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("k", [10.0, 3.0])
def test_long_rows_value_and_gradient_equal_the_full_selection(per_image, k):
    # rows of 2·40·40·48 = 153,600 (76,800 per sample) voxels: the CPU selection runs on the candidates above a
    # sampled bound; the value and the gradient are those of torch.topk over the whole row
    x, y = _data(b=2, c=2, spatial=(40, 40, 48), seed=4)
    x.requires_grad_(True)
    ours = topk_ce_loss(x, y, k=k, per_image=per_image, **LABEL)
    (grad,) = torch.autograd.grad(ours, x)
    xr = x.detach().clone().requires_grad_(True)
    ref = _reference(xr, y, k, per_image=per_image)
    (grad_ref,) = torch.autograd.grad(ref, xr)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(grad, grad_ref, rtol=0, atol=1e-10)


def test_candidate_selection_falls_back_when_the_sample_misleads():
    from monai_segloss.functional.distribution import _largest

    # the sampled positions (every 8th) hold the largest values: the sampled bound keeps too few candidates
    n, m = 1 << 17, 1 << 13
    row = torch.rand(n, generator=torch.Generator().manual_seed(5))
    row[::8] += 10.0
    rows = torch.stack([row, torch.rand(n, generator=torch.Generator().manual_seed(6))]).requires_grad_(True)
    ours = _largest(rows, m)
    torch.testing.assert_close(ours.sort(1).values, rows.topk(m, dim=1).values.sort(1).values, rtol=0, atol=0)
    (grad,) = torch.autograd.grad(ours.sum(), rows)
    (grad_ref,) = torch.autograd.grad(rows.topk(m, dim=1).values.sum(), rows)
    assert torch.equal(grad, grad_ref)
