"""The BraTS 2023 lesion-wise rule (``matching="brats2023"``) on a hand-made volume against numbers of the reference
implementation, and its threshold sweep, metric class, empty cases and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from monai_segloss import LesionWiseMetric, lesion_wise_stats
from monai_segloss.evaluation.brats2023 import (
    BRATS2023_CHALLENGES,
    BraTS2023Rule,
    brats2023_scores,
    merge_by_dilation,
)
from monai_segloss.evaluation.froc import sweep_case


def _volumes():
    """26³, 1 mm. Target lesions: A 4³ cube and A2 2³ cube 2 voxels apart in z (merged by 1 dilation), B 3³ cube
    6 voxels from A in x (merged with A by 3 dilations), C a single voxel, D 2³ cube, E and F 3³ cubes 5 voxels apart
    in z. Prediction: P1 a 3³ cube inside A, P2 a bar of 9 through E and F (2 voxels in each), P3 a voxel beside C,
    P4 a 2³ false positive, P5 a voxel 1 from B (in B's dilated region, no overlap)."""
    t = np.zeros((26, 26, 26), dtype=np.uint8)
    p = np.zeros_like(t)
    t[2:6, 2:6, 2:6] = 1  # A, 64
    t[2:4, 2:4, 8:10] = 1  # A2, 8
    t[12:15, 3:6, 3:6] = 1  # B, 27
    t[20, 20, 20] = 1  # C, 1
    t[18:20, 4:6, 20:22] = 1  # D, 8
    t[12:15, 12:15, 3:6] = 1  # E, 27
    t[12:15, 12:15, 11:14] = 1  # F, 27
    p[3:6, 3:6, 3:6] = 1  # P1
    p[13, 13, 4:13] = 1  # P2
    p[20, 20, 21] = 1  # P3
    p[20:22, 20:22, 2:4] = 1  # P4
    p[15, 4, 4] = 1  # P5
    return p, t


# Expected values from the reference implementation, github.com/rachitsaluja/BraTS-2023-Metrics (metrics.py at
# commit 43c9052), run in a scratch environment on exactly these volumes saved as NIfTI (label 1, tissue "WT"):
# get_LesionWiseScores(pred, gt, "WT", dilation), then the aggregation steps of get_LesionWiseResults (lesions of
# volume <= threshold dropped, inf -> 374, Dice and HD95 over kept lesions + FP). (TP, FP, FN, lesion-wise Dice):
REFERENCE = {
    # name: (dilation, threshold mm³, spacing, (TP, FP, FN), lesion-wise Dice)
    "MET": (1, 2.0, (1.0, 1.0, 1.0), (4, 1, 1), 0.12794612794612795),  # A+A2, B, E, F found; D missed; C dropped
    "GLI": (3, 50.0, (1.0, 1.0, 1.0), (1, 1, 0), 0.1631578947368421),  # A+A2+B+E+F one lesion; C, D dropped
    "dil2_thr8": (2, 8.0, (1.0, 1.0, 1.0), (4, 1, 0), 0.15353535353535355),  # D, exactly 8 mm³, dropped (<=)
    "MET_spacing_1_1_2": (1, 2.0, (1.0, 1.0, 2.0), (4, 1, 1), 0.12794612794612795),  # C is 2 mm³: dropped
}
# The reference's lesion-wise HD95 for these: 127.7465, 188.5811, 78.4958, 130.2950. Its per-lesion HD95 is DeepMind's
# surface_distance (surfel-area weighted percentile): MET per lesion A+A2 3.317, B 3.162, E 6.0, F 6.0; ours (the
# voxel-surface HD95 of lesion_metrics, MONAI's convention) 3.897, 3.317, 6.6, 6.6. The misses and false positives
# (374 each) and the aggregation agree, so the HD95 is checked below by its formula over our per-lesion values.


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_counts_and_lesion_dice_equal_the_reference(name):
    dilation, threshold, spacing, (tp, fp, fn), dice = REFERENCE[name]
    p, t = _volumes()
    rule = BraTS2023Rule(dilation_iterations=dilation, volume_threshold_mm3=threshold)
    s = lesion_wise_stats(p, t, spacing=spacing, matching="brats2023", brats=rule)
    assert (s.n_detected, s.n_pred - s.n_pred_tp, s.n_target - s.n_detected) == (tp, fp, fn)
    assert s.n_pred == 5
    assert s.lesion_dice == pytest.approx(dice, rel=1e-12)
    # the voxel Dice stays the whole-image one: 2·(27 + 4) / (46 + 162), the reference's "Legacy_Dice" 0.2980769
    assert s.dice == pytest.approx(62 / 208)


def test_lesion_hd95_formula_with_met_rule():
    p, t = _volumes()
    s = lesion_wise_stats(p, t, matching="brats2023", brats=BRATS2023_CHALLENGES["BraTS-MET"])
    # per lesion (ours): A+A2 vs P1, B vs P5, E vs P2, F vs P2 (E and F alike); D missed (374); P4 false positive
    a, p1 = np.zeros_like(t), np.zeros_like(p)
    a[2:6, 2:6, 2:6] = a[2:4, 2:4, 8:10] = 1
    p1[3:6, 3:6, 3:6] = 1
    hd_a = lesion_wise_stats(p1, a).hd95
    b = np.zeros_like(t)
    b[12:15, 3:6, 3:6] = 1
    p5 = np.zeros_like(p)
    p5[15, 4, 4] = 1
    hd_b = lesion_wise_stats(p5, b).hd95
    e = np.zeros_like(t)
    e[12:15, 12:15, 3:6] = 1
    p2 = np.zeros_like(p)
    p2[13, 13, 4:13] = 1
    hd_e = lesion_wise_stats(p2, e).hd95
    assert (hd_a, hd_b, hd_e) == (pytest.approx(3.8974938), pytest.approx(3.3166248), pytest.approx(6.6))
    expected = (hd_a + hd_b + 2 * hd_e + 374 + 374) / 6  # 5 kept lesions (C dropped) + 1 FP
    assert s.lesion_hd95 == pytest.approx(expected, rel=1e-6)


def test_merging_by_dilation_counts():
    _, t = _volumes()
    # 1 dilation: A+A2, B, C, D, E, F; 2: the same (B-A gap 6, E-F gap 5); 3: A+A2+B+E+F, C, D
    assert merge_by_dilation(t, BraTS2023Rule(1))[1] == 6
    assert merge_by_dilation(t, BraTS2023Rule(2))[1] == 6
    regions, n = merge_by_dilation(t, BraTS2023Rule(3))
    assert n == 3 and np.bincount(regions[t > 0]).tolist()[1:] == [153, 8, 1]  # raster order of first voxels
    # no dilation: the lesions are the 26-connected components (7)
    assert merge_by_dilation(t, BraTS2023Rule(0))[1] == 7


def test_a_component_touching_two_lesions_detects_both():
    p, t = _volumes()
    only_p2 = np.zeros_like(p)
    only_p2[13, 13, 4:13] = 1
    ef = np.zeros_like(t)
    ef[12:15, 12:15, 3:6] = ef[12:15, 12:15, 11:14] = 1
    s = lesion_wise_stats(only_p2, ef, matching="brats2023", brats=BraTS2023Rule(1, 2, 2.0))
    # two lesions, each Dice 2·2 / (9 + 27); one component credited to both
    assert (s.n_target, s.n_detected, s.n_pred, s.n_pred_tp) == (2, 2, 1, 1)
    assert s.lesion_dice == pytest.approx(4 / 36) and s.f1 == 1.0
    # the greedy one-to-one match credits it once
    one = lesion_wise_stats(only_p2, ef, matching="one_to_one")
    assert (one.n_detected, one.n_pred_tp) == (1, 1)


def test_empty_cases():
    z = np.zeros((8, 8, 8), dtype=bool)
    s = lesion_wise_stats(z, z, matching="brats2023")
    assert (s.lesion_dice, s.lesion_hd95) == (1.0, 0.0)
    c = z.copy()
    c[2:4, 2:4, 2:4] = True
    fp_only = lesion_wise_stats(c, z, matching="brats2023")
    assert (fp_only.lesion_dice, fp_only.lesion_hd95) == (0.0, 374.0)
    # a target below the threshold and no prediction: nothing is scored
    small = lesion_wise_stats(z, c, matching="brats2023")  # 8 mm³ <= 50
    assert (small.n_target, small.lesion_dice, small.lesion_hd95) == (0, 1.0, 0.0)
    assert math.isnan(lesion_wise_stats(c, c, matching="any_overlap").lesion_dice)
    assert brats2023_scores(np.array([0.5, 0.0]), np.array([2.0, 374.0]), np.array([True, False]), 1) == (0.25, 188.0)


def test_sweep_matches_the_reference_at_a_threshold():
    p, t = _volumes()
    prob = p * 0.8
    prob[20:22, 20:22, 2:4] = 0.4  # P4 only above 0.3
    sweep = sweep_case(prob, t, (0.3, 0.5, 0.9), brats=BRATS2023_CHALLENGES["BraTS-MET"])
    low, mid, high = (sweep.stats(i, matching="brats2023") for i in range(3))
    assert (low.n_detected, low.n_pred - low.n_pred_tp) == (4, 1)
    assert low.lesion_dice == pytest.approx(REFERENCE["MET"][4], rel=1e-12)
    # at 0.5 P4 is gone: Dice sum 0.5454 + 0 + 2·0.1111 over 5 kept lesions and no FP
    assert (mid.n_detected, mid.n_pred - mid.n_pred_tp) == (4, 0)
    assert mid.lesion_dice == pytest.approx((54 / 99 + 2 * 4 / 36) / 5)
    assert (high.n_pred, high.n_detected, high.lesion_dice) == (0, 0, 0.0)
    det, fp = sweep.detection_counts(matching="brats2023")
    assert det.tolist() == [4, 4, 0] and fp.tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="brats"):
        sweep_case(prob, t, (0.5,)).stats(0, matching="brats2023")


def test_metric_class_lesion_dice():
    p, t = _volumes()
    y_pred = torch.from_numpy(np.stack([1 - p, p]))[None].float()
    y = torch.from_numpy(np.stack([1 - t, t]))[None].float()
    metric = LesionWiseMetric("lesion_dice", include_background=False, matching="brats2023",
                              brats=BRATS2023_CHALLENGES["BraTS-MET"])
    metric(y_pred, y)
    metric(y, y)  # a perfect case: every lesion Dice 1 (C, 1 voxel, dropped)
    assert metric.aggregate().item() == pytest.approx((REFERENCE["MET"][4] + 1.0) / 2)
    assert metric.aggregate("f1").item() == pytest.approx(2 * 9 / (2 * 9 + 1 + 1))  # pooled: TP 4+5, FP 1, FN 1
    other = LesionWiseMetric("lesion_dice", include_background=False)  # any-overlap: no lesion-wise Dice
    other(y, y)
    assert math.isnan(other.aggregate().item())


def test_bad_input():
    with pytest.raises(ValueError, match="dilation_iterations"):
        BraTS2023Rule(dilation_iterations=-1)
    with pytest.raises(ValueError, match="structure_connectivity"):
        BraTS2023Rule(structure_connectivity=0)
    with pytest.raises(ValueError, match="volume_threshold_mm3"):
        BraTS2023Rule(volume_threshold_mm3=math.nan)
    p, t = _volumes()
    with pytest.raises(ValueError, match="structure_connectivity"):
        lesion_wise_stats(p[0], t[0], matching="brats2023", brats=BraTS2023Rule(structure_connectivity=3))
    with pytest.raises(TypeError, match="brats"):
        lesion_wise_stats(p, t, matching="brats2023", brats={"dilation_iterations": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="brats"):
        LesionWiseMetric(matching="brats2023", brats=3)  # type: ignore[arg-type]
