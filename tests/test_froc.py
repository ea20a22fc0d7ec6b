"""FROC / CPM on hand-computed examples, the threshold sweep against the lesion metrics, the lesion post-processing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from monai.data import MetaTensor

from monai_segloss.evaluation.brats2023 import BraTS2023Rule
from monai_segloss.evaluation.froc import DENSE_THRESHOLDS, LUNA16_RATES, cpm, froc_points, sensitivity_at, sweep_case
from monai_segloss.evaluation.lesion_metrics import lesion_wise_stats
from monai_segloss.evaluation.postprocess import LesionPostprocessd, lesion_mask


def test_froc_points_and_cpm_hand_computed():
    # 4 cases, 4 lesions; thresholds high -> low: detected 0, 2, 3, 4 and false positives 0, 1, 6, 40
    fpc, sens = froc_points(np.array([0, 2, 3, 4]), 4, np.array([0, 1, 6, 40]), 4)
    assert fpc.tolist() == [0.0, 0.25, 1.5, 10.0] and sens.tolist() == [0.0, 0.5, 0.75, 1.0]
    # best sensitivity with at most r FP/case: 1/8 -> 0, 1/4 .. 1 -> 0.5, 2 .. 8 -> 0.75 (10 FP/case is beyond 8)
    assert sensitivity_at(fpc, sens).tolist() == [0.0, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75]
    assert float(cpm(fpc, sens)) == pytest.approx(3.75 / 7)
    assert LUNA16_RATES == (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def test_froc_points_divide_false_positives_by_cases_and_detections_by_lesions():
    # 6 lesions in 4 cases: a swapped divisor shows (FP / lesions would give 0, 1/6, 1, 20/3)
    fpc, sens = froc_points(np.array([0, 2, 3, 4]), 6, np.array([0, 1, 6, 40]), 4)
    assert fpc.tolist() == [0.0, 0.25, 1.5, 10.0]
    assert sens.tolist() == pytest.approx([0.0, 1 / 3, 0.5, 2 / 3])
    # batched: (2 replicates, 2 thresholds), lesions 3 / 5 and cases 2 / 8 per replicate
    fpc, sens = froc_points(np.array([[1, 3], [2, 5]]), np.array([3, 5]), np.array([[2, 4], [4, 16]]),
                            np.array([2, 8]))
    assert fpc.tolist() == [[1.0, 2.0], [0.5, 2.0]]
    np.testing.assert_allclose(sens, [[1 / 3, 1.0], [0.4, 1.0]])


def test_sensitivity_at_non_monotone_sweep_and_batches():
    # lowering the threshold merged two false positives: fewer FP at a higher sensitivity
    fpc, sens = np.array([2.0, 1.0]), np.array([0.5, 0.8])
    assert sensitivity_at(fpc, sens, rates=(0.5, 1.0, 2.0)).tolist() == [0.0, 0.8, 0.8]
    # batched (bootstrap replicates): one row per replicate
    batch = sensitivity_at(np.array([[0.1, 3.0], [0.3, 0.6]]), np.array([[0.2, 0.9], [0.4, 0.7]]), (0.25, 1.0))
    assert batch.tolist() == [[0.2, 0.2], [0.0, 0.7]]
    # no lesion at all: NaN, not 0
    f, s = froc_points(np.array([0, 0]), 0, np.array([1, 2]), 3)
    assert np.isnan(s).all() and math.isnan(float(cpm(f, s)))


def test_luna16_interpolation_hand_computed():
    fpc = np.array([0.1, 0.3, 0.6, 1.5, 3.0, 5.0])
    sens = np.array([0.2, 0.4, 0.5, 0.6, 0.8, 0.9])
    # straight lines between the neighbouring points: 1/8 -> 0.2 + 0.2·(0.025 / 0.2), 1/4 -> 0.2 + 0.2·(0.15 / 0.2),
    # 1/2 -> 0.4 + 0.1·(0.2 / 0.3), 1 -> 0.5 + 0.1·(0.4 / 0.9), 2 -> 0.6 + 0.2·(0.5 / 1.5), 4 -> 0.8 + 0.1·(1 / 2),
    # 8 is beyond the last point (5 FP/case): its sensitivity 0.9
    luna = [0.225, 0.35, 0.4 + 0.2 / 3, 0.5 + 0.04 / 0.9, 0.6 + 0.2 / 3, 0.85, 0.9]
    np.testing.assert_allclose(sensitivity_at(fpc, sens, interpolation="luna16"), luna)
    assert float(cpm(fpc, sens, interpolation="luna16")) == pytest.approx(sum(luna) / 7)
    # the step reading: the best point with at most r FP/case
    assert sensitivity_at(fpc, sens).tolist() == [0.2, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9]
    # a curve starting above 1/8: LUNA16 interpolates from (0, 0), the step reading has no point yet
    np.testing.assert_allclose(sensitivity_at(np.array([0.5, 2.0]), np.array([0.4, 0.8]), (0.125, 0.25), "luna16"),
                               [0.1, 0.2])
    assert sensitivity_at(np.array([0.5, 2.0]), np.array([0.4, 0.8]), (0.125, 0.25)).tolist() == [0.0, 0.0]


def test_luna16_interpolation_order_ties_batches_and_nan():
    # a non-monotone sweep: points taken by FP rate, (0,0) -> (1, 0.8) -> (2, 0.5), held at 0.5 beyond
    np.testing.assert_allclose(sensitivity_at(np.array([2.0, 1.0]), np.array([0.5, 0.8]), (0.5, 1.0, 1.5, 2.0, 4.0),
                                              "luna16"), [0.4, 0.8, 0.65, 0.5, 0.5])
    # equal FP rates: a vertical step, read at its top; the line leaves from the top
    np.testing.assert_allclose(sensitivity_at(np.array([1.0, 1.0, 3.0]), np.array([0.6, 0.3, 0.9]), (0.5, 1.0, 2.0),
                                              "luna16"), [0.15, 0.6, 0.75])
    # batched rows, a NaN point skipped, an all-NaN row NaN
    fpc = np.array([[0.5, 1.0], [0.5, 1.0], [1.0, 2.0]])
    sens = np.array([[0.5, 1.0], [np.nan, 1.0], [np.nan, np.nan]])
    out = sensitivity_at(fpc, sens, (0.25, 1.0), "luna16")
    np.testing.assert_allclose(out[:2], [[0.25, 1.0], [0.25, 1.0]])
    assert np.isnan(out[2]).all()
    with pytest.raises(ValueError, match="interpolation"):
        sensitivity_at(fpc, sens, interpolation="linear")  # type: ignore[arg-type]


def _hand_case():
    """2D: lesion A (4 px, prob 0.9), lesion B (6 px, prob 0.3), a false positive F (3 px, prob 0.6), and a bridge
    (3 px, prob 0.25) joining A and B at low thresholds. Every size differs."""
    target = np.zeros((12, 12), dtype=bool)
    prob = np.zeros((12, 12))
    target[2:4, 2:4] = True  # A
    prob[2:4, 2:4] = 0.9
    target[2:4, 7:10] = True  # B
    prob[2:4, 7:10] = 0.3
    prob[3, 4:7] = 0.25  # bridge A-B
    prob[9, 9:11] = prob[10, 9] = 0.6  # F
    return prob, target


def test_sweep_hand_case_both_matching_rules():
    prob, target = _hand_case()
    sweep = sweep_case(prob, target, (0.2, 0.28, 0.5, 0.8), spacing=(1.0, 2.0))
    assert sweep.n_target == 2 and sweep.target_volumes_mm3.tolist() == [8.0, 12.0] and sweep.voxel_mm3 == 2.0
    det_any, fp_any = sweep.detection_counts(matching="any_overlap")
    det_one, fp_one = sweep.detection_counts(matching="one_to_one")
    # t=0.2: A-bridge-B is one component + F; any-overlap credits both lesions, one-to-one one of them
    # t=0.28: A, B, F separate; t=0.5: A and F; t=0.8: A only
    assert det_any.tolist() == [2, 2, 1, 1] and fp_any.tolist() == [1, 1, 1, 0]
    assert det_one.tolist() == [1, 2, 1, 1] and fp_one.tolist() == [1, 1, 1, 0]
    # minimum size 10 mm² (5 voxels of 2 mm²): t=0.2 drops F (6 mm²), keeps the merger (13 px, 26 mm²)
    s = sweep.stats(0, min_size_mm3=10.0, matching="any_overlap")
    assert (s.n_pred, s.n_pred_tp, s.n_detected) == (1, 1, 2)
    # the size is the component's, not its overlap (10 px, 20 mm²): 22 mm² keeps the merger
    assert sweep.stats(0, min_size_mm3=22.0).n_pred == 1 and sweep.stats(0, min_size_mm3=27.0).n_pred == 0
    # t=0.28: A (8 mm²) and F dropped, B (12 mm²) kept and detected
    s1 = sweep.stats(1, min_size_mm3=10.0)
    assert (s1.n_pred, s1.n_detected, s1.bin_detected) == (1, 1, (1, 0, 0))
    assert sweep.stats(2, min_size_mm3=10.0).n_pred == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sweep_equals_lesion_metrics_on_postprocessed_masks(seed):
    rng = np.random.default_rng(seed)
    shape, spacing = (20, 22, 18), (1.0, 2.0, 1.5)
    prob = ndi.gaussian_filter(rng.random(shape), 1.2)
    prob = (prob - prob.min()) / (prob.max() - prob.min())
    target = ndi.gaussian_filter(rng.random(shape), 1.5) > 0.55
    thresholds = (0.3, 0.5, 0.6, 0.7)
    rule = BraTS2023Rule(dilation_iterations=1 + seed % 2, volume_threshold_mm3=12.0)
    sweep = sweep_case(torch.from_numpy(prob), target, thresholds, spacing, brats=rule)
    for i, t in enumerate(thresholds):
        for m in (0.0, 5.0, 20.0):
            for matching in ("any_overlap", "one_to_one", "greedy_overlap", "brats2023"):
                a = sweep.stats(i, m, (10.0, 100.0), matching)
                b = lesion_wise_stats(lesion_mask(prob, t, m, spacing), target, spacing, (10.0, 100.0), hd95=False,
                                      matching=matching, brats=rule)
                assert a.dice == pytest.approx(b.dice)
                assert (a.n_target, a.n_detected, a.n_pred, a.n_pred_tp, a.bin_targets, a.bin_detected) == \
                    (b.n_target, b.n_detected, b.n_pred, b.n_pred_tp, b.bin_targets, b.bin_detected)
                if matching == "brats2023":
                    assert a.lesion_dice == pytest.approx(b.lesion_dice) and math.isnan(a.lesion_hd95)
                else:
                    assert math.isnan(a.lesion_dice) and math.isnan(b.lesion_dice)


def test_dense_thresholds():
    d = np.array(DENSE_THRESHOLDS)
    assert d.size == 121 and 0.5 in DENSE_THRESHOLDS and (np.diff(d) > 0).all() and 0 < d[0] and d[-1] < 1
    np.testing.assert_allclose(d + d[::-1], 1.0)  # symmetric about 0.5
    # even in logit (step 0.15): denser near 0 and 1 than around 0.5
    np.testing.assert_allclose(np.diff(np.log(d / (1 - d))), 0.15)
    assert np.diff(d)[0] < 1e-4 and np.diff(d)[60] > 0.03 and d[0] == pytest.approx(1 / (1 + math.exp(9.0)))


def test_dense_sweep_equals_lesion_metrics_at_every_threshold():
    rng = np.random.default_rng(4)
    prob = ndi.gaussian_filter(rng.random((14, 16, 12)), 1.0)
    prob = (prob - prob.min()) / (prob.max() - prob.min()) * 0.999
    target = ndi.gaussian_filter(rng.random(prob.shape), 1.2) > 0.54
    sweep = sweep_case(prob, target, DENSE_THRESHOLDS)
    det, fp = sweep.detection_counts(matching="one_to_one")
    for i, t in enumerate(DENSE_THRESHOLDS):
        ref = lesion_wise_stats(lesion_mask(prob, t), target, hd95=False, matching="one_to_one")
        assert (det[i], fp[i]) == (ref.n_detected, ref.n_pred - ref.n_pred_tp)
    assert det[0] > det[-1] == 0 and fp.max() > 0  # the grid spans everything to nothing


def test_sweep_bad_input():
    prob, target = _hand_case()
    with pytest.raises(ValueError, match="thresholds"):
        sweep_case(prob, target, (0.5, 0.2))
    with pytest.raises(ValueError, match="thresholds"):
        sweep_case(prob, target, (0.5, 1.0))
    with pytest.raises(ValueError, match="shape"):
        sweep_case(prob, target[:5], (0.5,))
    with pytest.raises(ValueError, match="binary"):
        sweep_case(prob, target * 2, (0.5,))
    with pytest.raises(ValueError, match="matching"):
        sweep_case(prob, target, (0.5,)).stats(0, matching="iou")


def test_lesion_mask_threshold_and_min_size():
    prob, _ = _hand_case()
    assert lesion_mask(prob, 0.5).sum() == 7  # A (4) and F (3), strictly above 0.5
    # 0.5 is the argmax of a two-class softmax: a probability of exactly 0.5 is background
    assert not lesion_mask(np.full((3, 3), 0.5), 0.5).any()
    # spacing (1, 2): A is 8 mm², F 6 mm²; min 6 keeps both, min 7 and 8 keep A, min 9 none
    assert lesion_mask(prob, 0.5, 6.0, spacing=(1.0, 2.0)).sum() == 7
    assert lesion_mask(prob, 0.5, 7.0, spacing=(1.0, 2.0)).sum() == 4
    assert lesion_mask(prob, 0.5, 8.0, spacing=(1.0, 2.0)).sum() == 4
    assert lesion_mask(prob, 0.5, 9.0, spacing=(1.0, 2.0)).sum() == 0
    # spacing (2, 1) gives the same areas; one number is isotropic: 4 mm² per pixel
    assert lesion_mask(prob, 0.5, 7.0, spacing=(2.0, 1.0)).sum() == 4
    assert lesion_mask(prob, 0.5, 13.0, spacing=2.0).sum() == 4
    with pytest.raises(ValueError, match="threshold"):
        lesion_mask(prob, 1.0)
    with pytest.raises(ValueError, match="min_size_mm3"):
        lesion_mask(prob, 0.5, -1.0)


def test_lesion_postprocessd_reads_spacing_and_returns_one_hot():
    prob, _ = _hand_case()
    softmax = torch.from_numpy(np.stack([1 - prob, prob])).float()
    meta = MetaTensor(softmax, affine=torch.diag(torch.tensor([1.0, 2.0, 1.0, 1.0])))  # a 2D image, 4x4 affine
    out = LesionPostprocessd("pred", threshold=0.5, min_size_mm3=9.0)({"pred": meta})["pred"]
    assert isinstance(out, MetaTensor) and out.shape == (2, 12, 12)
    assert out[1].sum() == 0 and out[0].sum() == 144  # A (8 mm²) and F (6 mm²) dropped
    kept = LesionPostprocessd("pred", threshold=0.2, min_size_mm3=9.0)({"pred": meta})["pred"]
    assert kept[1].sum() == 13  # the A-bridge-B component (13 voxels, 26 mm²); F dropped
    a_only = LesionPostprocessd("pred", threshold=0.5, min_size_mm3=7.0)({"pred": meta})["pred"]
    assert a_only[1].sum() == 4  # A kept (8 mm²), F dropped (6 mm²)
    label = LesionPostprocessd("pred", threshold=0.5, one_hot=False)({"pred": softmax})["pred"]
    assert label.shape == (1, 12, 12) and label.sum() == 7 and not isinstance(label, MetaTensor)
    with pytest.raises(ValueError, match="channel"):
        LesionPostprocessd("pred", channel=2)({"pred": softmax})
