"""Shared writer for the public-data preparation scripts (MSD, ISLES'22, ATLAS v2.0).

Each script only finds its cases (``SourceCase``: case id, image file(s), label file); this module validates them and
writes the common layout of :mod:`data_scripts._layout`. Every input is checked before anything is written:
missing files raise ``FileNotFoundError`` naming the file, unreadable files, shape or affine mismatches and label
values outside the label set raise ``ValueError`` naming the file.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ._io import (
    atomic_copy,
    atomic_write_bytes,
    load_nifti,
    nifti_gz_bytes,
    parse_checksum,
    safe_extract,
    staged_output,
)
from ._io import verify_checksum as _verify
from ._layout import case_paths, check_outputs_free, dataset_json, label_stats, write_dataset_files

__all__ = ["SourceCase", "add_common_args", "add_folder_or_archive_args", "common_kwargs", "extract_user_archive",
           "run_cli", "source_folder", "write_public_dataset"]


@dataclass(frozen=True)
class SourceCase:
    """One case of a public data set.

    Args:
        case_id: output file stem (``imagesTr/<case_id>.nii.gz``).
        images: one file per modality (stacked as channels, last axis, when more than one).
        label: the label map file.
    """

    case_id: str
    images: tuple[Path, ...]
    label: Path


def _fresh_image(data: np.ndarray, like: nib.Nifti1Image) -> nib.Nifti1Image:
    """A new NIfTI image holding ``data`` with the geometry (affine, q/s-form codes, units) of ``like``."""
    img = nib.Nifti1Image(data, like.affine)
    units = like.header.get_xyzt_units()
    img.header.set_xyzt_units(units[0] or "mm", units[1] or "unknown")
    qform, qcode = like.header.get_qform(coded=True)
    sform, scode = like.header.get_sform(coded=True)
    img.set_qform(qform if qform is not None else like.affine, code=int(qcode) if qform is not None else 1)
    img.set_sform(sform if sform is not None else like.affine, code=int(scode) if sform is not None else 1)
    return img


def _check_geometry(ref: nib.Nifti1Image, ref_path: Path, img: nib.Nifti1Image, path: Path, tol: float) -> None:
    """Same spatial shape, and affines equal within ``tol`` x the smallest voxel size (mm), or ValueError."""
    if tuple(img.shape[:3]) != tuple(ref.shape[:3]):
        raise ValueError(
            f"{path} has spatial shape {tuple(img.shape[:3])} but {ref_path} has {tuple(ref.shape[:3])}; "
            "image and label must be on the same voxel grid."
        )
    atol = tol * float(min(ref.header.get_zooms()[:3]))
    if not np.allclose(img.affine, ref.affine, rtol=0.0, atol=atol):
        raise ValueError(
            f"{path} and {ref_path} have different affines (voxel-to-world matrices) beyond {tol} voxel "
            f"(affine_tol / --affine-tol):\n{img.affine}\nvs\n{ref.affine}"
        )


def _label_array(img: nib.Nifti1Image, path: Path, num_classes: int) -> np.ndarray:
    """Integer label map as uint8, or ValueError naming ``path`` (non-integer, out-of-range or non-3D)."""
    if img.ndim == 4 and img.shape[3] == 1:
        data = np.asanyarray(img.dataobj)[..., 0]
    elif img.ndim == 3:
        data = np.asanyarray(img.dataobj)
    else:
        raise ValueError(f"label file {path} must be a 3D volume, got shape {img.shape}.")
    data = np.asarray(data)
    if data.dtype.kind == "f":
        if not np.isfinite(data).all():
            raise ValueError(f"label file {path} contains NaN or infinite values.")
        if not np.array_equal(data, np.round(data)):
            raise ValueError(f"label file {path} holds non-integer values; expected labels 0..{num_classes - 1}.")
    elif data.dtype.kind not in "iub":
        raise ValueError(f"label file {path} has unsupported data type {data.dtype}.")
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if lo < 0 or hi > num_classes - 1:
        values = np.unique(data)
        bad = [v.item() for v in values if v < 0 or v > num_classes - 1][:10]
        raise ValueError(f"label file {path} holds values {bad} outside the label set 0..{num_classes - 1}.")
    return data.astype(np.uint8)


def _image_array(img: nib.Nifti1Image, path: Path) -> np.ndarray:
    if img.ndim != 3:
        raise ValueError(f"image file {path} must be a 3D volume to be stacked with other modalities, got {img.shape}.")
    return np.asarray(img.get_fdata(dtype=np.float32))


def write_public_dataset(
    out_dir: str | os.PathLike,
    cases: Sequence[SourceCase],
    splits: Mapping[str, Sequence[str]],
    *,
    name: str,
    description: str,
    labels: Mapping[str, str],
    modality: Mapping[str, str],
    reference: str,
    licence: str,
    overwrite: bool = False,
    affine_tol: float = 0.01,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Validate ``cases`` and write them in the MSD layout with ``dataset.json`` and ``stats.json``.

    A single ``.nii.gz`` image is copied byte for byte; several modalities are stacked into one 4D float32 image
    (channels last, as in MSD's multi-modal tasks); labels are rewritten as uint8. Existing outputs are refused
    unless ``overwrite`` (checked for every output before the first write). Everything is written into a staging
    folder and moved into ``out_dir`` only once every case has been validated and written (``dataset.json`` last), so
    a malformed case or an interrupted run leaves ``out_dir`` as it was.

    Args:
        out_dir: output folder.
        cases: the cases, with unique ids.
        splits: ``{"training": [...], "validation": [...], "test": [...]}`` over the case ids.
        name, description, reference, licence: ``dataset.json`` fields.
        labels: ``{"0": "background", ...}``; label values must be in ``0..len(labels)-1``.
        modality: one entry per image file of a case.
        overwrite: replace existing outputs. Default False.
        affine_tol: largest allowed difference between image and label affines, as a fraction of the smallest voxel
            size. Default 0.01 (header rounding passes, a real misregistration does not).
        extra: further ``dataset.json`` keys.

    Returns:
        Path of the written ``dataset.json``.
    """
    if not cases:
        raise ValueError("no cases found to prepare.")
    if not 0.0 <= affine_tol < 1.0:
        raise ValueError(f"affine_tol must be in [0, 1) (fraction of a voxel), got {affine_tol!r}.")
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError(f"case ids must be unique, got duplicates in {ids}.")
    listed = [c for s in ("training", "validation", "test") for c in splits.get(s, [])]
    if sorted(listed) != sorted(ids):
        raise ValueError("splits must list every case exactly once.")
    num_classes = len(labels)
    for case in cases:  # fail on a missing input before writing anything
        if len(case.images) != len(modality):
            raise ValueError(f"case {case.case_id} has {len(case.images)} image files, expected {len(modality)}.")
        for p in (*case.images, case.label):
            if not Path(p).is_file():
                raise FileNotFoundError(f"input file {p} (case {case.case_id}) does not exist.")
    out_dir = Path(out_dir)
    check_outputs_free(out_dir, ids, overwrite)

    split_of = {c: s for s, cs in splits.items() for c in cs}
    case_stats: dict[str, dict[str, Any]] = {}
    with staged_output(out_dir, overwrite) as stage:  # out_dir only changes once every case succeeded
        for case in cases:
            label_path = Path(case.label)
            label_img = load_nifti(label_path, "label")
            label = _label_array(label_img, label_path, num_classes)
            images = [load_nifti(p, "image") for p in case.images]
            for p, img in zip(case.images, images, strict=True):
                _check_geometry(label_img, label_path, img, Path(p), affine_tol)
            img_out, lab_out = case_paths(stage, case.case_id)
            if len(images) == 1 and images[0].ndim in (3, 4) and str(case.images[0]).endswith(".nii.gz"):
                atomic_copy(case.images[0], img_out, overwrite=False)
            elif len(images) == 1:
                data = np.asarray(images[0].get_fdata(dtype=np.float32))
                atomic_write_bytes(img_out, nifti_gz_bytes(_fresh_image(data, images[0])), overwrite=False)
            else:
                data = np.stack([_image_array(img, Path(p)) for p, img in zip(case.images, images, strict=True)], -1)
                atomic_write_bytes(img_out, nifti_gz_bytes(_fresh_image(data, images[0])), overwrite=False)
            atomic_write_bytes(lab_out, nifti_gz_bytes(_fresh_image(label, label_img)), overwrite=False)
            spacing = [float(z) for z in label_img.header.get_zooms()[:3]]
            case_stats[case.case_id] = {
                "split": split_of[case.case_id],
                "shape": [int(s) for s in label.shape],
                "spacing": spacing,
                "source_images": [str(p) for p in case.images],
                "source_label": str(label_path),
                **label_stats(label, spacing, num_classes),
            }
            del images, label
        dataset = dataset_json(
            name=name,
            description=description,
            splits={s: list(splits.get(s, [])) for s in ("training", "validation", "test")},
            labels=labels,
            modality=modality,
            reference=reference,
            licence=licence,
            extra=extra,
        )
        write_dataset_files(stage, dataset, case_stats, num_classes, False)
    return out_dir / "dataset.json"


def extract_user_archive(
    archive: str | os.PathLike, extract_to: str | os.PathLike | None, checksum: str | None
) -> Path:
    """Verify (when ``checksum`` is given, ``"md5:<hex>"`` / ``"sha256:<hex>"``) and safely extract a local archive.

    Returns the folder extracted into (``extract_to``, default the archive's folder).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist.")
    if checksum is not None:
        algo, digest = parse_checksum(checksum)
        _verify(archive, digest, algo)
    else:
        warnings.warn(f"no checksum given for {archive}; its integrity is not verified (use --checksum).", stacklevel=2)
    dest = Path(extract_to) if extract_to is not None else archive.parent
    safe_extract(archive, dest)
    return dest


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Output, split and overwrite options shared by the preparation scripts."""
    p.add_argument("--out", required=True, help="output folder (MSD layout)")
    p.add_argument("--val-frac", type=float, default=0.15, help="validation fraction (default 0.15)")
    p.add_argument("--test-frac", type=float, default=0.15, help="test fraction (default 0.15)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--affine-tol",
        type=float,
        default=0.01,
        help="allowed image/label affine difference, fraction of a voxel (default 0.01)",
    )


def source_folder(root: str | os.PathLike | None, archive: str | os.PathLike | None,
                  extract_to: str | os.PathLike | None, checksum: str | None) -> Path:
    """The data set's folder: ``root``, or ``archive`` checked and extracted (exactly one of them must be given)."""
    if (root is None) == (archive is None):
        raise ValueError("give exactly one of root (--root) or archive (--archive).")
    if archive is not None:
        return extract_user_archive(archive, extract_to, checksum)
    return Path(root)


def common_kwargs(a: argparse.Namespace) -> dict:
    """The keyword arguments of a preparation function that :func:`add_common_args` parsed (all but ``--out``)."""
    return {"val_frac": a.val_frac, "test_frac": a.test_frac, "seed": a.seed, "overwrite": a.overwrite,
            "affine_tol": a.affine_tol}


def add_folder_or_archive_args(p: argparse.ArgumentParser, what: str) -> None:
    """``--root`` (a downloaded folder) or ``--archive`` (a local archive, with ``--checksum``/``--extract-to``)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--root", help=f"the downloaded {what} folder")
    src.add_argument("--archive", help="a local archive of it (extracted safely)")
    p.add_argument("--checksum", help="md5:<hex> or sha256:<hex> of --archive")
    p.add_argument("--extract-to", help="where to extract --archive (default: its folder)")


def run_cli(fn: Callable[[], Path]) -> int:
    """Run a preparation and turn expected failures into a one-line error and exit status 2."""
    try:
        path = fn()
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
