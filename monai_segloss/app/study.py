"""The small-lesion study: ``monai-segloss study`` (and ``make demo``, its default setting).

L losses × S seeds train the same network (the ``lesion_focal_tversky`` bundle, its loss swapped by the bundle's
override files ``configs/<loss>.json``) with the same budget on the same data: white-matter lesions in real brain
anatomy (``data_scripts/synthetic.py``, task ``brain``; generated once and cached). A seed fixes the split of the
cases into training / validation / test and the network's initialisation and sampling, identically for every loss,
so every loss is evaluated on the same (seed, case) units. Each run is :func:`monai_segloss.app.runs.execute_run`;
the statistics are :mod:`monai_segloss.app.analysis`, the report :mod:`monai_segloss.app.report`.

Runs execute in a pool of worker processes (``workers``; each with ``cpu_count // workers`` torch threads). A run is
stored when it finishes, in the cache folder under a fingerprint of everything it depends on (data, split, bundle
config and override file, budget, network, evaluation grid): ``<cache>/runs/<loss>-seed<s>-<fingerprint>/``. A study
that is stopped (Ctrl-C, killed) and started again skips every finished run, and so does another setting that holds
the same (loss, seed) at the same budget (the full setting reuses the default's runs); a changed input is a new
fingerprint, so a stale result is never reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
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

from ..evaluation.lesion_metrics import Matching
from .runs import QUIET_LOGGERS, QUIET_LOGGING, RESULT_FILE, RunSpec, execute_run

__all__ = ["StudySetting", "SETTINGS", "DEFAULT_LOSSES", "FULL_LOSSES", "run_study", "quiet_libraries"]

BUNDLE = "lesion_focal_tversky"
DEFAULT_LOSSES = ("dice", "dice_ce", "focal_tversky", "unified_focal")
FULL_LOSSES = (*DEFAULT_LOSSES, "tversky", "focal", "blob", "boundary")
BASELINE = "dice"


@dataclasses.dataclass(frozen=True)
class StudySetting:
    """Losses, seeds, data, network and budget of a study (the same for every loss).

    Attributes:
        name: the setting's name (``quick``, ``default``, ``full`` or a custom one).
        losses: registry keys; each needs the bundle override file ``configs/<key>.json``. The first is the
            baseline of the paired comparisons when ``dice`` is absent.
        seeds: training seeds (each fixes a split and an initialisation).
        num_cases: cases of the synthetic data set (split anew by every seed).
        spacing: isotropic voxel size of the data in mm.
        data_seed: seed of the data set itself (the same cases for every training seed).
        val_frac: fraction of the cases for validation (operating point), per seed.
        test_frac: fraction of the cases for test, per seed.
        channels: U-Net channels per level (strides 2).
        res_units: residual units per U-Net level.
        patch: training patch (and sliding-window) size in voxels.
        batch_size: cases per batch; each gives ``num_samples`` patches.
        num_samples: patches per case and iteration.
        epochs: training epochs.
        learning_rate: AdamW learning rate (polynomial decay).
        overlap: sliding-window overlap at evaluation.
        thresholds: probability thresholds of the sweep (FROC and operating point); must hold 0.5.
        min_sizes_mm3: minimum lesion sizes tried on validation; must start with 0.
        size_bins: lesion volume bin edges (mm³) of the recall by size; must hold ``small_mm3``.
        small_mm3: lesions below this volume are small.
        n_boot: bootstrap replicates of the intervals.
        matching: lesion matching of the lesion-wise metrics, the FROC and the operating point: ``"one_to_one"``
            (a greedy one-to-one match by voxel overlap; a component that merges lesions is credited once; not
            the BraTS 2023 rule) or ``"any_overlap"`` (ISLES 2022, which
            credits a component covering the whole brain with every lesion). The per-case F1 under the other rule
            is kept in ``metrics.json``.
        data: further :class:`data_scripts.brain.BrainParams` fields.
    """

    name: str
    losses: tuple[str, ...] = DEFAULT_LOSSES
    seeds: tuple[int, ...] = (0, 1, 2)
    num_cases: int = 40
    spacing: float = 2.0
    data_seed: int = 0
    val_frac: float = 0.2
    test_frac: float = 0.3
    channels: tuple[int, ...] = (8, 16, 32, 64)
    res_units: int = 0
    patch: tuple[int, int, int] = (32, 32, 32)
    batch_size: int = 2
    num_samples: int = 4
    epochs: int = 50
    learning_rate: float = 3e-3
    overlap: float = 0.25
    thresholds: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
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
        if 0.5 not in self.thresholds or list(self.thresholds) != sorted(set(self.thresholds)):
            raise ValueError("thresholds must be increasing and hold 0.5")
        if not self.min_sizes_mm3 or self.min_sizes_mm3[0] != 0.0:
            raise ValueError("min_sizes_mm3 must start with 0")
        if self.small_mm3 not in self.size_bins:
            raise ValueError("size_bins must hold small_mm3")

    @property
    def baseline(self) -> str:
        return BASELINE if BASELINE in self.losses else self.losses[0]

    def data_kwargs(self) -> dict[str, Any]:
        """Arguments of ``data_scripts.synthetic.ensure_generated`` (the data set, whatever the training seeds)."""
        return {"task": "brain", "num_cases": self.num_cases, "seed": self.data_seed, "spacing": self.spacing,
                "val_frac": self.val_frac, "test_frac": self.test_frac, **dict(self.data)}

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
            ("max_epochs", self.epochs), ("val_interval", self.epochs + 1), ("learning_rate", self.learning_rate),
            ("batch_size", self.batch_size), ("num_samples", self.num_samples), ("num_workers", 0),
            ("cache_rate", 1.0), ("patch_size", list(self.patch)), ("pixdim", [self.spacing] * 3),
            ("network_def#channels", list(self.channels)), ("network_def#strides", [2] * (len(self.channels) - 1)),
            ("network_def#num_res_units", self.res_units), ("validate#inferer#overlap", self.overlap),
            ("boundary_ramp_epochs", self.epochs), ("device", "$torch.device('cpu')"), ("amp", False),
            # no training-batch Dice per iteration (the bundle's train key metric): the study does not read it
            ("train#trainer#key_train_metric", None), ("train#trainer#postprocessing", None),
        )

    def describe(self) -> dict[str, Any]:
        """The setting in words and numbers, for the report."""
        return {
            "setting": self.name,
            "losses": list(self.losses),
            "seeds": list(self.seeds),
            "data": f"{self.num_cases} synthetic brain MRI cases (data_scripts/synthetic.py, task brain, data seed "
                    f"{self.data_seed}): MNI ICBM152 2009a anatomy, randomly deformed, T1-hypointense white-matter "
                    f"lesions, {self.spacing:g} mm isotropic",
            "split": f"per seed: {self.val_frac:.0%} validation, {self.test_frac:.0%} test, the rest training",
            "network": f"bundle {BUNDLE}: 3D U-Net, channels {list(self.channels)}, {self.res_units} residual "
                       f"unit(s) per level, instance norm",
            "budget": f"{self.epochs} epoch(s), patches {list(self.patch)}, batch {self.batch_size}x"
                      f"{self.num_samples}, AdamW lr {self.learning_rate:g} with polynomial decay, final weights",
            "evaluation": f"sliding window (overlap {self.overlap:g}); thresholds {list(self.thresholds)}; minimum "
                          f"lesion sizes {list(self.min_sizes_mm3)} mm³; small lesions < {self.small_mm3:g} mm³; "
                          f"{self.n_boot} bootstrap replicates",
        }


_QUICK_LOSSES = DEFAULT_LOSSES
SETTINGS = {
    # a smoke run of about 2 minutes on 2 CPU cores (one seed: intervals over cases only)
    "quick": StudySetting(name="quick", losses=_QUICK_LOSSES, seeds=(0,), num_cases=16, epochs=10, val_frac=0.25,
                          test_frac=0.25, channels=(8, 16, 32), n_boot=1000),
    # make demo: at most 15 minutes on 2 CPU cores, data generation included; its 12 runs are seeds 0-2 of the full
    # setting's first 4 losses (the same budget, data and splits)
    "default": StudySetting(name="default"),
    # the evidence behind the bundle defaults: 8 losses x 5 seeds
    "full": StudySetting(name="full", losses=FULL_LOSSES, seeds=(0, 1, 2, 3, 4)),
}


# ---------------------------------------------------------------------------------------------- terminal hygiene


def quiet_libraries() -> None:
    """Keep the terminal to progress bars and the final table.

    Logging: the bundle's ``StatsHandler`` logs every iteration at INFO (through its own
    ``monai.handlers.StatsHandler`` logger with a stdout handler, and it sets the root logger to INFO); those
    loggers, ignite's and the bundle workflow's (which announces its logging file) are held at WARNING
    (:data:`~monai_segloss.app.runs.QUIET_LOGGERS`). Warnings: the causes are fixed in the bundle configs
    (``Orientationd`` gets ``labels`` explicitly, lesion-free cases are cropped by
    ``RandCropByLabelClassesd(warn=False)``); what remains silenced here is exactly:

    - ``torch.jit``'s DeprecationWarning for ``torch.jit.interface``/``script``, raised inside MONAI's and ignite's
      own imports (nothing a user of the study can change).
    """
    import monai.bundle  # noqa: F401  (its module loggers are set to INFO when first imported: import them first)
    import monai.handlers  # noqa: F401

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)


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


def _worker_run(spec: RunSpec) -> str:
    key = (spec.loss, spec.seed)
    return str(execute_run(spec, progress=lambda n: _QUEUE.put((key, n))))


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


def _write_split(data_dir: Path, seed: int, setting: StudySetting) -> Path:
    """The seed's datalist (MSD layout, paths relative to the data folder), kept beside the data."""
    from ..data_scripts._layout import SPLITS, split_cases

    cases = [e["image"].split("/")[-1].split(".")[0]
             for s in SPLITS for e in json.loads((data_dir / "dataset.json").read_text())[s]]
    split = split_cases(sorted(cases), setting.val_frac, setting.test_frac, seed=seed)
    body = {s: [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in split[s]]
            for s in SPLITS}
    path = data_dir / "splits" / f"seed{seed}_val{setting.val_frac:g}_test{setting.test_frac:g}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(body, indent=1) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _specs(setting: StudySetting, runs_dir: Path, data_dir: Path, bundle: Path, logging_file: Path) -> list[RunSpec]:
    for loss in setting.losses:
        if not (bundle / "configs" / f"{loss}.json").is_file():
            raise ValueError(f"the bundle {BUNDLE} has no override file configs/{loss}.json for loss {loss!r}")
    train_digest = _file_digest(bundle / "configs" / "train.json")
    specs = []
    for seed in setting.seeds:
        split_file = _write_split(data_dir, seed, setting)
        for loss in setting.losses:
            override = bundle / "configs" / f"{loss}.json"
            inputs = {"loss": loss, "seed": seed, "data": setting.data_tag(), "overrides": setting.bundle_overrides(),
                      "split": _file_digest(split_file), "train.json": train_digest,
                      "override": _file_digest(override), "thresholds": setting.thresholds,
                      "min_sizes": setting.min_sizes_mm3, "bins": setting.size_bins, "small": setting.small_mm3,
                      "matching": setting.matching}
            fingerprint = hashlib.sha1(json.dumps(inputs, sort_keys=True, default=list).encode()).hexdigest()
            specs.append(RunSpec(loss=loss, seed=seed, bundle_dir=str(bundle), data_dir=str(data_dir),
                                 split_file=str(split_file),
                                 run_dir=str(runs_dir / f"{loss}-seed{seed}-{fingerprint[:12]}"),
                                 logging_file=str(logging_file), fingerprint=fingerprint,
                                 overrides=setting.bundle_overrides(), thresholds=setting.thresholds,
                                 min_sizes_mm3=setting.min_sizes_mm3, size_bins=setting.size_bins,
                                 small_mm3=setting.small_mm3, matching=setting.matching))
    return specs


def _finished(spec: RunSpec) -> dict | None:
    path = Path(spec.run_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("fingerprint") == spec.fingerprint else None


def _run_all(todo: list[RunSpec], setting: StudySetting, pool: ProcessPoolExecutor | None, q: Any) -> None:
    """Execute the runs (in the pool, or here one after the other) under one progress bar."""
    if not todo:
        return
    steps = {(s.loss, s.seed): setting.epochs * s.steps_per_epoch for s in todo}
    split_sizes = {s.split_file: json.loads(Path(s.split_file).read_text()) for s in todo}
    for s in todo:
        steps[(s.loss, s.seed)] += len(split_sizes[s.split_file]["validation"]) + len(split_sizes[s.split_file]["test"])
    bar = _bar(sum(steps.values()), "runs", "step")
    done = 0
    shown = [""]

    def _postfix(active: list[str]) -> None:
        text = f"{done}/{len(todo)} runs done" + (f"; running {', '.join(active)}" if active else "")
        if text != shown[0]:
            shown[0] = text
            bar.set_postfix_str(text)

    try:
        if pool is None:
            for s in todo:
                _postfix([f"{s.loss} s{s.seed}"])
                execute_run(s, progress=bar.update)
                done += 1
            _postfix([])
            return
        futures: dict[Future, RunSpec] = {pool.submit(_worker_run, s): s for s in todo}
        pending = set(futures)
        started: set[tuple[str, int]] = set()
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            try:
                while True:
                    key, n = q.get_nowait()
                    started.add(key)
                    bar.update(n)
            except queue.Empty:
                pass
            for f in finished:
                f.result()  # re-raises a failed run's error
                done += 1
                started.discard((futures[f].loss, futures[f].seed))
            _postfix([f"{k[0]} s{k[1]}" for k in sorted(started)])
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


def run_study(
    setting: StudySetting | str = "default",
    out_dir: str | os.PathLike = "study_report",
    cache_dir: str | os.PathLike = ".demo_cache",
    workers: int | None = None,
    losses: tuple[str, ...] | list[str] | None = None,
    seeds: tuple[int, ...] | list[int] | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Generate (or reuse) the data, train and evaluate every (loss, seed) not finished yet, write the report.

    Args:
        setting: a :class:`StudySetting` or the name of one of :data:`SETTINGS`. Default ``"default"``.
        out_dir: the report folder. Default ``study_report``.
        cache_dir: where the synthetic data are generated once and the finished runs are kept (a second call
            resumes). Default ``.demo_cache``.
        workers: worker processes (each with ``cpu_count // workers`` torch threads); 1 runs everything in this
            process. Default None: the number of CPU cores (at most 8, at most the number of runs).
        losses: replace the setting's losses. Default None.
        seeds: replace the setting's seeds. Default None.
        echo: prints the final table (and the resume note). Default ``print``.

    Returns:
        the paths of the report files (``report``, ``metrics``, figures).
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
        setting = dataclasses.replace(setting, seeds=tuple(int(s) for s in seeds))
    from ..data_scripts.synthetic import ensure_generated
    from .shipped import bundle_dir

    quiet_libraries()
    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    logging_file = out / ".logging.conf"
    logging_file.write_text(QUIET_LOGGING)
    bundle = bundle_dir(BUNDLE)
    data_dir = Path(cache_dir) / setting.data_tag()
    n_runs = len(setting.losses) * len(setting.seeds)
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
        specs = _specs(setting, Path(cache_dir) / "runs", data_dir, bundle, logging_file)
        todo = [s for s in specs if _finished(s) is None]
        resumed = len(specs) - len(todo)
        if resumed:
            echo(f"resuming: {resumed} of {len(specs)} runs already finished in {Path(cache_dir) / 'runs'}")
        _run_all(todo, setting, pool, q)
    finished = [_finished(s) for s in specs]
    missing = [f"{s.loss} seed {s.seed}" for s, r in zip(specs, finished, strict=True) if r is None]
    if missing:
        raise RuntimeError(f"runs without a result: {missing}")
    results = [r for r in finished if r is not None]
    data_stats = json.loads((data_dir / "stats.json").read_text())["summary"]
    analysis = analyse(setting, results, {(s.loss, s.seed): s.run_dir for s in specs})
    timing = {"wall_seconds": time.perf_counter() - start, "cpu_seconds": _cpu_seconds() - cpu_start,
              "workers": workers, "threads_per_worker": threads, "runs_resumed": resumed,
              "runs_executed": len(specs) - resumed}
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

