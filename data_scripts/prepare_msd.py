"""Prepare a Medical Segmentation Decathlon lesion task in the common layout.

Supported tasks: ``Task03_Liver`` (0 background / 1 liver / 2 cancer), ``Task06_Lung`` (0 / 1 cancer) and
``Task10_Colon`` (0 / 1 colon cancer). The case list and the training / held-out split come from
:class:`monai.apps.DecathlonDataset` (``val_frac = val_frac + test_frac``, ``seed``); the held-out cases are divided
into validation and test. MSD's own test images have no labels and are not used.

The source is one of:

* ``--msd-root DIR``: a folder holding the already extracted ``<task>/`` (with its ``dataset.json``), or the task
  folder itself;
* ``--archive FILE``: the task's ``.tar`` as published for MONAI; its md5 is checked against MONAI's table
  (``DecathlonDataset.md5``) before it is opened, then it is extracted with path-traversal protection;
* ``--download DIR``: download the ``.tar`` from MONAI's mirror into DIR (``monai.apps.download_url`` with MONAI's
  md5), verify it again, extract it safely.

Command line::

    python -m data_scripts.prepare_msd --task Task03_Liver --download ~/data/msd --out data/liver
    python -m data_scripts.prepare_msd --task Task06_Lung --msd-root ~/data/msd --out data/lung [--overwrite]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._io import safe_extract, verify_checksum
from ._layout import split_cases
from ._public import SourceCase, add_common_args, common_kwargs, run_cli, write_public_dataset

__all__ = ["MSD_TASKS", "locate_task", "main", "prepare_msd"]

MSD_TASKS = ("Task03_Liver", "Task06_Lung", "Task10_Colon")


def _decathlon():
    from monai.apps import DecathlonDataset

    return DecathlonDataset


def _download_url(url: str, filepath: Path, md5: str) -> None:
    """Download through MONAI (which checks the md5 itself); split out so tests can replace the network call."""
    from monai.apps import download_url

    download_url(url=url, filepath=filepath, hash_val=md5, hash_type="md5", progress=True)


def locate_task(msd_root: str | os.PathLike, task: str) -> Path:
    """The folder that contains ``<task>/dataset.json``: ``msd_root`` itself or its parent when it is the task folder.

    Raises:
        FileNotFoundError: naming the ``dataset.json`` that was looked for.
    """
    root = Path(msd_root)
    if root.name == task and (root / "dataset.json").is_file():
        return root.parent
    if (root / task / "dataset.json").is_file():
        return root
    raise FileNotFoundError(
        f"MSD {task}: {root / task / 'dataset.json'} does not exist (pass the folder holding {task}/)."
    )


def _archive_md5(task: str, expected_md5: str | None) -> str:
    return expected_md5 if expected_md5 is not None else _decathlon().md5[task]


def _from_archive(archive: Path, task: str, extract_to: Path | None, expected_md5: str | None) -> Path:
    verify_checksum(archive, _archive_md5(task, expected_md5), "md5")  # before the archive is opened
    dest = extract_to if extract_to is not None else archive.parent
    if (dest / task / "dataset.json").is_file():
        raise FileExistsError(f"{dest / task} already exists; pass --msd-root {dest} to use it.")
    safe_extract(archive, dest)
    return locate_task(dest, task)


def prepare_msd(
    out_dir: str | os.PathLike,
    task: str,
    msd_root: str | os.PathLike | None = None,
    archive: str | os.PathLike | None = None,
    download: str | os.PathLike | None = None,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    overwrite: bool = False,
    affine_tol: float = 0.01,
    expected_md5: str | None = None,
) -> Path:
    """Prepare MSD ``task`` into ``out_dir`` (MSD layout with training / validation / test and ``stats.json``).

    Args:
        out_dir: output folder.
        task: one of ``Task03_Liver``, ``Task06_Lung``, ``Task10_Colon``.
        msd_root: folder with the extracted task (exactly one of ``msd_root``, ``archive``, ``download``).
        archive: the task's ``.tar``; checked against MONAI's md5, then extracted safely next to it.
        download: folder to download the ``.tar`` into (MONAI's URL and md5), then extract.
        val_frac: validation fraction of all labelled cases. Default 0.15.
        test_frac: test fraction of all labelled cases. Default 0.15.
        seed: split seed (``DecathlonDataset``'s shuffle). Default 0.
        overwrite: replace existing outputs. Default False.
        affine_tol: allowed image/label affine difference as a fraction of a voxel. Default 0.01.
        expected_md5: override MONAI's md5 for the archive (e.g. a mirror); default None uses MONAI's table.

    Returns:
        Path of the written ``dataset.json``.
    """
    if task not in MSD_TASKS:
        raise ValueError(f"task must be one of {MSD_TASKS}, got {task!r}.")
    sources = [s for s in (msd_root, archive, download) if s is not None]
    if len(sources) != 1:
        raise ValueError("give exactly one of msd_root (--msd-root), archive (--archive) or download (--download).")
    if not 0 <= val_frac < 1 or not 0 <= test_frac < 1 or val_frac + test_frac >= 1:
        raise ValueError(
            f"val_frac and test_frac must be >= 0 with val_frac + test_frac < 1, got {val_frac}, {test_frac}."
        )
    dataset_cls = _decathlon()
    if download is not None:
        dest = Path(download)
        dest.mkdir(parents=True, exist_ok=True)
        tar = dest / f"{task}.tar"
        md5 = _archive_md5(task, expected_md5)
        if not (dest / task / "dataset.json").is_file():
            _download_url(dataset_cls.resource[task], tar, md5)
            root = _from_archive(tar, task, dest, expected_md5)
        else:
            root = dest
    elif archive is not None:
        root = _from_archive(Path(archive), task, None, expected_md5)
    else:
        root = locate_task(msd_root, task)

    held_frac = val_frac + test_frac
    sections = {}
    for section in ("training", "validation"):
        try:
            ds = dataset_cls(
                root_dir=root,
                task=task,
                section=section,
                transform=(),
                download=False,
                seed=seed,
                val_frac=held_frac,
                cache_rate=0.0,
                progress=False,
            )
        except (KeyError, json.JSONDecodeError) as err:
            raise ValueError(f"{root / task / 'dataset.json'} is not a valid MSD dataset.json: {err!r}") from err
        sections[section] = list(ds.data)
        labels = ds.get_properties("labels")["labels"]
        modality = ds.get_properties("modality")["modality"]

    cases, ids_of = [], {}
    for section, items in sections.items():
        ids_of[section] = []
        for item in items:
            if not isinstance(item, dict) or "image" not in item or "label" not in item:
                raise ValueError(f"{root / task / 'dataset.json'}: training entry {item!r} lacks image/label.")
            case_id = Path(str(item["image"])).name.split(".")[0]
            cases.append(SourceCase(case_id, (Path(item["image"]),), Path(item["label"])))
            ids_of[section].append(case_id)
    held = ids_of["validation"]
    if val_frac == 0:
        val_ids: list[str] = []
    elif test_frac == 0:
        val_ids = list(held)
    else:  # divide the held-out cases in proportion val_frac : test_frac
        val_ids = split_cases(held, val_frac=val_frac / held_frac, test_frac=0.0, seed=seed)["validation"]
    splits = {
        "training": sorted(ids_of["training"]),
        "validation": sorted(val_ids),
        "test": sorted(set(held) - set(val_ids)),
    }
    return write_public_dataset(
        out_dir,
        cases,
        splits,
        name=f"MSD {task}",
        description=f"Medical Segmentation Decathlon {task}, prepared by monai-segloss data_scripts.prepare_msd",
        labels={str(k): str(v) for k, v in labels.items()},
        modality={str(k): str(v) for k, v in modality.items()},
        reference="http://medicaldecathlon.com/ (Antonelli et al. 2022, Nat Commun 13:4128)",
        licence="CC-BY-SA 4.0",
        overwrite=overwrite,
        affine_tol=affine_tol,
        extra={"source": {"task": task, "seed": seed, "val_frac": val_frac, "test_frac": test_frac}},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    # the module as the user runs it: monai_segloss.data_scripts.<name> from a wheel, data_scripts.<name> in a checkout
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else __name__}",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, choices=MSD_TASKS)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--msd-root", help="folder holding the extracted task folder")
    src.add_argument("--archive", help="the task .tar (md5-checked, extracted next to it)")
    src.add_argument("--download", help="download the task .tar into this folder (md5-checked)")
    add_common_args(p)
    a = p.parse_args(argv)
    return run_cli(lambda: prepare_msd(a.out, a.task, msd_root=a.msd_root, archive=a.archive, download=a.download,
                                       **common_kwargs(a)))

if __name__ == "__main__":
    sys.exit(main())
