"""Prepare ISLES 2022 (ischemic stroke lesions, multi-centre MRI) from a folder the user downloaded.

ISLES'22 is distributed in BIDS layout after registration (https://isles22.grand-challenge.org/, Zenodo 7960856;
Hernandez Petzsche et al. 2022, Sci Data 9:762). Both published variants are recognised::

    <root>/rawdata/sub-strokecase0001/ses-0001/sub-strokecase0001_ses-0001_{adc,dwi,flair}.nii.gz    (challenge)
    <root>/sub-strokecase0001/ses-0001/dwi/sub-strokecase0001_ses-0001_{dwi,adc}.nii.gz              (Zenodo)
    <root>/sub-strokecase0001/ses-0001/anat/sub-strokecase0001_ses-0001_FLAIR.nii.gz
    <root>/derivatives/sub-strokecase0001/ses-0001/sub-strokecase0001_ses-0001_msk.nii.gz           (both)

``<root>`` may also be the folder above (e.g. holding ``ISLES-2022/``). The lesion masks are on the DWI grid, so the
default modalities are DWI and ADC (stacked as two channels, channels last); FLAIR is on its own grid and can only
be added if it matches the mask (otherwise the geometry check names the files). Labels: 0 background, 1 lesion.

Command line::

    python -m data_scripts.prepare_isles22 --root ~/data/ISLES-2022 --out data/isles22 [--modalities dwi adc]
    python -m data_scripts.prepare_isles22 --archive ISLES-2022.zip --checksum md5:<hex> --out data/isles22
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._layout import split_cases
from ._public import (
    SourceCase,
    add_common_args,
    add_folder_or_archive_args,
    common_kwargs,
    run_cli,
    source_folder,
    write_public_dataset,
)

__all__ = ["MODALITIES", "find_isles22_cases", "main", "prepare_isles22"]

MODALITIES = {"dwi": "DWI", "adc": "ADC", "flair": "FLAIR"}
_NII = (".nii.gz", ".nii")


def _find_root(root: Path) -> Path:
    """The folder holding ``derivatives/`` (``root`` or a single sub-folder of it)."""
    if not root.is_dir():
        raise FileNotFoundError(f"ISLES'22 folder {root} does not exist.")
    if (root / "derivatives").is_dir():
        return root
    inner = [d for d in sorted(root.iterdir()) if d.is_dir() and (d / "derivatives").is_dir()]
    if len(inner) == 1:
        return inner[0]
    raise FileNotFoundError(
        f"ISLES'22: {root / 'derivatives'} does not exist; pass the folder holding rawdata/ (or sub-strokecase*/) "
        "and derivatives/."
    )


def _one_file(folder: Path, stem: str, suffix: str, what: str) -> Path:
    """The single file ``<stem>_<suffix>.nii[.gz]`` (suffix case-insensitive) anywhere under ``folder``."""
    wanted = [f"{stem}_{suffix}{ext}".lower() for ext in _NII]
    hits = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower() in wanted) if folder.is_dir() else []
    if not hits:
        raise FileNotFoundError(f"ISLES'22 {what} file {folder / (stem + '_' + suffix + '.nii.gz')} does not exist.")
    if len(hits) > 1:
        raise ValueError(f"ISLES'22 {what}: several candidate files {[str(h) for h in hits]}.")
    return hits[0]


def find_isles22_cases(root: str | os.PathLike, modalities: Sequence[str] = ("dwi", "adc")) -> list[SourceCase]:
    """List the ISLES'22 cases under ``root`` (see the module docstring for the layouts).

    Args:
        root: the downloaded ISLES'22 folder.
        modalities: image channels, from ``dwi``, ``adc``, ``flair``. Default ``("dwi", "adc")``.

    Raises:
        FileNotFoundError: no subjects, or a subject's image or mask is missing (the message names the file).
    """
    mods = [m.lower() for m in modalities]
    bad = [m for m in mods if m not in MODALITIES]
    if not mods or bad or len(set(mods)) != len(mods):
        raise ValueError(f"modalities must be distinct values from {list(MODALITIES)}, got {list(modalities)}.")
    base = _find_root(Path(root))
    raw = base / "rawdata" if (base / "rawdata").is_dir() else base
    subjects = sorted(d for d in raw.iterdir() if d.is_dir() and d.name.startswith("sub-"))
    if not subjects:
        raise FileNotFoundError(f"ISLES'22: no sub-* subject folders under {raw}.")
    cases = []
    for sub in subjects:
        sessions = sorted(d for d in sub.iterdir() if d.is_dir() and d.name.startswith("ses-"))
        if not sessions:
            raise FileNotFoundError(f"ISLES'22: {sub / 'ses-0001'} does not exist.")
        for ses in sessions:
            stem = f"{sub.name}_{ses.name}"
            images = tuple(_one_file(ses, stem, m, MODALITIES[m]) for m in mods)
            mask = _one_file(base / "derivatives" / sub.name / ses.name, stem, "msk", "lesion mask")
            case_id = sub.name if len(sessions) == 1 else stem
            cases.append(SourceCase(case_id, images, mask))
    return cases


def prepare_isles22(
    out_dir: str | os.PathLike,
    root: str | os.PathLike | None = None,
    archive: str | os.PathLike | None = None,
    checksum: str | None = None,
    extract_to: str | os.PathLike | None = None,
    modalities: Sequence[str] = ("dwi", "adc"),
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    overwrite: bool = False,
    affine_tol: float = 0.01,
) -> Path:
    """Prepare ISLES'22 into ``out_dir`` (MSD layout, labels 0/1, ``stats.json``).

    Args:
        out_dir: output folder.
        root: the downloaded ISLES'22 folder (exactly one of ``root`` and ``archive``).
        archive: a local ``.zip``/``.tar[.gz]`` of it; checked against ``checksum`` when given, extracted safely.
        checksum: ``"md5:<hex>"`` or ``"sha256:<hex>"`` of ``archive``. Default None (not checked).
        extract_to: where to extract ``archive``; default its folder.
        modalities: image channels. Default ``("dwi", "adc")``.
        val_frac, test_frac, seed: deterministic split (see :func:`data_scripts._layout.split_cases`).
        overwrite: replace existing outputs. Default False.
        affine_tol: allowed image/label affine difference as a fraction of a voxel. Default 0.01.
    """
    root = source_folder(root, archive, extract_to, checksum)
    cases = find_isles22_cases(root, modalities)
    splits = split_cases([c.case_id for c in cases], val_frac=val_frac, test_frac=test_frac, seed=seed)
    mods = [m.lower() for m in modalities]
    return write_public_dataset(
        out_dir,
        cases,
        splits,
        name="ISLES 2022",
        description="ISLES'22 ischemic stroke lesion segmentation, prepared by monai-segloss data_scripts",
        labels={"0": "background", "1": "lesion"},
        modality={str(i): MODALITIES[m] for i, m in enumerate(mods)},
        reference="https://isles22.grand-challenge.org/ (Hernandez Petzsche et al. 2022, Sci Data 9:762)",
        licence="CC BY-SA 4.0",
        overwrite=overwrite,
        affine_tol=affine_tol,
        extra={"source": {"dataset": "ISLES 2022", "modalities": mods, "seed": seed}},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    # the module as the user runs it: monai_segloss.data_scripts.<name> from a wheel, data_scripts.<name> in a checkout
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else __name__}",
                                description=__doc__.split("\n\n")[0])
    add_folder_or_archive_args(p, "ISLES'22")
    p.add_argument("--modalities", nargs="+", default=["dwi", "adc"], choices=sorted(MODALITIES))
    add_common_args(p)
    a = p.parse_args(argv)
    return run_cli(lambda: prepare_isles22(a.out, root=a.root, archive=a.archive, checksum=a.checksum,
                                           extract_to=a.extract_to, modalities=a.modalities, **common_kwargs(a)))

if __name__ == "__main__":
    sys.exit(main())
