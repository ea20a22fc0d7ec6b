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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

from ..core.distributed import global_sum
from ..core.options import InputOptions, RegionOptions, parse_options
from ..core.prepare import PreparedInput, constant, prepare_input, shared_preparation
from ..core.reduce import reduce_units, reduce_voxels, safe_ratio
from ..core.scores import dice_score, neg_log, safe_pow, tversky_index
from ..core.stats import RegionStats, confusion_stats, label_counts, label_log_probs
from . import region as R

__all__ = [
    "BCEOptions", "BalancedCEOptions", "CrossEntropyOptions", "FocalOptions", "ExpLogOptions", "ComboOptions",
    "UnifiedFocalOptions", "UNIFIED_VARIANTS",
    "bce_loss", "balanced_ce_loss", "cross_entropy_loss", "focal_loss", "exp_log_loss", "combo_loss",
    "unified_focal_loss", "log_prob_pair", "is_binary_mode", "voxel_units",
]

UNIFIED_VARIANTS = ("symmetric", "asymmetric")


# ---------------------------------------------------------------- option validation helpers

def _number(name: str, value: Any, lo: float = 0.0, hi: float = math.inf, hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < lo or value > hi or (hi_open and value == hi):
        bound = f"[{lo:g}, {hi:g}{')' if hi_open else ']'}" if math.isfinite(hi) else f">= {lo:g}"
        raise ValueError(f"{name} must be a finite number in {bound}, got {value!r}")
    return float(value)


def _scalar_or_seq(name: str, value: Any, lo: float, hi: float) -> float | tuple[float, ...] | None:
    """``None``, a number or a sequence of numbers in ``[lo, hi]``."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().tolist()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(name, value, lo, hi)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise TypeError(f"{name} must be a number or a non-empty sequence of per-class numbers, got {value!r}")
    return tuple(_number(f"{name}[{i}]", v, lo, hi) for i, v in enumerate(value))


def _per_class(name: str, value: float | tuple[float, ...], prep: PreparedInput) -> torch.Tensor:
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
    """``(C,)``: ``kept_values`` (default 1) at the kept channel ids, 0 elsewhere."""
    x = prep.input
    vals = torch.ones(prep.channels.numel(), dtype=x.dtype, device=x.device) if kept_values is None else kept_values
    return torch.zeros(prep.num_classes, dtype=x.dtype, device=x.device).index_copy(0, prep.channels, vals)


def _bcast(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """``(K,)`` -> ``(1, K, 1, ...)`` for a ``ndim``-dim tensor; a tensor that already has ``ndim`` dims (such as
    per-sample coefficients ``(B, K, 1, ...)``) is returned as it is."""
    return v if v.ndim == ndim else v.view(1, -1, *([1] * (ndim - 2)))


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
    x = prep.input
    if prep.valid is None:
        return torch.full((), float(x.shape[0] * x[0, 0].numel()), dtype=x.dtype, device=x.device)
    return prep.valid.sum().to(x.dtype)


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
        pos_coef = _bcast(pos_coef, lp.ndim)
    if isinstance(neg_coef, torch.Tensor):
        neg_coef = _bcast(neg_coef, lp.ndim)
    return _masked(pos_coef * g * pos + neg_coef * (1 - g) * neg, prep)


def _categorical_terms(prep: PreparedInput, phi: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       coef: torch.Tensor, per_channel: bool) -> torch.Tensor:
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
        cls = torch.arange(prep.num_classes, device=lp.device).view(1, -1, *([1] * (lp.ndim - 2)))
        terms = prep.dense * phi(lp, cls)
        if coef is not None:
            terms = _bcast(coef, lp.ndim) * terms
        terms = _masked(prep.keep(terms), prep)
        return terms if per_channel else terms.sum(1)
    y = prep.labels.unsqueeze(1)
    x = prep.input
    per_voxel = phi(label_log_probs(prep), y)
    if coef is not None:
        per_voxel = coef.view(1, -1, *([1] * (x.ndim - 2))).expand_as(x).gather(1, y) * per_voxel
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

@dataclass(frozen=True)
class BCEOptions(InputOptions):
    """``pos_weight``: β multiplying the positive term, a number or one per class (length C or K); None = 1."""

    pos_weight: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "pos_weight", _scalar_or_seq("pos_weight", self.pos_weight, 0.0, math.inf))


@dataclass(frozen=True)
class BalancedCEOptions(InputOptions):
    """``beta``: weight of the positive term in [0, 1], or ``"auto"`` (fraction of negative voxels). Default auto."""

    beta: float | str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta != "auto":
            object.__setattr__(self, "beta", _number("beta", self.beta, 0.0, 1.0))


@dataclass(frozen=True)
class CrossEntropyOptions(InputOptions):
    """``label_smoothing``: ε in [0, 1], as in ``torch.nn.functional.cross_entropy``. Default 0."""

    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "label_smoothing", _number("label_smoothing", self.label_smoothing, 0.0, 1.0))


@dataclass(frozen=True)
class FocalOptions(InputOptions):
    """``gamma``: focusing parameter γ >= 0 (default 2); ``alpha``: balancing factor in [0, 1], a number or one
    per class (length C or K), default None (no balancing)."""

    gamma: float = 2.0
    alpha: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "gamma", _number("gamma", self.gamma))
        object.__setattr__(self, "alpha", _scalar_or_seq("alpha", self.alpha, 0.0, 1.0))


@dataclass(frozen=True)
class ExpLogOptions(RegionOptions):
    """``gamma_dice``/``gamma_cross``: exponents γ_d, γ_c > 0 (default 0.3); ``w_dice``/``w_cross``: weights of
    the two terms (default 0.8, 0.2); ``frequency_weighting``: Wong's label weights ``(Σ_k f_k / f_l)^0.5`` from the
    batch's label frequencies (the global batch's with ``distributed=True``) (default True)."""

    gamma_dice: float = 0.3
    gamma_cross: float = 0.3
    w_dice: float = 0.8
    w_cross: float = 0.2
    frequency_weighting: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("gamma_dice", "gamma_cross"):
            value = _number(name, getattr(self, name))
            if value == 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
            object.__setattr__(self, name, value)
        for name in ("w_dice", "w_cross"):
            object.__setattr__(self, name, _number(name, getattr(self, name)))
        if not isinstance(self.frequency_weighting, bool):
            raise TypeError(f"frequency_weighting must be a bool, got {self.frequency_weighting!r}")


@dataclass(frozen=True)
class ComboOptions(RegionOptions):
    """``alpha``: weight of the cross-entropy term in [0, 1] (default 0.5); ``ce_beta``: β of the β-weighted
    cross-entropy in [0, 1], weight of the positive (false-negative) term (default 0.5)."""

    alpha: float = 0.5
    ce_beta: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "alpha", _number("alpha", self.alpha, 0.0, 1.0))
        object.__setattr__(self, "ce_beta", _number("ce_beta", self.ce_beta, 0.0, 1.0))


@dataclass(frozen=True)
class UnifiedFocalOptions(RegionOptions):
    """``variant`` (``"asymmetric"`` default, or ``"symmetric"``), ``lambda_focal`` λ in [0, 1] (default 0.5),
    ``delta`` δ in [0, 1] (default 0.6), ``gamma`` γ in [0, 1) (default 0.5), ``rare_classes`` (channel ids of the
    rare classes in categorical mode; default every channel but 0)."""

    variant: str = "asymmetric"
    lambda_focal: float = 0.5
    delta: float = 0.6
    gamma: float = 0.5
    rare_classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.variant not in UNIFIED_VARIANTS:
            raise ValueError(f"variant must be one of {UNIFIED_VARIANTS}, got {self.variant!r}")
        object.__setattr__(self, "lambda_focal", _number("lambda_focal", self.lambda_focal, 0.0, 1.0))
        object.__setattr__(self, "delta", _number("delta", self.delta, 0.0, 1.0))
        object.__setattr__(self, "gamma", _number("gamma", self.gamma, 0.0, 1.0, hi_open=True))
        rare = self.rare_classes
        if rare is not None:
            if isinstance(rare, (str, bytes)) or not isinstance(rare, (Sequence, torch.Tensor)):
                raise TypeError(f"rare_classes must be None or a sequence of channel ids, got {rare!r}")
            ids = tuple(rare.tolist()) if isinstance(rare, torch.Tensor) else tuple(rare)
            if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
                raise ValueError(f"rare_classes must hold non-negative int channel ids, got {list(ids)!r}")
            object.__setattr__(self, "rare_classes", tuple(sorted(set(ids))))


# ---------------------------------------------------------------- the losses on their options (used by the modules)

def _bce(input, target, mask, o: BCEOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    pos = 1.0 if o.pos_weight is None else prep.keep(_per_class("pos_weight", o.pos_weight, prep).unsqueeze(0))[0]
    loss = _binary_terms(prep, pos, 1.0)
    if prep.weight is not None:
        loss = loss * _bcast(prep.weight, loss.ndim)
    return reduce_voxels(loss, o.reduction, prep.valid)


def _balanced_ce(input, target, mask, o: BalancedCEOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    if o.beta == "auto":  # Xie & Tu: β = |Y-| / |Y| per sample and channel, over the valid voxels (a constant)
        with torch.no_grad():
            g = prep.keep(prep.target_onehot())
            vf = prep.valid_float()
            n = g[:, :1].numel() // g.shape[0] if vf is None else vf.flatten(1).sum(1)
            n = (torch.full((1,), float(n), dtype=g.dtype, device=g.device) if vf is None else n).reshape(-1, 1)
            beta = 1 - safe_ratio(g.flatten(2).sum(2), n.expand(g.shape[0], g.shape[1]), 0.0)
            beta = beta.view(*beta.shape, *([1] * (g.ndim - 2)))
    else:
        beta = o.beta
    loss = _binary_terms(prep, beta, 1 - beta)
    if prep.weight is not None:
        loss = loss * _bcast(prep.weight, loss.ndim)
    return reduce_voxels(loss, o.reduction, prep.valid)


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
    if eps > 0:  # torch: (1-ε)·CE + (ε/C)·Σ_c w_c·(-log p_c) over the valid voxels
        lp = prep.log_probs()[0]
        sw = _kept_by_channel(prep, prep.weight)
        if not per_channel:
            ignored = _ignored_real_class(prep)
            sw = sw.index_copy(0, ignored, _full_weight(prep).index_select(0, ignored))
        smooth = -_bcast(sw, lp.ndim) * lp * (eps / prep.num_classes)
        smooth = _masked(prep.keep(smooth) if per_channel else smooth.sum(1), prep)
        loss = (1 - eps) * loss + smooth
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if weight is not None and prep.labels is not None:  # torch: mean weighted by the weight of each voxel's class
        den = _masked(_full_weight(prep)[prep.labels], prep).sum()
    else:
        den = _n_valid(prep)
    return total / den.clamp_min(torch.finfo(total.dtype).tiny)  # den = 0 only when every term is 0


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
    """``(C,)`` class weights by channel id as given (length C), or 1 for the channels not kept (length K)."""
    w = prep.options.weight
    x = prep.input
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
    if o.alpha is None:
        a_pos, a_neg = 1.0, 1.0
    else:
        a_pos = prep.keep(_per_class("alpha", o.alpha, prep).unsqueeze(0))[0]
        a_neg = 1 - a_pos

    def pos(lp, l1p):  # -(1-p)^γ log p, with (1-p)^γ = exp(γ log(1-p))
        return -lp if g == 0 else -torch.exp(g * l1p) * lp

    def neg(l1p, lp):  # -p^γ log(1-p)
        return -l1p if g == 0 else -torch.exp(g * lp) * l1p

    loss = _binary_terms(prep, a_pos, a_neg, pos, neg)
    if prep.weight is not None:
        loss = loss * _bcast(prep.weight, loss.ndim)
    return reduce_voxels(loss, o.reduction, prep.valid)


def _wong_weights(freq: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Wong 2018 label weights ``(Σ_k f_k / f_l)^0.5``; 0 for a label with no voxel (it has no term)."""
    return torch.sqrt(safe_ratio(total, freq, 0.0))


def _combine(prep: PreparedInput, o: RegionOptions, voxel: torch.Tensor, voxel_w: float, units: torch.Tensor,
             unit_w: float, st: RegionStats, categorical: bool, unit_weight: torch.Tensor | None) -> torch.Tensor:
    """``voxel_w·(voxel loss) + unit_w·(region loss)`` under ``o.reduction``; ``voxel`` is ``(B, K, *S)``."""
    present, empty = st.present, R._empty_if_used(st, o.empty)
    fp_rate = safe_ratio(st.fp, st.n, 0.0) if o.empty == "fp" else None
    if o.reduction == "none":
        region = reduce_units(units, "none", weight=unit_weight, present=present, empty=empty, policy=o.empty,
                              fp_rate=fp_rate)
        return voxel_w * voxel_units(voxel, prep, o.batch, categorical) + unit_w * region
    region = reduce_units(units, o.reduction, weight=unit_weight, present=present, empty=empty, policy=o.empty,
                          fp_rate=fp_rate)
    if o.reduction == "sum":
        vox = voxel.sum()
    else:
        count = _n_valid(prep) if categorical else None
        vox = reduce_voxels(voxel, "mean", prep.valid, count=count)
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
    st = confusion_stats(prep, batch=o.batch, distributed=o.distributed)
    sc = R.scored_only(st, o.empty)  # units whose score is discarded: zero statistics, a zero (never NaN) gradient
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


def _fields_of(o: InputOptions, cls: type) -> dict[str, Any]:
    """The values of ``o``'s fields that ``cls`` (a parent options class) declares."""
    return {f.name: getattr(o, f.name) for f in fields(cls)}


def _combo(input, target, mask, o: ComboOptions) -> torch.Tensor:
    if o.reduction == "none":  # the unit shares are needed: compute both parts once on one prepared input
        prep = prepare_input(input, target, o, mask)
        st = confusion_stats(prep, batch=o.batch, distributed=o.distributed)
        sc = R.scored_only(st, o.empty)
        units = 1 - dice_score(sc.tp, sc.fp, sc.fn, o.smooth_nr, o.smooth_dr)
        ce = _balanced_ce(input, target, mask, BalancedCEOptions(**_fields_of(o, InputOptions), beta=o.ce_beta))
        return _combine(prep, o, ce, o.alpha, units, 1 - o.alpha, st, False, prep.weight)
    with shared_preparation():
        ce = _balanced_ce(input, target, mask, BalancedCEOptions(**_fields_of(o, InputOptions), beta=o.ce_beta))
        dice = R._dice(input, target, mask, R.DiceOptions(**_fields_of(o, RegionOptions)))
    return o.alpha * ce + (1 - o.alpha) * dice


def _unified_focal(input, target, mask, o: UnifiedFocalOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    prep.fuse_label_log_probs = True  # the voxel term's log-probabilities come with the statistics
    st = confusion_stats(prep, batch=o.batch, distributed=o.distributed)
    d, g, asym = o.delta, o.gamma, o.variant == "asymmetric"

    def ft(tp, fp, fn, focal: bool) -> torch.Tensor:  # modified focal Tversky of one class: FN·δ, FP·(1-δ)
        loss = 1 - tversky_index(tp, fp, fn, 1 - d, d, o.smooth_nr, o.smooth_dr)
        return safe_pow(loss, 1 - g) if focal else loss

    if is_binary_mode(prep):
        if o.rare_classes is not None:
            raise ValueError("rare_classes applies to categorical (softmax) inputs; with sigmoid or a single channel "
                             "the positive class of every channel is the rare one")
        sc = R.scored_only(st, o.empty)
        units = 0.5 * (ft(sc.tn, sc.fn, sc.fp, not asym) + ft(sc.tp, sc.fp, sc.fn, True))

        def pos(lp, l1p):  # rare (positive): δ·(1-p)^γ·CE (symmetric) or δ·CE (asymmetric)
            return -lp if asym else -torch.exp(g * l1p) * lp

        def neg(l1p, lp):  # background (negative): (1-δ)·p^γ·CE, focal suppression in both variants
            return -torch.exp(g * lp) * l1p

        voxel = _binary_terms(prep, d, 1 - d, pos, neg)
        if prep.weight is not None:
            voxel = voxel * _bcast(prep.weight, voxel.ndim)
        categorical = False
    else:
        c = prep.num_classes
        rare_ids = tuple(range(1, c)) if o.rare_classes is None else o.rare_classes
        if any(i >= c for i in rare_ids):
            raise ValueError(f"rare_classes holds ids outside [0, {c}): {[i for i in rare_ids if i >= c]}")
        rare = torch.zeros(c, dtype=torch.bool, device=prep.input.device)
        rare.index_fill_(0, constant(rare_ids, torch.long, rare.device), True)
        rare_k = rare[prep.channels]
        sc = R.scored_only(st, o.empty)
        units = torch.where(rare_k, ft(sc.tp, sc.fp, sc.fn, True), ft(sc.tp, sc.fp, sc.fn, not asym))
        delta = torch.full((), d, dtype=prep.input.dtype, device=rare.device)
        coef = _kept_by_channel(prep, prep.weight) * torch.where(rare, delta, 1 - d)
        focal_cls = ~rare if asym else torch.ones_like(rare)

        def phi(lp, cls):
            return -lp * torch.where(focal_cls[cls], _focal_factor(lp, g), torch.ones_like(lp))

        voxel = _categorical_terms(prep, phi, coef, per_channel=True)
        categorical = True
    lam = o.lambda_focal
    return _combine(prep, o, voxel, lam, units, 1 - lam, st, categorical, prep.weight)


# ---------------------------------------------------------------- public functional forms

def bce_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
             **options) -> torch.Tensor:
    """Binary cross-entropy per voxel and channel, ``-w_c·[β_c·g·log p + (1-g)·log(1-p)]`` (weighted BCE with
    ``pos_weight`` β). Equals ``torch.nn.BCEWithLogitsLoss(weight, pos_weight)`` over the valid voxels.
    Options: :class:`BCEOptions`. See :class:`monai_segloss.BinaryCrossEntropyLoss`."""
    return _bce(input, target, mask, parse_options(BCEOptions, options, "bce_loss"))


def balanced_ce_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                     **options) -> torch.Tensor:
    """Class-balanced cross-entropy (Xie & Tu 2015) ``-[β·g·log p + (1-β)·(1-g)·log(1-p)]``.
    Options: :class:`BalancedCEOptions`. See :class:`monai_segloss.BalancedCrossEntropyLoss`."""
    return _balanced_ce(input, target, mask, parse_options(BalancedCEOptions, options, "balanced_ce_loss"))


def cross_entropy_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                       **options) -> torch.Tensor:
    """Categorical cross-entropy, identical to ``torch.nn.functional.cross_entropy`` (class weights,
    ``ignore_index``, label smoothing). Options: :class:`CrossEntropyOptions`.
    See :class:`monai_segloss.SegCrossEntropyLoss`."""
    return _cross_entropy(input, target, mask, parse_options(CrossEntropyOptions, options, "cross_entropy_loss"))


def focal_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
               **options) -> torch.Tensor:
    """Focal loss (Lin 2017) ``-α_t·(1-p_t)^γ·log p_t`` in binary (sigmoid) or categorical (softmax) mode.
    Options: :class:`FocalOptions`. See :class:`monai_segloss.SegFocalLoss`."""
    return _focal(input, target, mask, parse_options(FocalOptions, options, "focal_loss"))


def exp_log_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                 **options) -> torch.Tensor:
    """Exponential logarithmic loss (Wong 2018) ``w_d·E[(-ln Dice_c)^γ_d] + w_c·E[w_l·(-ln p_l)^γ_c]``.
    Options: :class:`ExpLogOptions`. See :class:`monai_segloss.ExpLogLoss`."""
    return _exp_log(input, target, mask, parse_options(ExpLogOptions, options, "exp_log_loss"))


def combo_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
               **options) -> torch.Tensor:
    """Combo loss (Taghanaki 2019) ``α·(β-weighted CE) + (1-α)·(1 - Dice)``.
    Options: :class:`ComboOptions`. See :class:`monai_segloss.ComboLoss`."""
    return _combo(input, target, mask, parse_options(ComboOptions, options, "combo_loss"))


def unified_focal_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                       **options) -> torch.Tensor:
    """Unified focal loss (Yeung 2022) ``λ·(modified focal) + (1-λ)·(modified focal Tversky)``.
    Options: :class:`UnifiedFocalOptions`. See :class:`monai_segloss.UnifiedFocalLoss`."""
    return _unified_focal(input, target, mask, parse_options(UnifiedFocalOptions, options, "unified_focal_loss"))
