"""The label-map fast paths of the region statistics (``stats._LabelMapStats``, ``stats._LabelMapSquaredErrors``):
exact values and gradients.

Checked against the autograd path of a one-hot target (same quantity, computed by plain tensor algebra), against
float64 ``gradcheck``, and for a retained graph (a second backward recomputes what the first consumed).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import monai_segloss as msl
from monai_segloss.core import stats as stats_module
from monai_segloss.core.options import RegionOptions
from monai_segloss.core.prepare import prepare_input
from monai_segloss.core.stats import class_sums, confusion_stats, squared_error_sums

ACTS = [{"softmax": True}, {"sigmoid": True}, {"other_act": lambda t: torch.softmax(t, 1)}, {}]


@pytest.fixture(autouse=True)
def _autograd_function_paths(monkeypatch):
    """These tests are about the closed-form autograd functions: small inputs take them too (not the plain-autograd
    small-input path, ``_SMALL_ELEMENTS``), unless a test sets the threshold itself."""
    monkeypatch.setattr(stats_module, "_SMALL_ELEMENTS", 0)


def _case(seed: int, shape=(2, 3, 5, 4), dtype=torch.float64, act: dict | None = None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=dtype)
    if act == {}:  # probabilities
        x = torch.rand(*shape, generator=g, dtype=dtype)
    y = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=g)
    mask = (torch.rand(shape[0], 1, *shape[2:], generator=g) > 0.3).to(dtype)
    return x, y, mask


@pytest.mark.parametrize("act", ACTS, ids=["softmax", "sigmoid", "other", "probs"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck_label_map_stats(act, squared, masked, monkeypatch):
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 30)  # several chunks
    x, y, mask = _case(0, act=act)
    opts = RegionOptions(to_onehot_y=True, **act)

    def stats(inp):
        prep = prepare_input(inp, y, opts, mask if masked else None)
        s = confusion_stats(prep, squared=squared)
        return s.tp, s.psum

    assert torch.autograd.gradcheck(stats, (x.requires_grad_(),))


@pytest.mark.parametrize("act", ACTS, ids=["softmax", "sigmoid", "other", "probs"])
@pytest.mark.parametrize("key,kw", [
    ("dice", {}), ("dice", {"squared_pred": True}), ("jaccard", {"batch": True}),
    ("tversky", {"include_background": False}), ("focal_tversky", {"exclude_channels": [1]}),
    ("generalized_dice", {"weight": [1.0, 2.0, 0.5]}), ("log_cosh_dice", {"reduction": "none"}),
    ("sensitivity_specificity", {}),
])
@pytest.mark.parametrize("chunked", [False, True])
def test_label_map_equals_onehot(act, key, kw, chunked, monkeypatch):
    """Label map through the fast path == the one-hot target through plain autograd, values and gradients
    (also with the voxels walked in many small chunks)."""
    if chunked:
        monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 50)
    x, y, mask = _case(1, shape=(2, 3, 6, 5, 4), act=act)
    onehot = F.one_hot(y[:, 0], 3).movedim(-1, 1).to(x.dtype)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    la = msl.get_loss(key, to_onehot_y=True, **act, **kw)(xa, y, mask)
    lb = msl.get_loss(key, **act, **kw)(xb, onehot, mask)
    torch.testing.assert_close(la, lb, rtol=1e-10, atol=1e-12)
    la.sum().backward()
    lb.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-12)
    assert xa.grad[mask.expand_as(x) == 0].abs().max() == 0


def test_ignore_index_zero_gradient_and_retained_graph():
    x, y, _ = _case(2, shape=(2, 3, 7, 6), dtype=torch.float32)
    y[0, 0, :3] = 3  # ignored voxels
    x.requires_grad_()
    loss = msl.get_loss("dice", softmax=True, to_onehot_y=True, ignore_index=3)(x, y)
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)  # the first backward consumed the saved probabilities: recomputed
    torch.testing.assert_close(g1, g2)
    assert g1[0, :, :3].abs().max() == 0 and g1.abs().max() > 0


def test_stats_float32_accumulation_is_accurate():
    """Per-class sums over ~1M voxels stay within 1e-6 relative of float64 (no sequential float32 drift)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 1 << 20, generator=g)
    y = torch.randint(0, 3, (1, 1, 1 << 20), generator=g)
    opts = RegionOptions(softmax=True, to_onehot_y=True)
    s32 = confusion_stats(prepare_input(x, y, opts))
    s64 = confusion_stats(prepare_input(x.double(), y, opts))
    for a, b in ((s32.tp, s64.tp), (s32.psum, s64.psum), (s32.gsum, s64.gsum)):
        torch.testing.assert_close(a.double(), b, rtol=1e-6, atol=0)


@pytest.mark.parametrize("act", ACTS, ids=["softmax", "sigmoid", "other", "probs"])
@pytest.mark.parametrize("masked", [False, True])
def test_squared_error_sums_fast_path(act, masked, monkeypatch):
    """``(Σ (g-p)²g, Σ (g-p)²(1-g))`` of a label map: equal to the one-hot autograd sums and to a direct loop,
    float64 gradcheck over several chunks."""
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 30)
    x, y, mask = _case(5, act=act)
    m = mask if masked else None
    opts = RegionOptions(to_onehot_y=True, **act)
    on, off, gsum = squared_error_sums(prepare_input(x, y, opts, m))
    onehot = F.one_hot(y[:, 0], 3).movedim(-1, 1).to(x.dtype)
    dense = prepare_input(x, onehot, RegionOptions(**act), m)
    torch.testing.assert_close(on, class_sums(dense, lambda p, g: (g - p) ** 2 * g), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(off, class_sums(dense, lambda p, g: (g - p) ** 2 * (1 - g)), rtol=1e-12, atol=1e-12)
    p, v = dense.probs(), (torch.ones_like(mask) if m is None else m)
    torch.testing.assert_close(gsum, (onehot * v).flatten(2).sum(2), rtol=0, atol=0)
    torch.testing.assert_close(squared_error_sums(dense)[2], gsum, rtol=0, atol=0)
    for b in range(2):  # the definition, voxel by voxel
        for c in range(3):
            own = (y[b, 0] == c) & (v[b, 0] > 0)
            other = (y[b, 0] != c) & (v[b, 0] > 0)
            torch.testing.assert_close(on[b, c], ((1 - p[b, c][own]) ** 2).sum())
            torch.testing.assert_close(off[b, c], (p[b, c][other] ** 2).sum())
    assert torch.autograd.gradcheck(
        lambda t: torch.stack(squared_error_sums(prepare_input(t, y, opts, m))[:2]), (x.clone().requires_grad_(),))
    with pytest.raises(ValueError, match="label maps"):
        class_sums(prepare_input(x, y, opts, m), lambda p, g: p * g)


def test_autocast_bf16_stats_in_float32():
    x, y, _ = _case(4, shape=(2, 3, 8, 8), dtype=torch.float32)
    loss = msl.get_loss("tversky", softmax=True, to_onehot_y=True)
    ref = loss(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss(x.bfloat16().requires_grad_(), y)
    assert out.dtype == torch.float32
    assert abs(float(out.detach()) - float(ref)) < 1e-2


@pytest.mark.parametrize("shape", [(1, 3, 2, 2), (2, 3, 3, 2)])
def test_gradcheck_one_voxel_chunks(shape):
    """Fewer than 16 voxels give one-voxel chunks, where the backward once wrote into ``dL/dpsum`` itself."""
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]))
    loss = msl.SegDiceLoss(softmax=True, to_onehot_y=True)
    assert torch.autograd.gradcheck(lambda inp: loss(inp, y), (x,))
