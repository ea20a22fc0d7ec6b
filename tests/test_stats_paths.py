"""The four label-map paths of the region statistics (``core/stats.py``), each against plain autograd on a one-hot
target in float64 (value and gradient):

- two classes under softmax: ``p1 = σ(x1 - x0)``, three sums per sample, no gather (:func:`stats._binary_forward`);
- a few channels (C <= ``_ONEHOT_CHANNELS``): ``torch.softmax`` of the whole input and a chunk-sized one-hot
  (:func:`stats._onehot_chunk_sums`);
- many channels: the chunked softmax and a gather / scatter per voxel (:func:`stats._label_chunk_sums`), also
  forced at small C by setting ``_ONEHOT_CHANNELS`` to 0.

- small inputs (up to ``_SMALL_ELEMENTS`` elements): plain autograd ops on a one-hot target
  (:func:`stats._small_label_map_stats`, :func:`stats._small_squared_errors`).

With masks, ignored voxels, several chunks, the log-probabilities a compound loss fuses in, a retained graph, and
float32 accuracy over a million voxels.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import monai_segloss as msl
from monai_segloss.core import stats as stats_module
from monai_segloss.core.options import RegionOptions
from monai_segloss.core.prepare import prepare_input
from monai_segloss.core.stats import confusion_stats

LABEL = {"softmax": True, "to_onehot_y": True}


@pytest.fixture(autouse=True)
def _autograd_function_paths(monkeypatch):
    """These tests are about the closed-form autograd functions: small inputs take them too (not the plain-autograd
    small-input path, ``_SMALL_ELEMENTS``), unless a test sets the threshold itself."""
    monkeypatch.setattr(stats_module, "_SMALL_ELEMENTS", 0)
# (C, _ONEHOT_CHANNELS, _SMALL_ELEMENTS): the path each case takes
PATHS = {"binary": (2, 8, 0), "onehot3": (3, 8, 0), "onehot8": (8, 8, 0), "gather3": (3, 0, 0), "gather9": (9, 8, 0),
         "binary_no_onehot": (2, 0, 0), "small2": (2, 8, 1 << 18), "small3": (3, 8, 1 << 18),
         "small9": (9, 8, 1 << 18)}


def _set_path(monkeypatch, path: str) -> int:
    c, onehot_channels, small = PATHS[path]
    monkeypatch.setattr(stats_module, "_ONEHOT_CHANNELS", onehot_channels)
    monkeypatch.setattr(stats_module, "_SMALL_ELEMENTS", small)
    return c


def _case(c: int, seed: int = 0, spatial=(5, 4, 3), dtype=torch.float64, ignore: bool = False):
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(2, c, *spatial, generator=g, dtype=dtype)
    y = torch.randint(0, c, (2, 1, *spatial), generator=g)
    if ignore:
        y[0, 0, :2] = 255
    mask = (torch.rand(2, 1, *spatial, generator=g) > 0.3).to(dtype)
    return x, y, mask


def _onehot_reference(x, y, mask, ignore):
    """The one-hot target and the validity mask that express the same quantity without a label map."""
    c = x.shape[1]
    keep = (y != 255) if ignore else torch.ones_like(y, dtype=torch.bool)
    valid = keep.to(x.dtype) if mask is None else keep.to(x.dtype) * mask
    onehot = F.one_hot(torch.where(y[:, 0] == 255, 0, y[:, 0]), c).movedim(-1, 1).to(x.dtype)
    return onehot, (None if mask is None and not ignore else valid)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("key,kw", [
    ("dice", {}), ("dice", {"squared_pred": True}), ("jaccard", {"batch": True, "include_background": False}),
    ("tversky", {"alpha": 0.2, "beta": 0.8}), ("generalized_dice", {}), ("sensitivity_specificity", {}),
])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("chunk", [1 << 20, 23])
def test_region_paths_equal_onehot_autograd(path, key, kw, masked, chunk, monkeypatch):
    c = _set_path(monkeypatch, path)
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", chunk)
    x, y, mask = _case(c, seed=c + len(path))
    m = mask if masked else None
    onehot, valid = _onehot_reference(x, y, m, ignore=False)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    la = msl.get_loss(key, **LABEL, **kw)(xa, y, m)
    lb = msl.get_loss(key, softmax=True, **kw)(xb, onehot, valid)
    torch.testing.assert_close(la, lb, rtol=1e-10, atol=1e-12)
    la.backward()
    lb.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-12)
    if masked:
        assert xa.grad[mask.expand_as(x) == 0].abs().max() == 0


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("key", ["dice_ce", "dice_focal"])
@pytest.mark.parametrize("chunk", [1 << 20, 23])
def test_compound_paths_with_ignore_index(path, key, chunk, monkeypatch):
    """Dice + CE / focal through the fused op (the log-probability at the label from the same pass), ignored
    voxels and a mask, against Dice on a one-hot target plus ``log_softmax`` terms."""
    c = _set_path(monkeypatch, path)
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", chunk)
    x, y, mask = _case(c, seed=7, ignore=True)
    onehot, valid = _onehot_reference(x, y, mask, ignore=True)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    la = msl.get_loss(key, **LABEL, ignore_index=255)(xa, y, mask)
    lpt = torch.log_softmax(xb, 1).gather(1, torch.where(y == 255, 0, y))
    per_voxel = -lpt if key == "dice_ce" else -lpt * (-torch.expm1(lpt)) ** 2
    lb = msl.get_loss("dice", softmax=True)(xb, onehot, valid) + (per_voxel * valid).sum() / valid.sum()
    torch.testing.assert_close(la, lb, rtol=1e-10, atol=1e-12)
    la.backward()
    lb.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-9, atol=1e-12)
    assert xa.grad[0, :, :2].abs().max() == 0


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck_fused_op_every_path(path, masked, monkeypatch):
    """float64 gradcheck of the op's statistics and log-probabilities over several chunks; the log-probability
    equals ``log_softmax`` at the label (0 at invalid voxels)."""
    c = _set_path(monkeypatch, path)
    monkeypatch.setattr(stats_module, "_CHUNK_ELEMENTS", 17)
    x, y, mask = _case(c, seed=11, spatial=(4, 3))
    valid = (mask[:, 0] > 0).flatten(1) if masked else None
    op = stats_module._small_label_map_stats if path.startswith("small") else stats_module._LabelMapStats.apply

    def f(t):
        tp, psum, _, lpt = op(t.flatten(2), y.flatten(1), valid, "softmax", False, True)
        return tp, psum, lpt

    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(),))
    expected = torch.log_softmax(x, 1).flatten(2).gather(1, y.flatten(2))
    if valid is not None:
        expected = expected * valid.unsqueeze(1)
    torch.testing.assert_close(f(x)[2], expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("key", ["dice_ce", "sensitivity_specificity"])
def test_retained_graph_recomputes_the_same_probabilities(path, key, monkeypatch):
    c = _set_path(monkeypatch, path)
    x, y, _ = _case(c, seed=2, dtype=torch.float32)
    x.requires_grad_()
    loss = msl.get_loss(key, **LABEL)(x, y)
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)  # the first backward consumed the kept probabilities: recomputed
    assert torch.equal(g1, g2)


def test_binary_log_prob_exact_for_extreme_logits():
    """log σ(±z) is exact where softmax(x)_y underflows to 0 in float32; value and gradient stay finite."""
    x = torch.tensor([[[0.0, -150.0, 40.0], [0.0, 200.0, -30.0]]]).requires_grad_()
    y = torch.tensor([[[1, 0, 1]]])
    value = msl.get_loss("dice_ce", **LABEL)(x, y)
    ce = F.cross_entropy(x.detach(), y[:, 0])
    dice = msl.get_loss("dice", **LABEL)(x.detach(), y)
    assert torch.isfinite(ce) and ce > 50
    assert abs(float(value.detach()) - float(ce + dice)) < 1e-4
    value.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("c", [2, 3])
def test_float32_sums_accurate_over_a_million_voxels(c):
    """The binary and one-hot paths' float32 sums stay within 1e-6 relative of float64, counts exact."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, c, 1 << 20, generator=g)
    y = torch.randint(0, c, (1, 1, 1 << 20), generator=g)
    opts = RegionOptions(softmax=True, to_onehot_y=True)
    s32 = confusion_stats(prepare_input(x, y, opts))
    s64 = confusion_stats(prepare_input(x.double(), y, opts))
    for a, b in ((s32.tp, s64.tp), (s32.psum, s64.psum)):
        torch.testing.assert_close(a.double(), b, rtol=1e-6, atol=0)
    assert torch.equal(s32.gsum.double(), torch.bincount(y.flatten(), minlength=c).double().unsqueeze(0))


@pytest.mark.parametrize("c,used,unused,small", [(2, "_binary_forward", "_onehot_chunk_sums", 0),
                                                 (3, "_onehot_chunk_sums", "_label_chunk_sums", 0),
                                                 (9, "_label_chunk_sums", "_onehot_chunk_sums", 0),
                                                 (3, "_small_label_map_stats", "_stats_forward", 1 << 18)])
def test_each_class_count_takes_its_path(c, used, unused, small, monkeypatch):
    monkeypatch.setattr(stats_module, "_SMALL_ELEMENTS", small)
    calls = []
    real = getattr(stats_module, used)
    monkeypatch.setattr(stats_module, used, lambda *a, **k: calls.append(1) or real(*a, **k))

    def refuse(*a, **k):
        raise AssertionError(f"{unused} was not expected at C={c}")

    monkeypatch.setattr(stats_module, unused, refuse)
    x, y, _ = _case(c)
    msl.get_loss("dice", **LABEL)(x.requires_grad_(), y).backward()
    assert calls
