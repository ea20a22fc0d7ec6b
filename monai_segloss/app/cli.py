"""Command line: ``monai-segloss study`` / ``demo`` (the loss comparison), ``profile``, ``bundle`` (list and
export the shipped bundles), ``nnunet-path`` (the folder of the nnU-Net trainers) and ``nnunet-train``.

The parser lives in the top-level module ``monai_segloss_cli``, which imports nothing heavy, so ``--help`` and
``bundle list`` answer at once; it calls the functions here (``_<command>``), which import what they need.

The benchmarks are development tools of the repository (``make bench``, ``python benchmarks/bench_peers.py``), not
commands of the installed package.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Literal

__all__ = ["main"]


_BUDGET = ("epochs", "patch", "batch_size", "num_samples", "channels", "res_units", "lr_grid", "val_points",
           "num_workers", "cache_rate")


def _study(args: argparse.Namespace) -> int:
    """``study`` / ``demo`` / ``study report DIR``; a user's data set with ``--dataset``."""
    from .study import SETTINGS, dataset_setting, main_exit_code, parse_shard, report_study, run_budget_check, run_study

    action, folder = getattr(args, "action", "run"), getattr(args, "folder", None)  # demo has neither
    try:
        if action == "report":
            if not folder:
                raise ValueError("study report needs the study's folder: monai-segloss study report DIR")
            return main_exit_code(lambda: report_study(folder))
        if action == "budget":
            if not folder:
                raise ValueError("study budget needs the finished study's folder: monai-segloss study budget DIR")
            return main_exit_code(lambda: run_budget_check(folder, args.factor, args.seeds, args.workers,
                                                           threads=args.threads))
        if folder:
            raise ValueError(f"unexpected argument {folder!r} (did you mean: study report {folder}?)")
        setting = "quick" if args.quick else args.setting
        budget = {k: getattr(args, k) for k in _BUDGET if getattr(args, k, None) is not None}
        if getattr(args, "dataset", None):
            device: Literal["cpu", "cuda"] = args.device or _default_device()
            extra = {"lesion_labels": args.lesion_labels, "test_frac": args.test_frac}
            if args.amp is not None:
                extra["amp"] = args.amp
            setting = dataset_setting(args.dataset, device, **extra, **budget)
        elif budget or getattr(args, "device", None) or getattr(args, "amp", None) or getattr(args, "lesion_labels",
                                                                                                ()):
            raise ValueError("--device, --amp, --lesion-labels and the budget options go with --dataset (the "
                             "generated task's settings are --setting quick/default/full)")
        if args.retrain and isinstance(setting, str):  # the setting trains what it would take from the full study
            setting = dataclasses.replace(SETTINGS[setting], reuse=())
        shard = parse_shard(args.shard) if getattr(args, "shard", None) else None
        return main_exit_code(lambda: run_study(setting, out_dir=args.out, cache_dir=args.cache_dir,
                                                workers=args.workers, threads=args.threads, losses=args.losses,
                                                seeds=args.seeds, runs_dir=args.runs_dir, shard=shard))
    except ValueError as err:  # bad options or data (StudyDataError lists every bad case), before any training
        print(f"error: {err}", file=sys.stderr)
        return 2


def _default_device() -> Literal["cpu", "cuda"]:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _profile(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from .profile import format_profile, override_config, profile_dataset, profile_to_json, recommend_loss

    try:
        prof = profile_dataset(args.dataset)
        key, kwargs, reasons = recommend_loss(prof)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for warning in prof.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps({"profile": profile_to_json(prof), "recommendation": {"loss": key, "kwargs": kwargs,
                                                                               "reasons": reasons}}, indent=2))
    else:
        print(format_profile(prof))
        print(f"\nrecommended loss: {key} {kwargs}")
        for r in reasons:
            print(f"  - {r}")
    if args.write_override:
        out = Path(args.write_override)
        if out.exists() and not args.overwrite:
            print(f"error: {out} exists; pass --overwrite to replace it", file=sys.stderr)
            return 2
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(override_config(key, kwargs), indent=4) + "\n")
        tmp.replace(out)
        print(f"wrote bundle override {out}", file=sys.stderr)
    return 0


def _nnunet_path(args: argparse.Namespace) -> int:
    import importlib.util

    from ..nnunet import ext_trainer_folder

    print(ext_trainer_folder())
    if importlib.util.find_spec("nnunetv2") is None:
        print('note: nnunetv2 is not installed: pip install "monai-segloss[nnunet]"', file=sys.stderr)
    return 0


def _bundle_export(args: argparse.Namespace) -> int:
    from .shipped import export_bundle

    try:
        out = export_bundle(args.name, args.dest, overwrite=args.overwrite)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"exported {args.name} to {out}; run it with (data: --dataset_dir, see {out / 'docs' / 'README.md'}; the "
          f"default 300 epochs take hours on a CPU):\n"
          f"  python -m monai.bundle run --config_file {out / 'configs' / 'train.json'} --bundle_root {out} "
          f"--max_epochs 20")
    return 0


def _nnunet_train(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("nnunetv2") is None:
        print('error: nnunetv2 is not installed: pip install "monai-segloss[nnunet]" (CPU-only torch: see '
              "docs/nnunet.md)", file=sys.stderr)
        return 2
    from ..nnunet.run import train

    device = args.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        out = train(args.dataset, args.configuration, args.fold, trainer=args.tr, plans=args.p, device=device,
                    epochs=args.epochs, iterations_per_epoch=args.iterations,
                    val_iterations_per_epoch=args.val_iterations, continue_training=args.c,
                    validation_only=args.val, export_probabilities=args.npz,
                    disable_checkpointing=args.disable_checkpointing)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"done: {out} (validation: {out / 'validation' / 'summary.json'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``monai-segloss`` command (``monai_segloss_cli``, which imports no torch)."""
    from monai_segloss_cli import build_parser as light

    return light()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the command; its exit status."""
    from monai_segloss_cli import main as light

    return light(argv)


if __name__ == "__main__":
    sys.exit(main())
