"""The survey's notation (Jadon S., "A survey of loss functions for semantic segmentation", CIBCB 2020): each formula
as the survey writes it, computed directly on random inputs, against the call the README maps it to.

y is the binary target, ŷ the predicted probability; sums run over the voxels of one image, and the per-image losses
are averaged over the batch (the voxel losses are averaged over every voxel).
"""

from __future__ import annotations

import pytest
import torch

from monai_segloss import functional as F

D64 = torch.float64


def _data(seed: int = 0, hard: bool = False):
    """``(ŷ, y)`` of shape (2, 1, 8, 8): random probabilities (or a hard 0/1 prediction) and a binary target."""
    gen = torch.Generator().manual_seed(seed)
    y = (torch.rand(2, 1, 8, 8, generator=gen, dtype=D64) < 0.3).to(D64)
    p = torch.rand(2, 1, 8, 8, generator=gen, dtype=D64).clamp(0.01, 0.99)
    return ((p > 0.5).to(D64) if hard else p), y


def _per_image(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


def test_binary_cross_entropy():
    """L = -(y log ŷ + (1 - y) log(1 - ŷ))."""
    p, y = _data()
    survey = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    torch.testing.assert_close(F.bce_loss(p, y), survey)
    torch.testing.assert_close(F.bce_loss(torch.logit(p), y, sigmoid=True), survey)  # from logits


@pytest.mark.parametrize("beta", [0.3, 2.0, 10.0])
def test_weighted_binary_cross_entropy(beta):
    """L = -(β y log ŷ + (1 - y) log(1 - ŷ)): β weighs the positives -> ``bce(pos_weight=β)``."""
    p, y = _data(1)
    survey = -(beta * y * p.log() + (1 - y) * (1 - p).log()).mean()
    torch.testing.assert_close(F.bce_loss(p, y, pos_weight=beta), survey)


@pytest.mark.parametrize("beta", [0.2, 0.5, 0.9])
def test_balanced_cross_entropy(beta):
    """L = -(β y log ŷ + (1 - β)(1 - y) log(1 - ŷ)) -> ``balanced_ce(beta=β)``."""
    p, y = _data(2)
    survey = -(beta * y * p.log() + (1 - beta) * (1 - y) * (1 - p).log()).mean()
    torch.testing.assert_close(F.balanced_ce_loss(p, y, beta=beta), survey)


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (0.75, 0.5), (0.5, 0.0)])
def test_focal(alpha, gamma):
    """L = -α_t (1 - p_t)^γ log p_t, p_t = ŷ where y = 1 and 1 - ŷ where y = 0, α_t = α and 1 - α alike
    -> ``focal(alpha=α, gamma=γ)`` (binary: a sigmoid from logits, or probabilities)."""
    p, y = _data(3)
    p_t = torch.where(y == 1, p, 1 - p)
    a_t = torch.where(y == 1, torch.full_like(p, alpha), torch.full_like(p, 1 - alpha))
    survey = (-a_t * (1 - p_t) ** gamma * p_t.log()).mean()
    torch.testing.assert_close(F.focal_loss(p, y, alpha=alpha, gamma=gamma), survey)
    torch.testing.assert_close(F.focal_loss(torch.logit(p), y, sigmoid=True, alpha=alpha, gamma=gamma), survey)


def test_dice():
    """L = 1 - (2 y·ŷ + 1) / (y + ŷ + 1), the +1 in numerator and denominator -> ``dice(smooth_nr=1, smooth_dr=1)``."""
    p, y = _data(4)
    survey = (1 - (2 * _per_image(y * p) + 1) / (_per_image(y) + _per_image(p) + 1)).mean()
    torch.testing.assert_close(F.dice_loss(p, y, smooth_nr=1.0, smooth_dr=1.0), survey)


@pytest.mark.parametrize("beta", [0.3, 0.5, 0.7])
def test_tversky(beta):
    """L = 1 - (1 + y·ŷ) / (1 + y·ŷ + β (1 - y)·ŷ + (1 - β) y·(1 - ŷ)): the survey's single β weighs the false
    positives and 1 - β the false negatives -> ``tversky(alpha=β, beta=1 - β, smooth_nr=1, smooth_dr=1)``; at
    β = 1/2 the (unsmoothed) index is the Dice coefficient."""
    p, y = _data(5)
    tp = _per_image(y * p)
    survey = (1 - (1 + tp) / (1 + tp + beta * _per_image((1 - y) * p) + (1 - beta) * _per_image(y * (1 - p)))).mean()
    ours = F.tversky_loss(p, y, alpha=beta, beta=1 - beta, smooth_nr=1.0, smooth_dr=1.0)
    torch.testing.assert_close(ours, survey)
    if beta == 0.5:
        unsmoothed = dict(smooth_nr=0.0, smooth_dr=0.0)
        torch.testing.assert_close(F.tversky_loss(p, y, alpha=0.5, beta=0.5, **unsmoothed),
                                   F.dice_loss(p, y, **unsmoothed))


@pytest.mark.parametrize("w", [0.05, 0.5, 0.9])
def test_sensitivity_specificity(w):
    """L = w · sensitivity + (1 - w) · specificity, with the terms of Brosch et al. (2015), which the survey cites:
    the mean squared errors over the target voxels and over the background, Σ(y - ŷ)² y / Σy and
    Σ(y - ŷ)² (1 - y) / Σ(1 - y) -> ``sensitivity_specificity(r=w, smooth_dr=0)``. On a hard prediction these are
    1 - TP / (TP + FN) and 1 - TN / (TN + FP): the loss is 1 - (w · sensitivity + (1 - w) · specificity) with the
    survey's sensitivity and specificity."""
    p, y = _data(6)
    sens = _per_image((y - p) ** 2 * y) / _per_image(y)
    spec = _per_image((y - p) ** 2 * (1 - y)) / _per_image(1 - y)
    torch.testing.assert_close(F.sensitivity_specificity_loss(p, y, r=w, smooth_dr=0.0),
                               (w * sens + (1 - w) * spec).mean())
    h, y = _data(6, hard=True)
    tp, fn = _per_image(h * y), _per_image((1 - h) * y)
    tn, fp = _per_image((1 - h) * (1 - y)), _per_image(h * (1 - y))
    survey = (1 - (w * tp / (tp + fn) + (1 - w) * tn / (tn + fp))).mean()
    torch.testing.assert_close(F.sensitivity_specificity_loss(h, y, r=w, smooth_dr=0.0), survey)
