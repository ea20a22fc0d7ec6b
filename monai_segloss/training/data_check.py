"""Check the cases of a data set before anything trains on them: the one check of the bundles and ``profile``.

Each case (a label file and its image files, as listed in an MSD-style ``dataset.json``) is read once and checked:

- every file exists and can be read (header and data: a truncated file fails here, not in a data loader worker);
- the label is a 2D or 3D volume (trailing axes of length 1 are dropped) of integer values, none negative;
- each image has the label's spatial shape and affine (to ``atol`` mm), so no transform pads, crops or resamples
  one of them differently from the other;
- the label values are within the declared labels: ``dataset.json``'s ``labels`` (MSD ``{"0": "background"}`` or
  nnU-Net ``{"background": 0}``) and, for a bundle, ``0 .. num_classes - 1``.

:func:`check_case` returns what it found (the problems, the values outside the declared labels, the label data for
a caller that goes on to count voxels); :func:`check_datalist` checks the splits of a ``dataset.json`` and raises
one :class:`DataCheckError` listing every bad case, one line each.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CheckedCase", "DataCheckError", "check_case", "check_datalist", "declared_labels", "read_entries"]


class DataCheckError(ValueError):
    """Bad cases in a data set; ``lines`` holds one ``"<file>: <problem>"`` line per bad case."""

    def __init__(self, lines: Sequence[str], total: int) -> None:
        self.lines = list(lines)
        self.total = total
        super().__init__(f"{len(self.lines)} of {total} cases failed the data check:\n" + "\n".join(self.lines))


@dataclass
class CheckedCase:
    """What :func:`check_case` found for one case.

    Attributes:
        label_path: the label file.
        problems: each a short phrase (``"label shape (24, 24, 12) differs from image ... (24, 24, 16)"``); empty
            when the case is good. Values outside the declared labels are a problem only when ``strict``.
        undeclared: label values found that are not among the declared labels (``[]`` when none were declared).
        label: the label volume as int64 ``(X, Y[, Z])``, or None when it could not be read.
        zooms: the label's voxel size in mm, one per axis of ``label``.
    """

    label_path: Path
    problems: list[str] = field(default_factory=list)
    undeclared: list[int] = field(default_factory=list)
    label: np.ndarray | None = None
    zooms: tuple[float, ...] = ()

    def line(self) -> str:
        """``"<label file>: <problem>; <problem>"``."""
        return f"{self.label_path}: {'; '.join(self.problems)}"


def _load(path: Path, what: str) -> tuple[Any, np.ndarray] | str:
    """(nibabel image, data) or the problem as a phrase."""
    import nibabel as nib
    from nibabel.spatialimages import SpatialImage

    if not path.is_file():
        return f"{what} file not found: {path}"
    try:
        img = nib.load(str(path))
        if not isinstance(img, SpatialImage):
            return f"{what} file {path} is not an image volume"
        data = np.asarray(img.dataobj)
    except Exception as err:  # nibabel raises many kinds on corrupt or truncated files
        return f"cannot read {what} file {path} ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    return img, data


def _spatial(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape less trailing axes of length 1 beyond the third."""
    out = list(shape)
    while len(out) > 3 and out[-1] == 1:
        out.pop()
    return tuple(out)


def _names(declared: Mapping[int, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(declared.items()))


def check_case(label: str | os.PathLike, images: Sequence[str | os.PathLike] = (),
               declared: Mapping[int, str] | None = None, num_classes: int | None = None, strict: bool = True,
               atol: float = 1e-3) -> CheckedCase:
    """Read and check one case (module docstring).

    Args:
        label: the label file.
        images: its image files (one per modality; none when only labels are checked).
        declared: label value -> name, from ``dataset.json``; None or empty: no declaration.
        num_classes: the model's number of classes (values must be below it); None: no bound.
        strict: values outside ``declared`` are a problem (True, a bundle) or only recorded in ``undeclared``
            (False, ``profile``, which warns). Default True.
        atol: tolerance of the affine comparison, in mm. Default 1e-3.

    Returns:
        the :class:`CheckedCase`.
    """
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
    case = CheckedCase(label_path=Path(label))
    loaded = _load(case.label_path, "label")
    if isinstance(loaded, str):
        case.problems.append(loaded)
        return case
    lab_img, data = loaded
    shape = _spatial(tuple(data.shape))
    if len(shape) not in (2, 3):
        case.problems.append(f"label must be a 2D or 3D volume, got shape {tuple(data.shape)}")
        return case
    data = data.reshape(shape)
    if np.issubdtype(data.dtype, np.floating) and not np.array_equal(data, np.round(data)):
        case.problems.append("label holds non-integer values")
        return case
    data = data.astype(np.int64)
    values = np.unique(data).tolist()
    if values and values[0] < 0:
        case.problems.append(f"label holds negative values ({', '.join(map(str, [v for v in values if v < 0]))})")
    if declared:
        case.undeclared = [v for v in values if v >= 0 and v not in declared]
        if case.undeclared and strict:
            case.problems.append(f"label values {case.undeclared} are not declared in dataset.json's labels "
                                 f"({_names(declared)})")
    if num_classes is not None:
        over = [v for v in values if v >= num_classes and v not in case.undeclared]
        if over:
            case.problems.append(f"label values {over} are outside 0..{num_classes - 1} (num_classes {num_classes})")
    for image in images:
        path = Path(image)
        got = _load(path, "image")
        if isinstance(got, str):
            case.problems.append(got)
            continue
        img, _ = got
        ishape = tuple(img.shape)[: len(shape)]
        if ishape != shape:
            case.problems.append(f"label shape {shape} differs from its image {path} {ishape}")
        elif not np.allclose(np.asarray(img.affine), np.asarray(lab_img.affine), atol=atol):
            case.problems.append(f"label affine differs from its image {path} (more than {atol} mm): the label is "
                                 f"not on the image's grid")
    case.label = data
    case.zooms = tuple(float(z) for z in lab_img.header.get_zooms()[: len(shape)])
    return case


def declared_labels(meta: Mapping[str, Any]) -> dict[int, str]:
    """Label value -> name from a ``dataset.json`` body (MSD or nnU-Net v2 style; region lists are skipped)."""
    out: dict[int, str] = {}
    for k, v in (meta.get("labels") or {}).items():
        if str(k).lstrip("-").isdigit():
            out[int(k)] = str(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out[v] = str(k)
    return out


def read_entries(datalist_file: str | os.PathLike, splits: Sequence[str], base_dir: str | os.PathLike | None = None
                 ) -> tuple[list[tuple[Path, list[Path]]], dict[int, str]]:
    """(label, images) pairs of the ``splits`` of an MSD-style ``dataset.json``, and its declared labels.

    Paths are relative to ``base_dir`` (default: the file's folder). Raises ``ValueError`` naming the file when it
    cannot be read or an entry has no label.
    """
    path = Path(datalist_file)
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path}: {err}") from err
    root = Path(base_dir) if base_dir is not None else path.parent
    entries = []
    for split in splits:
        for item in meta.get(split, []) or []:
            if not isinstance(item, dict) or not isinstance(item.get("label"), str):
                raise ValueError(f"{path}: every '{split}' entry needs a 'label' path, got {item!r}")
            image = item.get("image")
            images = [image] if isinstance(image, str) else list(image or [])
            entries.append((root / item["label"], [root / i for i in images]))
    return entries, declared_labels(meta)


def check_datalist(datalist_file: str | os.PathLike, splits: Sequence[str] = ("training", "validation"),
                   num_classes: int | None = None, base_dir: str | os.PathLike | None = None,
                   declared: Collection[int] | None = None) -> int:
    """Check every case of ``splits`` in ``datalist_file`` (strictly: undeclared label values are errors).

    Args:
        datalist_file: an MSD-style ``dataset.json``.
        splits: the lists to check. Default ``("training", "validation")``.
        num_classes: the model's classes; label values must be below it. Default None (no bound).
        base_dir: the folder the paths are relative to. Default: the file's folder.
        declared: label values to accept instead of the file's ``labels``. Default None (the file's).

    Returns:
        the number of cases checked.

    Raises:
        DataCheckError: one line per bad case.
        ValueError: the file cannot be read or lists no case.
    """
    entries, names = read_entries(datalist_file, splits, base_dir)
    if not entries:
        raise ValueError(f"{datalist_file} lists no case in {', '.join(splits)}")
    if declared is not None:
        names = {int(v): names.get(int(v), f"label {v}") for v in declared}
    bad = [c.line() for c in (check_case(lab, imgs, names, num_classes) for lab, imgs in entries) if c.problems]
    if bad:
        raise DataCheckError(bad, len(entries))
    return len(entries)
