"""One training run of the study: the lesion bundle trained with one loss, one learning rate and one seed.

A run reads the bundle's ``train.json`` plus the loss's override file ``configs/<loss>.json`` (the configuration the
study ran is the file the bundle ships), trains on the seed's training split for the whole budget (the polynomial
learning-rate schedule of ``train.json`` ends with the budget) and keeps the final weights. It evaluates its
validation cases every ``val_every`` epochs — the learning curve — without touching the training: no random number
is drawn, the network is switched to ``eval()`` and back.

Curve point: the sliding-window foreground probability of every validation case, binarised at each of
:data:`CURVE_THRESHOLDS`, matched lesion by lesion (:func:`~monai_segloss.evaluation.froc.sweep_case`); the per-case
lesion F1 at every threshold and the voxel Dice at 0.5 are kept.

Files, in ``run_dir`` (``training.json`` last, atomically: its presence marks a finished run):

- ``model.pt``: the final weights (``state_dict`` of the bundle's ``network``);
- ``training.json``: the fingerprint and settings, the training loss per epoch, the curve and the run's timing.

Evaluation on the held-out cases reads ``model.pt`` again (:mod:`monai_segloss.app.evaluate`), so it can be redone
without training.
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

from ..evaluation.froc import sweep_case
from ..evaluation.lesion_metrics import Matching

__all__ = ["RunSpec", "train_run", "load_network", "predict_cases", "atomic_write", "CURVE_THRESHOLDS",
           "TRAINING_FILE", "MODEL_FILE", "QUIET_LOGGING", "QUIET_LOGGERS"]

TRAINING_FILE = "training.json"
MODEL_FILE = "model.pt"
CURVE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# loggers that print INFO lines during a bundle run: the root, ignite's, MONAI's StatsHandler and bundle workflow
QUIET_LOGGERS = ("", "ignite", "monai.handlers.StatsHandler", "monai.bundle.workflows")
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
    """Everything one training run needs (plain values, picklable).

    Attributes:
        loss: registry key; the bundle's ``configs/<loss>.json`` overrides its loss.
        seed: the run's seed (network initialisation and sampling; the split was made from it).
        learning_rate: the AdamW learning rate at the start of the polynomial schedule.
        bundle_dir: the lesion bundle's folder.
        data_dir: the data set folder (``imagesTr``/``labelsTr``).
        split_file: the seed's MSD-style datalist (``training``/``validation``/``test``).
        run_dir: where the files are written.
        logging_file: a logging configuration for the bundle workflow.
        fingerprint: identifies the run's inputs; a stored run with another fingerprint is redone.
        overrides: bundle config overrides (budget, network, spacing), the same for every loss.
        val_every: epochs between two curve points (the last epoch is always one).
        matching: the lesion matching rule of the curve's lesion F1.
        compile: train through ``torch.compile`` (the trainer's ``compile`` option; the same weights and
            arithmetic, fused kernels). Default True.
        lesion_labels: the label values scored lesion by lesion (each on its own softmax channel); the curve's
            lesion F1 of a case is their mean. Default ``(1,)``.
    """

    loss: str
    seed: int
    learning_rate: float
    bundle_dir: str
    data_dir: str
    split_file: str
    run_dir: str
    logging_file: str
    fingerprint: str
    overrides: tuple[tuple[str, Any], ...]
    val_every: int
    matching: Matching = "one_to_one"
    compile: bool = True
    lesion_labels: tuple[int, ...] = (1,)

    @property
    def epochs(self) -> int:
        return int(dict(self.overrides)["max_epochs"])

    @property
    def steps_per_epoch(self) -> int:
        split = json.loads(Path(self.split_file).read_text())
        return math.ceil(len(split["training"]) / int(dict(self.overrides)["batch_size"]))

    @property
    def curve_epochs(self) -> list[int]:
        """The epochs after which the validation cases are evaluated."""
        return sorted({*range(self.val_every, self.epochs + 1, self.val_every), self.epochs})

    @property
    def label(self) -> str:
        return f"{self.loss} lr{self.learning_rate:g} s{self.seed}"


class _CompiledForward(torch.nn.Module):
    """``network`` through ``torch.compile``, fed plain tensors (a MetaTensor batch would break the graph; MONAI
    1.6.1's own ``compile`` option fails to restore the batch's metadata after the forward pass)."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network
        self._compiled = torch.compile(network)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from monai.data import MetaTensor

        return self._compiled(x.as_tensor() if isinstance(x, MetaTensor) else x)


def bundle_config(spec: RunSpec, **extra: Any) -> dict[str, Any]:
    """The arguments of ``ConfigWorkflow`` for the run's bundle configuration (train.json + the loss override)."""
    bundle = Path(spec.bundle_dir)
    override = bundle / "configs" / f"{spec.loss}.json"
    if not override.is_file():
        raise ValueError(f"the bundle has no override file for loss {spec.loss!r}: configs/{spec.loss}.json")
    return {"config_file": [str(bundle / "configs" / "train.json"), str(override)],
            "meta_file": str(bundle / "configs" / "metadata.json"), "logging_file": spec.logging_file,
            "workflow_type": "train", "bundle_root": str(bundle), "dataset_dir": spec.data_dir,
            "datalist_file": spec.split_file, "ckpt_dir": str(Path(spec.run_dir) / "models"),
            "output_dir": str(Path(spec.run_dir) / "eval"), "seed": spec.seed,
            "train#dataset#progress": False, "validate#dataset#progress": False,
            **dict(spec.overrides), "learning_rate": spec.learning_rate, **extra}


def _parser(spec: RunSpec):
    """The run's bundle configuration, parsed lazily (nothing is instantiated until asked for)."""
    from monai.bundle import ConfigParser

    kw = bundle_config(spec)
    parser = ConfigParser()
    parser.read_config(kw.pop("config_file"))
    kw.pop("meta_file"), kw.pop("logging_file"), kw.pop("workflow_type")
    parser.update(kw)
    return parser


def load_network(spec: RunSpec) -> tuple[Any, torch.nn.Module]:
    """The run's parsed configuration and its network with the final weights of ``model.pt``."""
    parser = _parser(spec)
    network = parser.get_parsed_content("network")
    state = torch.load(Path(spec.run_dir) / MODEL_FILE, map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    return parser, network


def _prepare(parser, cases: list[dict]) -> list[tuple[str, Any, np.ndarray, tuple[float, ...]]]:
    """(case id, preprocessed image, label map, spacing) of every case, on the network's grid."""
    preprocessing = parser.get_parsed_content("validate#preprocessing")
    out = []
    for case in cases:
        data = preprocessing(dict(case))
        pixdim = data["image"].pixdim
        spacing = tuple(float(v) for v in (pixdim.tolist() if isinstance(pixdim, torch.Tensor) else pixdim))
        label = np.rint(data["label"][0].cpu().numpy()).astype(np.int16)
        out.append((Path(case["label"]).name.split(".")[0], data["image"], label, spacing[:3]))
    return out


def predict_cases(parser, network: torch.nn.Module, prepared: list[tuple[str, Any, np.ndarray, tuple[float, ...]]],
                  lesion_labels: tuple[int, ...] = (1,)
                  ) -> Iterator[tuple[str, np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]], tuple[float, ...]]]:
    """(case id, image's first channel, {lesion label: (its softmax probability, its binary target)}, spacing) of
    every prepared case, inferred on the network's device (with the configuration's ``amp``); the network in
    ``eval()``, restored to its mode after the last case."""
    inferer = parser.get_parsed_content("validate#inferer")
    amp = bool(parser.get_parsed_content("amp"))
    device = next(network.parameters()).device
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad(), torch.autocast(device.type, enabled=amp):
            for case_id, image, label, spacing in prepared:
                logits = inferer(image.unsqueeze(0).to(device), network)
                prob = torch.softmax(logits.float(), dim=1)[0]
                per_label = {v: (prob[v].cpu().numpy(), label == v) for v in lesion_labels}
                yield case_id, image[0].cpu().numpy(), per_label, spacing
    finally:
        network.train(was_training)


def prepare_split(parser, spec: RunSpec, split: str) -> list[tuple[str, Any, np.ndarray, tuple[float, ...]]]:
    from monai.data import load_decathlon_datalist

    return _prepare(parser, load_decathlon_datalist(spec.split_file, True, split, base_dir=spec.data_dir))


def curve_point(parser, network: torch.nn.Module, prepared: list, matching: Matching,
                lesion_labels: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """Per validation case: lesion F1 at every curve threshold, voxel Dice at 0.5 (for several lesion labels, the
    mean over the labels)."""
    f1: dict[str, list[float]] = {}
    dice: dict[str, float] = {}
    i_half = CURVE_THRESHOLDS.index(0.5)
    for case_id, _, per_label, spacing in predict_cases(parser, network, prepared, lesion_labels):
        f1s, dices = [], []
        for prob, target in per_label.values():
            sweep = sweep_case(prob, target, CURVE_THRESHOLDS, spacing)
            rows = [sweep.stats(i, matching=matching) for i in range(len(CURVE_THRESHOLDS))]
            f1s.append([r.f1 for r in rows])
            dices.append(rows[i_half].dice)
        f1[case_id] = f1s[0] if len(f1s) == 1 else _nanmean(f1s, axis=0).tolist()
        dice[case_id] = dices[0] if len(dices) == 1 else float(_nanmean(dices))
    return {"f1": f1, "dice": dice}


def _nanmean(values: list, axis: int | None = None) -> np.ndarray:
    """Mean over the finite values (NaN where none is: a label absent from a case and from its prediction)."""
    a = np.asarray(values, dtype=np.float64)
    n = np.isfinite(a).sum(axis=axis)
    return np.where(n > 0, np.nansum(a, axis=axis) / np.maximum(n, 1), np.nan)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then rename ``tmp`` to ``path`` (a reader never sees a half-written file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def train_run(spec: RunSpec, progress: Callable[[int], None] | None = None) -> Path:
    """Train one (loss, learning rate, seed) for the whole budget with its learning curve; write ``model.pt`` and
    ``training.json`` (module doc) and return the latter's path.

    ``progress(n)`` is called after every training iteration and every curve point's case.
    """
    from ignite.engine import Events
    from monai.bundle import ConfigWorkflow
    from monai.data import set_track_meta

    step = progress or (lambda n: None)
    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # the study drives the trainer itself: no checkpoints, no validation by the bundle's handler
    wf = ConfigWorkflow(**bundle_config(spec), run=["$@train#trainer.run()"])
    wf.initialize()
    trainer = wf.parser.get_parsed_content("train#trainer")
    network = wf.parser.get_parsed_content("network")
    if spec.compile:
        trainer.network = _CompiledForward(network)
    for logger in (trainer.logger, *map(logging.getLogger, QUIET_LOGGERS)):
        logger.setLevel(logging.WARNING)
    prepared = prepare_split(wf.parser, spec, "validation")
    epoch_losses: list[float] = []
    running: list[float] = []
    curve: list[dict[str, Any]] = []
    timing = {"validation_seconds": 0.0}
    curve_epochs = set(spec.curve_epochs)

    @trainer.on(Events.ITERATION_COMPLETED)
    def _record(engine) -> None:
        out = engine.state.output
        running.append(float((out[0] if isinstance(out, list) else out)["loss"]))
        step(1)

    @trainer.on(Events.EPOCH_COMPLETED)
    def _epoch(engine) -> None:
        epoch_losses.append(float(np.mean(running)))
        running.clear()
        if engine.state.epoch in curve_epochs:
            start = time.perf_counter()
            point = curve_point(wf.parser, network, prepared, spec.matching, spec.lesion_labels)
            curve.append({"epoch": engine.state.epoch, "iteration": engine.state.iteration, **point})
            timing["validation_seconds"] += time.perf_counter() - start
            step(len(prepared))

    start = time.perf_counter()
    # the cached cases carry their metadata; the random transforms after the cache need none, and tracking it (every
    # crop, flip and intensity change recorded on a MetaTensor) cost two thirds of the data time (benchmarks/
    # bench_train_step.py): the same values, computed without it
    set_track_meta(False)
    try:
        wf.run()
    finally:
        set_track_meta(True)
    total = time.perf_counter() - start
    iterations = int(trainer.state.iteration)
    wf.finalize()
    record = {"fingerprint": spec.fingerprint, "loss": spec.loss, "seed": spec.seed,
              "learning_rate": spec.learning_rate, "epochs": spec.epochs, "iterations": iterations,
              "train_seconds": total - timing["validation_seconds"],
              "validation_seconds": timing["validation_seconds"], "curve_thresholds": list(CURVE_THRESHOLDS),
              "matching": spec.matching, "train_loss_per_epoch": epoch_losses, "curve": curve}
    for unused in ("models", "eval"):  # the bundle's checkpoint and output folders: the study writes neither
        if (run_dir / unused).is_dir() and not any((run_dir / unused).iterdir()):
            (run_dir / unused).rmdir()
    atomic_write(run_dir / MODEL_FILE, lambda p: torch.save(network.state_dict(), p))
    atomic_write(run_dir / TRAINING_FILE, lambda p: p.write_text(json.dumps(record, default=float) + "\n"))
    return run_dir / TRAINING_FILE


def finished_training(spec: RunSpec) -> dict | None:
    """The stored ``training.json`` of ``spec`` when it is finished with the same fingerprint, else None."""
    path = Path(spec.run_dir) / TRAINING_FILE
    if not path.is_file() or not (Path(spec.run_dir) / MODEL_FILE).is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("fingerprint") == spec.fingerprint else None
