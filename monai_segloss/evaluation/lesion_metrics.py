"""Lesion-wise evaluation: voxel Dice, lesion detection (sensitivity, precision, F1), recall per lesion size, HD95.

Small-lesion segmentation is judged by how many lesions are found, not only by voxel overlap: one large lesion
dominates the voxel Dice while ten missed small ones barely move it. These metrics count connected components.

- :func:`lesion_wise_stats` — the functional form on one binary pair of 2D/3D arrays, returning
  :class:`LesionWiseStats`;
- :class:`LesionWiseMetric` — a ``monai.metrics.CumulativeIterationMetric`` over batches of one-hot
  ``(B, C, *S)`` tensors, usable in bundle configs through ``monai.handlers.IgniteMetricHandler``.

Definitions (per case and channel). Lesions are the connected components of the target, predicted lesions those of
the prediction, by full connectivity: 26 neighbours in 3D, **8 in 2D** (``full_connectivity=False``: 6 / 4).

Matching (``matching``):

- ``"any_overlap"`` (default; the ISLES 2022 rule, Hernandez Petzsche et al., Sci. Data 9:762, 2022): a target
  lesion is *detected* when it overlaps (shares at least one voxel with) the prediction, and a predicted component is
  a *true positive* when it overlaps the target. Consequences: one predicted component that **merges** k lesions
  detects all k (k detected, 1 true-positive component); a lesion **split** into k predicted components is one
  detected lesion and k true-positive components, so splitting adds no false positive. The detected-lesion count
  and the true-positive-component count then differ, and the F1 below is **not** the harmonic mean of the reported
  sensitivity and precision.
- ``"one_to_one"`` (alias ``"greedy_overlap"``): a greedy one-to-one match by voxel overlap. Each predicted
  component matches at most one lesion and each lesion at most one component. The overlapping (lesion, component)
  pairs are sorted by shared voxels, largest first, ties broken by the lower lesion label and then the lower
  component label (labels in raster order of each component's first voxel), and taken in that order when neither
  member is taken yet. A merge of k lesions is 1 detected lesion and k - 1 missed ones; a split into k components
  is 1 true positive and k - 1 false positives. Detected lesions = true-positive components = matched pairs, and
  the F1 is the harmonic mean of sensitivity and precision. (This is not the BraTS 2023 rule, which follows.)
- ``"brats2023"`` (the BraTS 2023 lesion-wise rule; :mod:`~monai_segloss.evaluation.brats2023`, parameters
  :class:`~monai_segloss.evaluation.brats2023.BraTS2023Rule`): target lesions whose dilations touch are merged into
  one lesion, every component touching a lesion's dilated region is credited to it (a component may detect
  several lesions), lesions of at most ``volume_threshold_mm3`` are dropped (their components are no false
  positives), and ``lesion_dice`` / ``lesion_hd95`` hold the BraTS lesion-wise Dice and HD95 (misses and false
  positives scored Dice 0 and HD95 374). ``n_target`` counts the kept merged lesions, ``n_detected`` those with a
  credited component, ``n_pred_tp`` the components credited to any lesion.

Then ``sensitivity = detected / n_target``, ``precision = tp_pred / n_pred`` and
``F1 = 2·detected / (2·detected + FP + FN)`` with ``FN = n_target - detected`` and ``FP = n_pred - tp_pred`` (the
ISLES 2022 lesion-wise F1).

Segmentation quality:

- voxel ``Dice = 2|P∩T| / (|P| + |T|)``;
- ``HD95 = max(q95(d(∂P, ∂T)), q95(d(∂T, ∂P)))`` in mm (the spacing is honoured): the larger of the two directed
  95th percentiles of the distances from the surface voxels of one mask to the surface of the other — equal to
  ``monai.metrics.compute_hausdorff_distance(percentile=95)`` (tested). Surface voxels are mask voxels with a face
  neighbour outside the mask (the image border counts as outside);
- recall per size bin: target lesions are binned by volume in mm³ (mm² in 2D) with edges ``size_bins``; the
  recall of a bin is detected / n_target over the lesions in it.

Empty cases: no target and no prediction: F1 = 1, Dice = 1, HD95 = 0, sensitivity and precision NaN (undefined).
Target but no prediction: F1 = 0, Dice = 0, sensitivity = 0, precision NaN, HD95 NaN. Prediction but no target:
F1 = 0, Dice = 0, precision = 0, sensitivity NaN, HD95 NaN. A size bin without target lesions has recall NaN. NaN
values are skipped by the case averages of :class:`LesionWiseMetric`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
import torch
from monai.metrics import CumulativeIterationMetric

from ..core import checks
from ..core.prepare import plain_tensor
from ..geometry.instances import connected_components
from .brats2023 import BraTS2023Rule, brats2023_scores, credited_pairs, merge_by_dilation

__all__ = ["LesionWiseStats", "lesion_wise_stats", "LesionWiseMetric", "LESION_METRIC_NAMES", "MATCHING_RULES",
           "connected_components", "foreground_box", "match_one_to_one"]

LESION_METRIC_NAMES = ("f1", "sensitivity", "precision", "dice", "hd95", "size_recall", "lesion_dice", "lesion_hd95")
MATCHING_RULES = ("any_overlap", "one_to_one", "greedy_overlap", "brats2023")
Matching = Literal["any_overlap", "one_to_one", "greedy_overlap", "brats2023"]
_DEFAULT_BINS = (100.0, 1000.0)
# columns of a buffer row, then the per-bin target counts and per-bin detected counts
_DICE, _HD95, _NT, _ND, _NP, _NPT = range(6)
_FIXED = 6


@dataclasses.dataclass(frozen=True)
class LesionWiseStats:
    """Lesion-wise statistics of one binary prediction against one binary target.

    Attributes:
        dice: voxel Dice (1 when both masks are empty).
        hd95: 95th-percentile symmetric Hausdorff distance in mm (0 when both are empty, NaN when one is, NaN when
            it was not computed).
        n_target: number of target lesions (connected components).
        n_detected: detected target lesions (any overlap, or matched one-to-one; module doc).
        n_pred: number of predicted components.
        n_pred_tp: true-positive predicted components (overlapping the target, or matched one-to-one).
        size_bins: bin edges in mm³ (mm² in 2D); bin i holds volumes in ``[edge[i-1], edge[i])``.
        bin_targets: target lesions per size bin, ``len(size_bins) + 1`` entries.
        bin_detected: detected target lesions per size bin.
        lesion_dice: the BraTS 2023 lesion-wise Dice (``matching="brats2023"``; NaN otherwise).
        lesion_hd95: the BraTS 2023 lesion-wise HD95 in mm (``matching="brats2023"`` with the HD95 computed; NaN
            otherwise).
    """

    dice: float
    hd95: float
    n_target: int
    n_detected: int
    n_pred: int
    n_pred_tp: int
    size_bins: tuple[float, ...]
    bin_targets: tuple[int, ...]
    bin_detected: tuple[int, ...]
    lesion_dice: float = math.nan
    lesion_hd95: float = math.nan

    @property
    def sensitivity(self) -> float:
        """Detected / target lesions; NaN without target lesions."""
        return self.n_detected / self.n_target if self.n_target else math.nan

    @property
    def precision(self) -> float:
        """True-positive / predicted components; NaN without predicted components."""
        return self.n_pred_tp / self.n_pred if self.n_pred else math.nan

    @property
    def f1(self) -> float:
        """Lesion-wise F1, ``2·detected / (2·detected + FP + FN)``; 1 when there is no lesion on either side."""
        return _f1(self.n_target, self.n_detected, self.n_pred, self.n_pred_tp)

    @property
    def size_recall(self) -> tuple[float, ...]:
        """Recall per size bin (NaN for a bin without target lesions)."""
        return tuple(d / t if t else math.nan for t, d in zip(self.bin_targets, self.bin_detected, strict=True))

    def as_row(self) -> list[float]:
        """The statistics as one row of floats: dice, hd95, the four counts, bin targets, bin detected, lesion
        Dice, lesion HD95."""
        return [self.dice, self.hd95, self.n_target, self.n_detected, self.n_pred, self.n_pred_tp,
                *self.bin_targets, *self.bin_detected, self.lesion_dice, self.lesion_hd95]


def _f1(n_target: float, n_detected: float, n_pred: float, n_pred_tp: float) -> float:
    fn = n_target - n_detected
    fp = n_pred - n_pred_tp
    den = 2 * n_detected + fp + fn
    return 2 * n_detected / den if den else 1.0


def _as_binary(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = plain_tensor(x).detach().cpu()
        x = (x.float() if x.dtype in (torch.bfloat16, torch.float16) else x).numpy()
    elif not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.dtype == np.bool_:
        return x
    if not (np.issubdtype(x.dtype, np.number)):
        raise TypeError(f"{name} must hold numbers or booleans, got dtype {x.dtype}")
    binary = x != 0
    if not np.array_equal(binary, x == 1):
        raise ValueError(f"{name} must be binary (values 0 and 1 only); threshold or argmax it first")
    return binary


def _check_spacing(spacing: Any, ndim: int) -> tuple[float, ...]:
    return checks.spacing("spacing", spacing, ndim) or (1.0,) * ndim


def _check_bins(size_bins: Sequence[float]) -> tuple[float, ...]:
    edges = tuple(float(e) for e in size_bins)
    increasing = all(b > a for a, b in zip(edges[:-1], edges[1:], strict=True))
    if not increasing or any(not math.isfinite(e) or e <= 0 for e in edges):
        raise ValueError(f"size_bins must be increasing positive finite volumes (mm³), got {tuple(size_bins)}")
    return edges


def _to_image(mask: np.ndarray, spacing: tuple[float, ...]) -> sitk.Image:
    image = sitk.GetImageFromArray(mask.astype(np.uint8))  # numpy axes are the reverse of ITK's
    image.SetSpacing(tuple(reversed(spacing)))
    return image


def foreground_box(mask: np.ndarray, margin: int = 1) -> tuple[slice, ...]:
    """The bounding box of ``mask`` grown by ``margin`` voxels (clipped to the array); ``mask`` must not be empty."""
    box = []
    for axis in range(mask.ndim):
        idx = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(max(int(idx[0]) - margin, 0), min(int(idx[-1]) + 1 + margin, mask.shape[axis])))
    return tuple(box)


def match_one_to_one(target_labels: np.ndarray, pred_labels: np.ndarray) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by voxel overlap: the overlapping (lesion, component) pairs sorted by shared
    voxels, largest first (ties: lower lesion label, then lower component label), each taken when neither its lesion
    nor its component is taken yet; returns the matched ``(lesion, component)`` labels in the order taken."""
    both = (target_labels > 0) & (pred_labels > 0)
    if not both.any():
        return []
    pairs, counts = np.unique(np.stack([target_labels[both], pred_labels[both]]), axis=1, return_counts=True)
    order = np.lexsort((pairs[1], pairs[0], -counts))
    taken_t: set[int] = set()
    taken_p: set[int] = set()
    matched = []
    for i in order:
        t, p = int(pairs[0, i]), int(pairs[1, i])
        if t not in taken_t and p not in taken_p:
            taken_t.add(t)
            taken_p.add(p)
            matched.append((t, p))
    return matched


def _surface(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1, constant_values=False)
    interior = np.ones_like(mask)
    core = tuple(slice(1, -1) for _ in range(mask.ndim))
    for axis in range(mask.ndim):
        for shift in (-1, 1):
            interior &= np.roll(padded, shift, axis=axis)[core]
    return mask & ~interior


def _distance_to(surface: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    # unsigned Euclidean distance (mm) from every voxel centre to the nearest voxel of ``surface``
    dist = sitk.SignedMaurerDistanceMap(_to_image(surface, spacing), insideIsPositive=False, squaredDistance=False,
                                        useImageSpacing=True)
    return np.maximum(sitk.GetArrayFromImage(dist), 0.0)


def _hd95(pred: np.ndarray, target: np.ndarray, spacing: tuple[float, ...]) -> float:
    if not pred.any() and not target.any():
        return 0.0
    if not pred.any() or not target.any():
        return math.nan
    # on the box of both masks grown by one voxel: every surface voxel and all its neighbours lie inside it, so the
    # surfaces and their exact Euclidean distances are those of the whole grid
    box = foreground_box(pred | target)
    sp, st = _surface(pred[box]), _surface(target[box])
    d_pt = _distance_to(st, spacing)[sp]
    d_tp = _distance_to(sp, spacing)[st]
    return float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))


def lesion_wise_stats(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    spacing: float | Sequence[float] | None = None,
    size_bins: Sequence[float] = _DEFAULT_BINS,
    full_connectivity: bool = True,
    hd95: bool = True,
    matching: Matching = "any_overlap",
    brats: BraTS2023Rule | None = None,
) -> LesionWiseStats:
    """Lesion-wise statistics of one binary prediction against one binary target (definitions: module doc).

    Args:
        pred: binary prediction, spatial shape ``(*S)`` with 2 or 3 dims, bool or numbers in {0, 1}.
        target: binary target, same shape as ``pred``.
        spacing: voxel size in mm, one number or one per spatial dim (numpy axis order). Default None: 1 mm.
        size_bins: increasing volume edges in mm³ (mm² in 2D) of the lesion-size bins. Default (100, 1000): bins
            below 100, 100 to 1000 and from 1000 mm³ (a sphere of radius ≈2.9 and ≈6.2 mm).
        full_connectivity: components by full connectivity (26 neighbours in 3D, 8 in 2D); False uses face
            neighbours only (6 / 4). Default True.
        hd95: compute the HD95 (two distance transforms); False leaves it NaN. Default True.
        matching: ``"any_overlap"`` (ISLES 2022), ``"one_to_one"`` (= ``"greedy_overlap"``: greedy one-to-one by
            voxel overlap) or ``"brats2023"`` (the BraTS 2023 lesion-wise rule); module doc. Default
            ``"any_overlap"``.
        brats: the parameters of ``matching="brats2023"``. Default None: ``BraTS2023Rule()`` (BraTS-GLI: 3
            dilations, lesions of at most 50 mm³ dropped).

    Returns:
        :class:`LesionWiseStats`.

    Raises:
        TypeError: ``pred``/``target`` not a tensor or array of numbers/booleans.
        ValueError: shapes differ, not 2D/3D, values other than 0/1, bad ``spacing``, ``size_bins`` or ``matching``.

    Example:
        >>> t = np.zeros((8, 8), dtype=bool); t[1:3, 1:3] = True; t[5:7, 5:7] = True
        >>> p = np.zeros_like(t); p[1:3, 1:4] = True
        >>> s = lesion_wise_stats(p, t)
        >>> (s.n_target, s.n_detected, s.n_pred, s.n_pred_tp, round(s.dice, 4))
        (2, 1, 1, 1, 0.5714)
    """
    if matching not in MATCHING_RULES:
        raise ValueError(f"matching must be one of {MATCHING_RULES}, got {matching!r}")
    if brats is not None and not isinstance(brats, BraTS2023Rule):
        raise TypeError(f"brats must be a BraTS2023Rule or None, got {type(brats).__name__}")
    rule = BraTS2023Rule() if brats is None else brats
    p = _as_binary(pred, "pred")
    t = _as_binary(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {p.shape} and {t.shape}")
    if p.ndim not in (2, 3):
        raise ValueError(f"pred and target must be 2D or 3D spatial arrays (no batch/channel dims), got {p.shape}")
    sp = _check_spacing(spacing, p.ndim)
    edges = _check_bins(size_bins)

    p_sum, t_sum = int(p.sum()), int(t.sum())
    dice = 2.0 * float(np.logical_and(p, t).sum()) / (p_sum + t_sum) if p_sum + t_sum else 1.0
    if p_sum + t_sum:
        # everything below depends only on the foreground: the bounding box with a one-voxel margin gives the same
        # components, surfaces (outside the array counts as outside the mask) and surface distances, faster
        box = foreground_box(p | t, rule.margin if matching == "brats2023" else 1)
        p, t = p[box], t[box]

    if matching == "brats2023":
        return _brats2023_stats(p, t, sp, edges, full_connectivity, hd95, rule, dice)
    lt, n_target = connected_components(t, full_connectivity)
    lp, n_pred = connected_components(p, full_connectivity)
    detected = np.zeros(n_target + 1, dtype=bool)
    if matching == "any_overlap":
        detected[np.unique(lt[p])] = True
        n_pred_tp = int(np.count_nonzero(np.unique(lp[t])))
    else:
        matched = match_one_to_one(lt, lp)
        detected[[m[0] for m in matched]] = True
        n_pred_tp = len(matched)
    detected[0] = False
    volumes = np.bincount(lt.ravel(), minlength=n_target + 1)[1:] * float(np.prod(sp))
    bins = np.searchsorted(np.asarray(edges), volumes, side="right")
    nb = len(edges) + 1
    bin_targets = np.bincount(bins, minlength=nb)
    bin_detected = np.bincount(bins, weights=detected[1:].astype(np.float64), minlength=nb)

    return LesionWiseStats(
        dice=dice,
        hd95=_hd95(p, t, sp) if hd95 else math.nan,
        n_target=n_target,
        n_detected=int(detected[1:].sum()),
        n_pred=n_pred,
        n_pred_tp=n_pred_tp,
        size_bins=edges,
        bin_targets=tuple(int(v) for v in bin_targets),
        bin_detected=tuple(int(v) for v in bin_detected),
    )


def _brats2023_stats(p: np.ndarray, t: np.ndarray, sp: tuple[float, ...], edges: tuple[float, ...],
                     full_connectivity: bool, hd95: bool, rule: BraTS2023Rule, dice: float) -> LesionWiseStats:
    # the BraTS 2023 rule (module doc of .brats2023) on a crop that keeps ``rule.margin`` voxels around everything
    regions, n = merge_by_dilation(t, rule, full_connectivity)
    lp, n_pred = connected_components(p, full_connectivity)
    pairs = credited_pairs(regions, lp)  # 0-based (lesion, component), sorted
    sizes = np.bincount(lp.ravel(), minlength=n_pred + 1)[1:]
    lesion_voxels = np.bincount(regions[t], minlength=n + 1)[1:]
    # a component that overlaps a lesion touches its region: the lesion's predicted voxels are all credited ones
    overlap = np.bincount(regions[t & (lp > 0)], minlength=n + 1)[1:]
    pred_voxels = np.bincount(pairs[:, 0], weights=sizes[pairs[:, 1]], minlength=n)
    detected: np.ndarray = np.bincount(pairs[:, 0], minlength=n) > 0
    lesion_dice = 2.0 * overlap / (pred_voxels + lesion_voxels)
    lesion_hd = np.full(n, rule.hd95_penalty if hd95 else math.nan)
    if hd95:
        for i in np.flatnonzero(detected):
            pl, ll = np.isin(lp, pairs[pairs[:, 0] == i, 1] + 1), t & (regions == i + 1)
            box = foreground_box(pl | ll)
            lesion_hd[i] = _hd95(pl[box], ll[box], sp)
    volumes = lesion_voxels * float(np.prod(sp))
    kept: np.ndarray = np.asarray(volumes > rule.volume_threshold_mm3)
    n_fp = n_pred - int(np.unique(pairs[:, 1]).size)
    score_dice, score_hd = brats2023_scores(lesion_dice, lesion_hd, kept, n_fp, rule.hd95_penalty)
    bins = np.searchsorted(np.asarray(edges), volumes[kept], side="right")
    nb = len(edges) + 1
    return LesionWiseStats(
        dice=dice, hd95=_hd95(p, t, sp) if hd95 else math.nan, n_target=int(kept.sum()),
        n_detected=int((kept & detected).sum()), n_pred=n_pred, n_pred_tp=n_pred - n_fp, size_bins=edges,
        bin_targets=tuple(int(v) for v in np.bincount(bins, minlength=nb)),
        bin_detected=tuple(int(v) for v in np.bincount(bins, weights=detected[kept].astype(np.float64),
                                                           minlength=nb)),
        lesion_dice=score_dice, lesion_hd95=score_hd if hd95 else math.nan)


def _nanmean(x: torch.Tensor, dim: int) -> torch.Tensor:
    valid = ~torch.isnan(x)
    count = valid.sum(dim)
    total = torch.where(valid, x, torch.zeros_like(x)).sum(dim)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp(min=1), torch.full_like(num, math.nan))


class LesionWiseMetric(CumulativeIterationMetric):
    """Lesion-wise metrics (module doc) as a MONAI cumulative metric over batches of one-hot masks.

    Each call adds one row of statistics per (sample, scored channel) to the buffer (gathered across DDP ranks by
    ``get_buffer``); :meth:`aggregate` turns the buffer into the chosen metric and :meth:`summary` into all of
    them. In a bundle config::

        {"_target_": "IgniteMetricHandler", "output_transform": "$monai.handlers.from_engine(['pred', 'label'])",
         "metric_fn": {"_target_": "monai_segloss.LesionWiseMetric", "metric_name": "f1",
                       "include_background": false}}

    Args:
        metric_name: what :meth:`aggregate` returns: ``"f1"``, ``"sensitivity"``, ``"precision"``, ``"dice"``,
            ``"hd95"``, ``"size_recall"`` (one value per size bin), or the BraTS 2023 lesion-wise ``"lesion_dice"``
            / ``"lesion_hd95"`` (case means; NaN unless ``matching="brats2023"``). Default ``"f1"``.
        include_background: score channel 0. Default True (as ``monai.metrics``).
        channels: channel ids to score, e.g. ``[2]`` for the tumour of a background/organ/tumour label map; when
            given it replaces ``include_background``. Default None: every channel (but 0 when
            ``include_background=False``).
        average: ``"lesion"`` pools the lesion counts of every case before the ratio (each lesion weighs the
            same); ``"case"`` averages the per-case ratios (NaN cases skipped). Dice and HD95 are always case
            means. Default ``"lesion"``.
        spacing: voxel size in mm, one number or one per spatial dim. Default None: the ``pixdim`` of ``y`` when
            it is a ``MetaTensor``, 1 mm otherwise.
        size_bins: lesion-volume bin edges in mm³ for ``"size_recall"``. Default (100, 1000).
        full_connectivity: 26-/8-connected components (False: 6-/4-). Default True.
        compute_hd95: compute the HD95 for every case (two distance transforms each, and one per lesion for the
            lesion HD95). Default None: only when ``metric_name`` is ``"hd95"`` or ``"lesion_hd95"`` (``summary``
            then reports NaN for them).
        matching: ``"any_overlap"`` (ISLES 2022, default), ``"one_to_one"`` (= ``"greedy_overlap"``, greedy
            one-to-one by voxel overlap) or ``"brats2023"`` (the BraTS 2023 rule); module doc.
        brats: the parameters of ``matching="brats2023"``. Default None: ``BraTS2023Rule()`` (BraTS-GLI).
        reduction: ``"mean"`` averages the per-channel results (NaN channels skipped), ``"none"`` keeps one per
            scored channel. Default ``"mean"``.

    Input to ``__call__``: ``y_pred`` and ``y``, binarised one-hot ``(B, C, *S)`` tensors with 2 or 3 spatial dims
    (e.g. after ``AsDiscrete(argmax=True, to_onehot=C)``), or lists of ``(C, *S)`` tensors.
    """

    def __init__(
        self,
        metric_name: str = "f1",
        include_background: bool = True,
        channels: Sequence[int] | None = None,
        average: str = "lesion",
        spacing: float | Sequence[float] | None = None,
        size_bins: Sequence[float] = _DEFAULT_BINS,
        full_connectivity: bool = True,
        compute_hd95: bool | None = None,
        reduction: str = "mean",
        matching: Matching = "any_overlap",
        brats: BraTS2023Rule | None = None,
    ) -> None:
        super().__init__()
        if metric_name not in LESION_METRIC_NAMES:
            raise ValueError(f"metric_name must be one of {LESION_METRIC_NAMES}, got {metric_name!r}")
        if average not in ("lesion", "case"):
            raise ValueError(f"average must be 'lesion' or 'case', got {average!r}")
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        if matching not in MATCHING_RULES:
            raise ValueError(f"matching must be one of {MATCHING_RULES}, got {matching!r}")
        self.matching = matching
        if brats is not None and not isinstance(brats, BraTS2023Rule):
            raise TypeError(f"brats must be a BraTS2023Rule or None, got {type(brats).__name__}")
        self.brats = brats
        if compute_hd95 is not None and not isinstance(compute_hd95, bool):
            raise TypeError(f"compute_hd95 must be a bool or None, got {type(compute_hd95).__name__}")
        self.metric_name = metric_name
        self.include_background = bool(include_background)
        if channels is not None:
            channels = [int(c) for c in channels]
            if not channels or any(c < 0 for c in channels) or len(set(channels)) != len(channels):
                raise ValueError(f"channels must be distinct channel ids >= 0, got {channels}")
        self.channels = channels
        self.average = average
        self.spacing = spacing
        self.size_bins = _check_bins(size_bins)
        self.full_connectivity = bool(full_connectivity)
        self.compute_hd95 = metric_name in ("hd95", "lesion_hd95") if compute_hd95 is None else compute_hd95
        self.reduction = reduction

    def _spacing_for(self, y: torch.Tensor, b: int, ndim: int) -> tuple[float, ...]:
        if self.spacing is not None:
            return _check_spacing(self.spacing, ndim)
        pixdim = getattr(y, "pixdim", None)
        if pixdim is None:
            return (1.0,) * ndim
        if isinstance(pixdim, list):  # a batched MetaTensor: one spacing per sample
            pixdim = pixdim[b]
        # a MetaTensor's affine is 4x4 whatever its spatial rank (a hand-built 2D one too): its pixdim then has
        # three entries, of which the first ``ndim`` belong to the spatial axes
        pixdim = pixdim.tolist() if isinstance(pixdim, torch.Tensor) else list(np.atleast_1d(pixdim))
        return _check_spacing(pixdim[:ndim], ndim)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        if y is None:
            raise ValueError("y (the target) is required")
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError("y_pred and y must be torch tensors (B, C, *S)")
        if y_pred.shape != y.shape:
            raise ValueError(f"y_pred and y must have the same shape (B, C, *S), got {tuple(y_pred.shape)} and "
                             f"{tuple(y.shape)}")
        if y_pred.ndim not in (4, 5):
            raise ValueError(f"y_pred must be (B, C, *S) with 2 or 3 spatial dims, got shape {tuple(y_pred.shape)}")
        if self.channels is not None:
            if max(self.channels) >= y_pred.shape[1]:
                raise ValueError(f"channels {self.channels} out of range for {y_pred.shape[1]} channels")
            kept = self.channels
        else:
            if not self.include_background and y_pred.shape[1] < 2:
                raise ValueError(f"include_background=False needs at least 2 channels, got {y_pred.shape[1]}")
            kept = list(range(0 if self.include_background else 1, y_pred.shape[1]))
        ndim = y_pred.ndim - 2
        rows = []
        for b in range(y_pred.shape[0]):
            spacing = self._spacing_for(y, b, ndim)
            rows.append([
                lesion_wise_stats(y_pred[b, c], y[b, c], spacing=spacing, size_bins=self.size_bins,
                                  full_connectivity=self.full_connectivity, hd95=self.compute_hd95,
                                  matching=self.matching, brats=self.brats).as_row()
                for c in kept
            ])
        return torch.tensor(rows, dtype=torch.float64)

    def _buffer(self) -> torch.Tensor:
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor) or data.numel() == 0:
            raise ValueError("the metric buffer is empty: call the metric on a batch before aggregate()")
        return data.to(torch.float64)

    def _per_channel(self, data: torch.Tensor, name: str, average: str) -> torch.Tensor:
        nb = len(self.size_bins) + 1
        if name == "dice":
            return _nanmean(data[..., _DICE], 0)
        if name == "hd95":
            return _nanmean(data[..., _HD95], 0)
        if name in ("lesion_dice", "lesion_hd95"):
            return _nanmean(data[..., -2 if name == "lesion_dice" else -1], 0)
        nt, nd, npred, nptp = (data[..., i] for i in (_NT, _ND, _NP, _NPT))
        if name == "size_recall":
            bt = data[..., _FIXED:_FIXED + nb].sum(0)
            bd = data[..., _FIXED + nb:_FIXED + 2 * nb].sum(0)
            return _ratio(bd, bt)  # (C, nb)
        if average == "lesion":
            nt, nd, npred, nptp = nt.sum(0), nd.sum(0), npred.sum(0), nptp.sum(0)
        if name == "sensitivity":
            out = _ratio(nd, nt)
        elif name == "precision":
            out = _ratio(nptp, npred)
        else:  # f1
            den = 2 * nd + (npred - nptp) + (nt - nd)
            out = torch.where(den > 0, 2 * nd / den.clamp(min=1), torch.ones_like(den))
        return out if average == "lesion" else _nanmean(out, 0)

    def aggregate(self, metric_name: str | None = None, average: str | None = None) -> torch.Tensor:
        """The metric over every buffered case.

        Args:
            metric_name: overrides the constructor's ``metric_name``. Default None.
            average: overrides the constructor's ``average``. Default None.

        Returns:
            a scalar (``reduction="mean"``) or one value per scored channel (``"none"``); ``"size_recall"`` has a
            trailing dim of one value per size bin.
        """
        name = self.metric_name if metric_name is None else metric_name
        avg = self.average if average is None else average
        if name not in LESION_METRIC_NAMES:
            raise ValueError(f"metric_name must be one of {LESION_METRIC_NAMES}, got {name!r}")
        if avg not in ("lesion", "case"):
            raise ValueError(f"average must be 'lesion' or 'case', got {avg!r}")
        out = self._per_channel(self._buffer(), name, avg)
        return _nanmean(out, 0) if self.reduction == "mean" else out

    def summary(self) -> dict[str, Any]:
        """Every metric (with this metric's ``average`` and ``reduction``) and the pooled lesion counts, as plain
        Python numbers/lists."""
        data = self._buffer()
        out: dict[str, Any] = {name: self.aggregate(name).tolist() for name in LESION_METRIC_NAMES}
        counts = data[..., _NT:_NPT + 1].sum((0, 1))
        out.update(cases=int(data.shape[0]), n_target=int(counts[0]), n_detected=int(counts[1]),
                   n_pred=int(counts[2]), n_pred_tp=int(counts[3]), size_bins=list(self.size_bins))
        return out
