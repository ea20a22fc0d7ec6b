"""Neighbour-aware calibration loss (``nacl``): MONAI parity (``monai.losses.NACLLoss``, both filters and
distances, 2D and 3D), the neighbourhood proportions τ by hand, target formats, reductions, ignored voxels."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from monai.losses import NACLLoss

from monai_segloss import SegNACLLoss, get_loss
from monai_segloss.functional import cross_entropy_loss, nacl_loss
from monai_segloss.functional.calibration import NACLOptions, neighbourhood_proportions
from tests._parity import assert_parity

LABEL = {"softmax": True, "to_onehot_y": True}


def _data(seed=0, c=3, spatial=(9, 10)):
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(2, c, *spatial, generator=g), torch.randint(0, c, (2, 1, *spatial), generator=g)


@pytest.mark.parametrize("spatial", [(9, 10), (6, 7, 8)])
@pytest.mark.parametrize("kw", [{}, {"kernel_ops": "gaussian", "sigma": 1.3},
                                {"distance_type": "l2", "kernel_size": 5, "alpha": 0.5}])
def test_equals_monai(spatial, kw):
    x, y = _data(spatial=spatial)
    monai = NACLLoss(classes=3, dim=len(spatial), **kw)
    ours = assert_parity(get_loss("nacl", **LABEL, **kw), lambda a, t: monai(a, t[:, 0]), x, y, rtol=1e-6,
                         grad_rtol=1e-5, grad_atol=1e-8)
    # MONAI's classes and dim are accepted and checked
    torch.testing.assert_close(SegNACLLoss(classes=3, dim=len(spatial), **LABEL, **kw)(x, y), ours)


def test_neighbourhood_proportions_by_hand():
    g = torch.zeros(1, 2, 3, 3)
    g[0, 1, 0, 0] = 1.0  # class 1 in the top-left corner, class 0 elsewhere
    g[0, 0] = 1 - g[0, 1]
    tau = neighbourhood_proportions(g, NACLOptions())
    # 3x3 means with zero padding: the corner sees 4 voxels of the image (1 of class 1), the centre 9 (1 of class 1)
    assert tau[0, 1, 0, 0].item() == pytest.approx(1 / 9)
    assert tau[0, 0, 0, 0].item() == pytest.approx(3 / 9)
    assert tau[0, 1, 1, 1].item() == pytest.approx(1 / 9)
    assert tau[0, 0, 1, 1].item() == pytest.approx(8 / 9)
    assert tau[0, 1, 2, 2].item() == 0.0


def test_one_hot_soft_targets_and_the_formula():
    x, y = _data(seed=1)
    onehot = F.one_hot(y[:, 0], 3).movedim(-1, 1).float()
    torch.testing.assert_close(nacl_loss(x, onehot, softmax=True), nacl_loss(x, y, **LABEL))
    soft = torch.softmax(torch.randn(x.shape, generator=torch.Generator().manual_seed(2)), 1)
    tau = F.avg_pool2d(F.pad(soft, (1, 1, 1, 1)), 3, stride=1)
    expected = cross_entropy_loss(x, soft, softmax=True) + 0.1 * (tau - x).abs().mean()
    torch.testing.assert_close(nacl_loss(x, soft, softmax=True), expected)


def test_reductions():
    x, y = _data(seed=3)
    none = nacl_loss(x, y, reduction="none", alpha=0.4, **LABEL)
    assert none.shape == x.shape
    torch.testing.assert_close(none.sum(), nacl_loss(x, y, reduction="sum", alpha=0.4, **LABEL))
    torch.testing.assert_close(none.sum() / y.numel(), nacl_loss(x, y, alpha=0.4, **LABEL))


def test_ignored_voxels_add_no_term_and_are_no_class():
    x, y = _data(seed=4)
    y_ign = y.clone()
    y_ign[:, :, :3] = 255
    ours = nacl_loss(x, y_ign, ignore_index=255, **LABEL)
    valid = y_ign != 255
    onehot = F.one_hot(y[:, 0], 3).movedim(-1, 1).float() * valid
    tau = F.avg_pool2d(F.pad(onehot, (1, 1, 1, 1)), 3, stride=1)
    penalty = ((tau - x).abs() * valid).sum() / (valid.sum() * 3)
    ce = F.cross_entropy(x, y_ign[:, 0], ignore_index=255)
    torch.testing.assert_close(ours, ce + 0.1 * penalty)


def test_options_are_checked():
    x, y = _data()
    with pytest.raises(ValueError, match="classes"):
        SegNACLLoss(classes=4, **LABEL)(x, y)
    with pytest.raises(ValueError, match="dim"):
        SegNACLLoss(dim=3, **LABEL)(x, y)
    with pytest.raises(ValueError, match="kernel_size"):
        SegNACLLoss(kernel_size=4)
    with pytest.raises(ValueError, match="kernel_ops"):
        SegNACLLoss(kernel_ops="median")
    with pytest.raises(ValueError, match="sigmoid"):
        SegNACLLoss(sigmoid=True)
