"""Convert a data set in our MSD layout (the output of every data script) to nnU-Net v2's raw format.

::

    RAW/DatasetXXX_NAME/imagesTr/<case>_0000.nii.gz   one file per image channel (_0000, _0001, ...)
    RAW/DatasetXXX_NAME/labelsTr/<case>.nii.gz        label map
    RAW/DatasetXXX_NAME/imagesTs/<case>_0000.nii.gz   the "test" list's images (nnU-Net does not train on it)
    RAW/DatasetXXX_NAME/labelsTs/<case>.nii.gz        the "test" list's labels, when its entries have them
    RAW/DatasetXXX_NAME/dataset.json                  channel_names, labels, numTraining, file_ending
                                                      (+ regions_class_order with regions)

``RAW`` is the folder of nnU-Net's ``nnUNet_raw`` environment variable. The "training" and "validation" lists go to
``imagesTr`` (nnU-Net makes its own 5-fold cross-validation split). nnU-Net ignores ``labelsTs``; it keeps the fixed
test set for whoever reads the raw folder (``monai-segloss study --dataset``, :mod:`monai_segloss.app.study_data`), as
written, without the ignore label of ``unannotated_slabs``. Two options build the variants nnU-Net trains
differently:

``regions=True`` (nested labels, e.g. organ 1 ⊃ tumour 2)
    Region ``l`` is every voxel of label ``l`` or higher: ``"organ": [1, 2], "tumour": [2]`` with
    ``regions_class_order`` ``[1, 2]``. nnU-Net then trains one sigmoid output per region (region-based training).
``unannotated_slabs=k`` (k > 0)
    Simulates sparse, slab-wise annotation: in the slices ``z`` with ``(z // k)`` odd, every voxel gets the ignore
    label ``L + 1`` (``"ignore"`` in ``labels``; nnU-Net requires the highest value), so half of each volume is
    unannotated and nnU-Net's losses must leave it out.

Python::

    from data_scripts.synthetic import generate
    from data_scripts.nnunet_raw import to_nnunet_raw
    generate("data/lesion", task="lesion", num_cases=20)
    to_nnunet_raw("data/lesion", os.environ["nnUNet_raw"], dataset_id=501)

Command line::

    python -m data_scripts.nnunet_raw --src data/lesion --raw "$nnUNet_raw" --id 501 [--name SyntheticLesion]
        [--regions] [--unannotated-slabs 4] [--overwrite]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ._io import atomic_copy, atomic_write_bytes, check_writable, load_nifti, nifti_gz_bytes, staged_output
from ._public import run_cli

__all__ = ["nnunet_labels", "to_nnunet_raw", "main"]

_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def nnunet_labels(labels: dict[str, str], regions: bool = False, ignore: bool = False) -> dict[str, Any]:
    """nnU-Net's ``labels`` entry from an MSD ``{"0": "background", "1": ..., ...}`` mapping.

    Returns ``{name: value}`` (``{name: [l, ..., L]}`` per region with ``regions``), plus ``"ignore": L + 1`` with
    ``ignore``.

    Raises:
        ValueError: the values are not 0..L, or label 0 is missing.
    """
    try:
        by_value = {int(k): str(v) for k, v in labels.items()}
    except ValueError as err:
        raise ValueError(f"labels keys must be integer strings, got {sorted(labels)}") from err
    top = max(by_value)
    if sorted(by_value) != list(range(top + 1)) or top < 1:
        raise ValueError(f"labels must be 0 (background) to L >= 1 without gaps, got {sorted(by_value)}")
    names = [by_value[v] for v in range(top + 1)]
    if len(set(names)) != len(names) or "ignore" in names:
        raise ValueError(f"label names must be unique and not 'ignore', got {names}")
    out: dict[str, Any] = {names[0]: 0}
    for v in range(1, top + 1):
        out[names[v]] = list(range(v, top + 1)) if regions else v
    if ignore:
        out["ignore"] = top + 1
    return out


def _channels(img: nib.Nifti1Image, path: Path) -> list[nib.Nifti1Image]:
    """The 3D images of a 3D or 4D (channels last) image."""
    data = np.asanyarray(img.dataobj)
    if data.ndim == 3:
        return [img]
    if data.ndim != 4:
        raise ValueError(f"image file {path} must be 3D or 4D (channels last), got shape {data.shape}.")
    return [nib.Nifti1Image(np.ascontiguousarray(data[..., c]), img.affine, img.header) for c in range(data.shape[3])]


def _write_images(src: Path, entry: dict[str, str], folder: Path, case: str, channels: int) -> None:
    path = src / entry["image"]
    if channels == 1:
        load_nifti(path)  # a readable 3D NIfTI is copied as is
        atomic_copy(path, folder / f"{case}_0000.nii.gz")
        return
    parts = _channels(load_nifti(path), path)
    if len(parts) != channels:
        raise ValueError(f"image file {path} has {len(parts)} channels, dataset.json lists {channels} modalities.")
    for c, img in enumerate(parts):
        atomic_write_bytes(folder / f"{case}_{c:04d}.nii.gz", nifti_gz_bytes(img))


def _write_label(src: Path, entry: dict[str, str], dst: Path, unannotated_slabs: int, ignore_value: int) -> None:
    path = src / entry["label"]
    img = load_nifti(path, "label")
    if not unannotated_slabs:
        atomic_copy(path, dst)
        return
    label = np.asanyarray(img.dataobj).astype(np.uint8)
    z = np.arange(label.shape[2])
    label[:, :, (z // unannotated_slabs) % 2 == 1] = ignore_value
    out = nib.Nifti1Image(label, img.affine, img.header)
    out.set_data_dtype(np.uint8)
    atomic_write_bytes(dst, nifti_gz_bytes(out))


def _case_id(entry: dict[str, str]) -> str:
    name = Path(entry["image"]).name
    return name[: -len(".nii.gz")] if name.endswith(".nii.gz") else Path(name).stem


def to_nnunet_raw(
    src: str | os.PathLike,
    raw: str | os.PathLike,
    dataset_id: int,
    name: str | None = None,
    regions: bool = False,
    unannotated_slabs: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write the MSD-layout data set ``src`` as ``raw/DatasetXXX_NAME`` in nnU-Net v2's raw format.

    Args:
        src: folder holding our ``dataset.json`` (as written by ``data_scripts.synthetic`` or ``prepare_*``).
        raw: nnU-Net's raw folder (``nnUNet_raw``).
        dataset_id: nnU-Net data set id, 1 to 999.
        name: the name after ``DatasetXXX_`` (letters, digits, underscores). Default: ``src``'s ``name`` with
            other characters removed.
        regions: nested labels as nnU-Net regions (see the module docstring). Default False.
        unannotated_slabs: slab thickness k of the unannotated (ignore-label) slabs; 0 (default) keeps every label.
        overwrite: replace existing files. Default False: an existing output raises ``FileExistsError`` before
            anything is written.

    Returns:
        The path of the written ``dataset.json``.
    """
    src = Path(src)
    meta_path = src / "dataset.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"input file {meta_path} does not exist.")
    meta = json.loads(meta_path.read_text())
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int) or not 1 <= dataset_id <= 999:
        raise ValueError(f"dataset_id must be an integer in [1, 999], got {dataset_id!r}.")
    if isinstance(unannotated_slabs, bool) or not isinstance(unannotated_slabs, int) or unannotated_slabs < 0:
        raise ValueError(f"unannotated_slabs must be an integer >= 0, got {unannotated_slabs!r}.")
    if name is None:
        name = re.sub(r"[^A-Za-z0-9_]", "", str(meta.get("name", ""))) or "Dataset"
    if not _NAME.match(name):
        raise ValueError(f"name must hold letters, digits and underscores only, got {name!r}.")
    labels = nnunet_labels(meta["labels"], regions, ignore=unannotated_slabs > 0)
    modality = meta.get("modality") or {"0": "image"}
    channels = len(modality)
    train = [*meta.get("training", []), *meta.get("validation", [])]
    test = list(meta.get("test", []))
    if not train:
        raise ValueError(f"{meta_path} lists no training or validation case.")
    top = max(int(k) for k in meta["labels"])

    out = Path(raw) / f"Dataset{dataset_id:03d}_{name}"
    nn_json: dict[str, Any] = {
        "name": name,
        "description": str(meta.get("description", "")),
        "reference": str(meta.get("reference", "")),
        "licence": str(meta.get("licence", "")),
        "channel_names": {str(k): str(v) for k, v in modality.items()},
        "labels": labels,
        "numTraining": len(train),
        "file_ending": ".nii.gz",
        "converted_from": {"source": str(meta.get("name", "")), "regions": regions,
                           "unannotated_slabs": unannotated_slabs},
    }
    if regions:
        nn_json["regions_class_order"] = list(range(1, top + 1))
    labelled_test = [e for e in test if isinstance(e, dict) and isinstance(e.get("label"), str)]
    if not overwrite:
        check_writable(out / "dataset.json", False)
        for entry in train:
            check_writable(out / "labelsTr" / f"{_case_id(entry)}.nii.gz", False)
        for entry in labelled_test:
            check_writable(out / "labelsTs" / f"{_case_id(entry)}.nii.gz", False)
    with staged_output(out, overwrite) as stage:
        for entry in train:
            case = _case_id(entry)
            _write_images(src, entry, stage / "imagesTr", case, channels)
            _write_label(src, entry, stage / "labelsTr" / f"{case}.nii.gz", unannotated_slabs, top + 1)
        for entry in test:
            _write_images(src, entry, stage / "imagesTs", _case_id(entry), channels)
        for entry in labelled_test:  # the full label (no unannotated slabs): the test set is scored on every voxel
            _write_label(src, entry, stage / "labelsTs" / f"{_case_id(entry)}.nii.gz", 0, top + 1)
        # not atomic_write_json: nnU-Net reads the regions in the order of "labels", which must not be sorted
        text = json.dumps(nn_json, indent=2) + "\n"
        atomic_write_bytes(stage / "dataset.json", text.encode("utf-8"))
    return out / "dataset.json"


def _parser() -> argparse.ArgumentParser:
    # the module as the user runs it: monai_segloss.data_scripts.<name> from a wheel, data_scripts.<name> in a checkout
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else __name__}",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--src", required=True, help="folder of a data set in our layout (with dataset.json)")
    p.add_argument("--raw", required=True, help="nnU-Net's raw folder (nnUNet_raw)")
    p.add_argument("--id", type=int, required=True, help="nnU-Net data set id (1-999)")
    p.add_argument("--name", help="name after DatasetXXX_ (default: the source's name)")
    p.add_argument("--regions", action="store_true", help="nested labels as nnU-Net regions (sigmoid training)")
    p.add_argument("--unannotated-slabs", type=int, default=0, metavar="K",
                   help="mark every other slab of K slices with the ignore label (default 0: none)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 with a one-line message on bad input)."""
    a = _parser().parse_args(argv)
    return run_cli(lambda: to_nnunet_raw(a.src, a.raw, a.id, a.name, a.regions, a.unannotated_slabs, a.overwrite))


if __name__ == "__main__":
    sys.exit(main())
