"""Lesion-wise metrics on hand-made volumes with known answers, and parity with MONAI / scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from monai.data import MetaTensor
from monai.metrics import compute_hausdorff_distance

from monai_segloss import LesionWiseMetric, lesion_wise_stats


def _cube(shape, lo, size):
    m = np.zeros(shape, dtype=bool)
    m[tuple(slice(a, a + size) for a in lo)] = True
    return m


def _three_lesion_case():
    """Target: lesion A (3³ cube), B (single voxel), C (2³ cube). Prediction: two separate voxels of A (a split), all
    of C, and false-positive components D (2 voxels) and E (1 voxel). B is missed. Every count differs from the one
    it could be swapped with: 3 lesions, 2 detected, 5 components, 3 true-positive components, 2 FP, 1 FN."""
    shape = (20, 20, 20)
    target = _cube(shape, (2, 2, 2), 3) | _cube(shape, (10, 10, 10), 1) | _cube(shape, (15, 15, 15), 2)
    pred = _cube(shape, (2, 2, 2), 1) | _cube(shape, (4, 4, 4), 1) | _cube(shape, (15, 15, 15), 2)
    pred[2, 15, 5:7] = True  # D
    pred[18, 2, 2] = True  # E
    return pred, target


def test_counts_and_f1_known_case():
    pred, target = _three_lesion_case()
    s = lesion_wise_stats(pred, target)
    assert (s.n_target, s.n_detected, s.n_pred, s.n_pred_tp) == (3, 2, 5, 3)
    assert s.sensitivity == pytest.approx(2 / 3)
    assert s.precision == pytest.approx(3 / 5)
    # F1 = 2·TP / (2·TP + FP + FN) = 4 / (4 + 2 + 1)
    assert s.f1 == pytest.approx(4 / 7)
    # Dice = 2·|P∩T| / (|P| + |T|) = 2·(2 + 8) / ((2 + 8 + 2 + 1) + (27 + 1 + 8))
    assert s.dice == pytest.approx(20 / 49)


def test_size_bins_known_case():
    pred, target = _three_lesion_case()
    # volumes: A 27, B 1, C 8 voxels; spacing 2 mm isotropic -> 216, 8, 64 mm³
    s = lesion_wise_stats(pred, target, spacing=2.0, size_bins=(10, 100))
    assert s.bin_targets == (1, 1, 1)  # B < 10 <= C < 100 <= A
    assert s.bin_detected == (0, 1, 1)
    assert s.size_recall[0] == 0.0 and s.size_recall[1] == 1.0 and s.size_recall[2] == 1.0
    # at 1 mm every lesion falls below 100 mm³
    s1 = lesion_wise_stats(pred, target)
    assert s1.bin_targets == (3, 0, 0) and s1.bin_detected == (2, 0, 0)
    assert math.isnan(s1.size_recall[1])


def test_26_connectivity():
    t = np.zeros((8, 8, 8), dtype=bool)
    t[2, 2, 2] = t[3, 3, 3] = True  # touch at a corner only
    p = np.zeros_like(t)
    p[2, 2, 2] = True
    full = lesion_wise_stats(p, t)
    assert full.n_target == 1 and full.n_detected == 1 and full.f1 == 1.0
    face = lesion_wise_stats(p, t, full_connectivity=False)
    assert face.n_target == 2 and face.n_detected == 1
    assert face.f1 == pytest.approx(2 / 3)  # 2 / (2 + 0 + 1)
    # 2D: 8-connectivity
    t2 = np.zeros((6, 6), dtype=bool)
    t2[1, 1] = t2[2, 2] = True
    assert lesion_wise_stats(t2, t2).n_target == 1
    assert lesion_wise_stats(t2, t2, full_connectivity=False).n_target == 2


def test_one_component_covering_two_lesions():
    t = _cube((12, 12, 12), (2, 2, 2), 2) | _cube((12, 12, 12), (2, 2, 7), 2)
    p = np.zeros_like(t)
    p[2:4, 2:4, 2:9] = True  # one bar over both
    s = lesion_wise_stats(p, t)
    assert (s.n_target, s.n_detected, s.n_pred, s.n_pred_tp) == (2, 2, 1, 1)
    assert s.f1 == 1.0 and s.sensitivity == 1.0 and s.precision == 1.0


def test_empty_cases():
    z = np.zeros((6, 6, 6), dtype=bool)
    s = lesion_wise_stats(z, z)
    assert s.f1 == 1.0 and s.dice == 1.0 and s.hd95 == 0.0
    assert math.isnan(s.sensitivity) and math.isnan(s.precision)
    t = _cube(z.shape, (1, 1, 1), 2)
    missed = lesion_wise_stats(z, t)
    assert missed.f1 == 0.0 and missed.sensitivity == 0.0 and missed.dice == 0.0
    assert math.isnan(missed.precision) and math.isnan(missed.hd95)
    spurious = lesion_wise_stats(t, z)
    assert spurious.f1 == 0.0 and spurious.precision == 0.0 and math.isnan(spurious.sensitivity)


def test_hd95_single_voxels_spacing():
    t = np.zeros((10, 10, 10), dtype=bool)
    p = np.zeros_like(t)
    t[5, 5, 2] = True
    p[5, 5, 5] = True
    assert lesion_wise_stats(p, t, spacing=(1.0, 1.0, 2.0)).hd95 == pytest.approx(6.0)
    assert lesion_wise_stats(p, t).hd95 == pytest.approx(3.0)
    # unequal directed distances: two predicted voxels at 1 and 3 voxels (2 and 6 mm) from one target voxel give
    # q95 = 2 + 0.95·4 = 5.8 mm one way and 2 mm the other; the HD95 is the larger whichever mask is the prediction
    p2 = p.copy()
    p2[5, 5, 3] = True
    assert lesion_wise_stats(p2, t, spacing=(1.0, 1.0, 2.0)).hd95 == pytest.approx(5.8)
    assert lesion_wise_stats(t, p2, spacing=(1.0, 1.0, 2.0)).hd95 == pytest.approx(5.8)
    # 2D, diagonal offset (3, 4) with spacing (0.5, 1): sqrt(1.5² + 4²)
    t2 = np.zeros((10, 10), dtype=bool)
    p2 = np.zeros_like(t2)
    t2[1, 1] = True
    p2[4, 5] = True
    assert lesion_wise_stats(p2, t2, spacing=(0.5, 1.0)).hd95 == pytest.approx(math.hypot(1.5, 4.0), rel=1e-6)
    assert math.isnan(lesion_wise_stats(p, t, hd95=False).hd95)


def _blobs(rng, shape, level=0.53):
    return ndi.gaussian_filter(rng.random(shape), 1.5) > level


def _reference(pred, target, spacing):
    """Independent scipy implementation of the definitions in the module doc."""
    st = np.ones((3,) * pred.ndim)
    lt, nt = ndi.label(target, st)
    lp, npred = ndi.label(pred, st)
    detected = sum(1 for i in range(1, nt + 1) if pred[lt == i].any())
    tp = sum(1 for i in range(1, npred + 1) if target[lp == i].any())

    def surf(m):
        return m & ~ndi.binary_erosion(m, border_value=0)

    sp, stt = surf(pred), surf(target)
    d1 = ndi.distance_transform_edt(~stt, sampling=spacing)[sp]
    d2 = ndi.distance_transform_edt(~sp, sampling=spacing)[stt]
    return nt, detected, npred, tp, max(np.percentile(d1, 95), np.percentile(d2, 95))


# MONAI's own compute_hausdorff_distance (the reference) passes a deprecated argument inside MONAI
@pytest.mark.filterwarnings("ignore:monai.metrics.utils get_mask_edges:FutureWarning")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_blobs_match_references(seed):
    rng = np.random.default_rng(seed)
    shape, spacing = (18, 20, 16), (1.0, 2.0, 0.7)
    pred, target = _blobs(rng, shape), _blobs(rng, shape)
    s = lesion_wise_stats(torch.from_numpy(pred).float(), torch.from_numpy(target), spacing=spacing)
    nt, det, npred, tp, hd = _reference(pred, target, spacing)
    assert (s.n_target, s.n_detected, s.n_pred, s.n_pred_tp) == (nt, det, npred, tp)
    assert s.hd95 == pytest.approx(hd, rel=1e-5)
    monai_hd = compute_hausdorff_distance(torch.from_numpy(pred)[None, None].float(),
                                          torch.from_numpy(target)[None, None].float(), percentile=95,
                                          spacing=spacing)
    assert s.hd95 == pytest.approx(float(monai_hd), rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hd95_of_small_lesions_in_a_large_grid_is_that_of_the_whole_grid(seed):
    """The HD95 is computed on the box of both masks (grown by a voxel): lesions far from each other, a one-voxel
    lesion and a lesion on the grid's border give the whole-grid distances of the scipy reference."""
    rng = np.random.default_rng(seed)
    shape, spacing = (40, 36, 30), (1.0, 2.0, 0.7)
    pred, target = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    pred[3:11, 5:12, 4:10] = _blobs(rng, (8, 7, 6), 0.5)
    target[5:12, 6:14, 3:9] = _blobs(rng, (7, 8, 6), 0.5)
    target[30, 20, 25] = True  # one voxel, far away
    pred[0:3, 30:36, 10:14] = True  # on the border of the grid
    pred[5, 8, 6] = target[6, 9, 5] = True  # neither mask is empty
    s = lesion_wise_stats(pred, target, spacing=spacing)
    assert s.hd95 == pytest.approx(_reference(pred, target, spacing)[4], rel=1e-5)
    near = lesion_wise_stats(target, target | np.roll(target, 1, axis=0), spacing=spacing)
    assert near.hd95 == pytest.approx(_reference(target, target | np.roll(target, 1, axis=0), spacing)[4], rel=1e-5)


def _onehot(mask: np.ndarray) -> torch.Tensor:
    fg = torch.from_numpy(mask).float()
    return torch.stack([1 - fg, fg])


def test_metric_class_aggregation():
    pred_a, target_a = _three_lesion_case()  # 3 targets, 2 detected, 5 pred, 3 tp
    z = np.zeros_like(pred_a)
    target_b = _cube(z.shape, (4, 4, 4), 2)  # 1 target, missed; no prediction
    y_pred = torch.stack([_onehot(pred_a), _onehot(z)])
    y = torch.stack([_onehot(target_a), _onehot(target_b)])

    metric = LesionWiseMetric(include_background=False)
    metric(y_pred, y)
    # pooled: detected 2 of 4 lesions (FN 2), 3 of 5 components true (FP 2) -> 2·2 / (2·2 + 2 + 2)
    assert metric.aggregate().item() == pytest.approx(4 / 8)
    assert metric.aggregate("sensitivity").item() == pytest.approx(2 / 4)
    assert metric.aggregate("precision").item() == pytest.approx(3 / 5)
    # per case: F1 4/7 and 0; sensitivity 2/3 and 0; precision 3/5 and NaN (skipped)
    assert metric.aggregate("f1", average="case").item() == pytest.approx(2 / 7)
    assert metric.aggregate("sensitivity", average="case").item() == pytest.approx(1 / 3)
    assert metric.aggregate("precision", average="case").item() == pytest.approx(3 / 5)
    assert metric.aggregate("dice").item() == pytest.approx((20 / 49 + 0) / 2)
    assert math.isnan(metric.aggregate("hd95").item())  # not computed for metric_name="f1"
    summary = metric.summary()
    assert summary["cases"] == 2 and summary["n_target"] == 4 and summary["n_detected"] == 2
    assert summary["n_pred"] == 5 and summary["n_pred_tp"] == 3
    assert summary["size_recall"] == pytest.approx([0.5, float("nan"), float("nan")], nan_ok=True)

    # lists of channel-first tensors (decollated batches) accumulate the same way; reset clears
    metric.reset()
    metric([y_pred[0], y_pred[1]], [y[0], y[1]])
    assert metric.aggregate().item() == pytest.approx(4 / 8)


def test_metric_channels_and_spacing_from_meta():
    t = np.zeros((10, 10, 10), dtype=bool)
    p = np.zeros_like(t)
    t[5, 5, 2] = True
    p[5, 5, 5] = True
    y_pred = _onehot(p)[None]
    y = MetaTensor(_onehot(t)[None], affine=torch.diag(torch.tensor([1.0, 1.0, 2.0, 1.0])))
    hd = LesionWiseMetric(metric_name="hd95", include_background=False)
    hd(y_pred, y)
    assert hd.aggregate().item() == pytest.approx(6.0)
    fixed = LesionWiseMetric(metric_name="hd95", include_background=False, spacing=0.5)
    fixed(y_pred, y)
    assert fixed.aggregate().item() == pytest.approx(1.5)
    # reduction "none": one value per scored channel (background and foreground here)
    per_channel = LesionWiseMetric(metric_name="dice", reduction="none")
    per_channel(y_pred, y)
    dice = per_channel.aggregate()
    assert dice.shape == (2,)
    assert dice[0].item() == pytest.approx(2 * 998 / 1998) and dice[1].item() == 0.0


def test_bad_input():
    z = np.zeros((4, 4, 4))
    with pytest.raises(ValueError, match="pred must be binary"):
        lesion_wise_stats(z + 0.5, z)
    with pytest.raises(ValueError, match="same shape"):
        lesion_wise_stats(z, np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="2D or 3D"):
        lesion_wise_stats(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="spacing"):
        lesion_wise_stats(z, z, spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        lesion_wise_stats(z, z, spacing=-1.0)
    with pytest.raises(ValueError, match="size_bins"):
        lesion_wise_stats(z, z, size_bins=(100, 10))
    with pytest.raises(TypeError, match="pred"):
        lesion_wise_stats([[0]], z)
    with pytest.raises(ValueError, match="metric_name"):
        LesionWiseMetric(metric_name="iou")
    with pytest.raises(ValueError, match="average"):
        LesionWiseMetric(average="micro")
    metric = LesionWiseMetric(include_background=False)
    with pytest.raises(ValueError, match="at least 2 channels"):
        metric(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 1, 4, 4, 4))
    with pytest.raises(ValueError, match="same shape"):
        metric(torch.zeros(1, 2, 4, 4, 4), torch.zeros(1, 2, 4, 4, 3))
    with pytest.raises(ValueError, match="empty"):
        LesionWiseMetric().aggregate()


def test_metric_channel_selection_and_size_recall():
    """channels=[2] scores only the tumour of a background/organ/tumour one-hot; size_recall has one value per bin."""
    shape = (12, 12, 12)
    organ = _cube(shape, (1, 1, 1), 10)
    t_small = _cube(shape, (2, 2, 2), 1)  # 1 voxel
    t_big = _cube(shape, (6, 6, 6), 3)  # 27 voxels
    tumour_t = t_small | t_big
    tumour_p = _cube(shape, (7, 7, 7), 1)  # finds the big one only

    def onehot(tumour):
        lab = np.where(tumour, 2, np.where(organ, 1, 0))
        return torch.nn.functional.one_hot(torch.from_numpy(lab), 3).permute(3, 0, 1, 2).float()[None]

    metric = LesionWiseMetric(metric_name="size_recall", channels=[2], size_bins=(10,))
    metric(onehot(tumour_p), onehot(tumour_t))
    assert metric.aggregate().tolist() == [0.0, 1.0]  # the 1-voxel lesion missed, the 27-voxel one found
    assert metric.aggregate("sensitivity").item() == 0.5
    assert metric.aggregate("f1").item() == pytest.approx(2 / 3)  # 2·1 / (2·1 + 0 + 1)
    organ_only = LesionWiseMetric(metric_name="f1", channels=[1])
    organ_only(onehot(tumour_p), onehot(tumour_t))
    assert organ_only.aggregate().item() == 1.0
    with pytest.raises(ValueError, match="out of range"):
        LesionWiseMetric(channels=[3])(onehot(tumour_p), onehot(tumour_t))
    with pytest.raises(ValueError, match="channels"):
        LesionWiseMetric(channels=[1, 1])


def test_one_to_one_merge_split_and_touching():
    """Hand-made volumes under both matching rules (module doc of lesion_metrics)."""
    shape = (14, 14, 14)
    # merge: one bar over two lesions
    t = _cube(shape, (2, 2, 2), 2) | _cube(shape, (2, 2, 7), 2)
    p = np.zeros_like(t)
    p[2:4, 2:4, 2:9] = True
    any_ = lesion_wise_stats(p, t)
    one = lesion_wise_stats(p, t, matching="one_to_one")
    assert (any_.n_detected, any_.n_pred_tp, any_.f1) == (2, 1, 1.0)
    assert (one.n_target, one.n_detected, one.n_pred, one.n_pred_tp) == (2, 1, 1, 1)
    assert one.f1 == pytest.approx(2 / 3)  # 2·1 / (2·1 + 0 FP + 1 FN)
    # split: one lesion covered by two separate components
    t = _cube(shape, (2, 2, 2), 6)
    p = _cube(shape, (2, 2, 2), 2) | _cube(shape, (2, 2, 6), 2)
    any_ = lesion_wise_stats(p, t)
    one = lesion_wise_stats(p, t, matching="one_to_one")
    assert (any_.n_detected, any_.n_pred, any_.n_pred_tp, any_.f1) == (1, 2, 2, 1.0)  # a split costs nothing
    assert (one.n_detected, one.n_pred, one.n_pred_tp) == (1, 2, 1)
    assert one.f1 == pytest.approx(2 / 3)  # 2·1 / (2·1 + 1 FP + 0 FN)
    # F1 is the harmonic mean of sensitivity and precision under one-to-one, not under any-overlap
    assert one.f1 == pytest.approx(2 * one.sensitivity * one.precision / (one.sensitivity + one.precision))
    pred, target = _three_lesion_case()
    # one-to-one: A's two voxels are one match and one false positive: TP 2, FP 3, FN 1
    one = lesion_wise_stats(pred, target, matching="one_to_one")
    assert (one.n_detected, one.n_pred_tp, one.f1) == (2, 2, pytest.approx(4 / 8))
    t = _cube(shape, (2, 2, 2), 2) | _cube(shape, (2, 2, 7), 2) | _cube(shape, (9, 9, 9), 2)
    p = np.zeros_like(t)
    p[2:4, 2:4, 2:9] = True  # merges the first two; the third lesion is missed
    s = lesion_wise_stats(p, t)
    assert (s.sensitivity, s.precision) == (pytest.approx(2 / 3), 1.0)
    assert s.f1 == pytest.approx(4 / 5)  # 2·2 / (2·2 + 0 + 1); the harmonic mean happens to agree here
    p2 = p | _cube(shape, (2, 9, 2), 2)  # add a false positive: sensitivity 2/3, precision 1/2
    s2 = lesion_wise_stats(p2, t)
    assert (s2.sensitivity, s2.precision) == (pytest.approx(2 / 3), 0.5)
    assert s2.f1 == pytest.approx(4 / 6)  # 2·2 / (2·2 + 1 FP + 1 FN) = 0.667
    assert 2 * s2.sensitivity * s2.precision / (s2.sensitivity + s2.precision) == pytest.approx(4 / 7)  # != F1
    # touching lesions (a shared face) are one target component; two predictions on it: one matched, one FP
    t = _cube(shape, (2, 2, 2), 3) | _cube(shape, (2, 2, 5), 3)
    p = _cube(shape, (3, 3, 3), 1) | _cube(shape, (3, 3, 6), 1)
    one = lesion_wise_stats(p, t, matching="one_to_one")
    assert (one.n_target, one.n_pred, one.n_detected, one.n_pred_tp) == (1, 2, 1, 1)
    any_ = lesion_wise_stats(p, t)
    assert (any_.n_target, any_.n_pred, any_.n_detected, any_.n_pred_tp) == (1, 2, 1, 2)


def test_greedy_matching_prefers_larger_overlap():
    from monai_segloss.evaluation.lesion_metrics import connected_components, match_one_to_one

    t = np.zeros((10, 20), dtype=bool)
    t[2:6, 2:6] = True  # lesion 1 (16 px)
    t[2:6, 12:16] = True  # lesion 2 (16 px)
    p = np.zeros_like(t)
    p[3:5, 4:14] = True  # a bar: 4 px on lesion 1, 4 px on lesion 2
    p[2:6, 15:19] = True  # a block (first in raster order: component 1): 4 px on lesion 2 (column 15)
    lt, _ = connected_components(t)
    lp, n = connected_components(p)
    assert n == 2 and lp[2, 15] == 1 and lp[3, 4] == 2
    # all overlaps tie at 4 px: lower lesion first, then lower component -> (1, 1) is no pair; (1, 2), then (2, 1)
    assert match_one_to_one(lt, lp) == [(1, 2), (2, 1)]
    p[2:6, 14] = True  # the block joins the bar: one component with 4 px on lesion 1 and 12 px on lesion 2
    lt, _ = connected_components(t)
    lp, n = connected_components(p)
    assert n == 1 and match_one_to_one(lt, lp) == [(2, 1)]  # the larger overlap wins
    s = lesion_wise_stats(p, t, matching="one_to_one")
    assert (s.n_detected, s.n_pred_tp) == (1, 1) and s.f1 == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="matching"):
        lesion_wise_stats(p, t, matching="iou")
    with pytest.raises(ValueError, match="matching"):
        LesionWiseMetric(matching="iou")


def test_metric_one_to_one_and_2d_meta_tensor_with_default_affine():
    """A hand-built 2D MetaTensor has a 4x4 identity affine (pixdim of 3 values): the metric reads 2 of them."""
    t = np.zeros((10, 20), dtype=bool)
    t[2:4, 2:4] = t[2:4, 6:8] = True
    p = np.zeros_like(t)
    p[2:4, 2:8] = True  # merges both lesions
    y = MetaTensor(_onehot(t)[None])
    assert y.affine.shape == (4, 4)
    y_pred = MetaTensor(_onehot(p)[None])
    any_ = LesionWiseMetric(include_background=False)
    any_(y_pred, y)
    assert any_.aggregate().item() == 1.0
    one = LesionWiseMetric(include_background=False, matching="one_to_one")
    one(y_pred, y)
    assert one.aggregate().item() == pytest.approx(2 / 3)
    hd = LesionWiseMetric(metric_name="hd95", include_background=False)
    hd(y_pred, y)
    assert hd.aggregate().item() == pytest.approx(1.0)  # the bridge columns 4-5 lie 1 px from the target surface
