"""Geometry losses (issue 4): distance maps against SciPy, parity with MONAI, hand-computed values, precomputed ==
on-the-fly, empty / all-foreground targets, anisotropic spacing, blob-loss lesion weighting, transforms, LinearRamp."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor, list_data_collate
from monai.losses import BoundaryLoss, HausdorffDTLoss
from scipy import ndimage as ndi

import monai_segloss as M
from monai_segloss import functional as Fn
from monai_segloss.functional import geometry
from monai_segloss.geometry import instances
from monai_segloss.geometry.distance import resolve_spacing, signed_distance
from monai_segloss.geometry.instances import connected_components, lesion_instances
from monai_segloss.geometry.transforms import LesionInstancesd, SignedDistanceMapd

F = torch.nn.functional


def _scipy_sdt(m: np.ndarray, spacing) -> np.ndarray:
    return ndi.distance_transform_edt(~m, sampling=spacing) - ndi.distance_transform_edt(m, sampling=spacing)


def _non_trivial(rng, shape, p, n):
    out = []
    while len(out) < n:
        m = rng.random(shape) < p
        if 0 < m.sum() < m.size:
            out.append(m)
    return np.stack(out)


# ------------------------------------------------------------------------------------------------ distance maps

@pytest.mark.parametrize("shape,spacing", [((40, 33), (0.8, 3.0)), ((24, 20, 14), (0.8, 0.8, 3.0)),
                                           ((9, 7, 5), (1.3, 0.7, 2.2)), ((50,), (0.6,))])
@pytest.mark.parametrize("p", [0.03, 0.5, 0.9])  # sparse (SimpleITK + boxes), noise-like (local search), dense
def test_distance_maps_match_scipy(shape, spacing, p):
    rng = np.random.default_rng(int(100 * p) + len(shape))
    masks = _non_trivial(rng, shape, p, 3)
    ref = np.stack([_scipy_sdt(m, spacing) for m in masks])
    got = signed_distance(torch.from_numpy(masks), spacing).numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    unsigned = signed_distance(torch.from_numpy(masks), spacing, kind="unsigned").numpy()
    np.testing.assert_allclose(unsigned, np.abs(ref), rtol=0, atol=1e-4)
    level = signed_distance(torch.from_numpy(masks), spacing, kind="level_set").numpy()
    np.testing.assert_allclose(level, np.where(masks, ref + min(spacing), ref), rtol=0, atol=1e-4)


def test_distance_maps_lesions_and_complements_3d():
    """Separated blobs (several boxes), a blob touching the border, and complementary / repeated masks (reused)."""
    m = np.zeros((30, 26, 22), bool)
    m[2:6, 3:9, 4:7] = True
    m[20:29, 15:26, 10:21] = True  # touches two borders
    m[12, 12, 12] = True
    masks = np.stack([m, ~m, m, np.zeros_like(m), np.ones_like(m)])
    sp = (0.8, 0.8, 3.0)
    got = signed_distance(torch.from_numpy(masks), sp).numpy()
    ref = _scipy_sdt(m, sp)
    np.testing.assert_allclose(got[0], ref, atol=1e-4)
    np.testing.assert_allclose(got[1], -ref, atol=1e-4)
    np.testing.assert_allclose(got[2], ref, atol=1e-4)
    assert not got[3].any() and not got[4].any()  # empty and full masks: no boundary, map 0
    level = signed_distance(torch.from_numpy(masks[:2]), sp, kind="level_set").numpy()
    np.testing.assert_allclose(level[1], np.where(~m, -ref + 0.8, -ref), atol=1e-4)


def test_per_mask_spacing_and_bad_arguments():
    rng = np.random.default_rng(0)
    masks = _non_trivial(rng, (12, 10), 0.2, 2)
    sps = [(1.0, 2.0), (0.5, 0.5)]
    got = signed_distance(torch.from_numpy(masks), sps).numpy()
    for i in range(2):
        np.testing.assert_allclose(got[i], _scipy_sdt(masks[i], sps[i]), atol=1e-4)
    with pytest.raises(ValueError, match="spacing"):
        signed_distance(torch.from_numpy(masks), (1.0, -1.0))
    with pytest.raises(ValueError, match="spacing"):
        signed_distance(torch.from_numpy(masks), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="kind"):
        signed_distance(torch.from_numpy(masks), kind="squared")
    with pytest.raises(TypeError, match="masks"):
        signed_distance(masks)


def test_spacing_read_from_metatensor():
    aff = [torch.diag(torch.tensor([0.8, 0.8, 3.0, 1.0], dtype=torch.float64)),
           torch.diag(torch.tensor([2.0, 1.0, 1.0, 1.0], dtype=torch.float64))]
    batch = list_data_collate([{"l": MetaTensor(torch.zeros(1, 4, 4, 4), affine=a)} for a in aff])["l"]
    assert resolve_spacing(None, 2, 3, batch) == [(0.8, 0.8, 3.0), (2.0, 1.0, 1.0)]
    assert resolve_spacing((1.5, 1.0, 1.0), 2, 3, batch) == [(1.5, 1.0, 1.0)] * 2  # the option wins
    assert resolve_spacing(None, 2, 3, torch.zeros(2)) == [(1.0, 1.0, 1.0)] * 2
    # the loss on a MetaTensor target equals the loss with the same spacing given explicitly
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 6, 5, 4, generator=gen)
    y = torch.randint(0, 2, (2, 1, 6, 5, 4), generator=gen)
    ym = list_data_collate([{"l": MetaTensor(y[i].float(), affine=aff[i])} for i in range(2)])["l"]
    kw = {"softmax": True, "to_onehot_y": True, "reduction": "none"}
    got = M.SegBoundaryLoss(**kw)(x, ym)
    for i in range(2):
        ref = M.SegBoundaryLoss(**kw, spacing=tuple(np.diag(aff[i].numpy())[:3]))(x[i:i + 1], y[i:i + 1])
        torch.testing.assert_close(got[i:i + 1], ref)


# ------------------------------------------------------------------------------------------------ MONAI parity

def _data(dim: int, c: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    spatial = (11, 9, 7)[:dim]
    x = 2 * torch.randn(2, c, *spatial, generator=gen)
    y = torch.randint(0, c, (2, 1, *spatial), generator=gen)
    y[1, 0, :4] = 0  # a class boundary, some structure
    return x, y, F.one_hot(y[:, 0], c).movedim(-1, 1).float()


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("kw", [{"softmax": True}, {"softmax": True, "include_background": False},
                                {"sigmoid": True}])
def test_hausdorff_and_boundary_equal_monai_with_unit_spacing(dim, kw):
    x, y, onehot = _data(dim, 3)
    ours_h = M.SegHausdorffDTLoss(**kw)(x, onehot)
    monai_h = HausdorffDTLoss(**{"include_background": True, **kw})(x, onehot)
    torch.testing.assert_close(ours_h, monai_h, rtol=1e-5, atol=0)
    torch.testing.assert_close(M.SegBoundaryLoss(**kw)(x, onehot), BoundaryLoss(**kw)(x, onehot),
                               rtol=1e-5, atol=1e-7)
    # label maps give the same values as their one-hot form
    lab_kw = {**kw, "to_onehot_y": True}
    if not kw.get("sigmoid"):
        torch.testing.assert_close(M.SegHausdorffDTLoss(**lab_kw)(x, y), ours_h)


def test_spacing_differs_from_monai_as_documented():
    x, y, onehot = _data(3, 2)
    monai_h, monai_b = HausdorffDTLoss(softmax=True, include_background=True)(x, onehot), \
        BoundaryLoss(softmax=True)(x, onehot)
    # isotropic 2 mm: distances double, so α = 2 gives 4 x MONAI and the boundary loss 2 x MONAI
    torch.testing.assert_close(M.SegHausdorffDTLoss(softmax=True, spacing=2.0)(x, onehot), 4 * monai_h)
    torch.testing.assert_close(M.SegBoundaryLoss(softmax=True, spacing=2.0)(x, onehot), 2 * monai_b)
    # anisotropic: not a rescaling of MONAI, but the same formula on SciPy's mm distances
    sp = (0.8, 0.8, 3.0)
    p = torch.softmax(x, 1)
    g = onehot.bool().numpy()
    pm = (p > 0.5).numpy()
    d_g = torch.from_numpy(np.abs(np.stack([[_scipy_sdt(m, sp) for m in s] for s in g]))).float()
    d_p = torch.from_numpy(np.abs(np.stack([[_scipy_sdt(m, sp) for m in s] for s in pm]))).float()
    ref_h = ((p - onehot) ** 2 * (d_g ** 2 + d_p ** 2)).mean()
    got_h = M.SegHausdorffDTLoss(softmax=True, spacing=sp)(x, onehot)
    torch.testing.assert_close(got_h, ref_h, rtol=1e-5, atol=0)
    assert not math.isclose(got_h.item(), monai_h.item(), rel_tol=1e-2)
    phi = np.stack([[np.where(m, _scipy_sdt(m, sp) + 0.8, _scipy_sdt(m, sp)) for m in s] for s in g])
    ref_b = (p * torch.from_numpy(phi).float()).mean()
    torch.testing.assert_close(M.SegBoundaryLoss(softmax=True, spacing=sp)(x, onehot), ref_b, rtol=1e-5,
                               atol=1e-7)


# ------------------------------------------------------------------------------------------------ hand-computed

# 1D example, spacing 2 mm: target [0,0,1,1,1,0], probabilities p, no activation (C = 1)
G1 = torch.tensor([[[0.0, 0, 1, 1, 1, 0]]])
P1 = torch.tensor([[[0.3, 0.6, 0.8, 0.4, 0.9, 0.7]]])


def _bce(p, g):
    return [-(gi * math.log(pi) + (1 - gi) * math.log(1 - pi)) for pi, gi in zip(p, g, strict=True)]


def test_hausdorff_hand_computed():
    # target: d_g = [4,2,2,4,2,2] mm; prediction p > 0.5 = [0,1,1,0,1,1]: d_p = [2,2,2,2,2,4] mm
    p, g = P1[0, 0].tolist(), G1[0, 0].tolist()
    w = [4**2 + 2**2, 2**2 + 2**2, 2**2 + 2**2, 4**2 + 2**2, 2**2 + 2**2, 2**2 + 4**2]  # d_g² + d_p²
    expected = sum((pi - gi) ** 2 * wi for pi, gi, wi in zip(p, g, w, strict=True)) / 6
    got = Fn.hausdorff_dt_loss(P1, G1, spacing=2.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    d_g, d_p = [4, 2, 2, 4, 2, 2], [2, 2, 2, 2, 2, 4]
    expected_a1 = sum((pi - gi) ** 2 * (a + b) for pi, gi, a, b in zip(p, g, d_g, d_p, strict=True)) / 6
    assert M.SegHausdorffDTLoss(spacing=(2.0,), alpha=1.0)(P1, G1).item() == pytest.approx(expected_a1, rel=1e-6)


def test_boundary_hand_computed():
    # φ (δ = 2 mm): outside distances [4, 2, ., ., ., 2]; inside -(d - 2): d = [2, 4, 2] -> [0, -2, 0]
    phi = [4.0, 2.0, 0.0, -2.0, 0.0, 2.0]
    expected = sum(pi * f for pi, f in zip(P1[0, 0].tolist(), phi, strict=True)) / 6
    assert Fn.boundary_loss(P1, G1, spacing=2.0).item() == pytest.approx(expected, rel=1e-6)
    none = M.SegBoundaryLoss(spacing=2.0, reduction="none")(P1, G1)
    torch.testing.assert_close(none, P1 * torch.tensor(phi))


def test_shape_aware_hand_computed():
    # predicted contour (p > 0.5 = [0,1,1,0,1,1], voxels with a face neighbour outside): {1, 2, 4};
    # |φ_g| there = [2, 0, 0] -> E = 2/3 mm
    ce = _bce(P1[0, 0].tolist(), G1[0, 0].tolist())
    expected = (1 + 2 / 3) * sum(ce) / 6
    assert Fn.shape_aware_loss(P1, G1, spacing=2.0).item() == pytest.approx(expected, rel=1e-6)
    # a prediction whose contour lies on the target's innermost layer: E = 0, plain BCE
    p2 = torch.tensor([[[0.3, 0.1, 0.8, 0.6, 0.9, 0.2]]])
    assert Fn.shape_aware_loss(p2, G1, spacing=2.0).item() == pytest.approx(
        sum(_bce(p2[0, 0].tolist(), G1[0, 0].tolist())) / 6, rel=1e-6)


def test_distance_penalized_ce_hand_computed():
    # φ = [4, 2, 0, -2, 0, 2], δ = 2: depth d = φ - δ outside (voxels 0, 1, 5), |φ| inside (2-4) = [2, 0, 0, 2, 0, 0];
    # the largest depth is 2 on both sides: Φ = 1 - d / 2 = [0, 1, 1, 0, 1, 1]
    phi_w = [0, 1, 1, 0, 1, 1]
    ce = _bce(P1[0, 0].tolist(), G1[0, 0].tolist())
    for lam in (1.0, 3.0):
        expected = sum((1 + lam * w) * c for w, c in zip(phi_w, ce, strict=True)) / 6
        got = Fn.distance_penalized_ce_loss(P1, G1, spacing=2.0, penalty=lam)
        assert got.item() == pytest.approx(expected, rel=1e-6)


def test_distance_penalized_ce_weights_span_one_to_two_inside_and_outside():
    """The audit's case: a 5x5 object in a 16x16 image. With Φ normalised by one maximum over the whole map (which
    lies in the background), the object's interior weighed between 1.7 and 2; Φ is normalised on each side of the
    boundary, so the weights run from 1 + λ at the boundary to 1 at the deepest voxel, inside and outside."""
    g = torch.zeros(1, 1, 16, 16)
    g[..., 2:7, 2:7] = 1.0
    x = torch.full_like(g, 0.3)
    ce = Fn.distance_penalized_ce_loss(x, g, sigmoid=True, penalty=0.0, reduction="none")
    for lam in (1.0, 2.5):
        w = Fn.distance_penalized_ce_loss(x, g, sigmoid=True, penalty=lam, reduction="none") / ce
        inside, outside = w[g > 0.5], w[g < 0.5]
        assert float(inside.max()) == pytest.approx(1 + lam) and float(inside.min()) == pytest.approx(1.0)
        assert float(outside.max()) == pytest.approx(1 + lam) and float(outside.min()) == pytest.approx(1.0)
        assert float(w[0, 0, 4, 4]) == pytest.approx(1.0)  # the centre, 2 voxels deep
        assert float(w[0, 0, 3, 4]) == pytest.approx(1 + lam / 2)  # 1 voxel deep: half way


def _ssl_reference(p, g, k, beta, c4):
    """The structural similarity loss of one 1D channel, written out with plain Python."""
    n, r = len(p), k // 2

    def stats(x, i):
        w = [x[j] for j in range(max(0, i - r), min(n, i + r + 1))]
        mu = sum(w) / len(w)
        return mu, math.sqrt(max(sum(v * v for v in w) / len(w) - mu * mu, 0) + 1e-12)

    e = []
    for i in range(n):
        mg, sg = stats(g, i)
        mp, sp = stats(p, i)
        e.append(abs((g[i] - mg) / (sg + c4) - (p[i] - mp) / (sp + c4)))
    sel = [ei > beta * max(e) for ei in e]
    ce = _bce(p, g)
    return sum(ei * c for ei, c, s in zip(e, ce, sel, strict=True) if s) / sum(sel)


def test_structural_similarity_hand_computed():
    p, g = P1[0, 0].tolist(), G1[0, 0].tolist()
    for k, beta in ((3, 0.1), (5, 0.5)):
        expected = _ssl_reference(p, g, k, beta, 0.01)
        got = Fn.structural_similarity_loss(P1, G1, kernel_size=k, beta=beta)
        assert got.item() == pytest.approx(expected, rel=1e-5)


def _dice_loss(p, g, keep, s=1e-5):
    tp = sum(pi * gi for pi, gi, k in zip(p, g, keep, strict=True) if k)
    ps = sum(pi for pi, k in zip(p, keep, strict=True) if k)
    gs = sum(gi for gi, k in zip(g, keep, strict=True) if k)
    return 1 - (2 * tp + s) / (ps + gs + s)


def test_blob_hand_computed():
    # two lesions {0, 1} and {5}; each is scored with the other masked out
    g = [1.0, 1, 0, 0, 0, 1, 0, 0]
    p = [0.9, 0.6, 0.2, 0.1, 0.3, 0.4, 0.2, 0.1]
    x, y = torch.tensor([[p]]), torch.tensor([[g]])
    glob = _dice_loss(p, g, [1] * 8)
    lesion_a = _dice_loss(p, g, [1, 1, 1, 1, 1, 0, 1, 1])
    lesion_b = _dice_loss(p, g, [0, 0, 1, 1, 1, 1, 1, 1])
    expected = 2 * glob + (lesion_a + lesion_b) / 2
    assert Fn.blob_loss(x, y).item() == pytest.approx(expected, rel=1e-6)
    got = Fn.blob_loss(x, y, global_weight=0.5, lesion_weight=3.0)
    assert got.item() == pytest.approx(0.5 * glob + 3.0 * (lesion_a + lesion_b) / 2, rel=1e-6)


# ------------------------------------------------------------------------------------------------ blob properties

def test_blob_weights_small_and_large_lesions_equally():
    s = 24
    y = torch.zeros(1, 1, s, s, s)
    y[0, 0, 2:14, 2:14, 2:14] = 1  # large lesion: 1728 voxels
    y[0, 0, 20:22, 20:22, 20:22] = 1  # small lesion: 8 voxels
    big = y.clone()
    big[0, 0, 20:22, 20:22, 20:22] = 0
    small = y - big
    miss_small, miss_big = big.clone(), small.clone()  # perfect on one lesion, nothing on the other
    lesion_only = M.BlobLoss(global_weight=0.0, lesion_weight=1.0)
    a, b = lesion_only(miss_small, y).item(), lesion_only(miss_big, y).item()
    assert a == pytest.approx(0.5, abs=1e-4) and b == pytest.approx(0.5, abs=1e-4)  # one lesion lost of two
    d_small, d_big = Fn.dice_loss(miss_small, y).item(), Fn.dice_loss(miss_big, y).item()
    assert d_small < 0.01 and d_big > 0.99  # the global Dice all but ignores the small lesion


def test_blob_sample_without_lesion_falls_back_to_global():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1, 8, 8, generator=gen)
    y = torch.zeros(2, 1, 8, 8)
    y[0, 0, 1:3, 1:3] = 1
    y[0, 0, 5:7, 4:8] = 1
    per_sample = M.BlobLoss(sigmoid=True, reduction="none")(x, y)
    glob = Fn.dice_loss(x, y, sigmoid=True, reduction="none")
    torch.testing.assert_close(per_sample[1], 3 * glob[1])  # (α + β) x the global term
    assert not torch.allclose(per_sample[0], 3 * glob[0])


def test_blob_options_are_validated():
    with pytest.raises(ValueError, match="region"):
        M.BlobLoss(region="bce_does_not_exist")
    with pytest.raises(ValueError, match="region"):
        M.BlobLoss(region="hausdorff_dt")  # not a region loss
    with pytest.raises(ValueError, match="region_kwargs"):
        M.BlobLoss(region_kwargs={"sigmoid": True})
    with pytest.raises(ValueError, match="unexpected"):
        M.BlobLoss(region="tversky", region_kwargs={"gamma": 2.0})
    with pytest.raises(TypeError, match="instances"):
        M.BlobLoss()(torch.rand(1, 1, 4, 4), torch.ones(1, 1, 4, 4), instances=torch.ones(1, 1, 4, 4))


# ------------------------------------------------------------------------------------------------ blob: lesion sums

# the fast path (per-segment sums, geometry._lesion_sums_fast) against the generic one (one masked inner call per
# lesion): every inner loss it serves, with options that reach the empty policy and the smoothing
_FAST_INNER = [
    ("dice", {}),
    ("dice", {"smooth_nr": 0.0, "empty": "skip", "jaccard": True}),
    ("jaccard", {"smooth_dr": 1e-3, "empty": "fp"}),
    ("tversky", {"alpha": 0.3, "beta": 0.7, "smooth_nr": 0.0, "empty": "skip"}),
    ("focal_tversky", {"alpha": 0.6, "beta": 0.4, "gamma": 2.0, "empty": "fp"}),
    ("log_cosh_dice", {"smooth_nr": 0.0, "smooth_dr": 0.0}),  # unsmoothed: an empty lesion scores 0 or 1
]
# (spatial dims, target kind, validity, instances): "binary" sigmoid C = 1, "label" / "onehot" softmax C = 3 (label
# map or one-hot), "soft" sigmoid C = 2 with a soft target that requires a gradient; "disagree": precomputed
# instances that differ from the target in a few voxels (a lesion voxel in the background, a lesion on an empty
# class, a negative id), "sparse": precomputed ids x 1000 (renumbered)
_BLOB_SCENARIOS = [
    (2, "binary", None, "computed"),
    (2, "label", "ignore", "disagree"),
    (2, "onehot", "mask", "precomputed"),
    (2, "label", None, "sparse"),
    (3, "binary", "mask", "disagree"),
    (3, "label", "mask", "computed"),
    (3, "onehot", None, "disagree"),
    (3, "label", "ignore", "sparse"),
    (3, "soft", "mask", "computed"),
]


def _blob_case(dims, kind, validity, instances, dtype=torch.float64, seed=0):
    """Logits, target, loss options and maps: three samples with 3, 1 and 0 boxes per foreground class."""
    gen = torch.Generator().manual_seed(seed)
    spatial = (14, 12) if dims == 2 else (9, 8, 7)
    c = {"binary": 1, "label": 3, "onehot": 3, "soft": 2}[kind]
    # (label, channel) of each foreground class
    classes = {"binary": [(1, 0)], "soft": [(1, 0), (1, 1)]}.get(kind, [(1, 1), (2, 2)])
    labels = torch.zeros(3, *spatial, dtype=torch.long)
    onehot = torch.zeros(3, c, *spatial, dtype=dtype)
    for b, boxes in ((0, 3), (1, 1)):
        for label, channel in classes:
            for _ in range(boxes):
                lo = [int(torch.randint(0, n - 3, (1,), generator=gen)) for n in spatial]
                size = [int(torch.randint(1, 4, (1,), generator=gen)) for _ in spatial]
                box = tuple(slice(a, a + s) for a, s in zip(lo, size, strict=True))
                labels[(b, *box)] = label
                onehot[(b, channel, *box)] = 1
    if kind == "label" or kind == "onehot":
        onehot = F.one_hot(labels, c).movedim(-1, 1).to(dtype)
    x = torch.randn(3, c, *spatial, generator=gen, dtype=dtype)
    opts: dict = {"sigmoid": True} if kind in ("binary", "soft") else {"softmax": True}
    if kind == "label":
        target = labels.unsqueeze(1).clone()
        opts["to_onehot_y"] = True
    elif kind == "soft":  # soft values on both sides of 0.5, the lesions where they exceed it
        noise = torch.rand(onehot.shape, generator=gen, dtype=dtype)
        target = (onehot * (0.55 + 0.45 * noise) + (1 - onehot) * 0.45 * noise).requires_grad_()
    else:
        target = onehot
    mask = None
    if validity == "mask":
        mask = (torch.rand(3, 1, *spatial, generator=gen) > 0.2).to(dtype)
    elif validity == "ignore":
        opts["ignore_index"] = 255
        target[torch.rand(target.shape, generator=gen) < 0.1] = 255
    maps = {}
    if instances != "computed":
        inst = lesion_instances(onehot.flatten(0, 1) > 0.5).view(onehot.shape).long()
        if instances == "disagree":
            hit = (inst[0, -1] > 0).nonzero()[0]
            inst[(0, -1, *hit)] = 0  # a target voxel of a lesion counted in the background
            inst[(2, -1, *([1] * dims))] = 7  # a lesion on a class without target voxel: an empty lesion
            inst[(2, -1, *([2] * dims))] = 7
            inst[(1, 0, *([0] * dims))] = -3  # counts in no lesion
        elif instances == "sparse":
            inst = inst * 1000
            inst[(0, 0, *([0] * dims))] = -1
        maps["instances"] = inst
    return x, target, mask, opts, maps


def _blob_run(monkeypatch, fast, x, target, mask, kwargs, maps):
    monkeypatch.setattr(geometry, "_FAST_LESIONS", fast)
    x = x.detach().clone().requires_grad_()
    t = target.detach().clone().requires_grad_() if target.requires_grad else target
    value = Fn.blob_loss(x, t, mask, **kwargs, **maps)
    (value * torch.arange(1, value.numel() + 1, dtype=value.dtype).view(value.shape)).sum().backward()
    return value.detach(), x.grad, None if t.grad is None else t.grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("region,region_kwargs", _FAST_INNER)
@pytest.mark.parametrize("dims,kind,validity,instances", _BLOB_SCENARIOS)
def test_blob_lesion_sums_match_the_generic_path(monkeypatch, dims, kind, validity, instances, region,
                                                 region_kwargs, reduction):
    """Per-segment sums (the fast path) give the values and gradients of one masked inner call per lesion."""
    x, target, mask, opts, maps = _blob_case(dims, kind, validity, instances)
    kwargs = {**opts, "region": region, "region_kwargs": region_kwargs, "reduction": reduction,
              "global_weight": 0.5, "lesion_weight": 3.0}
    calls = []
    fast_fn = geometry._lesion_sums_fast
    monkeypatch.setattr(geometry, "_lesion_sums_fast", lambda *a: calls.append(1) or fast_fn(*a))
    ref = _blob_run(monkeypatch, False, x, target, mask, kwargs, maps)
    assert not calls
    got = _blob_run(monkeypatch, True, x, target, mask, kwargs, maps)
    assert calls, "the fast path was not taken"
    for a, b in zip(got, ref, strict=True):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert torch.isfinite(got[1]).all()


@pytest.mark.parametrize("dims,kind,validity,instances", [(3, "label", "mask", "computed"),
                                                           (2, "onehot", None, "disagree")])
def test_blob_lesion_sums_float32(monkeypatch, dims, kind, validity, instances):
    x, target, mask, opts, maps = _blob_case(dims, kind, validity, instances, dtype=torch.float32, seed=5)
    kwargs = {**opts, "region": "tversky", "region_kwargs": {"alpha": 0.3, "beta": 0.7}, "reduction": "none"}
    ref = _blob_run(monkeypatch, False, x, target, mask, kwargs, maps)
    got = _blob_run(monkeypatch, True, x, target, mask, kwargs, maps)
    torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dims,kind,validity,instances", [(3, "soft", "mask", "disagree"),
                                                           (2, "label", "ignore", "sparse")])
def test_blob_lesion_sums_in_several_passes(monkeypatch, dims, kind, validity, instances):
    """Rows taken two at a time (odd row counts: a short last pass) give the one-pass values and gradients."""
    x, target, mask, opts, maps = _blob_case(dims, kind, validity, instances)
    kwargs = {**opts, "region": "focal_tversky", "region_kwargs": {"empty": "fp"}, "reduction": "none"}
    one = _blob_run(monkeypatch, True, x, target, mask, kwargs, maps)
    monkeypatch.setattr(geometry, "_SEGMENT_CHUNK", 2 * x[0, 0].numel())
    several = _blob_run(monkeypatch, True, x, target, mask, kwargs, maps)
    for a, b in zip(several, one, strict=True):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_blob_lesion_sums_without_gradient():
    x, target, mask, opts, maps = _blob_case(2, "label", "ignore", "disagree")
    loss = M.BlobLoss(**opts, region="tversky")
    expected = loss(x, target, mask, **maps)
    with torch.no_grad():
        torch.testing.assert_close(loss(x, target, mask, **maps), expected)
    with torch.inference_mode():
        torch.testing.assert_close(loss(x, target, mask, **maps), expected)


def test_blob_without_any_lesion_is_the_weighted_global_term(monkeypatch):
    x = torch.randn(2, 1, 6, 5, dtype=torch.float64)
    y = torch.zeros(2, 1, 6, 5, dtype=torch.float64)
    glob = Fn.dice_loss(x, y, sigmoid=True, reduction="none")
    for fast in (True, False):
        monkeypatch.setattr(geometry, "_FAST_LESIONS", fast)
        torch.testing.assert_close(Fn.blob_loss(x, y, sigmoid=True, reduction="none"), 3 * glob)


def _blob_reference(x, onehot, inst, region, region_kwargs):
    """The blob loss by its definition, softmax over C, mean over the (sample, class) units: every lesion scored by
    the inner loss with every other lesion of its class masked out."""
    p = torch.softmax(x, 1)
    fn = getattr(Fn, f"{region}_loss")
    glob = fn(p, onehot, reduction="none", **region_kwargs)
    total = []
    for b in range(p.shape[0]):
        for k in range(p.shape[1]):
            lab = inst[b, k]
            losses = [fn(p[b:b + 1, k:k + 1], onehot[b:b + 1, k:k + 1], ((lab == 0) | (lab == i))[None, None],
                         reduction="none", **region_kwargs)[0, 0] for i in lab.unique().tolist() if i > 0]
            lesion = sum(losses) / len(losses) if losses else glob[b, k]
            total.append(2 * glob[b, k] + lesion)
    return torch.stack(total).mean()


def test_blob_refuses_an_inner_loss_without_class_units():
    # generalized Dice scores a sample across its classes: there is no value of it per lesion of one class
    with pytest.raises(ValueError, match="region"):
        M.BlobLoss(region="generalized_dice")
    with pytest.raises(ValueError, match="region"):
        Fn.blob_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4), softmax=True, to_onehot_y=True,
                     region="generalized_dice")


@pytest.mark.parametrize("region,region_kwargs", [
    ("dice", {"soft_label": True}), ("dice", {"squared_pred": True}), ("mcc", {}),
    ("sensitivity_specificity", {"r": 0.2})])
def test_blob_generic_path_for_the_other_inner_losses(monkeypatch, region, region_kwargs):
    """An inner loss not scored from Σp·g, Σp, Σg alone (or with soft_label, squared_pred) keeps one masked call
    per lesion, by definition."""
    assert M.BlobLoss(region=region, region_kwargs=region_kwargs).options.lesion_score() is None

    def refuse(*a):
        raise AssertionError("the segment sums do not apply to this inner loss")

    monkeypatch.setattr(geometry, "_lesion_sums_fast", refuse)
    x, target, _, opts, maps = _blob_case(2, "onehot", None, "disagree")
    x = x.requires_grad_()
    got = Fn.blob_loss(x, target, region=region, region_kwargs=region_kwargs, **opts, **maps)
    ref = _blob_reference(x, target, maps["instances"], region, region_kwargs)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)
    (g_got,) = torch.autograd.grad(got, x)
    (g_ref,) = torch.autograd.grad(ref, x)
    torch.testing.assert_close(g_got, g_ref, rtol=1e-10, atol=1e-14)


def test_blob_lesion_score_is_resolved_for_the_fast_inner_losses():
    for region, kw in _FAST_INNER:
        assert M.BlobLoss(region=region, region_kwargs=kw).options.lesion_score() is not None


# ------------------------------------------------------------------------------------------------ edge cases

@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_empty_and_all_foreground_targets(fill):
    """No boundary in the target: its maps are 0. Boundary loss 0 (with zero gradient); Hausdorff scores the
    prediction's own boundary only; the CE losses are plain cross-entropy."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 6, 5, 4, generator=gen, requires_grad=True)
    y = torch.full((2, 1, 6, 5, 4), fill)
    b = M.SegBoundaryLoss(sigmoid=True)(x, y)
    b.backward()
    assert b.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x.grad))
    p = torch.sigmoid(x.detach())
    d_p = signed_distance((p > 0.5)[:, 0], kind="unsigned").unsqueeze(1)
    torch.testing.assert_close(M.SegHausdorffDTLoss(sigmoid=True)(x, y), ((p - y) ** 2 * d_p ** 2).mean())
    bce = F.binary_cross_entropy_with_logits(x, y)
    torch.testing.assert_close(M.DistancePenalizedCELoss(sigmoid=True)(x, y), bce)
    # perfect prediction of an empty / full target: every distance loss is 0
    perfect = 60 * (2 * y - 1)
    for key in ("hausdorff_dt", "boundary", "distance_penalized_ce", "shape_aware"):
        assert M.get_loss(key, sigmoid=True)(perfect, y).abs().item() < 1e-6


def test_boundary_minimum_is_the_perfect_prediction():
    _, y, onehot = _data(3, 3, seed=5)
    loss = M.SegBoundaryLoss(to_onehot_y=True)
    best = loss(onehot, y)
    phi = signed_distance(onehot.flatten(0, 1).bool(), kind="level_set").view(onehot.shape)
    torch.testing.assert_close(best, phi.clamp_max(0).mean())  # p = [φ < 0] minimises mean(p·φ) over [0, 1]
    assert best < 0
    for seed in range(3):
        p = torch.softmax(torch.randn(onehot.shape, generator=torch.Generator().manual_seed(seed)), 1)
        assert loss(p, y) > best


@pytest.mark.parametrize("kw", [{}, {"include_background": False}, {"weight": [0.5, 2.0, 1.0]},
                                {"exclude_channels": (1,), "weight": [3.0, 2.0]}, {"reduction": "sum"}])
@pytest.mark.parametrize("masked", [False, True])
def test_boundary_fused_softmax_dot_equals_plain_autograd(kw, masked):
    """Under softmax the boundary loss takes Σ softmax(x)·φ in one fused op with a closed-form backward: value and
    gradient equal autograd through torch.softmax, with dropped channels, class weights, a mask and a non-contiguous
    (channels-last) input."""
    gen = torch.Generator().manual_seed(3)
    x_ = torch.randn(2, 6, 5, 4, 3, generator=gen).movedim(-1, 1).requires_grad_(True)  # channels-last strides
    assert not x_.is_contiguous()
    phi = torch.randn(2, 3, 6, 5, 4, generator=gen)
    y = torch.softmax(torch.randn(2, 3, 6, 5, 4, generator=gen), 1)
    mask = (torch.rand(2, 1, 6, 5, 4, generator=gen) > 0.3).float() if masked else None
    loss = M.SegBoundaryLoss(softmax=True, **kw)(x_, y, mask=mask, distance=phi)
    if kw.get("reduction") == "sum":  # the fused op itself, not the plain product
        assert type(loss.grad_fn).__name__ == "_SoftmaxDotBackward"
    (gx,) = torch.autograd.grad(loss, x_)
    kept = [c for c in range(3) if not (c == 0 and kw.get("include_background") is False)
            and c not in kw.get("exclude_channels", ())]
    w = torch.tensor(kw.get("weight", [1.0] * len(kept)))
    v = torch.ones(2, 1, 6, 5, 4) if mask is None else mask
    xr = x_.detach().contiguous().requires_grad_(True)
    terms = torch.softmax(xr, 1)[:, kept] * phi[:, kept] * w.view(1, -1, 1, 1, 1) * v
    expected = terms.sum() if kw.get("reduction") == "sum" else terms.sum() / (v.sum() * len(kept))
    (g_expected,) = torch.autograd.grad(expected, xr)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(gx, g_expected)
    # float64 gradcheck of the fused op itself
    x64 = torch.randn(1, 3, 4, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    phi64 = torch.randn(1, 3, 4, 3, dtype=torch.float64, generator=gen)
    assert torch.autograd.gradcheck(lambda t: M.SegBoundaryLoss(softmax=True, **kw)(
        t, torch.softmax(phi64, 1), distance=phi64), (x64,))


def test_boundary_after_another_term_shares_the_softmax():
    """In a compound loss the boundary term reuses the probabilities the region term made (no fused op)."""
    x, y, onehot = _data(3, 3, seed=2)
    compound = M.CompoundLoss(["dice", {"loss": "boundary", "weight": 0.5}],
                              shared={"softmax": True, "to_onehot_y": True})
    expected = M.get_loss("dice", softmax=True, to_onehot_y=True)(x, y) \
        + 0.5 * M.get_loss("boundary", softmax=True, to_onehot_y=True)(x, y)
    torch.testing.assert_close(compound(x, y), expected)


def test_anisotropic_precomputed_equals_on_the_fly_for_every_loss():
    """Transforms on MetaTensor labels with 0.8 x 0.8 x 3 mm voxels, collated to a batch, give the on-the-fly
    values (spacing read from the MetaTensor in both paths)."""
    gen = torch.Generator().manual_seed(7)
    aff = torch.diag(torch.tensor([0.8, 0.8, 3.0, 1.0], dtype=torch.float64))
    labels = torch.randint(0, 3, (2, 1, 10, 9, 6), generator=gen)
    labels[0, 0, :, :5] = 0
    sdm = SignedDistanceMapd(keys="label", num_classes=3)
    inst = LesionInstancesd(keys="label", num_classes=3)
    batch = list_data_collate([inst(sdm({"label": MetaTensor(lab, affine=aff)})) for lab in labels])
    x = torch.randn(2, 3, 10, 9, 6, generator=gen)
    kw = {"softmax": True, "to_onehot_y": True}
    for key in ("hausdorff_dt", "boundary", "shape_aware", "distance_penalized_ce"):
        loss = M.get_loss(key, **kw)
        on_the_fly = loss(x, batch["label"])
        torch.testing.assert_close(loss(x, batch["label"], distance=batch["label_dist"]), on_the_fly)
        plain = M.get_loss(key, **kw, spacing=(0.8, 0.8, 3.0))  # plain tensors, explicit spacing
        torch.testing.assert_close(plain(x, labels, distance=batch["label_dist"].as_tensor()), on_the_fly)
        # kept channels only
        nobg = M.get_loss(key, **kw, include_background=False)
        torch.testing.assert_close(nobg(x, batch["label"], distance=batch["label_dist"][:, 1:]),
                                   nobg(x, batch["label"]))
    blob = M.BlobLoss(**kw)
    torch.testing.assert_close(blob(x, labels, instances=batch["label_instances"]), blob(x, labels))


def test_precomputed_maps_are_validated():
    x, y, onehot = _data(2, 3)
    loss = M.SegBoundaryLoss(softmax=True)
    with pytest.raises(ValueError, match="distance"):
        loss(x, onehot, distance=torch.zeros(2, 2, 5, 5))
    with pytest.raises(TypeError, match="distance"):
        loss(x, onehot, distance=torch.zeros(onehot.shape, dtype=torch.long))
    with pytest.raises(ValueError, match="spacing"):
        M.SegBoundaryLoss(spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="spacing"):
        M.SegBoundaryLoss(softmax=True, spacing=(1.0, 1.0, 1.0))(x, onehot)  # 2D input
    with pytest.raises(ValueError, match="kernel_size"):
        M.StructuralSimilarityLoss(kernel_size=4)


def test_reduction_none_shapes_and_masked_voxels():
    x, y, onehot = _data(3, 3)
    mask = torch.ones(2, 1, *x.shape[2:])
    mask[:, :, :3] = 0
    kw = dict(softmax=True, to_onehot_y=True, include_background=False)
    for key in ("boundary", "shape_aware", "distance_penalized_ce", "structural_similarity"):
        out = M.get_loss(key, reduction="none", **kw)(x, y, mask=mask)
        assert out.shape == (2, 2, *x.shape[2:])
        assert torch.equal(out[:, :, :3], torch.zeros_like(out[:, :, :3]))
    assert M.BlobLoss(softmax=True, to_onehot_y=True, reduction="none")(x, y).shape == (2, 3)
    # the Hausdorff loss is per unit, as MONAI's: the mean voxel term over each unit's valid voxels
    voxels = M.SegHausdorffDTLoss(**kw, reduction="sum")(x, y, mask=mask)  # Σ over units of the unit means
    units = M.SegHausdorffDTLoss(**kw, reduction="none")(x, y, mask=mask)
    assert units.shape == (2, 2)
    torch.testing.assert_close(units.sum(), voxels)
    torch.testing.assert_close(M.SegHausdorffDTLoss(**kw)(x, y, mask=mask), units.mean())
    per_class = M.SegHausdorffDTLoss(**kw, reduction="none", batch=True)(x, y, mask=mask)
    assert per_class.shape == (2,)
    torch.testing.assert_close(per_class, units.mean(0))  # the same number of valid voxels in every sample


# ------------------------------------------------------------------------------------------------ transforms

def test_lesion_instances_connectivity():
    m = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    m[0, 0, 0, 0] = m[0, 1, 1, 1] = True  # corner contact: one lesion with 26-connectivity
    m[0, 3, 3, 3] = True
    assert lesion_instances(m).max().item() == 2
    assert lesion_instances(m, fully_connected=False).max().item() == 3
    out = LesionInstancesd(keys="y", fully_connected=True)({"y": m.float()})["y_instances"]
    assert out.dtype == torch.int32 and out.shape == (1, 4, 4, 4) and out.max().item() == 2


@pytest.mark.parametrize("backend", ["scipy", "sitk"])
def test_connected_components_by_hand(backend, monkeypatch):
    """Raster-order labels, full vs face connectivity, in 1D/2D/3D, with either backend (the size switch forced)."""
    monkeypatch.setattr(instances, "_SITK_FROM_VOXELS", 0 if backend == "sitk" else 1 << 30)
    m = np.array([[1, 0, 0, 1],
                  [0, 1, 0, 1],
                  [0, 0, 0, 0],
                  [1, 1, 0, 1]], dtype=bool)
    labels, n = connected_components(m)
    assert n == 4 and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [[1, 0, 0, 2], [0, 1, 0, 2], [0, 0, 0, 0], [3, 3, 0, 4]])
    labels, n = connected_components(m, full_connectivity=False)  # (0,0) and (1,1) touch by a corner only
    assert n == 5
    np.testing.assert_array_equal(labels, [[1, 0, 0, 2], [0, 3, 0, 2], [0, 0, 0, 0], [4, 4, 0, 5]])
    cube = np.zeros((4, 4, 4), bool)
    cube[0, 0, 0] = cube[1, 1, 1] = cube[3, 3, 3] = True
    assert connected_components(cube)[1] == 2 and connected_components(cube, False)[1] == 3
    assert connected_components(np.array([1, 1, 0, 1], bool))[1] == 2
    empty, n = connected_components(np.zeros((3, 4), bool))
    assert n == 0 and empty.dtype == np.int32 and not empty.any()


def test_connected_components_backends_agree():
    """SciPy (small arrays) and SimpleITK (large ones) give the same labels on random masks."""
    rng = np.random.default_rng(0)
    for shape, full in (((70, 64, 60), True), ((70, 64, 60), False), ((600, 500), True)):
        m = rng.random(shape) < 0.1
        assert m.size >= instances._SITK_FROM_VOXELS
        labels, n = connected_components(m, full)
        structure = ndi.generate_binary_structure(m.ndim, m.ndim if full else 1)
        ref, n_ref = ndi.label(m, structure=structure)
        assert n == n_ref > 100
        np.testing.assert_array_equal(labels, ref)


def test_signed_distance_transform_outputs():
    lab = torch.zeros(1, 7, 6, dtype=torch.long)
    lab[0, 2:4, 1:3] = 2
    d = SignedDistanceMapd(keys="label", num_classes=3, spacing=(0.5, 2.0))({"label": lab})["label_dist"]
    assert d.shape == (3, 7, 6)
    assert not d[1].any()  # absent class
    m = (lab[0] == 2).numpy()
    np.testing.assert_allclose(d[2].numpy(), np.where(m, _scipy_sdt(m, (0.5, 2.0)) + 0.5, _scipy_sdt(m, (0.5, 2.0))),
                               atol=1e-4)
    with pytest.raises(ValueError, match="label values"):
        SignedDistanceMapd(keys="label", num_classes=2)({"label": lab})
    with pytest.raises(ValueError, match="num_classes"):
        SignedDistanceMapd(keys="label", num_classes=0)


# ------------------------------------------------------------------------------------------------ schedule

def test_linear_ramp():
    r = M.LinearRamp(start=0.0, end=1.0, length=10, delay=5)
    assert [r(s) for s in (0, 5, 10, 15, 100)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert M.LinearRamp(0.2, 0.8, length=0, delay=3)(3) == 0.8
    region, boundary = M.LinearRamp.kervadec()
    assert region(0) == 1.0 and boundary(0) == 0.0
    assert region(99) == pytest.approx(0.01) and region(500) == pytest.approx(0.01)
    assert all(region(s) + boundary(s) == pytest.approx(1.0) for s in range(0, 120, 7))
    with pytest.raises(ValueError, match="length"):
        M.LinearRamp(length=-1)
    with pytest.raises(TypeError, match="step"):
        r("3")


class _MapsDataset(torch.utils.data.Dataset):
    def __init__(self, masks):
        self.masks = masks

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return signed_distance(self.masks)


def test_distance_maps_in_a_forked_worker_after_the_pool_started():
    """DataLoader workers are forked after the loss ran in the parent: the thread pool must not be inherited."""
    masks = torch.zeros(2, 48, 48, 32, dtype=torch.bool)
    masks[0, 5:9, 5:9, 5:9] = True
    masks[1, 20:30, 3:8, 9:20] = True
    ref = signed_distance(masks)  # starts the pool (large enough to run in parallel)
    loader = torch.utils.data.DataLoader(_MapsDataset(masks), batch_size=None, num_workers=1,
                                         multiprocessing_context="fork", timeout=60)
    (got,) = list(loader)
    torch.testing.assert_close(got, ref)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 14), min_size=1, max_size=3),
       spacing=st.lists(st.floats(0.3, 4.0), min_size=3, max_size=3),
       p=st.floats(0.02, 0.98), seed=st.integers(0, 2**16))
def test_distance_maps_match_scipy_property(shape, spacing, p, seed):
    sp = tuple(spacing[: len(shape)])
    m = np.random.default_rng(seed).random(shape) < p
    got = signed_distance(torch.from_numpy(m[None]), sp).numpy()[0]
    ref = _scipy_sdt(m, sp) if 0 < m.sum() < m.size else np.zeros(m.shape)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
