"""The reference bundles shipped with the package, found through the import system and copied out to run.

The repository keeps the bundles at its top level (``bundles/``); the wheel carries them as package data of
``monai_segloss.bundles`` and an editable install maps that name onto the repository's folder (pyproject.toml,
``[tool.setuptools.package-dir]``). So the same code finds them in a checkout and in an installed wheel, without
``sys.path`` changes or a search from the working directory. The data scripts travel the same way, as the
subpackage ``monai_segloss.data_scripts``.

A bundle writes its checkpoints, evaluation and default data under its root: :func:`export_bundle` copies one into a
folder of the user's (``monai-segloss bundle export NAME DIR``), where ``python -m monai.bundle run`` runs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from monai_segloss_cli import bundles_root, shipped_bundles

__all__ = ["BUNDLE_PARTS", "available_bundles", "bundle_dir", "export_bundle"]

#: what makes a bundle (the MONAI bundle layout less its data, models and outputs)
BUNDLE_PARTS = ("configs", "docs", "LICENSE")


def _root() -> Path:
    return bundles_root()


def available_bundles() -> list[str]:
    """Names of the shipped bundles (folders with ``configs/metadata.json``)."""
    return shipped_bundles()


def bundle_dir(name: str) -> Path:
    """The folder of the shipped bundle ``name`` (read only: run a copy, :func:`export_bundle`).

    Raises:
        ValueError: no shipped bundle has that name (the message lists the names).
    """
    if name not in available_bundles():
        raise ValueError(f"no shipped bundle named {name!r}; available: {', '.join(available_bundles())}")
    return _root() / name


def export_bundle(name: str, dest: str | Path, overwrite: bool = False) -> Path:
    """Copy the bundle ``name`` (:data:`BUNDLE_PARTS`) into ``dest`` and return ``dest``.

    Raises:
        ValueError: unknown bundle, or ``dest`` exists and is not empty while ``overwrite`` is False.
    """
    src = bundle_dir(name)
    out = Path(dest)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(
            f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace the bundle's files in it"
        )
    out.mkdir(parents=True, exist_ok=True)
    for part in BUNDLE_PARTS:
        if (src / part).is_dir():
            shutil.copytree(
                src / part, out / part, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        elif (src / part).is_file():
            shutil.copy2(src / part, out / part)
    return out
