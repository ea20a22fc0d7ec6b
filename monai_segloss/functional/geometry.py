"""Geometry-aware losses, functional forms: prepare -> distance maps / lesion instances -> terms -> reduce.

Every function takes ``(input, target, mask=None, <precomputed>=None, **options)``; the options are those of
:class:`~monai_segloss.core.options.InputOptions` plus the loss's own, listed in its options class below.

Distances are Euclidean, in millimetres, from the voxel ``spacing`` (an option; when it is None and ``target`` (or the
precomputed map) is a MONAI ``MetaTensor``, the spacing is read from its affine, per sample; otherwise 1 mm). They
come from :func:`monai_segloss.geometry.distance.signed_distance` (SimpleITK). With ``sdt`` the signed distance
transform of a class mask (positive outside: distance to the nearest foreground voxel; negative inside: minus the
distance to the nearest background voxel) and ``δ`` the smallest spacing of the sample, the losses use

- the unsigned boundary field ``d = |sdt|`` (distance to the nearest voxel of the other class; Karimi 2019);
- the boundary-loss level set ``φ = sdt`` outside and ``sdt + δ`` inside (0 on the innermost foreground layer;
  with 1 mm spacing exactly ``monai.losses.BoundaryLoss``'s map).

The target's φ can be precomputed in the data pipeline by :class:`monai_segloss.SignedDistanceMapd` and
passed as ``distance``: ``(B, C, *S)`` (or ``(B, K, *S)`` for the K kept channels); every distance loss derives what
it needs from it (``d = φ`` outside, ``δ - φ`` inside) and the result equals the on-the-fly computation.

Class masks are ``target > 0.5`` (soft targets are thresholded as in MONAI) and predicted masks ``p > 0.5``, both
restricted to the valid voxels; voxels ignored by ``mask``/``ignore_index`` are outside every mask and count in no
sum or mean. A mask that is empty or fills the image has no boundary: its map is 0 (MONAI's convention), so a
(sample, class) with an empty or all-foreground target gets no distance weighting (see each loss for what is left).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from ..core import checks
from ..core.broadcast import channel_view, unit_view
from ..core.options import InputOptions, RegionOptions, option
from ..core.prepare import PreparedInput, prepare_input
from ..core.reduce import reduce_units, reduce_voxels, safe_ratio, valid_voxel_count, voxel_count
from ..core.stats import RegionStats
from ..geometry.distance import resolve_spacing, signed_distance
from ..geometry.instances import lesion_instances
from .base import loss_function
from .distribution import voxel_units
from .region import REGION_LOSSES, UNIT_SCORES, RegionKey, UnitScore, score_units

__all__ = [
    "GeometryOptions", "HausdorffDTOptions", "LogHausdorffDTOptions", "BoundaryOptions", "ShapeAwareOptions",
    "DistancePenalizedCEOptions", "StructuralSimilarityOptions", "BlobOptions",
    "hausdorff_dt_loss", "log_hausdorff_dt_loss", "boundary_loss", "shape_aware_loss", "distance_penalized_ce_loss",
    "structural_similarity_loss", "blob_loss",
]


@dataclass(frozen=True)
class GeometryOptions(InputOptions):
    """Options of the distance losses: :class:`InputOptions` plus the voxel spacing."""

    spacing: float | Sequence[float] | None = option(
        None, "voxel size in mm, one value per spatial dim (e.g. ``(0.8, 0.8, 3.0)``) or one for all; None reads it "
              "per sample from the affine of ``target`` when it is a MONAI ``MetaTensor`` (else of ``distance``), "
              "otherwise 1 mm.", checks.spacing)


@dataclass(frozen=True)
class HausdorffDTOptions(GeometryOptions):
    """Options of :func:`hausdorff_dt_loss`."""

    alpha: float = option(2.0, "α > 0, exponent of the distances.", checks.number(0, low_open=True))
    batch: bool = option(False, "one unit per class over the whole batch (its mean over every sample's valid "
                                "voxels) instead of one per (sample, class), as MONAI's ``batch``.")


@dataclass(frozen=True)
class LogHausdorffDTOptions(HausdorffDTOptions):
    """Options of :func:`log_hausdorff_dt_loss`."""

    reduction: Literal["mean", "sum", "none"] = option(
        "mean", "the log of 1 + the ``\"mean\"`` or ``\"sum\"`` over the units of their mean voxel term, as MONAI; "
                "``\"none\"``: ``(B, K)`` (``(K,)`` with ``batch``), each unit's own log.")


@dataclass(frozen=True)
class BoundaryOptions(GeometryOptions):
    """Options of :func:`boundary_loss` (only the common and geometry options)."""


@dataclass(frozen=True)
class ShapeAwareOptions(GeometryOptions):
    """Options of :func:`shape_aware_loss` (only the common and geometry options)."""


@dataclass(frozen=True)
class DistancePenalizedCEOptions(GeometryOptions):
    """Options of :func:`distance_penalized_ce_loss`."""

    penalty: float = option(1.0, "λ >= 0, scale of the distance penalty: the weight is ``1 + λ·Φ``.", checks.number(0))


@dataclass(frozen=True)
class StructuralSimilarityOptions(InputOptions):
    """Options of :func:`structural_similarity_loss`."""

    beta: float = option(0.1, "β in [0, 1): a voxel is selected when its structural error exceeds β times the "
                              "largest of its (sample, class).", checks.number(0, 1, high_open=True))
    kernel_size: int = option(3, "odd side (>= 3) of the window of the local statistics.",
                               checks.odd_integer(3))
    c4: float = option(0.01, "C4 > 0, stabiliser of the normalisation.", checks.number(0, low_open=True))


_INNER_FORBIDDEN = ("sigmoid", "softmax", "other_act", "to_onehot_y", "include_background", "exclude_channels",
                    "weight", "ignore_index", "reduction", "batch", "distributed")


@dataclass(frozen=True)
class BlobOptions(InputOptions):
    """Options of :func:`blob_loss`."""

    region: RegionKey = option("dice", "key of the inner region loss L.")
    region_kwargs: Mapping[str, Any] | None = option(
        None, "options of L (e.g. ``{\"alpha\": 0.3, \"beta\": 0.7}`` for ``\"tversky\"``, or ``smooth_nr``, "
              "``empty``), without the input options, which the blob loss applies.", checks.mapping, compare=False)
    global_weight: float = option(2.0, "α >= 0, weight of the global term.", checks.number(0))
    lesion_weight: float = option(1.0, "β >= 0, weight of the mean lesion term.", checks.number(0))
    fully_connected: bool = option(True, "lesions are 26-connected in 3D (8 in 2D) when True, face-connected "
                                         "otherwise.")

    def validate(self) -> None:
        super().validate()
        kw = self.region_kwargs or {}
        bad = sorted(set(kw) & set(_INNER_FORBIDDEN))
        if bad:
            raise ValueError(f"region_kwargs must not set {bad}: the blob loss applies the input options itself")
        self.inner_options()  # validates the inner options now

    def inner_options(self) -> RegionOptions:
        """The options of the inner region loss: ``region_kwargs`` and ``reduction="none"`` (it is called on
        probabilities and one-hot targets that the blob loss prepared). Validated once, then cached."""
        inner = self.__dict__.get("_inner")
        if inner is None:
            inner = REGION_LOSSES[self.region].options_cls.parse({**(self.region_kwargs or {}), "reduction": "none"},
                                                                 f"region_kwargs of {self.region!r}")
            self.__dict__["_inner"] = inner
        return inner  # type: ignore[return-value]

    def lesion_score(self) -> UnitScore | None:
        """The inner loss's :class:`~monai_segloss.functional.region.UnitScore` when a lesion's loss follows from
        its confusion statistics Σp·g, Σp, Σg and its voxel count alone (``dice``, ``jaccard``, ``tversky``,
        ``focal_tversky``, ``log_cosh_dice`` without ``soft_label`` or ``squared_pred``): the blob loss then scores
        every lesion from per-segment sums. None otherwise (one masked inner call per lesion). Resolved once per
        options object (in its memo: the scores hold closures, which are not pickled)."""
        memo = self.memo()
        if "lesion_score" not in memo:
            inner, make = self.inner_options(), UNIT_SCORES.get(self.region)
            score = None if make is None or inner.soft_label else make(inner)
            memo["lesion_score"] = None if score is None or score.squared else score
        return memo["lesion_score"]


# ------------------------------------------------------------------------------------------------ shared helpers

def _spacings(opts: GeometryOptions, prep: PreparedInput, target: Any, distance: Any) -> list[tuple[float, ...]]:
    x = prep.input
    return resolve_spacing(opts.spacing, x.shape[0], x.ndim - 2, target, distance)


def _valid_masks(prep: PreparedInput, values: torch.Tensor) -> torch.Tensor:
    """``values > 0.5`` restricted to the valid voxels, ``(B, K, *S)`` bool."""
    m = values.detach() > 0.5
    if prep.valid is not None:
        m = m & prep.valid.unsqueeze(1)
    return m


def _maps(masks: torch.Tensor, spacings: list[tuple[float, ...]], dtype: torch.dtype, kind: str) -> torch.Tensor:
    """Distance maps (``kind`` of :func:`signed_distance`) of ``(B', K, *S)`` masks, b' using ``spacings[b' % B]``."""
    b, k = masks.shape[:2]
    per_mask = [spacings[(i // k) % len(spacings)] for i in range(b * k)]
    return signed_distance(masks.flatten(0, 1), per_mask, kind=kind).view(masks.shape).to(dtype)


def _precomputed(name: str, value: Any, prep: PreparedInput, integral: bool = False) -> torch.Tensor:
    """A precomputed ``(B, C, *S)`` or ``(B, K, *S)`` map -> its kept channels ``(B, K, *S)``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, *S), got {type(value).__name__}")
    x = prep.input
    b, c, spatial = x.shape[0], x.shape[1], tuple(x.shape[2:])
    k = prep.channels.numel()
    shape = tuple(value.shape)
    if shape == (b, c, *spatial):
        out = prep.keep(value.detach())
    elif shape == (b, k, *spatial):
        out = value.detach()
    else:
        raise ValueError(f"{name} must have shape (B, C, *S) = {(b, c, *spatial)} (or (B, K, *S) for the {k} kept "
                         f"channels), got {shape}")
    if value.device != x.device:
        raise ValueError(f"{name} must be on the input's device {x.device}, got {value.device}")
    if integral:
        if value.is_floating_point() or value.is_complex():
            raise TypeError(f"{name} must be an integer tensor of instance ids, got {value.dtype}")
        return out.long().as_subclass(torch.Tensor)
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point distance map, got {value.dtype}")
    return out.to(x.dtype).as_subclass(torch.Tensor)


def _target_level_set(prep: PreparedInput, g: torch.Tensor | None, spacings, distance: Any) -> torch.Tensor:
    """The target's level set φ ``(B, K, *S)``: precomputed (``distance``) or computed now from ``g``."""
    if distance is not None:
        return _precomputed("distance", distance, prep)
    assert g is not None  # the callers skip the one-hot target only when the level set is precomputed
    return _maps(_valid_masks(prep, g), spacings, prep.input.dtype, "level_set")


def _unsigned_from_level_set(phi: torch.Tensor, spacings) -> torch.Tensor:
    """``|sdt|`` from φ: φ outside (φ > 0), δ - φ inside; 0 for a map without boundary (φ = 0 everywhere)."""
    delta = unit_view(phi.new_tensor([min(s) for s in spacings]), phi.ndim)
    has_boundary = unit_view(phi.flatten(2).amax(2), phi.ndim) > 0
    return torch.where(phi > 0, phi, (delta - phi) * has_boundary)


def _with_weight_and_validity(loss: torch.Tensor, prep: PreparedInput) -> torch.Tensor:
    if prep.weight is not None:
        loss = loss * channel_view(prep.weight, loss.ndim)
    v = prep.valid_float()
    return loss if v is None else loss * v


def _categorical(prep: PreparedInput) -> bool:
    """Softmax outputs and label maps are scored by categorical CE, everything else by binary CE per channel."""
    return prep.options.softmax or prep.labels is not None


def _ce_terms(prep: PreparedInput, g: torch.Tensor) -> torch.Tensor:
    """Per-channel cross-entropy terms ``(B, K, *S)``: ``-g log p`` (categorical) or
    ``-(g log p + (1-g) log(1-p))`` (binary), from logits where an activation is set."""
    logp, log1mp = prep.log_probs()
    logp = prep.keep(logp)
    if _categorical(prep) or log1mp is None:
        return -g * logp
    return -(g * logp + (1 - g) * prep.keep(log1mp))


def _ce_count(prep: PreparedInput, loss: torch.Tensor) -> torch.Tensor:
    """Divisor of the CE mean: valid voxels (categorical: classes summed per voxel) or voxels x channels."""
    return valid_voxel_count(loss, prep.valid) if _categorical(prep) else voxel_count(loss, prep.valid)


def _inner_contour(m: torch.Tensor) -> torch.Tensor:
    """Voxels of ``m`` ``(B, K, *S)`` with a face neighbour outside ``m`` (the image border is not a boundary)."""
    edge = torch.zeros_like(m)
    for ax in range(2, m.ndim):
        n = m.shape[ax]
        if n < 2:
            continue
        diff = m.narrow(ax, 0, n - 1) != m.narrow(ax, 1, n - 1)
        edge.narrow(ax, 0, n - 1).logical_or_(diff)
        edge.narrow(ax, 1, n - 1).logical_or_(diff)
    return m & edge


# ------------------------------------------------------------------------------------------------ the losses

def _hausdorff_dt(input, target, mask, o: HausdorffDTOptions, distance=None) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    spacings = _spacings(o, prep, target, distance)
    p = prep.keep(prep.probs())
    g = prep.keep(prep.target_onehot())
    pred_masks = _valid_masks(prep, p)
    with torch.no_grad():
        if distance is None:  # one batched call: target and prediction maps share the thread pool
            d_g, d_p = _maps(torch.cat([_valid_masks(prep, g), pred_masks]), spacings, p.dtype, "unsigned").chunk(2)
        else:
            d_g = _unsigned_from_level_set(_precomputed("distance", distance, prep), spacings)
            d_p = _maps(pred_masks, spacings, p.dtype, "unsigned")
        if o.alpha == 2.0:
            w = d_g.mul_(d_g).addcmul_(d_p, d_p)
        else:
            w = d_g.pow_(o.alpha).add_(d_p.pow_(o.alpha))
    diff = p - g
    loss = diff * diff * w
    valid = prep.valid_float()
    if valid is not None:
        loss = loss * valid
    units = voxel_units(loss, prep, o.batch, categorical=False)  # the mean over each unit's valid voxels
    if prep.valid is None:
        present = None
    else:
        present = prep.valid.flatten(1).any(1, keepdim=True)
        present = present.any(0) if o.batch else present
    return reduce_units(units, o.reduction, weight=prep.weight,
                        present=None if present is None else present.expand_as(units))


def _log_hausdorff_dt(input, target, mask, o: LogHausdorffDTOptions, distance=None) -> torch.Tensor:
    return torch.log1p(_hausdorff_dt(input, target, mask, o, distance))  # of the reduced value, or of each unit


def _boundary(input, target, mask, o: BoundaryOptions, distance=None) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    spacings = _spacings(o, prep, target, distance)
    g = None if distance is not None else prep.keep(prep.target_onehot())  # precomputed φ needs no one-hot
    phi = _target_level_set(prep, g, spacings, distance)
    if o.reduction == "none":
        return _with_weight_and_validity(prep.keep(prep.probs()) * phi, prep)
    total = prep.prob_dot(_with_weight_and_validity(phi, prep))  # linear in p: weights and validity go into φ
    return total if o.reduction == "sum" else total / voxel_count(phi, prep.valid).clamp_min(1)


def _shape_aware(input, target, mask, o: ShapeAwareOptions, distance=None) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    spacings = _spacings(o, prep, target, distance)
    p = prep.keep(prep.probs())
    g = prep.keep(prep.target_onehot())
    with torch.no_grad():
        phi = _target_level_set(prep, g, spacings, distance).abs()
        contour = _inner_contour(_valid_masks(prep, p)).to(p.dtype)
        e = safe_ratio((contour * phi).flatten(2).sum(2), contour.flatten(2).sum(2), 0.0)  # (B, K) mm
    loss = (1 + unit_view(e, p.ndim)) * _ce_terms(prep, g)
    loss = _with_weight_and_validity(loss, prep)
    return reduce_voxels(loss, o.reduction, valid=prep.valid, count=_ce_count(prep, loss))


def _distance_penalized_ce(input, target, mask, o: DistancePenalizedCEOptions, distance=None) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    spacings = _spacings(o, prep, target, distance)
    g = prep.keep(prep.target_onehot())
    with torch.no_grad():
        phi = _target_level_set(prep, g, spacings, distance)
        inside = _valid_masks(prep, g)
        # depth from the boundary: |φ| inside, φ - δ outside (0 on the boundary layers of both sides)
        delta = phi.new_tensor([min(sp) for sp in spacings]).view(-1, *([1] * (phi.ndim - 1)))
        d = torch.where(inside, -phi, (phi - delta).clamp_min(0))
        if prep.valid is not None:
            d = d * prep.valid.unsqueeze(1)

        def side_max(m: torch.Tensor) -> torch.Tensor:  # (B, K, 1, ...) largest distance on one side
            return unit_view(torch.where(m, d, 0).flatten(2).amax(2), d.ndim)

        # Φ = 1 - d / max d, the maximum taken on the voxel's own side of the boundary: 1 at the boundary, 0 at the
        # deepest voxel inside and at the farthest voxel outside; 0 everywhere for a target without boundary (φ = 0)
        dmax = torch.where(inside, side_max(inside), side_max(~inside))
        has_boundary = unit_view(phi.flatten(2).amax(2), d.ndim) > 0
        weight = torch.where(has_boundary, 1 - d / torch.where(dmax > 0, dmax, torch.ones_like(dmax)),
                             torch.zeros_like(d))
    loss = _with_weight_and_validity((1 + o.penalty * weight) * _ce_terms(prep, g), prep)
    return reduce_voxels(loss, o.reduction, valid=prep.valid, count=_ce_count(prep, loss))


def _local_mean_std(x: torch.Tensor, v: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of ``x`` over the valid voxels of a ``k``-wide window (0 without any).

    The deviation is ``sqrt(var + 1e-12)``: differentiable where a window is uniform."""
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[x.ndim - 3]
    pad = [k // 2] * (2 * (x.ndim - 2))

    def avg(t: torch.Tensor) -> torch.Tensor:  # zero padding: the valid-voxel counts make it a masked mean
        return pool(F.pad(t, pad), k, stride=1)

    vm = avg(v).expand_as(x)
    mean = safe_ratio(avg(x * v), vm, 0.0)
    sq = safe_ratio(avg(x * x * v), vm, 0.0)
    return mean, ((sq - mean * mean).clamp_min(0) + 1e-12).sqrt()


def _structural_similarity(input, target, mask, o: StructuralSimilarityOptions) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    p = prep.keep(prep.probs())
    g = prep.keep(prep.target_onehot())
    v = prep.valid_float()
    v = torch.ones_like(p[:, :1]) if v is None else v
    with torch.no_grad():
        mu_g, sd_g = _local_mean_std(g, v, o.kernel_size)
        g_norm = (g - mu_g) / (sd_g + o.c4)
    mu_p, sd_p = _local_mean_std(p, v, o.kernel_size)
    e = (g_norm - (p - mu_p) / (sd_p + o.c4)).abs() * v
    with torch.no_grad():
        e_max = unit_view(e.flatten(2).amax(2), e.ndim)
        selected = (e > o.beta * e_max) & (v > 0)
    loss = _with_weight_and_validity(e * selected * _ce_terms(prep, g), prep)
    count = selected.sum().to(loss.dtype)
    return reduce_voxels(loss, o.reduction, valid=prep.valid, count=count)


_BLOB_CHUNK = 1 << 23  # voxels per batch of lesion units given to the inner loss (bounds the memory)
_SEGMENT_CHUNK = 1 << 21  # voxels per pass of the segment sums (a float64 temporary of 16 MiB at most)
_LANES = 8  # accumulators per segment in the segment sums (see :class:`_SegmentSums`)
_FAST_LESIONS = True  # the segment sums for the inner losses that allow them (tests compare with the generic path)


def _lesion_sums_generic(p: torch.Tensor, g: torch.Tensor, inst: torch.Tensor, valid: torch.Tensor | None,
                         inner) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ of the lesion losses and number of lesions per (sample, class) ``(B, K)``: the inner loss called on every
    lesion's volume, every other lesion of its class masked out (any inner loss)."""
    b, k = p.shape[:2]
    units: list[tuple[int, int, int]] = []
    for bi in range(b):
        for ki in range(k):
            ids = torch.unique(inst[bi, ki])
            units.extend((bi, ki, int(i)) for i in ids.tolist() if i > 0)
    sums = p.new_zeros(b, k)
    counts = p.new_zeros(b, k)
    step = max(1, _BLOB_CHUNK // max(1, p[0, 0].numel()))
    for start in range(0, len(units), step):
        chunk = units[start:start + step]
        samples = torch.tensor([u[0] for u in chunk], device=p.device)
        classes = torch.tensor([u[1] for u in chunk], device=p.device)
        ids = unit_view(torch.tensor([u[2] for u in chunk], device=p.device), p.ndim - 1)
        lab = inst[samples, classes]
        keep = (lab == 0) | (lab == ids)  # every other lesion of the class is masked out
        if valid is not None:
            keep = keep & valid[samples]
        flat = samples * k + classes
        # index_select, not p[bi, ki]: the backward of advanced indexing with repeated (sample, class) pairs
        # accumulates with parallel atomic adds on CPU (not bitwise reproducible); index_select's is an index_add
        pl = p.flatten(0, 1).index_select(0, flat).unsqueeze(1)
        gl = g.flatten(0, 1).index_select(0, flat).unsqueeze(1)
        per_lesion = inner(pl, gl, keep.unsqueeze(1))[:, 0]
        sums = sums + torch.zeros(b * k, dtype=p.dtype, device=p.device).index_add(0, flat, per_lesion).view(b, k)
        counts = counts + torch.bincount(flat, minlength=b * k).view(b, k).to(p.dtype)
    return sums, counts


def _bins(seg: torch.Tensor, weights: torch.Tensor | None, size: int) -> torch.Tensor:
    """``(size,)`` sums of ``weights`` per value of ``seg`` (all in ``[0, size)``), in ``weights``' dtype; counts
    (int64) when None. A ``scatter_add_`` along the voxels (sequential on CPU; a deterministic CUDA
    implementation), or a ``bincount`` for the counts on CPU (a CUDA ``bincount`` reads its largest value back to
    the host)."""
    if weights is None:
        if seg.device.type == "cpu":
            return torch.bincount(seg, minlength=size)
        weights = torch.ones((), dtype=torch.long, device=seg.device).expand_as(seg)
    return torch.zeros(size, dtype=weights.dtype, device=seg.device).scatter_add_(0, seg, weights)


class _SegmentSums(torch.autograd.Function):
    """Per segment (row, instance id) of ``(R, V)`` rows, over the valid voxels: ``(3, R, ids)`` float64 Σp·g, Σp,
    Σg and ``(R, ids)`` int64 voxel counts.

    Negative ids (when ``nonnegative`` is False) and invalid voxels (``valid`` ``(R, V)`` bool, or None) go to one
    extra segment that is dropped. Rows are taken a few at a time (at most about ``_SEGMENT_CHUNK`` voxels): each
    pass makes its voxels' segment ids (int64, kept for the backward: 8 bytes per voxel and row until then) and
    one float64 ``scatter_add_`` per sum (float64 accumulation, as the label-map statistics; :func:`_bins`).
    Voxel v adds into lane ``v % _LANES`` of its segment, the lanes summed after: consecutive voxels of one
    segment (the background, most of a row) do not wait on each other's addition. The backward is a gather:
    ``dL/dp = dL/dΣpg[seg]·g + dL/dΣp[seg]``, and ``dL/dg = dL/dΣpg[seg]·p + dL/dΣg[seg]`` where ``g`` requires a
    gradient (a dense target).
    """

    @staticmethod
    def forward(ctx, p: torch.Tensor, g: torch.Tensor, inst: torch.Tensor, valid: torch.Tensor | None, ids: int,
                nonnegative: bool) -> tuple[torch.Tensor, torch.Tensor]:
        rows, v = p.shape
        step = max(1, _SEGMENT_CHUNK // max(1, v))
        sums = torch.empty(3, rows, ids, dtype=torch.float64, device=p.device)
        counts = torch.empty(rows, ids, dtype=torch.long, device=p.device)
        lane = torch.arange(v, device=p.device).remainder_(_LANES)
        segs = []
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            lab = inst[r0:r1]
            dump = (r1 - r0) * ids  # the segment of the voxels that count nowhere
            seg = torch.arange(0, dump * _LANES, ids * _LANES, device=p.device).unsqueeze(1).add(lane)
            seg.add_(lab, alpha=_LANES)  # (row·ids + id)·lanes + lane
            drop = None if nonnegative else lab < 0
            if valid is not None:
                drop = ~valid[r0:r1] if drop is None else drop | ~valid[r0:r1]
            if drop is not None:
                seg = torch.where(drop, lane + dump * _LANES, seg)
            seg = seg.view(-1)
            segs.append(seg)
            size = (dump + 1) * _LANES
            pc, gc = p[r0:r1].reshape(-1), g[r0:r1].reshape(-1)
            w = torch.mul(pc, gc, out=torch.empty(seg.shape, dtype=torch.float64, device=p.device))  # one buffer
            for j, src in enumerate((None, pc, gc)):
                if src is not None:
                    w.copy_(src)
                sums[j, r0:r1] = _bins(seg, w, size).view(-1, _LANES).sum(1)[:dump].view(r1 - r0, ids)
            counts[r0:r1] = _bins(seg, None, size).view(-1, _LANES).sum(1)[:dump].view(r1 - r0, ids)
        if any(ctx.needs_input_grad[:2]):
            ctx.segs, ctx.step = segs, step
            ctx.save_for_backward(p, g)
        ctx.mark_non_differentiable(counts)
        return sums, counts

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor, _counts: None):
        p, g = ctx.saved_tensors
        need_p, need_g = ctx.needs_input_grad[:2]
        grad = grad.to(p.dtype)
        dp = torch.empty(p.shape, dtype=p.dtype, device=p.device) if need_p else None
        dg = torch.empty(g.shape, dtype=g.dtype, device=g.device) if need_g else None
        for i, seg in enumerate(ctx.segs):
            r0 = i * ctx.step
            r1 = min(p.shape[0], r0 + ctx.step)
            d = F.pad(grad[:, r0:r1].reshape(3, -1), (0, 1))  # the dropped segment: no gradient
            d = d.unsqueeze(2).expand(*d.shape, _LANES).reshape(3, -1)  # every lane of a segment
            dtp = d[0].index_select(0, seg)
            if dp is not None:  # written in place: no temporary but dtp
                out = torch.index_select(d[1], 0, seg, out=dp[r0:r1].view(-1))
                out.addcmul_(dtp, g[r0:r1].reshape(-1))
            if dg is not None:
                out = torch.index_select(d[2], 0, seg, out=dg[r0:r1].view(-1))
                out.addcmul_(dtp, p[r0:r1].reshape(-1))
        return dp, dg, None, None, None, None


def _lesion_sums_fast(p: torch.Tensor, g: torch.Tensor, inst: torch.Tensor, valid: torch.Tensor | None,
                      inner: RegionOptions, score: UnitScore) -> tuple[torch.Tensor, torch.Tensor]:
    """What :func:`_lesion_sums_generic` gives, for an inner loss scored from the confusion statistics alone.

    Lesion l of unit (b, k) is scored on the voxels of instance 0 or l: its statistics are those of the two
    segments, T_0 + T_l, P_0 + P_l, G_0 + G_l and N_0 + N_l (:class:`_SegmentSums`), scored by ``score`` with the
    inner options' empty policy (:func:`~monai_segloss.functional.region.score_units`, reduction ``"none"``), as
    the inner call on the lesion's masked volume scores them. A segment id > 0 with no valid voxel is no lesion.
    """
    b, k = p.shape[:2]
    rows = b * k
    inst = inst.reshape(rows, -1)
    lo, top = torch.stack(torch.aminmax(inst)).tolist() if inst.numel() else (0, 0)  # the one host read
    if top <= 0:
        return p.new_zeros(b, k), p.new_zeros(b, k)
    if rows * (top + 1) > inst.numel():  # sparse ids (precomputed): renumber them in order, 0 kept at 0
        known, ranks = torch.unique(torch.cat([inst.new_zeros(1), inst.flatten().clamp_min(0)]), return_inverse=True)
        top = known.numel() - 1
        inst = ranks[1:].view(rows, -1) if lo >= 0 else torch.where(inst < 0, -1, ranks[1:].view(rows, -1))
    v = None if valid is None else valid.unsqueeze(1).expand(b, k, *valid.shape[1:]).reshape(rows, -1)
    sums, counts = _SegmentSums.apply(p.reshape(rows, -1), g.reshape(rows, -1), inst, v, top + 1, lo >= 0)
    stats = (sums[:, :, 1:] + sums[:, :, :1]).to(p.dtype)  # lesion l: its own segment and the background's
    lesion = counts[:, 1:] > 0
    n = torch.where(lesion, counts[:, 1:] + counts[:, :1], 0).to(p.dtype)  # no voxel: not a unit (not present)
    st = RegionStats(tp=stats[0], psum=stats[1], gsum=stats[2], n=n, all_present=False)
    per_lesion = score_units(st, inner, score, None, "none")  # (B·K, top), 0 where no lesion
    return per_lesion.sum(1).view(b, k), lesion.sum(1).view(b, k).to(p.dtype)


def _blob(input, target, mask, o: BlobOptions, instances=None) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    p = prep.keep(prep.probs())
    g = prep.keep(prep.target_onehot())
    b, k = p.shape[:2]
    inner_fn, inner_options = REGION_LOSSES[o.region], o.inner_options()

    def inner(p: torch.Tensor, g: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return inner_fn.apply(p, g, mask, inner_options)

    valid = prep.valid
    vmask = None if valid is None else valid.unsqueeze(1)
    global_term = inner(p, g, vmask)  # (B, K)
    if instances is None:
        inst = lesion_instances(_valid_masks(prep, g).flatten(0, 1), o.fully_connected).view(g.shape).long()
    else:
        inst = _precomputed("instances", instances, prep, integral=True)
        if valid is not None:
            inst = inst * valid.unsqueeze(1)
    score = o.lesion_score() if _FAST_LESIONS else None
    if score is None:
        sums, counts = _lesion_sums_generic(p, g, inst, valid, inner)
    else:
        sums, counts = _lesion_sums_fast(p, g, inst, valid, inner_options, score)
    lesion_term = torch.where(counts > 0, sums / counts.clamp_min(1), global_term)
    total = o.global_weight * global_term + o.lesion_weight * lesion_term
    present = None if valid is None else valid.flatten(1).any(1, keepdim=True).expand(b, k)
    return reduce_units(total, o.reduction, weight=prep.weight, present=present)


# ------------------------------------------------------------------------------------------------ public forms

_DISTANCE = (("distance", "Tensor | None",
              "precomputed level sets φ of the target classes (signed distances in mm, the innermost foreground "
              "layer at 0), ``(B, C, *S)`` or ``(B, K, *S)`` for the kept channels, as made by "
              "``monai_segloss.SignedDistanceMapd``; taken as given, so build them from the same target, spacing "
              "and ignored voxels. None (default) computes them on the fly with SimpleITK."),)

_VOXEL_RETURNS = """
    Returns:
        A scalar for ``"mean"``/``"sum"``; ``(B, K, *S)`` voxel terms for ``"none"`` (0 at ignored voxels).
"""

hausdorff_dt_loss = loss_function(HausdorffDTOptions, _hausdorff_dt, "hausdorff_dt_loss", """
    Distance-transform Hausdorff loss: ``mean_v (p - g)² · (d_g^α + d_p^α)``.

    Karimi D. & Salcudean S. E., "Reducing the Hausdorff distance in medical image segmentation with convolutional
    neural networks", IEEE TMI 39(2), 2020 (arXiv 2019). ``d_g`` (``d_p``) is the distance in mm of each voxel to the
    nearest voxel of the other class in the target (in the prediction thresholded at 0.5, detached); an empty or full
    mask gives ``d = 0``, so an empty target is scored by ``(p - g)²·d_p^α`` alone, and a prediction and target both
    without boundary give 0.

    The unit is a (sample, class), or a class with ``batch=True``: its loss is the mean of the voxel terms over its
    valid voxels; ``"mean"`` averages the units that have a valid voxel (with class weights: ``Σ w·unit / #units``),
    ``"sum"`` adds them, ``"none"`` returns them, as MONAI does. Without a ``mask`` or ``ignore_index``, ``"mean"`` is
    the mean over every voxel and kept channel.

    With ``spacing`` 1 this is ``monai.losses.HausdorffDTLoss`` on shared options, every reduction and ``batch``
    included (MONAI's ``"none"`` is ``(B, K, 1, ...)``, ours ``(B, K)``; MONAI's default ``include_background`` is
    False, ours True). With another spacing the distances are in mm where MONAI, which knows no spacing, keeps voxel
    units: e.g. spacing 2 in every axis with α = 2 gives 4 × MONAI's value, and an anisotropic spacing changes which
    voxel is nearest.

    Example:
        >>> from monai_segloss.functional import hausdorff_dt_loss
        >>> probs, target = torch.tensor([[[0.0, 0.9, 0.8, 0.1, 0.0]]]), torch.tensor([[[0.0, 1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{hausdorff_dt_loss(probs, target):.4f}")
        0.0240
""", maps=_DISTANCE, returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; for ``"none"``, ``(B, K)`` (``(K,)`` with ``batch=True``): the mean voxel
        term of each unit, 0 for a unit without valid voxel.
""", none_shape="units")

log_hausdorff_dt_loss = loss_function(LogHausdorffDTOptions, _log_hausdorff_dt, "log_hausdorff_dt_loss", """
    Log distance-transform Hausdorff loss: ``log(1 + H)`` with H the :func:`hausdorff_dt_loss` reduced over the
    (sample, class) units (classes with ``batch=True``), each unit scored by the mean of ``(p - g)² · (d_g^α +
    d_p^α)`` over its valid voxels.

    The logarithm (``monai.losses.LogHausdorffDTLoss``) damps the large values of the distance term early in
    training; the distances are those of :func:`hausdorff_dt_loss` (mm, from ``spacing`` or the affine). With
    ``spacing`` 1 this equals ``monai.losses.LogHausdorffDTLoss`` on shared options for every reduction (parity
    tested; MONAI's default ``include_background`` is False, ours True): ``"mean"`` is ``log(1 + mean of the unit
    means)``, ``"sum"`` ``log(1 + sum of the unit means)``, and ``"none"`` gives each unit's ``log(1 + mean)``,
    ``(B, K)`` where MONAI keeps ``(B, K, 1, ...)``. With ignored voxels a unit's mean runs over its valid voxels.
    Reads the prediction's distance maps on the host, as :func:`hausdorff_dt_loss`.

    Example:
        >>> from monai_segloss.functional import log_hausdorff_dt_loss
        >>> probs, target = torch.tensor([[[0.0, 0.9, 0.8, 0.1, 0.0]]]), torch.tensor([[[0.0, 1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{log_hausdorff_dt_loss(probs, target):.4f}")  # log(1 + 0.0240)
        0.0237
""", maps=_DISTANCE, returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; ``(B, K)`` for ``"none"`` (``(K,)`` with ``batch=True``; 0 for a unit
        without valid voxel).
""", none_shape="units")

boundary_loss = loss_function(BoundaryOptions, _boundary, "boundary_loss", """
    Boundary loss: ``mean_v φ_g · p``, with φ_g the target's level set in mm (negative inside).

    Kervadec H. et al., "Boundary loss for highly unbalanced segmentation", MIDL 2019 / MedIA 2021. φ_g is the
    distance to the nearest foreground voxel outside the target and minus (the distance to the nearest background
    voxel - δ) inside, δ the smallest spacing, so the innermost layer of the target is 0. An empty or all-foreground
    target has no boundary: φ = 0, the (sample, class) contributes 0 (pair the loss with a region loss, as the
    paper does; see :class:`monai_segloss.LinearRamp`). The loss is not bounded below by 0: its minimum, reached by
    the perfect prediction, is ``mean(φ_g · g) <= 0``.

    With ``spacing`` 1 this equals ``monai.losses.BoundaryLoss`` on shared options (``reduction="mean"``: the sum
    over voxels divided by their number, averaged over samples and channels). With another spacing the map is in
    mm and the inner offset is δ (MONAI, which knows no spacing, uses voxel units and an offset of 1).

    Speed: the loss is linear in p, so under softmax (with ``reduction`` ``"mean"``/``"sum"``) it is one fused
    softmax-and-product with a closed-form backward; with φ precomputed by
    :class:`~monai_segloss.SignedDistanceMapd` a step costs about one softmax forward and backward.

    Example:
        >>> from monai_segloss.functional import boundary_loss
        >>> probs, target = torch.tensor([[[0.0, 0.9, 0.8, 0.1, 0.0]]]), torch.tensor([[[0.0, 1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{boundary_loss(probs, target):.4f}")  # φ = (1, 0, 0, 1, 2): (0.1) / 5
        0.0200
""", maps=_DISTANCE, returns=_VOXEL_RETURNS, none_shape="voxels")

shape_aware_loss = loss_function(ShapeAwareOptions, _shape_aware, "shape_aware_loss", """
    Shape-aware loss: ``(1 + E_{b,c}) · CE`` per voxel.

    Jadon S., "A survey of loss functions for semantic segmentation", CIBCB 2020 (after Hayder Z. et al., "Boundary-
    aware instance segmentation", CVPR 2017): the cross-entropy is weighted by ``E``, the average Euclidean distance
    (mm) of the points of the predicted contour to the target contour. Here, per (sample, class), the predicted
    contour is the set of voxels of ``p > 0.5`` with a face neighbour outside it, and the distance of a voxel to the
    target contour is ``|φ_g|`` (the boundary-loss level set, 0 on the innermost target layer); E is detached. A
    prediction or target without boundary (empty or full) gives E = 0, i.e. plain cross-entropy.

    The cross-entropy is categorical (``-Σ_c g_c log p_c``, mean over valid voxels) with ``softmax=True`` or a label
    map, and binary per channel otherwise (mean over valid voxels and kept channels), from logits when an activation
    is set.

    Example:
        >>> from monai_segloss.functional import shape_aware_loss
        >>> logits, target = torch.tensor([[[-3.0, 2.0, 2.0, 1.0, -3.0]]]), torch.tensor([[[0.0, 1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{shape_aware_loss(logits, target, sigmoid=True):.4f}")
        0.4993
""", maps=_DISTANCE, returns=_VOXEL_RETURNS, none_shape="voxels")

distance_penalized_ce_loss = loss_function(
    DistancePenalizedCEOptions, _distance_penalized_ce, "distance_penalized_ce_loss", """
    Distance-map-penalised cross-entropy: ``(1 + λ·Φ) · CE`` per voxel.

    Calivà F. et al., "Distance map loss penalty term for semantic segmentation", MIDL 2019: the cross-entropy is
    weighted by ``1 + Φ``, Φ the target's distance map inverted and normalised to [0, 1], so that the weight is
    largest (2) at the object boundaries, the hard voxels, and 1 far from them; λ (``penalty``, default 1, the
    paper's) scales the penalty. Here d is the depth (mm) of a voxel from the target boundary, 0 on the boundary
    layers of both sides: ``|φ_g|`` inside and ``φ_g - δ`` outside, with φ_g the boundary-loss level set (distance to
    the nearest target voxel outside, to the innermost target layer inside) and δ the smallest spacing; per (sample,
    class), ``Φ = 1 - d / max d`` with the maximum taken on the voxel's own side of the boundary: the weight runs
    from ``1 + λ`` on the boundary layers down to 1 at the deepest voxel inside the target and at the farthest voxel
    outside it. (Normalised by one maximum over the whole map, which lies in the background, the interior of
    a small object would weigh between 1.7 and 2 everywhere, i.e. almost uniformly: the penalty would no longer
    single out its boundary.) A target without boundary (empty or full) gives Φ = 0: plain cross-entropy. The
    cross-entropy is as in :func:`shape_aware_loss` (categorical with softmax or a label map, binary per channel
    otherwise).

    Example:
        >>> from monai_segloss.functional import distance_penalized_ce_loss
        >>> logits, target = torch.tensor([[[-3.0, 2.0, 2.0, 1.0, -3.0]]]), torch.tensor([[[0.0, 1.0, 1.0, 0.0, 0.0]]])
        >>> # depth d = [0, 0, 0, 0, 1]: weights 1 + Φ = [2, 2, 2, 2, 1] on the BCE terms
        >>> print(f"{distance_penalized_ce_loss(logits, target, sigmoid=True, penalty=1.0):.4f}")
        0.6560
""", maps=_DISTANCE, returns=_VOXEL_RETURNS, none_shape="voxels")

structural_similarity_loss = loss_function(
    StructuralSimilarityOptions, _structural_similarity, "structural_similarity_loss", """
    Structural similarity loss: ``(1/M) Σ_{v,c} f_{v,c} e_{v,c} CE_{v,c}``.

    Zhao S. et al., "Correlation maximized structural similarity loss for semantic segmentation", arXiv 2019. With
    local means μ and standard deviations σ over a ``kernel_size`` window (valid voxels only), the structural error
    is ``e = |(g - μ_g)/(σ_g + C4) - (p - μ_p)/(σ_p + C4)|`` (differentiable in p, so the gradient also aligns the
    local structure of p with that of g), ``f = [e > β · max e]`` selects the voxels of large error per (sample,
    class), and M is the number of selected (voxel, class) pairs. The cross-entropy is as in
    :func:`shape_aware_loss`. A perfect prediction has e = 0 and CE = 0.

    Example:
        >>> from monai_segloss.functional import structural_similarity_loss
        >>> logits, target = torch.tensor([[[-3.0, 2.0, 2.0, 1.0, -3.0]]]), torch.tensor([[[0.0, 1.0, 1.0, 0.0, 0.0]]])
        >>> print(f"{structural_similarity_loss(logits, target, sigmoid=True):.4f}")
        0.7918
""", returns=_VOXEL_RETURNS, none_shape="voxels")

blob_loss = loss_function(BlobOptions, _blob, "blob_loss", """
    Blob loss: ``α · L(p, g) + β · mean_n L(p, g; lesion n)``, per (sample, class).

    Kofler F. et al., "blob loss: instance imbalance aware loss functions for semantic segmentation", IPMI 2023.
    L is a region loss (``region``, default Dice). The lesions are the connected components of the target of each
    kept class (26-connected in 3D); lesion n is scored with every *other* lesion of its class masked out, so each
    lesion counts once in the mean whatever its size. A (sample, class) without lesion falls back to the global
    term: its lesion term is ``L(p, g)``.

    How the lesion terms are computed: when L's value per unit follows from its confusion statistics alone
    (``dice``, ``jaccard``, ``tversky``, ``focal_tversky``, ``log_cosh_dice`` without ``soft_label`` or
    ``squared_pred``), lesion l of a (sample, class) is scored on the voxels of the background (instance 0) and of
    l, so its statistics are those two segments' sums: one pass over the volume sums Σp·g, Σp, Σg and the voxel
    count per (sample, class, instance id) (float64 accumulation), and every lesion is scored from them with L's
    empty policy, as a call of L on the lesion's masked volume would score it. The other inner losses are called
    once per lesion on its masked volume. Either way the number of lesions is read back to the host (one read on
    the fast path).

    Example:
        >>> from monai_segloss.functional import blob_loss
        >>> probs = torch.tensor([[[0.9, 0.8, 0.0, 0.0, 0.1, 0.0]]])  # finds the large lesion, misses the small
        >>> target = torch.tensor([[[1.0, 1.0, 0.0, 0.0, 1.0, 0.0]]])
        >>> print(f"{blob_loss(probs, target):.4f}")
        0.9496
""", maps=(("instances", "Tensor | None",
            "precomputed lesion labels ``(B, C, *S)`` (or ``(B, K, *S)``), int, as made by "
            "``monai_segloss.LesionInstancesd``; None (default) labels the connected components on the fly with "
            "SimpleITK. In a MONAI trainer pass them with ``monai_segloss.BatchMapsHandler({\"instances\": "
            "\"label_instances\"})``."),), returns="""
    Returns:
        A scalar for ``"mean"``/``"sum"``; ``(B, K)`` for ``"none"``.
""", none_shape="units")
