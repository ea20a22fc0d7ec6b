"""A user's lesion data set for the study (``monai-segloss study --dataset PATH``): read, checked, described.

:func:`load_study_data` reads one of two layouts and returns a :class:`StudyData` (it reads, it never writes):

MSD (the layout every ``data_scripts`` command writes, and the Medical Segmentation Decathlon's)::

    PATH/dataset.json       "training", "validation", "test" lists of {"image": "./imagesTr/x.nii.gz",
                            "label": "./labelsTr/x.nii.gz"} (paths relative to the file's folder);
                            "labels" {"0": "background", "1": "lesion"}
    PATH/imagesTr/x.nii.gz  3D, or 4D with the channels on the last axis

    "training" + "validation" form the pool; a "test" list whose entries have labels is the fixed test set (the
    official MSD "test" lists are bare image paths: no labelled test list). Case id: the label file name less its
    extensions.

nnU-Net v2 raw (a ``DatasetXXX_NAME`` folder; told apart by "channel_names" and "file_ending" in dataset.json)::

    PATH/dataset.json                      "channel_names", "labels" {"background": 0, "lesion": 1}, "file_ending"
    PATH/imagesTr/<case>_0000<ending>      one file per channel (_0000, _0001, ...)
    PATH/labelsTr/<case><ending>           the pool
    PATH/imagesTs/, PATH/labelsTs/         the fixed test set, when labelsTs/ exists

    Case id: the label file name less ``file_ending``. Region labels (lists of values) and the "ignore" label are
    not supported.

The test set is fixed: the data set's own labelled test list, else a fraction ``test_frac`` of the labelled cases
drawn with ``seed`` (:func:`data_scripts._layout.split_cases`, deterministic; :attr:`StudyData.test_source` says
which). Every other labelled case is in the pool, which each study seed splits into training and validation.

Every case, pool and test, is checked before anything trains (:func:`monai_segloss.training.data_check.check_case`,
strict: the files exist and can be read, each image has its label's shape and affine, the label values are
declared), and so is the data set as a whole (labelled cases exist, the test split is not empty, the pool holds at
least 2 cases, every case has the same number of image channels, some pool case holds a lesion voxel). Problems are
collected and raised together as one :class:`StudyDataError`, one line each, in two rounds: what ``dataset.json``,
the folder listing and the arguments show is raised before any image is read; what needs the files' contents is
raised after every case has been read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..training.data_check import check_case, declared_labels

__all__ = ["StudyData", "StudyDataError", "load_study_data"]

Layout = Literal["msd", "nnunet"]
NIFTI_ENDINGS = (".nii.gz", ".nii")
_SPLITS = ("training", "validation", "test")


class StudyDataError(ValueError):
    """A data set the study cannot use; ``lines`` holds one ``"<what/file>: <problem>"`` line per problem.

    The message is ``"N problem(s) in DATASET:"`` followed by the lines.

    Args:
        lines: the problems, one line each.
        dataset: the data set as the user named it (a folder or a ``dataset.json``). Default ``"the data set"``.
    """

    def __init__(self, lines: Sequence[str], dataset: str | os.PathLike = "the data set") -> None:
        self.lines = list(lines)
        self.dataset = str(dataset)
        super().__init__(f"{len(self.lines)} problem(s) in {self.dataset}:\n" + "\n".join(self.lines))


@dataclasses.dataclass(frozen=True)
class StudyData:
    """A checked lesion data set: its cases, the fixed test set, labels, channels, spacing and identity.

    Attributes:
        root: the absolute folder every entry path is relative to (the folder of ``dataset.json``).
        layout: ``"msd"`` or ``"nnunet"``.
        name: ``dataset.json``'s ``"name"``, else the folder's name.
        cases: ``(case id, entry)`` pairs of every case, pool and test, sorted by id; an entry is ``{"image":
            "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}``, its image a list of paths (one per channel)
            for an nnU-Net data set of several channels.
        test_ids: the fixed test cases, sorted.
        pool_ids: every other case, sorted; each study seed splits them into training and validation.
        labels: ``(value, name)`` of every declared label, background 0 included, sorted by value.
        lesion_labels: the label values scored lesion-wise.
        in_channels: the image channels (nnU-Net: the number of ``channel_names``; MSD: a 4D image's last axis,
            else 1).
        spacing: the median voxel size in mm per axis over the pool cases' label headers (the study resamples
            every case to it).
        test_source: one sentence for the report saying where the test set comes from.
        digest: a sha1 hex digest of the data's identity (:func:`load_study_data`).
        summary: the label statistics over every case, in the format of ``data_scripts``' ``stats.json``
            ``"summary"`` (:func:`data_scripts._layout.summarise_stats`; voxels and fraction per class, and the
            lesions of the highest label); when the lesion labels are not exactly the highest label, also
            ``"lesion_labels"``: ``{"<value>": the same summary of that label alone}``.
    """

    root: str
    layout: Layout
    name: str
    cases: tuple[tuple[str, dict[str, Any]], ...]
    test_ids: tuple[str, ...]
    pool_ids: tuple[str, ...]
    labels: tuple[tuple[int, str], ...]
    lesion_labels: tuple[int, ...]
    in_channels: int
    spacing: tuple[float, ...]
    test_source: str
    digest: str
    summary: dict[str, Any]

    @property
    def num_classes(self) -> int:
        """The highest declared label value + 1 (the network's output channels)."""
        return max(v for v, _ in self.labels) + 1

    def entry(self, case_id: str) -> dict[str, Any]:
        """A copy of the entry of ``case_id`` (paths relative to :attr:`root`); ``KeyError`` for an unknown id."""
        for cid, entry in self.cases:
            if cid == case_id:
                return {k: list(v) if isinstance(v, list) else v for k, v in entry.items()}
        raise KeyError(f"no case {case_id!r} in {self.name} ({len(self.cases)} cases)")

    def label_name(self, value: int) -> str:
        """The declared name of label ``value``; ``KeyError`` for an undeclared value."""
        for v, name in self.labels:
            if v == value:
                return name
        raise KeyError(f"label {value!r} is not declared in {self.name} (labels {dict(self.labels)})")


@dataclasses.dataclass
class _Listing:
    """The cases a dataset.json and its folder name, before any file is read."""

    pool: dict[str, dict[str, Any]]
    test: dict[str, dict[str, Any]] | None  # None: no labelled test list
    test_source: str  # the fixed list's sentence, or why there is none
    channels: int | None  # declared channels (nnU-Net), None: read from the images (MSD)


def _find_dataset_json(given: Path) -> Path:
    if not given.exists():
        raise StudyDataError([f"{given}: does not exist"], given)
    if given.is_dir():
        path = given / "dataset.json"
        if not path.is_file():
            raise StudyDataError(
                [f"{given}: no dataset.json in this folder (an MSD or nnU-Net v2 raw data set holds one)"], given)
        return path
    return given


def _read_meta(path: Path, given: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise StudyDataError([f"{path}: cannot be read ({type(err).__name__}: {err})"], given) from err
    except ValueError as err:
        raise StudyDataError([f"{path}: not valid JSON ({err})"], given) from err
    if not isinstance(meta, dict):
        raise StudyDataError([f"{path}: not a JSON object (got a {type(meta).__name__}); dataset.json describes "
                              f"the data set in an object"], given)
    return meta


def _layout(meta: Mapping[str, Any], path: Path, given: Path) -> Layout:
    if "channel_names" in meta and "file_ending" in meta:
        return "nnunet"
    if "training" in meta:
        return "msd"
    raise StudyDataError([f"{path}: neither an MSD datalist (no 'training' list) nor an nnU-Net v2 raw dataset.json "
                          f"(needs 'channel_names' and 'file_ending'); keys found: {sorted(meta)}"], given)


def _labels(meta: Mapping[str, Any], path: Path, given: Path) -> dict[int, str]:
    raw = meta.get("labels")
    if not isinstance(raw, dict) or not raw:
        raise StudyDataError([f"{path}: no 'labels' (MSD {{\"0\": \"background\", \"1\": \"lesion\"}} or "
                              f"nnU-Net {{\"background\": 0, \"lesion\": 1}})"], given)
    lines = []
    regions = {k: v for k, v in raw.items() if isinstance(v, list)}
    if regions:
        lines.append(f"{path}: nnU-Net region labels are not supported ({json.dumps(regions)}): the study needs one "
                     f"integer value per label (convert without --regions)")
    if isinstance(raw.get("ignore"), int) and not isinstance(raw.get("ignore"), bool):
        lines.append(f"{path}: nnU-Net's 'ignore' label ({raw['ignore']}, sparse annotation) is not supported: "
                     f"every voxel must be annotated")
    declared = declared_labels(meta)
    parsed = {str(k) for k in raw if str(k).lstrip("-").isdigit()} | {
        str(k) for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}
    odd = {k: v for k, v in raw.items() if str(k) not in parsed and k not in regions}
    if odd:
        lines.append(f"{path}: 'labels' entries {json.dumps(odd)} are neither MSD (\"1\": \"lesion\") nor nnU-Net "
                     f"(\"lesion\": 1)")
    if not lines:
        if 0 not in declared:
            lines.append(f"{path}: 'labels' must declare the background 0, got {_fmt_labels(declared)}")
        elif len(declared) < 2:
            lines.append(f"{path}: 'labels' declares no label besides the background 0")
        elif min(declared) < 0:
            lines.append(f"{path}: 'labels' declares negative values {sorted(v for v in declared if v < 0)}")
    if lines:
        raise StudyDataError(lines, given)
    return declared


def _fmt_labels(declared: Mapping[int, str]) -> str:
    return "{" + ", ".join(f"{v}: {n!r}" for v, n in sorted(declared.items())) + "}"


def _lesion_labels(lesion_labels: Sequence[int] | None, declared: Mapping[int, str], lines: list[str]
                   ) -> tuple[int, ...]:
    nonzero = sorted(v for v in declared if v != 0)
    if lesion_labels is None:
        return tuple(nonzero)
    try:
        values = list(lesion_labels) if not isinstance(lesion_labels, (str, bytes)) else None
    except TypeError:
        values = None
    if values is None:
        lines.append(f"lesion_labels: must be a sequence of label values, got {lesion_labels!r}")
        return ()
    if not values:
        lines.append(f"lesion_labels: empty; give some of the declared labels {_fmt_labels(declared)} other than 0")
        return ()
    out = set()
    for value in values:
        integer = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if integer and int(value) in nonzero:
            out.add(int(value))
        elif integer and int(value) == 0:
            lines.append(f"lesion_labels: 0 is the background, not a lesion label; the declared labels are "
                         f"{_fmt_labels(declared)}")
        else:
            lines.append(f"lesion_labels: {value!r} is not a declared label; the declared labels are "
                         f"{_fmt_labels(declared)}")
    return tuple(sorted(out))


def _strip_ext(name: str) -> str:
    """A file name less its extensions (``x.nii.gz`` -> ``x``; only the last suffix after a ``.gz``)."""
    if name.endswith(".gz"):
        name = name[:-3]
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def _msd_listing(meta: Mapping[str, Any], path: Path, lines: list[str]) -> _Listing:
    def entries(split: str) -> list[Any]:
        value = meta.get(split, [])
        if value is None:
            return []
        if not isinstance(value, list):
            lines.append(f"{path}: '{split}' must be a list of entries, got a {type(value).__name__}")
            return []
        return value

    def parse(split: str, index: int, item: Any, out: dict[str, dict[str, Any]], where: dict[str, str]) -> None:
        image = item.get("image") if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        image_ok = isinstance(image, str) or (isinstance(image, list) and image
                                              and all(isinstance(i, str) for i in image))
        if not isinstance(label, str) or not image_ok:
            lines.append(f"{path}: '{split}'[{index}] needs an 'image' path (or a list of paths) and a 'label' "
                         f"path, got {item!r}")
            return
        case_id = _strip_ext(Path(label).name)
        if case_id in where:
            lines.append(f"{path}: case {case_id!r} is listed twice ({where[case_id]} and '{split}'[{index}])")
            return
        where[case_id] = f"'{split}'[{index}]"
        out[case_id] = {"image": list(image) if isinstance(image, list) else image, "label": label}

    pool: dict[str, dict[str, Any]] = {}
    where: dict[str, str] = {}
    for split in ("training", "validation"):
        for i, item in enumerate(entries(split)):
            parse(split, i, item, pool, where)
    test_items = entries("test")
    if "test" not in meta or meta.get("test") is None:
        return _Listing(pool, None, "dataset.json has no 'test' list", None)
    if not test_items:
        lines.append(f"{path}: the 'test' list is empty: a declared test split with no case (list the labelled test "
                     f"cases there, or remove the 'test' key to draw a fraction of the labelled cases)")
        return _Listing(pool, {}, "", None)
    labelled = [isinstance(t, dict) and "label" in t for t in test_items]
    if not any(labelled):
        return _Listing(pool, None, "dataset.json's 'test' list has no labels", None)
    if not all(labelled):
        bare = [i for i, ok in enumerate(labelled) if not ok]
        lines.append(f"{path}: the 'test' list mixes labelled and unlabelled entries (no 'label' at "
                     f"{', '.join(f'test[{i}]' for i in bare[:10])}{' ...' if len(bare) > 10 else ''}): give every "
                     f"test case its label, or none")
        return _Listing(pool, {}, "", None)
    test: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(test_items):
        parse("test", i, item, test, where)
    return _Listing(pool, test, f"the dataset's 'test' list ({len(test)} cases)", None)


def _nnunet_listing(meta: Mapping[str, Any], root: Path, path: Path, lines: list[str]) -> _Listing:
    ending = meta.get("file_ending")
    names = meta.get("channel_names")
    if not isinstance(names, dict) or not names:
        lines.append(f"{path}: 'channel_names' must name every image channel ({{\"0\": \"DWI\", ...}}), got "
                     f"{names!r}")
        return _Listing({}, None, "", None)
    if ending not in NIFTI_ENDINGS:
        lines.append(f"{path}: file_ending {ending!r} is not supported (NIfTI only: {', '.join(NIFTI_ENDINGS)})")
        return _Listing({}, None, "", None)
    channels = len(names)
    assert isinstance(ending, str)

    def cases(images: str, labels: str) -> dict[str, dict[str, Any]]:
        folder = root / labels
        files = sorted(f for f in os.listdir(folder) if f.endswith(ending) and not f.startswith(".")) \
            if folder.is_dir() else []
        pattern = re.compile(r"^(.+)_(\d{4})" + re.escape(ending) + "$")
        found: dict[str, list[int]] = {}
        if (root / images).is_dir():
            for f in os.listdir(root / images):
                m = pattern.match(f)
                if m:
                    found.setdefault(m.group(1), []).append(int(m.group(2)))
        out: dict[str, dict[str, Any]] = {}
        for f in files:
            case_id = f[: -len(ending)]
            paths = [f"./{images}/{case_id}_{c:04d}{ending}" for c in range(channels)]
            extra = sorted(c for c in found.get(case_id, []) if c >= channels)
            if extra:
                lines.append(f"{root / images / f'{case_id}_{extra[0]:04d}{ending}'}: channel file {extra[0]} of case "
                             f"{case_id!r} beyond the {channels} channel(s) of dataset.json's channel_names "
                             f"({len(extra)} such file(s)): channel counts differ")
            out[case_id] = {"image": paths[0] if channels == 1 else paths, "label": f"./{labels}/{f}"}
        return out

    pool = cases("imagesTr", "labelsTr")
    if not (root / "labelsTs").is_dir():
        return _Listing(pool, None, "the nnU-Net folder has no labelsTs/", channels)
    test = cases("imagesTs", "labelsTs")
    if not test:
        lines.append(f"{root / 'labelsTs'}: empty (no *{ending} file): a declared test split with no case (put the "
                     f"test labels there, or remove the folder to draw a fraction of the labelled cases)")
    return _Listing(pool, test, f"labelsTs/ ({len(test)} cases)", channels)


def _check_fraction(test_frac: float) -> None:
    ok = isinstance(test_frac, (int, float)) and not isinstance(test_frac, bool) and 0.0 < float(test_frac) < 1.0
    if not ok:
        raise ValueError(f"test_frac must be a number in (0, 1), got {test_frac!r}")


def _draw_test(ids: list[str], test_frac: float, seed: int) -> list[str]:
    from ..data_scripts._layout import split_cases

    test = split_cases(ids, 0.0, test_frac, seed=seed)["test"]
    if not test and ids:  # fewer than 3 cases: split_cases may round to none; the study needs one
        test = split_cases(ids, 0.0, min(1.0 / len(ids), 0.99), seed=seed)["test"]
    return list(test)


def _image_channels(paths: Sequence[Path], spatial_ndim: int) -> int | None:
    """Channels of a case's image files: per file the product of its axes beyond the label's (1 if none)."""
    import nibabel as nib

    total = 0
    for p in paths:
        try:
            shape = tuple(nib.load(str(p)).shape)  # type: ignore[attr-defined]
        except Exception:
            return None
        total += int(np.prod(shape[spatial_ndim:])) if len(shape) > spatial_ndim else 1
    return total


def _sha1_file(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _entry_files(entry: Mapping[str, Any]) -> list[str]:
    image = entry["image"]
    return [*(image if isinstance(image, list) else [image]), entry["label"]]


def _digest(root: Path, layout: Layout, labels: Mapping[int, str], lesion: Sequence[int],
            cases: Sequence[tuple[str, Mapping[str, Any]]], test_ids: Sequence[str]) -> str:
    body = {
        "layout": layout,
        "labels": [[v, n] for v, n in sorted(labels.items())],
        "lesion_labels": list(lesion),
        "cases": [[cid, dict(entry), {p: os.path.getsize(root / p) for p in _entry_files(entry)}]
                  for cid, entry in cases],
        "label_sha1": {cid: _sha1_file(root / entry["label"]) for cid, entry in cases},
        "test_ids": list(test_ids),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha1(text.encode("ascii")).hexdigest()


def load_study_data(path: str | os.PathLike, lesion_labels: Sequence[int] | None = None, test_frac: float = 0.2,
                    seed: int = 0, progress: Callable[[int], None] | None = None) -> StudyData:
    """Read and check the lesion data set at ``path`` for the study (module docstring); nothing is written.

    Args:
        path: an MSD or nnU-Net v2 raw ``dataset.json``, or the folder holding it.
        lesion_labels: the label values scored lesion-wise, each a declared non-zero label. Default None: every
            declared non-zero label.
        test_frac: when the data set has no labelled test list, the fraction of the labelled cases drawn as the
            fixed test set (``round(test_frac * n)``, at least 1), in (0, 1). Default 0.2.
        seed: the seed of that draw. Default 0.
        progress: called with 1 after each case is checked (a progress bar's ``update``). Default None.

    Returns:
        the :class:`StudyData`. Its ``digest`` is a sha1 over a canonical JSON of the layout, the declared and the
        lesion labels, every case's id, entry paths and file sizes in bytes, the sha1 of every label file's bytes
        and the test ids: the same data gives the same digest wherever it lies, and a changed label voxel, an added
        case or a case moved into the test set gives another (so does a label file saved again with the same voxels:
        its bytes are hashed, e.g. a gzip time stamp). Image files enter by their size only (they can be gigabytes;
        hashing them whole would cost as much as reading the data set twice): an image changed in place at the same
        size keeps the digest.

    Raises:
        ValueError: ``test_frac`` is not in (0, 1).
        StudyDataError: the data set cannot be used, with every problem found, one line each: ``path`` does not
            exist or holds no ``dataset.json``; ``dataset.json`` cannot be read, is not a JSON object, is neither
            layout, has nnU-Net region labels or an ignore label, or a malformed entry; a lesion label that is not
            declared; no labelled case; an empty declared test split; a pool of fewer than 2 cases; a case whose
            files are missing or unreadable, whose image and label differ in shape or affine, or whose label holds
            undeclared values; image channel counts that differ between cases; no lesion voxel in the pool.

    Example:
        >>> from data_scripts.synthetic import generate  # doctest: +SKIP
        >>> generate("data/lesion", task="lesion", num_cases=20, shape=(32, 32, 24), test_frac=0.2)  # doctest: +SKIP
        >>> data = load_study_data("data/lesion")  # doctest: +SKIP
        >>> len(data.pool_ids), len(data.test_ids), data.in_channels, data.lesion_labels  # doctest: +SKIP
        (16, 4, 1, (1,))
        >>> data.test_source  # doctest: +SKIP
        "the dataset's 'test' list (4 cases)"
        >>> load_study_data("/no/such/folder")
        Traceback (most recent call last):
        ...
        monai_segloss.app.study_data.StudyDataError: 1 problem(s) in /no/such/folder:
        /no/such/folder: does not exist
    """
    _check_fraction(test_frac)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    given = Path(path)
    json_path = _find_dataset_json(given)
    root = Path(os.path.abspath(json_path.parent))
    meta = _read_meta(json_path, given)
    layout = _layout(meta, json_path, given)
    declared = _labels(meta, json_path, given)
    lines: list[str] = []
    lesion = _lesion_labels(lesion_labels, declared, lines)
    listing = (_msd_listing(meta, json_path, lines) if layout == "msd"
               else _nnunet_listing(meta, root, json_path, lines))

    # ---- the fixed test set and the pool
    pool = dict(listing.pool)
    if listing.test is None:
        ids = sorted(pool)
        drawn = _draw_test(ids, float(test_frac), int(seed)) if ids else []
        test = {cid: pool.pop(cid) for cid in drawn}
        test_source = (f"a fraction {float(test_frac):g} of the labelled cases drawn with seed {int(seed)}, "
                       f"{len(test)} of {len(ids)} cases ({listing.test_source})")
    else:
        test = dict(listing.test)
        test_source = listing.test_source
    both = sorted(set(pool) & set(test))
    if both and layout == "nnunet":  # MSD lists name a case once (a second listing is a line of its own)
        lines.append(f"{root}: cases {both[:10]} are in both labelsTr/ and labelsTs/")
    for cid in both:
        pool.pop(cid)
    if not pool and not test and not lines:
        where = "its 'training', 'validation' and 'test' lists" if layout == "msd" else f"{root / 'labelsTr'}"
        lines.append(f"{json_path}: no labelled case in {where}")
    elif len(pool) < 2 and (pool or test):
        lines.append(f"{json_path}: {len(pool)} training/validation case(s) besides the {len(test)} test case(s): "
                     f"each study seed needs at least 2 (one to train on, one to validate)")
    if lines:
        raise StudyDataError(lines, given)

    # ---- every case read and checked
    num_classes = max(declared) + 1
    from ..data_scripts._layout import label_stats, summarise_stats

    all_ids = sorted({*pool, *test})
    entries = {**pool, **test}
    per_label = [v for v in lesion] if tuple(lesion) != (num_classes - 1,) else []
    stats: dict[str, dict[str, Any]] = {}
    label_only: dict[int, dict[str, dict[str, Any]]] = {v: {} for v in per_label}
    pool_zooms: list[tuple[float, ...]] = []
    channels: dict[str, int] = {}
    ndims: dict[int, list[str]] = {}
    pool_read = 0
    has_lesion = False
    for cid in all_ids:
        entry = entries[cid]
        files = [root / p for p in _entry_files(entry)]
        case = check_case(files[-1], files[:-1], declared, strict=True)
        if case.problems:
            lines.append(case.line())
        if case.label is not None:
            label = case.label
            ndims.setdefault(label.ndim, []).append(cid)
            n = _image_channels(files[:-1], label.ndim)
            if n is not None:
                channels[cid] = n
            if not case.problems:
                stats[cid] = label_stats(label, case.zooms, num_classes)
                for v in per_label:
                    label_only[v][cid] = label_stats((label == v).astype(np.uint8), case.zooms, 2)
            if cid in pool:
                pool_read += 1
                pool_zooms.append(case.zooms)
                has_lesion = has_lesion or bool(np.isin(label, lesion).any())
        if progress is not None:
            progress(1)
    if len(ndims) > 1:
        lines.append("labels differ in dimensionality: " + "; ".join(
            f"{d}D in {len(c)} case(s) (e.g. {c[0]})" for d, c in sorted(ndims.items())))
    if listing.channels is not None:
        for cid, n in channels.items():
            if n != listing.channels:
                lines.append(f"{root / _entry_files(entries[cid])[0]}: case {cid!r} has {n} image channel(s), "
                             f"dataset.json's channel_names lists {listing.channels}: channel counts differ")
        in_channels = listing.channels
    else:
        counts = Counter(channels.values())
        if len(counts) > 1:
            lines.append("image channel counts differ between cases: " + "; ".join(
                f"{n} channel(s) in {k} case(s) (e.g. {next(c for c, m in channels.items() if m == n)})"
                for n, k in counts.most_common()))
        in_channels = counts.most_common(1)[0][0] if counts else 1
    if pool_read == len(pool) and not has_lesion:
        lines.append(f"no lesion (labels {list(lesion)}) in the {len(pool)} training/validation cases: nothing to "
                     f"learn")
    if lines:
        raise StudyDataError(lines, given)

    spacing = tuple(float(s) for s in np.median(np.asarray(pool_zooms, dtype=np.float64), axis=0))
    summary = summarise_stats(stats, num_classes)
    if per_label:
        summary["lesion_labels"] = {str(v): summarise_stats(label_only[v], 2) for v in per_label}
    cases = tuple((cid, entries[cid]) for cid in all_ids)
    test_ids = tuple(sorted(test))
    return StudyData(
        root=str(root), layout=layout, name=str(meta.get("name") or root.name), cases=cases, test_ids=test_ids,
        pool_ids=tuple(sorted(pool)), labels=tuple(sorted(declared.items())), lesion_labels=tuple(lesion),
        in_channels=int(in_channels), spacing=spacing, test_source=test_source,
        digest=_digest(root, layout, declared, lesion, cases, test_ids), summary=summary,
    )

