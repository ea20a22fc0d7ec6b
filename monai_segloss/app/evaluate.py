"""Evaluation of one trained run of the study on its held-out cases, from the run's ``model.pt``.

1. validation: the foreground probability of every validation case is swept over the probability thresholds; the
   operating point (threshold, minimum lesion size) with the highest mean lesion F1 over the validation cases is kept
   (ties: the threshold nearest 0.5, then the smallest minimum size);
2. test: per case, the lesion-wise statistics at the fixed operating point (threshold 0.5, no minimum size: the
   softmax argmax), at the tuned one and at the bundle's shipped one, with the predicted and target volumes and the
   largest predicted component (what tells a degenerate operating point), and the detection counts at every
   threshold (the FROC).

Everything is written to ``run_dir/result.json`` (last, atomically: its presence marks an evaluated run) with
``run_dir/examples.npz`` (slices for the figures). The evaluation has its own fingerprint (the training's and the
evaluation settings), so a changed evaluation re-reads the weights without training again.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.froc import CaseSweep, sweep_case
from ..evaluation.lesion_metrics import LesionWiseStats, Matching, lesion_wise_stats
from ..evaluation.postprocess import lesion_mask
from ..geometry.instances import connected_components
from .training import RunSpec, atomic_write, load_network, predict_cases, prepare_split

__all__ = ["EvalSpec", "evaluate_run", "finished_evaluation", "case_metrics", "choose_operating_point",
           "RESULT_FILE", "EXAMPLES_FILE"]

RESULT_FILE = "result.json"
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
        shipped: the bundle's shipped operating point ``(threshold, minimum size in mm³)`` (``lesion_threshold`` and
            ``min_lesion_mm3`` of ``train.json``), evaluated on the test cases as the operating point ``shipped``.
        num_examples: test cases whose slices are kept for the figures.
    """

    thresholds: tuple[float, ...]
    min_sizes_mm3: tuple[float, ...]
    size_bins: tuple[float, ...]
    small_mm3: float
    matching: Matching = "one_to_one"
    shipped: tuple[float, float] = (0.5, 0.0)
    num_examples: int = 2

    def fingerprint(self, run: RunSpec) -> str:
        import hashlib

        body = {"training": run.fingerprint, **dataclasses.asdict(self)}
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


def evaluate_run(run: RunSpec, spec: EvalSpec, progress: Callable[[int], None] | None = None) -> Path:
    """Evaluate the finished training run ``run`` (its ``model.pt``) with ``spec``; write and return
    ``run_dir/result.json`` (module doc). ``progress(n)`` is called after every evaluated case."""
    import time

    step = progress or (lambda n: None)
    run_dir = Path(run.run_dir)
    start = time.perf_counter()
    parser, network = load_network(run)
    sweeps: dict[str, CaseSweep] = {}
    for case_id, _, prob, label, spacing in predict_cases(parser, network, prepare_split(parser, run, "validation")):
        sweeps[case_id] = sweep_case(prob, label, spec.thresholds, spacing)
        step(1)
    val_grids = {c: [[s.stats(i, m, matching=spec.matching).f1 for m in spec.min_sizes_mm3]
                     for i in range(len(spec.thresholds))] for c, s in sweeps.items()}
    threshold, min_size = choose_operating_point(list(val_grids.values()), spec.thresholds, spec.min_sizes_mm3)
    small_bins = int(np.searchsorted(np.asarray(spec.size_bins), spec.small_mm3, side="left")) + 1
    test: dict[str, Any] = {}
    examples: dict[str, np.ndarray] = {}
    for case_id, image, prob, label, spacing in predict_cases(parser, network, prepare_split(parser, run, "test")):
        sweep = sweep_case(prob, label, spec.thresholds, spacing)
        detected, false_pos = sweep.detection_counts(matching=spec.matching)
        row: dict[str, Any] = {"n_target": sweep.n_target, "target_volumes_mm3": sweep.target_volumes_mm3.tolist(),
                               "froc_detected": detected.tolist(), "froc_false_positives": false_pos.tolist()}
        for name, (t, m) in (("fixed", (0.5, 0.0)), ("tuned", (threshold, min_size)), ("shipped", spec.shipped)):
            mask = lesion_mask(prob, t, m, spacing)
            other: Matching = "any_overlap" if spec.matching == "one_to_one" else "one_to_one"
            stats = lesion_wise_stats(mask, label, spacing=spacing, size_bins=spec.size_bins, matching=spec.matching)
            other_f1 = lesion_wise_stats(mask, label, spacing=spacing, hd95=False, matching=other).f1
            row[name] = case_metrics(stats, small_bins, **{f"lesion_f1_{other}": other_f1}, **_volumes(mask, label))
        test[case_id] = row
        n_ex = len(examples) // 4
        if label.any() and n_ex < spec.num_examples:
            examples.update({f"{k}_{n_ex}": v for k, v in _example(case_id, image, prob, label).items()})
        step(1)
    result = {"fingerprint": spec.fingerprint(run), "loss": run.loss, "seed": run.seed,
              "learning_rate": run.learning_rate, "eval_seconds": time.perf_counter() - start,
              "operating_point": {"threshold": threshold, "min_size_mm3": min_size},
              "validation_f1": val_grids, "test": test}

    def _save_examples(path: Path) -> None:
        with open(path, "wb") as f:
            np.savez_compressed(f, allow_pickle=False, **examples)

    atomic_write(run_dir / EXAMPLES_FILE, _save_examples)
    atomic_write(run_dir / RESULT_FILE, lambda p: p.write_text(json.dumps(result, default=float) + "\n"))
    return run_dir / RESULT_FILE


def finished_evaluation(run: RunSpec, spec: EvalSpec) -> dict | None:
    """The stored ``result.json`` of ``run`` when it was evaluated with ``spec``, else None."""
    path = Path(run.run_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("fingerprint") == spec.fingerprint(run) else None
