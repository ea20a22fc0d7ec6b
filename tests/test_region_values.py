"""Hand-computed values of every region loss on small examples (TP/FP/FN worked out by hand in the comments).

Example A, binary, (B, C, N) = (1, 1, 4): p = [0.9, 0.2, 0.6, 0.1], g = [1, 0, 1, 0]
    TP = 0.9 + 0.6 = 1.5, FP = 0.2 + 0.1 = 0.3, FN = 0.1 + 0.4 = 0.5, TN = 0.8 + 0.9 = 1.7,
    Σp = 1.8, Σg = 2, Σp² = 0.81 + 0.04 + 0.36 + 0.01 = 1.22.

Example B, multi-class, C = 3, one sample of 2x3 voxels, labels [[0, 1, 2], [1, 1, 0]], probabilities per voxel
    v0 (0): [0.7, 0.2, 0.1]   v1 (1): [0.1, 0.8, 0.1]   v2 (2): [0.2, 0.3, 0.5]
    v3 (1): [0.3, 0.6, 0.1]   v4 (1): [0.1, 0.5, 0.4]   v5 (0): [0.6, 0.1, 0.3]
    class 0: TP = 0.7 + 0.6 = 1.3, Σp = 2.0, Σg = 2 -> FP = 0.7, FN = 0.7
    class 1: TP = 0.8 + 0.6 + 0.5 = 1.9, Σp = 2.5, Σg = 3 -> FP = 0.6, FN = 1.1
    class 2: TP = 0.5, Σp = 1.5, Σg = 1 -> FP = 1.0, FN = 0.5
"""

from __future__ import annotations

import math

import pytest
import torch

from monai_segloss import functional as F
from monai_segloss import get_loss

S = 1e-5  # default smooth_nr = smooth_dr


def _close(actual: torch.Tensor, expected, rtol: float = 1e-6) -> None:
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), rtol=rtol, atol=1e-9)


# ---------------------------------------------------------------- example A (binary)

def _a() -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor([[[0.9, 0.2, 0.6, 0.1]]], dtype=torch.float64),
            torch.tensor([[[1.0, 0.0, 1.0, 0.0]]], dtype=torch.float64))


TP, FP, FN = 1.5, 0.3, 0.5
DICE_A = 1 - (2 * TP + S) / (2 * TP + FP + FN + S)  # 1 - 3/3.8 = 0.2105
TVERSKY_A = 1 - (TP + S) / (TP + 0.3 * FP + 0.7 * FN + S)  # 1 - 1.5/1.94 = 0.2268


def test_dice_binary_by_hand():
    x, y = _a()
    _close(get_loss("dice")(x, y), DICE_A)
    assert abs(DICE_A - 0.8 / 3.8) < 1e-5
    # V-Net form: 1 - 2Σpg / (Σp² + Σg²) = 1 - 3 / 3.22
    _close(get_loss("dice", squared_pred=True)(x, y), 1 - (2 * TP + S) / (1.22 + 2 + S))
    # logits through the sigmoid give the same
    _close(get_loss("dice", sigmoid=True)(torch.logit(x), y), DICE_A)
    # a binary label map with to_onehot_y (C = 1) is its own target
    _close(get_loss("dice", to_onehot_y=True)(x, y.long()), DICE_A)


def test_jaccard_binary_by_hand():
    x, y = _a()
    # MONAI's form: 1 - (2TP + s)/(2(TP + FP + FN) + s) = 1 - IoU = 1 - 1.5/2.3 without smoothing
    expected = 1 - (2 * TP + S) / (2 * (TP + FP + FN) + S)
    _close(get_loss("jaccard")(x, y), expected)
    assert abs(expected - (1 - 1.5 / 2.3)) < 1e-5
    _close(get_loss("dice", jaccard=True)(x, y), expected)
    # squared: TP + FP + FN = Σp² + Σg² - Σpg = 1.22 + 2 - 1.5
    _close(get_loss("jaccard", squared_pred=True)(x, y), 1 - (2 * TP + S) / (2 * (1.22 + 2 - 1.5) + S))


def test_tversky_binary_by_hand():
    x, y = _a()
    _close(get_loss("tversky")(x, y), TVERSKY_A)
    assert abs(TVERSKY_A - (1 - 1.5 / 1.94)) < 1e-5
    half = 1 - (TP + S) / (TP + 0.5 * FP + 0.5 * FN + S)  # α = β = 1/2 is Dice (up to the smoothing)
    _close(get_loss("tversky", alpha=0.5, beta=0.5)(x, y), half)
    assert half == pytest.approx(DICE_A, abs=1e-5)
    _close(get_loss("tversky", alpha=1.0, beta=1.0)(x, y), 1 - (TP + S) / (TP + FP + FN + S))  # Jaccard/IoU
    _close(get_loss("tversky", alpha=0.0, beta=1.0)(x, y), 1 - (TP + S) / (TP + FN + S))  # 1 - recall


def test_focal_tversky_binary_by_hand():
    x, y = _a()
    _close(get_loss("focal_tversky")(x, y), TVERSKY_A ** 0.75)  # γ = 4/3 -> exponent 3/4
    _close(get_loss("focal_tversky", gamma=1.0)(x, y), TVERSKY_A)
    half = 1 - (TP + S) / (TP + 0.5 * FP + 0.5 * FN + S)
    _close(get_loss("focal_tversky", gamma=2.0, alpha=0.5, beta=0.5)(x, y), half ** 0.5)


def test_log_cosh_dice_binary_by_hand():
    x, y = _a()
    _close(get_loss("log_cosh_dice")(x, y), math.log(math.cosh(DICE_A)))
    assert math.log(math.cosh(DICE_A)) == pytest.approx(0.02199, abs=1e-4)


def test_sensitivity_specificity_binary_by_hand():
    x, y = _a()
    # sensitivity error Σ(g-p)²g / Σg = (0.1² + 0.4²)/2 = 0.085; specificity error Σ(g-p)²(1-g)/Σ(1-g)
    # = (0.2² + 0.1²)/2 = 0.025
    sens, spec = 0.17 / (2 + S), 0.05 / (2 + S)
    _close(get_loss("sensitivity_specificity")(x, y), 0.05 * sens + 0.95 * spec)
    assert 0.05 * sens + 0.95 * spec == pytest.approx(0.028, abs=1e-5)
    _close(get_loss("sensitivity_specificity", r=0.5)(x, y), 0.5 * sens + 0.5 * spec)
    _close(get_loss("sensitivity_specificity", r=1.0)(x, y), sens)


def test_generalized_dice_binary_by_hand():
    x, y = _a()
    w = 1 / 2 ** 2  # 1/(Σg)²
    _close(get_loss("generalized_dice")(x, y), 1 - (2 * w * TP + S) / (w * (1.8 + 2) + S))
    _close(get_loss("generalized_dice", w_type="simple")(x, y), 1 - (2 * 0.5 * TP + S) / (0.5 * 3.8 + S))
    _close(get_loss("generalized_dice", w_type="uniform")(x, y), DICE_A)


def test_binary_batch_statistics_by_hand():
    """Sample 2: p = [0.5, 0.5, 0, 1], g = [1, 1, 0, 0]: TP = 1, FP = 1, FN = 1. batch=True sums the statistics
    first: TP = 2.5, FP = 1.3, FN = 1.5."""
    x, y = _a()
    x = torch.cat([x, torch.tensor([[[0.5, 0.5, 0.0, 1.0]]], dtype=torch.float64)])
    y = torch.cat([y, torch.tensor([[[1.0, 1.0, 0.0, 0.0]]], dtype=torch.float64)])
    second = 1 - (2 + S) / (2 + 2 + S)
    _close(get_loss("dice")(x, y), (DICE_A + second) / 2)
    _close(get_loss("dice", reduction="none")(x, y), [[DICE_A], [second]])
    _close(get_loss("dice", reduction="sum")(x, y), DICE_A + second)
    _close(get_loss("dice", batch=True)(x, y), 1 - (5 + S) / (5 + 1.3 + 1.5 + S))
    _close(get_loss("dice", batch=True, reduction="none")(x, y), [1 - (5 + S) / (5 + 2.8 + S)])
    _close(get_loss("tversky", batch=True)(x, y), 1 - (2.5 + S) / (2.5 + 0.3 * 1.3 + 0.7 * 1.5 + S))


# ---------------------------------------------------------------- example B (multi-class)

PROBS_B = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.3, 0.6, 0.1], [0.1, 0.5, 0.4], [0.6, 0.1, 0.3]]
LABELS_B = [0, 1, 2, 1, 1, 0]
TP_B, FP_B, FN_B = [1.3, 1.9, 0.5], [0.7, 0.6, 1.0], [0.7, 1.1, 0.5]
PSUM_B, GSUM_B = [2.0, 2.5, 1.5], [2, 3, 1]


def _b() -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.tensor(PROBS_B, dtype=torch.float64).T.reshape(1, 3, 2, 3)
    y = torch.tensor(LABELS_B).reshape(1, 1, 2, 3)
    return p, y


def _onehot(y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(y[:, 0], 3).movedim(-1, 1).double()


def _dice_b(c: int) -> float:
    return 1 - (2 * TP_B[c] + S) / (2 * TP_B[c] + FP_B[c] + FN_B[c] + S)


def _tversky_b(c: int, a: float = 0.3, b: float = 0.7) -> float:
    return 1 - (TP_B[c] + S) / (TP_B[c] + a * FP_B[c] + b * FN_B[c] + S)


def test_example_b_statistics_are_consistent():
    for c in range(3):
        assert TP_B[c] + FP_B[c] == pytest.approx(PSUM_B[c]) and TP_B[c] + FN_B[c] == pytest.approx(GSUM_B[c])
    assert [round(_dice_b(c), 4) for c in range(3)] == [0.35, 0.3091, 0.6]


@pytest.mark.parametrize("target", ["label", "onehot"])
def test_dice_multiclass_by_hand(target):
    p, y = _b()
    kw = {"to_onehot_y": True} if target == "label" else {}
    t = y if target == "label" else _onehot(y)
    d = [_dice_b(c) for c in range(3)]
    _close(get_loss("dice", **kw)(p, t), sum(d) / 3)
    _close(get_loss("dice", reduction="none", **kw)(p, t), [d])
    _close(get_loss("dice", include_background=False, **kw)(p, t), (d[1] + d[2]) / 2)
    _close(get_loss("dice", exclude_channels=[1], **kw)(p, t), (d[0] + d[2]) / 2)
    _close(get_loss("dice", weight=[1.0, 2.0, 3.0], **kw)(p, t), (d[0] + 2 * d[1] + 3 * d[2]) / 3)
    # a weight of the kept channels' length, or of length C by channel id
    _close(get_loss("dice", include_background=False, weight=[2.0, 3.0], **kw)(p, t), (2 * d[1] + 3 * d[2]) / 2)
    _close(get_loss("dice", include_background=False, weight=[7.0, 2.0, 3.0], **kw)(p, t),
           (2 * d[1] + 3 * d[2]) / 2)
    # softmax of log-probabilities is the identity
    _close(get_loss("dice", softmax=True, **kw)(torch.log(p), t), sum(d) / 3)


def test_tversky_and_focal_tversky_multiclass_by_hand():
    p, y = _b()
    t = [_tversky_b(c) for c in range(3)]  # 1 - 1.3/2, 1 - 1.9/2.85, 1 - 0.5/1.15
    assert [round(v, 4) for v in t] == [0.35, 0.3333, 0.5652]
    _close(get_loss("tversky", to_onehot_y=True)(p, y), sum(t) / 3)
    _close(get_loss("focal_tversky", to_onehot_y=True)(p, y), sum(v ** 0.75 for v in t) / 3)
    _close(get_loss("focal_tversky", to_onehot_y=True, gamma=2.0, reduction="none")(p, y), [[v ** 0.5 for v in t]])


def test_generalized_dice_multiclass_by_hand():
    p, y = _b()
    for w_type, w in [("square", [1 / 4, 1 / 9, 1.0]), ("simple", [1 / 2, 1 / 3, 1.0]), ("uniform", [1, 1, 1])]:
        numer = 2 * sum(w[c] * TP_B[c] for c in range(3)) + S
        denom = sum(w[c] * (PSUM_B[c] + GSUM_B[c]) for c in range(3)) + S
        _close(get_loss("generalized_dice", to_onehot_y=True, w_type=w_type)(p, y), 1 - numer / denom)
    # square: 1 - 2.072222/4.111111
    assert 1 - (2 * (1.3 / 4 + 1.9 / 9 + 0.5)) / (1 + 5.5 / 9 + 2.5) == pytest.approx(0.495946, abs=1e-6)


def test_generalized_dice_user_weight_multiplies_sudre_weights():
    """weight = [1, 2, 0.5] scales the Sudre weights [1/4, 1/9, 1] of example B; include_background=False with a
    weight of the kept channels' length scores classes 1 and 2 only."""
    p, y = _b()
    w = [1 / 4 * 1.0, 1 / 9 * 2.0, 1.0 * 0.5]
    numer = 2 * sum(w[c] * TP_B[c] for c in range(3)) + S
    denom = sum(w[c] * (PSUM_B[c] + GSUM_B[c]) for c in range(3)) + S
    _close(get_loss("generalized_dice", to_onehot_y=True, weight=[1.0, 2.0, 0.5])(p, y), 1 - numer / denom)
    w = [1 / 9 * 2.0, 1.0 * 0.5]
    numer = 2 * (w[0] * TP_B[1] + w[1] * TP_B[2]) + S
    denom = w[0] * (PSUM_B[1] + GSUM_B[1]) + w[1] * (PSUM_B[2] + GSUM_B[2]) + S
    _close(get_loss("generalized_dice", to_onehot_y=True, include_background=False, weight=[2.0, 0.5])(p, y),
           1 - numer / denom)


def test_exclude_channels_with_kept_weight_by_hand():
    p, y = _b()
    d = [_dice_b(c) for c in range(3)]
    _close(get_loss("dice", to_onehot_y=True, exclude_channels=[1], weight=[2.0, 4.0], reduction="sum")(p, y),
           2 * d[0] + 4 * d[2])
    _close(get_loss("tversky", to_onehot_y=True, exclude_channels=[0, 2], reduction="none")(p, y),
           [[_tversky_b(1)]])


def test_generalized_dice_empty_class_takes_the_largest_weight():
    """Class 2 removed from the target (v2 relabelled 1): its weight 1/0² is replaced by the largest weight of the
    sample, 1/4 (class 0), as in MONAI. Class 1 then has Σg = 4, TP = 1.9 + 0.3 = 2.2."""
    p, y = _b()
    y = y.clone()
    y[0, 0, 0, 2] = 1
    w = [1 / 4, 1 / 16, 1 / 4]
    tp, psum, gsum = [1.3, 2.2, 0.0], PSUM_B, [2, 4, 0]
    numer = 2 * sum(w[c] * tp[c] for c in range(3)) + S
    denom = sum(w[c] * (psum[c] + gsum[c]) for c in range(3)) + S
    _close(get_loss("generalized_dice", to_onehot_y=True)(p, y), 1 - numer / denom)


def test_log_cosh_and_jaccard_multiclass_by_hand():
    p, y = _b()
    d = [_dice_b(c) for c in range(3)]
    _close(get_loss("log_cosh_dice", to_onehot_y=True)(p, y), sum(math.log(math.cosh(v)) for v in d) / 3)
    j = [1 - (2 * TP_B[c] + S) / (2 * (TP_B[c] + FP_B[c] + FN_B[c]) + S) for c in range(3)]
    _close(get_loss("jaccard", to_onehot_y=True, reduction="sum")(p, y), sum(j))


def test_sensitivity_specificity_multiclass_by_hand():
    """class 0: Σ(g-p)²g = 0.3² + 0.4² = 0.25, Σp² off-class = 0.1² + 0.2² + 0.3² + 0.1² = 0.15 (4 voxels)
    class 1: 0.2² + 0.4² + 0.5² = 0.45 (3 voxels), off-class 0.2² + 0.3² + 0.1² = 0.14 (3 voxels)
    class 2: 0.5² = 0.25 (1 voxel), off-class 0.1² + 0.1² + 0.1² + 0.4² + 0.3² = 0.28 (5 voxels)"""
    p, y = _b()
    sens = [0.25 / (2 + S), 0.45 / (3 + S), 0.25 / (1 + S)]
    spec = [0.15 / (4 + S), 0.14 / (3 + S), 0.28 / (5 + S)]
    per_class = [0.05 * sens[c] + 0.95 * spec[c] for c in range(3)]
    _close(get_loss("sensitivity_specificity", to_onehot_y=True, reduction="none")(p, y), [per_class])
    _close(get_loss("sensitivity_specificity", to_onehot_y=True)(p, y), sum(per_class) / 3)
    _close(get_loss("sensitivity_specificity")(p, _onehot(y)), sum(per_class) / 3)


def test_ignore_index_and_mask_by_hand():
    """v5 (label 0, p = [0.6, 0.1, 0.3]) ignored: class 0 loses TP 0.6, class 1 FP 0.1, class 2 FP 0.3."""
    p, y = _b()
    tp, fp, fn = [0.7, 1.9, 0.5], [0.7, 0.5, 0.7], [0.3, 1.1, 0.5]
    d = [1 - (2 * tp[c] + S) / (2 * tp[c] + fp[c] + fn[c] + S) for c in range(3)]
    y_ign = y.clone()
    y_ign[0, 0, 1, 2] = 255
    _close(get_loss("dice", to_onehot_y=True, ignore_index=255)(p, y_ign), sum(d) / 3)
    mask = torch.ones(1, 1, 2, 3)
    mask[0, 0, 1, 2] = 0
    _close(get_loss("dice", to_onehot_y=True)(p, y, mask=mask), sum(d) / 3)
    _close(F.dice_loss(p, y, mask, to_onehot_y=True), sum(d) / 3)
    # one-hot target: a voxel is ignored when every channel holds ignore_index
    oh = _onehot(y)
    oh[0, :, 1, 2] = -1
    _close(get_loss("dice", ignore_index=-1)(p, oh), sum(d) / 3)


def test_ignore_index_real_class_by_hand():
    """ignore_index=2: v2 is ignored and class 2 is not scored. Class 0 loses FP 0.2, class 1 FP 0.3."""
    p, y = _b()
    d0 = 1 - (2 * 1.3 + S) / (2 * 1.3 + 0.5 + 0.7 + S)
    d1 = 1 - (2 * 1.9 + S) / (2 * 1.9 + 0.3 + 1.1 + S)
    _close(get_loss("dice", to_onehot_y=True, ignore_index=2)(p, y), (d0 + d1) / 2)
    _close(get_loss("dice", to_onehot_y=True, ignore_index=2, reduction="none")(p, y), [[d0, d1]])


def test_functional_forms_equal_the_modules():
    p, y = _b()
    pairs = {"dice": F.dice_loss, "jaccard": F.jaccard_loss, "generalized_dice": F.generalized_dice_loss,
             "tversky": F.tversky_loss, "focal_tversky": F.focal_tversky_loss, "log_cosh_dice": F.log_cosh_dice_loss,
             "sensitivity_specificity": F.sensitivity_specificity_loss}
    for key, fn in pairs.items():
        torch.testing.assert_close(fn(p, y, to_onehot_y=True, reduction="none"),
                                   get_loss(key, to_onehot_y=True, reduction="none")(p, y))


@pytest.mark.parametrize("key", ["dice", "jaccard", "generalized_dice", "tversky", "focal_tversky", "log_cosh_dice",
                                 "sensitivity_specificity"])
def test_label_map_is_never_expanded_to_one_hot(key, monkeypatch):
    """The region losses score a label map without building a (B, C, *S) one-hot tensor (docs/ARCHITECTURE.md §2)."""
    p, y = _b()
    expected = get_loss(key, reduction="none")(p, _onehot(y))  # the one-hot path, before one_hot is forbidden

    def forbidden(*args, **kwargs):
        raise AssertionError("one_hot was called")

    monkeypatch.setattr(torch.nn.functional, "one_hot", forbidden)
    x = p.clone().requires_grad_(True)
    out = get_loss(key, to_onehot_y=True, reduction="none")(x, y)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_neg_log_is_minus_log_above_eps_and_its_tangent_below():
    from monai_segloss.core.scores import neg_log

    x = torch.tensor([1.0, 0.5, 1e-6, 1e-12, 5e-13, 0.0], dtype=torch.float64, requires_grad=True)
    y = neg_log(x)
    eps = 1e-12
    expected = [0.0, math.log(2), -math.log(1e-6), -math.log(eps), -math.log(eps) + 0.5, -math.log(eps) + 1]
    assert y.tolist() == pytest.approx(expected, rel=1e-12)
    y.sum().backward()
    assert x.grad.tolist()[:3] == pytest.approx([-1.0, -2.0, -1e6], rel=1e-12)
    assert x.grad.tolist()[4:] == pytest.approx([-1 / eps, -1 / eps], rel=1e-12)


# ---------------------------------------------------------------------------------------------- soft_label

def test_soft_label_is_wang_decoupled_dice_by_hand():
    """Wang et al. 2023: ``1 - (Σp + Σg - Σ|p - g| + s) / (Σp + Σg + s)``; a prediction equal to a soft target scores
    0, where the classic soft Dice ``2Σpg / (Σp + Σg)`` does not."""
    p = torch.tensor([[[0.3, 0.4, 0.7, 0.9]]], dtype=torch.float64)
    g = torch.tensor([[[0.2, 0.4, 1.0, 0.5]]], dtype=torch.float64)
    s = 1e-5
    expected = 1 - (p.sum() + g.sum() - (p - g).abs().sum() + s) / (p.sum() + g.sum() + s)
    torch.testing.assert_close(F.dice_loss(p, g, soft_label=True), expected)
    classic = 1 - (2 * (p * g).sum() + s) / (p.sum() + g.sum() + s)
    torch.testing.assert_close(F.dice_loss(p, g), classic)
    assert float(F.dice_loss(p, p, soft_label=True)) == pytest.approx(0.0, abs=1e-12)
    assert float(F.dice_loss(p, p)) > 0.1
    tp = (p.sum() + g.sum() - (p - g).abs().sum()) / 2  # Tversky and Jaccard on the same TP, FP = Σp - TP, FN = Σg - TP
    fp, fn = p.sum() - tp, g.sum() - tp
    torch.testing.assert_close(F.tversky_loss(p, g, soft_label=True, alpha=0.3, beta=0.7),
                               1 - (tp + s) / (tp + 0.3 * fp + 0.7 * fn + s))
    torch.testing.assert_close(F.jaccard_loss(p, g, soft_label=True), 1 - (2 * tp + s) / (2 * (tp + fp + fn) + s))


@pytest.mark.parametrize("key", ["dice", "tversky", "generalized_dice", "focal_tversky"])
def test_soft_label_changes_nothing_for_hard_targets(key):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 5, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 1, 5, 4), generator=gen)
    onehot = torch.nn.functional.one_hot(y[:, 0], 3).movedim(-1, 1).double()
    for target, kw in ((y, {"to_onehot_y": True}), (onehot, {})):
        hard = get_loss(key, softmax=True, reduction="none", **kw)(x, target)
        torch.testing.assert_close(get_loss(key, softmax=True, soft_label=True, reduction="none", **kw)(x, target),
                                   hard)


def test_soft_label_is_refused_where_it_does_not_apply():
    with pytest.raises(ValueError, match="soft_label does not apply to the sensitivity-specificity"):
        get_loss("sensitivity_specificity", soft_label=True)
    with pytest.raises(TypeError, match="soft_label must be a bool"):
        get_loss("dice", soft_label=1)


def test_scalar_weight_is_one_weight_per_class():
    """MONAI accepts one number (or a 0-d tensor) as the weight of every class."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 5, 4, generator=gen)
    y = torch.randint(0, 3, (2, 1, 5, 4), generator=gen)
    for key in ("dice", "focal", "cross_entropy", "hausdorff_dt"):
        kw = dict(softmax=True, to_onehot_y=True, include_background=False)
        listed = get_loss(key, weight=[2.0, 2.0, 2.0], **kw)(x, y)
        torch.testing.assert_close(get_loss(key, weight=2.0, **kw)(x, y), listed)
        torch.testing.assert_close(get_loss(key, weight=torch.tensor(2.0), **kw)(x, y), listed)
