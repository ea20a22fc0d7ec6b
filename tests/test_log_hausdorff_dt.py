"""Log distance-transform Hausdorff loss (``log_hausdorff_dt``): MONAI parity (``monai.losses.LogHausdorffDTLoss``)
at spacing 1 for every reduction, the relation to ``hausdorff_dt``, distances in mm, precomputed maps."""

from __future__ import annotations

import math

import pytest
import torch
from monai.losses import LogHausdorffDTLoss

from monai_segloss import SignedDistanceMapd, get_loss
from monai_segloss.functional import hausdorff_dt_loss, log_hausdorff_dt_loss
from tests._parity import assert_parity

LABEL = {"softmax": True, "to_onehot_y": True}


def _data(seed=0, spatial=(7, 8, 9)):
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(2, 1, *spatial, dtype=torch.long)
    y[:, :, 1:5, 2:6] = 1
    y[1, :, 3:6, 4:7] = 2
    return 2 * torch.randn(2, 3, *spatial, generator=g), y


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("spatial", [(7, 8), (7, 8, 9)])
def test_equals_monai(reduction, include_background, spatial):
    x, y = _data(spatial=spatial)
    kw = {**LABEL, "reduction": reduction, "include_background": include_background}
    assert_parity(get_loss("log_hausdorff_dt", **kw), LogHausdorffDTLoss(**kw), x, y)


def test_is_log1p_of_hausdorff_dt():
    x, y = _data(seed=1)
    for kw in ({**LABEL}, {**LABEL, "alpha": 1.0, "spacing": (0.8, 1.0, 2.5)}, {"sigmoid": True}):
        target = y if "to_onehot_y" in kw else (y > 0).float().expand(-1, 3, -1, -1, -1)
        h = hausdorff_dt_loss(x, target, **kw)
        torch.testing.assert_close(log_hausdorff_dt_loss(x, target, **kw), torch.log1p(h))


def test_hand_computed():
    p, g = torch.tensor([[[0.0, 0.9, 0.8, 0.7, 0.0]]]), torch.tensor([[[0.0, 1.0, 1.0, 0.0, 0.0]]])
    # the prediction (p > 0.5: 0 1 1 1 0) differs from the target (0 1 1 0 0), so do their distance maps:
    # d_g = (1, 1, 1, 1, 2), d_p = (1, 1, 2, 1, 1); (p - g)²·(d_g² + d_p²) = (0, 0.01·2, 0.04·5, 0.49·2, 0) / 5
    expected = math.log1p((0.01 * 2 + 0.04 * 5 + 0.49 * 2) / 5)
    assert log_hausdorff_dt_loss(p, g).item() == pytest.approx(expected, rel=1e-5)


def test_spacing_in_mm_and_precomputed_maps():
    x, y = _data(seed=2)
    spacing = (2.0, 2.0, 2.0)
    base = hausdorff_dt_loss(x, y, **LABEL)
    torch.testing.assert_close(log_hausdorff_dt_loss(x, y, spacing=spacing, **LABEL), torch.log1p(4 * base),
                               rtol=1e-5, atol=1e-6)  # distances twice as long, squared
    sdm = SignedDistanceMapd(keys="label", num_classes=3, spacing=spacing)
    distance = torch.stack([sdm({"label": t})["label_dist"] for t in y]).float()
    torch.testing.assert_close(log_hausdorff_dt_loss(x, y, distance=distance, spacing=spacing, **LABEL),
                               log_hausdorff_dt_loss(x, y, spacing=spacing, **LABEL))


def test_log_of_the_reduced_value_with_ignored_voxels():
    x, y = _data(seed=3, spatial=(6, 7))
    y[1, :, :, 5:] = 255
    kw = {**LABEL, "ignore_index": 255}
    units = hausdorff_dt_loss(x, y, reduction="none", **kw)  # (B, K): each unit's mean over its valid voxels
    none = log_hausdorff_dt_loss(x, y, reduction="none", **kw)
    torch.testing.assert_close(none, torch.log1p(units))
    mean = log_hausdorff_dt_loss(x, y, **kw)
    torch.testing.assert_close(mean, torch.log1p(units.mean()))  # MONAI: the log of the mean, not the mean of logs
    assert mean.item() > none.mean().item() + 1e-3  # log is concave: the two differ


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_batch_equals_monai(reduction):
    x, y = _data(seed=4, spatial=(7, 8))
    kw = {**LABEL, "reduction": reduction, "batch": True, "include_background": False}
    assert_parity(get_loss("log_hausdorff_dt", **kw), LogHausdorffDTLoss(**kw), x, y)
