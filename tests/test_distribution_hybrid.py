"""Hybrid losses: unified focal (Yeung 2022), exp-log (Wong 2018), combo (Taghanaki 2019), against the papers'
equations transcribed here and hand-computed examples."""

from __future__ import annotations

import math

import pytest
import torch
from monai.losses.unified_focal_loss import AsymmetricFocalLoss, AsymmetricFocalTverskyLoss

import monai_segloss as M
from monai_segloss import functional as MF

D64 = torch.float64
EXACT = {"smooth_nr": 0.0, "smooth_dr": 0.0, "empty": "skip"}  # unsmoothed scores, for hand computation


def _close(a, b, tol=1e-9):
    a, b = torch.as_tensor(a, dtype=D64), torch.as_tensor(b, dtype=D64)
    assert torch.allclose(a, b, rtol=tol, atol=tol), (a, b)


# ---------------------------------------------------------------- unified focal, binary: the paper's equations

def _paper_unified_binary(p, g, lam, delta, gamma, eps, variant):
    """Yeung et al. 2022, binary case, written from the equations with explicit sums over the N voxels.

    Two classes: r = foreground (rare, probability p), b = background (probability 1 - p).
      modified focal    L_mF  = (1/N) Σ_i [-(1-δ)(1-p_{i,b})^γ y_{i,b} ln p_{i,b} - δ(1-p_{i,r})^γ y_{i,r} ln p_{i,r}]
      asymmetric focal  L_maF = (1/N) Σ_i [ -(1-δ)(1-p_{i,b})^γ y_{i,b} ln p_{i,b}  - δ y_{i,r} ln p_{i,r} ]
      modified Tversky  mTI_c = (Σ p_c y_c + ε) / (Σ p_c y_c + δ Σ (1-p_c) y_c + (1-δ) Σ p_c (1-y_c) + ε)
      focal Tversky     L_mFT  = (1/2) Σ_c (1 - mTI_c)^(1-γ)
      asymmetric        L_maFT = (1/2) [ (1 - mTI_b) + (1 - mTI_r)^(1-γ) ]
      unified           L = λ L_m(a)F + (1-λ) L_m(a)FT
    """
    pr, yr = p.flatten().tolist(), g.flatten().tolist()
    n = len(pr)
    focal = 0.0
    for i in range(n):
        p_r, p_b, y_r, y_b = pr[i], 1 - pr[i], yr[i], 1 - yr[i]
        back = -(1 - delta) * (1 - p_b) ** gamma * y_b * math.log(p_b)
        fore_factor = 1.0 if variant == "asymmetric" else (1 - p_r) ** gamma
        fore = -delta * fore_factor * y_r * math.log(p_r)
        focal += back + fore
    focal /= n

    def mti(ps, ys):
        tp = sum(a * b for a, b in zip(ps, ys, strict=True))
        fn = sum((1 - a) * b for a, b in zip(ps, ys, strict=True))
        fp = sum(a * (1 - b) for a, b in zip(ps, ys, strict=True))
        return (tp + eps) / (tp + delta * fn + (1 - delta) * fp + eps)

    m_r = mti(pr, yr)
    m_b = mti([1 - a for a in pr], [1 - b for b in yr])
    if variant == "asymmetric":
        tversky = 0.5 * ((1 - m_b) + (1 - m_r) ** (1 - gamma))
    else:
        tversky = 0.5 * ((1 - m_b) ** (1 - gamma) + (1 - m_r) ** (1 - gamma))
    return lam * focal + (1 - lam) * tversky


@pytest.mark.parametrize("variant", ["asymmetric", "symmetric"])
@pytest.mark.parametrize("lam,delta,gamma", [(0.5, 0.6, 0.5), (0.3, 0.7, 0.2)])
def test_unified_focal_binary_matches_paper(variant, lam, delta, gamma):
    gen = torch.Generator().manual_seed(3)
    p = torch.rand(1, 1, 4, 5, generator=gen, dtype=D64) * 0.9 + 0.05
    g = (torch.rand(1, 1, 4, 5, generator=gen) > 0.7).to(D64)
    eps = 1e-7
    ours = MF.unified_focal_loss(p, g, variant=variant, lambda_focal=lam, delta=delta, gamma=gamma, smooth_nr=eps,
                                 smooth_dr=eps)
    _close(ours, _paper_unified_binary(p, g, lam, delta, gamma, eps, variant), 1e-10)
    # from logits with sigmoid: the same loss on sigmoid(x)
    x = torch.logit(p)
    _close(MF.unified_focal_loss(x, g, sigmoid=True, variant=variant, lambda_focal=lam, delta=delta, gamma=gamma,
                                 smooth_nr=eps, smooth_dr=eps), ours, 1e-9)


def test_unified_focal_binary_vs_monai_terms():
    """MONAI's asymmetric terms (binary only): its focal term averages the two classes (we sum them, as the
    reference implementation), its Tversky term is ours."""
    gen = torch.Generator().manual_seed(5)
    p = torch.rand(2, 1, 6, 6, generator=gen) * 0.9 + 0.05
    g = (torch.rand(2, 1, 6, 6, generator=gen) > 0.6).float()
    p2, g2 = torch.cat([1 - p, p], 1), torch.cat([1 - g, g], 1)
    delta, gamma = 0.6, 0.5
    focal_m = AsymmetricFocalLoss(delta=delta, gamma=gamma)(p2, g2)
    tversky_m = AsymmetricFocalTverskyLoss(delta=delta, gamma=gamma)(p2, g2)
    # MONAI's Tversky term is averaged over (sample, class): ours per sample is the same with batch units
    ours_f = MF.unified_focal_loss(p, g, lambda_focal=1.0, delta=delta, gamma=gamma)
    ours_t = MF.unified_focal_loss(p, g, lambda_focal=0.0, delta=delta, gamma=gamma, smooth_nr=1e-7, smooth_dr=1e-7)
    _close(ours_f, 2 * focal_m, 1e-5)
    _close(ours_t, tversky_m, 1e-5)


def test_unified_focal_three_class_asymmetric_by_hand():
    # 1 sample, 3 voxels with labels 0, 1, 2; classes 1 and 2 are rare (the default: every channel but 0)
    p = torch.tensor([[[0.7, 0.2, 0.1],
                       [0.2, 0.5, 0.3],
                       [0.1, 0.3, 0.6]]], dtype=D64)
    y = torch.tensor([[[0, 1, 2]]])
    delta, gamma, lam = 0.6, 0.5, 0.5
    # modified asymmetric focal: background voxel (1-δ)(1-p)^γ(-ln p); rare voxels δ(-ln p); mean over voxels
    focal = ((1 - delta) * 0.3 ** 0.5 * -math.log(0.7) + delta * -math.log(0.5) + delta * -math.log(0.6)) / 3
    # modified Tversky index per class, TP / (TP + δ FN + (1-δ) FP):
    #   class 0: TP 0.7, FN 0.3, FP 0.2+0.1 = 0.3 -> 0.7 / (0.7 + 0.18 + 0.12) = 0.7
    #   class 1: TP 0.5, FN 0.5, FP 0.2+0.3 = 0.5 -> 0.5 / (0.5 + 0.30 + 0.20) = 0.5
    #   class 2: TP 0.6, FN 0.4, FP 0.1+0.3 = 0.4 -> 0.6 / (0.6 + 0.24 + 0.16) = 0.6
    # asymmetric: background 1 - mTI, rare (1 - mTI)^(1-γ); mean over classes
    tversky = ((1 - 0.7) + (1 - 0.5) ** 0.5 + (1 - 0.6) ** 0.5) / 3
    expected = lam * focal + (1 - lam) * tversky
    ours = MF.unified_focal_loss(p, y, to_onehot_y=True, delta=delta, gamma=gamma,
                                 lambda_focal=lam, **EXACT)
    _close(ours, expected, 1e-12)
    # the same numbers written out: -ln 0.7 = 0.35667494, -ln 0.5 = 0.69314718, -ln 0.6 = 0.51082562,
    # 0.3^0.5 = 0.54772256, 0.5^0.5 = 0.70710678, 0.4^0.5 = 0.63245553
    assert abs(expected - 0.5 * (0.4 * 0.54772256 * 0.35667494 + 0.6 * 0.69314718 + 0.6 * 0.51082562) / 3
               - 0.5 * (0.3 + 0.70710678 + 0.63245553) / 3) < 1e-7
    _close(expected, 0.40668159, 1e-8)
    # symmetric variant: focal on the rare voxels too, (1 - mTI)^(1-γ) for the background class too
    sym_focal = ((1 - delta) * 0.3 ** 0.5 * -math.log(0.7) + delta * 0.5 ** 0.5 * -math.log(0.5)
                 + delta * 0.4 ** 0.5 * -math.log(0.6)) / 3
    sym_tversky = ((1 - 0.7) ** 0.5 + (1 - 0.5) ** 0.5 + (1 - 0.6) ** 0.5) / 3
    _close(MF.unified_focal_loss(p, y, to_onehot_y=True, variant="symmetric", **EXACT),
           0.5 * sym_focal + 0.5 * sym_tversky, 1e-12)
    # rare_classes=(2,): class 1 becomes a background class
    focal_r2 = ((1 - delta) * 0.3 ** 0.5 * -math.log(0.7) + (1 - delta) * 0.5 ** 0.5 * -math.log(0.5)
                + delta * -math.log(0.6)) / 3
    tversky_r2 = ((1 - 0.7) + (1 - 0.5) + (1 - 0.6) ** 0.5) / 3
    _close(MF.unified_focal_loss(p, y, to_onehot_y=True, rare_classes=[2], **EXACT),
           0.5 * focal_r2 + 0.5 * tversky_r2, 1e-12)


def test_unified_focal_softmax_perfect_and_errors():
    x = torch.tensor([[[30.0, -30.0], [-30.0, 30.0], [-30.0, -30.0]]])
    y = torch.tensor([[[0, 1]]])
    assert float(MF.unified_focal_loss(x, y, softmax=True, to_onehot_y=True)) < 1e-4
    with pytest.raises(ValueError, match="rare_classes"):
        MF.unified_focal_loss(x, y, softmax=True, to_onehot_y=True, rare_classes=[5])
    with pytest.raises(ValueError, match="rare_classes"):
        MF.unified_focal_loss(x[:, :1], y, sigmoid=True, rare_classes=[0])
    with pytest.raises(ValueError, match="variant"):
        M.UnifiedFocalLoss(variant="both")
    with pytest.raises(ValueError, match="gamma"):
        M.UnifiedFocalLoss(gamma=1.0)


# ---------------------------------------------------------------- exp-log and combo, by hand

def test_exp_log_by_hand():
    # 1 sample, 2 classes, 3 voxels with labels 0, 0, 1 (probabilities given)
    p = torch.tensor([[[0.8, 0.6, 0.3],
                       [0.2, 0.4, 0.7]]], dtype=D64)
    y = torch.tensor([[[0, 0, 1]]])
    # Dice_0 = 2(0.8+0.6) / (1.7 + 2) = 2.8/3.7 ; Dice_1 = 2(0.7) / (1.3 + 1) = 1.4/2.3
    d0, d1 = 2.8 / 3.7, 1.4 / 2.3
    l_dice = ((-math.log(d0)) ** 0.3 + (-math.log(d1)) ** 0.3) / 2
    # label weights (Σf / f_l)^0.5: f_0 = 2, f_1 = 1 -> sqrt(3/2), sqrt(3)
    w0, w1 = math.sqrt(1.5), math.sqrt(3.0)
    l_cross = (w0 * (-math.log(0.8)) ** 0.3 + w0 * (-math.log(0.6)) ** 0.3 + w1 * (-math.log(0.7)) ** 0.3) / 3
    expected = 0.8 * l_dice + 0.2 * l_cross
    _close(MF.exp_log_loss(p, y, to_onehot_y=True, **EXACT), expected, 1e-12)
    # other exponents and weights, no frequency weighting
    expected2 = 0.5 * ((-math.log(d0)) ** 1.0 + (-math.log(d1)) ** 1.0) / 2 \
        + 0.5 * ((-math.log(0.8)) ** 2 + (-math.log(0.6)) ** 2 + (-math.log(0.7)) ** 2) / 3
    _close(MF.exp_log_loss(p, y, to_onehot_y=True, gamma_dice=1.0, gamma_cross=2.0, w_dice=0.5, w_cross=0.5,
                           frequency_weighting=False, **EXACT), expected2, 1e-12)


def test_exp_log_binary_by_hand():
    p = torch.tensor([[[0.9, 0.2, 0.4, 0.1]]], dtype=D64)
    g = torch.tensor([[[1.0, 0.0, 1.0, 0.0]]], dtype=D64)
    dice = 2 * (0.9 + 0.4) / (1.6 + 2)
    # positives and negatives of the channel: 2 each -> weights sqrt(4/2)
    w = math.sqrt(2.0)
    cross = w * ((-math.log(0.9)) ** 0.3 + (-math.log(0.8)) ** 0.3 + (-math.log(0.4)) ** 0.3
                 + (-math.log(0.9)) ** 0.3) / 4
    _close(MF.exp_log_loss(p, g, **EXACT), 0.8 * (-math.log(dice)) ** 0.3 + 0.2 * cross, 1e-12)


def test_combo_by_hand():
    p = torch.tensor([[[0.9, 0.2, 0.6]]], dtype=D64)
    g = torch.tensor([[[1.0, 0.0, 1.0]]], dtype=D64)
    alpha, beta = 0.5, 0.7
    # β-weighted CE: -(1/N) Σ [β g ln p + (1-β)(1-g) ln(1-p)]
    ce = -(beta * math.log(0.9) + (1 - beta) * math.log(0.8) + beta * math.log(0.6)) / 3
    dice = 2 * (0.9 + 0.6) / (1.7 + 2)
    expected = alpha * ce + (1 - alpha) * (1 - dice)
    _close(MF.combo_loss(p, g, alpha=alpha, ce_beta=beta, **EXACT), expected, 1e-12)
    _close(M.ComboLoss(alpha=0.25, ce_beta=beta, **EXACT)(p, g), 0.25 * ce + 0.75 * (1 - dice), 1e-12)


@pytest.mark.parametrize("key,kw", [("combo", {"sigmoid": True}), ("exp_log", {"softmax": True}),
                                    ("unified_focal", {"softmax": True}), ("unified_focal", {"sigmoid": True})])
def test_hybrid_none_mean_consistent(key, kw):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 4, 4, generator=gen, dtype=D64)
    y = torch.randint(0, 3, (2, 1, 4, 4), generator=gen)
    loss_none = M.get_loss(key, to_onehot_y=True, reduction="none", **kw)(x, y)
    loss_mean = M.get_loss(key, to_onehot_y=True, **kw)(x, y)
    assert loss_none.shape == (2, 3)
    _close(loss_none.mean(), loss_mean, 1e-10)
    batch_none = M.get_loss(key, to_onehot_y=True, reduction="none", batch=True, **kw)(x, y)
    assert batch_none.shape == (3,)
    _close(batch_none.mean(), M.get_loss(key, to_onehot_y=True, batch=True, **kw)(x, y), 1e-10)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("label_map", [True, False])
def test_unified_focal_voxel_term_is_focal_or_plain_ce_by_class(reduction, label_map):
    # λ = 1 leaves the voxel term: symmetric, every class is focal (α = 1-δ for the background, δ for the rare
    # classes); asymmetric with every class rare, none is (δ·CE); asymmetric with class 1 rare, only 0 and 2 are
    g = torch.Generator().manual_seed(7)
    x = 2 * torch.randn(2, 3, 5, 6, 4, generator=g)
    y = torch.randint(0, 3, (2, 1, 5, 6, 4), generator=g)
    t = y if label_map else torch.nn.functional.one_hot(y[:, 0], 3).movedim(-1, 1).float()
    kw = dict(softmax=True, to_onehot_y=label_map, lambda_focal=1.0, delta=0.7, gamma=0.4, reduction=reduction)
    sym = MF.unified_focal_loss(x, t, variant="symmetric", **kw)
    expected = MF.focal_loss(x, y, softmax=True, to_onehot_y=True, gamma=0.4, alpha=[0.3, 0.7, 0.7],
                             reduction=reduction)
    torch.testing.assert_close(sym, expected, rtol=1e-5, atol=1e-6)
    plain = MF.unified_focal_loss(x, t, rare_classes=(0, 1, 2), **kw)
    ce = MF.cross_entropy_loss(x, y, softmax=True, to_onehot_y=True, reduction=reduction)
    torch.testing.assert_close(plain, 0.7 * ce, rtol=1e-5, atol=1e-6)
    mixed = MF.unified_focal_loss(x, t, rare_classes=(1,), **kw)
    lp = torch.log_softmax(x, 1).gather(1, y)
    factor = torch.where(y == 1, torch.ones_like(lp), (1 - lp.exp()) ** 0.4)
    terms = -torch.where(y == 1, 0.7, 0.3) * factor * lp
    torch.testing.assert_close(mixed, terms.mean() if reduction == "mean" else terms.sum(), rtol=1e-5, atol=1e-6)
