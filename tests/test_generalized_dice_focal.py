"""Generalised Dice + focal preset (``generalized_dice_focal``): the sum of its terms, MONAI parity with sigmoid,
and the documented differences (the focal term follows the activation; ``weight`` weighs both terms)."""

from __future__ import annotations

import pytest
import torch
from monai.losses import GeneralizedDiceFocalLoss

from monai_segloss import SegGeneralizedDiceFocalLoss, get_loss
from monai_segloss.functional import focal_loss, generalized_dice_loss
from tests._parity import assert_parity


def _data(seed=0, c=3, spatial=(7, 8)):
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(2, c, *spatial, generator=g), (torch.rand(2, c, *spatial, generator=g) < 0.3).float()


@pytest.mark.parametrize("kw", [{}, {"include_background": False, "batch": True, "w_type": "simple", "gamma": 1.5},
                                {"w_type": "uniform", "lambda_gdl": 0.3, "lambda_focal": 2.0}])
def test_equals_monai_with_sigmoid(kw):
    x, y = _data()
    assert_parity(get_loss("generalized_dice_focal", sigmoid=True, **kw), GeneralizedDiceFocalLoss(sigmoid=True, **kw),
                  x, y)


def test_is_the_weighted_sum_of_its_terms():
    x, y = _data(seed=1)
    labels = y.argmax(1, keepdim=True)
    kw = {"softmax": True, "to_onehot_y": True}
    loss = SegGeneralizedDiceFocalLoss(lambda_gdl=0.5, lambda_focal=2.0, gamma=1.0, **kw)
    total = loss(x, labels)
    gdl = generalized_dice_loss(x, labels, **kw)
    focal = focal_loss(x, labels, gamma=1.0, **kw)
    torch.testing.assert_close(total, 0.5 * gdl + 2.0 * focal)
    torch.testing.assert_close(loss.last_terms["generalized_dice"], gdl)
    torch.testing.assert_close(loss.last_terms["focal"], focal)


def test_softmax_focal_term_differs_from_monai_sigmoid_one():
    """MONAI scores the focal term with a sigmoid of the logits even with softmax=True; ours uses the softmax."""
    x, y = _data(seed=2)
    labels = y.argmax(1, keepdim=True)
    kw = {"softmax": True, "to_onehot_y": True}
    ours = get_loss("generalized_dice_focal", **kw)(x, labels)
    monai = GeneralizedDiceFocalLoss(**kw)(x, labels)
    gdl = generalized_dice_loss(x, labels, **kw)
    torch.testing.assert_close(ours, gdl + focal_loss(x, labels, **kw))
    sigmoid_focal = focal_loss(x, torch.nn.functional.one_hot(labels[:, 0], 3).movedim(-1, 1).float(), sigmoid=True)
    torch.testing.assert_close(monai, gdl + sigmoid_focal)
    assert abs(ours.item() - monai.item()) > 1e-2


def test_weight_weighs_both_terms():
    x, y = _data(seed=3)
    w = [0.5, 1.0, 2.0]
    ours = get_loss("generalized_dice_focal", sigmoid=True, weight=w)(x, y)
    both = generalized_dice_loss(x, y, sigmoid=True, weight=w) + focal_loss(x, y, sigmoid=True, weight=w)
    torch.testing.assert_close(ours, both)
    monai = GeneralizedDiceFocalLoss(sigmoid=True, weight=w)(x, y)  # MONAI: the focal term only
    torch.testing.assert_close(monai, generalized_dice_loss(x, y, sigmoid=True) + focal_loss(x, y, sigmoid=True,
                                                                                            weight=w))


def test_reduction_none_is_refused():
    with pytest.raises(ValueError, match="reduction"):
        SegGeneralizedDiceFocalLoss(sigmoid=True, reduction="none")
