"""Stage 3: scores and their transforms, pure functions of the confusion statistics (one formula each).

All take and return tensors of the same shape (one value per unit); ``s_nr``/``s_dr`` are the smoothing terms. The
statistics are non-negative, so with ``s_dr > 0`` every denominator is positive and the ratios are plain
divisions.
"""

from __future__ import annotations

import math

import torch

from .reduce import safe_ratio

__all__ = ["dice_score", "jaccard_score", "tversky_index", "focal_power", "log_cosh", "safe_pow", "neg_log"]


def dice_score(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, s_nr: float, s_dr: float) -> torch.Tensor:
    """Soft Dice (Milletari 2016): ``(2TP + s_nr) / (2TP + FP + FN + s_dr)``."""
    tp2 = 2 * tp  # once for both (exact: a doubling)
    return safe_ratio(tp2 + s_nr, tp2 + fp + fn + s_dr, nonzero=s_dr > 0)


def jaccard_score(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, s_nr: float, s_dr: float) -> torch.Tensor:
    """Soft Jaccard in MONAI's form: ``(2TP + s_nr) / (2(TP + FP + FN) + s_dr)``, the IoU TP / (TP + FP + FN) when
    unsmoothed."""
    return safe_ratio(2 * tp + s_nr, 2 * (tp + fp + fn) + s_dr, nonzero=s_dr > 0)


def tversky_index(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor, alpha: float, beta: float, s_nr: float,
                  s_dr: float) -> torch.Tensor:
    """Tversky index (Salehi 2017): ``(TP + s_nr) / (TP + α·FP + β·FN + s_dr)``; α weights FP, β weights FN."""
    return safe_ratio(tp + s_nr, tp + alpha * fp + beta * fn + s_dr, nonzero=s_dr > 0)


def safe_pow(x: torch.Tensor, exponent: float, eps: float = 1e-12) -> torch.Tensor:
    """``x ** exponent`` for ``x >= 0`` whose gradient stays finite at 0 when ``exponent < 1``.

    Below ``eps`` the power is continued linearly (``x · eps^(exponent-1)``), which differs from ``x ** exponent``
    by less than ``eps ** exponent``.
    """
    if exponent >= 1:
        return x.clamp_min(0).pow(exponent)
    big = x > eps
    return torch.where(big, x.clamp_min(eps).pow(exponent), x * eps ** (exponent - 1))


def neg_log(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``-ln x`` for a score ``x`` in [0, 1] whose value and gradient stay finite at 0.

    Below ``eps`` it is continued by its tangent at ``eps`` (``-ln eps + (eps - x) / eps``), as :func:`safe_pow`
    continues a power: identical to ``-ln x`` for every ``x >= eps``, and at most ``-ln eps + 1`` (about 28.6).
    """
    big = x > eps
    return torch.where(big, -torch.log(x.clamp_min(eps)), -math.log(eps) + (eps - x) / eps)


def focal_power(loss: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal Tversky transform (Abraham & Khan 2019): ``loss ** (1/γ)``."""
    return safe_pow(loss, 1.0 / gamma)


def log_cosh(loss: torch.Tensor) -> torch.Tensor:
    """Log-cosh transform (Jadon 2020): ``log(cosh(loss))``.

    ``loss`` lies in [0, 1] with the usual smoothing, but a numerator smoothing larger than the denominator's
    (``smooth_nr > smooth_dr``) lets an empty class score far above 1, where ``cosh`` overflows: beyond |x| = 10 the
    equal form ``|x| + log1p(exp(-2|x|)) - log 2`` is used (exact there; near 0 it would cancel)."""
    a = loss.abs()
    near = torch.log(torch.cosh(a.clamp(max=10.0)))
    far = a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)
    return torch.where(a < 10.0, near, far)
