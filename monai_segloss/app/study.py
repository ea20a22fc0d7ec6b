"""The small-lesion study: ``monai-segloss study`` (and ``make demo``, its default setting).

L losses × S seeds train the same network (the ``lesion_focal_tversky`` bundle, its loss swapped by the bundle's
override files ``configs/<loss>.json``, each loss as its authors configured it) with the same budget on the same
data: white-matter lesions in real brain anatomy (``data_scripts/synthetic.py``, task ``brain``; generated once and
cached). The data set holds a fixed test set, never used for training or tuning and the same for every seed; a seed
fixes the split of the remaining cases into training / validation and the network's initialisation and sampling,
identically for every loss, so every loss is evaluated on the same (seed, case) units.

The protocol (:func:`run_study`):

1. **learning rate per loss**: on the seed ``lr_seed``, every loss trains once per learning rate of ``lr_grid``;
   each loss keeps the rate whose final network has the highest validation lesion F1 (mean over the validation
   cases, at the best threshold of :data:`~monai_segloss.app.training.CURVE_THRESHOLDS`). A loss with a rate in
   ``learning_rates`` skips the grid.
2. **training**: every (loss, seed) at its rate, for the whole budget, with its validation learning curve
   (:func:`monai_segloss.app.training.train_run`); the ``lr_seed`` runs of step 1 are reused.
3. **evaluation** of the final weights on the validation cases (operating point) and the test cases
   (:func:`monai_segloss.app.evaluate.evaluate_run`).
4. **statistics and report** (:mod:`monai_segloss.app.analysis`, :mod:`monai_segloss.app.report`).

Runs execute in a pool of worker processes (``workers``; each with ``cpu_count // workers`` torch threads). A run is
stored when it finishes, under a fingerprint of everything its training depends on (data, split, the training
sections of the bundle configuration and the override file, budget, network, learning rate, seed):
``<runs>/<loss>-lr<rate>-seed<s>-<fingerprint>/`` holds ``model.pt`` and ``training.json``, and ``result.json`` once
evaluated (with a fingerprint of its own: a changed evaluation re-reads the weights without training). A study that
is stopped (Ctrl-C, killed) and started again skips every finished run, and so does another setting that holds the
same run; a changed input is a new fingerprint, so a stale result is never reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..evaluation.froc import DENSE_THRESHOLDS
from ..evaluation.lesion_metrics import Matching
from .evaluate import EvalSpec, evaluate_run, finished_evaluation
from .training import CURVE_THRESHOLDS, QUIET_LOGGERS, QUIET_LOGGING, RunSpec, finished_training, train_run

__all__ = ["StudySetting", "SETTINGS", "DEFAULT_LOSSES", "FULL_LOSSES", "run_study", "quiet_libraries",
           "choose_learning_rate", "next_rate"]

BUNDLE = "lesion_focal_tversky"
FULL_LOSSES = ("dice", "dice_ce", "dice_topk", "dice_focal", "unified_focal", "focal_tversky", "tversky", "focal",
               "blob", "boundary")
DEFAULT_LOSSES = ("dice", "dice_ce")
BASELINE = "dice"
# the learning rates the demo trains with: those the full setting chose on seed 0's validation cases (final
# validation lesion F1, docs/study/full/runs: dice 0.941 / 0.941 / 0.821 at 1e-3 / 3e-3 / 1e-2, chose 3e-3;
# dice_ce 0.862 / 0.772 / 0.932, chose 1e-2)
DEMO_LEARNING_RATES = (("dice", 3e-3), ("dice_ce", 1e-2))
# the sections of train.json that decide what a run trains and how it is evaluated: the run's fingerprint reads
# these, the loss override file whole and the study's own overrides (budget, batch, network size), so paths,
# checkpoints, logging and the bundle's default loss may change without invalidating finished runs
TRAINING_KEYS = ("network_def", "optimizer", "lr_scheduler", "intensity_norm", "train#deterministic_transforms",
                 "train#random_transforms", "train#class_indices", "train#preprocessing", "train#inferer",
                 "validate#preprocessing", "validate#inferer")


@dataclasses.dataclass(frozen=True)
class StudySetting:
    """Losses, seeds, data, network and budget of a study (the same for every loss).

    Attributes:
        name: the setting's name (``quick``, ``default``, ``full`` or a custom one).
        losses: registry keys; each needs the bundle override file ``configs/<key>.json``. The first is the
            baseline of the paired comparisons when ``dice`` is absent.
        seeds: training seeds (each fixes a training/validation split and an initialisation).
        num_cases: cases of the synthetic data set.
        test_cases: of which held out for test, the same for every seed.
        spacing: isotropic voxel size of the data in mm.
        data_seed: seed of the data set itself (the same cases and test set for every training seed).
        val_frac: fraction of the non-test cases for validation (curves, learning rate, operating point), per seed.
        channels: U-Net channels per level (strides 2).
        res_units: residual units per U-Net level.
        patch: training patch (and sliding-window) size in voxels.
        batch_size: cases per batch; each gives ``num_samples`` patches.
        num_samples: patches per case and iteration.
        epochs: training epochs (the budget; the learning rate decays polynomially to 0 at its end).
        val_points: points of the validation learning curve (evenly spaced epochs, the last one included).
        lr_grid: AdamW learning rates tried per loss on ``lr_seed``.
        lr_seed: the seed whose validation cases choose the learning rate.
        lr_extend: how many times a loss that chooses the smallest or largest rate of its grid tries the next rate
            beyond it (:func:`next_rate`).
        learning_rates: ``(loss, rate)`` pairs fixed beforehand (those losses skip the grid).
        compile: train through ``torch.compile``.
        overlap: sliding-window overlap at evaluation.
        thresholds: probability thresholds of the sweep (FROC and operating point); must hold 0.5. Default: the
            dense grid :data:`~monai_segloss.evaluation.froc.DENSE_THRESHOLDS` (121 levels).
        min_sizes_mm3: minimum lesion sizes tried on validation; must start with 0.
        size_bins: lesion volume bin edges (mm³) of the recall by size; must hold ``small_mm3``.
        small_mm3: lesions below this volume are small.
        n_boot: bootstrap replicates of the intervals.
        matching: lesion matching of the lesion-wise metrics, the FROC and the operating point: ``"one_to_one"``
            (greedy one-to-one by voxel overlap: a component that merges lesions is credited once) or
            ``"any_overlap"`` (ISLES 2022, which credits a component covering the whole brain with every lesion).
            The per-case F1 under the other rule is kept in ``metrics.json``.
        data: further :class:`data_scripts.brain.BrainParams` fields.
    """

    name: str
    losses: tuple[str, ...] = DEFAULT_LOSSES
    seeds: tuple[int, ...] = (0, 1, 2)
    num_cases: int = 80
    test_cases: int = 40
    spacing: float = 2.0
    data_seed: int = 0
    val_frac: float = 0.25
    channels: tuple[int, ...] = (8, 16, 32, 64)
    res_units: int = 0
    patch: tuple[int, int, int] = (32, 32, 32)
    batch_size: int = 2
    num_samples: int = 4
    epochs: int = 800
    val_points: int = 16
    lr_grid: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    lr_seed: int = 0
    lr_extend: int = 1
    learning_rates: tuple[tuple[str, float], ...] = ()
    compile: bool = True
    overlap: float = 0.25
    thresholds: tuple[float, ...] = DENSE_THRESHOLDS
    min_sizes_mm3: tuple[float, ...] = (0.0, 10.0, 20.0, 40.0)
    size_bins: tuple[float, ...] = (50.0, 100.0, 500.0)
    small_mm3: float = 100.0
    n_boot: int = 2000
    matching: Matching = "one_to_one"
    data: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not self.losses or len(set(self.losses)) != len(self.losses):
            raise ValueError(f"losses must be distinct registry keys, got {self.losses!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(int(s) < 0 for s in self.seeds):
            raise ValueError(f"seeds must be distinct integers >= 0, got {self.seeds!r}")
        if not 0 < self.test_cases < self.num_cases - 1:
            raise ValueError(f"test_cases must leave at least 2 cases for training and validation, got "
                             f"{self.test_cases} of {self.num_cases}")
        if not self.lr_grid or any(not (r > 0 and math.isfinite(r)) for r in self.lr_grid):
            raise ValueError(f"lr_grid must hold positive learning rates, got {self.lr_grid!r}")
        if self.lr_seed not in self.seeds:
            raise ValueError(f"lr_seed {self.lr_seed} must be one of the seeds {self.seeds}")
        if not 1 <= self.val_points <= self.epochs:
            raise ValueError(f"val_points must be in [1, epochs], got {self.val_points}")
        if 0.5 not in self.thresholds or list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError("thresholds must be increasing and hold 0.5")
        if not self.min_sizes_mm3 or self.min_sizes_mm3[0] != 0.0:
            raise ValueError("min_sizes_mm3 must start with 0")
        if self.small_mm3 not in self.size_bins:
            raise ValueError("size_bins must hold small_mm3")

    @property
    def baseline(self) -> str:
        return BASELINE if BASELINE in self.losses else self.losses[0]

    @property
    def val_every(self) -> int:
        return max(1, self.epochs // self.val_points)

    def data_kwargs(self) -> dict[str, Any]:
        """Arguments of ``data_scripts.synthetic.ensure_generated`` (the data set, whatever the training seeds): the
        data set's own split holds the fixed test set; its other cases are split again by every seed."""
        return {"task": "brain", "num_cases": self.num_cases, "seed": self.data_seed, "spacing": self.spacing,
                "val_frac": 0.0, "test_frac": self.test_cases / self.num_cases, **dict(self.data)}

    def data_tag(self) -> str:
        """Cache folder name of the data set: a digest of every generator parameter, defaults included (a changed
        data setting or generator default never meets a stale cache). """
        from ..data_scripts.brain import BrainParams

        kw = {**self.data_kwargs(), **dataclasses.asdict(BrainParams(spacing=self.spacing, **dict(self.data)))}
        digest = hashlib.sha1(json.dumps(kw, sort_keys=True, default=list).encode()).hexdigest()[:8]
        return f"brain_{self.num_cases}cases_{self.spacing:g}mm_seed{self.data_seed}_{digest}"

    def bundle_overrides(self) -> tuple[tuple[str, Any], ...]:
        """Overrides of the bundle's ``train.json`` (budget, network, spacing), the same for every loss."""
        return (
            ("max_epochs", self.epochs), ("val_interval", self.epochs + 1),
            ("batch_size", self.batch_size), ("num_samples", self.num_samples), ("num_workers", 0),
            ("cache_rate", 1.0), ("patch_size", list(self.patch)), ("pixdim", [self.spacing] * 3),
            ("network_def#channels", list(self.channels)), ("network_def#strides", [2] * (len(self.channels) - 1)),
            ("network_def#num_res_units", self.res_units), ("validate#inferer#overlap", self.overlap),
            # the boundary loss's rebalancing (Kervadec et al.): the region weight falls from 1 to 0.01 over the
            # first half of the budget, then holds
            ("boundary_ramp_epochs", max(1, self.epochs // 2)), ("device", "$torch.device('cpu')"), ("amp", False),
            # no training-batch Dice per iteration (the bundle's train key metric): the study does not read it
            ("train#trainer#key_train_metric", None), ("train#trainer#postprocessing", None),
        )

    def eval_spec(self, shipped: tuple[float, float] = (0.5, 0.0)) -> EvalSpec:
        return EvalSpec(thresholds=self.thresholds, min_sizes_mm3=self.min_sizes_mm3, size_bins=self.size_bins,
                        small_mm3=self.small_mm3, matching=self.matching, shipped=shipped)

    def describe(self) -> dict[str, Any]:
        """The setting in words and numbers, for the report."""
        pool = self.num_cases - self.test_cases
        return {
            "setting": self.name,
            "losses": list(self.losses),
            "seeds": list(self.seeds),
            "data": f"{self.num_cases} synthetic brain MRI cases (data_scripts/synthetic.py, task brain, data seed "
                    f"{self.data_seed}): MNI ICBM152 2009a anatomy, randomly deformed, T1-hypointense white-matter "
                    f"lesions, {self.spacing:g} mm isotropic",
            "split": f"a fixed test set of {self.test_cases} cases (the same for every seed, never used for "
                     f"training or tuning); per seed, the other {pool} cases split {self.val_frac:.0%} validation, "
                     f"the rest training",
            "network": f"bundle {BUNDLE}: 3D U-Net, channels {list(self.channels)}, {self.res_units} residual "
                       f"unit(s) per level, instance norm",
            "budget": f"{self.epochs} epoch(s), patches {list(self.patch)}, batch {self.batch_size}x"
                      f"{self.num_samples}, AdamW with polynomial decay to 0 at the end of the budget, final "
                      f"weights; validation curve every {self.val_every} epoch(s)",
            "learning rate": f"per loss, the best of {list(self.lr_grid)} on seed {self.lr_seed}'s validation cases"
                             + (f", a choice at an edge of the grid trying the next rate beyond it (up to "
                                f"{self.lr_extend} time(s))" if self.lr_extend and len(self.lr_grid) > 1 else "")
                             + (f"; fixed: {dict(self.learning_rates)}" if self.learning_rates else ""),
            "evaluation": f"sliding window (overlap {self.overlap:g}); {len(self.thresholds)} thresholds from "
                          f"{min(self.thresholds):.2g} to {max(self.thresholds):.4g}; minimum "
                          f"lesion sizes {list(self.min_sizes_mm3)} mm³; small lesions < {self.small_mm3:g} mm³; "
                          f"{self.n_boot} bootstrap replicates",
        }


SETTINGS = {
    # a smoke run of a few minutes on 2 CPU cores (one seed, one learning rate: intervals over cases only)
    "quick": StudySetting(name="quick", seeds=(0,), num_cases=20, test_cases=8, epochs=10, val_points=2,
                          lr_grid=(3e-3,), compile=False, channels=(8, 16, 32), n_boot=1000,
                          thresholds=(0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)),
    # make demo: the baseline against nnU-Net's loss at the full budget on seed 0 (the full setting's seed-0 runs of
    # these two losses: the same data, split, budget and learning rate), two runs side by side on 2 CPU cores; the
    # learning rates are the full setting's choices (DEMO_LEARNING_RATES)
    "default": StudySetting(name="default", losses=("dice", "dice_ce"), seeds=(0,),
                            learning_rates=DEMO_LEARNING_RATES),
    # the evidence behind the bundle defaults: 10 losses x 5 seeds, learning rate per loss
    "full": StudySetting(name="full", losses=FULL_LOSSES, seeds=(0, 1, 2, 3, 4)),
}


# ---------------------------------------------------------------------------------------------- terminal hygiene


def quiet_libraries() -> None:
    """Keep the terminal to progress bars and the final table.

    Logging: the bundle's ``StatsHandler`` logs every iteration at INFO (through its own
    ``monai.handlers.StatsHandler`` logger with a stdout handler, and it sets the root logger to INFO); those
    loggers, ignite's and the bundle workflow's (which announces its logging file) are held at WARNING
    (:data:`~monai_segloss.app.training.QUIET_LOGGERS`). Warnings: the causes are fixed in the bundle configs
    (``Orientationd`` gets ``labels`` explicitly, lesion-free cases are cropped by
    ``RandCropByLabelClassesd(warn=False)``); what remains silenced here is exactly:

    - ``torch.jit``'s DeprecationWarning for ``torch.jit.interface``/``script``, raised inside MONAI's and ignite's
      own imports (nothing a user of the study can change);
    - the ``SupervisedTrainer``'s note, with ``compile``, that it converts MetaTensor batches to plain tensors (what
      the study asks for).
    """
    import monai.bundle  # noqa: F401  (its module loggers are set to INFO when first imported: import them first)
    import monai.handlers  # noqa: F401

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="Will convert to PyTorch Tensor if using compile")


# ---------------------------------------------------------------------------------------------- worker processes

_QUEUE: Any = None


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:  # the study was killed: do not leave a worker running on its own
            os._exit(1)
        time.sleep(1.0)


def _init_worker(progress_queue: Any, threads: int, parent: int) -> None:
    import torch

    global _QUEUE
    _QUEUE = progress_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the study process
    torch.set_num_threads(threads)
    quiet_libraries()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _job(kind: str, spec: RunSpec, evaluation: EvalSpec | None, progress: Callable[[int], None]) -> str:
    if kind == "train":
        return str(train_run(spec, progress=progress))
    assert evaluation is not None
    return str(evaluate_run(spec, evaluation, progress=progress))


def _worker_job(kind: str, spec: RunSpec, evaluation: EvalSpec | None) -> str:
    return _job(kind, spec, evaluation, lambda n: _QUEUE.put((spec.label, n)))


@contextmanager
def _pool(workers: int, threads: int) -> Iterator[tuple[ProcessPoolExecutor | None, Any]]:
    if workers <= 1:
        yield None, None
        return
    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    q = ctx.Queue()
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(q, threads, os.getpid()))
    try:
        yield pool, q
    except BaseException:
        # stop at once: running runs are lost (their results are not written), finished ones stay
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _bar(total: int, desc: str, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=True)


# ---------------------------------------------------------------------------------------------- the study


def _file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def training_config_digest(bundle: Path, loss: str) -> str:
    """Digest of what the bundle configuration makes a run train and evaluate: the :data:`TRAINING_KEYS` sections
    of ``train.json`` as written (unresolved), and the loss's override file whole."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    sections = {key: parser.get(key) for key in TRAINING_KEYS}
    override = (bundle / "configs" / f"{loss}.json").read_text()
    body = json.dumps({"sections": sections, "override": json.loads(override)}, sort_keys=True, default=str)
    return hashlib.sha1(body.encode()).hexdigest()


def _write_split(data_dir: Path, seed: int, setting: StudySetting) -> Path:
    """The seed's datalist (MSD layout, paths relative to the data folder), kept beside the data: the data set's
    fixed test cases, and the seed's training / validation split of the others."""
    from ..data_scripts._layout import split_cases

    dataset = json.loads((data_dir / "dataset.json").read_text())

    def ids(entries: list[dict]) -> list[str]:
        return sorted(e["image"].split("/")[-1].split(".")[0] for e in entries)

    pool = ids(dataset["training"] + dataset["validation"])
    split = {**split_cases(pool, setting.val_frac, 0.0, seed=seed), "test": ids(dataset["test"])}
    body = {s: [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in split[s]]
            for s in ("training", "validation", "test")}
    path = data_dir / "splits" / f"seed{seed}_val{setting.val_frac:g}_fixedtest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(body, indent=1) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


@dataclasses.dataclass(frozen=True)
class _Context:
    setting: StudySetting
    runs_dir: Path
    data_dir: Path
    bundle: Path
    logging_file: Path


def training_fingerprint(setting: StudySetting, bundle: Path, loss: str, seed: int, lr: float, split_digest: str
                         ) -> str:
    """The fingerprint of one training run: everything its weights and its learning curve depend on."""
    inputs = {"loss": loss, "seed": seed, "learning_rate": lr, "data": setting.data_tag(),
              "overrides": setting.bundle_overrides(), "split": split_digest,
              "config": training_config_digest(bundle, loss), "val_every": setting.val_every,
              "curve": CURVE_THRESHOLDS, "matching": setting.matching, "compile": setting.compile}
    return hashlib.sha1(json.dumps(inputs, sort_keys=True, default=list).encode()).hexdigest()


def _spec(ctx: _Context, loss: str, seed: int, lr: float) -> RunSpec:
    setting = ctx.setting
    split_file = _write_split(ctx.data_dir, seed, setting)
    fingerprint = training_fingerprint(setting, ctx.bundle, loss, seed, lr, _file_digest(split_file))
    return RunSpec(loss=loss, seed=seed, learning_rate=lr, bundle_dir=str(ctx.bundle), data_dir=str(ctx.data_dir),
                   split_file=str(split_file), logging_file=str(ctx.logging_file), fingerprint=fingerprint,
                   run_dir=str(ctx.runs_dir / f"{loss}-lr{lr:g}-seed{seed}-{fingerprint[:10]}"),
                   overrides=setting.bundle_overrides(), val_every=setting.val_every, matching=setting.matching,
                   compile=setting.compile)


def shipped_operating_point(bundle: Path) -> tuple[float, float]:
    """The bundle's shipped ``(lesion_threshold, min_lesion_mm3)`` (``train.json``)."""
    config = json.loads((bundle / "configs" / "train.json").read_text())
    return float(config["lesion_threshold"]), float(config["min_lesion_mm3"])


def shipped_loss(bundle: Path) -> str | None:
    """The registry key whose override file ``configs/<key>.json`` holds exactly the loss of ``train.json`` (the
    bundle's default), or None."""
    default = json.loads((bundle / "configs" / "train.json").read_text())["loss"]
    for path in sorted((bundle / "configs").glob("*.json")):
        body = json.loads(path.read_text())
        if path.stem not in ("train", "evaluate", "inference", "metadata", "multi_gpu_train") and \
                body.get("loss") == default:
            return path.stem
    return None


def _check_losses(setting: StudySetting, bundle: Path) -> None:
    for loss in setting.losses:
        if not (bundle / "configs" / f"{loss}.json").is_file():
            raise ValueError(f"the bundle {BUNDLE} has no override file configs/{loss}.json for loss {loss!r}")


def final_f1(record: dict) -> float:
    """A training record's validation lesion F1 at its last curve point: the mean over the validation cases at the
    best curve threshold."""
    import numpy as np

    f1 = np.array(list(record["curve"][-1]["f1"].values()), dtype=np.float64)
    return float(np.nanmax(np.nanmean(f1, axis=0))) if f1.size else math.nan


def choose_learning_rate(records: dict[float, dict], grid: tuple[float, ...]) -> float:
    """The learning rate whose run ends with the highest validation lesion F1 (:func:`final_f1`); ties go to the
    rate nearest the grid's middle on a log scale, then to the smaller one."""
    middle = math.log(sorted(grid)[len(grid) // 2])
    return max(records, key=lambda lr: (round(final_f1(records[lr]), 12), -abs(math.log(lr) - middle), -lr))


def next_rate(rates: list[float], chosen: float) -> float | None:
    """The rate beyond the grid's edge when ``chosen`` is its smallest or largest rate (the edge's step again,
    rounded to one significant digit), else None; a one-rate grid is not extended.

    Example:
        >>> next_rate([1e-3, 3e-3, 1e-2], 1e-2), next_rate([1e-3, 3e-3, 1e-2], 1e-3), next_rate([1e-3, 3e-3], 3e-3)
        (0.03, 0.0003, 0.01)
    """
    if len(rates) < 2 or chosen not in (rates[0], rates[-1]):
        return None
    step = rates[-1] / rates[-2] if chosen == rates[-1] else rates[0] / rates[1]
    return float(f"{chosen * step:.0e}")


def _todo_bar(jobs: list[tuple[str, RunSpec]], desc: str):
    total = 0
    for kind, spec in jobs:
        split = json.loads(Path(spec.split_file).read_text())
        if kind == "train":
            total += spec.epochs * spec.steps_per_epoch + len(spec.curve_epochs) * len(split["validation"])
        else:
            total += len(split["validation"]) + len(split["test"])
    return _bar(total, desc, "step")


def _run_jobs(jobs: list[tuple[str, RunSpec]], desc: str, evaluation: EvalSpec | None,
              pool: ProcessPoolExecutor | None, q: Any) -> None:
    """Execute training or evaluation jobs (in the pool, or here one after the other) under one progress bar."""
    if not jobs:
        return
    bar = _todo_bar(jobs, desc)
    done = 0
    shown = [""]

    def _postfix(active: list[str]) -> None:
        text = f"{done}/{len(jobs)} done" + (f"; running {', '.join(active)}" if active else "")
        if text != shown[0]:
            shown[0] = text
            bar.set_postfix_str(text)

    try:
        if pool is None:
            for kind, spec in jobs:
                _postfix([spec.label])
                _job(kind, spec, evaluation, bar.update)
                done += 1
            _postfix([])
            return
        futures: dict[Future, RunSpec] = {pool.submit(_worker_job, kind, spec, evaluation): spec
                                          for kind, spec in jobs}
        pending = set(futures)
        started: set[str] = set()
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            try:
                while True:
                    label, n = q.get_nowait()
                    started.add(label)
                    bar.update(n)
            except queue.Empty:
                pass
            for f in finished:
                f.result()  # re-raises a failed run's error
                done += 1
                started.discard(futures[f].label)
            _postfix(sorted(started))
    finally:
        bar.close()


def _default_workers(n_runs: int) -> int:
    return max(1, min(os.cpu_count() or 1, n_runs, 8))


def _relative(path: Path) -> str:
    """``path`` relative to the working directory when inside it, else its last two parts: what the report
    writes (no absolute path of the machine in a file meant to be shared)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(Path(*path.parts[-2:]))


def _train_all(ctx: _Context, specs: list[RunSpec], desc: str, pool, q, echo: Callable[[str], None]) -> int:
    todo = [s for s in specs if finished_training(s) is None]
    if len(todo) < len(specs):
        echo(f"{desc}: {len(specs) - len(todo)} of {len(specs)} runs already trained in {_relative(ctx.runs_dir)}")
    _run_jobs([("train", s) for s in todo], desc, None, pool, q)
    missing = [s.label for s in specs if finished_training(s) is None]
    if missing:
        raise RuntimeError(f"runs without a trained model: {missing}")
    return len(specs) - len(todo)


def run_study(
    setting: StudySetting | str = "default",
    out_dir: str | os.PathLike = "study_report",
    cache_dir: str | os.PathLike = ".demo_cache",
    workers: int | None = None,
    losses: tuple[str, ...] | list[str] | None = None,
    seeds: tuple[int, ...] | list[int] | None = None,
    echo: Callable[[str], None] = print,
    runs_dir: str | os.PathLike | None = None,
    train_only: bool = False,
) -> dict[str, Path]:
    """Generate (or reuse) the data; choose each loss's learning rate, train, evaluate every run not finished yet;
    write the report (module doc).

    Args:
        setting: a :class:`StudySetting` or the name of one of :data:`SETTINGS`. Default ``"default"``.
        out_dir: the report folder. Default ``study_report``.
        cache_dir: where the synthetic data are generated once (and the runs kept, unless ``runs_dir``).
            Default ``.demo_cache``.
        workers: worker processes (each with ``cpu_count // workers`` torch threads); 1 runs everything in this
            process. Default None: the number of CPU cores (at most 8, at most the number of runs).
        losses: replace the setting's losses. Default None.
        seeds: replace the setting's seeds. Default None.
        echo: prints the final table (and the resume notes). Default ``print``.
        runs_dir: where the runs are kept (a second call resumes). Default None: ``cache_dir/runs``.
        train_only: stop after training (no evaluation, no report). Default False.

    Returns:
        the paths of the report files (``report``, ``metrics``, figures); empty with ``train_only``.
    """
    from .analysis import analyse
    from .report import format_table, write_report

    if isinstance(setting, str):
        if setting not in SETTINGS:
            raise ValueError(f"setting must be one of {sorted(SETTINGS)}, got {setting!r}")
        setting = SETTINGS[setting]
    if losses is not None:
        setting = dataclasses.replace(setting, losses=tuple(losses))
    if seeds is not None:
        seeds = tuple(int(s) for s in seeds)
        setting = dataclasses.replace(setting, seeds=seeds, lr_seed=setting.lr_seed if setting.lr_seed in seeds
                                      else seeds[0])
    from ..data_scripts.synthetic import ensure_generated
    from .shipped import bundle_dir

    bundle = bundle_dir(BUNDLE)
    _check_losses(setting, bundle)
    quiet_libraries()
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logging_file = out / ".logging.conf"
    logging_file.write_text(QUIET_LOGGING)
    data_dir = Path(cache_dir) / setting.data_tag()
    ctx = _Context(setting, Path(runs_dir) if runs_dir is not None else Path(cache_dir) / "runs", data_dir, bundle,
                   logging_file)
    fixed = dict(setting.learning_rates)
    grid_losses = [loss for loss in setting.losses if loss not in fixed]
    n_runs = len(setting.losses) * len(setting.seeds) + len(grid_losses) * (len(setting.lr_grid) - 1)
    workers = _default_workers(n_runs) if workers is None else max(1, int(workers))
    threads = max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        import torch

        torch.set_num_threads(threads)
    resumed = 0
    with _pool(workers, threads) as (pool, q):
        if not (data_dir / "dataset.json").is_file():
            bar = _bar(setting.num_cases, "data", "case")
            ensure_generated(data_dir, executor=pool, progress=bar.update, **setting.data_kwargs())
            bar.close()
        else:
            ensure_generated(data_dir, **setting.data_kwargs())  # checks that the cache holds this data set
        # 1. the learning rate of every loss, on lr_seed's validation cases; a loss that chooses an edge of its grid
        # tries the next rate beyond it (up to lr_extend times)
        rates = {loss: sorted(setting.lr_grid) for loss in grid_losses}
        chosen = {**fixed}
        passed: set[str] = set()
        for extension in range(setting.lr_extend + 1):
            grid = {loss: {lr: _spec(ctx, loss, setting.lr_seed, lr) for lr in rates[loss]} for loss in grid_losses}
            new = [s for per in grid.values() for s in per.values() if s.run_dir not in passed]
            passed |= {s.run_dir for s in new}
            resumed += _train_all(ctx, new, "learning rates", pool, q, echo)
            beyond = {}
            for loss, per in grid.items():
                chosen[loss] = choose_learning_rate({lr: r for lr, s in per.items()
                                                     if (r := finished_training(s)) is not None}, setting.lr_grid)
                if extension < setting.lr_extend and (rate := next_rate(rates[loss], chosen[loss])) is not None:
                    beyond[loss] = rate
            if not beyond:
                break
            for loss, rate in beyond.items():
                rates[loss] = sorted([*rates[loss], rate])
        # 2. every seed at the chosen rate
        specs = [_spec(ctx, loss, seed, chosen[loss]) for seed in setting.seeds for loss in setting.losses]
        main = [s for s in specs if s.seed != setting.lr_seed or s.loss in fixed]
        passed |= {s.run_dir for s in main}
        resumed += _train_all(ctx, main, "training", pool, q, echo)
        if train_only:
            return {}
        # 3. evaluation of the final weights
        evaluation = setting.eval_spec(shipped_operating_point(bundle))
        todo = [s for s in specs if finished_evaluation(s, evaluation) is None]
        _run_jobs([("evaluate", s) for s in todo], "evaluation", evaluation, pool, q)
    results = []
    for s in specs:
        result, record = finished_evaluation(s, evaluation), finished_training(s)
        if result is None or record is None:
            raise RuntimeError(f"run without a result: {s.label}")
        results.append({**result, "training": record})
    lr_choice = {loss: {"chosen": chosen[loss], "fixed": loss in fixed,
                        "validation_f1": {f"{lr:g}": final_f1(r) for lr, s in grid.get(loss, {}).items()
                                          if (r := finished_training(s)) is not None}}
                 for loss in setting.losses}
    data_stats = json.loads((data_dir / "stats.json").read_text())["summary"]
    analysis = analyse(setting, results, {(s.loss, s.seed): s.run_dir for s in specs})
    analysis["learning_rates"] = lr_choice
    analysis["shipped"] = {"loss": shipped_loss(bundle), "threshold": evaluation.shipped[0],
                           "min_size_mm3": evaluation.shipped[1]}
    timing = {"wall_seconds": time.perf_counter() - start, "cpu_seconds": _cpu_seconds() - cpu_start,
              "workers": workers, "threads_per_worker": threads, "runs_resumed": resumed,
              "runs_executed": len(passed) - resumed,
              "train_seconds_total": sum(r["training"]["train_seconds"] + r["training"]["validation_seconds"]
                                         for r in results)}
    described = {**setting.describe(), "data cache": _relative(data_dir)}
    paths = write_report(out, analysis, described, data_stats, timing, setting)
    echo(format_table(analysis))
    echo(f"report: {paths['report']} ({timing['wall_seconds'] / 60:.1f} min)")
    return paths


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main_exit_code(fn: Callable[[], Any]) -> int:
    """Run ``fn``; on Ctrl-C say how to resume and return 130."""
    try:
        fn()
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 130
    return 0

