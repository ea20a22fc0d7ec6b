"""The data a study trains on: the generated brain task, or a user's data set (``monai-segloss study --dataset``).

Both are described by one :class:`DataSource`: the folder the datalist paths are relative to, every case's datalist
entry, the fixed test cases and the pool the seeds split into training / validation, the label values scored lesion
by lesion, and what the bundle must be told (image channels, classes, voxel size). The seeds' datalists
(:func:`write_split`) are written beside the generated data, and into the study's own folder for a user's data set
(a user's data folder is only read).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["DataSource", "synthetic_source", "user_source", "write_split"]


@dataclasses.dataclass(frozen=True)
class DataSource:
    """The cases of a study and what the bundle needs to train on them (plain values, JSON round trip).

    Attributes:
        data_dir: the folder every entry path is relative to.
        splits_dir: where the seeds' datalists are written.
        tag: the data's identity in the runs' fingerprints (a changed data set never meets a stale run).
        entries: case id -> its datalist entry ``{"image": path or [path per channel], "label": path}``.
        pool: the cases each seed splits into training and validation (sorted).
        test: the fixed test cases, the same for every seed (sorted).
        lesion_labels: the label values scored lesion by lesion (each a report of its own when several).
        label_names: label value -> name, background 0 included.
        in_channels: image channels.
        spacing: the voxel size the bundle resamples to, mm per axis.
        summary: the data set's statistics (``stats.json``'s ``summary`` format of ``data_scripts``).
        description: the data in one sentence, for the report.
        test_source: where the test cases come from, in one sentence.
        user: a user's data set (bundle overrides of channels, classes, crop ratios); False: the generated task.
    """

    data_dir: str
    splits_dir: str
    tag: str
    entries: dict[str, dict[str, Any]]
    pool: tuple[str, ...]
    test: tuple[str, ...]
    lesion_labels: tuple[int, ...]
    label_names: dict[int, str]
    in_channels: int
    spacing: tuple[float, ...]
    summary: dict[str, Any]
    description: str
    test_source: str
    user: bool = False

    @property
    def num_classes(self) -> int:
        return max(self.label_names) + 1

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "label_names": {str(k): v for k, v in self.label_names.items()}}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DataSource:
        return cls(**{**body, "pool": tuple(body["pool"]), "test": tuple(body["test"]),
                      "lesion_labels": tuple(body["lesion_labels"]), "spacing": tuple(body["spacing"]),
                      "label_names": {int(k): v for k, v in body["label_names"].items()}})


def synthetic_source(setting, cache_dir: str | os.PathLike, executor: Any = None,
                     progress: Callable[[], None] | None = None) -> DataSource:
    """The generated brain task of ``setting`` (a :class:`~monai_segloss.app.study.StudySetting`), generated into
    ``cache_dir/<data tag>`` unless it is already there. The data set's own split holds the fixed test cases; its
    training and validation cases form the pool."""
    from ..data_scripts.synthetic import ensure_generated

    data_dir = Path(cache_dir).resolve() / setting.data_tag()
    ensure_generated(data_dir, executor=executor, progress=progress, **setting.data_kwargs())
    dataset = json.loads((data_dir / "dataset.json").read_text())

    def ids(entries: list[dict]) -> list[str]:
        return sorted(e["image"].split("/")[-1].split(".")[0] for e in entries)

    pool, test = ids(dataset["training"] + dataset["validation"]), ids(dataset["test"])
    return DataSource(
        data_dir=str(data_dir), splits_dir=str(data_dir / "splits"), tag=setting.data_tag(),
        entries={c: {"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in pool + test},
        pool=tuple(pool), test=tuple(test), lesion_labels=(1,), label_names={0: "background", 1: "lesion"},
        in_channels=1, spacing=(setting.spacing,) * 3,
        summary=json.loads((data_dir / "stats.json").read_text())["summary"],
        description=f"{setting.num_cases} synthetic brain MRI cases (data_scripts/synthetic.py, task brain, data "
                    f"seed {setting.data_seed}): MNI ICBM152 2009a anatomy, randomly deformed, T1-hypointense "
                    f"white-matter lesions, {setting.spacing:g} mm isotropic",
        test_source="the generated data set's own test split")


def user_source(setting, study_dir: str | os.PathLike, progress: Callable[[int], None] | None = None) -> DataSource:
    """A user's data set (``setting.dataset``: a ``dataset.json`` or an nnU-Net raw folder), read and checked case by
    case before anything is written (:func:`~monai_segloss.app.study_data.load_study_data`; bad input raises its
    ``StudyDataError``); the seeds' datalists go to ``study_dir/splits``."""
    from .study_data import load_study_data

    data = load_study_data(setting.dataset, lesion_labels=setting.lesion_labels or None,
                           test_frac=setting.test_frac, seed=setting.data_seed, progress=progress)
    names = dict(data.labels)
    lesions = ", ".join(f"{v} {names[v]}" for v in data.lesion_labels)
    return DataSource(
        data_dir=str(Path(data.root).resolve()), splits_dir=str(Path(study_dir) / "splits"),
        tag=f"{data.name}_{data.digest[:12]}", entries=dict(data.cases), pool=tuple(data.pool_ids),
        test=tuple(data.test_ids), lesion_labels=tuple(data.lesion_labels), label_names=names,
        in_channels=data.in_channels, spacing=tuple(float(s) for s in data.spacing), summary=data.summary,
        description=f"{data.name} ({data.layout} layout, {len(data.pool_ids) + len(data.test_ids)} labelled cases, "
                    f"{data.in_channels} image channel(s)); lesion label(s) {lesions}; resampled to "
                    f"{' x '.join(f'{s:.3g}' for s in data.spacing)} mm (the median voxel size)",
        test_source=data.test_source, user=True)


def write_split(source: DataSource, seed: int, val_frac: float) -> Path:
    """The seed's datalist (MSD layout, paths relative to ``source.data_dir``): the fixed test cases, and the seed's
    training / validation split of the pool; rewritten only when its content changes."""
    from ..data_scripts._layout import split_cases

    split = {**split_cases(list(source.pool), val_frac, 0.0, seed=seed), "test": list(source.test)}
    body = {s: [source.entries[c] for c in split[s]] for s in ("training", "validation", "test")}
    path = Path(source.splits_dir) / f"seed{seed}_val{val_frac:g}_fixedtest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(body, indent=1) + "\n"
    if not path.is_file() or path.read_text() != text:  # shards of one study may write it at once: atomically
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path
