"""The BraTS 2023 lesion-wise rule: lesions merged by dilation, predicted components credited by touch, small
lesions dropped, lesion-wise Dice and HD95 with misses and false positives penalised.

Reference: the BraTS 2023 lesion-wise evaluation, ``get_LesionWiseScores`` / ``get_LesionWiseResults`` of
https://github.com/rachitsaluja/BraTS-2023-Metrics (``metrics.py``); written here from its description and code,
not copied. For a binary target ``T`` and prediction ``P`` (3D in BraTS; 2D works the same way):

1. **Merging.** ``T`` is dilated ``dilation_iterations`` times by the structuring element
   ``scipy.ndimage.generate_binary_structure(ndim, structure_connectivity)`` (BraTS: rank 3, connectivity 2, the
   18-neighbourhood; voxels outside the image stay outside). Each connected component ``R_l`` of the dilated mask
   (26-connected; 6 with ``full_connectivity=False``) is one *lesion* ``L_l = T ∩ R_l``: target components whose
   dilations touch are one lesion. ``R_l`` is the dilation of ``L_l`` (its *region*).
2. **Crediting.** The predicted components are the connected components of ``P`` (26-connected). Every component
   that shares a voxel with ``R_l`` is credited to lesion ``l`` (a component may be credited to several lesions);
   a component credited to no lesion is a false positive (FP).
3. **Per lesion.** With ``P_l`` the union of the components credited to ``l``: ``Dice_l = 2|P_l ∩ L_l| / (|P_l| +
   |L_l|)`` (0 when nothing is credited: a miss) and ``HD95_l`` the HD95 between ``P_l`` and ``L_l`` (the penalty
   ``hd95_penalty`` = 374 mm when nothing is credited).
4. **Dropping.** Lesions of volume ``≤ volume_threshold_mm3`` (voxels × voxel volume, as the reference, which
   reads the voxel size from the image header; BraTS images are 1 mm isotropic, so it counts voxels) leave the
   score and the counts; the components credited to them are not false positives either.
5. **Scores.** Over the kept lesions ``K`` and the false positives: ``lesion Dice = Σ_K Dice_l / (|K| + FP)`` and
   ``lesion HD95 = (Σ_K HD95_l + 374·FP) / (|K| + FP)``; with no kept lesion and no FP, 1 and 0.
   Counts: TP = kept lesions with a credited component, FN = kept lesions without, FP as above.

Parameters per challenge (``get_LesionWiseResults``): GLI, SSA, PED: 3 dilations, 50 mm³; MEN: 1 and 50; MET: 1
and 2 (:data:`BRATS2023_CHALLENGES`).

Differences from the reference that remain: its HD95 is DeepMind's ``surface_distance`` (percentile of distances
weighted by surface-element areas); ours is the voxel-surface HD95 of
:mod:`~monai_segloss.evaluation.lesion_metrics` (MONAI's convention). The two agree on simple shapes and may differ
by a fraction of a voxel otherwise. ``dilation_iterations=0`` here means no dilation (each 26-connected target
component is a lesion); the reference passes its factor to ``scipy.ndimage.binary_dilation``, which reads 0 as
"dilate until nothing changes" (one lesion filling the image). The challenges use 1 or 3.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from ..geometry.instances import connected_components

__all__ = ["BraTS2023Rule", "BRATS2023_CHALLENGES", "merge_by_dilation", "credited_pairs", "brats2023_scores"]

BRATS_HD95_PENALTY = 374.0


@dataclasses.dataclass(frozen=True)
class BraTS2023Rule:
    """Parameters of the BraTS 2023 lesion-wise rule (module doc). Defaults: BraTS-GLI.

    Attributes:
        dilation_iterations: dilations of the target that merge nearby lesions and define their regions, >= 0 (0:
            no dilation, unlike the reference; module doc). Default 3.
        structure_connectivity: ``connectivity`` of ``scipy.ndimage.generate_binary_structure(ndim, ·)`` for the
            dilation, 1 to ndim (1: face neighbours; 2 in 3D: the 18-neighbourhood of the reference). Default 2.
        volume_threshold_mm3: lesions of volume ``<=`` this (mm³; mm² in 2D) are dropped. Default 50.
        hd95_penalty: the HD95 of a missed lesion and of a false positive, mm. Default 374 (the reference's).

    Example:
        >>> BraTS2023Rule(dilation_iterations=1, volume_threshold_mm3=2.0) == BRATS2023_CHALLENGES["BraTS-MET"]
        True
    """

    dilation_iterations: int = 3
    structure_connectivity: int = 2
    volume_threshold_mm3: float = 50.0
    hd95_penalty: float = BRATS_HD95_PENALTY

    def __post_init__(self) -> None:
        for name in ("dilation_iterations", "structure_connectivity"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (0 if name[0] == "d" else 1):
                raise ValueError(f"{name} must be an integer >= {0 if name[0] == 'd' else 1}, got {v!r}")
        for name in ("volume_threshold_mm3", "hd95_penalty"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")

    @property
    def margin(self) -> int:
        """Voxels around the foreground that a crop must keep so that the dilation sees no artificial border."""
        return int(self.dilation_iterations) + 1


BRATS2023_CHALLENGES = {
    "BraTS-GLI": BraTS2023Rule(3, 2, 50.0),
    "BraTS-SSA": BraTS2023Rule(3, 2, 50.0),
    "BraTS-PED": BraTS2023Rule(3, 2, 50.0),
    "BraTS-MEN": BraTS2023Rule(1, 2, 50.0),
    "BraTS-MET": BraTS2023Rule(1, 2, 2.0),
}


def merge_by_dilation(target: np.ndarray, rule: BraTS2023Rule, full_connectivity: bool = True
                      ) -> tuple[np.ndarray, int]:
    """The lesion regions ``R_l`` (module doc, step 1): int32 labels 1..n of the dilated target, 0 elsewhere.

    Lesion ``l`` is ``target & (regions == l)``.

    Args:
        target: binary ``(*S)``, 2D or 3D.
        rule: the parameters.
        full_connectivity: 26- / 8-connected regions (False: 6 / 4). Default True (the reference).
    """
    t = np.asarray(target, dtype=bool)
    if rule.structure_connectivity > t.ndim:
        raise ValueError(f"structure_connectivity must be at most the number of dims ({t.ndim}), got "
                         f"{rule.structure_connectivity}")
    if not t.any():
        return np.zeros(t.shape, dtype=np.int32), 0
    dilated = t
    if rule.dilation_iterations:
        structure = ndimage.generate_binary_structure(t.ndim, rule.structure_connectivity)
        dilated = ndimage.binary_dilation(t, structure=structure, iterations=rule.dilation_iterations)
    return connected_components(dilated, full_connectivity)


def credited_pairs(regions: np.ndarray, pred_labels: np.ndarray) -> np.ndarray:
    """The (lesion, component) pairs, 0-based, ``(k, 2)`` sorted: component touches the lesion's region."""
    both = (regions > 0) & (pred_labels > 0)
    if not both.any():
        return np.zeros((0, 2), dtype=np.int64)
    r, c = regions[both].astype(np.int64) - 1, pred_labels[both].astype(np.int64) - 1
    n = int(c.max()) + 1
    keys = np.unique(r * n + c)  # one sortable key per pair: faster than unique rows
    return np.stack([keys // n, keys % n], axis=1)


def brats2023_scores(dice: np.ndarray, hd95: np.ndarray, kept: np.ndarray, n_fp: int,
                     penalty: float = BRATS_HD95_PENALTY) -> tuple[float, float]:
    """The case's lesion-wise Dice and HD95 (module doc, step 5) from per-lesion values.

    Args:
        dice: ``Dice_l`` of every lesion (0 for a miss), ``(n,)``.
        hd95: ``HD95_l`` of every lesion (the penalty for a miss), ``(n,)``.
        kept: lesions above the volume threshold, ``(n,)`` bool.
        n_fp: false-positive components.
        penalty: the HD95 of a false positive. Default 374.

    Example:
        >>> brats2023_scores(np.array([0.5, 0.0]), np.array([2.0, 374.0]), np.array([True, True]), 1)
        (0.16666666666666666, 250.0)
    """
    k = np.asarray(kept, dtype=bool)
    den = int(k.sum()) + int(n_fp)
    if den == 0:
        return 1.0, 0.0
    return (float(np.asarray(dice, dtype=np.float64)[k].sum() / den),
            float((np.asarray(hd95, dtype=np.float64)[k].sum() + n_fp * penalty) / den))
