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

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..core.options import InputOptions, RegionOptions, parse_options
from ..core.prepare import PreparedInput, prepare_input
from ..core.reduce import reduce_units, reduce_voxels, safe_ratio, voxel_count
from ..geometry.distance import check_spacing, resolve_spacing, signed_distance
from ..geometry.instances import lesion_instances

__all__ = [
    "GeometryOptions", "HausdorffOptions", "BoundaryOptions", "ShapeAwareOptions", "DistancePenalizedOptions",
    "StructuralSimilarityOptions", "BlobOptions",
    "hausdorff_dt_loss", "boundary_loss", "shape_aware_loss", "distance_penalized_ce_loss",
    "structural_similarity_loss", "blob_loss",
]


def _number(name: str, value: Any, low: float = 0.0, allow_low: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < low or (value == low and not allow_low):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_low else '>'} {low}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class GeometryOptions(InputOptions):
    """``spacing``: voxel size in mm, one value per spatial dim or one for all; None (default) reads it from the
    target's ``MetaTensor`` affine when there is one, else 1 mm."""

    spacing: tuple[float, ...] | float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "spacing", check_spacing(self.spacing))


@dataclass(frozen=True)
class HausdorffOptions(GeometryOptions):
    """``alpha``: exponent of the distances (default 2, Karimi 2019)."""

    alpha: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "alpha", _number("alpha", self.alpha, 0.0, allow_low=False))


@dataclass(frozen=True)
class BoundaryOptions(GeometryOptions):
    """No option of its own."""


@dataclass(frozen=True)
class ShapeAwareOptions(GeometryOptions):
    """No option of its own."""


@dataclass(frozen=True)
class DistancePenalizedOptions(GeometryOptions):
    """``penalty``: scale λ of the distance penalty, the weight is ``1 + λ·Φ`` (default 1)."""

    penalty: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "penalty", _number("penalty", self.penalty))


@dataclass(frozen=True)
class StructuralSimilarityOptions(InputOptions):
    """``beta``: a voxel is selected when its structural error exceeds ``beta`` times the largest of its (sample,
    class) (default 0.1); ``kernel_size``: odd side (>= 3) of the window of the local statistics (default 3); ``c4``:
    stabiliser of the normalisation (default 0.01)."""

    beta: float = 0.1
    kernel_size: int = 3
    c4: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        beta = _number("beta", self.beta)
        if beta >= 1:
            raise ValueError(f"beta must lie in [0, 1), got {beta}")
        object.__setattr__(self, "beta", beta)
        k = self.kernel_size
        if isinstance(k, bool) or not isinstance(k, int) or k < 3 or k % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int >= 3 (a 1-voxel window has no structure), got {k!r}")
        object.__setattr__(self, "c4", _number("c4", self.c4, 0.0, allow_low=False))


_INNER_FORBIDDEN = ("sigmoid", "softmax", "other_act", "to_onehot_y", "include_background", "exclude_channels",
                    "weight", "ignore_index", "reduction", "batch", "distributed")


@dataclass(frozen=True)
class BlobOptions(InputOptions):
    """``region``: registry key of the inner region loss (default ``"dice"``); ``region_kwargs``: its own options
    (e.g. ``{"alpha": 0.3, "beta": 0.7}`` for ``"tversky"``, or ``smooth_nr``/``smooth_dr``/``empty``), without the
    input options, which the blob loss applies; ``global_weight`` α and ``lesion_weight`` β of
    ``α·L_global + β·L_lesions`` (defaults 2 and 1, the paper's setting); ``fully_connected``: lesions are
    26-connected in 3D (8 in 2D) when True (default), face-connected otherwise."""

    region: str = "dice"
    region_kwargs: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    global_weight: float = 2.0
    lesion_weight: float = 1.0
    fully_connected: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        from ..losses.registry import loss_class

        try:
            cls = loss_class(self.region)
        except ValueError as err:
            raise ValueError(f"region must name a registered region loss: {err}") from err
        opts_cls = getattr(cls, "options_cls", None)
        if opts_cls is None or not issubclass(opts_cls, RegionOptions):
            raise ValueError(f"region must name a registered region loss (dice, tversky, …), got {self.region!r}")
        kw = dict(self.region_kwargs or {})
        bad = sorted(set(kw) & set(_INNER_FORBIDDEN))
        if bad:
            raise ValueError(f"region_kwargs must not set {bad}: the blob loss applies the input options itself")
        parse_options(opts_cls, kw, f"region_kwargs of {self.region!r}")  # validates the inner options now
        object.__setattr__(self, "region_kwargs", kw)
        object.__setattr__(self, "global_weight", _number("global_weight", self.global_weight))
        object.__setattr__(self, "lesion_weight", _number("lesion_weight", self.lesion_weight))
        if not isinstance(self.fully_connected, bool):
            raise TypeError(f"fully_connected must be a bool, got {self.fully_connected!r}")


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
        return out.long()
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point distance map, got {value.dtype}")
    return out.to(x.dtype).as_subclass(torch.Tensor)


def _target_level_set(prep: PreparedInput, g: torch.Tensor | None, spacings, distance: Any) -> torch.Tensor:
    """The target's level set φ ``(B, K, *S)``: precomputed (``distance``) or computed now from ``g``."""
    if distance is not None:
        return _precomputed("distance", distance, prep)
    return _maps(_valid_masks(prep, g), spacings, prep.input.dtype, "level_set")


def _unsigned_from_level_set(phi: torch.Tensor, spacings) -> torch.Tensor:
    """``|sdt|`` from φ: φ outside (φ > 0), δ - φ inside; 0 for a map without boundary (φ = 0 everywhere)."""
    delta = phi.new_tensor([min(s) for s in spacings]).view(-1, *([1] * (phi.ndim - 1)))
    has_boundary = phi.flatten(2).amax(2).view(*phi.shape[:2], *([1] * (phi.ndim - 2))) > 0
    return torch.where(phi > 0, phi, (delta - phi) * has_boundary)


def _with_weight_and_validity(loss: torch.Tensor, prep: PreparedInput) -> torch.Tensor:
    if prep.weight is not None:
        loss = loss * prep.weight.view(1, -1, *([1] * (loss.ndim - 2)))
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
    x = prep.input
    voxels = x[0, 0].numel() * x.shape[0] if prep.valid is None else prep.valid.sum()
    voxels = torch.as_tensor(voxels, dtype=loss.dtype, device=loss.device)
    return voxels if _categorical(prep) else voxels * loss.shape[1]


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

def _hausdorff_dt(input, target, mask, o: HausdorffOptions, distance=None) -> torch.Tensor:
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
    return reduce_voxels(_with_weight_and_validity(loss, prep), o.reduction, valid=prep.valid)


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
    loss = (1 + e.view(*e.shape, *([1] * (p.ndim - 2)))) * _ce_terms(prep, g)
    loss = _with_weight_and_validity(loss, prep)
    return reduce_voxels(loss, o.reduction, valid=prep.valid, count=_ce_count(prep, loss))


def _distance_penalized_ce(input, target, mask, o: DistancePenalizedOptions, distance=None) -> torch.Tensor:
    prep = prepare_input(input, target, o, mask)
    spacings = _spacings(o, prep, target, distance)
    g = prep.keep(prep.target_onehot())
    with torch.no_grad():
        d = _target_level_set(prep, g, spacings, distance).abs()
        if prep.valid is not None:
            d = d * prep.valid.unsqueeze(1)
        dmax = d.flatten(2).amax(2).view(*d.shape[:2], *([1] * (d.ndim - 2)))
        phi = torch.where(dmax > 0, 1 - d / dmax.clamp_min(torch.finfo(d.dtype).tiny), torch.zeros_like(d))
    loss = _with_weight_and_validity((1 + o.penalty * phi) * _ce_terms(prep, g), prep)
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
        e_max = e.flatten(2).amax(2).view(*e.shape[:2], *([1] * (e.ndim - 2)))
        selected = (e > o.beta * e_max) & (v > 0)
    loss = _with_weight_and_validity(e * selected * _ce_terms(prep, g), prep)
    count = selected.sum().to(loss.dtype)
    return reduce_voxels(loss, o.reduction, valid=prep.valid, count=count)


_BLOB_CHUNK = 1 << 23  # voxels per batch of lesion units given to the inner loss (bounds the memory)


def _blob(input, target, mask, o: BlobOptions, instances=None) -> torch.Tensor:
    from ..losses.registry import loss_class

    prep = prepare_input(input, target, o, mask)
    p = prep.keep(prep.probs())
    g = prep.keep(prep.target_onehot())
    b, k = p.shape[:2]
    inner = loss_class(o.region)(**o.region_kwargs, reduction="none")
    valid = prep.valid
    vmask = None if valid is None else valid.unsqueeze(1)
    global_term = inner(p, g, mask=vmask)  # (B, K)
    if instances is None:
        inst = lesion_instances(_valid_masks(prep, g).flatten(0, 1), o.fully_connected).view(g.shape).long()
    else:
        inst = _precomputed("instances", instances, prep, integral=True)
        if valid is not None:
            inst = inst * valid.unsqueeze(1)
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
        bi = torch.tensor([u[0] for u in chunk], device=p.device)
        ki = torch.tensor([u[1] for u in chunk], device=p.device)
        ids = torch.tensor([u[2] for u in chunk], device=p.device).view(-1, *([1] * (p.ndim - 2)))
        lab = inst[bi, ki]
        keep = (lab == 0) | (lab == ids)  # every other lesion of the class is masked out
        if valid is not None:
            keep = keep & valid[bi]
        flat = bi * k + ki
        # index_select, not p[bi, ki]: the backward of advanced indexing with repeated (sample, class) pairs
        # accumulates with parallel atomic adds on CPU (not bitwise reproducible); index_select's is an index_add
        pl = p.flatten(0, 1).index_select(0, flat).unsqueeze(1)
        gl = g.flatten(0, 1).index_select(0, flat).unsqueeze(1)
        per_lesion = inner(pl, gl, mask=keep.unsqueeze(1))[:, 0]
        sums = sums + torch.zeros(b * k, dtype=p.dtype, device=p.device).index_add(0, flat, per_lesion).view(b, k)
        counts = counts + torch.bincount(flat, minlength=b * k).view(b, k).to(p.dtype)
    lesion_term = torch.where(counts > 0, sums / counts.clamp_min(1), global_term)
    total = o.global_weight * global_term + o.lesion_weight * lesion_term
    present = None if valid is None else valid.flatten(1).any(1, keepdim=True).expand(b, k)
    return reduce_units(total, o.reduction, weight=prep.weight, present=present)


# ------------------------------------------------------------------------------------------------ public forms

def hausdorff_dt_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                      distance: torch.Tensor | None = None, **options) -> torch.Tensor:
    """Distance-transform Hausdorff loss ``mean((p - g)² · (d_g^α + d_p^α))`` (Karimi 2019), distances in mm.

    ``d_g``/``d_p``: distance of each voxel to the nearest voxel of the other class in the target / the prediction
    thresholded at 0.5. Options: :class:`HausdorffOptions`. See :class:`monai_segloss.HausdorffDistanceLoss`.
    """
    return _hausdorff_dt(input, target, mask, parse_options(HausdorffOptions, options, "hausdorff_dt_loss"),
                         distance)


def boundary_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                  distance: torch.Tensor | None = None, **options) -> torch.Tensor:
    """Boundary loss ``mean(φ_g · p)`` (Kervadec 2019), φ_g the target's level set in mm (negative inside).

    Options: :class:`BoundaryOptions`. See :class:`monai_segloss.SurfaceBoundaryLoss`.
    """
    return _boundary(input, target, mask, parse_options(BoundaryOptions, options, "boundary_loss"), distance)


def shape_aware_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                     distance: torch.Tensor | None = None, **options) -> torch.Tensor:
    """Shape-aware loss ``(1 + E)·CE`` (Jadon 2020), E the mean distance (mm) of the predicted contour to the target
    contour per (sample, class). Options: :class:`ShapeAwareOptions`. See :class:`monai_segloss.ShapeAwareLoss`."""
    return _shape_aware(input, target, mask, parse_options(ShapeAwareOptions, options, "shape_aware_loss"), distance)


def distance_penalized_ce_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                               distance: torch.Tensor | None = None, **options) -> torch.Tensor:
    """Distance-map-penalised cross-entropy ``(1 + λ·Φ)·CE`` (Calivà 2019), Φ the inverted, normalised distance to
    the target boundary. Options: :class:`DistancePenalizedOptions`. See
    :class:`monai_segloss.DistancePenalizedCELoss`."""
    return _distance_penalized_ce(input, target, mask, parse_options(DistancePenalizedOptions, options,
                                                                     "distance_penalized_ce_loss"), distance)


def structural_similarity_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                               **options) -> torch.Tensor:
    """Structural similarity loss (Zhao 2019): cross-entropy weighted by the structural error ``e`` on the voxels
    where ``e > β·max e``, averaged over those voxels. Options: :class:`StructuralSimilarityOptions`. See
    :class:`monai_segloss.StructuralSimilarityLoss`."""
    return _structural_similarity(input, target, mask, parse_options(StructuralSimilarityOptions, options,
                                                                     "structural_similarity_loss"))


def blob_loss(input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
              instances: torch.Tensor | None = None, **options) -> torch.Tensor:
    """Blob loss ``α·L(global) + β·mean_lesions L(lesion, other lesions masked out)`` (Kofler 2023), L a registered
    region loss. Options: :class:`BlobOptions`. See :class:`monai_segloss.BlobLoss`."""
    return _blob(input, target, mask, parse_options(BlobOptions, options, "blob_loss"), instances)
