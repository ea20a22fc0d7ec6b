"""The fused label-map path of compound losses and hybrids: one softmax and one closed-form backward serve the
region statistics and the log-probabilities at the labels (cross-entropy, focal). Checked in float64 against plain
autograd on a one-hot target (value and gradient), with masks, ignored voxels, class weights, batch statistics,
channel selections that differ between terms, and several chunks; and the fusion really happens (no second
softmax op)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import monai_segloss as msl
from monai_segloss.core import prepare as prepare_module
from monai_segloss.core import stats as stats_module

LABEL = {"softmax": True, "to_onehot_y": True}


@pytest.fixture(autouse=True)
def _autograd_function_paths(monkeypatch):
    """These tests are about the closed-form autograd functions: small inputs take them too (not the plain-autograd
    small-input path, ``_SMALL_ELEMENTS``), unless a test sets the threshold itself."""
    monkeypatch.setattr(stats_module, "_SMALL_ELEMENTS", 0)


def _case(device, seed=0, shape=(2, 4, 5, 4, 3), ignore=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=g)
    if ignore:
        y[0, 0, :2] = 255
    mask = (torch.rand(shape[0], 1, *shape[2:], generator=g) > 0.25).to(torch.float64)
    return x.to(device), y.to(device), mask.to(device)


def _reference(x, y, kind, dice_kw, ce_kw, mask=None):
    """The same quantity from a one-hot target through plain autograd: Dice by MONAI's formula (our dense path),
    cross-entropy / focal by log_softmax."""
    c = x.shape[1]
    valid = None if mask is None else mask[:, 0] > 0
    ignore = ce_kw.get("ignore_index")
    if ignore is not None:
        keep = y[:, 0] != ignore
        valid = keep if valid is None else valid & keep
    onehot = F.one_hot(torch.where(y[:, 0] == 255, 0, y[:, 0]), c).movedim(-1, 1).to(x.dtype)
    dense_kw = {k: v for k, v in dice_kw.items() if k != "ignore_index"}
    vmask = None if valid is None else valid.unsqueeze(1).to(x.dtype)
    dice = msl.get_loss("dice", softmax=True, **dense_kw)(x, onehot, vmask)
    lp = torch.log_softmax(x, 1)
    lpt = lp.gather(1, torch.where(y == 255, 0, y))[:, 0]
    per_voxel = -lpt if kind == "ce" else -lpt * (-torch.expm1(lpt)) ** ce_kw.get("gamma", 2.0)
    w = torch.ones_like(per_voxel) if valid is None else valid.to(x.dtype)
    return dice + (per_voxel * w).sum() / w.sum()


@pytest.mark.parametrize("kind", ["ce", "focal"])
@pytest.mark.parametrize("dice_kw", [{}, {"include_background": False, "batch": True}, {"batch": True}])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("chunked", [False, True])
def test_compound_fused_equals_autograd(device, kind, dice_kw, masked, chunked, monkeypatch):
    if chunked:
        monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 40)
    x, y, mask = _case(device)
    m = mask if masked else None
    term = {"loss": "cross_entropy" if kind == "ce" else "focal", "name": kind}
    loss = msl.CompoundLoss([{"loss": "dice", "kwargs": dice_kw}, term], shared=LABEL)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    calls = []
    unfused = prepare_module._SoftmaxAtLabels.apply
    monkeypatch.setattr(prepare_module._SoftmaxAtLabels, "apply", lambda *a: calls.append(a) or unfused(*a))
    value = loss(xa, y, m)
    assert not calls  # the log-probabilities came from the statistics' fused op
    ref = _reference(xb, y, kind, dice_kw, {}, m)
    torch.testing.assert_close(value, ref, rtol=1e-12, atol=1e-12)
    (ga,) = torch.autograd.grad(value, xa)
    (gb,) = torch.autograd.grad(ref, xb)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("key", ["dice_ce", "dice_focal"])
def test_presets_fused_with_ignore_index_and_weights(device, key):
    x, y, _ = _case(device, seed=1, ignore=True)
    kw = {**LABEL, "ignore_index": 255}
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    fused = msl.get_loss(key, **kw, weight=[1.0, 2.0, 0.5, 1.5])(xa, y)
    dice = msl.get_loss("dice", **kw, weight=[1.0, 2.0, 0.5, 1.5])
    other = msl.get_loss("cross_entropy" if key == "dice_ce" else "focal", **kw, weight=[1.0, 2.0, 0.5, 1.5])
    separate = dice(xb, y) + other(xb, y)  # two preparations, two softmax ops
    torch.testing.assert_close(fused, separate, rtol=1e-12, atol=1e-12)
    (ga,) = torch.autograd.grad(fused, xa)
    (gb,) = torch.autograd.grad(separate, xb)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-13)
    assert ga[..., :2, :, :][0][:, y[0, 0, :2] == 255].abs().max() == 0  # ignored voxels: no gradient


@pytest.mark.parametrize("key", ["exp_log", "unified_focal"])
def test_hybrids_fused_equal_their_unfused_terms(device, key, monkeypatch):
    """exp_log and unified_focal fuse their own voxel and region terms; the unfused path (every fused op
    disabled) gives the same value and gradient."""
    x, y, mask = _case(device, seed=2)
    loss = msl.get_loss(key, **LABEL)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    fused = loss(xa, y, mask)
    (ga,) = torch.autograd.grad(fused, xa)
    monkeypatch.setattr(prepare_module.PreparedInput, "fuse_label_log_probs", property(lambda s: False,
                                                                                      lambda s, v: None))
    plain = loss(xb, y, mask)
    (gb,) = torch.autograd.grad(plain, xb)
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck_stats_with_label_log_probs(squared, masked, monkeypatch):
    """float64 gradcheck of the fused op's four outputs (statistics and log-probabilities), over several chunks."""
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 25)
    x, y, mask = _case("cpu", seed=3, shape=(2, 3, 4, 5))
    valid = (mask[:, 0] > 0).flatten(1) if masked else None

    def f(t):
        tp, psum, _, lpt = stats_module._LabelMapStats.apply(t.flatten(2), y.flatten(1), valid, "softmax", squared,
                                                              True)
        return tp, psum, lpt

    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),))
    expected = torch.log_softmax(x, 1).flatten(2).gather(1, y.flatten(2))
    if valid is not None:  # a constant 0 at invalid voxels, which the statistics ignore too
        expected = expected * valid.unsqueeze(1)
    torch.testing.assert_close(f(x)[2], expected, rtol=0, atol=1e-14)


def test_label_log_probs_exact_for_extreme_logits():
    """The fused log-probability is x_y - logsumexp(x), exact where softmax(x)_y underflows to 0 in float32."""
    x = torch.tensor([[[0.0, 0.0], [-150.0, 200.0], [40.0, -30.0]]]).requires_grad_()
    y = torch.tensor([[[1, 0]]])
    value = msl.get_loss("dice_ce", **LABEL)(x, y)
    ce = F.cross_entropy(x.detach(), y[:, 0])
    dice = msl.get_loss("dice", **LABEL)(x.detach(), y)
    assert torch.isfinite(value) and abs(float(value.detach()) - float(ce + dice)) < 1e-4
    value.backward()
    assert torch.isfinite(x.grad).all()
