"""Failures found by fuzzing (``tests/test_fuzz.py``), each kept as a regular test after its fix.

Every test names the input that failed and what happened before the fix.
"""

from __future__ import annotations

import math

import pytest
import torch

from monai_segloss import available_losses, get_loss

REGION_KEYS = [k for k in ("dice", "jaccard", "generalized_dice", "tversky", "focal_tversky", "log_cosh_dice",
                           "sensitivity_specificity") if k in available_losses()]


@pytest.mark.parametrize("key", REGION_KEYS)
def test_nan_in_soft_target_is_rejected(key):
    """Was: a NaN in a one-hot/soft target slipped through the [0, 1] range check (NaN compares False) and the loss
    silently came out NaN."""
    x = torch.randn(2, 3, 4, 4)
    y = torch.softmax(torch.randn(2, 3, 4, 4), dim=1)
    y[1, 2, 3, 0] = math.nan
    with pytest.raises(ValueError, match="target must hold values in \\[0, 1\\].*nan"):
        get_loss(key, softmax=True)(x, y)


@pytest.mark.parametrize("key", REGION_KEYS)
def test_nan_probability_input_is_rejected(key):
    """Was: with no activation, a NaN probability passed the input range check and gave a NaN loss."""
    p = torch.rand(1, 1, 5)
    p[0, 0, 2] = math.nan
    with pytest.raises(ValueError, match="input must hold probabilities in \\[0, 1\\].*nan"):
        get_loss(key)(p, torch.ones(1, 1, 5))


def test_nan_target_at_an_ignored_voxel_is_accepted():
    """The ignored voxels of a one-hot target may hold anything equal to ``ignore_index``; other values are still
    checked. An all-``ignore_index`` voxel (here -1) counts nowhere: same loss as masking it out."""
    x = torch.randn(1, 2, 3, 3)
    y = torch.nn.functional.one_hot(torch.randint(0, 2, (1, 3, 3)), 2).movedim(-1, 1).float()
    y_ign = y.clone()
    y_ign[0, :, 1, 1] = -1
    mask = torch.ones(1, 1, 3, 3)
    mask[0, 0, 1, 1] = 0
    ref = get_loss("dice", softmax=True)(x, y, mask=mask)
    torch.testing.assert_close(get_loss("dice", softmax=True, ignore_index=-1)(x, y_ign), ref)


@pytest.mark.parametrize("bad", [torch.tensor(1), torch.tensor([[0, 1]]), 1])
def test_exclude_channels_not_a_1d_sequence_is_named(bad):
    """Was: ``exclude_channels=torch.tensor(1)`` (0-d) raised a raw ``TypeError: 'int' object is not iterable``."""
    with pytest.raises((TypeError, ValueError), match="exclude_channels"):
        get_loss("dice", softmax=True, exclude_channels=bad)


def test_exclude_channels_1d_tensor_is_accepted():
    x, y = torch.randn(2, 3, 4), torch.randint(0, 3, (2, 1, 4))
    a = get_loss("dice", softmax=True, to_onehot_y=True, exclude_channels=torch.tensor([0, 2]))(x, y)
    b = get_loss("dice", softmax=True, to_onehot_y=True, exclude_channels=[0, 2])(x, y)
    assert torch.equal(a, b)


@pytest.mark.parametrize("act", [lambda t: t.tolist(), lambda t: t.detach().numpy(), lambda t: None])
def test_other_act_returning_a_non_tensor_is_named(act):
    """Was: an ``other_act`` returning a list/array raised a raw ``AttributeError: ... no attribute 'as_subclass'``
    from deep inside the pipeline."""
    x, y = torch.randn(1, 2, 4), torch.randint(0, 2, (1, 1, 4))
    with pytest.raises(TypeError, match="other_act must return a torch.Tensor"):
        get_loss("dice", other_act=act, to_onehot_y=True)(x, y)


@pytest.mark.parametrize("empty", ["skip", "fp"])
@pytest.mark.parametrize("key", REGION_KEYS)
def test_unscored_empty_unit_with_a_tiny_denominator_has_a_finite_gradient(key, empty):
    """Was (found for focal_tversky, also dice, jaccard, tversky, log_cosh_dice): with ``smooth_dr=0`` and
    ``empty="skip"``/``"fp"``, an empty class predicted with a probability of ~1e-32 has a score of
    ``s_nr / 1e-32`` whose derivative overflows; the score is discarded by a ``where``, but 0·inf gave a NaN input
    gradient. Logits (29.3, -43.3, -182.0) at one voxel of class 0, background not scored: both kept classes are
    empty."""
    x = torch.tensor([[[29.2608], [-43.3159], [-182.0195]]], requires_grad=True)
    y = torch.tensor([[0]])
    loss = get_loss(key, softmax=True, to_onehot_y=True, include_background=False, empty=empty, smooth_dr=0.0)(x, y)
    loss.backward()
    loss = loss.detach()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all(), (loss, x.grad)
    if empty == "skip":  # no unit counts: 0 with a zero gradient
        assert float(loss) == 0 and not x.grad.any()
    else:  # scored by false-positive rates of ~1e-32 (through the loss's transform where it has one)
        assert 0 <= float(loss) < 1e-12


def test_unscored_units_keep_their_loss_values():
    """The zeroed statistics of units that do not count change no value: ``reduction="none"`` on a case with scored,
    skipped and absent (all-masked) units equals the unit-by-unit losses computed on their own."""
    torch.manual_seed(0)
    x = torch.randn(3, 3, 4, 4)
    y = torch.randint(1, 3, (3, 1, 4, 4))
    y[1] = 1  # sample 1: class 2 empty
    mask = torch.ones(3, 1, 4, 4)
    mask[2] = 0  # sample 2: no valid voxel
    out = get_loss("tversky", softmax=True, to_onehot_y=True, empty="skip", reduction="none")(x, y, mask=mask)
    for b in range(2):
        alone = get_loss("tversky", softmax=True, to_onehot_y=True, empty="skip", reduction="none")(x[b:b + 1],
                                                                                                  y[b:b + 1])
        torch.testing.assert_close(out[b], alone[0])
    assert out[1, 2] == 0 and not out[2].any()


def test_log_cosh_dice_with_numerator_smoothing_above_the_denominator_is_finite():
    """Was: ``smooth_nr=1.0`` (above the default ``smooth_dr=1e-5``) lets an empty class score
    ``1 / (FP + 1e-5)`` ~ 2e4; ``log(cosh(1 - score))`` overflowed to inf. Checked against the closed form
    ``log cosh x = |x| - log 2 + log1p(exp(-2|x|))`` of the hand-computed Dice scores."""
    x = torch.tensor([[[10.0], [0.0], [0.0], [0.0]]], requires_grad=True)
    y = torch.tensor([[0]])
    w = [0.2, 1.0, 2.0, 0.5]
    loss = get_loss("log_cosh_dice", softmax=True, to_onehot_y=True, batch=True, weight=w, smooth_nr=1.0)(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    p = torch.softmax(x.detach().double()[0, :, 0], 0)
    g = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    tp, fp, fn = p * g, p * (1 - g), (1 - p) * g
    score = (2 * tp + 1.0) / (2 * tp + fp + fn + 1e-5)
    d = (1 - score).abs()
    expected = (torch.tensor(w, dtype=torch.float64) * (d - math.log(2) + torch.log1p(torch.exp(-2 * d)))).mean()
    assert float(score.max()) > 1e4  # the overflow regime of cosh
    torch.testing.assert_close(loss.detach().double(), expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize("key", ["exp_log", "combo", "unified_focal"])
@pytest.mark.parametrize("empty", ["skip", "fp"])
def test_hybrid_discarded_empty_unit_has_zero_gradient(key, empty):
    """Was (exp_log, found by fuzzing): with ``empty="skip"`` and ``smooth_nr = smooth_dr = 0`` the empty unit's
    discarded 0/0 Dice still sent a NaN gradient through ``-ln``. The hybrids now zero the statistics of discarded
    units as the region losses do; the loss is the one of the scored units alone."""
    x = torch.tensor([[[0.3109, -1.2]]], requires_grad=True)
    loss = get_loss(key, sigmoid=True, empty=empty, smooth_nr=0.0, smooth_dr=0.0, reduction="none")
    value = loss(x, torch.zeros(1, 1, 2, dtype=torch.long))
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(x.grad).all()


def test_exp_log_zero_dice_is_finite():
    """Was (found by fuzzing): ``smooth_nr=0`` and an empty class under ``empty="smooth"`` give Dice = 0, and
    ``-ln 0`` made the loss inf (NaN with a zero class weight). ``-ln`` is continued by its tangent below 1e-12:
    the Dice term of that unit is ``(-ln 1e-12 + 1)^γ_d``."""
    x = torch.tensor([[[0.3109]]], requires_grad=True)
    o = {"gamma_dice": 0.3, "gamma_cross": 0.3, "w_dice": 0.8, "w_cross": 0.2}
    loss = get_loss("exp_log", sigmoid=True, smooth_nr=0.0, **o)(x, torch.zeros(1, 1, 1, dtype=torch.long))
    loss.backward()
    # one negative voxel: Wong weight sqrt(1/1) = 1 on the negative term, -ln(1 - p) = softplus(x)
    cross = torch.nn.functional.softplus(x.detach()) ** 0.3
    expected = 0.8 * (-math.log(1e-12) + 1) ** 0.3 + 0.2 * cross
    torch.testing.assert_close(loss.detach(), expected.reshape(()), rtol=1e-6, atol=0)
    assert torch.isfinite(x.grad).all()
    zero_w = get_loss("exp_log", sigmoid=True, smooth_nr=0.0, weight=[0.0])(x, torch.zeros(1, 1, 1, dtype=torch.long))
    assert float(zero_w.detach()) == 0.0
