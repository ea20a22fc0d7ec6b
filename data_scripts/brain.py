"""Synthetic white-matter lesions in real brain anatomy (the ``brain`` task of :mod:`data_scripts.synthetic`).

Anatomy: the MNI ICBM152 2009a symmetric T1 template and its grey- and white-matter probability maps, read from the
package data of the installed ``nilearn`` wheel (``nilearn/datasets/data/mni_icbm152_*_tal_nlin_sym_09a_converted.nii
.gz``; nothing is downloaded). Attribution: ``data_scripts/README.md``. The cerebrospinal fluid (CSF) probability is
what is left of the brain envelope: ``clip(1 - GM - WM, 0, 1)`` inside the template's brain (T1 > 0). The maps are
cropped to the brain and averaged down to the chosen isotropic spacing once per process.

One case (all random draws from a generator seeded by ``(seed, task, index)`` only):

1. anatomy: one random affine (rotation up to ``rotate_deg``, scaling up to ``scale``, translation up to
   ``translate_mm``) composed with a smooth elastic deformation (displacement std ``elastic_mm``, smoothness
   ``elastic_sigma_mm``), applied to T1, GM, WM and CSF together by ``monai.transforms.Rand3DElastic`` (bilinear);
2. lesions: ``1 + Poisson(mean_lesions - 1)`` lesions (at most ``max_lesions``) in a case, none in a fraction
   ``empty_fraction`` of the cases. Volumes follow a truncated Pareto law (heavy tail) with index ``volume_tail`` on
   ``volume_range_mm3``: with the defaults (40–4000 mm³, index 1.2) two thirds of the lesions are under 100 mm³. A
   lesion is the union of one to three irregular ellipsoids (random axes, orientation and a low-order modulation of
   the surface), so never a sphere. Its centre lies in white matter (WM probability > 0.8): with probability
   ``periventricular_fraction`` drawn near the lateral ventricles (weight ``exp(-d / 5 mm)``, ``d`` the distance to
   the deep CSF), otherwise anywhere in the white matter; a lesion whose voxels are not mostly white matter
   (mean WM probability < 0.5) or that would touch another lesion is redrawn;
3. partial volume: each lesion's occupancy of a voxel is the fraction of 3×3×3 sub-voxel samples inside it; the
   label is the set of voxels at least half covered, and the lesion darkens the T1 signal by
   ``occupancy · max(T1 - L, 0)`` (T1-hypointense; never brightening CSF), ``L`` lying a fraction ``c`` of the way
   from white-matter (0.87) to CSF (0.27) intensity, ``c`` uniform over ``contrast_range``, with a little texture;
4. acquisition: a polynomial bias field (``RandBiasField``), a contrast change about the mean
   (``RandScaleIntensityFixedMean``), a gamma change (``RandAdjustContrast``) and Rician noise (``RandRicianNoise``),
   all MONAI transforms seeded from the case's generator.

The dark CSF (ventricles, sulci) is the confounder: a lesion is a dark spot *inside* white matter.

Determinism: torch runs on one thread while a case is generated, so a seed gives byte-identical files on a given
platform and library versions.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["BrainParams", "make_brain_case", "template_maps", "template_dir", "TEMPLATE_FILES"]

TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
_WM_LEVEL, _CSF_LEVEL = 0.87, 0.27  # median T1 of the template (scaled to [0, 1]) in WM and CSF
_MAX_TRIES = 40  # placement attempts per lesion
_MAPS = ("t1", "gm", "wm", "csf", "vent")
_SUB = 3  # sub-voxel samples per axis for the partial-volume occupancy


@dataclass(frozen=True)
class BrainParams:
    """Parameters of the brain-lesion generator (module docstring for the model).

    Args:
        spacing: isotropic voxel size in mm, >= 1. Default 2.
        mean_lesions: mean number of lesions of a case with lesions, >= 1. Default 6.
        max_lesions: at most this many lesions per case, >= 1. Default 15.
        empty_fraction: probability that a case holds no lesion, in [0, 1]. Default 0.15.
        volume_range_mm3: ``(min, max)`` lesion volume in mm³ of the truncated Pareto law. Default (40, 4000): five
            voxels of 2 mm and more.
        volume_tail: Pareto index (smaller: heavier tail), > 0. Default 1.2.
        periventricular_fraction: probability that a lesion is drawn near the ventricles, in [0, 1]. Default 0.6.
        contrast_range: ``(min, max)`` of ``c``, the lesion's T1 drop as a fraction of the WM-CSF gap, in (0, 1].
            Default (0.8, 1.0): dark "black holes", down to CSF intensity.
        noise_std: upper bound of the Rician noise std (uniform in [0, noise_std]; WM ≈ 0.87). Default 0.05.
        rotate_deg: maximal rotation per axis in degrees. Default 10.
        scale: maximal relative scaling per axis. Default 0.08.
        translate_mm: maximal translation per axis in mm. Default 4.
        elastic_mm: standard deviation of the elastic displacement in mm. Default 1.5.
        elastic_sigma_mm: smoothness (Gaussian sigma) of the elastic displacement in mm. Default 12.
    """

    spacing: float = 2.0
    mean_lesions: float = 6.0
    max_lesions: int = 15
    empty_fraction: float = 0.15
    volume_range_mm3: tuple[float, float] = (40.0, 4000.0)
    volume_tail: float = 1.2
    periventricular_fraction: float = 0.6
    contrast_range: tuple[float, float] = (0.8, 1.0)
    noise_std: float = 0.05
    rotate_deg: float = 10.0
    scale: float = 0.08
    translate_mm: float = 4.0
    elastic_mm: float = 1.5
    elastic_sigma_mm: float = 12.0

    def __post_init__(self) -> None:
        def number(name: str, low: float, high: float = math.inf, low_open: bool = False) -> float:
            v = getattr(self, name)
            ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            ok = ok and (v > low if low_open else v >= low) and v <= high
            if not ok:
                bound = f"({low}" if low_open else f"[{low}"
                raise ValueError(f"{name} must be a number in {bound}, {high}], got {v!r}.")
            object.__setattr__(self, name, float(v))
            return float(v)

        number("spacing", 1.0)
        number("mean_lesions", 1.0)
        if not isinstance(self.max_lesions, (int, np.integer)) or isinstance(self.max_lesions, bool) \
                or self.max_lesions < 1:
            raise ValueError(f"max_lesions must be an integer >= 1, got {self.max_lesions!r}.")
        number("empty_fraction", 0.0, 1.0)
        number("volume_tail", 0.0, low_open=True)
        number("periventricular_fraction", 0.0, 1.0)
        for name in ("noise_std", "rotate_deg", "scale", "translate_mm", "elastic_mm"):
            number(name, 0.0)
        number("elastic_sigma_mm", 0.0, low_open=True)
        for name, high in (("volume_range_mm3", math.inf), ("contrast_range", 1.0)):
            lo_hi = tuple(getattr(self, name))
            if len(lo_hi) != 2 or not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in lo_hi) \
                    or not 0 < lo_hi[0] <= lo_hi[1] <= high:
                raise ValueError(f"{name} must be (min, max) with 0 < min <= max <= {high}, got "
                                 f"{getattr(self, name)!r}.")
            object.__setattr__(self, name, (float(lo_hi[0]), float(lo_hi[1])))


def template_dir() -> Path:
    """The folder of the MNI ICBM152 files inside the installed ``nilearn`` package (not imported)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the brain task reads the MNI ICBM152 template shipped in the nilearn wheel: "
                                "pip install nilearn (the demo extra: pip install -e '.[demo]')")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [n for n in TEMPLATE_FILES.values() if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"the installed nilearn lacks the template file(s) {missing} in {folder}")
    return folder


def _downsample(vol: np.ndarray, factor: float) -> np.ndarray:
    """Average ``vol`` (1 mm voxels) down to voxels of ``factor`` mm: block means for an integer factor, else a
    Gaussian anti-alias filter and linear interpolation."""
    if factor == 1.0:
        return vol
    k = int(round(factor))
    if abs(factor - k) < 1e-9:
        pad = [(0, (-s) % k) for s in vol.shape]
        v = np.pad(vol, pad)
        shape = [s // k for s in v.shape]
        return v.reshape(shape[0], k, shape[1], k, shape[2], k).mean(axis=(1, 3, 5), dtype=np.float64)
    smooth = ndimage.gaussian_filter(vol, sigma=0.5 * factor, mode="constant")
    return ndimage.zoom(smooth, 1.0 / factor, order=1, mode="constant", grid_mode=True)


def _ventricles(csf: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """The deep CSF of the template (1 mm): CSF > 0.5 more than 20 mm inside the closed brain, components of at
    least 5 ml (the ventricular system; sulcal and fissure CSF lie closer to the surface)."""
    filled = ndimage.binary_fill_holes(ndimage.binary_closing(brain, iterations=6))
    deep = (csf > 0.5) & (ndimage.distance_transform_edt(filled) > 20.0)
    comp, n = ndimage.label(deep, structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(comp.reshape(-1), minlength=n + 1)
    keep = sizes >= 5000
    keep[0] = False
    return keep[comp]


@lru_cache(maxsize=4)
def template_maps(spacing: float) -> dict[str, np.ndarray]:
    """T1 (scaled to [0, 1]), GM, WM and CSF probabilities and the ventricle mask (``"vent"``) at ``spacing`` mm,
    cropped to the brain (float32).

    The maps are read-only arrays shared by every case of the process.
    """
    import nibabel as nib

    folder = template_dir()
    raw = {k: np.asarray(nib.load(str(folder / f)).dataobj, dtype=np.float32) / np.float32(255.0)
           for k, f in TEMPLATE_FILES.items()}
    brain = raw["t1"] > 0
    raw["csf"] = np.clip(1.0 - raw["gm"] - raw["wm"], 0.0, 1.0) * brain
    raw["vent"] = _ventricles(raw["csf"], brain).astype(np.float32)
    lo = [int(np.flatnonzero(brain.any(axis=tuple(j for j in range(3) if j != i)))[0]) for i in range(3)]
    hi = [int(np.flatnonzero(brain.any(axis=tuple(j for j in range(3) if j != i)))[-1]) + 1 for i in range(3)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    out = {}
    for k, v in raw.items():
        small = np.pad(_downsample(v[box], spacing).astype(np.float32), 2)  # a margin of 2 voxels
        small.setflags(write=False)
        out[k] = small
    return out


@contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _deform(rng: np.random.Generator, p: BrainParams) -> dict[str, np.ndarray]:
    """The four template maps under one random affine + elastic deformation."""
    import torch
    from monai.transforms import Rand3DElastic

    maps = template_maps(p.spacing)
    stack = torch.from_numpy(np.stack([maps[k] for k in _MAPS]))
    sigma = p.elastic_sigma_mm / p.spacing  # voxels
    # Rand3DElastic smooths uniform(-1, 1) noise with a Gaussian of std sigma (voxels): the smoothed field has std
    # (1/sqrt(3)) / (2 sqrt(pi) sigma)^(3/2); the magnitude scales it to elastic_mm
    field_std = (1.0 / math.sqrt(3.0)) / (2.0 * math.sqrt(math.pi) * sigma) ** 1.5
    magnitude = p.elastic_mm / p.spacing / field_std
    rad = math.radians(p.rotate_deg)
    elastic = Rand3DElastic(sigma_range=(sigma, sigma), magnitude_range=(magnitude, magnitude), prob=1.0,
                            rotate_range=(rad, rad, rad), scale_range=(p.scale,) * 3,
                            translate_range=(p.translate_mm / p.spacing,) * 3, mode="bilinear",
                            padding_mode="zeros")
    elastic.set_random_state(seed=_seed(rng))
    out = np.asarray(elastic(stack), dtype=np.float32)
    return {k: (v if k == "t1" else np.clip(v, 0.0, 1.0)) for k, v in zip(_MAPS, out, strict=True)}


def _pareto_volume(rng: np.random.Generator, p: BrainParams) -> float:
    """A volume (mm³) from the Pareto law of index ``volume_tail`` truncated to ``volume_range_mm3``."""
    lo, hi = p.volume_range_mm3
    a = p.volume_tail
    u = rng.uniform()
    return float(lo * (1.0 - u * (1.0 - (lo / hi) ** a)) ** (-1.0 / a))


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _blobs(rng: np.random.Generator, volume: float) -> list[dict[str, Any]]:
    """One to three irregular ellipsoids (centre offset, rotation, semi-axes in mm, surface modulation) whose
    union has roughly ``volume`` mm³."""
    r0 = (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0)
    n = 1 if volume < 60 else int(rng.integers(1, 4))
    radii = [r0 * (0.9 if n > 1 else 1.0)] + [r0 * rng.uniform(0.45, 0.75) for _ in range(n - 1)]
    blobs = []
    for i, r in enumerate(radii):
        d = rng.standard_normal(3)
        offset = np.zeros(3) if i == 0 else d / np.linalg.norm(d) * radii[0] * rng.uniform(0.6, 1.0)
        aspect = np.exp(rng.uniform(-0.35, 0.35, 3))
        aspect /= np.cbrt(aspect.prod())
        dirs = rng.standard_normal((3, 3))
        blobs.append({
            "offset": offset, "rot": _random_rotation(rng), "axes": r * aspect,
            "eps": rng.uniform(0.1, 0.35), "dirs": dirs / np.linalg.norm(dirs, axis=1, keepdims=True),
            "freqs": rng.integers(1, 4, 3).astype(np.float64), "phases": rng.uniform(0, 2 * np.pi, 3),
            "weights": rng.dirichlet(np.ones(3)),
        })
    return blobs


def _occupancy(blobs: list[dict[str, Any]], offsets_mm: np.ndarray) -> np.ndarray:
    """Fraction of the sub-voxel samples inside the union of ``blobs``; ``offsets_mm`` is (..., samples, 3)."""
    inside = np.zeros(offsets_mm.shape[:-1], dtype=bool)
    for b in blobs:
        y = ((offsets_mm - b["offset"]) @ b["rot"]) / b["axes"]
        rho = np.linalg.norm(y, axis=-1)
        direction = y / np.maximum(rho, 1e-9)[..., None]
        g = (b["weights"] * np.cos(np.pi * b["freqs"] * (direction @ b["dirs"].T) + b["phases"])).sum(-1)
        inside |= rho <= 1.0 + b["eps"] * g
    return inside.mean(axis=-1).astype(np.float32)


def _rasterise(blobs: list[dict[str, Any]], centre: np.ndarray, spacing: float, shape: tuple[int, ...]):
    """Partial-volume occupancy of the lesion in its bounding box: ``(box, occupancy)`` or None off the grid."""
    reach = max(float(np.linalg.norm(b["offset"]) + b["axes"].max() * (1 + b["eps"])) for b in blobs)
    half = int(math.ceil(reach / spacing)) + 1
    c = np.floor(centre).astype(int)
    lo, hi = c - half, c + half + 1
    if (lo < 0).any() or (hi > np.asarray(shape)).any():
        return None
    sub = (np.arange(_SUB) + 0.5) / _SUB - 0.5
    grid = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij"), -1)
    subs = np.stack(np.meshgrid(sub, sub, sub, indexing="ij"), -1).reshape(-1, 3)
    offsets = ((grid[..., None, :] + subs) - centre) * spacing  # (X, Y, Z, 27, 3) in mm
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    return box, _occupancy(blobs, offsets)


def _lesions(rng: np.random.Generator, p: BrainParams, anat: dict[str, np.ndarray]):
    """Draw and rasterise the lesions of one case: ``(occupancy, label, intensity, descriptions)``."""
    shape = anat["t1"].shape
    n = 0 if rng.uniform() < p.empty_fraction else min(1 + int(rng.poisson(p.mean_lesions - 1.0)), p.max_lesions)
    occupancy = np.zeros(shape, dtype=np.float32)
    level = np.zeros(shape, dtype=np.float32)
    label = np.zeros(shape, dtype=bool)
    reserved = np.zeros(shape, dtype=bool)
    lesions: list[dict[str, Any]] = []
    if n == 0:
        return occupancy, label, level, lesions
    ventricles = anat["vent"] > 0.5
    d_vent = ndimage.distance_transform_edt(~ventricles, sampling=p.spacing) if ventricles.any() \
        else np.full(shape, np.inf)
    candidates = np.flatnonzero((anat["wm"] > 0.8).reshape(-1))
    if candidates.size == 0:
        return occupancy, label, level, lesions
    weights = np.exp(-d_vent.reshape(-1)[candidates] / 5.0)
    weights = weights / weights.sum() if weights.sum() > 0 else None
    for _ in range(n):
        volume = _pareto_volume(rng, p)
        for _ in range(_MAX_TRIES):
            periventricular = bool(rng.uniform() < p.periventricular_fraction) and weights is not None
            pick = rng.choice(candidates, p=weights) if periventricular else candidates[rng.integers(candidates.size)]
            centre = np.array(np.unravel_index(pick, shape), dtype=np.float64) + rng.uniform(-0.5, 0.5, 3)
            drawn = _rasterise(_blobs(rng, volume), centre, p.spacing, shape)
            if drawn is None:
                continue
            box, occ = drawn
            mask = occ >= 0.5
            if not mask.any() or (reserved[box] & (occ > 0)).any():
                continue
            if float(anat["wm"][box][mask].mean()) < 0.5:
                continue
            contrast = float(rng.uniform(*p.contrast_range))
            target = _WM_LEVEL - contrast * (_WM_LEVEL - _CSF_LEVEL)
            texture = 1.0 + 0.04 * rng.standard_normal(occ.shape).astype(np.float32)
            occupancy[box] = np.maximum(occupancy[box], occ)
            level[box] = np.where(occ > 0, np.float32(target) * texture, level[box])
            label[box] |= mask
            reserved[box] |= ndimage.binary_dilation(occ > 0, structure=np.ones((3, 3, 3), dtype=bool))
            lesions.append({
                "centre_voxel": [round(float(v), 3) for v in centre],
                "drawn_volume_mm3": round(volume, 3),
                "voxels": int(mask.sum()),
                "location": "periventricular" if periventricular else "white matter",
                "contrast": round(contrast, 4),
            })
            break
    return occupancy, label, level, lesions


def _acquisition(rng: np.random.Generator, p: BrainParams, image: np.ndarray) -> np.ndarray:
    """Bias field, contrast, gamma and Rician noise (MONAI transforms seeded from ``rng``)."""
    import torch
    from monai.transforms import RandAdjustContrast, RandBiasField, RandRicianNoise, RandScaleIntensityFixedMean

    steps = [RandBiasField(degree=3, coeff_range=(0.05, 0.2), prob=1.0),
             RandScaleIntensityFixedMean(factors=0.1, prob=1.0),
             RandAdjustContrast(gamma=(0.8, 1.25), prob=1.0),
             RandRicianNoise(std=p.noise_std, prob=1.0, sample_std=True)]
    x = torch.from_numpy(image[None].copy())
    for step in steps:
        step.set_random_state(seed=_seed(rng))
        x = step(x)
    return np.asarray(x, dtype=np.float32)[0]


def make_brain_case(rng: np.random.Generator, p: BrainParams) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """One case from the case generator ``rng``: ``(image float32, label uint8, lesion descriptions)``."""
    with _one_thread():
        anat = _deform(rng, p)
        occupancy, label, level, lesions = _lesions(rng, p, anat)
        image = anat["t1"] - occupancy * np.maximum(anat["t1"] - level, 0.0)
        image = _acquisition(rng, p, image)
    return image, label.astype(np.uint8), lesions
