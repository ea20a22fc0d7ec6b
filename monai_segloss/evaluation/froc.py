"""Threshold-free lesion detection: the probability-threshold sweep, the FROC curve and the CPM score.

A probability map is binarised at every threshold ``t`` of a sweep (``prob > t``); the connected components of each
binary map (full connectivity) are matched to the target lesions by a rule of
:mod:`monai_segloss.evaluation.lesion_metrics` (ISLES 2022 any-overlap; the greedy one-to-one match by voxel overlap;
or, when the sweep is made with a ``brats`` rule, the BraTS 2023 lesion-wise rule of
:mod:`monai_segloss.evaluation.brats2023`, its lesion-wise Dice included and its HD95 left NaN).
:func:`sweep_case` records, per threshold, every predicted component's size and overlap and its overlap with every
lesion it touches, so the lesion-wise statistics at any (threshold, minimum lesion size, matching) follow without
another pass over the volume (:meth:`CaseSweep.stats`; the same numbers as
:func:`~monai_segloss.evaluation.lesion_metrics.lesion_wise_stats` on
:func:`~monai_segloss.evaluation.postprocess.lesion_mask`, tested).

With any-overlap matching a component that merges several lesions detects them all without a false positive, so a
network that marks the whole brain at a low threshold scores a perfect FROC; one-to-one matching counts such a
component once.

FROC (free-response ROC; Chakraborty, Med. Phys. 16:561, 1989): over a set of cases, the pooled lesion sensitivity
``Σ detected / Σ lesions`` against the mean number of false-positive components per case ``Σ FP / cases``, one
point per threshold, plus the point (0, 0) of a threshold above every probability.

CPM (competition performance metric of LUNA16; Setio et al., Med. Image Anal. 42:1, 2017): the mean of the
sensitivities at 1/8, 1/4, 1/2, 1, 2, 4 and 8 false positives per case. The sensitivity at a rate ``r`` is read
by default (``interpolation="step"``) as the highest sensitivity of a sweep point with at most ``r`` false
positives per case — an operating point that a threshold actually reaches; a curve that never reaches ``r`` false
positives per case holds its best sensitivity for every larger rate. ``interpolation="luna16"`` reads it as LUNA16's
evaluation script does (``noduleCADEvaluationLUNA16.py``: ``numpy.interp`` of the curve, (0, 0) included, at the
rates): linearly between the neighbouring points, the last point's sensitivity beyond the curve. With a threshold
sweep the false-positive count need not fall monotonically as the threshold rises (components merge and split),
and linear interpolation credits points that no threshold reaches; the two agree at the sweep's points. With a
coarse grid the curve's low end is a straight line from (0, 0) and the CPM depends on the grid:
:data:`DENSE_THRESHOLDS` is a grid dense enough for either reading.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from ..core.prepare import plain_tensor
from .brats2023 import BraTS2023Rule, brats2023_scores, credited_pairs, merge_by_dilation
from .lesion_metrics import MATCHING_RULES, LesionWiseStats, Matching, connected_components, foreground_box

__all__ = ["LUNA16_RATES", "DENSE_THRESHOLDS", "CaseSweep", "sweep_case", "froc_points", "sensitivity_at", "cpm",
           "Interpolation"]

LUNA16_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclasses.dataclass(frozen=True)
class _Components:
    """Predicted components at one threshold: voxel counts, voxels overlapping the target, touched lesions."""

    sizes: np.ndarray  # (n_pred,) voxels
    overlaps: np.ndarray  # (n_pred,) voxels inside the target
    pairs: np.ndarray  # (k, 2) 0-based (lesion, component) indices of overlapping pairs
    pair_voxels: np.ndarray  # (k,) voxels shared by each pair
    credit: np.ndarray | None = None  # (m, 2) 0-based (merged lesion, component) credited by the BraTS 2023 rule
    credit_voxels: np.ndarray | None = None  # (m,) voxels the component shares with the merged lesion


@dataclasses.dataclass(frozen=True)
class _BraTSTarget:
    """The merged lesions of the BraTS 2023 rule: the rule, their voxel counts and volumes."""

    rule: BraTS2023Rule
    voxels: np.ndarray  # (n,)
    volumes_mm3: np.ndarray  # (n,)


@dataclasses.dataclass(frozen=True)
class CaseSweep:
    """One case's components at every threshold of a sweep (:func:`sweep_case`).

    Attributes:
        thresholds: the thresholds, increasing.
        voxel_mm3: the volume of one voxel in mm³ (mm² in 2D).
        target_volumes_mm3: the volume of every target lesion.
        target_voxels: the number of target voxels.
        brats: the merged lesions of the BraTS 2023 rule when the sweep was made with one (None otherwise).
    """

    thresholds: tuple[float, ...]
    voxel_mm3: float
    target_volumes_mm3: np.ndarray
    target_voxels: int
    components: tuple[_Components, ...]
    brats: _BraTSTarget | None = None

    @property
    def n_target(self) -> int:
        return int(self.target_volumes_mm3.size)

    def stats(self, index: int, min_size_mm3: float = 0.0, size_bins: Sequence[float] = (100.0, 1000.0),
              matching: Matching = "any_overlap") -> LesionWiseStats:
        """Lesion-wise statistics (HD95 NaN) at ``thresholds[index]`` after removing predicted components below
        ``min_size_mm3``, with the ``matching`` rule (``"brats2023"`` needs a sweep made with ``brats``)."""
        if matching not in MATCHING_RULES:
            raise ValueError(f"matching must be one of {MATCHING_RULES}, got {matching!r}")
        c = self.components[index]
        keep = c.sizes * self.voxel_mm3 >= min_size_mm3
        edges = np.asarray(size_bins, dtype=np.float64)
        pred_voxels = int(c.sizes[keep].sum())
        overlap = int(c.overlaps[keep].sum())
        den = pred_voxels + self.target_voxels
        if matching == "brats2023":
            return self._brats_stats(c, keep, edges, 2.0 * overlap / den if den else 1.0)
        detected = np.zeros(self.n_target, dtype=bool)
        kept = keep[c.pairs[:, 1]] if c.pairs.size else np.zeros(0, dtype=bool)
        pairs, pair_voxels = c.pairs[kept], c.pair_voxels[kept]
        if matching == "any_overlap":
            detected[pairs[:, 0]] = True
            n_pred_tp = int((keep & (c.overlaps > 0)).sum())
        else:  # greedy by voxel overlap, largest first; ties: lower lesion, then lower component (match_one_to_one)
            taken: set[int] = set()
            for i in np.lexsort((pairs[:, 1], pairs[:, 0], -pair_voxels)):
                t, p = int(pairs[i, 0]), int(pairs[i, 1])
                if not detected[t] and p not in taken:
                    detected[t] = True
                    taken.add(p)
            n_pred_tp = len(taken)
        bins = np.searchsorted(edges, self.target_volumes_mm3, side="right")
        return LesionWiseStats(
            dice=2.0 * overlap / den if den else 1.0, hd95=float("nan"), n_target=self.n_target,
            n_detected=int(detected.sum()), n_pred=int(keep.sum()), n_pred_tp=n_pred_tp,
            size_bins=tuple(float(e) for e in edges),
            bin_targets=tuple(int(v) for v in np.bincount(bins, minlength=edges.size + 1)),
            bin_detected=tuple(int(v) for v in np.bincount(bins, weights=detected, minlength=edges.size + 1)))

    def _brats_stats(self, c: _Components, keep: np.ndarray, edges: np.ndarray, dice: float) -> LesionWiseStats:
        if self.brats is None or c.credit is None or c.credit_voxels is None:
            raise ValueError("matching='brats2023' needs a sweep made with a BraTS2023Rule (sweep_case(..., brats=))")
        b = self.brats
        kept_pairs = keep[c.credit[:, 1]] if c.credit.size else np.zeros(0, dtype=bool)
        lesion, comp = c.credit[kept_pairs, 0], c.credit[kept_pairs, 1]
        n = b.voxels.size
        detected = np.bincount(lesion, minlength=n) > 0
        shared = np.bincount(lesion, weights=c.credit_voxels[kept_pairs], minlength=n)
        pred = np.bincount(lesion, weights=c.sizes[comp], minlength=n)
        lesion_dice = 2.0 * shared / (pred + b.voxels)
        kept = b.volumes_mm3 > b.rule.volume_threshold_mm3
        n_pred = int(keep.sum())
        n_pred_tp = int(np.unique(comp).size)
        score, _ = brats2023_scores(lesion_dice, np.zeros(n), kept, n_pred - n_pred_tp, b.rule.hd95_penalty)
        bins = np.searchsorted(edges, b.volumes_mm3[kept], side="right")
        return LesionWiseStats(
            dice=dice, hd95=float("nan"), n_target=int(kept.sum()), n_detected=int((kept & detected).sum()),
            n_pred=n_pred, n_pred_tp=n_pred_tp, size_bins=tuple(float(e) for e in edges),
            bin_targets=tuple(int(v) for v in np.bincount(bins, minlength=edges.size + 1)),
            bin_detected=tuple(int(v) for v in np.bincount(bins, weights=detected[kept], minlength=edges.size + 1)),
            lesion_dice=score)

    def detection_counts(self, min_size_mm3: float = 0.0, matching: Matching = "any_overlap"
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Per threshold: detected lesions and false-positive components, both ``(len(thresholds),)`` int arrays."""
        rows = [self.stats(i, min_size_mm3, matching=matching) for i in range(len(self.thresholds))]
        return (np.array([r.n_detected for r in rows], dtype=np.int64),
                np.array([r.n_pred - r.n_pred_tp for r in rows], dtype=np.int64))


def _as_array(x: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return plain_tensor(x).detach().cpu().float().numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    return x


def _dense_thresholds(step: float = 0.15, count: int = 60) -> tuple[float, ...]:
    # logistic of an even logit grid: 0.5, then 0.5 ± ... symmetric, denser in probability near 0 and 1
    low = 1.0 / (1.0 + np.exp(step * np.arange(count, 0, -1)))
    return (*(float(v) for v in low), 0.5, *(float(1.0 - v) for v in low[::-1]))


#: The dense grid for a threshold sweep: ``sigmoid(0.15·k)`` for ``k = -60 … 60`` (121 thresholds from 1.2e-4 to
#: 1 - 1.2e-4, holding 0.5; even in logit, so denser in probability near 0 and 1: steps of ~2e-5 at the ends and
#: ~0.04 around 0.5). A grid that reaches low thresholds lets most FROC curves reach the CPM's low rates.
DENSE_THRESHOLDS = _dense_thresholds()


def _pairs(a: np.ndarray, b: np.ndarray, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (a, b) label pairs (1-based labels in, 0-based pairs out, sorted) and their voxel counts."""
    if not a.size:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys, counts = np.unique((a.astype(np.int64) - 1) * nb + (b.astype(np.int64) - 1), return_counts=True)
    return np.stack([keys // nb, keys % nb], axis=1), counts


def sweep_case(
    prob: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    thresholds: Sequence[float],
    spacing: float | Sequence[float] | None = None,
    full_connectivity: bool = True,
    brats: BraTS2023Rule | None = None,
) -> CaseSweep:
    """Binarise ``prob > t`` at every threshold and record the components (module docstring).

    Args:
        prob: lesion probability ``(*S)``, 2D or 3D.
        target: binary target of the same shape.
        thresholds: increasing thresholds in [0, 1), e.g. :data:`DENSE_THRESHOLDS`.
        spacing: voxel size in mm (one number or one per axis). Default None: 1 mm.
        full_connectivity: 26- / 8-connected components (False: 6 / 4). Default True.
        brats: also record what the BraTS 2023 rule needs (the components touching each merged lesion's dilated
            region), so that ``stats(..., matching="brats2023")`` works. Default None: not recorded.

    Cost: one sort of the probabilities, then one connected-component labelling per threshold, restricted to the
    bounding box of ``prob > t`` (which shrinks as ``t`` rises); a threshold that leaves the same voxels as the one
    below it reuses its components, and thresholds above the maximum probability cost nothing.

    Example:
        >>> prob = np.zeros((6, 6)); prob[1:3, 1:3] = 0.9; prob[4, 4] = 0.4
        >>> target = np.zeros((6, 6)); target[1:3, 1:3] = 1
        >>> sweep_case(prob, target, (0.3, 0.5)).detection_counts()
        (array([1, 1]), array([1, 0]))
    """
    p = _as_array(prob, "prob")
    t = _as_array(target, "target")
    if p.shape != t.shape or p.ndim not in (2, 3):
        raise ValueError(f"prob and target must be 2D or 3D arrays of one shape, got {p.shape} and {t.shape}")
    if not np.array_equal(t != 0, t == 1):
        raise ValueError("target must be binary (values 0 and 1 only)")
    ts = tuple(float(v) for v in thresholds)
    if not ts or any(not 0.0 <= v < 1.0 for v in ts) or any(b <= a for a, b in zip(ts[:-1], ts[1:], strict=True)):
        raise ValueError(f"thresholds must be increasing numbers in [0, 1), got {tuple(thresholds)}")
    if brats is not None and not isinstance(brats, BraTS2023Rule):
        raise TypeError(f"brats must be a BraTS2023Rule or None, got {type(brats).__name__}")
    sp = np.broadcast_to(np.asarray(1.0 if spacing is None else spacing, dtype=np.float64), (p.ndim,))
    if not (np.isfinite(sp).all() and (sp > 0).all()):
        raise ValueError(f"spacing must be positive, got {spacing!r}")
    voxel = float(np.prod(sp))
    tmask = t != 0
    fg = tmask | (p > ts[0])
    if fg.any():  # components and overlaps live in the foreground's bounding box (margin: one voxel, or the dilation)
        box = foreground_box(fg, 1 if brats is None else brats.margin)
        p, tmask = p[box], tmask[box]
    lt, n_target = connected_components(tmask, full_connectivity)
    volumes = np.bincount(lt.reshape(-1), minlength=n_target + 1)[1:] * voxel
    merged = None
    regions = np.zeros(0, dtype=np.int32)
    if brats is not None:
        regions, n_merged = merge_by_dilation(tmask, brats, full_connectivity)
        lesion_voxels = np.bincount(regions[tmask], minlength=n_merged + 1)[1:]
        merged = _BraTSTarget(brats, lesion_voxels, lesion_voxels * voxel)
    empty = _Components(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64),
                        np.zeros(0, dtype=np.int64), None if brats is None else np.zeros((0, 2), dtype=np.int64),
                        None if brats is None else np.zeros(0, dtype=np.int64))
    comps: list[_Components] = []
    # the voxels above each threshold are nested: equal counts mean equal masks (the components are reused), and the
    # box of ``prob > t`` along each axis is where the maximum over the other axes exceeds t
    n_above = p.size - np.searchsorted(np.sort(p, axis=None), ts, side="right")
    peaks = [p.max(axis=tuple(a for a in range(p.ndim) if a != axis)) for axis in range(p.ndim)]
    for k, th in enumerate(ts):
        if n_above[k] == 0:  # so is every higher threshold
            comps.extend([empty] * (len(ts) - len(comps)))
            break
        if k and n_above[k] == n_above[k - 1]:
            comps.append(comps[-1])
            continue
        sub = tuple(slice(int(i[0]), int(i[-1]) + 1) for i in (np.flatnonzero(m > th) for m in peaks))
        lp, n_pred = connected_components(p[sub] > th, full_connectivity)
        tm, lts = tmask[sub], lt[sub]
        sizes = np.bincount(lp.reshape(-1), minlength=n_pred + 1)[1:]
        overlaps = np.bincount(lp[tm], minlength=n_pred + 1)[1:]
        both = tm & (lp > 0)
        pairs, pair_voxels = _pairs(lts[both], lp[both], n_pred)
        credit = credit_voxels = None
        if merged is not None:
            rs = regions[sub]
            credit = credited_pairs(rs, lp)
            shared, shared_voxels = _pairs(rs[both], lp[both], n_pred)
            # voxels each credited pair shares (0 for a component that touches the region only)
            credit_voxels = np.zeros(len(credit), dtype=np.int64)
            if len(shared):
                at = np.searchsorted(credit[:, 0] * n_pred + credit[:, 1], shared[:, 0] * n_pred + shared[:, 1])
                credit_voxels[at] = shared_voxels
        comps.append(_Components(sizes, overlaps, pairs, pair_voxels, credit, credit_voxels))
    return CaseSweep(ts, voxel, volumes.astype(np.float64), int(tmask.sum()), tuple(comps), merged)


def froc_points(detected: np.ndarray, n_lesions: np.ndarray | float, false_positives: np.ndarray,
                n_cases: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """FROC points from pooled counts: ``(false positives per case, sensitivity)``, each ``(..., T)``.

    Args:
        detected: detected lesions summed over the cases, ``(..., T)`` (one per threshold).
        n_lesions: lesions summed over the cases, ``(...)``.
        false_positives: false-positive components summed over the cases, ``(..., T)``.
        n_cases: number of cases, ``(...)``.

    Sensitivity is NaN where there is no lesion.
    """
    det = np.asarray(detected, dtype=np.float64)
    fp = np.asarray(false_positives, dtype=np.float64)
    nl = np.asarray(n_lesions, dtype=np.float64)[..., None]
    nc = np.asarray(n_cases, dtype=np.float64)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(nl > 0, det / np.where(nl > 0, nl, 1.0), np.nan)
        fpc = np.where(nc > 0, fp / np.where(nc > 0, nc, 1.0), np.nan)
    return fpc, sens


Interpolation = Literal["step", "luna16"]


def _luna16_row(fpc: np.ndarray, sens: np.ndarray, rates: np.ndarray) -> np.ndarray:
    ok = np.isfinite(fpc) & np.isfinite(sens)
    x = np.concatenate([[0.0], fpc[ok]])
    y = np.concatenate([[0.0], sens[ok]])
    order = np.lexsort((y, x))  # by false positives per case; equal rates: rising sensitivity (a vertical step)
    return np.interp(rates, x[order], y[order])


def sensitivity_at(fp_per_case: np.ndarray, sensitivity: np.ndarray, rates: Sequence[float] = LUNA16_RATES,
                   interpolation: Interpolation = "step") -> np.ndarray:
    """The sensitivity of a FROC curve at each false-positive rate; ``(..., len(rates))``.

    Args:
        fp_per_case: false positives per case of the sweep's points, ``(..., T)``.
        sensitivity: their sensitivities, ``(..., T)`` (NaN points are skipped; all NaN gives NaN).
        rates: the false-positive rates. Default :data:`LUNA16_RATES`.
        interpolation: ``"step"`` (default): the highest sensitivity of a point with at most ``rate`` false
            positives per case (0 when no point qualifies: the curve starts at (0, 0)), an operating point that a
            threshold reaches. ``"luna16"``: the convention of LUNA16's evaluation script
            (``noduleCADEvaluationLUNA16.py``: ``numpy.interp`` of the FROC curve at the rates): the points and
            (0, 0), ordered by false positives per case (equal rates by rising sensitivity), joined by straight
            lines and read at each rate; beyond the last point the curve holds the last point's sensitivity.

    Example:
        >>> fpc, sens = np.array([0.5, 2.0]), np.array([0.4, 0.8])
        >>> sensitivity_at(fpc, sens, (0.25, 1.0, 4.0)).tolist()
        [0.0, 0.4, 0.8]
        >>> [round(v, 4) for v in sensitivity_at(fpc, sens, (0.25, 1.0, 4.0), "luna16").tolist()]
        [0.2, 0.5333, 0.8]
    """
    if interpolation not in ("step", "luna16"):
        raise ValueError(f"interpolation must be 'step' or 'luna16', got {interpolation!r}")
    fpc_a = np.asarray(fp_per_case, dtype=np.float64)
    sens_a = np.asarray(sensitivity, dtype=np.float64)
    r = np.asarray(rates, dtype=np.float64)
    nan = np.isnan(sens_a).all(axis=-1) if sens_a.ndim else np.isnan(sens_a)
    if interpolation == "luna16":
        fb, sb = np.broadcast_arrays(np.atleast_1d(fpc_a), np.atleast_1d(sens_a))
        rows = [_luna16_row(f, v, r) for f, v in zip(fb.reshape(-1, fb.shape[-1]), sb.reshape(-1, sb.shape[-1]),
                                                      strict=True)]
        out = np.stack(rows).reshape(*fb.shape[:-1], r.size)
    else:
        ok = (fpc_a[..., None, :] <= r[:, None]) & np.isfinite(sens_a[..., None, :])
        out = np.where(ok, sens_a[..., None, :], 0.0).max(axis=-1)
    return np.where(np.asarray(nan)[..., None], np.nan, out)


def cpm(fp_per_case: np.ndarray, sensitivity: np.ndarray, rates: Sequence[float] = LUNA16_RATES,
        interpolation: Interpolation = "step") -> np.ndarray:
    """The mean of :func:`sensitivity_at` over ``rates`` (LUNA16: 1/8 … 8 false positives per case) with the
    ``interpolation`` convention (``"step"`` or ``"luna16"``)."""
    return sensitivity_at(fp_per_case, sensitivity, rates, interpolation).mean(axis=-1)
