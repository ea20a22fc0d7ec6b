"""Region-based losses, functional forms: prepare -> confusion statistics -> score -> weight + reduce.

Every function takes ``(input, target, mask=None, **options)``; the options are those of
:class:`~monai_segloss.core.options.RegionOptions` plus the loss's own, listed in its options class below.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch

from ..core import checks
from ..core.broadcast import unit_view
from ..core.distributed import global_sum
from ..core.options import EmptyPolicy, RegionOptions, option
from ..core.prepare import PreparedInput, constant, prepare_input
from ..core.reduce import reduce_units, safe_ratio
from ..core.scores import dice_score, focal_power, jaccard_score, log_cosh, safe_pow, tversky_index
from ..core.stats import (
    RegionStats,
    _chunks,
    _fast_path_args,
    _full_precision,
    _probs_and_grad_buffer,
    _probs_buffer,
    _softmax_in_chunks,
    _softmax_into,
    _work,
    _work_buffers,
    confusion_stats,
    kept_and_batched,
    squared_error_sums,
    target_sums,
    valid_counts,
)
from .base import LossFunction, loss_function

__all__ = [
    "DiceOptions", "JaccardOptions", "GeneralizedDiceOptions", "TverskyOptions", "FocalTverskyOptions",
    "LogCoshDiceOptions", "SensitivitySpecificityOptions", "MCCOptions", "WassersteinDiceOptions",
    "dice_loss", "jaccard_loss", "generalized_dice_loss", "tversky_loss", "focal_tversky_loss",
    "log_cosh_dice_loss", "sensitivity_specificity_loss", "mcc_loss", "wasserstein_dice_loss", "region_loss",
    "region_stats", "scored_only", "empty_value", "unsmoothed_empty", "batch_sums", "score_units", "UnitScore",
    "UNIT_SCORES", "REGION_LOSSES", "REGION_RETURNS", "W_TYPES", "RegionKey",
]


REGION_RETURNS = """
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K)`` with K kept channels (``(K,)`` with
        ``batch=True``), 0 where a unit does not count (no valid voxel, or skipped as empty).
"""

_NON_NEGATIVE = checks.number(0)


@dataclass(frozen=True)
class DiceOptions(RegionOptions):
    """Options of :func:`dice_loss`."""

    squared_pred: bool = option(False, "use Σp² + Σg² as the denominator (the V-Net form).")
    jaccard: bool = option(False, "score MONAI's soft Jaccard ``(2TP + s_nr) / (2(TP + FP + FN) + s_dr)`` instead.")


@dataclass(frozen=True)
class JaccardOptions(RegionOptions):
    """Options of :func:`jaccard_loss`."""

    squared_pred: bool = option(False, "use Σp² and Σg² in the denominator.")


@dataclass(frozen=True)
class LogCoshDiceOptions(RegionOptions):
    """Options of :func:`log_cosh_dice_loss`."""

    squared_pred: bool = option(False, "use Σp² + Σg² as the Dice denominator.")


WType = Literal["square", "simple", "uniform"]
W_TYPES: tuple[str, ...] = typing.get_args(WType)


@dataclass(frozen=True)
class GeneralizedDiceOptions(RegionOptions):
    """Options of :func:`generalized_dice_loss`."""

    w_type: WType = option("square", "Sudre's class weights: ``\"square\"`` 1/(Σg)², ``\"simple\"`` 1/Σg, "
                                     "``\"uniform\"`` 1.")


@dataclass(frozen=True)
class TverskyOptions(RegionOptions):
    """Options of :func:`tversky_loss`."""

    alpha: float = option(0.3, "α, weight of the false positives.", _NON_NEGATIVE)
    beta: float = option(0.7, "β, weight of the false negatives (β > α favours recall).", _NON_NEGATIVE)


@dataclass(frozen=True)
class FocalTverskyOptions(TverskyOptions):
    """Options of :func:`focal_tversky_loss`."""

    gamma: float = option(4.0 / 3.0, "γ > 0; the loss per unit is (1 - TI)^(1/γ).", checks.number(0, low_open=True))


@dataclass(frozen=True)
class SensitivitySpecificityOptions(RegionOptions):
    """Options of :func:`sensitivity_specificity_loss`."""

    r: float = option(0.05, "r in [0, 1], weight of the sensitivity term.", checks.number(0, 1))

    def validate(self) -> None:
        super().validate()
        if self.soft_label:
            raise ValueError("soft_label does not apply to the sensitivity-specificity loss: its squared errors "
                             "Σ(g - p)² are already exact for soft targets")


@dataclass(frozen=True)
class MCCOptions(RegionOptions):
    """Options of :func:`mcc_loss`."""

    smooth_nr: float = option(0.0, "added to the numerator TP·TN - FP·FN (MONAI's default 0; above 0 the loss can "
                                   "leave [0, 2]).", checks.number(0))
    smooth_dr: float = option(1e-5, "added under the square root of the denominator.", checks.number(0))
    empty: EmptyPolicy = option("fp", "a unit whose target has no voxel (or no background voxel), where the MCC is "
                                      "undefined: scored by its false-positive rate FP / (FP + TN) (its miss rate "
                                      "FN / (TP + FN) when the target fills it) (``\"fp\"``), left out of the mean "
                                      "(``\"skip\"``), or by MONAI's smoothed value (``\"smooth\"``: 1 with no "
                                      "gradient unless the prediction is exact).")


WeightingMode = Literal["default", "GDL"]


@dataclass(frozen=True)
class WassersteinDiceOptions(RegionOptions):
    """Options of :func:`wasserstein_dice_loss`."""

    dist_matrix: Sequence[Sequence[float]] | None = option(
        None, "C x C distances between the classes (``M[l][c]``: the cost of predicting class c where the label is "
              "l), divided by its largest entry as in MONAI; None is 0 on the diagonal and 1 elsewhere.",
        checks.distance_matrix)
    weighting_mode: WeightingMode = option("default", "``\"default\"``: class weights α = 0 for channel 0 (the "
                                                      "background) and 1 for the others (Fidon 2017); ``\"GDL\"``: "
                                                      "α_l = 1 / (V_l + 1) with V_l the unit's volume of class l "
                                                      "(Tilborghs 2020).")

    def validate(self) -> None:
        super().validate()
        if self.soft_label:
            raise ValueError("soft_label does not apply to the Wasserstein Dice loss: its Wasserstein distances "
                             "Σ_l g_l·(M p)_l already score soft targets")


class UnitScore(NamedTuple):
    """How a region loss scores one unit from its confusion statistics alone.

    Attributes:
        per_unit: :class:`~monai_segloss.core.stats.RegionStats` -> per-unit losses of the same shape (elementwise).
        squared: the statistics it reads are Σp² and Σg² (``squared_pred``), not Σp and Σg.
        transform: the loss's map of ``1 - score`` (focal power, log-cosh) when it has one; the value that replaces
            ``1 - score`` of an empty unit (:func:`empty_value`) goes through it too, so that the loss keeps its range.
    """

    per_unit: Callable[[RegionStats], torch.Tensor]
    squared: bool = False
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None


def region_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, opts: RegionOptions,
                per_unit: Callable[[RegionStats], torch.Tensor], squared: bool = False,
                transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """The region pipeline: prepare, confusion statistics, ``per_unit`` loss of each (sample, class), reduce
    (:func:`score_units`).

    ``per_unit``, ``squared`` and ``transform`` are those of a :class:`UnitScore` (a loss of :data:`UNIT_SCORES`
    passes ``*UNIT_SCORES[key](opts)``).
    """
    prep = prepare_input(input, target, opts, mask)
    st = confusion_stats(prep, squared=squared, batch=opts.batch, distributed=opts.distributed,
                         soft_label=opts.soft_label)
    return score_units(st, opts, UnitScore(per_unit, squared, transform), prep.weight, opts.reduction)


def score_units(st: RegionStats, opts: RegionOptions, score: UnitScore, weight: torch.Tensor | None,
                reduction: str) -> torch.Tensor:
    """The tail of the region pipeline: ``score.per_unit`` of each unit of ``st``, its empty units handled by the
    ``empty`` policy (:func:`scored_only`, :func:`empty_value`), weighted and reduced (``reduction`` of
    :func:`~monai_segloss.core.reduce.reduce_units`; ``"none"`` keeps ``st``'s shape, 0 where a unit does not
    count). :func:`region_loss` ends with it on the statistics of its (sample, class) units, the blob loss calls it
    on those of its lesions."""
    per_unit, transform = score.per_unit, score.transform
    if st.all_present and not opts.reads_empty:  # every unit counts with its own score: nothing to replace or drop
        return reduce_units(per_unit(st), reduction, weight=weight)
    return reduce_units(per_unit(scored_only(st, opts)), reduction, weight=weight, present=st.present,
                        empty=empty_if_used(st, opts), policy=opts.empty, empty_value=empty_value(st, opts, transform))


def empty_if_used(st: RegionStats, o: RegionOptions) -> torch.Tensor | None:
    """The units with no target voxel where the options read them (``"skip"``, ``"fp"``, unsmoothed ``"smooth"``),
    else None (nothing to compute)."""
    return st.empty if o.reads_empty else None


def region_stats(prep: PreparedInput, o: RegionOptions, squared: bool = False) -> RegionStats:
    """The confusion statistics of the kept channels under the region options (``batch``, ``distributed``,
    ``soft_label``)."""
    return confusion_stats(prep, squared=squared, batch=o.batch, distributed=o.distributed, soft_label=o.soft_label)


def unsmoothed_empty(o: RegionOptions) -> bool:
    """True when an empty unit has no smoothing term to score it: ``empty="smooth"`` with ``smooth_dr=0``
    (:attr:`RegionOptions.unsmoothed_empty`)."""
    return o.unsmoothed_empty


def empty_value(st: RegionStats, o: RegionOptions,
                transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor | None:
    """What an empty unit (no target voxel) scores in place of ``1 - score``, or None where its own score stands.

    - ``empty="fp"``: its false-positive rate FP / (FP + TN).
    - ``empty="smooth"`` with ``smooth_dr=0`` (MONAI computes ``(0 + s_nr) / (FP + 0)``: NaN when FP = 0, and
      ``-inf`` or an unbounded value when ``s_nr > 0``): the unsmoothed score, i.e. a loss of 1 when anything is
      predicted (FP ≠ 0: the Dice of an empty target and a non-empty prediction is 0) and 0 when nothing is (an
      empty prediction of an empty target is perfect). Constant in the prediction: no gradient.

    ``transform`` maps the value as the loss maps ``1 - score`` (e.g. the focal power), so the loss keeps its range.
    """
    if o.empty == "fp":
        value = safe_ratio(st.fp, st.n, 0.0)
    elif o.unsmoothed_empty:
        value = (st.fp != 0).to(st.tp.dtype)
    else:
        return None
    return value if transform is None else transform(value)


def scored_only(st: RegionStats, o: RegionOptions) -> RegionStats:
    """``st`` with zeros in the units whose score is not used: no valid voxel, or empty when :func:`empty_value`
    replaces its score or ``empty="skip"`` leaves it out.

    Their score is discarded by a ``torch.where``, whose backward sends them a zero gradient; but a score whose
    denominator is tiny without being 0 (``smooth_dr=0`` and a predicted mass of 1e-32) has an infinite local
    derivative there, and 0·inf is NaN. Zero statistics give a 0/0 score, which ``safe_ratio`` handles.
    """
    uses_empty = o.reads_empty  # "skip", "fp", or "smooth" without smoothing
    if st.all_present and not uses_empty:
        return st
    present = st.present
    drop = None if present is None else ~present
    if uses_empty:
        drop = st.empty if drop is None else drop | st.empty
    assert drop is not None
    zero = torch.zeros((), dtype=st.tp.dtype, device=st.tp.device)
    return RegionStats(tp=torch.where(drop, zero, st.tp), psum=torch.where(drop, zero, st.psum),
                       gsum=torch.where(drop, zero, st.gsum), n=st.n, all_present=st.all_present)


# ---------------------------------------------------------------- the losses on their options (used by the modules)

# (``torch.rsub(t, 1)`` is ``1 - t``, the same op without the Python-level ``Tensor.__rsub__``)

def _dice_score(o: DiceOptions) -> UnitScore:
    score = jaccard_score if o.jaccard else dice_score
    return UnitScore(lambda s: torch.rsub(score(s.tp, s.fp, s.fn, o.smooth_nr, o.smooth_dr), 1), o.squared_pred)


def _jaccard_score(o: JaccardOptions) -> UnitScore:
    return UnitScore(lambda s: torch.rsub(jaccard_score(s.tp, s.fp, s.fn, o.smooth_nr, o.smooth_dr), 1),
                     o.squared_pred)


def _tversky_score(o: TverskyOptions) -> UnitScore:
    return UnitScore(lambda s: torch.rsub(tversky_index(s.tp, s.fp, s.fn, o.alpha, o.beta, o.smooth_nr, o.smooth_dr),
                                          1))


def _focal_tversky_score(o: FocalTverskyOptions) -> UnitScore:
    def per_unit(s: RegionStats) -> torch.Tensor:
        return focal_power(torch.rsub(tversky_index(s.tp, s.fp, s.fn, o.alpha, o.beta, o.smooth_nr, o.smooth_dr), 1),
                           o.gamma)

    return UnitScore(per_unit, transform=lambda t: focal_power(t, o.gamma))


def _log_cosh_dice_score(o: LogCoshDiceOptions) -> UnitScore:
    return UnitScore(lambda s: log_cosh(torch.rsub(dice_score(s.tp, s.fp, s.fn, o.smooth_nr, o.smooth_dr), 1)),
                     o.squared_pred, log_cosh)


UNIT_SCORES: dict[str, Callable[[Any], UnitScore]] = {
    "dice": _dice_score, "jaccard": _jaccard_score, "tversky": _tversky_score,
    "focal_tversky": _focal_tversky_score, "log_cosh_dice": _log_cosh_dice_score,
}
"""The region losses whose per-unit value is a function of the unit's :class:`RegionStats` alone, by registry key:
``UNIT_SCORES[key](options)`` is their :class:`UnitScore` under those options (what :func:`region_loss` scores, and
what the blob loss scores its lesions with)."""


def _dice(input, target, mask, o: DiceOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o, *_dice_score(o))


def _jaccard(input, target, mask, o: JaccardOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o, *_jaccard_score(o))


def _tversky(input, target, mask, o: TverskyOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o, *_tversky_score(o))


def _focal_tversky(input, target, mask, o: FocalTverskyOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o, *_focal_tversky_score(o))


def _log_cosh_dice(input, target, mask, o: LogCoshDiceOptions) -> torch.Tensor:
    return region_loss(input, target, mask, o, *_log_cosh_dice_score(o))


def _generalized_dice(input, target, mask, o: GeneralizedDiceOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    st = region_stats(prep, o)
    # the weights' target sums: a constant unless the target requires a gradient (a slice of the statistics that
    # batch=True or a channel selection stacks otherwise carries one, which the backward would compute for nothing)
    g = st.gsum if prep.dense is not None and prep.dense.requires_grad else st.gsum.detach()
    if o.w_type == "square":
        w = 1.0 / (g * g)
    elif o.w_type == "simple":
        w = 1.0 / g
    else:
        w = torch.ones_like(g)
    # a class with no target voxel gets the largest weight of its unit (Sudre 2017 as implemented in MONAI)
    inf = torch.isinf(w)
    w = w.masked_fill(inf, 0)
    w = torch.where(inf, w.amax(dim=-1, keepdim=True).expand_as(w), w)
    if prep.weight is not None:
        w = w * prep.weight
    numer = 2 * (w * st.tp).sum(-1) + o.smooth_nr
    denom = (w * (st.psum + st.gsum)).sum(-1) + o.smooth_dr
    loss = torch.rsub(safe_ratio(numer, denom, nonzero=o.smooth_dr > 0), 1)
    value = empty_value(st, o)  # the unit is the sample: empty when no kept class has a target voxel
    if value is not None:
        value = value.mean(-1) if o.empty == "fp" else value.amax(-1)
    present = None if st.all_present else st.n.amax(-1) > 0
    empty = empty_if_used(st, o)
    return reduce_units(loss, o.reduction, present=present, empty=None if empty is None else empty.all(-1),
                        policy=o.empty, empty_value=value)


def _sensitivity_specificity(input, target, mask, o: SensitivitySpecificityOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    on, off, gsum = squared_error_sums(prep)
    constant_target = not gsum.requires_grad
    stacked = torch.stack([on, off, gsum, valid_counts(prep).expand_as(gsum)])  # one selection (and all-reduce)
    sens_num, spec_num, gsum, n = kept_and_batched(prep, stacked, o.batch, o.distributed).unbind(0)
    # the counts and (unless the target requires a gradient) the target sums are constants in the denominators:
    # detached from the stacked slices, so that the backward computes no gradient for them
    n = n.detach()
    if constant_target:
        gsum = gsum.detach()
    # error rates (0 at best): no numerator smoothing, which would score an empty class s_nr/s_dr = 1 even for a
    # perfect prediction; an empty class needs no smoothing either (its first term is 0 / 0 := 0)
    positive = o.smooth_dr > 0
    sens = safe_ratio(sens_num, gsum + o.smooth_dr, 0.0, nonzero=positive)
    spec = safe_ratio(spec_num, n - gsum + o.smooth_dr, 0.0, nonzero=positive)
    loss = o.r * sens + (1 - o.r) * spec
    empty = gsum == 0 if o.reads_empty else None
    # only the "fp" policy needs the soft false positives (a second pass over the probabilities)
    value = safe_ratio(region_stats(prep, o).fp, n, 0.0) if o.empty == "fp" else None
    return reduce_units(loss, o.reduction, weight=prep.weight, present=None if prep.valid is None else n > 0,
                        empty=empty, policy=o.empty, empty_value=value)


def _mcc(input, target, mask, o: MCCOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    st = region_stats(prep, o)
    present = st.present
    full = st.gsum == st.n if present is None else present & (st.gsum == st.n)
    # a unit with an empty or full target has a zero factor (TP+FN or TN+FP): "smooth" keeps MONAI's value for it
    smooth = o.empty == "smooth"
    undefined = st.empty if smooth else st.empty | full
    dropped = None if smooth else undefined  # units whose score is replaced or left out: zero statistics
    if present is not None:
        dropped = ~present if dropped is None else dropped | ~present
    zero = torch.zeros((), dtype=torch.float64, device=st.tp.device)
    tp, fp, fn, tn = (t.double() if dropped is None else torch.where(dropped, zero, t.double())
                      for t in (st.tp, st.fp, st.fn, st.tn))
    numer = tp * tn - fp * fn + o.smooth_nr  # float64: four products of voxel counts
    denom = safe_pow((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + o.smooth_dr, 0.5)
    loss = 1 - safe_ratio(numer, denom, 0.0)
    loss = torch.where((fp == 0) & (fn == 0), torch.zeros_like(loss), loss).to(st.tp.dtype)  # exact: 0 (as MONAI)
    rate = None
    if o.empty == "fp":  # the miss rate of a full target, the false-positive rate of an empty one
        rate = torch.where(full, safe_ratio(st.fn, st.gsum, 0.0), safe_ratio(st.fp, st.n, 0.0))
    return reduce_units(loss, o.reduction, weight=prep.weight, present=present, empty=undefined, policy=o.empty,
                        empty_value=rate)


def _class_distances(o: WassersteinDiceOptions, prep: PreparedInput) -> torch.Tensor:
    """The ``(C, C)`` distance matrix, divided by its largest entry."""
    x, c = prep.input, prep.num_classes
    if o.dist_matrix is None:
        return 1 - torch.eye(c, dtype=x.dtype, device=x.device)
    if len(o.dist_matrix) != c:
        raise ValueError(f"dist_matrix must be C x C for the input's C={c} classes, got {len(o.dist_matrix)} x "
                         f"{len(o.dist_matrix)}")
    top = max(max(row) for row in o.dist_matrix)  # normalised on the host: one cached constant per matrix
    return constant(tuple(tuple(v / top for v in row) for row in o.dist_matrix), x.dtype, x.device)


def batch_sums(t: torch.Tensor, o: RegionOptions, dim: int = -1) -> torch.Tensor:
    """Per-sample sums (the batch along ``dim``) -> summed over the batch, and over every DDP rank with
    ``distributed``, when ``o.batch``; unchanged otherwise."""
    if not o.batch:
        return t
    t = t.sum(dim)
    return global_sum(t) if o.distributed else t


# ---------------------------------------------------------------- Wasserstein errors of a label map
#
# For a label map y, the Wasserstein distance between the prediction p of a voxel v and its label is
#     W_v = Σ_c M[y_v, c]·p_c      (a gather of M's rows by label, then a reduction over the channels),
# and the loss reads it through two sums per sample over the valid voxels: E = Σ_v W_v and A = Σ_v α_{y_v}·W_v
# (TP = Σ_v α_{y_v}(1 - W_v) = Σ_l α_l V_l - A with V_l the label counts). Their gradient reaches p as
#     ∂L/∂p_c = k_v·M[y_v, c],   k_v = ∂L/∂E + α_{y_v}·∂L/∂A,
# and the logits, under softmax, as ∂L/∂x_c = k_v·p_c·(M[y_v, c] - W_v) (Σ_c p_c M[y_v, c] = W_v). No one-hot target,
# no (B, C, *S) product M p: one pass over p per chunk, and one buffer of the input's size (the probabilities,
# overwritten by the gradient), as the statistics' fast path (:mod:`monai_segloss.core.stats`).


def _wasserstein_rows(m: torch.Tensor, y: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``M[y_v, :]`` for the labels ``y`` ``(b, n)``, written into the flat buffer ``rows``: a ``(b, C, n)`` view."""
    b, n = y.shape
    c = m.shape[0]
    out = _work(rows, b * n, c)
    torch.index_select(m, 0, y.reshape(-1), out=out)
    return out.view(b, n, c).permute(0, 2, 1)


def _wasserstein_errors(pc: torch.Tensor, rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``W_v = Σ_c M[y_v, c]·p_c`` ``(b, n)`` into ``out``."""
    torch.mul(rows[:, 0], pc[:, 0], out=out)
    for c in range(1, pc.shape[1]):
        out.addcmul_(rows[:, c], pc[:, c])
    return out


class _LabelMapWasserstein(torch.autograd.Function):
    """``(E, A)`` ``(B,)``: ``Σ_v W_v`` and ``Σ_v α_{y_v}·W_v`` over the valid voxels (section comment above), from
    the logits (softmax) or probabilities (``act="none"``) ``x`` ``(B, C, N)``, the labels ``(B, N)``, the validity
    ``(B, N)`` or None, the class distances ``m`` ``(C, C)`` and the class weights ``alpha`` ``(B, C)`` (constants)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None, m: torch.Tensor,
                alpha: torch.Tensor, act: str):
        b, c = x.shape[:2]
        with _full_precision(x.device.type):
            p = _probs_buffer(x, act, False)
            chunks = _chunks(x.shape)
            sums = torch.zeros(2, b, dtype=torch.float64, device=x.device)
            work = _work_buffers(x, 1)
            w_buf = x.new_empty(work.shape[1] // c)
            for bs, vs in chunks:
                pc, y = p[bs, :, vs], labels[bs, vs]
                if _softmax_in_chunks(act, c):
                    _softmax_into(x[bs, :, vs], pc)
                w = _wasserstein_errors(pc, _wasserstein_rows(m, y, work[0]), _work(w_buf, *y.shape))
                if valid is not None:
                    w.mul_(valid[bs, vs])
                sums[0, bs] += w.sum(1)
                sums[1, bs] += w.mul_(alpha[bs].gather(1, y)).sum(1)
        ctx.save_for_backward(x, labels, valid, m, alpha)
        ctx.act = act
        ctx.probs = p if act != "none" else None  # consumed (overwritten by dL/dx) in the first backward
        return sums[0].to(x.dtype), sums[1].to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_error: torch.Tensor, d_weighted: torch.Tensor):
        x, labels, valid, m, alpha = ctx.saved_tensors
        p, out = _probs_and_grad_buffer(ctx, x, ctx.act)
        c = x.shape[1]
        with _full_precision(x.device.type):
            d_error, d_weighted = d_error.to(x.dtype).unsqueeze(1), d_weighted.to(x.dtype).unsqueeze(1)
            work = _work_buffers(x, 1)
            w_buf, k_buf = x.new_empty(2, work.shape[1] // c)
            for bs, vs in _chunks(x.shape):
                pc, oc, y = p[bs, :, vs], out[bs, :, vs], labels[bs, vs]
                k = torch.mul(alpha[bs].gather(1, y), d_weighted[bs], out=_work(k_buf, *y.shape)).add_(d_error[bs])
                if valid is not None:
                    k.mul_(valid[bs, vs])
                rows = _wasserstein_rows(m, y, work[0])
                if ctx.act == "softmax":  # p_c·(M[y, c] - W)·k, written over p (oc is pc's memory)
                    w = _wasserstein_errors(pc, rows, _work(w_buf, *y.shape))
                    for j in range(c):
                        oc[:, j].mul_(torch.sub(rows[:, j], w).mul_(k))
                else:
                    torch.mul(rows, k.unsqueeze(1), out=oc)
        return out, None, None, None, None, None


def _wasserstein_dice(input, target, mask, o: WassersteinDiceOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    if prep.options.sigmoid or prep.num_classes == 1:
        raise ValueError(f"wasserstein_dice compares class distributions and needs C >= 2 classes without sigmoid=True "
                         f"(got C={prep.num_classes}, sigmoid={prep.options.sigmoid}); use softmax=True")
    x, c = prep.input, prep.num_classes
    m = _class_distances(o, prep)
    counts = target_sums(prep).to(x.dtype) if prep.labels is not None else prep.dense_target().flatten(2).sum(2)
    volumes = counts  # V_l per sample
    kept = torch.zeros(c, dtype=x.dtype, device=x.device).index_fill_(0, prep.channels, 1.0)
    if prep.weight is not None:
        kept = kept.index_copy(0, prep.channels, prep.weight)
    if o.weighting_mode == "default":
        alpha = kept.index_fill(0, torch.zeros(1, dtype=torch.long, device=x.device), 0.0).expand(x.shape[0], c)
    else:
        volumes = batch_sums(volumes.transpose(0, 1), o)  # (C, B), or (C,) over the batch
        alpha = (kept / (volumes.transpose(0, -1) + 1)).expand(x.shape[0], c)
    if prep.labels is not None:  # straight from the labels: Σ W and Σ α_y·W in one pass (no one-hot, no M p)
        fx, labels, valid, act = _fast_path_args(prep)
        error, weighted = _LabelMapWasserstein.apply(fx, labels, valid, m, alpha.contiguous(), act)
        mass = (alpha * counts).sum(1)  # Σ_v α_{y_v}
        sums = torch.stack([mass - weighted, error, mass, valid_counts(prep)[:, 0]])
    else:
        p = prep.probs()
        mp = torch.einsum("lc,bc...->bl...", m, p)  # (M p)_l: the expected cost of p if the label is l
        v = prep.valid_float()
        v = torch.ones_like(x[:, :1]) if v is None else v
        dense = prep.dense_target()
        wass = (dense * mp).sum(1, keepdim=True)  # W_i = Σ_l g_il·(M p_i)_l
        a = unit_view(alpha, x.ndim)
        a_voxel = (dense * a).sum(1, keepdim=True)
        wass, a_voxel = wass * v, a_voxel * v  # 0 at invalid voxels
        sums = torch.stack([t.flatten(1).sum(1) for t in (a_voxel - a_voxel * wass, wass, a_voxel, v)])
    tp, error, mass, n = batch_sums(sums, o).unbind(0)  # Σα(1-W), ΣW, Σα, number of valid voxels
    empty = mass == 0
    if o.empty == "fp":  # the mean Wasserstein error of an empty sample
        value = safe_ratio(error, n, 0.0)
    elif unsmoothed_empty(o):  # no smoothing to score it: 1 when anything but background is predicted, else 0
        value = (error != 0).to(error.dtype)
    else:
        value = None
    if value is not None or o.empty == "skip":  # discarded scores: zero statistics, a zero (never NaN) gradient
        zero = torch.zeros((), dtype=tp.dtype, device=tp.device)
        tp, error, mass = (torch.where(empty, zero, t) for t in (tp, error, mass))
    # the denominator: 2 TP + all errors (Fidon), or Σ α(2 - W) = Σα + TP (Tilborghs' GDL weighting, as MONAI)
    denom = 2 * tp + error if o.weighting_mode == "default" else mass + tp
    loss = 1 - safe_ratio(2 * tp + o.smooth_nr, denom + o.smooth_dr)
    return reduce_units(loss, o.reduction, present=None if prep.valid is None else n > 0, empty=empty,
                        policy=o.empty, empty_value=value)


# ---------------------------------------------------------------- public functional forms

dice_loss = loss_function(DiceOptions, _dice, "dice_loss", """
    Soft Dice loss, per (sample, class): ``1 - (2TP + s_nr) / (2TP + FP + FN + s_dr)``.

    Milletari F. et al., "V-Net: Fully convolutional neural networks for volumetric medical image segmentation",
    3DV 2016. Same quantity as ``monai.losses.DiceLoss`` on shared options (parity tested).

    Example:
        >>> from monai_segloss.functional import dice_loss
        >>> probs, target = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{dice_loss(probs, target):.4f}")  # TP = 1.7, FP = FN = 0.3: 1 - 3.4 / 4
        0.1500
""", returns=REGION_RETURNS, none_shape="units")

jaccard_loss = loss_function(JaccardOptions, _jaccard, "jaccard_loss", """
    Soft Jaccard (IoU) loss in MONAI's form, per unit: ``1 - (2TP + s_nr) / (2(TP + FP + FN) + s_dr)``, which is
    ``1 - TP / (TP + FP + FN)`` unsmoothed.

    Rahman M. A. & Wang Y., "Optimizing intersection-over-union in deep neural networks for image segmentation",
    ISVC 2016. Same quantity as ``monai.losses.DiceLoss(jaccard=True)``.

    Example:
        >>> from monai_segloss.functional import jaccard_loss
        >>> probs, target = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{jaccard_loss(probs, target):.4f}")  # 1 - 1.7 / (1.7 + 0.3 + 0.3)
        0.2609
""", returns=REGION_RETURNS, none_shape="units")

generalized_dice_loss = loss_function(GeneralizedDiceOptions, _generalized_dice, "generalized_dice_loss", """
    Generalised Dice loss, per sample (or once with ``batch=True``):
    ``1 - (2 Σ_c w_c TP_c + s_nr) / (Σ_c w_c (Σp_c + Σg_c) + s_dr)``.

    Sudre C. H. et al., "Generalised Dice overlap as a deep learning loss function for highly unbalanced
    segmentations", DLMIA 2017. Same quantity as ``monai.losses.GeneralizedDiceLoss``. A class with no target
    voxel gets the largest weight of its sample, as in MONAI; ``weight`` multiplies the Sudre weights.

    The unit of reduction and of the ``empty`` policy is the sample: ``"none"`` gives ``(B,)`` (a 0-d tensor with
    ``batch=True``), and a sample is empty when no kept class has a target voxel (its ``"fp"`` score is the mean
    false-positive rate of its classes).

    Example:
        >>> from monai_segloss.functional import generalized_dice_loss
        >>> logits = torch.tensor([[[3.0, 2.0, -1.0, -2.0, 0.0, 1.0], [-3.0, -2.0, 1.0, 2.0, 0.0, -1.0]]])
        >>> labels = torch.tensor([[[0, 0, 1, 1, 1, 0]]])  # (B=1, 1, 6 voxels)
        >>> print(f"{generalized_dice_loss(logits, labels, softmax=True, to_onehot_y=True):.4f}")
        0.1295
""", returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B,)`` (a 0-d tensor with ``batch=True``), 0 where a
        sample does not count.
""", none_shape="samples")

tversky_loss = loss_function(TverskyOptions, _tversky, "tversky_loss", """
    Tversky loss, per unit: ``1 - (TP + s_nr) / (TP + α·FP + β·FN + s_dr)``.

    Salehi S. S. M. et al., "Tversky loss function for image segmentation using 3D fully convolutional deep
    networks", MLMI 2017. Same quantity as ``monai.losses.TverskyLoss`` (whose defaults are α = β = 0.5).

    Example:
        >>> from monai_segloss.functional import tversky_loss
        >>> probs, target = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{tversky_loss(probs, target, alpha=0.3, beta=0.7):.4f}")  # 1 - 1.7 / (1.7 + 0.09 + 0.21)
        0.1500
""", returns=REGION_RETURNS, none_shape="units")

focal_tversky_loss = loss_function(FocalTverskyOptions, _focal_tversky, "focal_tversky_loss", """
    Focal Tversky loss, per unit: ``(1 - TI)^(1/γ)`` with TI the Tversky index.

    Abraham N. & Khan N. M., "A novel focal Tversky loss function with improved attention U-Net for lesion
    segmentation", ISBI 2019. With γ > 1 the exponent is below 1: poorly segmented (small) structures keep a
    large gradient. Near TI = 1 the power is continued linearly below 1e-12 so the gradient stays finite.

    Example:
        >>> from monai_segloss.functional import focal_tversky_loss
        >>> probs, target = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{focal_tversky_loss(probs, target, gamma=4 / 3):.4f}")  # 0.15 ** 0.75
        0.2410
""", returns=REGION_RETURNS, none_shape="units")

log_cosh_dice_loss = loss_function(LogCoshDiceOptions, _log_cosh_dice, "log_cosh_dice_loss", """
    Log-cosh Dice loss, per unit: ``log(cosh(1 - Dice))``.

    Jadon S., "A survey of loss functions for semantic segmentation", CIBCB 2020. A smoothed Dice loss in
    [0, log cosh 1 ≈ 0.434].

    Example:
        >>> from monai_segloss.functional import log_cosh_dice_loss
        >>> probs, target = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{log_cosh_dice_loss(probs, target):.4f}")  # log(cosh(0.15))
        0.0112
""", returns=REGION_RETURNS, none_shape="units")

sensitivity_specificity_loss = loss_function(
    SensitivitySpecificityOptions, _sensitivity_specificity, "sensitivity_specificity_loss", """
    Sensitivity-specificity loss, per unit: ``r·Σ(g-p)²g/(Σg + s_dr) + (1-r)·Σ(g-p)²(1-g)/(Σ(1-g) + s_dr)``.

    Brosch T. et al., "Deep convolutional encoder networks for multiple sclerosis lesion segmentation",
    MICCAI 2015. The first term is the mean squared error over the target voxels (sensitivity), the second over
    the background (specificity); a small ``r`` counters the imbalance of lesion segmentation. Both terms are error
    rates (0 at best), so ``smooth_nr`` is not used: a numerator smoothing would score a class with no target voxel
    as a full error even for a perfect prediction.

    Example:
        >>> from monai_segloss.functional import sensitivity_specificity_loss
        >>> probs, target = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{sensitivity_specificity_loss(probs, target, r=0.5):.4f}")  # 0.5·0.05/2 + 0.5·0.05/2
        0.0250
""", returns=REGION_RETURNS, none_shape="units")

mcc_loss = loss_function(MCCOptions, _mcc, "mcc_loss", """
    Matthews correlation coefficient loss, per unit: ``1 - MCC`` with
    ``MCC = (TP·TN - FP·FN + s_nr) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN) + s_dr)`` on the soft confusion statistics.

    Abhishek K. & Hamarneh G., "Matthews correlation coefficient loss for deep convolutional networks: application
    to skin lesion segmentation", ISBI 2021. Unlike Dice and Tversky it counts the true negatives; the loss lies in
    [0, 2] (with ``smooth_nr = 0``). Same quantity as ``monai.losses.MCCLoss`` on units where the MCC is defined
    (parity tested; an exact prediction, FP = FN = 0, scores 0 as in MONAI). A unit whose target has no voxel, or no
    background voxel, makes a factor of the denominator 0: MONAI then scores it 1 with no gradient whatever the
    prediction (unless it is exact), so false positives on a lesion-free image are never penalised. Ours follows
    ``empty``, by default the false-positive rate (the miss rate for a full target), which is 0 at a perfect
    prediction and keeps a gradient; ``empty="smooth"`` gives MONAI's value. Computed in float64 (the products of
    four voxel counts).

    Example:
        >>> from monai_segloss.functional import mcc_loss
        >>> probs, target = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{mcc_loss(probs, target):.4f}")  # TP = TN = 1.7, FP = FN = 0.3: 1 - 2.8 / 4
        0.3000
""", returns=REGION_RETURNS, none_shape="units")

wasserstein_dice_loss = loss_function(WassersteinDiceOptions, _wasserstein_dice, "wasserstein_dice_loss", """
    Generalised Wasserstein Dice loss, per sample (or once with ``batch=True``): ``1 - (2 TP_M + s_nr) / (2 TP_M +
    Σ_i W_i + s_dr)`` with ``W_i = Σ_c M[l_i][c]·p_ic`` the Wasserstein distance, under the class distances M,
    between the prediction and the label l_i of voxel i, and ``TP_M = Σ_i α_{l_i}·(1 - W_i)``. The first index of
    M is the true class and the second the predicted one: ``M[l][c]`` is the cost of predicting c where the label is
    l. M need not be symmetric (as in MONAI; an asymmetric M is parity tested).

    Fidon L. et al., "Generalised Wasserstein Dice score for imbalanced multi-class segmentation using holistic
    convolutional networks", BrainLes (MICCAI workshop) 2017. Mistaking a class for a close one (small M) costs
    less than for a distant one, e.g. tumour sub-regions against background. ``weighting_mode="GDL"`` is the variant
    of Tilborghs S. et al., arXiv 2007.15546, 2020 (α_l = 1/(V_l + 1), denominator ``Σ_i α_{l_i}(2 - W_i)``). Same
    quantity as ``monai.losses.GeneralizedWassersteinDiceLoss`` with ``softmax=True`` (MONAI always applies a
    softmax; parity tested). ``weight`` multiplies α; channels not scored (``include_background=False``,
    ``exclude_channels``) get α = 0, i.e. add no true positive while every voxel's W still counts as an error. For a
    one-hot or soft target, ``W_i = Σ_l g_il·(M p_i)_l`` (the Wasserstein distance for a one-hot g). Categorical
    only: C >= 2 without ``sigmoid``.

    A sample is *empty* when its target holds no voxel of a class with α > 0 (only background); ``"fp"`` scores it
    by its mean Wasserstein error ``Σ_i W_i / n``. The unit of reduction is the sample, as
    :func:`generalized_dice_loss`.

    Example:
        >>> from monai_segloss.functional import wasserstein_dice_loss
        >>> logits = torch.tensor([[[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]])  # (1, 3 classes, 3 voxels)
        >>> labels = torch.tensor([[[0, 1, 2]]])
        >>> m = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]  # classes 1 and 2 are close
        >>> print(f"{wasserstein_dice_loss(logits, labels, softmax=True, to_onehot_y=True, dist_matrix=m):.4f}")
        0.0572
""", returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B,)`` (a 0-d tensor with ``batch=True``), 0 where a
        sample does not count.
""", none_shape="samples")

# (not generalized_dice: it scores a sample across its classes, not a (sample, class) unit, so it has no value per
# lesion of one class)
RegionKey = Literal["dice", "jaccard", "tversky", "focal_tversky", "log_cosh_dice", "sensitivity_specificity", "mcc"]

REGION_LOSSES: dict[str, LossFunction] = {
    fn.__name__.removesuffix("_loss"): fn
    for fn in (dice_loss, jaccard_loss, tversky_loss, focal_tversky_loss, log_cosh_dice_loss,
               sensitivity_specificity_loss, mcc_loss)
}
"""The region losses that score (sample, class) units, by registry key (what the blob loss's ``region`` option
names; ``RegionKey`` lists them)."""
