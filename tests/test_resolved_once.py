"""What a loss resolves once (issue 23, the fixed cost per call) never goes stale and never skips a data check.

A loss module keeps, in its options' memo (:meth:`~monai_segloss.core.options.Options.memo`), a preparation plan per
input signature: the metadata checks it passed and the constants of that signature (class ids, voxel counts,
divisors; :attr:`~monai_segloss.core.prepare.PreparedInput.static`). Here: a call with a known signature still runs
every data check with the same message; other options (a replaced ``options`` object), another channel count,
dtype, target kind or mask give what a new module gives; the memo is not pickled or copied; a constant made in
inference mode never reaches a later training step (an inference tensor cannot be saved for a backward); a
functional call keeps nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re

import pytest
import torch

import monai_segloss as msl
from monai_segloss import functional as F

LABEL = {"softmax": True, "to_onehot_y": True}
KEYS = ("dice", "dice_ce", "dice_focal", "cross_entropy", "focal", "bce", "topk_ce", "tversky",
        "generalized_dice", "sensitivity_specificity", "mcc", "exp_log")


def _data(c=3, spatial=(6, 5), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, *spatial, generator=g, dtype=dtype)
    y = torch.randint(0, c, (2, 1, *spatial), generator=g)
    mask = (torch.rand(2, 1, *spatial, generator=g) > 0.3).float()
    return x, y, mask


def _value_and_grad(loss, x, y, mask=None):
    x = x.detach().clone().requires_grad_()
    value = loss(x, y, mask)
    value.backward()
    return value.detach(), x.grad


def _message(fn):
    with pytest.raises((ValueError, TypeError)) as err:
        fn()
    return type(err.value), str(err.value)


@pytest.mark.parametrize("key", KEYS)
def test_data_checks_run_on_a_known_signature(key):
    """A module that has seen this signature (its metadata checks passed) still checks the labels' values: the same
    error, with the same message, as a new module."""
    x, y, _ = _data()
    loss = msl.get_loss(key, **LABEL)
    loss(x, y)  # the signature is now known
    bad = y.clone()
    bad[1, 0, 2, 3] = 3
    assert _message(lambda: loss(x, bad)) == _message(lambda: msl.get_loss(key, **LABEL)(x, bad))
    neg = y.clone()
    neg[0, 0, 0, 0] = -1
    assert "outside [0, 3)" in _message(lambda: loss(x, neg))[1]
    frac = y.float()
    loss(x, frac)  # a float label map of integers passes ...
    frac[0, 0, 1, 1] = 0.5  # ... and a fraction raises, on the second call of that signature too
    assert _message(lambda: loss(x, frac)) == _message(lambda: msl.get_loss(key, **LABEL)(x, frac))


def test_value_checks_of_probabilities_and_dense_targets_run_on_a_known_signature():
    x, y, _ = _data()
    probs = torch.softmax(x, 1)
    onehot = torch.nn.functional.one_hot(y[:, 0], 3).movedim(-1, 1).float()
    loss = msl.get_loss("dice")  # probabilities, one-hot target
    loss(probs, onehot)
    assert re.search(r"input must hold probabilities in \[0, 1\]", _message(lambda: loss(probs * 2, onehot))[1])
    assert re.search(r"target must hold values in \[0, 1\]", _message(lambda: loss(probs, onehot * 2))[1])
    nan = onehot.clone()
    nan[0, 0, 0, 0] = float("nan")
    assert _message(lambda: loss(probs, nan)) == _message(lambda: msl.get_loss("dice")(probs, nan))


def test_metadata_errors_after_good_calls_keep_their_messages():
    x, y, mask = _data()
    loss = msl.get_loss("dice", **LABEL)
    loss(x, y, mask)
    fresh = msl.get_loss("dice", **LABEL)
    for args in ((x, y[..., :4]), (x, torch.zeros(2, 3, 6, 5)), (x.long(), y), (x, y, torch.ones(2, 1, 4, 4)),
                 (x, y, [1.0]), (x[:, :1], y)):
        assert _message(lambda a=args: loss(*a)) == _message(lambda a=args: fresh(*a))


@pytest.mark.parametrize("key", KEYS)
def test_replaced_options_are_not_served_from_a_stale_plan(key):
    """The options are frozen; a module given new options (dataclasses.replace) uses them at once."""
    x, y, mask = _data()
    loss = msl.get_loss(key, **LABEL)
    loss(x, y, mask)
    loss(x, y)
    other = {"include_background": False, "weight": [1.0, 2.0]} if key != "generalized_dice" else \
        {"include_background": False, "batch": True}
    other = {k: v for k, v in other.items() if k in loss.options.names()}
    if not other or key in ("dice_ce", "dice_focal"):  # presets build their terms once, from the options given
        pytest.skip("no channel option to replace")
    loss.options = dataclasses.replace(loss.options, **other)
    expected = msl.get_loss(key, **LABEL, **other)
    for m in (None, mask):
        got, want = _value_and_grad(loss, x, y, m), _value_and_grad(expected, x, y, m)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@pytest.mark.parametrize("key", KEYS)
def test_one_module_on_changing_signatures_equals_new_modules(key):
    """Channel count, spatial dims, dtype, target kind (label map with or without its channel dim) and mask change
    between calls of one module: each call gives what a new module gives, bit for bit."""
    loss = msl.get_loss(key, **LABEL)
    cases = []
    for c, spatial, dtype in ((3, (6, 5), torch.float32), (2, (4, 3, 5), torch.float32), (4, (6, 5), torch.float64),
                              (3, (6, 5), torch.float32)):
        x, y, mask = _data(c, spatial, seed=c, dtype=dtype)
        cases += [(x, y, None), (x, y, mask), (x, y[:, 0], None)]
    for x, y, mask in cases + cases[::-1]:
        got = _value_and_grad(loss, x, y, mask)
        want = _value_and_grad(msl.get_loss(key, **LABEL), x, y, mask)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_the_memo_is_neither_pickled_nor_copied():
    x, y, _ = _data()
    loss = msl.get_loss("dice", **LABEL)
    loss(x, y)
    assert loss.options.memo()
    for clone in (pickle.loads(pickle.dumps(loss.options)), copy.deepcopy(loss.options), copy.copy(loss.options)):
        assert "_memo" not in clone.__dict__ and clone == loss.options
    twin = copy.deepcopy(loss)
    assert "_memo" not in twin.options.__dict__
    assert torch.equal(twin(x, y), loss(x, y))


@pytest.mark.parametrize("key", ["dice", "cross_entropy", "bce", "topk_ce", "focal", "exp_log", "dice_ce"])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_call_in_inference_mode_first_does_not_break_training(key, weighted):
    """Constants made in inference mode are inference tensors, which autograd refuses to save: they are kept apart
    from those of a training step."""
    x, y, _ = _data()
    kwargs = {**LABEL, **({"weight": [1.0, 2.0, 0.5]} if weighted else {})}
    loss = msl.get_loss(key, **kwargs)
    with torch.inference_mode():
        first = loss(x, y)
    got = _value_and_grad(loss, x, y)
    want = _value_and_grad(msl.get_loss(key, **kwargs), x, y)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert torch.equal(first, want[0])


def test_functional_calls_keep_nothing_between_calls():
    """A functional form parses new options on each call: nothing it resolves outlives the call, and calls with
    other options or inputs in between change nothing."""
    x, y, mask = _data()
    first = F.dice_loss(x, y, mask, **LABEL)
    F.dice_loss(x[:, :2], y.clamp(max=1), **LABEL, include_background=False)
    F.dice_loss(x.double(), y, mask, **LABEL, weight=[1.0, 2.0, 3.0], batch=True)
    assert torch.equal(F.dice_loss(x, y, mask, **LABEL), first)
    assert torch.equal(F.dice_loss(x, y, mask, **LABEL), msl.get_loss("dice", **LABEL)(x, y, mask))
