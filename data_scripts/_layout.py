"""The on-disk layout every data script writes (MSD / Medical Segmentation Decathlon style).

::

    DIR/imagesTr/<case>.nii.gz     image (3D, or 4D with channels last for several modalities)
    DIR/labelsTr/<case>.nii.gz     label map, uint8
    DIR/dataset.json               MSD-style description with "training", "validation" and "test" lists
    DIR/stats.json                 voxel fraction per class, lesion count and sizes per case

``dataset.json`` is readable by :func:`monai.data.load_decathlon_datalist` for each of the three list keys; every
entry is ``{"image": "./imagesTr/<case>.nii.gz", "label": "./labelsTr/<case>.nii.gz"}``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_segloss.geometry.instances import connected_components

from ._io import atomic_write_json, check_writable

__all__ = [
    "SPLITS",
    "case_paths",
    "check_outputs_free",
    "dataset_json",
    "label_stats",
    "size_distribution",
    "split_cases",
    "summarise_stats",
    "write_dataset_files",
]

SPLITS = ("training", "validation", "test")


def case_paths(out_dir: str | os.PathLike, case_id: str) -> tuple[Path, Path]:
    """``(image_path, label_path)`` of ``case_id`` under ``out_dir``."""
    out_dir = Path(out_dir)
    return out_dir / "imagesTr" / f"{case_id}.nii.gz", out_dir / "labelsTr" / f"{case_id}.nii.gz"


def check_outputs_free(out_dir: str | os.PathLike, case_ids: Sequence[str], overwrite: bool) -> None:
    """Before writing anything: raise ``FileExistsError`` naming the first output that exists (unless overwrite).

    Checks ``dataset.json``, ``stats.json`` and every case's image and label, so a refused run writes nothing.
    """
    if overwrite:
        return
    out_dir = Path(out_dir)
    check_writable(out_dir / "dataset.json", overwrite)
    check_writable(out_dir / "stats.json", overwrite)
    for case_id in case_ids:
        for p in case_paths(out_dir, case_id):
            check_writable(p, overwrite)


def _unit_hash(seed: int, key: str) -> float:
    """A number in [0, 1) that depends only on ``(seed, key)`` (stable across runs, platforms and case counts)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_cases(case_ids: Sequence[str], val_frac: float, test_frac: float, seed: int = 0) -> dict[str, list[str]]:
    """Assign cases to training / validation / test.

    Cases are ranked by a hash of ``(seed, case id)``; the first ``round(n * test_frac)`` go to test, the next
    ``round(n * val_frac)`` to validation, the rest to training (each non-zero fraction gets at least one case when
    there are at least three cases). Because the rank of a case does not depend on the other cases, adding cases moves
    few existing ones between splits. Lists are sorted by case id.

    Args:
        case_ids: unique case identifiers.
        val_frac: fraction of cases for validation, in [0, 1).
        test_frac: fraction of cases for test, in [0, 1); ``val_frac + test_frac < 1``.
        seed: split seed, default 0.
    """
    for name, frac in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not isinstance(frac, (int, float)) or not 0.0 <= float(frac) < 1.0:
            raise ValueError(f"{name} must be a number in [0, 1), got {frac!r}.")
    if val_frac + test_frac >= 1.0:
        raise ValueError(f"val_frac + test_frac must be < 1, got {val_frac} + {test_frac}.")
    if len(set(case_ids)) != len(case_ids):
        raise ValueError("case_ids must be unique.")
    n = len(case_ids)
    n_test = int(round(n * test_frac))
    n_val = int(round(n * val_frac))
    if n >= 3:
        n_test = max(n_test, 1 if test_frac > 0 else 0)
        n_val = max(n_val, 1 if val_frac > 0 else 0)
    n_test = min(n_test, n)
    n_val = min(n_val, n - n_test)
    ranked = sorted(case_ids, key=lambda c: (_unit_hash(seed, c), c))
    return {
        "test": sorted(ranked[:n_test]),
        "validation": sorted(ranked[n_test : n_test + n_val]),
        "training": sorted(ranked[n_test + n_val :]),
    }


def label_stats(label: np.ndarray, spacing: Sequence[float], num_classes: int) -> dict[str, Any]:
    """Statistics of one label map: voxel fraction per class and the lesions (connected components).

    Lesions are the connected components of the highest class (the lesion / tumour class) with full connectivity
    (26-neighbourhood in 3D), as the lesion-wise metrics count them.

    Args:
        label: integer label map ``(*S)``.
        spacing: voxel size in mm per spatial axis.
        num_classes: number of classes including background.

    Returns:
        ``{"voxels": {class: count}, "fraction": {class: fraction}, "lesion_count": int,
        "lesion_sizes": [voxels, ...] (descending), "lesion_volumes_mm3": [...]}``.
    """
    label = np.asarray(label)
    counts = np.bincount(label.reshape(-1).astype(np.int64), minlength=num_classes)
    if counts.size > num_classes:
        raise ValueError(f"label has values up to {counts.size - 1}, expected < {num_classes}.")
    lesion = label == (num_classes - 1)
    comp, n = connected_components(lesion)
    sizes = sorted((int(s) for s in np.bincount(comp.reshape(-1))[1:]), reverse=True) if n else []
    voxel_mm3 = float(np.prod(np.asarray(spacing, dtype=np.float64)))
    total = int(label.size)
    return {
        "voxels": {str(c): int(counts[c]) for c in range(num_classes)},
        "fraction": {str(c): float(counts[c]) / total for c in range(num_classes)},
        "lesion_count": int(n),
        "lesion_sizes": sizes,
        "lesion_volumes_mm3": [s * voxel_mm3 for s in sizes],
    }


def summarise_stats(cases: Mapping[str, Mapping[str, Any]], num_classes: int) -> dict[str, Any]:
    """Totals over cases: voxel fraction per class over all voxels, lesion counts, empty cases."""
    voxels = np.zeros(num_classes, dtype=np.int64)
    for st in cases.values():
        voxels += np.array([st["voxels"][str(c)] for c in range(num_classes)], dtype=np.int64)
    total = int(voxels.sum())
    per_case_fg = [
        sum(st["voxels"][str(c)] for c in range(1, num_classes)) / max(sum(st["voxels"].values()), 1)
        for st in cases.values()
    ]
    counts = [st["lesion_count"] for st in cases.values()]
    return {
        "num_cases": len(cases),
        "voxels": {str(c): int(voxels[c]) for c in range(num_classes)},
        "fraction": {str(c): (float(voxels[c]) / total if total else 0.0) for c in range(num_classes)},
        "lesion_count": int(sum(counts)),
        "cases_without_lesion": int(sum(n == 0 for n in counts)),
        "lesions_per_case": {"mean": float(np.mean(counts)) if counts else 0.0, "max": int(max(counts, default=0))},
        "max_case_foreground_fraction": float(max(per_case_fg)) if per_case_fg else 0.0,
        "lesion_volume_mm3": size_distribution([v for st in cases.values() for v in st["lesion_volumes_mm3"]]),
    }


SIZE_EDGES_MM3 = (25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)


def size_distribution(volumes_mm3: Sequence[float], small_mm3: float = 100.0) -> dict[str, Any]:
    """Summary of lesion volumes (mm³): count, mean, quantiles, the fraction below ``small_mm3`` and a histogram
    over :data:`SIZE_EDGES_MM3` (bin i holds volumes in ``[edge[i-1], edge[i])``, first from 0, last open)."""
    v = np.asarray(volumes_mm3, dtype=np.float64)
    hist = np.bincount(np.searchsorted(np.asarray(SIZE_EDGES_MM3), v, side="right"),
                       minlength=len(SIZE_EDGES_MM3) + 1)
    out: dict[str, Any] = {"count": int(v.size), "histogram_edges": list(SIZE_EDGES_MM3),
                           "histogram": [int(h) for h in hist]}
    if v.size:
        q = np.percentile(v, [10, 25, 50, 75, 90])
        out.update(mean=float(v.mean()), min=float(v.min()), p10=float(q[0]), p25=float(q[1]), median=float(q[2]),
                   p75=float(q[3]), p90=float(q[4]), max=float(v.max()),
                   **{f"fraction_below_{small_mm3:g}": float((v < small_mm3).mean())})
    return out


def dataset_json(
    name: str,
    description: str,
    splits: Mapping[str, Sequence[str]],
    labels: Mapping[str, str],
    modality: Mapping[str, str],
    reference: str = "",
    licence: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an MSD-style ``dataset.json`` dictionary.

    Args:
        name: data set name.
        description: one-line description.
        splits: ``{"training": [...], "validation": [...], "test": [...]}`` case ids.
        labels: ``{"0": "background", ...}``.
        modality: ``{"0": "MRI", ...}`` (one entry per image channel).
        reference: where the data comes from.
        licence: the data licence.
        extra: further top-level keys (e.g. generator parameters).
    """
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"splits is missing {missing}.")

    def entry(case_id: str) -> dict[str, str]:
        return {"image": f"./imagesTr/{case_id}.nii.gz", "label": f"./labelsTr/{case_id}.nii.gz"}

    out: dict[str, Any] = {
        "name": name,
        "description": description,
        "reference": reference,
        "licence": licence,
        "release": "1.0",
        "tensorImageSize": "4D" if len(modality) > 1 else "3D",
        "modality": dict(modality),
        "labels": dict(labels),
        "numTraining": len(splits["training"]),
        "numValidation": len(splits["validation"]),
        "numTest": len(splits["test"]),
    }
    for s in SPLITS:
        out[s] = [entry(c) for c in splits[s]]
    if extra:
        out.update(extra)
    return out


def write_dataset_files(
    out_dir: str | os.PathLike,
    dataset: Mapping[str, Any],
    case_stats: Mapping[str, Mapping[str, Any]],
    num_classes: int,
    overwrite: bool,
    extra_stats: Mapping[str, Any] | None = None,
) -> None:
    """Write ``stats.json`` and then ``dataset.json`` (last, so a complete dataset.json means a complete data set)."""
    out_dir = Path(out_dir)
    stats = {"summary": summarise_stats(case_stats, num_classes), "cases": dict(case_stats)}
    if extra_stats:
        stats.update(extra_stats)
    atomic_write_json(out_dir / "stats.json", stats, overwrite=overwrite)
    atomic_write_json(out_dir / "dataset.json", dict(dataset), overwrite=overwrite)
