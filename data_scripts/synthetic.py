"""Deterministic synthetic small-lesion data in the MSD layout (NIfTI + ``dataset.json`` + ``stats.json``).

Three tasks:

``brain`` (labels 0 background / 1 lesion)
    White-matter lesions in real anatomy: the MNI ICBM152 2009 T1 template and tissue maps shipped in the ``nilearn``
    wheel, randomly deformed per case, with irregular T1-hypointense lesions of heavy-tailed sizes (most under
    100 mm³), mostly periventricular, partial-volume edges, bias field, contrast, gamma and Rician noise; default
    2 mm isotropic, cropped to the brain. The model and its parameters: :mod:`data_scripts.brain` /
    :class:`data_scripts.brain.BrainParams`.

``lesion`` (labels 0 background / 1 lesion)
    A smooth, textured tissue region (two tissue types with soft boundaries, fine and medium-scale texture) inside a
    dark background, a multiplicative bias field and additive Gaussian noise. Each case holds 0 to ``max_lesions``
    bright lesions; ``empty_fraction`` of the cases hold none. A lesion is an irregular ellipsoid (random axes,
    orientation and a low-order angular modulation of its surface) with a partial-volume edge: the intensity ramps
    over one voxel across the boundary, and the label is the voxel set at least half covered. Radii (in units of the
    smallest spacing, i.e. voxels for isotropic spacing) are log-uniform over ``radius_range``; the lesion contrast
    (intensity step on tissue of mean about 1, noise standard deviation ``noise_std``) is log-uniform over
    ``contrast_range``, so some lesions are barely visible. A hard budget keeps the lesion voxels of each case at most
    ``foreground_fraction`` of the volume (default 0.5 %): each radius is drawn log-uniformly between the lower bound
    and what the remaining budget allows, and a lesion that would still overshoot is dropped. At the default
    64x64x48 shape the budget (983 voxels) allows radii up to about 6 voxels; larger volumes reach ``radius_range[1]``.

``organ_tumour`` (labels 0 background / 1 organ / 2 tumour)
    The same background with a smooth, lobulated organ (partial-volume edge, own intensity and texture) and 0 to
    ``max_lesions`` darker tumours lying entirely inside it. The tumour budget and radius law are as above.

Determinism: the random generator of case ``i`` is seeded from ``(seed, task, i)`` only, so the same seed gives
byte-identical files (gzip stamps no time or name) and a case does not change when ``num_cases`` changes.

Python::

    from data_scripts.synthetic import generate
    generate("data/lesion", task="lesion", num_cases=20, seed=0)
    generate("data/brain", task="brain", num_cases=40, seed=0)   # spacing 2 mm unless given

Command line::

    python -m data_scripts.synthetic --task lesion --out data/lesion --cases 20 --seed 0 [--shape 64 64 48]
        [--spacing 1 1 1] [--overwrite]
    python -m data_scripts.synthetic --task brain --out data/brain --cases 40 --seed 0 [--spacing 2 2 2]
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from ._io import atomic_write_bytes, nifti_gz_bytes, staged_output
from ._layout import case_paths, check_outputs_free, dataset_json, label_stats, split_cases, write_dataset_files
from .brain import BrainParams, make_brain_case

__all__ = ["TASKS", "SyntheticParams", "BrainParams", "ensure_generated", "generate", "make_case", "main",
           "nifti_image"]

TASKS = {"lesion": 1, "organ_tumour": 2, "brain": 3}  # task -> code mixed into the seed
_LABELS = {
    "lesion": {"0": "background", "1": "lesion"},
    "organ_tumour": {"0": "background", "1": "organ", "2": "tumour"},
    "brain": {"0": "background", "1": "lesion"},
}
_MODALITY = {"lesion": "synthetic MRI", "organ_tumour": "synthetic MRI", "brain": "T1 (synthetic, MNI ICBM152 2009a)"}
_MAX_TRIES = 30  # placement attempts per lesion


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of the synthetic generator (see the module docstring for the model).

    Args:
        shape: volume size ``(X, Y, Z)`` in voxels, each >= 8. Default ``(64, 64, 48)``.
        spacing: voxel size in mm ``(sx, sy, sz)``, each > 0; anisotropic allowed. Default ``(1, 1, 1)``.
        radius_range: ``(min, max)`` lesion radius in units of the smallest spacing, log-uniform. Default ``(2, 12)``.
        max_lesions: a non-empty case holds 1..``max_lesions`` lesions (uniform). Default 6.
        empty_fraction: probability that a case holds no lesion, in [0, 1]. Default 0.2.
        foreground_fraction: upper bound on the lesion (tumour) voxel fraction per case, in (0, 1]. Default 0.005.
        contrast_range: ``(min, max)`` lesion intensity step (tissue mean about 1), log-uniform. Default ``(0.1, 0.6)``.
        noise_std: standard deviation of the additive Gaussian noise, >= 0. Default 0.05.
        irregularity: maximal relative radial modulation of a lesion surface, in [0, 0.5]. Default 0.25.
    """

    shape: tuple[int, int, int] = (64, 64, 48)
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    radius_range: tuple[float, float] = (2.0, 12.0)
    max_lesions: int = 6
    empty_fraction: float = 0.2
    foreground_fraction: float = 0.005
    contrast_range: tuple[float, float] = (0.1, 0.6)
    noise_std: float = 0.05
    irregularity: float = 0.25

    def __post_init__(self) -> None:
        shape = tuple(self.shape)
        if len(shape) != 3 or not all(isinstance(s, (int, np.integer)) and s >= 8 for s in shape):
            raise ValueError(f"shape must be three integers >= 8, got {self.shape!r}.")
        object.__setattr__(self, "shape", tuple(int(s) for s in shape))
        spacing = tuple(self.spacing)
        if len(spacing) != 3 or not all(
            isinstance(s, numbers.Real) and not isinstance(s, bool) and math.isfinite(s) and s > 0 for s in spacing
        ):
            raise ValueError(f"spacing must be three positive numbers (mm), got {self.spacing!r}.")
        object.__setattr__(self, "spacing", tuple(float(s) for s in spacing))
        for name in ("radius_range", "contrast_range"):
            lo_hi = tuple(getattr(self, name))
            if len(lo_hi) != 2 or not (0 < lo_hi[0] <= lo_hi[1]) or not all(math.isfinite(v) for v in lo_hi):
                raise ValueError(f"{name} must be (min, max) with 0 < min <= max, got {getattr(self, name)!r}.")
            object.__setattr__(self, name, (float(lo_hi[0]), float(lo_hi[1])))
        if not isinstance(self.max_lesions, (int, np.integer)) or self.max_lesions < 1:
            raise ValueError(f"max_lesions must be an integer >= 1, got {self.max_lesions!r}.")
        if not 0.0 <= self.empty_fraction <= 1.0:
            raise ValueError(f"empty_fraction must be in [0, 1], got {self.empty_fraction!r}.")
        if not 0.0 < self.foreground_fraction <= 1.0:
            raise ValueError(f"foreground_fraction must be in (0, 1], got {self.foreground_fraction!r}.")
        if not (self.noise_std >= 0 and math.isfinite(self.noise_std)):
            raise ValueError(f"noise_std must be a finite number >= 0, got {self.noise_std!r}.")
        if not 0.0 <= self.irregularity <= 0.5:
            raise ValueError(f"irregularity must be in [0, 0.5], got {self.irregularity!r}.")


def _case_rng(seed: int, task: str, index: int) -> np.random.Generator:
    """The generator of one case: depends on (seed, task, index) only."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), TASKS[task], int(index)]))


def _normalised_grid(shape: Sequence[int]) -> list[np.ndarray]:
    """Broadcastable coordinates in [-1, 1] along each axis."""
    axes = []
    for d, n in enumerate(shape):
        u = (np.arange(n, dtype=np.float32) - (n - 1) / 2.0) / (n / 2.0)
        view = [1] * len(shape)
        view[d] = n
        axes.append(u.reshape(view))
    return axes


def _smooth_cosines(rng: np.random.Generator, grid: list[np.ndarray], terms: int, max_freq: float) -> np.ndarray:
    """A smooth random field: a sum of plane cosines of low frequency, scaled to values in [-1, 1]."""
    field = np.zeros(np.broadcast_shapes(*(g.shape for g in grid)), dtype=np.float32)
    amps = rng.uniform(0.5, 1.0, terms)
    for k in range(terms):
        freq = rng.uniform(-max_freq, max_freq, len(grid))
        phase = rng.uniform(0, 2 * np.pi)
        arg = sum(np.float32(np.pi * f) * g for f, g in zip(freq, grid, strict=True)) + np.float32(phase)
        field += np.float32(amps[k]) * np.cos(arg)
    return field / np.float32(amps.sum())


def _texture(rng: np.random.Generator, shape: Sequence[int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation."""
    t = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma=sigma, mode="reflect")
    return t / np.float32(max(float(t.std()), 1e-6))


def _soft_region(
    grid: list[np.ndarray], radii: Sequence[float], centre: Sequence[float], wobble: np.ndarray, edge: float
) -> np.ndarray:
    """Occupancy in [0, 1] of a deformed ellipsoid in normalised coordinates (soft edge of width ``edge``)."""
    r2 = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii, strict=True))
    rho = np.sqrt(r2) / (1.0 + wobble)
    return np.clip(0.5 - (rho - 1.0) / edge, 0.0, 1.0).astype(np.float32)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _place_lesion(
    rng: np.random.Generator,
    params: SyntheticParams,
    allowed_dist: np.ndarray,
    reserved: np.ndarray,
    pv_total: np.ndarray,
    label: np.ndarray,
    budget: int,
) -> dict[str, Any] | None:
    """Try to draw and rasterise one lesion; updates ``pv_total``, ``label`` (bool) and ``reserved`` in place.

    Returns the lesion description, or None when the remaining budget cannot hold even the smallest lesion or no
    valid placement was found.
    """
    spacing = np.asarray(params.spacing)
    smin = float(spacing.min())
    voxel_mm3 = float(np.prod(spacing))
    edge_mm = float(np.prod(spacing) ** (1.0 / 3.0))
    r_lo, r_hi = params.radius_range
    for _ in range(_MAX_TRIES):
        remaining = budget - int(label.sum())
        eps = float(rng.uniform(0.0, params.irregularity))
        aspect = np.exp(rng.uniform(-0.3, 0.3, 3))
        aspect /= np.cbrt(aspect.prod())
        # largest radius whose (maximally modulated) ellipsoid fits the remaining voxel budget
        r_cap = (max(remaining, 0) * voxel_mm3 * 3.0 / (4.0 * np.pi)) ** (1.0 / 3.0) / smin / (1.0 + eps)
        hi = min(r_hi, r_cap)
        if hi < r_lo:
            return None
        radius = float(np.exp(rng.uniform(np.log(r_lo), np.log(hi)))) if hi > r_lo else r_lo
        axes_mm = radius * smin * aspect  # semi-axes in mm
        reach_mm = float(axes_mm.max()) * (1.0 + eps) + edge_mm
        candidates = np.flatnonzero((allowed_dist >= reach_mm).reshape(-1) & ~reserved.reshape(-1))
        if candidates.size == 0:
            continue
        centre = np.array(np.unravel_index(candidates[rng.integers(candidates.size)], label.shape), dtype=np.float64)
        centre += rng.uniform(-0.5, 0.5, 3)
        rot = _random_rotation(rng)
        n_terms = 3
        dirs = rng.standard_normal((n_terms, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        freqs = rng.integers(1, 4, n_terms).astype(np.float64)
        phases = rng.uniform(0, 2 * np.pi, n_terms)
        weights = rng.uniform(0.3, 1.0, n_terms)
        weights /= weights.sum()
        contrast = float(np.exp(rng.uniform(*np.log(params.contrast_range))))

        half = np.ceil(reach_mm / spacing).astype(int) + 1
        lo = np.maximum(np.floor(centre).astype(int) - half, 0)
        hi_idx = np.minimum(np.floor(centre).astype(int) + half + 1, label.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi_idx, strict=True))
        idx = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi_idx, strict=True)), indexing="ij"), -1)
        x_mm = (idx - centre) * spacing  # (..., 3) offsets in mm
        y = (x_mm @ rot) / axes_mm  # ellipsoid frame, unit sphere = surface
        rho = np.linalg.norm(y, axis=-1)
        direction = y / np.maximum(rho, 1e-9)[..., None]
        wobble = np.tensordot(direction, dirs.T, axes=1)  # (..., n_terms)
        g = (weights * np.cos(np.pi * freqs * wobble + phases)).sum(-1)
        rho_eff = rho / (1.0 + eps * g)
        signed_mm = (rho_eff - 1.0) * radius * smin
        pv = np.clip(0.5 - signed_mm / edge_mm, 0.0, 1.0).astype(np.float32)
        new = (pv >= 0.5) & ~label[box]
        if int(new.sum()) == 0 or int(label.sum()) + int(new.sum()) > budget:
            continue
        if bool((reserved[box] & (pv > 0)).any()):
            continue  # would touch a previous lesion; keep lesions separate so they stay distinct components
        pv_total[box] = np.maximum(pv_total[box], pv)
        label[box] |= pv >= 0.5
        reserved[box] |= ndimage.binary_dilation(pv > 0, structure=np.ones((3, 3, 3), dtype=bool))
        return {
            "centre_voxel": [round(float(c), 3) for c in centre],
            "radius": round(radius, 4),
            "semi_axes_mm": [round(float(a), 4) for a in axes_mm],
            "irregularity": round(eps, 4),
            "contrast": round(contrast, 4),
            "voxels": int((pv >= 0.5).sum()),
            "_pv_box": (box, pv),
        }
    return None


def _lesions(
    rng: np.random.Generator, params: SyntheticParams, region: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Draw the lesions of one case inside the boolean ``region``.

    Returns:
        ``(signal, label, lesions)``: ``signal`` float32 = sum of partial-volume occupancy x contrast, ``label`` bool,
        and one description per lesion.
    """
    shape = params.shape
    budget = int(math.floor(params.foreground_fraction * float(np.prod(shape))))
    n = 0 if rng.uniform() < params.empty_fraction else int(rng.integers(1, params.max_lesions + 1))
    allowed_dist = ndimage.distance_transform_edt(region, sampling=params.spacing).astype(np.float32)
    reserved = np.zeros(shape, dtype=bool)
    pv_total = np.zeros(shape, dtype=np.float32)
    label = np.zeros(shape, dtype=bool)
    signal = np.zeros(shape, dtype=np.float32)
    lesions = []
    for _ in range(n):
        lesion = _place_lesion(rng, params, allowed_dist, reserved, pv_total, label, budget)
        if lesion is None:
            break
        box, pv = lesion.pop("_pv_box")
        signal[box] += pv * np.float32(lesion["contrast"])
        lesions.append(lesion)
    return signal, label, lesions


def make_case(
    task: str, index: int, seed: int = 0, params: SyntheticParams | BrainParams | None = None
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Generate one case in memory.

    Args:
        task: ``"lesion"``, ``"organ_tumour"`` or ``"brain"``.
        index: case index (>= 0); the case depends only on ``(seed, task, index)`` and ``params``.
        seed: data set seed (>= 0), default 0.
        params: generator parameters, default :class:`SyntheticParams()` (:class:`BrainParams()` for ``"brain"``).

    Returns:
        ``(image, label, lesions)``: image float32 ``(X, Y, Z)``, label uint8 ``(X, Y, Z)`` (0/1, or 0/1/2 for
        ``organ_tumour``), and the drawn lesion parameters (centre in voxels, size, contrast, ...).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}.")
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be an integer >= 0, got {index!r}.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
    wanted = BrainParams if task == "brain" else SyntheticParams
    params = wanted() if params is None else params
    if not isinstance(params, wanted):
        raise TypeError(f"params of task {task!r} must be a {wanted.__name__}, got {type(params).__name__}.")
    rng = _case_rng(seed, task, index)
    if task == "brain":
        return make_brain_case(rng, params)
    shape = params.shape
    grid = _normalised_grid(shape)

    # body: a lobulated ellipsoid with a soft edge
    body_axes = rng.uniform(0.8, 0.92, 3)
    body = _soft_region(grid, body_axes, rng.uniform(-0.03, 0.03, 3), 0.06 * _smooth_cosines(rng, grid, 4, 1.5), 0.05)
    # tissue: two tissue types with soft boundaries and texture at two scales
    medium = _texture(rng, shape, sigma=3.0)
    fine = _texture(rng, shape, sigma=1.0)
    tissue = 1.0 + 0.08 * np.tanh(2.0 * medium) + 0.02 * fine
    background = np.float32(0.05)
    image = background + body * (tissue - background)

    region = body > 0.99
    if task == "organ_tumour":
        organ_axes = rng.uniform(0.4, 0.55, 3)
        organ_wobble = 0.12 * _smooth_cosines(rng, grid, 5, 2.0)
        organ = _soft_region(grid, organ_axes, rng.uniform(-0.1, 0.1, 3), organ_wobble, 2.0 / min(shape))
        organ_tex = 1.3 + 0.03 * fine + 0.03 * medium
        image = image + organ * (organ_tex - image)
        region = organ >= 0.999
        signal, lesion_mask, lesions = _lesions(rng, params, region)
        image = image - signal  # hypo-intense tumours
        label = (organ >= 0.5).astype(np.uint8)
        label[lesion_mask] = 2
    else:
        signal, lesion_mask, lesions = _lesions(rng, params, region)
        image = image + signal  # hyper-intense lesions
        label = lesion_mask.astype(np.uint8)

    bias = np.exp(0.15 * _smooth_cosines(rng, grid, 3, 0.8))
    image = image * bias
    if params.noise_std > 0:
        image = image + np.float32(params.noise_std) * rng.standard_normal(shape).astype(np.float32)
    return image.astype(np.float32), label, lesions


def nifti_image(data: np.ndarray, spacing: Sequence[float]) -> nib.Nifti1Image:
    """A NIfTI image with affine ``diag(spacing)`` (RAS, origin 0), units mm, qform and sform both set."""
    affine = np.diag([float(s) for s in spacing] + [1.0])
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    return img


def _spacing3(p: SyntheticParams | BrainParams) -> tuple[float, float, float]:
    return (p.spacing,) * 3 if isinstance(p, BrainParams) else p.spacing


def _case_files(
    task: str, index: int, seed: int, p: SyntheticParams | BrainParams, num_classes: int
) -> tuple[bytes, bytes, dict[str, Any]]:
    """One case as ``(image .nii.gz bytes, label .nii.gz bytes, statistics)``; runs in a worker process too."""
    image, label, lesions = make_case(task, index, seed, p)
    spacing = _spacing3(p)
    stats = {"shape": list(label.shape), "spacing": list(spacing), **label_stats(label, spacing, num_classes),
             "generated_lesions": lesions}
    return nifti_gz_bytes(nifti_image(image, spacing)), nifti_gz_bytes(nifti_image(label, spacing)), stats


def _write_cases(
    folder: Path,
    task: str,
    case_ids: Sequence[str],
    seed: int,
    p: SyntheticParams | BrainParams,
    split_of: dict[str, str],
    num_classes: int,
    case_stats: dict[str, dict[str, Any]],
    executor: Executor | None = None,
    progress: Callable[[], None] | None = None,
) -> None:
    """Generate and write every case into ``folder`` (in ``executor``'s workers when given); fills ``case_stats``;
    calls ``progress()`` after each case."""
    n = len(case_ids)
    args = ([task] * n, range(n), [seed] * n, [p] * n, [num_classes] * n)
    results = executor.map(_case_files, *args) if executor is not None else map(_case_files, *args)
    for case_id, (image, label, stats) in zip(case_ids, results, strict=True):
        img_path, lab_path = case_paths(folder, case_id)
        atomic_write_bytes(img_path, image, overwrite=False)
        atomic_write_bytes(lab_path, label, overwrite=False)
        case_stats[case_id] = {"split": split_of[case_id], **stats}
        if progress is not None:
            progress()


def _params(task: str, shape: Sequence[int] | None, spacing: Sequence[float] | float | None,
            params: dict[str, Any]) -> SyntheticParams | BrainParams:
    """The parameter object of ``task`` (``shape``/``spacing`` None: the task's default)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}.")
    cls = BrainParams if task == "brain" else SyntheticParams
    unknown = sorted(set(params) - set(cls.__dataclass_fields__) - {"shape", "spacing"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for task {task!r}; valid: "
                         f"{sorted(set(cls.__dataclass_fields__) - {'shape', 'spacing'})}.")
    if task != "brain":
        return SyntheticParams(shape=tuple((64, 64, 48) if shape is None else shape),
                               spacing=tuple((1.0, 1.0, 1.0) if spacing is None else spacing), **params)
    if shape is not None:
        raise ValueError("the brain task's shape is the template's brain at the chosen spacing; pass no shape.")
    if spacing is None:
        return BrainParams(**params)
    values = [spacing] if isinstance(spacing, numbers.Real) else list(spacing)
    if not values or any(v != values[0] for v in values):
        raise ValueError(f"the brain task needs an isotropic spacing (one number), got {spacing!r}.")
    return BrainParams(spacing=values[0], **params)


def _record(
    task: str, seed: int, num_cases: int, p: SyntheticParams | BrainParams, val_frac: float, test_frac: float
) -> dict[str, Any]:
    """The generator settings stored in ``dataset.json`` / ``stats.json`` (JSON types only)."""
    rec = {
        "task": task,
        "seed": int(seed),
        "num_cases": int(num_cases),
        "val_frac": float(val_frac),
        "test_frac": float(test_frac),
        **asdict(p),
    }
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in rec.items()}


def _write_meta(
    folder: Path,
    task: str,
    generator: dict[str, Any],
    splits: dict[str, list[str]],
    num_classes: int,
    case_stats: dict[str, dict[str, Any]],
) -> None:
    """Write ``stats.json`` and ``dataset.json`` into ``folder``."""
    dataset = dataset_json(
        name=f"synthetic_{task}",
        description=f"Synthetic {task.replace('_', ' ')} data (monai-segloss data_scripts.synthetic)",
        splits=splits,
        labels=_LABELS[task],
        modality={"0": _MODALITY[task]},
        reference="monai-segloss data_scripts/synthetic.py"
        + (" on the MNI ICBM152 2009a template (Fonov et al. 2011; data_scripts/README.md)" if task == "brain" else ""),
        licence="CC0-1.0 (generated data)" if task != "brain"
        else "generated from the MNI ICBM152 2009a template; its copyright notice: data_scripts/README.md",
        extra={"generator": generator},
    )
    write_dataset_files(folder, dataset, case_stats, num_classes, False, extra_stats={"generator": generator})


def generate(
    out_dir: str | os.PathLike,
    task: str = "lesion",
    num_cases: int = 10,
    seed: int = 0,
    shape: Sequence[int] | None = None,
    spacing: Sequence[float] | float | None = None,
    overwrite: bool = False,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    executor: Executor | None = None,
    progress: Callable[[], None] | None = None,
    **params: Any,
) -> Path:
    """Write a synthetic data set in the MSD layout.

    Writes ``out_dir/imagesTr/<task>_NNNN.nii.gz`` (float32), ``out_dir/labelsTr/<task>_NNNN.nii.gz`` (uint8),
    ``out_dir/stats.json`` and ``out_dir/dataset.json``. The files are written into a staging folder and moved into
    place only once all are complete (``dataset.json`` last), so an interrupted run leaves ``out_dir`` unchanged.

    Args:
        out_dir: output folder (created if missing).
        task: ``"lesion"`` (labels 0/1), ``"organ_tumour"`` (labels 0/1/2) or ``"brain"`` (labels 0/1). Default
            ``"lesion"``.
        num_cases: number of cases, >= 1. Default 10.
        seed: seed (>= 0). Case ``i`` depends only on ``(seed, task, i)`` and the parameters. Default 0.
        shape: volume size in voxels, default None: ``(64, 64, 48)``; not for ``"brain"`` (the template's brain).
        spacing: voxel size in mm, default None: ``(1, 1, 1)`` (anisotropic allowed), ``"brain"``: 2 mm isotropic
            (one number or three equal ones).
        overwrite: replace existing outputs. Default False: an existing output raises ``FileExistsError`` before
            anything is written.
        val_frac: fraction of cases in the validation list, default 0.15.
        test_frac: fraction of cases in the test list, default 0.15.
        executor: a ``concurrent.futures`` executor to generate the cases in (e.g. a process pool); the files are
            the same. Default None: in this process.
        progress: called after each case is written (e.g. a progress bar's update). Default None.
        params: further :class:`SyntheticParams` fields (``radius_range``, ``max_lesions``, ``empty_fraction``,
            ``foreground_fraction``, ``contrast_range``, ``noise_std``, ``irregularity``), or
            :class:`~data_scripts.brain.BrainParams` fields for ``"brain"``.

    Returns:
        The path of ``dataset.json``.
    """
    if not isinstance(num_cases, (int, np.integer)) or isinstance(num_cases, bool) or num_cases < 1:
        raise ValueError(f"num_cases must be an integer >= 1, got {num_cases!r}.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
    p = _params(task, shape, spacing, params)
    out_dir = Path(out_dir)
    case_ids = [f"{task}_{i:04d}" for i in range(num_cases)]
    splits = split_cases(case_ids, val_frac=val_frac, test_frac=test_frac, seed=seed)
    split_of = {c: s for s, cs in splits.items() for c in cs}
    check_outputs_free(out_dir, case_ids, overwrite)

    num_classes = len(_LABELS[task])
    case_stats: dict[str, dict[str, Any]] = {}
    with staged_output(out_dir, overwrite) as stage:
        _write_cases(stage, task, case_ids, seed, p, split_of, num_classes, case_stats, executor, progress)
        _write_meta(
            stage, task, _record(task, seed, num_cases, p, val_frac, test_frac), splits, num_classes, case_stats
        )
    return out_dir / "dataset.json"


def ensure_generated(
    out_dir: str | os.PathLike,
    task: str = "lesion",
    num_cases: int = 10,
    seed: int = 0,
    shape: Sequence[int] | None = None,
    spacing: Sequence[float] | float | None = None,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    executor: Executor | None = None,
    progress: Callable[[], None] | None = None,
    **params: Any,
) -> Path:
    """Generate the data set unless ``out_dir`` already holds exactly this one; for bundle configs and scripts.

    Same arguments as :func:`generate` (without ``overwrite``). When ``out_dir/dataset.json`` exists and records the
    same generator settings, nothing is written; when it records different settings, ``FileExistsError`` explains
    the difference (existing data are never replaced implicitly). ``dataset.json`` is moved into place last, so
    its presence means the data set is complete.

    Returns:
        The path of ``dataset.json``.
    """
    out_dir = Path(out_dir)
    wanted = _record(task, seed, num_cases, _params(task, shape, spacing, params), val_frac, test_frac)
    path = out_dir / "dataset.json"
    if not path.is_file():
        try:
            return generate(out_dir, task, num_cases, seed, shape, spacing, False, val_frac, test_frac, executor,
                            progress, **params)
        except FileExistsError:
            if not path.is_file():  # leftovers of another data set without dataset.json
                raise
    try:
        found = json.loads(path.read_text()).get("generator")
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable dataset.json: {err}") from err
    if found != wanted:
        diff = sorted(k for k in set(wanted) | set(found or {}) if (found or {}).get(k) != wanted.get(k))
        raise FileExistsError(
            f"{path} holds a different synthetic data set (differs in {diff}); choose another folder or regenerate "
            "with generate(..., overwrite=True)."
        )
    return path


def _parser() -> argparse.ArgumentParser:
    # the module as the user runs it: monai_segloss.data_scripts.<name> from a wheel, data_scripts.<name> in a checkout
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else __name__}",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), default="lesion")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cases", type=int, default=10, help="number of cases (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shape", type=int, nargs=3, default=None, metavar=("X", "Y", "Z"),
                   help="volume size (lesion, organ_tumour; default 64 64 48)")
    p.add_argument("--spacing", type=float, nargs=3, default=None, metavar=("SX", "SY", "SZ"),
                   help="voxel size in mm (default 1 1 1; brain: 2 2 2, isotropic)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--val-frac", type=float, default=0.15)
    p.add_argument("--test-frac", type=float, default=0.15)
    p.add_argument("--radius", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="lesion radius range (units of the smallest spacing), log-uniform (default 2 12; not brain)")
    p.add_argument("--contrast", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="lesion contrast range (default 0.1 0.6; brain: 0.8 1.0 of the WM-CSF gap)")
    p.add_argument("--max-lesions", type=int, default=None, help="default 6 (brain: 15)")
    p.add_argument("--empty-fraction", type=float, default=None, help="default 0.2 (brain: 0.15)")
    p.add_argument("--foreground-fraction", type=float, default=None,
                   help="maximal lesion voxel fraction per case (default 0.005; not brain)")
    p.add_argument("--noise", type=float, default=None, help="noise standard deviation (default 0.05)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 with a one-line message on bad input)."""
    args = _parser().parse_args(argv)
    given = {"radius_range": args.radius, "contrast_range": args.contrast, "max_lesions": args.max_lesions,
             "empty_fraction": args.empty_fraction, "foreground_fraction": args.foreground_fraction,
             "noise_std": args.noise}
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in given.items() if v is not None}
    try:
        path = generate(
            args.out,
            task=args.task,
            num_cases=args.cases,
            seed=args.seed,
            shape=None if args.shape is None else tuple(args.shape),
            spacing=None if args.spacing is None else tuple(args.spacing),
            overwrite=args.overwrite,
            val_frac=args.val_frac,
            test_frac=args.test_frac,
            **params,
        )
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
