"""Distribution-based losses (and the region/voxel hybrids built on them), functional forms.

Pipeline: :func:`~monai_segloss.core.prepare.prepare_input` -> per-voxel terms from log-probabilities (``log_softmax`` /
``logsigmoid`` when logits are given, never ``log(softmax(x))``) -> weight + reduce. The hybrids (exp-log, combo,
unified focal) add region terms computed by the region family's own parts (:mod:`monai_segloss.core.stats`,
:mod:`monai_segloss.core.scores`, :mod:`monai_segloss.functional.region`).

Two modes, chosen from the input:

- **binary** (``sigmoid=True``, or a single-channel input): every kept channel is its own two-class problem,
  ``-[g·log p + (1-g)·log(1-p)]`` per voxel and channel; ``"mean"`` is over valid voxels *and* kept channels.
- **categorical** (``softmax=True``, or C >= 2 probabilities / ``other_act``): the classes of a voxel compete,
  ``-Σ_c g_c·log p_c`` per voxel, summed over the kept classes; ``"mean"`` is over valid voxels. Softmax is always
  over every channel, before any exclusion.

``reduction="none"`` gives ``(B, K, *S)`` for voxel losses (summing over dim 1 gives the per-voxel loss of the
categorical mode), ``(B, K)`` for the hybrids (see :func:`voxel_units`).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from ..core import checks
from ..core.broadcast import channel_view
from ..core.distributed import global_sum
from ..core.options import InputOptions, RegionOptions, option
from ..core.prepare import PreparedInput, constant, prepare_input, shared_preparation
from ..core.reduce import reduce_units, reduce_voxels, safe_ratio, valid_voxel_count
from ..core.scores import dice_score, neg_log, safe_pow, tversky_index
from ..core.stats import RegionStats, label_counts, label_log_probs
from . import region as R
from .base import loss_function
from .fused import binary_focal_sums

__all__ = [
    "BCEOptions", "BalancedCEOptions", "CrossEntropyOptions", "FocalOptions", "TopKCEOptions", "ExpLogOptions",
    "ComboOptions", "UnifiedFocalOptions", "UNIFIED_VARIANTS",
    "bce_loss", "balanced_ce_loss", "cross_entropy_loss", "focal_loss", "topk_ce_loss", "exp_log_loss", "combo_loss",
    "unified_focal_loss", "log_prob_pair", "is_binary_mode", "voxel_units",
]

def _per_class(name: str, value: float | Sequence[float], prep: PreparedInput) -> torch.Tensor:
    """A per-class option of length C (by channel id) or K (kept channels) -> ``(C,)`` by channel id.

    Channels that are not kept get 0 (they are never scored). A scalar is broadcast.
    """
    c, k = prep.num_classes, prep.channels.numel()
    x = prep.input
    if isinstance(value, float):
        return torch.full((c,), value, dtype=x.dtype, device=x.device)
    t = constant(value, x.dtype, x.device)
    if t.numel() == c:
        return t
    if t.numel() == k:
        return torch.zeros(c, dtype=x.dtype, device=x.device).index_copy(0, prep.channels, t)
    raise ValueError(f"{name} must have length C={c} (by channel id) or {k} (the kept channels "
                     f"{prep.channels.tolist()}), got length {t.numel()}")


def _kept_by_channel(prep: PreparedInput, kept_values: torch.Tensor | None = None) -> torch.Tensor:
    """``(C,)``: ``kept_values`` (default 1) at the kept channel ids, 0 elsewhere. A constant of the kept channels
    and class weights, which a loss module reuses from call to call: made once for them (never modify it)."""
    key = ("kept_by_channel", kept_values is None)
    hit = prep.static.get(key)
    if hit is not None and hit[0] is prep.channels and hit[1] is kept_values:
        return hit[2]
    x = prep.input
    vals = torch.ones(prep.channels.numel(), dtype=x.dtype, device=x.device) if kept_values is None else kept_values
    out = torch.zeros(prep.num_classes, dtype=x.dtype, device=x.device).index_copy(0, prep.channels, vals)
    prep.static[key] = (prep.channels, kept_values, out)
    return out


# ---------------------------------------------------------------- shared numerical parts

def is_binary_mode(prep: PreparedInput) -> bool:
    """True when each channel is its own two-class problem: ``sigmoid=True`` or a single-channel input."""
    return prep.options.sigmoid or prep.num_classes == 1


def _log1mexp(lp: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(lp))`` for ``lp <= 0``, accurate on both sides of ``-log 2`` (Mächler 2012)."""
    lp = lp.clamp_max(0)
    return torch.where(lp > -math.log(2.0), torch.log(-torch.expm1(lp)), torch.log1p(-torch.exp(lp)))


def _log1m_softmax(x: torch.Tensor, lp: torch.Tensor) -> torch.Tensor:
    """``log(1 - softmax(x))`` along dim 1 without cancellation.

    For every channel but the arg-max, ``p <= 1/2`` and ``log1p(-exp(log p))`` is accurate; for the arg-max,
    ``log(1 - p) = logsumexp(other logits) - logsumexp(all logits)``, finite for finite logits even when ``p``
    rounds to 1.
    """
    top = x.argmax(dim=1, keepdim=True)
    is_top = torch.zeros_like(x, dtype=torch.bool).scatter_(1, top, True)
    others = torch.logsumexp(x.masked_fill(is_top, -math.inf), dim=1, keepdim=True) \
        - torch.logsumexp(x, dim=1, keepdim=True)
    small = torch.log1p(-torch.exp(lp.masked_fill(is_top, -1.0)))  # the top channel's value is not used
    return torch.where(is_top, others.expand_as(x), small)


def log_prob_pair(prep: PreparedInput) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log p, log(1 - p))`` ``(B, C, *S)`` for any activation, from logits where there are logits.

    sigmoid: ``logsigmoid(±x)``; softmax: ``log_softmax`` and :func:`_log1m_softmax`; otherwise the logs of the
    probabilities (a probability of exactly 0 or 1 gives the float type's most negative finite log).
    """
    lp, l1p = prep.log_probs()
    if l1p is None:  # softmax
        l1p = _log1m_softmax(prep.input, lp)
    return lp, l1p


def _masked(loss: torch.Tensor, prep: PreparedInput) -> torch.Tensor:
    """Zero ``loss`` ``(B, K|1, *S)`` or ``(B, *S)`` at invalid voxels (a select: never NaN)."""
    if prep.valid is None:
        return loss
    v = prep.valid if loss.ndim == prep.valid.ndim else prep.valid.unsqueeze(1)
    return torch.where(v, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))


def _n_valid(prep: PreparedInput) -> torch.Tensor:
    """The number of valid voxels (0-d, compute dtype); without a validity mask a constant of the input signature,
    made once (:attr:`PreparedInput.static`; never modify it)."""
    if prep.valid is not None:
        return valid_voxel_count(prep.input, prep.valid)
    n = prep.static.get("n_valid")
    if n is None:
        n = prep.static["n_valid"] = valid_voxel_count(prep.input, None)
    return n


def _binary_terms(prep: PreparedInput, pos_coef: torch.Tensor | float, neg_coef: torch.Tensor | float,
                  pos_transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                  neg_transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                  ) -> torch.Tensor:
    """Per voxel and kept channel ``pos_coef·g·φ₊ + neg_coef·(1-g)·φ₋`` -> ``(B, K, *S)``, 0 at invalid voxels.

    ``φ₊ = pos_transform(log p, log(1-p))`` (default ``-log p``), ``φ₋ = neg_transform(log(1-p), log p)``
    (default ``-log(1-p)``); coefficients are scalars or ``(K,)`` tensors.
    """
    lp, l1p = log_prob_pair(prep)
    lp, l1p = prep.keep(lp), prep.keep(l1p)
    g = prep.keep(prep.target_onehot())
    pos = -lp if pos_transform is None else pos_transform(lp, l1p)
    neg = -l1p if neg_transform is None else neg_transform(l1p, lp)
    if isinstance(pos_coef, torch.Tensor):
        pos_coef = channel_view(pos_coef, lp.ndim)
    if isinstance(neg_coef, torch.Tensor):
        neg_coef = channel_view(neg_coef, lp.ndim)
    return _masked(pos_coef * g * pos + neg_coef * (1 - g) * neg, prep)


def _categorical_terms(prep: PreparedInput, phi: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       coef: torch.Tensor | None, per_channel: bool) -> torch.Tensor:
    """Categorical voxel terms ``Σ_{c kept} coef_c·g_c·φ(log p_c, c)``.

    Args:
        phi: elementwise function of the log-probability and the class id (broadcastable long tensor).
        coef: ``(C,)`` per-class coefficient by channel id, 0 for channels not kept; None: 1 for every channel
            (only when every channel is kept).
        per_channel: return ``(B, K, *S)`` (each class's share) instead of the per-voxel sum ``(B, *S)``.

    A label-map target is never expanded to one-hot unless ``per_channel`` is asked: one gather of the
    log-probability of each voxel's class.
    """
    if prep.labels is None:
        lp = prep.log_probs()[0]
        cls = channel_view(torch.arange(prep.num_classes, device=lp.device), lp.ndim)
        terms = prep.dense_target() * phi(lp, cls)
        if coef is not None:
            terms = channel_view(coef, lp.ndim) * terms
        terms = _masked(prep.keep(terms), prep)
        return terms if per_channel else terms.sum(1)
    y = prep.labels.unsqueeze(1)
    x = prep.input
    per_voxel = phi(label_log_probs(prep), y)
    if coef is not None:
        per_voxel = coef.take(y) * per_voxel
    per_voxel = _masked(per_voxel[:, 0], prep)
    if not per_channel:
        return per_voxel
    return prep.keep(torch.zeros_like(x).scatter(1, y, per_voxel.unsqueeze(1)))


def _focal_factor(lpt: torch.Tensor, gamma: float) -> torch.Tensor:
    """``(1 - p)^γ`` from ``log p`` (finite gradient at p = 1 for any γ >= 0; exactly 1 for γ = 0)."""
    if gamma == 0:
        return torch.ones_like(lpt)
    return safe_pow(-torch.expm1(lpt), gamma)


def voxel_units(loss: torch.Tensor, prep: PreparedInput, batch: bool, categorical: bool) -> torch.Tensor:
    """Per-unit shares of a voxel loss ``(B, K, *S)``, so that voxel and region terms can be added unit by unit.

    Returns ``(B, K)`` (``(K,)`` with ``batch``): the unit's sum over the sample's (the batch's) valid voxels
    divided by their number, times K in categorical mode. The mean over units equals the voxel loss's ``"mean"``
    when every sample has the same number of valid voxels (always, with ``batch``).
    """
    sums = loss.flatten(2).sum(2)
    if prep.valid is None:
        counts = sums.new_full((sums.shape[0], 1), float(loss[0, 0].numel()))
    else:
        counts = prep.valid.flatten(1).sum(1, keepdim=True).to(sums.dtype)
    if batch:
        sums, counts = sums.sum(0), counts.sum(0)
    units = safe_ratio(sums, counts, 0.0)
    return units * loss.shape[1] if categorical else units


# ---------------------------------------------------------------- option classes

_NON_NEGATIVE = checks.number(0)
_UNIT = checks.number(0, 1)


@dataclass(frozen=True)
class BCEOptions(InputOptions):
    """Options of :func:`bce_loss`."""

    pos_weight: float | Sequence[float] | None = option(
        None, "β multiplying the positive term, a number >= 0 or one per class (length C or K); None is 1.",
        checks.number_or_per_class(0.0, math.inf))


def _auto_or_unit(name: str, value: object) -> float | str:
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{name} must be \"auto\" or a finite number in [0, 1], got {value!r}")
        return value
    return _UNIT(name, value)


@dataclass(frozen=True)
class BalancedCEOptions(InputOptions):
    """Options of :func:`balanced_ce_loss`."""

    beta: float | Literal["auto"] = option(
        "auto", "β in [0, 1], weight of the positive term, or ``\"auto\"``: the fraction of negative voxels of each "
                "(sample, channel).", _auto_or_unit)


@dataclass(frozen=True)
class CrossEntropyOptions(InputOptions):
    """Options of :func:`cross_entropy_loss`."""

    label_smoothing: float = option(0.0, "ε in [0, 1], as in ``torch.nn.functional.cross_entropy``.", _UNIT)


@dataclass(frozen=True)
class FocalOptions(InputOptions):
    """Options of :func:`focal_loss`."""

    gamma: float = option(2.0, "focusing parameter γ >= 0.", _NON_NEGATIVE)
    alpha: float | Sequence[float] | None = option(
        None, "balancing factor α in [0, 1], a number or one per class (length C or K); None for no balancing.",
        checks.number_or_per_class(0.0, 1.0))
    use_softmax: bool | None = option(
        None, "MONAI's ``FocalLoss`` flag, accepted as a synonym: True is ``softmax=True``, False is ``sigmoid=True`` "
              "(MONAI's default: its focal loss always takes logits); None leaves the activation to ``sigmoid``, "
              "``softmax`` and ``other_act``.", checks.optional_flag)

    def validate(self) -> None:
        if self.use_softmax is not None:  # translated to the activation it names, then forgotten
            name, other = ("softmax", "sigmoid") if self.use_softmax else ("sigmoid", "softmax")
            if getattr(self, other) or self.other_act is not None:
                raise ValueError(f"use_softmax={self.use_softmax} means {name}=True; it cannot be combined with "
                                 f"{other}={getattr(self, other)} or other_act={self.other_act!r}")
            object.__setattr__(self, name, True)
            object.__setattr__(self, "use_softmax", None)
        super().validate()


@dataclass(frozen=True)
class TopKCEOptions(InputOptions):
    """Options of :func:`topk_ce_loss`."""

    k: float = option(10.0, "percentage in (0, 100] of the voxels kept: the k % with the largest cross-entropy "
                            "(nnU-Net's TopK10 loss: 10).", checks.number(0, 100, low_open=True))
    per_image: bool = option(False, "select the hardest voxels of each sample and average the samples; False "
                                    "selects them over the whole batch, as nnU-Net.")
    label_smoothing: float = option(0.0, "ε in [0, 1], as in ``torch.nn.functional.cross_entropy``.", _UNIT)

    def validate(self) -> None:
        super().validate()
        if self.sigmoid:
            raise ValueError("sigmoid=True: the TopK loss is the categorical (softmax) cross-entropy; use softmax=True "
                             "with C >= 2 classes")


_POSITIVE = checks.number(0, low_open=True)


@dataclass(frozen=True)
class ExpLogOptions(RegionOptions):
    """Options of :func:`exp_log_loss`."""

    gamma_dice: float = option(0.3, "γ_d > 0, exponent of the Dice term.", _POSITIVE)
    gamma_cross: float = option(0.3, "γ_c > 0, exponent of the cross-entropy term.", _POSITIVE)
    w_dice: float = option(0.8, "w_d >= 0, weight of the Dice term.", _NON_NEGATIVE)
    w_cross: float = option(0.2, "w_c >= 0, weight of the cross-entropy term.", _NON_NEGATIVE)
    frequency_weighting: bool = option(True, "Wong's label weights ``(Σ_k f_k / f_l)^0.5`` from the batch's label "
                                             "frequencies (the global batch's with ``distributed=True``).")


@dataclass(frozen=True)
class ComboOptions(RegionOptions):
    """Options of :func:`combo_loss`."""

    alpha: float = option(0.5, "α in [0, 1], weight of the cross-entropy term (1 - α weighs the Dice term).", _UNIT)
    ce_beta: float = option(0.5, "β in [0, 1] of the β-weighted cross-entropy, weight of the positive "
                                 "(false-negative) term.", _UNIT)


UnifiedVariant = Literal["asymmetric", "symmetric"]
UNIFIED_VARIANTS: tuple[str, ...] = typing.get_args(UnifiedVariant)


@dataclass(frozen=True)
class UnifiedFocalOptions(RegionOptions):
    """Options of :func:`unified_focal_loss`."""

    variant: UnifiedVariant = option("asymmetric", "``\"asymmetric\"`` (focal suppression of the background only) "
                                                   "or ``\"symmetric\"``.")
    lambda_focal: float = option(0.5, "λ in [0, 1], weight of the modified focal term (1 - λ weighs the focal "
                                      "Tversky term).", _UNIT)
    delta: float = option(0.6, "δ in [0, 1], weight of the rare class (false negatives) in both terms.", _UNIT)
    gamma: float = option(0.5, "γ in [0, 1), focal parameter.", checks.number(0, 1, high_open=True))
    rare_classes: Sequence[int] | None = option(None, "channel ids of the rare classes in categorical mode; None "
                                                      "is every channel but 0.", checks.optional_channel_ids)


# ---------------------------------------------------------------- the losses on their options (used by the modules)

def _bce(input, target, mask, o: BCEOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    pos = 1.0 if o.pos_weight is None else prep.keep(_per_class("pos_weight", o.pos_weight, prep).unsqueeze(0))[0]
    loss = _binary_terms(prep, pos, 1.0)
    if prep.weight is not None:
        loss = loss * channel_view(prep.weight, loss.ndim)
    return reduce_voxels(loss, o.reduction, prep.valid, static=prep.static)


def _balanced_ce(input, target, mask, o: BalancedCEOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    beta: torch.Tensor | float
    if o.beta == "auto":  # Xie & Tu: β = |Y-| / |Y| per sample and channel, over the valid voxels (a constant),
        with torch.no_grad():  # |Y+| counted as at least 1 so that the negatives of an empty unit keep a weight
            g = prep.keep(prep.target_onehot())
            vf = prep.valid_float()
            if vf is None:  # every voxel valid: the spatial size of one sample
                n = torch.full((1, 1), float(g[:, :1].numel() // g.shape[0]), dtype=g.dtype, device=g.device)
            else:
                n = vf.flatten(1).sum(1).reshape(-1, 1)
            beta = 1 - safe_ratio(g.flatten(2).sum(2).clamp_min(1), n.expand(g.shape[0], g.shape[1]), 0.0)
            beta = beta.view(*beta.shape, *([1] * (g.ndim - 2)))
    else:
        beta = o.beta
    loss = _binary_terms(prep, beta, 1 - beta)
    if prep.weight is not None:
        loss = loss * channel_view(prep.weight, loss.ndim)
    return reduce_voxels(loss, o.reduction, prep.valid, static=prep.static)


def _categorical_only(name: str, prep: PreparedInput) -> None:
    if is_binary_mode(prep):
        raise ValueError(f"{name} is the categorical (softmax) cross-entropy and needs C >= 2 classes without "
                         f"sigmoid=True (got C={prep.num_classes}, sigmoid={prep.options.sigmoid}); use bce for "
                         f"per-channel sigmoid outputs")


def _nll(prep: PreparedInput, gamma: float, alpha: torch.Tensor | None, reduction: str,
         label_smoothing: float = 0.0) -> torch.Tensor:
    """Categorical focal / cross-entropy: ``-Σ_c α_c·w_c·g_c·(1-p_c)^γ·log p_c``, with torch's conventions for
    ``weight`` (weighted mean over ``Σ_v w_{y_v}`` for label maps) and ``label_smoothing``."""
    weight = None if prep.weight is None else _kept_by_channel(prep, prep.weight)
    coef = weight
    if coef is None and not prep.all_channels_kept:
        coef = _kept_by_channel(prep)
    if alpha is not None:
        coef = alpha if coef is None else coef * alpha
    per_channel = reduction == "none"
    if gamma == 0:
        def phi(lp, cls):
            return -lp
    else:
        def phi(lp, cls):
            return -lp * _focal_factor(lp, gamma)
    loss = _categorical_terms(prep, phi, coef, per_channel)
    eps = label_smoothing
    if eps > 0:
        sw = _kept_by_channel(prep, prep.weight)
        if not per_channel:
            ignored = _ignored_real_class(prep)
            sw = sw.index_copy(0, ignored, _full_weight(prep).index_select(0, ignored))
        loss = _smoothed(prep, loss, eps, sw, per_channel)
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if weight is not None and prep.labels is not None:  # torch: mean weighted by the weight of each voxel's class
        den = _masked(_full_weight(prep)[prep.labels], prep).sum()
    elif prep.valid is None:  # a constant of the input signature: counted and clamped once
        key = ("nll_divisor", total.dtype)
        divisor = prep.static.get(key)
        if divisor is None:
            divisor = prep.static[key] = _n_valid(prep).clamp_min(torch.finfo(total.dtype).tiny)
        return total / divisor
    else:
        den = _n_valid(prep)
    return total / den.clamp_min(torch.finfo(total.dtype).tiny)  # den = 0 only when every term is 0


def _smoothed(prep: PreparedInput, ce: torch.Tensor, eps: float, sw: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Label smoothing as torch: ``(1-ε)·CE + (ε/C)·Σ_c w_c·(-log p_c)`` at the valid voxels; ``ce`` and the result
    are per voxel ``(B, *S)``, or per kept channel ``(B, K, *S)`` with ``per_channel``; ``sw`` ``(C,)`` weighs the
    smoothing terms by channel id."""
    lp = prep.log_probs()[0]
    smooth = -channel_view(sw, lp.ndim) * lp * (eps / prep.num_classes)
    smooth = _masked(prep.keep(smooth) if per_channel else smooth.sum(1), prep)
    return (1 - eps) * ce + smooth


def _ignored_real_class(prep: PreparedInput) -> torch.Tensor:
    """``(0,)`` or ``(1,)``: the id of a real class used as ``ignore_index`` that the user did not exclude.

    It is not scored (no valid voxel has it), but torch's label smoothing still spreads ε/C onto it at the other
    voxels; the ``"mean"``/``"sum"`` of :func:`cross_entropy_loss` keep that share to stay identical to torch.
    """
    o, c = prep.options, prep.num_classes
    i = o.ignore_index
    keep = prep.labels is not None and i is not None and 0 <= i < c and i not in o.exclude_channels \
        and (o.include_background or i != 0)
    return constant([i] if keep else [], torch.long, prep.input.device)


def _full_weight(prep: PreparedInput) -> torch.Tensor:
    """``(C,)`` class weights by channel id as given (length C, or one number for all), or 1 for the channels not
    kept (length K)."""
    w = prep.options.weight
    x = prep.input
    if isinstance(w, float):  # one weight for every class
        return torch.full((prep.num_classes,), w, dtype=x.dtype, device=x.device)
    if w is not None and len(w) == prep.num_classes:
        return constant(w, x.dtype, x.device)
    ones = torch.ones(prep.num_classes, dtype=x.dtype, device=x.device)
    return ones if prep.weight is None else ones.index_copy(0, prep.channels, prep.weight)


def _cross_entropy(input, target, mask, o: CrossEntropyOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    _categorical_only("cross_entropy", prep)
    return _nll(prep, 0.0, None, o.reduction, o.label_smoothing)


def _focal(input, target, mask, o: FocalOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    g = o.gamma
    if not is_binary_mode(prep):
        alpha = None
        if o.alpha is not None:
            if isinstance(o.alpha, float):  # Lin et al. / MONAI: 1-α for the background, α for the other classes
                alpha = _per_class("alpha", o.alpha, prep)
                alpha[0] = 1 - o.alpha
            else:
                alpha = _per_class("alpha", o.alpha, prep)
        return _nll(prep, g, alpha, o.reduction)
    a_pos: torch.Tensor | float
    a_neg: torch.Tensor | float
    if o.alpha is None:
        a_pos, a_neg = 1.0, 1.0
    else:
        a_pos = prep.keep(_per_class("alpha", o.alpha, prep).unsqueeze(0))[0]
        a_neg = 1 - a_pos

    fused = None if o.reduction == "none" else binary_focal_sums(prep, g)
    if fused is not None:  # the sums of the terms over each (sample, channel), made with the region statistics
        pos_sum, neg_sum = (prep.keep(t) for t in fused)
        sums = a_pos * pos_sum + a_neg * neg_sum
        if prep.weight is not None:
            sums = sums * prep.weight
        total = sums.sum()
        if o.reduction == "sum":
            return total
        return total / (valid_voxel_count(prep.input, prep.valid) * pos_sum.shape[1]).clamp_min(1)

    def pos(lp, l1p):  # -(1-p)^γ log p, with (1-p)^γ = exp(γ log(1-p))
        return -lp if g == 0 else -torch.exp(g * l1p) * lp

    def neg(l1p, lp):  # -p^γ log(1-p)
        return -l1p if g == 0 else -torch.exp(g * lp) * l1p

    loss = _binary_terms(prep, a_pos, a_neg, pos, neg)
    if prep.weight is not None:
        loss = loss * channel_view(prep.weight, loss.ndim)
    return reduce_voxels(loss, o.reduction, prep.valid, static=prep.static)


_PREFILTER_MIN = 1 << 16  # row length from which the CPU top-k first drops the values below a sampled bound
_PREFILTER_STRIDE = 8


def _largest(rows: torch.Tensor, m: int) -> torch.Tensor:
    """The ``m`` largest values of each row of ``rows`` ``(U, N)``, unsorted, differentiable (``topk``'s values).

    On the CPU, for long rows and ``m <= N/4``, ``topk`` runs on the candidates only: the values at or above a bound
    that a strided sample of the row puts at about ``1.25·m`` values from the top. The result is exact: every one of
    the ``m`` largest values is at or above the bound whenever at least ``m`` values are (checked; a row with fewer
    candidates takes the full ``topk``); only the order of the selected values, and so the rounding of their sum,
    can differ. On other devices, and under ``torch.compile`` (the candidates' count is data-dependent), ``topk`` is
    used as it is.
    """
    n = rows.shape[1]
    if rows.device.type != "cpu" or n < _PREFILTER_MIN or 4 * m > n or torch.compiler.is_compiling():
        return rows.topk(m, dim=1, sorted=False).values
    sample = rows.detach()[:, ::_PREFILTER_STRIDE]
    rank = max(1, sample.shape[1] - (5 * m) // (4 * _PREFILTER_STRIDE))
    bound = sample.kthvalue(rank, dim=1, keepdim=True).values
    candidates = rows.detach() >= bound
    out = [row[keep].topk(m, sorted=False).values if count >= m else row.topk(m, sorted=False).values
           for row, keep, count in zip(rows, candidates, candidates.sum(1).tolist(), strict=True)]
    return torch.stack(out)


def _hardest(loss: torch.Tensor, valid: torch.Tensor | None, k: float, indices: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The ``k`` % largest values of each row of ``loss`` ``(U, N)`` among its valid entries (``valid`` ``(U, N)``
    bool, or None).

    Returns ``(values (U, M), indices (U, M) or None, taken (U, M) bool)``: ``taken`` marks the values that count,
    the first ``n_u = max(1, floor(k·v_u/100))`` of row u (``v_u`` its number of valid entries; 0 rows count none).
    Without ``valid`` every row has the same count, taken unsorted (with ``indices=False``, by :func:`_largest`,
    and no indices); with it, the rows are sorted and cut at their own count, a tensor (no host synchronisation)."""
    n = loss.shape[1]
    m = max(1, int(n * k / 100))  # nnU-Net's count: floor(N·k/100)
    if valid is None:
        if not indices:
            values = _largest(loss, m)
            return values, None, torch.ones_like(values, dtype=torch.bool)
        values, idx = loss.topk(m, dim=1, sorted=False)
        return values, idx, torch.ones_like(values, dtype=torch.bool)
    values, idx = loss.masked_fill(~valid, -math.inf).topk(m, dim=1, sorted=True)
    v = valid.sum(1, keepdim=True, dtype=torch.float64)
    count = torch.where(v > 0, torch.floor(v * (k / 100)).clamp_min(1), v)
    taken = torch.arange(m, device=loss.device) < count
    return torch.where(taken, values, torch.zeros((), dtype=values.dtype, device=values.device)), idx, taken


def _topk_ce(input, target, mask, o: TopKCEOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    _categorical_only("topk_ce", prep)
    per_channel = o.reduction == "none"
    coef = None if prep.weight is None and prep.all_channels_kept else _kept_by_channel(prep, prep.weight)
    terms = _categorical_terms(prep, lambda lp, cls: -lp, coef, per_channel)
    if o.label_smoothing > 0:
        terms = _smoothed(prep, terms, o.label_smoothing, _kept_by_channel(prep, prep.weight), per_channel)
    voxel = terms.sum(1) if per_channel else terms  # (B, *S)
    rows = voxel.flatten(1) if o.per_image else voxel.reshape(1, -1)
    valid = None if prep.valid is None else prep.valid.reshape(rows.shape)
    values, indices, taken = _hardest(rows, valid, o.k, indices=o.reduction == "none")
    if o.reduction == "none":  # the voxel terms at the selected voxels
        assert indices is not None
        selected = torch.zeros_like(rows, dtype=torch.bool).scatter_(1, indices, taken)
        return terms * selected.view(voxel.shape).unsqueeze(1)
    if o.reduction == "sum":
        return values.sum()
    if valid is None:  # every row takes its n values: the same quotients with the counts made once (constants)
        key = ("topk_counts", values.shape, values.dtype)
        counts = prep.static.get(key)
        if counts is None:
            counts = prep.static[key] = (taken.sum(1).to(values.dtype), taken.any(1).sum().clamp_min(1))
        return (values.sum(1) / counts[0]).sum() / counts[1]
    means = safe_ratio(values.sum(1), taken.sum(1).to(values.dtype), 0.0)
    return reduce_units(means, "mean", present=taken.any(1))


def _wong_weights(freq: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Wong 2018 label weights ``(Σ_k f_k / f_l)^0.5``; 0 for a label with no voxel (it has no term)."""
    return torch.sqrt(safe_ratio(total, freq, 0.0))


def _combine(prep: PreparedInput, o: RegionOptions, voxel: torch.Tensor, voxel_w: float, units: torch.Tensor,
             unit_w: float, st: RegionStats, categorical: bool, unit_weight: torch.Tensor | None) -> torch.Tensor:
    """``voxel_w·(voxel loss) + unit_w·(region loss)`` under ``o.reduction``; ``voxel`` is ``(B, K, *S)``."""
    present, empty, value = st.present, R.empty_if_used(st, o), R.empty_value(st, o)
    if o.reduction == "none":
        region = reduce_units(units, "none", weight=unit_weight, present=present, empty=empty, policy=o.empty,
                              empty_value=value)
        return voxel_w * voxel_units(voxel, prep, o.batch, categorical) + unit_w * region
    region = reduce_units(units, o.reduction, weight=unit_weight, present=present, empty=empty, policy=o.empty,
                          empty_value=value)
    if o.reduction == "sum":
        vox = voxel.sum()
    else:
        count = _n_valid(prep) if categorical else None
        vox = reduce_voxels(voxel, "mean", prep.valid, count=count, static=prep.static)
    return voxel_w * vox + unit_w * region


def _label_frequencies(freq: torch.Tensor, n: torch.Tensor, o: ExpLogOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """The label counts ``freq`` ``(C,)`` and the valid-voxel count ``n`` of Wong's weights, summed over every DDP
    rank with ``batch=True, distributed=True`` (as the Dice statistics are), so that each rank weights its voxel
    term with the weights of the global batch."""
    if not (o.batch and o.distributed):
        return freq, n
    summed = global_sum(torch.cat([freq, n.reshape(1).to(freq.dtype)]))
    return summed[:-1], summed[-1]


def _exp_log(input, target, mask, o: ExpLogOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    prep.fuse_label_log_probs = True  # the voxel term's log-probabilities come with the statistics
    st = R.region_stats(prep, o)
    sc = R.scored_only(st, o)  # units whose score is discarded: zero statistics, a zero (never NaN) gradient
    dice_units = safe_pow(neg_log(dice_score(sc.tp, sc.fp, sc.fn, o.smooth_nr, o.smooth_dr)), o.gamma_dice)
    gc = o.gamma_cross
    categorical = not is_binary_mode(prep)
    if categorical:
        coef = _kept_by_channel(prep, prep.weight)
        if o.frequency_weighting:
            with torch.no_grad():
                g = prep.target_onehot() if prep.labels is None else None
                freq = g.transpose(0, 1).flatten(1).sum(1) if g is not None else label_counts(prep).to(coef.dtype)
                freq, n = _label_frequencies(freq, _n_valid(prep), o)
                coef = coef * _wong_weights(freq, n)
        voxel = _categorical_terms(prep, lambda lp, cls: safe_pow(-lp, gc), coef, per_channel=True)
    else:
        w = 1.0 if prep.weight is None else prep.weight
        pos_w, neg_w = w, w
        if o.frequency_weighting:
            with torch.no_grad():
                g = prep.keep(prep.target_onehot())
                f_pos, n = _label_frequencies(g.transpose(0, 1).flatten(1).sum(1), _n_valid(prep), o)
                pos_w = pos_w * _wong_weights(f_pos, n)
                neg_w = neg_w * _wong_weights(n - f_pos, n)
        voxel = _binary_terms(prep, pos_w, neg_w, lambda lp, l1p: safe_pow(-lp, gc),
                              lambda l1p, lp: safe_pow(-l1p, gc))
    return _combine(prep, o, voxel, o.w_cross, dice_units, o.w_dice, st, categorical, prep.weight)


def _combo(input, target, mask, o: ComboOptions) -> torch.Tensor:
    if o.reduction == "none":  # the unit shares are needed: compute both parts once on one prepared input
        prep = prepare_input(input, target, o, mask)
        st = R.region_stats(prep, o)
        sc = R.scored_only(st, o)
        units = 1 - dice_score(sc.tp, sc.fp, sc.fn, o.smooth_nr, o.smooth_dr)
        ce = _balanced_ce(input, target, mask, o.part(BalancedCEOptions, beta=o.ce_beta))
        return _combine(prep, o, ce, o.alpha, units, 1 - o.alpha, st, False, prep.weight)
    with shared_preparation():
        ce = _balanced_ce(input, target, mask, o.part(BalancedCEOptions, beta=o.ce_beta))
        dice = R.dice_loss.apply(input, target, mask, o.part(R.DiceOptions))
    return o.alpha * ce + (1 - o.alpha) * dice


def _unified_focal(input, target, mask, o: UnifiedFocalOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    prep.fuse_label_log_probs = True  # the voxel term's log-probabilities come with the statistics
    st = R.region_stats(prep, o)
    d, g, asym = o.delta, o.gamma, o.variant == "asymmetric"

    def ft(tp, fp, fn, focal: bool) -> torch.Tensor:  # modified focal Tversky of one class: FN·δ, FP·(1-δ)
        loss = 1 - tversky_index(tp, fp, fn, 1 - d, d, o.smooth_nr, o.smooth_dr)
        return safe_pow(loss, 1 - g) if focal else loss

    if is_binary_mode(prep):
        if o.rare_classes is not None:
            raise ValueError("rare_classes applies to categorical (softmax) inputs; with sigmoid or a single channel "
                             "the positive class of every channel is the rare one")
        sc = R.scored_only(st, o)
        units = 0.5 * (ft(sc.tn, sc.fn, sc.fp, not asym) + ft(sc.tp, sc.fp, sc.fn, True))

        def pos(lp, l1p):  # rare (positive): δ·(1-p)^γ·CE (symmetric) or δ·CE (asymmetric)
            return -lp if asym else -torch.exp(g * l1p) * lp

        def neg(l1p, lp):  # background (negative): (1-δ)·p^γ·CE, focal suppression in both variants
            return -torch.exp(g * lp) * l1p

        voxel = _binary_terms(prep, d, 1 - d, pos, neg)
        if prep.weight is not None:
            voxel = voxel * channel_view(prep.weight, voxel.ndim)
        categorical = False
    else:
        c = prep.num_classes
        rare_ids = tuple(range(1, c)) if o.rare_classes is None else o.rare_classes
        if any(i >= c for i in rare_ids):
            raise ValueError(f"rare_classes holds ids outside [0, {c}): {[i for i in rare_ids if i >= c]}")
        rare = torch.zeros(c, dtype=torch.bool, device=prep.input.device)
        rare.index_fill_(0, constant(rare_ids, torch.long, rare.device), True)
        rare_k = rare[prep.channels]
        sc = R.scored_only(st, o)
        units = torch.where(rare_k, ft(sc.tp, sc.fp, sc.fn, True), ft(sc.tp, sc.fp, sc.fn, not asym))
        delta = torch.full((), d, dtype=prep.input.dtype, device=rare.device)
        coef = _kept_by_channel(prep, prep.weight) * torch.where(rare, delta, 1 - d)
        focal_ids = [i for i in range(c) if not asym or i not in rare_ids]  # the focally suppressed classes
        focal_cls = ~rare if asym else torch.ones_like(rare)

        def phi(lp, cls):
            if len(focal_ids) == c:
                return -lp * _focal_factor(lp, g)
            if not focal_ids:
                return -lp
            return -lp * torch.where(focal_cls.take(cls), _focal_factor(lp, g), 1.0)

        # each class's share (B, K, *S) only for reduction="none"; "mean" and "sum" need the per-voxel sum
        voxel = _categorical_terms(prep, phi, coef, per_channel=o.reduction == "none")
        categorical = True
    lam = o.lambda_focal
    return _combine(prep, o, voxel, lam, units, 1 - lam, st, categorical, prep.weight)


# ---------------------------------------------------------------- public functional forms

VOXEL_RETURNS = """
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K, *S)`` with K kept channels, 0 at invalid voxels.
"""

HYBRID_RETURNS = """
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K)`` (``(K,)`` with ``batch=True``): the region term
        of each unit plus the unit's share of the voxel term (its sum over the sample's valid voxels divided by their
        number, times K in categorical mode); its mean equals ``"mean"`` when every sample has the same number of
        valid voxels.
"""

MODES = """
    Modes: *binary* when ``sigmoid=True`` or C = 1 (each kept channel is a two-class problem; ``"mean"`` over valid
    voxels and kept channels); *categorical* otherwise (``softmax=True``, or C >= 2 probabilities; classes compete,
    per-voxel sum over the kept classes, ``"mean"`` over valid voxels). Softmax is over all channels, before any
    exclusion. Log-probabilities come from ``logsigmoid``/``log_softmax`` of the logits."""

bce_loss = loss_function(BCEOptions, _bce, "bce_loss", """
    Binary cross-entropy per voxel and kept channel, from logits with ``sigmoid=True``:
    ``-w_c·[β_c·g·log p + (1-g)·log(1-p)]``; β = ``pos_weight`` gives the weighted BCE.

    Equals ``torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=β)`` over the valid voxels (``"mean"`` divides by the
    number of valid voxels times K, whatever the weights). With ``softmax=True`` each channel's softmax probability
    is scored as a binary problem (``log(1 - p)`` computed without cancellation); for the categorical loss use
    ``cross_entropy``. Without an activation ``input`` holds probabilities and a probability of exactly 0 or 1 gives
    the float type's most negative finite log.

    Example:
        >>> from monai_segloss.functional import bce_loss
        >>> logits, target = torch.tensor([[[2.0, 1.0, -1.0, -2.0]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{bce_loss(logits, target, sigmoid=True):.4f}")  # mean of log(1 + e^-2), log(1 + e^-1), ...
        0.2201
""", returns=VOXEL_RETURNS, none_shape="voxels")

balanced_ce_loss = loss_function(BalancedCEOptions, _balanced_ce, "balanced_ce_loss", """
    Class-balanced cross-entropy per voxel and kept channel: ``-w_c·[β·g·log p + (1-β)·(1-g)·log(1-p)]``.

    Xie S. & Tu Z., "Holistically-nested edge detection", ICCV 2015. With ``beta="auto"``, β = |Y-|/|Y| is the
    fraction of negative voxels of each (sample, channel) over the valid voxels, treated as a constant (no
    gradient), so the rare positives weigh as much as the negatives in total. With ``softmax=True`` each channel's
    softmax probability is scored as a binary problem.

    Empty targets: a (sample, channel) without target voxel would get β = 1, i.e. a weight of 0 on every negative
    voxel, and its false positives (a lesion predicted on a lesion-free case) would cost nothing. ``"auto"`` counts
    |Y+| as at least 1 voxel: β = 1 - max(|Y+|, 1)/|Y|, so an empty unit weighs its negatives 1/|Y| each, as a
    unit with a single target voxel does (unchanged for every unit with at least one target voxel; a soft target
    with less than one voxel's mass is weighed as one voxel). This plays the part of the region losses' ``empty``
    option, which this loss does not have.

    Example:
        >>> from monai_segloss.functional import balanced_ce_loss
        >>> logits, target = torch.tensor([[[2.0, -1.0, -1.0, -2.0]]]), torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])
        >>> print(f"{balanced_ce_loss(logits, target, sigmoid=True):.4f}")
        0.0709
""", returns=VOXEL_RETURNS, none_shape="voxels")

cross_entropy_loss = loss_function(CrossEntropyOptions, _cross_entropy, "cross_entropy_loss", """
    Categorical cross-entropy ``-Σ_c w_c·g_c·log p_c``, identical to ``torch.nn.functional.cross_entropy``.

    Set ``softmax=True`` for logits (without an activation ``input`` holds class probabilities). Conventions are
    torch's: with a label map and ``weight``, ``"mean"`` divides by ``Σ_v w_{y_v}`` over the valid voxels (a voxel
    of an excluded class counts with its class weight when ``weight`` has length C, else 1); with a one-hot/soft
    target, by the number of valid voxels. Label smoothing ε gives ``(1-ε)·CE + (ε/C)·Σ_c w_c·(-log p_c)``; a real
    class used as ``ignore_index`` keeps its smoothing share in ``"mean"``/``"sum"`` as in torch (``"none"`` only
    reports the kept channels). Excluded channels (``include_background=False``, ``exclude_channels``) add no
    term. Needs C >= 2 and no ``sigmoid`` (use ``bce``).

    Example:
        >>> from monai_segloss.functional import cross_entropy_loss
        >>> logits, labels = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]]), torch.tensor([[[0, 1]]])
        >>> loss = cross_entropy_loss(logits, labels, softmax=True, to_onehot_y=True)
        >>> bool(torch.isclose(loss, torch.nn.functional.cross_entropy(logits, labels[:, 0])))
        True
""", returns=VOXEL_RETURNS, none_shape="voxels")

focal_loss = loss_function(FocalOptions, _focal, "focal_loss", """
    Focal loss ``-α_t·(1-p_t)^γ·log p_t``.

    Lin T.-Y. et al., "Focal loss for dense object detection", ICCV 2017.

    - binary mode (``sigmoid=True``): per voxel and kept channel
      ``-w_c·[α_c·g·(1-p)^γ·log p + (1-α_c)·(1-g)·p^γ·log(1-p)]`` (without ``alpha`` both factors are 1), mean
      over valid voxels and kept channels: ``monai.losses.FocalLoss`` on shared options. A per-class ``alpha``
      balances positives and negatives of each channel (α_c and 1-α_c, as Lin's scalar α), where MONAI leaves the
      negatives at 1.
    - categorical mode (``softmax=True``): per voxel ``-Σ_{c kept} α_c·w_c·g_c·(1-p_c)^γ·log p_c``, mean over valid
      voxels, i.e. MONAI's softmax focal loss times C, except where MONAI is wrong: it renormalises the softmax
      after dropping the background, and with ``ignore_index`` its sigmoid mean is C times too large. A scalar α
      gives 1-α to channel 0 and α to the others (as MONAI); ``weight`` follows ``torch.nn.functional.cross_entropy``
      (weighted mean over ``Σ_v w_{y_v}`` for a label map), so that γ = 0 without ``alpha`` is exactly
      :func:`cross_entropy_loss`.

    Finite for logits of ±100 in float32 and under fp16/bf16 autocast (computed in float32 from
    ``logsigmoid``/``log_softmax``).
""" + MODES + """

    Example:
        >>> from monai_segloss.functional import focal_loss
        >>> logits, target = torch.tensor([[[2.0, 1.0, -1.0, -2.0]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{focal_loss(logits, target, sigmoid=True, gamma=2.0):.4f}")  # well-classified voxels fade
        0.0122
""", returns=VOXEL_RETURNS, none_shape="voxels")

topk_ce_loss = loss_function(TopKCEOptions, _topk_ce, "topk_ce_loss", """
    TopK cross-entropy: the mean cross-entropy of the k % voxels where it is largest (the hardest voxels).

    Wu Z., Shen C. & van den Hengel A., "Bridging category-level and instance-level semantic image segmentation",
    arXiv 1605.06885, 2016 (online bootstrapping of the hardest pixels); nnU-Net's ``TopKLoss`` (Isensee F. et al.,
    Nature Methods 2021), whose default k = 10 % is ours. Per voxel ``CE_v = -Σ_{c kept} w_c·g_c·log p_c`` (with
    ``label_smoothing`` ε: ``(1-ε)·CE_v + (ε/C)·Σ_c w_c·(-log p_c)``, as torch); the n = max(1, ⌊k·V/100⌋) largest
    of the V valid voxels of the batch (of each sample with ``per_image=True``) are kept and averaged (a plain
    mean of the weighted terms, as nnU-Net, not torch's mean weighted by Σw). The selection is not
    differentiated: the gradient reaches the kept voxels only.

    With ``softmax=True`` and a label map this is nnU-Net's ``TopKLoss(k=k)`` (parity tested), except with ignored
    voxels: nnU-Net counts them in V (k % of every voxel, the ignored ones scoring 0), here they count nowhere (k %
    of the valid voxels). The selection runs over each DDP rank's own batch, as nnU-Net's. Categorical only: needs
    C >= 2 without ``sigmoid`` (softmax logits, or probabilities); excluded channels add no term.

    Example:
        >>> from monai_segloss.functional import topk_ce_loss
        >>> logits = torch.tensor([[[4.0, 0.0, -1.0, 2.0], [0.0, 1.0, 1.0, 0.0]]])  # (1, 2, 4 voxels)
        >>> labels = torch.tensor([[[0, 0, 1, 1]]])
        >>> ce = torch.nn.functional.cross_entropy(logits, labels[:, 0], reduction="none")
        >>> print(f"{topk_ce_loss(logits, labels, softmax=True, to_onehot_y=True, k=50):.4f}")  # mean of the 2 largest
        1.7201
        >>> print(f"{ce.flatten().topk(2).values.mean():.4f}")
        1.7201
""", returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K, *S)`` with K kept channels: each voxel's terms at
        the selected voxels, 0 elsewhere (their sum is ``"sum"``).
""", none_shape="voxels")

exp_log_loss = loss_function(ExpLogOptions, _exp_log, "exp_log_loss", """
    Exponential logarithmic loss: ``w_d·E_c[(-ln Dice_c)^γ_d] + w_c·E_v[w_l·(-ln p_l)^γ_c]``.

    Wong K. C. L. et al., "3D segmentation with exponential logarithmic loss for highly unbalanced object sizes",
    MICCAI 2018. Dice_c is the soft Dice of each unit (as :func:`~monai_segloss.functional.dice_loss`); l is the
    true label of voxel v and ``w_l = (Σ_k f_k / f_l)^0.5`` with f_k the number of valid voxels of label k in the
    batch (a constant; over every DDP rank's batch with ``batch=True, distributed=True``;
    ``frequency_weighting=False`` gives w_l = 1). In binary mode each channel has two labels, positive and
    negative, each with its own frequency weight. ``weight`` multiplies both terms of a class. Powers below 1 are
    continued linearly below 1e-12 so the gradient stays finite at a perfect prediction, and so is ``-ln`` below a
    Dice of 1e-12 (a Dice of 0, possible only with ``smooth_nr=0``, gives a finite loss: about 28.6^γ_d).
""" + MODES + """

    Example:
        >>> from monai_segloss.functional import exp_log_loss
        >>> logits, labels = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]]]), torch.tensor([[[0, 1, 1]]])
        >>> print(f"{exp_log_loss(logits, labels, softmax=True, to_onehot_y=True):.4f}")
        0.6533
""", returns=HYBRID_RETURNS, none_shape="units")

combo_loss = loss_function(ComboOptions, _combo, "combo_loss", """
    Combo loss: ``α·(β-weighted cross-entropy) + (1-α)·(1 - Dice)``.

    Taghanaki S. A. et al., "Combo loss: handling input and output imbalance in multi-organ segmentation",
    CMIG 2019. The first term is :func:`balanced_ce_loss` with a fixed β (``ce_beta``; β > 0.5 penalises false
    negatives more), the second :func:`~monai_segloss.functional.dice_loss` on the same options; the paper's
    ``-(1-α)·Dice`` differs by the constant 1-α. The cross-entropy is per channel (binary), also with
    ``softmax=True`` (each channel's softmax probability against its one-hot target, as in the paper's multi-organ
    setting).

    Example:
        >>> from monai_segloss.functional import combo_loss
        >>> logits, target = torch.tensor([[[2.0, 1.0, -1.0, -2.0]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{combo_loss(logits, target, sigmoid=True, alpha=0.5, ce_beta=0.5):.4f}")
        0.1521
""", returns=HYBRID_RETURNS, none_shape="units")

unified_focal_loss = loss_function(UnifiedFocalOptions, _unified_focal, "unified_focal_loss", """
    Unified focal loss: ``λ·L_mF + (1-λ)·L_mFT``, symmetric or asymmetric.

    Yeung M. et al., "Unified Focal loss: generalising Dice and cross entropy-based losses to handle class
    imbalanced medical image segmentation", CMIG 2022 (equations as in the authors' reference implementation).
    Classes are *rare* or *background*:

    - categorical mode: the rare classes are the channel ids in ``rare_classes``, by default **every channel but
      0** (channel 0 is the background).
    - binary mode (``sigmoid=True`` or C = 1): each channel is a two-class problem whose **positive class is rare**
      and whose negative class (1-p, 1-g) is the background.

    With ``CE_c = -g_c·log p_c`` and the modified Tversky index ``mTI_c = TP/(TP + δ·FN + (1-δ)·FP)`` (smoothed):

    - modified focal, per voxel summed over classes, mean over valid voxels (and channels in binary mode):
      background ``(1-δ)·(1-p_c)^γ·CE_c``; rare ``δ·(1-p_c)^γ·CE_c`` (symmetric) or ``δ·CE_c`` (asymmetric: no
      suppression of the rare class).
    - modified focal Tversky, mean over classes: rare ``(1-mTI)^(1-γ)``; background ``(1-mTI)^(1-γ)`` (symmetric)
      or ``1-mTI`` (asymmetric). In binary mode the unit of a channel is the mean of its two classes.

    In the binary case the asymmetric variant is MONAI's ``AsymmetricUnifiedFocalLoss`` with its focal term summed
    (not averaged) over the two classes, as in the reference implementation.
""" + MODES + """

    Example:
        >>> from monai_segloss.functional import unified_focal_loss
        >>> logits, labels = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 1.0]]]), torch.tensor([[[0, 1, 1]]])
        >>> print(f"{unified_focal_loss(logits, labels, softmax=True, to_onehot_y=True):.4f}")
        0.1944
""", returns=HYBRID_RETURNS, none_shape="units")
