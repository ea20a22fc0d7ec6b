"""Matthews correlation coefficient loss (``mcc``): hand-computed values, MONAI parity (``monai.losses.MCCLoss``)
where the MCC is defined, and the units where it is not (an empty or full target), scored by the empty policy."""

from __future__ import annotations

import math

import pytest
import torch
from monai.losses import MCCLoss

from monai_segloss import SegMCCLoss, get_loss
from monai_segloss.functional import mcc_loss
from tests._parity import assert_parity


def _soft_mcc(p: torch.Tensor, g: torch.Tensor) -> float:
    tp, fp = float((p * g).sum()), float((p * (1 - g)).sum())
    fn, tn = float(((1 - p) * g).sum()), float(((1 - p) * (1 - g)).sum())
    return (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + 1e-5)


def test_hand_computed():
    p = torch.tensor([[[0.9, 0.8, 0.1, 0.2, 0.3]]])
    g = torch.tensor([[[1.0, 1.0, 0.0, 0.0, 0.0]]])
    # TP = 1.7, FN = 0.3, FP = 0.6, TN = 2.4: MCC = (4.08 - 0.18) / sqrt(2.3 · 2 · 3 · 2.7)
    expected = 1 - (1.7 * 2.4 - 0.6 * 0.3) / math.sqrt(2.3 * 2.0 * 3.0 * 2.7 + 1e-5)
    assert mcc_loss(p, g).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1 - _soft_mcc(p, g), rel=1e-6)  # float32 sums
    # an exact prediction scores 0; an exactly inverted one scores 2
    assert mcc_loss(g, g).item() == 0.0
    assert mcc_loss(1 - g, g).item() == pytest.approx(2.0, abs=1e-6)


def _defined_data(seed: int, b: int = 3, c: int = 3, spatial=(6, 7)):
    """Logits and a label map in which every (sample, class) has target voxels and background voxels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (b, 1, *spatial), generator=g)
    y[:, :, 0, :c] = torch.arange(c)  # every class present in every sample
    return 2 * torch.randn(b, c, *spatial, generator=g), y


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("include_background", [True, False])
def test_equals_monai_softmax_label_map(batch, reduction, include_background):
    x, y = _defined_data(0)
    kw = {"softmax": True, "to_onehot_y": True, "batch": batch, "reduction": reduction,
          "include_background": include_background}
    assert_parity(get_loss("mcc", **kw), MCCLoss(**kw), x, y)


@pytest.mark.parametrize("dims", [(9,), (5, 6), (4, 5, 3)])
def test_equals_monai_sigmoid_multilabel(dims):
    g = torch.Generator().manual_seed(1)
    x = 2 * torch.randn(2, 2, *dims, generator=g)
    y = (torch.rand(2, 2, *dims, generator=g) < 0.4).float()
    y.flatten(2)[..., 0], y.flatten(2)[..., 1] = 1.0, 0.0  # defined: a target and a background voxel per unit
    torch.testing.assert_close(get_loss("mcc", sigmoid=True)(x, y), MCCLoss(sigmoid=True)(x, y))


def test_monai_smoothing_is_ours():
    x, y = _defined_data(2)
    kw = {"softmax": True, "to_onehot_y": True, "smooth_nr": 0.5, "smooth_dr": 2.0}
    torch.testing.assert_close(get_loss("mcc", **kw)(x, y), MCCLoss(**kw)(x, y))


def _empty_unit():
    """Binary, two samples: sample 0 has a target square, sample 1 none and a false-positive blob."""
    x = torch.full((2, 1, 8, 8), -4.0)
    y = torch.zeros(2, 1, 8, 8)
    y[0, 0, 2:5, 2:5] = 1
    x[0, 0, 2:5, 2:5] = 4.0
    x[1, 0, 5:7, 5:7] = 3.0
    return x, y


def test_empty_unit_monai_scores_one_without_gradient_ours_its_false_positive_rate():
    x, y = _empty_unit()
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    monai = MCCLoss(sigmoid=True, reduction="none")(xa, y)
    ours = SegMCCLoss(sigmoid=True, reduction="none")(xb, y)
    assert monai[1].item() == pytest.approx(1.0)
    monai[1].sum().backward()
    assert torch.equal(xa.grad, torch.zeros_like(xa.grad)), "MONAI: no gradient on a lesion-free image"
    p = torch.sigmoid(x[1])
    torch.testing.assert_close(ours[1, 0], p.sum() / p.numel())
    ours[1].sum().backward()
    assert torch.all(xb.grad[1, 0, 5:7, 5:7] > 0), "the false-positive blob is pushed down"
    # empty="smooth" is MONAI's value (the sample with a target: the same in both)
    torch.testing.assert_close(SegMCCLoss(sigmoid=True, reduction="none", empty="smooth")(x, y)[:, 0], monai[:, 0])
    torch.testing.assert_close(ours[0, 0], monai[0, 0])
    # skip: the empty unit is left out
    torch.testing.assert_close(SegMCCLoss(sigmoid=True, empty="skip")(x, y), monai[0, 0])


def test_full_target_is_scored_by_its_miss_rate():
    x = torch.full((1, 1, 4, 4), 3.0)
    x[..., 0, :2] = -1.0
    y = torch.ones(1, 1, 4, 4)
    p = torch.sigmoid(x)
    expected = (1 - p).sum() / p.numel()  # FN / (TP + FN)
    torch.testing.assert_close(mcc_loss(x, y, sigmoid=True), expected)
    assert MCCLoss(sigmoid=True)(x, y).item() == pytest.approx(1.0)  # MONAI: undefined, scored 1
    torch.testing.assert_close(mcc_loss(x, y, sigmoid=True, empty="smooth"), torch.tensor(1.0))


def test_perfect_soft_prediction_with_empty_and_full_units_is_zero():
    y = torch.zeros(2, 2, 4, 4)
    y[0, 1, :2] = 1
    y[:, 0] = 1 - y[:, 1]  # sample 1: channel 0 full, channel 1 empty
    x = (2 * y - 1) * 30
    assert mcc_loss(x, y, sigmoid=True).item() < 1e-6
    # MONAI: the empty unit scores 1 (its FP is 1e-12, not 0); the full one is exact in float32 (FN = 1 - 1.0 = 0)
    assert MCCLoss(sigmoid=True)(x, y).item() == pytest.approx(0.25)


def test_large_volumes_stay_accurate():
    """The four products of voxel counts (~n^4) are taken in float64."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 1, 96, 96, 96, generator=g)
    y = (torch.rand(1, 1, 96, 96, 96, generator=g) < 0.01).float()
    p = torch.sigmoid(x.double())
    expected = torch.tensor(1 - _soft_mcc(p, y.double()), dtype=torch.float64)
    torch.testing.assert_close(mcc_loss(x, y, sigmoid=True).double(), expected, rtol=1e-5, atol=1e-6)
