"""The main job: train the binary small-lesion bundle with several losses and compare them on held-out cases.

Every loss trains the same network (``bundles/lesion_focal_tversky``, its default focal Tversky loss swapped by the
bundle's own override files), from the same seed, on the same synthetic data (``data_scripts/synthetic.py``,
generated once and cached), for the same number of epochs and iterations. Each trained network then segments the
held-out test cases; lesion-wise metrics (:func:`monai_segloss.lesion_wise_stats`) are pooled over them and written
to a report folder (:mod:`monai_segloss.app.report`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..evaluation.lesion_metrics import LesionWiseStats, lesion_wise_stats
from .report import Example, LossRun, write_report
from .shipped import bundle_dir

__all__ = ["DemoSetting", "DEFAULT", "QUICK", "run_demo", "train_and_evaluate"]

BUNDLE = "lesion_focal_tversky"
DEFAULT_LOSSES = ("dice", "dice_ce", "focal_tversky", "unified_focal")
# a lesion counts as "small" below this volume (mm³): radius under about 2.9 mm
SMALL_LESION_MM3 = 100.0


@dataclass(frozen=True)
class DemoSetting:
    """Data, network and budget of a demo run (the same for every loss)."""

    num_cases: int
    shape: tuple[int, int, int]
    epochs: int
    patch_size: tuple[int, int, int]
    batch_size: int
    num_samples: int
    channels: tuple[int, ...]
    learning_rate: float
    val_interval: int
    test_frac: float = 0.15
    data: tuple[tuple[str, object], ...] = ()  # further data_scripts.synthetic.SyntheticParams

    def data_tag(self, seed: int) -> str:
        """A folder name for the data of this setting (a changed setting never meets a stale cache)."""
        digest = hashlib.sha1(repr((self.num_cases, self.shape, self.test_frac, self.data)).encode()).hexdigest()
        return f"lesion_{self.num_cases}x{'x'.join(map(str, self.shape))}_seed{seed}_{digest[:8]}"


# about 2-3 minutes of training per loss on 2 CPU cores; the whole demo stays under 15 minutes
DEFAULT = DemoSetting(num_cases=56, shape=(64, 64, 48), epochs=12, patch_size=(48, 48, 32), batch_size=2,
                      num_samples=2, channels=(16, 32, 64, 128), learning_rate=3e-3, val_interval=3,
                      test_frac=0.25, data=(("radius_range", (1.5, 6.0)), ("contrast_range", (0.08, 0.5)),
                                            ("noise_std", 0.08), ("max_lesions", 8)))
# a smoke run (seconds per loss), used by the tests
QUICK = DemoSetting(num_cases=10, shape=(32, 32, 24), epochs=2, patch_size=(32, 32, 16), batch_size=2,
                    num_samples=1, channels=(8, 16, 32), learning_rate=3e-3, val_interval=1)


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="it", leave=True, dynamic_ncols=True)


def _overrides(setting: DemoSetting, data_dir: Path, run_dir: Path, seed: int) -> dict:
    return {
        "dataset_dir": str(data_dir),
        "ckpt_dir": str(run_dir / "models"),
        "output_dir": str(run_dir / "eval"),
        "seed": seed,
        "max_epochs": setting.epochs,
        "val_interval": setting.val_interval,
        "learning_rate": setting.learning_rate,
        "batch_size": setting.batch_size,
        "num_samples": setting.num_samples,
        "num_workers": 0,
        "patch_size": list(setting.patch_size),
        "network_def#channels": list(setting.channels),
        "network_def#strides": [2] * (len(setting.channels) - 1),
        "network_def#num_res_units": 1,
        "device": "$torch.device('cpu')",
        "amp": False,
    }


def _test_cases(data_dir: Path) -> list[dict]:
    from monai.data import load_decathlon_datalist

    return load_decathlon_datalist(str(data_dir / "dataset.json"), True, "test", base_dir=str(data_dir))


def _evaluate(parser, cases: list[dict], key: str, num_examples: int = 3) -> tuple[dict, dict, dict, list]:
    """Segment every test case with the trained network; pool the lesion-wise statistics."""
    from monai.data import decollate_batch

    network = parser.get_parsed_content("network")
    preprocessing = parser.get_parsed_content("validate#preprocessing")
    inferer = parser.get_parsed_content("validate#inferer")
    bins = (SMALL_LESION_MM3, 1000.0)
    stats: list[LesionWiseStats] = []
    examples: list[Example] = []
    network.eval()
    bar = _progress(len(cases), f"{key}: test cases")
    with torch.no_grad():
        for case in cases:
            data = preprocessing(dict(case))
            image = data["image"].unsqueeze(0)
            logits = inferer(image, network)
            pred = decollate_batch(logits)[0].argmax(0).cpu().numpy().astype(np.uint8)
            label = np.asarray(data["label"][0].cpu().numpy() > 0.5, dtype=np.uint8)
            spacing = tuple(float(s) for s in data["image"].pixdim[:3]) if hasattr(data["image"], "pixdim") \
                else (1.0, 1.0, 1.0)
            stats.append(lesion_wise_stats(pred, label, spacing=spacing, size_bins=bins))
            if label.any() and len(examples) < num_examples:
                z = int(label.sum(axis=(0, 1)).argmax())
                examples.append(Example(Path(case["label"]).name.split(".")[0],
                                        data["image"][0, :, :, z].cpu().numpy(), label[:, :, z], pred[:, :, z]))
            bar.update()
    bar.close()
    n_t = sum(s.n_target for s in stats)
    n_d = sum(s.n_detected for s in stats)
    n_p = sum(s.n_pred for s in stats)
    n_ptp = sum(s.n_pred_tp for s in stats)
    sens = n_d / n_t if n_t else math.nan
    prec = n_ptp / n_p if n_p else math.nan
    f1 = 2 * n_d / (2 * n_d + (n_p - n_ptp) + (n_t - n_d)) if (n_t or n_p) else 1.0
    bin_t = np.sum([s.bin_targets for s in stats], axis=0)
    bin_d = np.sum([s.bin_detected for s in stats], axis=0)
    names = [f"< {bins[0]:g} mm³", f"{bins[0]:g}–{bins[1]:g} mm³", f">= {bins[1]:g} mm³"]
    recall = {n: (float(d / t) if t else math.nan) for n, t, d in zip(names, bin_t, bin_d, strict=True)}
    counts = {n: int(t) for n, t in zip(names, bin_t, strict=True)}
    hd = [s.hd95 for s in stats if math.isfinite(s.hd95)]
    metrics = {"dice": float(np.mean([s.dice for s in stats])), "lesion_sensitivity": sens,
               "lesion_precision": prec, "lesion_f1": f1, "small_lesion_recall": recall[names[0]],
               "hd95_mm": float(np.mean(hd)) if hd else math.nan}
    return metrics, recall, counts, examples


def train_and_evaluate(key: str, setting: DemoSetting, data_dir: Path, out_dir: Path, seed: int) -> LossRun:
    """Train the bundle with the loss ``key`` (its override file) and evaluate it on the test split."""
    from ignite.engine import Events
    from monai.bundle import ConfigWorkflow

    bundle = bundle_dir(BUNDLE)
    configs = [str(bundle / "configs" / "train.json")]
    if key != "focal_tversky":  # the bundle's default loss
        override = bundle / "configs" / f"{key}.json"
        if not override.is_file():
            raise ValueError(f"the bundle has no override file for loss {key!r}: {override}")
        configs.append(str(override))
    run_dir = out_dir / "runs" / key
    # logging_file=False: the bundle's logging.conf would print every iteration over the progress bars
    wf = ConfigWorkflow(config_file=configs, meta_file=str(bundle / "configs" / "metadata.json"),
                        logging_file=False, workflow_type="train", bundle_root=str(bundle),
                        **_overrides(setting, data_dir, run_dir, seed))
    wf.initialize()
    trainer = wf.parser.get_parsed_content("train#trainer")
    evaluator = wf.parser.get_parsed_content("validate#evaluator")
    # the bundle's StatsHandlers log through the engines' loggers and the root logger (set to INFO on attach)
    for logger in (trainer.logger, evaluator.logger, logging.getLogger()):
        logger.setLevel(logging.WARNING)
    losses: list[tuple[int, float]] = []
    val: list[tuple[int, float]] = []
    bar = _progress(setting.epochs * len(trainer.data_loader), f"{key}: training")

    @trainer.on(Events.ITERATION_COMPLETED)
    def _record(engine) -> None:
        out = engine.state.output
        value = out[0]["loss"] if isinstance(out, list) else out["loss"]
        losses.append((engine.state.iteration, float(value)))
        bar.set_postfix(loss=f"{float(value):.4f}", refresh=False)
        bar.update()

    @evaluator.on(Events.EPOCH_COMPLETED)
    def _record_val(engine) -> None:
        val.append((trainer.state.epoch, float(engine.state.metrics.get("val_lesion_f1", math.nan))))

    start = time.perf_counter()
    wf.run()
    elapsed = time.perf_counter() - start
    bar.close()
    metrics, recall, counts, examples = _evaluate(wf.parser, _test_cases(data_dir), key)
    wf.finalize()
    metrics["train_seconds"] = elapsed
    return LossRun(key=key, metrics=metrics, recall_by_size=recall, lesions_by_size=counts, train_loss=losses,
                   val_metric=val, examples=examples)


def run_demo(out_dir: str | Path = "demo_report", losses: tuple[str, ...] | list[str] = DEFAULT_LOSSES,
             quick: bool = False, seed: int = 0, cache_dir: str | Path = ".demo_cache") -> dict[str, Path]:
    """Generate (or reuse) the synthetic data, train and evaluate every loss, write the report; return its paths."""
    from ..data_scripts.synthetic import ensure_generated

    setting = QUICK if quick else DEFAULT
    out = Path(out_dir)
    # the bundle's per-iteration log lines would bury the progress bars: keep warnings only during the demo
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("ignite").setLevel(logging.WARNING)
    data_dir = Path(cache_dir) / setting.data_tag(seed)
    print(f"data: {data_dir} ({setting.num_cases} synthetic cases of {setting.shape}, generated once)", flush=True)
    ensure_generated(data_dir, task="lesion", num_cases=setting.num_cases, seed=seed, shape=setting.shape,
                     test_frac=setting.test_frac, **dict(setting.data))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    runs = []
    for key in losses:
        runs.append(train_and_evaluate(key, setting, data_dir, out, seed))
        m = runs[-1].metrics
        print(f"{key}: Dice {m['dice']:.3f}, lesion F1 {m['lesion_f1']:.3f}, small-lesion recall "
              f"{m['small_lesion_recall']:.3f}, {m['train_seconds']:.0f} s", flush=True)
    described = {"data": f"synthetic binary small lesions (data_scripts/synthetic.py, seed {seed}), "
                         f"{setting.num_cases} cases of {setting.shape} voxels, lesions <= 0.5 % of the voxels",
                 "network": f"bundle {BUNDLE}: 3D U-Net, channels {list(setting.channels)}",
                 "budget": f"{setting.epochs} epochs, patches {list(setting.patch_size)}, batch "
                           f"{setting.batch_size}x{setting.num_samples}, lr {setting.learning_rate}",
                 "seed": seed, "mode": "quick" if quick else "default", "bundle": str(bundle_dir(BUNDLE))}
    paths = write_report(out, runs, described)
    print(f"report: {paths['report']}", flush=True)
    return paths
