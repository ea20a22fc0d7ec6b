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
