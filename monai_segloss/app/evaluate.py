"""Evaluation of one trained run of the study on its held-out cases, from the run's ``model.pt``.

1. validation: the foreground probability of every validation case is swept over the probability thresholds; the
   operating point (threshold, minimum lesion size) with the highest mean lesion F1 over the validation cases is kept
   (ties: the threshold nearest 0.5, then the smallest minimum size);
2. test: per case, the lesion-wise statistics at the fixed operating point (threshold 0.5, no minimum size: the
   softmax argmax) and at the tuned one, with the predicted and target volumes and the largest predicted component
   (what tells a degenerate operating point), and the detection counts at every threshold (the FROC).

Everything is written to ``run_dir/result.json`` (last, atomically: its presence marks an evaluated run) with
``run_dir/examples.npz`` (slices for the figures). The evaluation has its own fingerprint (the training's and the
evaluation settings), so a changed evaluation re-reads the weights without training again.

The bundle's shipped configuration (its default loss at its ``lesion_threshold`` and ``min_lesion_mm3``) is scored
apart, on the test cases of that loss's runs only (:func:`evaluate_shipped`, ``run_dir/shipped.json``, fingerprinted
with the shipped operating point): re-choosing the bundle's default re-scores those runs and leaves every other
evaluation valid.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.brats2023 import BRATS2023_CHALLENGES
from ..evaluation.froc import CaseSweep, sweep_case
from ..evaluation.lesion_metrics import LesionWiseStats, Matching, lesion_wise_stats
from ..evaluation.postprocess import lesion_mask
from ..geometry.instances import connected_components
from .training import RunSpec, atomic_write, load_network, predict_cases, prepare_split

__all__ = ["EvalSpec", "evaluate_run", "evaluate_shipped", "finished_evaluation", "finished_shipped", "case_metrics",
           "choose_operating_point", "label_result", "examples_file", "RESULT_FILE", "SHIPPED_FILE", "EXAMPLES_FILE"]

RESULT_FILE = "result.json"
SHIPPED_FILE = "shipped.json"
EXAMPLES_FILE = "examples.npz"


@dataclasses.dataclass(frozen=True)
class EvalSpec:
    """The evaluation settings (the same for every run of a study).

    Attributes:
        thresholds: the probability thresholds of the sweep (increasing, 0.5 among them).
        min_sizes_mm3: the minimum lesion sizes tried on validation.
        size_bins: lesion volume bin edges in mm³ (recall by size).
        small_mm3: lesions below this volume are "small".
        matching: the lesion matching rule of the lesion-wise metrics and the FROC (``lesion_metrics``).
        brats: the BraTS 2023 challenge whose lesion-wise rule scores every test case beside ``matching``
            (:data:`~monai_segloss.evaluation.brats2023.BRATS2023_CHALLENGES`; BraTS-MET, the small-metastasis rule:
            1 dilation, lesions over 2 mm³).
        shipped: the bundle's shipped operating point ``(threshold, minimum size in mm³)`` (``lesion_threshold`` and
            ``min_lesion_mm3`` of ``train.json``), scored on the test cases of the shipped loss's runs as the
            operating point ``shipped`` (:func:`evaluate_shipped`; not part of :meth:`fingerprint`).
        num_examples: test cases whose slices are kept for the figures.
        lesion_labels: the label values scored lesion by lesion, each on its own softmax channel, each with its own
            operating point (``result.json``'s ``labels``). Default ``(1,)``.
    """

    thresholds: tuple[float, ...]
    min_sizes_mm3: tuple[float, ...]
    size_bins: tuple[float, ...]
    small_mm3: float
    matching: Matching = "one_to_one"
    brats: str = "BraTS-MET"
    shipped: tuple[float, float] = (0.5, 0.0)
    num_examples: int = 2
    lesion_labels: tuple[int, ...] = (1,)

    def fingerprint(self, run: RunSpec) -> str:
        """Digest of the run's training and of every evaluation setting but ``shipped`` (``result.json``)."""
        return _digest({"training": run.fingerprint,
                        **{k: v for k, v in dataclasses.asdict(self).items() if k != "shipped"}})

    def shipped_fingerprint(self, run: RunSpec) -> str:
        """Digest of :meth:`fingerprint` and ``shipped`` (``shipped.json``)."""
        return _digest({"evaluation": self.fingerprint(run), "shipped": list(self.shipped)})


def _digest(body: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha1(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()


def case_metrics(stats: LesionWiseStats, small_bins: int, **extra: float) -> dict[str, Any]:
    """The per-case values the study reports (NaN where undefined; module doc of ``lesion_metrics``), and
    ``extra`` ones."""
    small_t = sum(stats.bin_targets[:small_bins])
    small_d = sum(stats.bin_detected[:small_bins])
    return {"dice": stats.dice, "lesion_f1": stats.f1, "lesion_sensitivity": stats.sensitivity,
            "lesion_precision": stats.precision, "small_lesion_recall": small_d / small_t if small_t else math.nan,
            "hd95_mm": stats.hd95, "n_target": stats.n_target, "n_detected": stats.n_detected,
            "n_pred": stats.n_pred, "n_pred_tp": stats.n_pred_tp, "bin_targets": list(stats.bin_targets),
            "bin_detected": list(stats.bin_detected), **extra}


def choose_operating_point(grids: list, thresholds: tuple[float, ...], min_sizes_mm3: tuple[float, ...]
                           ) -> tuple[float, float]:
    """The (threshold, minimum size) with the highest mean F1 over the per-case ``grids`` (each thresholds x
    min sizes); ties go to the threshold nearest 0.5, then to the smallest minimum size. No case: (0.5, 0)."""
    if not grids:
        return 0.5, 0.0
    mean = np.mean(np.asarray(grids, dtype=np.float64), axis=0)
    best = max(((mean[i, j], -abs(t - 0.5), -m, t, m) for i, t in enumerate(thresholds)
                for j, m in enumerate(min_sizes_mm3)))
    return float(best[3]), float(best[4])


def _volumes(mask: np.ndarray, label: np.ndarray) -> dict[str, int]:
    """Voxel counts of a binary prediction against its target: predicted, target, the largest predicted component
    and the whole grid."""
    labels, n = connected_components(mask)
    largest = int(np.bincount(labels.reshape(-1), minlength=n + 1)[1:].max()) if n else 0
    return {"pred_voxels": int(mask.sum()), "target_voxels": int(label.sum()), "largest_component_voxels": largest,
            "grid_voxels": int(mask.size)}


def _example(case_id: str, image: np.ndarray, prob: np.ndarray, label: np.ndarray) -> dict[str, np.ndarray]:
    z = int(label.sum(axis=(0, 1)).argmax())
    return {"case": np.array(case_id), "image": image[:, :, z].astype(np.float32),
            "label": label[:, :, z].astype(np.uint8), "prob": prob[:, :, z].astype(np.float16)}


def examples_file(label: int, lesion_labels: tuple[int, ...]) -> str:
    """The name of a run's example slices of ``label``: ``examples.npz`` for the first lesion label."""
    return EXAMPLES_FILE if label == lesion_labels[0] else f"examples_label{label}.npz"


def label_result(result: dict[str, Any], label: int, shipped: dict[str, Any] | None = None) -> dict[str, Any]:
    """One lesion label's view of a ``result.json``: the run's fields with that label's operating point,
    validation F1 grids and test rows; with the run's ``shipped.json`` (:func:`evaluate_shipped`), every test row
    also holds the operating point ``shipped``."""
    view = {**{k: v for k, v in result.items() if k != "labels"}, **result["labels"][str(label)]}
    if shipped is not None:
        rows = shipped["labels"][str(label)]["test"]
        view["test"] = {case: {**row, "shipped": rows[case]} for case, row in view["test"].items()}
    return view


def _point_row(spec: EvalSpec, prob: np.ndarray, label: np.ndarray, spacing: tuple[float, ...],
               point: tuple[float, float]) -> dict[str, Any]:
    """The statistics of one test case of one lesion label at one operating point ``(threshold, min size)``."""
    small_bins = int(np.searchsorted(np.asarray(spec.size_bins), spec.small_mm3, side="left")) + 1
    other: Matching = "any_overlap" if spec.matching != "any_overlap" else "one_to_one"
    mask = lesion_mask(prob, point[0], point[1], spacing)
    stats = lesion_wise_stats(mask, label, spacing=spacing, size_bins=spec.size_bins, matching=spec.matching)
    other_f1 = lesion_wise_stats(mask, label, spacing=spacing, hd95=False, matching=other).f1
    brats = lesion_wise_stats(mask, label, spacing=spacing, matching="brats2023",
                              brats=BRATS2023_CHALLENGES[spec.brats])
    return {**case_metrics(stats, small_bins, **{f"lesion_f1_{other}": other_f1}, **_volumes(mask, label)),
            "brats2023": {"lesion_dice": brats.lesion_dice, "lesion_hd95": brats.lesion_hd95, "f1": brats.f1,
                          "n_target": brats.n_target, "n_detected": brats.n_detected,
                          "n_false_positives": brats.n_pred - brats.n_pred_tp}}


def _test_row(spec: EvalSpec, prob: np.ndarray, label: np.ndarray, spacing: tuple[float, ...],
              tuned: tuple[float, float]) -> dict[str, Any]:
    """One test case of one lesion label: the FROC counts, and the statistics at the fixed and tuned points."""
    sweep = sweep_case(prob, label, spec.thresholds, spacing)
    detected, false_pos = sweep.detection_counts(matching=spec.matching)
    return {"n_target": sweep.n_target, "target_volumes_mm3": sweep.target_volumes_mm3.tolist(),
            "froc_detected": detected.tolist(), "froc_false_positives": false_pos.tolist(),
            "fixed": _point_row(spec, prob, label, spacing, (0.5, 0.0)),
            "tuned": _point_row(spec, prob, label, spacing, tuned)}


def evaluate_run(run: RunSpec, spec: EvalSpec, progress: Callable[[int], None] | None = None) -> Path:
    """Evaluate the finished training run ``run`` (its ``model.pt``) with ``spec``; write and return
    ``run_dir/result.json`` (module doc; one entry of ``labels`` per lesion label, :func:`label_result`).
    ``progress(n)`` is called after every evaluated case. One case's probabilities are held at a time."""
    import time

    step = progress or (lambda n: None)
    run_dir = Path(run.run_dir)
    start = time.perf_counter()
    parser, network = load_network(run)
    labels = spec.lesion_labels
    sweeps: dict[int, dict[str, CaseSweep]] = {v: {} for v in labels}
    for case_id, _, per_label, spacing in predict_cases(parser, network, prepare_split(parser, run, "validation"),
                                                        labels):
        for v, (prob, target) in per_label.items():
            sweeps[v][case_id] = sweep_case(prob, target, spec.thresholds, spacing)
        step(1)
    out: dict[int, dict[str, Any]] = {}
    for v in labels:
        grids = {c: [[s.stats(i, m, matching=spec.matching).f1 for m in spec.min_sizes_mm3]
                     for i in range(len(spec.thresholds))] for c, s in sweeps[v].items()}
        threshold, min_size = choose_operating_point(list(grids.values()), spec.thresholds, spec.min_sizes_mm3)
        out[v] = {"operating_point": {"threshold": threshold, "min_size_mm3": min_size}, "validation_f1": grids,
                  "test": {}}
    del sweeps
    examples: dict[int, dict[str, np.ndarray]] = {v: {} for v in labels}
    for case_id, image, per_label, spacing in predict_cases(parser, network, prepare_split(parser, run, "test"),
                                                            labels):
        for v, (prob, target) in per_label.items():
            op = out[v]["operating_point"]
            out[v]["test"][case_id] = _test_row(spec, prob, target, spacing, (op["threshold"], op["min_size_mm3"]))
            n_ex = len(examples[v]) // 4
            if target.any() and n_ex < spec.num_examples:
                examples[v].update({f"{k}_{n_ex}": x for k, x in _example(case_id, image, prob, target).items()})
        step(1)
    result = {"fingerprint": spec.fingerprint(run), "loss": run.loss, "seed": run.seed,
              "learning_rate": run.learning_rate, "eval_seconds": time.perf_counter() - start,
              "labels": {str(v): out[v] for v in labels}}
    for v in labels:
        def _save_examples(path: Path, ex: dict[str, np.ndarray] = examples[v]) -> None:
            with open(path, "wb") as f:
                np.savez_compressed(f, allow_pickle=False, **ex)

        atomic_write(run_dir / examples_file(v, labels), _save_examples)
    atomic_write(run_dir / RESULT_FILE, lambda p: p.write_text(json.dumps(result, default=float) + "\n"))
    return run_dir / RESULT_FILE


def evaluate_shipped(run: RunSpec, spec: EvalSpec, progress: Callable[[int], None] | None = None) -> Path:
    """Score the bundle's shipped operating point ``spec.shipped`` on the test cases of the finished training run
    ``run``; write and return ``run_dir/shipped.json`` (per lesion label, per test case, the statistics of
    :func:`label_result`'s rows). ``progress(n)`` is called after every case."""
    step = progress or (lambda n: None)
    parser, network = load_network(run)
    rows: dict[int, dict[str, Any]] = {v: {} for v in spec.lesion_labels}
    for case_id, _, per_label, spacing in predict_cases(parser, network, prepare_split(parser, run, "test"),
                                                        spec.lesion_labels):
        for v, (prob, target) in per_label.items():
            rows[v][case_id] = _point_row(spec, prob, target, spacing, spec.shipped)
        step(1)
    body = {"fingerprint": spec.shipped_fingerprint(run),
            "shipped": {"threshold": spec.shipped[0], "min_size_mm3": spec.shipped[1]},
            "labels": {str(v): {"test": rows[v]} for v in spec.lesion_labels}}
    path = Path(run.run_dir) / SHIPPED_FILE
    atomic_write(path, lambda p: p.write_text(json.dumps(body, default=float) + "\n"))
    return path


def _stored(path: Path, fingerprint: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stored if stored.get("fingerprint") == fingerprint else None


def finished_evaluation(run: RunSpec, spec: EvalSpec) -> dict | None:
    """The stored ``result.json`` of ``run`` when it was evaluated with ``spec``, else None."""
    return _stored(Path(run.run_dir) / RESULT_FILE, spec.fingerprint(run))


def finished_shipped(run: RunSpec, spec: EvalSpec) -> dict | None:
    """The stored ``shipped.json`` of ``run`` when it was scored with ``spec`` (its shipped point), else None."""
    return _stored(Path(run.run_dir) / SHIPPED_FILE, spec.shipped_fingerprint(run))
