"""One run of the study: train the lesion bundle with one loss from one seed, then evaluate it.

A run is self-contained (it may execute in a worker process): it reads the bundle's ``train.json`` plus the loss's
override file, trains on the seed's training split, and evaluates the final weights on the seed's validation and
test cases:

1. validation: the foreground probability of every case is swept over the probability thresholds; the operating
   point (threshold, minimum lesion size) with the highest mean lesion F1 over the validation cases is kept (ties:
   the threshold nearest 0.5, then the smallest minimum size);
2. test: per case, the lesion-wise statistics at the fixed operating point (threshold 0.5, no minimum size: the
   softmax argmax) and at the tuned one, and the detection counts at every threshold (the FROC).

Everything is written to ``run_dir/result.json`` (last, atomically: its presence marks a finished run) with
``run_dir/examples.npz`` (slices for the figures).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..evaluation.froc import CaseSweep, sweep_case
from ..evaluation.lesion_metrics import LesionWiseStats, Matching, lesion_wise_stats
from ..evaluation.postprocess import lesion_mask

__all__ = ["RunSpec", "execute_run", "case_metrics", "choose_operating_point", "QUIET_LOGGING", "QUIET_LOGGERS",
           "RESULT_FILE",
           "EXAMPLES_FILE"]

RESULT_FILE = "result.json"
# loggers that print INFO lines during a bundle run: the root, ignite's, MONAI's StatsHandler and bundle workflow
QUIET_LOGGERS = ("", "ignite", "monai.handlers.StatsHandler", "monai.bundle.workflows")
EXAMPLES_FILE = "examples.npz"
# the bundle's logging.conf prints every iteration at INFO; the study hands the workflow this one instead (warnings
# only), which also avoids MONAI's "Logging file is set to False" warning of logging_file=False
QUIET_LOGGING = """[loggers]
keys=root

[handlers]
keys=console

[formatters]
keys=plain

[logger_root]
level=WARNING
handlers=console

[handler_console]
class=StreamHandler
level=WARNING
formatter=plain
args=(sys.stderr,)

[formatter_plain]
format=%(levelname)s %(name)s: %(message)s
"""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything one run needs (plain values, picklable).

    Attributes:
        loss: registry key; the bundle's ``configs/<loss>.json`` overrides its loss.
        seed: the run's seed (network initialisation and sampling; the split was made from it).
        bundle_dir: the lesion bundle's folder.
        data_dir: the data set folder (``imagesTr``/``labelsTr``).
        split_file: the seed's MSD-style datalist (``training``/``validation``/``test``).
        run_dir: where the result is written.
        logging_file: a logging configuration for the bundle workflow.
        fingerprint: identifies the run's inputs; a stored result with another fingerprint is redone.
        overrides: bundle config overrides (budget, network, spacing).
        thresholds: the probability thresholds of the sweep (increasing, 0.5 among them).
        min_sizes_mm3: the minimum lesion sizes tried on validation.
        size_bins: lesion volume bin edges in mm³ (recall by size).
        small_mm3: lesions below this volume are "small".
        matching: the lesion matching rule of the lesion-wise metrics and the FROC (``lesion_metrics``).
        num_examples: test cases whose slices are kept for the figures.
    """

    loss: str
    seed: int
    bundle_dir: str
    data_dir: str
    split_file: str
    run_dir: str
    logging_file: str
    fingerprint: str
    overrides: tuple[tuple[str, Any], ...]
    thresholds: tuple[float, ...]
    min_sizes_mm3: tuple[float, ...]
    size_bins: tuple[float, ...]
    small_mm3: float
    matching: Matching = "one_to_one"
    num_examples: int = 2

    @property
    def steps_per_epoch(self) -> int:
        split = json.loads(Path(self.split_file).read_text())
        return math.ceil(len(split["training"]) / int(dict(self.overrides)["batch_size"]))


def _workflow(spec: RunSpec):
    from monai.bundle import ConfigWorkflow

    bundle = Path(spec.bundle_dir)
    override = bundle / "configs" / f"{spec.loss}.json"
    if not override.is_file():
        raise ValueError(f"the bundle has no override file for loss {spec.loss!r}: configs/{spec.loss}.json")
    overrides: dict[str, Any] = {"train#dataset#progress": False, "validate#dataset#progress": False,
                                 **dict(spec.overrides)}
    wf = ConfigWorkflow(config_file=[str(bundle / "configs" / "train.json"), str(override)],
                        meta_file=str(bundle / "configs" / "metadata.json"), logging_file=spec.logging_file,
                        workflow_type="train", bundle_root=str(bundle), dataset_dir=spec.data_dir,
                        datalist_file=spec.split_file, ckpt_dir=str(Path(spec.run_dir) / "models"),
                        output_dir=str(Path(spec.run_dir) / "eval"), seed=spec.seed,
                        # the study drives the trainer itself: no checkpoints, no validation during training
                        run=["$@train#trainer.run()"], **overrides)
    wf.initialize()
    return wf


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


def _predict(parser, cases: list[dict]) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray, tuple[float, ...]]]:
    """(case id, image, lesion probability, label, spacing) for every case, on the preprocessed grid."""
    network = parser.get_parsed_content("network")
    preprocessing = parser.get_parsed_content("validate#preprocessing")
    inferer = parser.get_parsed_content("validate#inferer")
    network.eval()
    with torch.no_grad():
        for case in cases:
            data = preprocessing(dict(case))
            logits = inferer(data["image"].unsqueeze(0), network)
            prob = torch.softmax(logits.float(), dim=1)[0, 1].cpu().numpy()
            label = data["label"][0].cpu().numpy() > 0.5
            pixdim = data["image"].pixdim
            spacing = tuple(float(v) for v in (pixdim.tolist() if isinstance(pixdim, torch.Tensor) else pixdim))
            yield (Path(case["label"]).name.split(".")[0], data["image"][0].cpu().numpy(), prob, label,
                   spacing[:3])


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


def _example(case_id: str, image: np.ndarray, prob: np.ndarray, label: np.ndarray) -> dict[str, np.ndarray]:
    z = int(label.sum(axis=(0, 1)).argmax())
    return {"case": np.array(case_id), "image": image[:, :, z].astype(np.float32),
            "label": label[:, :, z].astype(np.uint8), "prob": prob[:, :, z].astype(np.float16)}


def _write_text(path: Path, text: str) -> None:
    path.write_text(text)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def execute_run(spec: RunSpec, progress: Callable[[int], None] | None = None) -> Path:
    """Train and evaluate one (loss, seed); write and return ``run_dir/result.json``.

    ``progress(n)`` is called after every training iteration and every evaluated case.
    """
    from ignite.engine import Events
    from monai.data import load_decathlon_datalist

    step = progress or (lambda n: None)
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    wf = _workflow(spec)
    trainer = wf.parser.get_parsed_content("train#trainer")
    # the bundle's StatsHandlers log every iteration at INFO: hold their loggers (and the engines') at WARNING, so
    # that no line comes between the progress bars
    for logger in (trainer.logger, wf.parser.get_parsed_content("validate#evaluator").logger,
                   *map(logging.getLogger, QUIET_LOGGERS)):
        logger.setLevel(logging.WARNING)
    losses: list[tuple[int, float]] = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def _record(engine) -> None:
        out = engine.state.output
        losses.append((engine.state.iteration, float((out[0] if isinstance(out, list) else out)["loss"])))
        step(1)

    start = time.perf_counter()
    wf.run()
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    val_cases = load_decathlon_datalist(spec.split_file, True, "validation", base_dir=spec.data_dir)
    test_cases = load_decathlon_datalist(spec.split_file, True, "test", base_dir=spec.data_dir)
    sweeps: dict[str, CaseSweep] = {}
    for case_id, _, prob, label, spacing in _predict(wf.parser, val_cases):
        sweeps[case_id] = sweep_case(prob, label, spec.thresholds, spacing)
        step(1)
    val_grids = {c: [[s.stats(i, m, matching=spec.matching).f1 for m in spec.min_sizes_mm3]
                     for i in range(len(spec.thresholds))] for c, s in sweeps.items()}
    threshold, min_size = choose_operating_point(list(val_grids.values()), spec.thresholds, spec.min_sizes_mm3)
    small_bins = int(np.searchsorted(np.asarray(spec.size_bins), spec.small_mm3, side="left")) + 1
    test: dict[str, Any] = {}
    examples: dict[str, np.ndarray] = {}
    for case_id, image, prob, label, spacing in _predict(wf.parser, test_cases):
        sweep = sweep_case(prob, label, spec.thresholds, spacing)
        detected, false_pos = sweep.detection_counts(matching=spec.matching)
        row: dict[str, Any] = {"n_target": sweep.n_target, "target_volumes_mm3": sweep.target_volumes_mm3.tolist(),
                               "froc_detected": detected.tolist(), "froc_false_positives": false_pos.tolist()}
        for name, (t, m) in (("fixed", (0.5, 0.0)), ("tuned", (threshold, min_size))):
            mask = lesion_mask(prob, t, m, spacing)
            other: Matching = "any_overlap" if spec.matching == "one_to_one" else "one_to_one"
            stats = lesion_wise_stats(mask, label, spacing=spacing, size_bins=spec.size_bins, matching=spec.matching)
            other_f1 = lesion_wise_stats(mask, label, spacing=spacing, hd95=False, matching=other).f1
            row[name] = case_metrics(stats, small_bins, **{f"lesion_f1_{other}": other_f1})
        test[case_id] = row
        n_ex = len(examples) // 4
        if label.any() and n_ex < spec.num_examples:
            examples.update({f"{k}_{n_ex}": v for k, v in _example(case_id, image, prob, label).items()})
        step(1)
    wf.finalize()
    result = {"fingerprint": spec.fingerprint, "loss": spec.loss, "seed": spec.seed,
              "train_seconds": train_seconds, "eval_seconds": time.perf_counter() - start,
              "train_loss": losses,
              "operating_point": {"threshold": threshold, "min_size_mm3": min_size},
              "validation_f1": val_grids, "test": test}
    def _save_examples(path: Path) -> None:
        with open(path, "wb") as f:
            np.savez_compressed(f, allow_pickle=False, **examples)

    _atomic_write(run_dir / EXAMPLES_FILE, _save_examples)
    _atomic_write(run_dir / RESULT_FILE, lambda p: _write_text(p, json.dumps(result, default=float) + "\n"))
    return run_dir / RESULT_FILE
