"""Profile a label data set and recommend a loss: ``monai-segloss profile DATASET``.

Reads an MSD-style ``dataset.json`` (or a folder holding one, or a folder of label NIfTIs) and reports, per class,
the voxel fraction, the number and size of lesions (connected components, 26-connectivity in 3D, sizes in voxels
and mm³) and the fraction of cases without that class; then recommends a loss following the survey's guidance
(Jadon 2020; Ma et al. 2021, "Loss odyssey in medical image segmentation"):

- heavy imbalance, rarest foreground class below ``HEAVY`` (1 %) of the voxels, one foreground class (small lesions):
  the loss that won on validation in the project's small-lesion study (``monai-segloss study --setting full``; its
  summary in ``study_evidence.json``, :mod:`monai_segloss.app.evidence`), with the reference bundle's options;
  several foreground classes: asymmetric unified focal (not covered by the study, which has one lesion class);
- mild skew, rarest class between 1 % and ``BALANCED`` (20 %): the Dice family (Dice; generalised Dice for several
  classes whose sizes differ by more than 10×);
- balance, every class at or above 20 %: cross-entropy (with Dice, ``dice_ce``).

The recommended keyword arguments fit the reference bundles (softmax over a background channel plus one channel
per class, label-map targets). When more than ``EMPTY_CASES`` (20 %) of the cases have no foreground, the
recommendation adds ``empty="fp"`` so false positives on those cases are penalised.

Each reason names its evidence: the study's measured lesion F1 with its interval where the study covers the rule,
the literature where it does not.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..geometry.instances import connected_components
from ..training.data_check import DataCheckError, check_case, read_entries
from .evidence import loss_sentence, study_evidence

__all__ = ["ClassProfile", "DatasetProfile", "profile_dataset", "recommend_loss", "format_profile",
           "HEAVY", "BALANCED", "EMPTY_CASES"]

HEAVY = 0.01
BALANCED = 0.20
EMPTY_CASES = 0.20
STUDY_BUNDLE = "lesion_focal_tversky"  # the bundle the study trains
_NIFTI = (".nii", ".nii.gz")


@dataclass
class ClassProfile:
    """Statistics of one label value over the data set."""

    label: int
    name: str
    voxel_fraction: float
    lesion_count: int
    cases_without: float
    size_voxels: dict[str, float] = field(default_factory=dict)
    size_mm3: dict[str, float] = field(default_factory=dict)


@dataclass
class DatasetProfile:
    """Per-class statistics, the number of cases, the fraction of cases with no foreground at all, and warnings
    (label values not declared in ``dataset.json``)."""

    num_cases: int
    total_voxels: int
    classes: list[ClassProfile]
    cases_without_foreground: float
    warnings: list[str] = field(default_factory=list)


def _is_nifti(p: Path) -> bool:
    return p.name.endswith(_NIFTI)


def _entries(dataset: Path) -> tuple[list[tuple[Path, list[Path]]], dict[int, str], Path | None]:
    """(label path, image paths) pairs, the declared label names and the dataset.json (None for a folder)."""
    if dataset.is_dir() and (dataset / "dataset.json").is_file():
        dataset = dataset / "dataset.json"
    if dataset.is_file() and dataset.suffix == ".json":
        items, names = read_entries(dataset, ("training", "validation"))
        if not items:
            raise ValueError(f"{dataset} lists no training or validation case with a label")
        return items, names, dataset
    if dataset.is_dir():
        folder = dataset / "labelsTr" if (dataset / "labelsTr").is_dir() else dataset
        files = sorted(p for p in folder.iterdir() if p.is_file() and _is_nifti(p))
        if not files:
            raise ValueError(f"no label NIfTI (*.nii, *.nii.gz) found in {folder}")
        return [(p, []) for p in files], {}, None
    raise ValueError(f"DATASET must be a dataset.json, a folder with one, or a folder of label NIfTIs: {dataset}")


def _components(mask: np.ndarray) -> np.ndarray:
    """Voxel counts of the connected components of ``mask`` (26-connectivity in 3D, 8 in 2D)."""
    labels, _ = connected_components(mask)
    return np.bincount(labels.ravel())[1:]


def _summary(sizes: list[float]) -> dict[str, float]:
    if not sizes:
        return {}
    a = np.asarray(sizes, dtype=np.float64)
    return {"min": float(a.min()), "p25": float(np.percentile(a, 25)), "median": float(np.median(a)),
            "p75": float(np.percentile(a, 75)), "max": float(a.max())}


def profile_dataset(dataset: str | os.PathLike) -> DatasetProfile:
    """Read and check every case of ``dataset`` (:mod:`monai_segloss.training.data_check`, the check the bundles
    run before training) and compute its :class:`DatasetProfile`. Label values that ``dataset.json`` does not
    declare are profiled (as ``"undeclared"``) and reported in ``warnings``: they change the recommendation.

    Raises:
        DataCheckError: (a ``ValueError``) one line per bad case: unreadable or missing file, non-integer or
            negative labels, a label whose shape or affine differs from its image.
        ValueError: empty folder, unreadable ``dataset.json``.
    """
    entries, names, meta_file = _entries(Path(dataset))
    counts: dict[int, int] = {}
    lesions: dict[int, list[float]] = {}
    lesions_mm3: dict[int, list[float]] = {}
    present_in: dict[int, int] = {}
    undeclared: dict[int, list[Path]] = {}
    bad: list[str] = []
    total = no_fg = 0
    for label_path, image_paths in entries:
        case = check_case(label_path, image_paths, names, strict=False)
        if case.problems or case.label is None:
            bad.append(case.line())
            continue
        for v in case.undeclared:
            undeclared.setdefault(v, []).append(label_path)
        data = case.label
        total += data.size
        values, value_counts = np.unique(data, return_counts=True)
        no_fg += int(not (values > 0).any())
        voxel_mm3 = float(np.prod(case.zooms))
        for v, n in zip(values.tolist(), value_counts.tolist(), strict=True):
            counts[v] = counts.get(v, 0) + n
            present_in[v] = present_in.get(v, 0) + 1
            if v > 0:
                sizes = _components(data == v)
                lesions.setdefault(v, []).extend(sizes.tolist())
                lesions_mm3.setdefault(v, []).extend((sizes * voxel_mm3).tolist())
    if bad:
        raise DataCheckError(bad, len(entries))
    declared = ", ".join(f"{k} {n}" for k, n in sorted(names.items()))
    warnings = [f"label {v} is not declared in {meta_file} (labels: {declared}) but found in {len(files)} case(s), "
                f"e.g. {files[0]}: it is profiled as a class and changes the recommendation; fix the label files or "
                f"declare it" for v, files in sorted(undeclared.items())]
    labels = sorted(set(counts) | {k for k in names if k >= 0})
    def name(v: int) -> str:
        return names.get(v) or ("background" if v == 0 else "undeclared" if names else f"class {v}")

    classes = [ClassProfile(label=v, name=name(v),
                            voxel_fraction=counts.get(v, 0) / total, lesion_count=len(lesions.get(v, [])),
                            cases_without=1 - present_in.get(v, 0) / len(entries),
                            size_voxels=_summary(lesions.get(v, [])), size_mm3=_summary(lesions_mm3.get(v, [])))
               for v in labels]
    return DatasetProfile(num_cases=len(entries), total_voxels=total, classes=classes,
                          cases_without_foreground=no_fg / len(entries), warnings=warnings)


def recommend_loss(profile: DatasetProfile) -> tuple[str, dict, list[str]]:
    """(registry key, constructor kwargs, reasons) following the thresholds in the module docstring."""
    fg = [c for c in profile.classes if c.label > 0]
    if not fg:
        raise ValueError("the data set has no foreground label: nothing to segment")
    rarest = min(fg, key=lambda c: c.voxel_fraction)
    multi = len(fg) > 1
    # the reference bundles predict C = classes + background channels with a softmax and read label maps
    base = {"softmax": True, "to_onehot_y": True}
    region = {**base, "include_background": False}
    reasons = [f"rarest foreground class: {rarest.name} (label {rarest.label}) at {rarest.voxel_fraction:.4%} of "
               f"the voxels"]
    if rarest.voxel_fraction < HEAVY:
        reasons.append(f"below {HEAVY:.0%}: heavy imbalance, the regime of the small-lesion study")
        evidence = _cited_evidence()
        if multi:
            key, kwargs = "unified_focal", {**base, "variant": "asymmetric"}
            reasons.append("several foreground classes -> asymmetric unified focal (Yeung 2022), background "
                           "suppressed, rare classes enhanced; the study has one lesion class and does not cover "
                           f"this rule (with one class, {loss_sentence(evidence, key)})")
        else:
            key = evidence["validation_best"]
            kwargs = _bundle_loss_options(key)
            reasons.append(f"one foreground class (small lesions) -> {key}, the validation winner of the "
                           f"small-lesion {loss_sentence(evidence, key)}")
    elif rarest.voxel_fraction < BALANCED:
        reasons.append(f"between {HEAVY:.0%} and {BALANCED:.0%}: mild skew -> Dice family (the survey's guidance, "
                       f"Jadon 2020, Ma et al. 2021; not covered by the small-lesion study)")
        sizes = [c.voxel_fraction for c in fg]
        if multi and max(sizes) > 10 * min(sizes):
            key, kwargs = "generalized_dice", dict(region)
            reasons.append("foreground classes differ by more than 10x in size -> generalised Dice (Sudre 2017)")
        else:
            key, kwargs = "dice", dict(region)
    else:
        key, kwargs = "dice_ce", dict(base)
        reasons.append(f"every class at or above {BALANCED:.0%}: balanced -> cross-entropy (with Dice) (the "
                       f"survey's guidance; not covered by the small-lesion study)")
    if profile.cases_without_foreground > EMPTY_CASES and key != "dice_ce":
        kwargs["empty"] = "fp"
        reasons.append(f"{profile.cases_without_foreground:.0%} of the cases have no foreground (> "
                       f"{EMPTY_CASES:.0%}) -> empty='fp' penalises false positives on them")
    return key, kwargs, reasons


def _cited_evidence() -> dict:
    """The study's summary, citing its report as a user of the installed package can get it: the report is not in
    the wheel, ``monai-segloss study --setting full`` writes it."""
    evidence = study_evidence()
    return {**evidence, "report": f"report.md of `{evidence['command']}`"}


def _bundle_loss_options(key: str) -> dict:
    """The keyword options of ``key`` in the lesion bundle's override file ``configs/<key>.json`` (the
    configuration the study trained)."""
    from .shipped import bundle_dir

    loss = json.loads((bundle_dir(STUDY_BUNDLE) / "configs" / f"{key}.json").read_text())["loss"]
    kwargs = {k: v for k, v in loss.items() if k != "_target_"}
    if any(isinstance(v, str) and v[:1] in "@$%" for v in kwargs.values()):
        raise ValueError(f"the bundle's {key} configuration refers to other config entries: use its override file "
                         f"configs/{key}.json (monai-segloss bundle export {STUDY_BUNDLE} DIR)")
    return kwargs


def override_config(key: str, kwargs: dict) -> dict:
    """A bundle override file body that swaps the training loss for ``key`` with ``kwargs``: merged after the
    bundle's ``train.json`` (``--config_file "['configs/train.json','OVERRIDE']"``), it changes the loss only."""
    from ..losses.registry import loss_class

    # no "imports": a later config file's top-level keys replace the earlier ones', and train.json's imports
    # (os, glob, ignite, monai_segloss) must stay
    return {"loss": {"_target_": f"monai_segloss.{loss_class(key).__name__}", **kwargs}}


def format_profile(profile: DatasetProfile) -> str:
    """A plain-text table of the profile."""
    lines = [f"{profile.num_cases} cases, {profile.total_voxels} voxels; cases with no foreground: "
             f"{profile.cases_without_foreground:.0%}", "",
             f"{'label':>5}  {'name':<16} {'voxel %':>9} {'lesions':>8} {'no-class cases':>15}  "
             f"lesion size (voxels) min / median / max"]
    for c in profile.classes:
        size = "" if not c.size_voxels else \
            f"{c.size_voxels['min']:.0f} / {c.size_voxels['median']:.0f} / {c.size_voxels['max']:.0f}"
        lesions = "" if c.label == 0 else str(c.lesion_count)
        lines.append(f"{c.label:>5}  {c.name[:16]:<16} {100 * c.voxel_fraction:>8.4f}% {lesions:>8} "
                     f"{c.cases_without:>14.0%}  {size}")
    return "\n".join(lines)


def profile_to_json(profile: DatasetProfile) -> dict:
    return asdict(profile)
