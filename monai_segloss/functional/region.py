"""Region-based losses, functional forms: prepare -> confusion statistics -> score -> weight + reduce.

Every function takes ``(input, target, mask=None, **options)``; the options are those of
:class:`~monai_segloss.core.options.RegionOptions` plus the loss's own, listed in its options class below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..core.options import RegionOptions, parse_options
from ..core.prepare import prepare_input
from ..core.reduce import reduce_units, safe_ratio
from ..core.scores import dice_score, focal_power, jaccard_score, log_cosh, tversky_index
from ..core.stats import RegionStats, confusion_stats, kept_and_batched, squared_error_sums

__all__ = [
    "DiceOptions", "JaccardOptions", "GeneralizedDiceOptions", "TverskyOptions", "FocalTverskyOptions",
    "LogCoshDiceOptions", "SensitivitySpecificityOptions",
    "dice_loss", "jaccard_loss", "generalized_dice_loss", "tversky_loss", "focal_tversky_loss",
    "log_cosh_dice_loss", "sensitivity_specificity_loss", "region_loss",
]


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def _flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r})")


@dataclass(frozen=True)
class DiceOptions(RegionOptions):
    """``squared_pred``: Σp² and Σg² in the denominator (default False); ``jaccard``: MONAI's soft Jaccard form
    instead of Dice (default False)."""

    squared_pred: bool = False
    jaccard: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _flag("squared_pred", self.squared_pred)
        _flag("jaccard", self.jaccard)


@dataclass(frozen=True)
class JaccardOptions(RegionOptions):
    """``squared_pred``: Σp² and Σg² in the denominator (default False)."""

    squared_pred: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _flag("squared_pred", self.squared_pred)


@dataclass(frozen=True)
class LogCoshDiceOptions(JaccardOptions):
    """``squared_pred``: Σp² and Σg² in the Dice denominator (default False)."""


W_TYPES = ("square", "simple", "uniform")


@dataclass(frozen=True)
class GeneralizedDiceOptions(RegionOptions):
    """``w_type``: Sudre's class weights, ``"square"`` 1/(Σg)² (default), ``"simple"`` 1/Σg or ``"uniform"`` 1."""

    w_type: str = "square"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.w_type not in W_TYPES:
            raise ValueError(f"w_type must be one of {W_TYPES}, got {self.w_type!r}")


@dataclass(frozen=True)
class TverskyOptions(RegionOptions):
    """``alpha``: weight of false positives (default 0.3); ``beta``: weight of false negatives (default 0.7)."""

    alpha: float = 0.3
    beta: float = 0.7

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "alpha", _positive("alpha", self.alpha, allow_zero=True))
        object.__setattr__(self, "beta", _positive("beta", self.beta, allow_zero=True))


@dataclass(frozen=True)
class FocalTverskyOptions(TverskyOptions):
    """``gamma``: focal parameter γ, the loss per class is (1 - TI)^(1/γ) (default 4/3)."""

    gamma: float = 4.0 / 3.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "gamma", _positive("gamma", self.gamma))


@dataclass(frozen=True)
class SensitivitySpecificityOptions(RegionOptions):
    """``r``: weight of the sensitivity term, in [0, 1] (default 0.05)."""

    r: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        r = _positive("r", self.r, allow_zero=True)
        if r > 1:
            raise ValueError(f"r must lie in [0, 1], got {r}")
        object.__setattr__(self, "r", r)


def region_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, opts: RegionOptions,
                per_unit: Callable[[RegionStats], torch.Tensor], squared: bool = False,
                transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """The region pipeline: prepare, confusion statistics, ``per_unit`` loss of each (sample, class), reduce.

    ``per_unit`` maps :class:`~monai_segloss.core.stats.RegionStats` to per-unit losses of the same shape.
    ``transform``: the loss's map of ``1 - score`` (focal power, log-cosh) when it has one; with ``empty="fp"`` the
    false-positive rate that replaces ``1 - score`` of an empty unit goes through it too, so that the loss keeps
    its range.
    """
    prep = prepare_input(input, target, opts, mask)
    st = confusion_stats(prep, squared=squared, batch=opts.batch, distributed=opts.distributed)
    fp_rate = None
    if opts.empty == "fp":
        fp_rate = safe_ratio(st.fp, st.n, 0.0)
        if transform is not None:
            fp_rate = transform(fp_rate)
    return reduce_units(per_unit(scored_only(st, opts.empty)), opts.reduction, weight=prep.weight,
                        present=st.present, empty=_empty_if_used(st, opts.empty), policy=opts.empty, fp_rate=fp_rate)


def _empty_if_used(st: RegionStats, policy: str) -> torch.Tensor | None:
    """The units with no target voxel when the policy reads them (``"skip"``, ``"fp"``), else None."""
    return None if policy == "smooth" else st.empty


def scored_only(st: RegionStats, policy: str) -> RegionStats:
    """``st`` with zeros in the units whose score is not used (no valid voxel; empty under ``"skip"``/``"fp"``).

    Their score is discarded by a ``torch.where``, whose backward sends them a zero gradient; but a score whose
    denominator is tiny without being 0 (``smooth_dr=0`` and a predicted mass of 1e-32) has an infinite local
    derivative there, and 0·inf is NaN. Zero statistics give a 0/0 score, which ``safe_ratio`` handles.
    """
    if st.all_present and policy == "smooth":
        return st
    drop = None if st.all_present else ~st.present
    if policy in ("skip", "fp"):
        drop = st.empty if drop is None else drop | st.empty
    zero = torch.zeros((), dtype=st.tp.dtype, device=st.tp.device)
    return RegionStats(tp=torch.where(drop, zero, st.tp), psum=torch.where(drop, zero, st.psum),
                       gsum=torch.where(drop, zero, st.gsum), n=st.n, all_present=st.all_present)


# ---------------------------------------------------------------- the losses on their options (used by the modules)

def _dice(input, target, mask, o: DiceOptions) -> torch.Tensor:
    score = jaccard_score if o.jaccard else dice_score
    return region_loss(input, target, mask, o, lambda s: 1 - score(s.tp, s.fp, s.fn, o.smooth_nr, o.smooth_dr),
                       squared=o.squared_pred)


def _jaccard(input, target, mask, o: JaccardOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o,
                       lambda s: 1 - jaccard_score(s.tp, s.fp, s.fn, o.smooth_nr, o.smooth_dr), squared=o.squared_pred)


def _tversky(input, target, mask, o: TverskyOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o,
                       lambda s: 1 - tversky_index(s.tp, s.fp, s.fn, o.alpha, o.beta, o.smooth_nr, o.smooth_dr))


def _focal_tversky(input, target, mask, o: FocalTverskyOptions) -> torch.Tensor:
    def per_unit(s: RegionStats) -> torch.Tensor:
        return focal_power(1 - tversky_index(s.tp, s.fp, s.fn, o.alpha, o.beta, o.smooth_nr, o.smooth_dr), o.gamma)

    return region_loss(input, target, mask, o, per_unit, transform=lambda t: focal_power(t, o.gamma))


def _log_cosh_dice(input, target, mask, o: LogCoshDiceOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o,
                       lambda s: log_cosh(1 - dice_score(s.tp, s.fp, s.fn, o.smooth_nr, o.smooth_dr)),
                       squared=o.squared_pred, transform=log_cosh)


def _generalized_dice(input, target, mask, o: GeneralizedDiceOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    st = confusion_stats(prep, batch=o.batch, distributed=o.distributed)
    if o.w_type == "square":
        w = 1.0 / (st.gsum * st.gsum)
    elif o.w_type == "simple":
        w = 1.0 / st.gsum
    else:
        w = torch.ones_like(st.gsum)
    # a class with no target voxel gets the largest weight of its unit (Sudre 2017 as implemented in MONAI)
    inf = torch.isinf(w)
    w = w.masked_fill(inf, 0)
    w = torch.where(inf, w.amax(dim=-1, keepdim=True).expand_as(w), w)
    if prep.weight is not None:
        w = w * prep.weight
    numer = 2 * (w * st.tp).sum(-1) + o.smooth_nr
    denom = (w * (st.psum + st.gsum)).sum(-1) + o.smooth_dr
    loss = 1 - safe_ratio(numer, denom, nonzero=o.smooth_dr > 0)
    fp_rate = safe_ratio(st.fp, st.n, 0.0).mean(-1) if o.empty == "fp" else None
    present = None if st.all_present else st.n.amax(-1) > 0
    empty = None if o.empty == "smooth" else st.empty.all(-1)
    return reduce_units(loss, o.reduction, present=present, empty=empty, policy=o.empty, fp_rate=fp_rate)


def _sensitivity_specificity(input, target, mask, o: SensitivitySpecificityOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    st = confusion_stats(prep, batch=o.batch, distributed=o.distributed)
    errors = torch.stack(squared_error_sums(prep))
    sens_num, spec_num = kept_and_batched(prep, errors, o.batch, o.distributed).unbind(0)
    gsum, n = st.gsum, st.n
    # error rates (0 at best): no numerator smoothing, which would score an empty class s_nr/s_dr = 1 even for a
    # perfect prediction
    positive = o.smooth_dr > 0
    sens = safe_ratio(sens_num, gsum + o.smooth_dr, 0.0, nonzero=positive)
    spec = safe_ratio(spec_num, n - gsum + o.smooth_dr, 0.0, nonzero=positive)
    loss = o.r * sens + (1 - o.r) * spec
    fp_rate = safe_ratio(st.fp, n, 0.0) if o.empty == "fp" else None
    return reduce_units(loss, o.reduction, weight=prep.weight, present=st.present,
                        empty=_empty_if_used(st, o.empty), policy=o.empty, fp_rate=fp_rate)


# ---------------------------------------------------------------- public functional forms

def dice_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
              **options) -> torch.Tensor:
    """Soft Dice loss ``1 - (2TP + s_nr)/(2TP + FP + FN + s_dr)`` per unit (Milletari 2016).

    Options: :class:`DiceOptions` (``squared_pred``, ``jaccard``) and the common region options. See
    :class:`monai_segloss.SoftDiceLoss`.
    """
    return _dice(input, target, mask, parse_options(DiceOptions, options, "dice_loss"))


def jaccard_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                 **options) -> torch.Tensor:
    """Soft Jaccard loss in MONAI's form ``1 - (2TP + s_nr)/(2(TP + FP + FN) + s_dr)`` (Rahman 2016)."""
    return _jaccard(input, target, mask, parse_options(JaccardOptions, options, "jaccard_loss"))


def generalized_dice_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                          **options) -> torch.Tensor:
    """Generalised Dice loss with Sudre's class weights (Sudre 2017), one value per sample."""
    return _generalized_dice(input, target, mask, parse_options(GeneralizedDiceOptions, options,
                                                                "generalized_dice_loss"))


def tversky_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                 **options) -> torch.Tensor:
    """Tversky loss ``1 - (TP + s_nr)/(TP + α·FP + β·FN + s_dr)`` per unit (Salehi 2017)."""
    return _tversky(input, target, mask, parse_options(TverskyOptions, options, "tversky_loss"))


def focal_tversky_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                       **options) -> torch.Tensor:
    """Focal Tversky loss ``(1 - TI)^(1/γ)`` per unit (Abraham & Khan 2019)."""
    return _focal_tversky(input, target, mask, parse_options(FocalTverskyOptions, options, "focal_tversky_loss"))


def log_cosh_dice_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                       **options) -> torch.Tensor:
    """Log-cosh Dice loss ``log(cosh(1 - Dice))`` per unit (Jadon 2020)."""
    return _log_cosh_dice(input, target, mask, parse_options(LogCoshDiceOptions, options, "log_cosh_dice_loss"))


def sensitivity_specificity_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                                 **options) -> torch.Tensor:
    """Sensitivity-specificity loss (Brosch 2015) per unit:
    ``r·Σ(g-p)²g/(Σg + s_dr) + (1-r)·Σ(g-p)²(1-g)/(Σ(1-g) + s_dr)`` (``smooth_nr`` is not used)."""
    return _sensitivity_specificity(input, target, mask, parse_options(SensitivitySpecificityOptions, options,
                                                                       "sensitivity_specificity_loss"))
