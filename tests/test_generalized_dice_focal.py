"""Generalised Dice + focal preset (``generalized_dice_focal``): the sum of its terms, MONAI parity with sigmoid,
and the documented differences (the focal term follows the activation; ``weight`` weighs both terms)."""

from __future__ import annotations

import pytest
import torch
from monai.losses import GeneralizedDiceFocalLoss

import monai_segloss.core.stats as stats_module
from monai_segloss import SegGeneralizedDiceFocalLoss, get_loss
from monai_segloss.functional import focal_loss, generalized_dice_focal_loss, generalized_dice_loss
from monai_segloss.functional.fused import _LabelMapBinaryFocal
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


# ---- the fused pass: sigmoid with a label map (generalised Dice statistics and focal sums from one walk)

def _label_case(seed=0, b=2, c=3, spatial=(6, 5, 4), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(b, c, *spatial, generator=g, dtype=dtype)
    y = torch.randint(0, c, (b, 1, *spatial), generator=g)
    mask = (torch.rand(b, 1, *spatial, generator=g) > 0.3).to(dtype)
    return x, y, mask


FUSED_OPTIONS = [{}, {"gamma": 0.0}, {"gamma": 1.5, "alpha": 0.25, "weight": [0.5, 1.0, 2.0]},
                 {"include_background": False, "batch": True, "reduction": "sum", "alpha": [0.2, 0.5, 0.8]},
                 {"w_type": "simple", "empty": "fp", "exclude_channels": [1], "lambda_gdl": 0.3},
                 {"ignore_index": 2, "gamma": 3.0}]


@pytest.mark.parametrize("kw", FUSED_OPTIONS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("face", ["module", "functional"])
def test_fused_pass_equals_the_separate_terms(kw, masked, chunked, face, monkeypatch):
    """Under sigmoid with a label map the preset reads one fused pass: the same value and input gradient as its two
    terms computed separately (each through its own path), also walked in many small chunks."""
    if chunked:
        monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 40)
    x, y, mask = _label_case(seed=len(kw))
    m = mask if masked else None
    opts = {"sigmoid": True, "to_onehot_y": True, **kw}
    lg, lf = opts.pop("lambda_gdl", 1.0), opts.pop("lambda_focal", 1.0)
    focal_opts = {k: v for k, v in opts.items() if k not in ("batch", "w_type", "empty")}
    gdl_opts = {k: v for k, v in opts.items() if k not in ("gamma", "alpha")}
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    if face == "module":
        fused = get_loss("generalized_dice_focal", lambda_gdl=lg, lambda_focal=lf, **opts)(xa, y, m)
    else:
        fused = generalized_dice_focal_loss(xa, y, m, lambda_gdl=lg, lambda_focal=lf, **opts)
    separate = lg * generalized_dice_loss(xb, y, m, **gdl_opts) + lf * focal_loss(xb, y, m, **focal_opts)
    torch.testing.assert_close(fused, separate, rtol=1e-12, atol=1e-12)
    fused.backward()
    separate.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-13)
    if masked:
        assert xa.grad[mask.expand_as(x) == 0].abs().max() == 0


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 2.5])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_op_gradcheck(gamma, masked, monkeypatch):
    """float64 gradcheck of the fused op's closed-form backward, over several chunks."""
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 25)
    x, y, mask = _label_case(seed=3, spatial=(4, 3))
    valid = (mask[:, 0] > 0).flatten(1) if masked else None
    labels = y.flatten(1)

    def f(t):
        tp, psum, _, pos, neg = _LabelMapBinaryFocal.apply(t.flatten(2), labels, valid, gamma)
        return tp, psum, pos, neg

    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),))


def test_fused_pass_extreme_logits_and_retained_graph():
    """Logits far in the tails keep a finite value and gradient equal to the separate terms'; a retained graph's
    second backward recomputes the consumed buffer and gives the same gradient bit for bit."""
    x, y, _ = _label_case(seed=4, dtype=torch.float32)
    x = x * 40  # |x| up to ~400: σ saturates in float32
    x.requires_grad_()
    loss = get_loss("generalized_dice_focal", sigmoid=True, to_onehot_y=True)
    value = loss(x, y)
    (g1,) = torch.autograd.grad(value, x, retain_graph=True)
    (g2,) = torch.autograd.grad(value, x)
    assert torch.equal(g1, g2) and torch.isfinite(g1).all()
    xb = x.detach().clone().requires_grad_()
    separate = generalized_dice_loss(xb, y, sigmoid=True, to_onehot_y=True) + focal_loss(xb, y, sigmoid=True,
                                                                                         to_onehot_y=True)
    torch.testing.assert_close(value, separate, rtol=1e-5, atol=1e-6)
    separate.backward()
    torch.testing.assert_close(g1, xb.grad, rtol=1e-5, atol=1e-7)
