"""Prepare ATLAS v2.0 (chronic stroke lesions on T1w MRI) from a folder the user downloaded.

ATLAS R2.0 (Liew et al. 2022, Sci Data 9:320) is obtained after a data-use agreement from
https://fcon_1000.projects.nitrc.org/indi/retro/atlas.html as an encrypted archive; decrypt it first. Its labelled
part is ``Training/``, in BIDS layout grouped by cohort::

    <root>/Training/R001/sub-r001s001/ses-1/anat/sub-r001s001_ses-1_space-MNI152NLin2009aSym_T1w.nii.gz
    <root>/Training/R001/sub-r001s001/ses-1/anat/sub-r001s001_ses-1_space-MNI152NLin2009aSym_label-L_desc-T1lesion_mask.nii.gz

The BIDS-derivative variant without cohort folders is recognised too (``Training/sub-*/ses-*/anat/*_T1w.nii.gz``
with masks either alongside or under ``derivatives/ATLAS/sub-*/ses-*/anat/``). ``<root>`` may be the folder holding
``Training/`` (e.g. ``ATLAS_2``), its parent, or ``Training`` itself. ``Testing/`` has no public masks and is not used.
Labels: 0 background, 1 lesion. Case ids are the subject ids (``sub-r001s001``).

Command line::

    python -m data_scripts.prepare_atlas --root ~/data/ATLAS_2 --out data/atlas [--overwrite]
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

__all__ = ["find_atlas_cases", "main", "prepare_atlas"]

T1_SUFFIX = "_T1w.nii.gz"
MASK_SUFFIX = "_label-L_desc-T1lesion_mask.nii.gz"


def _find_training(root: Path) -> Path:
    if not root.is_dir():
        raise FileNotFoundError(f"ATLAS folder {root} does not exist.")
    for cand in (root / "Training", *(d / "Training" for d in sorted(root.iterdir()) if d.is_dir())):
        if cand.is_dir():
            return cand
    if root.name == "Training" or any(root.glob("R*/sub-*")) or any(root.glob("sub-*")):
        return root
    raise FileNotFoundError(f"ATLAS: {root / 'Training'} does not exist; pass the folder holding Training/.")


def _mask_for(t1: Path, training: Path) -> Path:
    """The lesion mask of the T1w image ``t1``: alongside it, else in the BIDS derivatives folder."""
    name = t1.name[: -len(T1_SUFFIX)] + MASK_SUFFIX
    anat = t1.parent
    ses, sub = anat.parent.name, anat.parent.parent.name
    candidates = [anat / name]
    for base in (training, training.parent):
        candidates.append(base / "derivatives" / "ATLAS" / sub / ses / "anat" / name)
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"ATLAS lesion mask for {t1} does not exist; looked for {[str(c) for c in candidates]}.")


def find_atlas_cases(root: str | os.PathLike) -> list[SourceCase]:
    """List the labelled ATLAS v2.0 cases under ``root`` (see the module docstring for the layout).

    Raises:
        FileNotFoundError: no T1w images found, or an image without its lesion mask (the message names the file).
    """
    training = _find_training(Path(root))
    t1s = sorted(
        set(training.glob(f"R*/sub-*/ses-*/anat/*{T1_SUFFIX}")) | set(training.glob(f"sub-*/ses-*/anat/*{T1_SUFFIX}"))
    )
    if not t1s:
        raise FileNotFoundError(
            f"ATLAS: no T1w images under {training} (expected e.g. "
            f"{training / 'R001/sub-r001s001/ses-1/anat/sub-r001s001_ses-1_space-MNI152NLin2009aSym_T1w.nii.gz'})."
        )
    cases = []
    seen: dict[str, Path] = {}
    for t1 in t1s:
        sub, ses = t1.parent.parent.parent.name, t1.parent.parent.name
        case_id = sub if sub not in seen else f"{sub}_{ses}"
        if case_id in seen:
            raise ValueError(f"ATLAS: duplicate case {case_id}: {seen[case_id]} and {t1}.")
        seen[case_id] = t1
        cases.append(SourceCase(case_id, (t1,), _mask_for(t1, training)))
    return cases


def prepare_atlas(
    out_dir: str | os.PathLike,
    root: str | os.PathLike | None = None,
    archive: str | os.PathLike | None = None,
    checksum: str | None = None,
    extract_to: str | os.PathLike | None = None,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    overwrite: bool = False,
    affine_tol: float = 0.01,
) -> Path:
    """Prepare ATLAS v2.0 ``Training`` into ``out_dir`` (MSD layout, labels 0/1, ``stats.json``).

    Args:
        out_dir: output folder.
        root: the downloaded (decrypted) ATLAS folder (exactly one of ``root`` and ``archive``).
        archive: a local decrypted ``.tar.gz``/``.zip``; checked against ``checksum`` when given, extracted safely.
        checksum: ``"md5:<hex>"`` or ``"sha256:<hex>"`` of ``archive``. Default None (not checked).
        extract_to: where to extract ``archive``; default its folder.
        val_frac, test_frac, seed: deterministic split (see :func:`data_scripts._layout.split_cases`).
        overwrite: replace existing outputs. Default False.
        affine_tol: allowed image/label affine difference as a fraction of a voxel. Default 0.01.
    """
    root = source_folder(root, archive, extract_to, checksum)
    cases = find_atlas_cases(root)
    splits = split_cases([c.case_id for c in cases], val_frac=val_frac, test_frac=test_frac, seed=seed)
    return write_public_dataset(
        out_dir,
        cases,
        splits,
        name="ATLAS v2.0",
        description="ATLAS R2.0 chronic stroke lesions on T1w MRI (MNI space), prepared by monai-segloss data_scripts",
        labels={"0": "background", "1": "lesion"},
        modality={"0": "T1w"},
        reference="https://atlas.grand-challenge.org/ (Liew et al. 2022, Sci Data 9:320)",
        licence="ATLAS data-use agreement (see the ATLAS download page)",
        overwrite=overwrite,
        affine_tol=affine_tol,
        extra={"source": {"dataset": "ATLAS v2.0", "seed": seed}},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    # the module as the user runs it: monai_segloss.data_scripts.<name> from a wheel, data_scripts.<name> in a checkout
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else __name__}",
                                description=__doc__.split("\n\n")[0])
    add_folder_or_archive_args(p, "(decrypted) ATLAS v2.0")
    add_common_args(p)
    a = p.parse_args(argv)
    return run_cli(lambda: prepare_atlas(a.out, root=a.root, archive=a.archive, checksum=a.checksum,
                                         extract_to=a.extract_to, **common_kwargs(a)))

if __name__ == "__main__":
    sys.exit(main())
