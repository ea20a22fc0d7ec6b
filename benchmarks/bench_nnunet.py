"""Short nnU-Net v2 training runs of the monai-segloss trainers and nnU-Net's default on a tiny synthetic data set.

Usage::

    python -m benchmarks.bench_nnunet [--epochs 3] [--iters 10] [--val-iters 2] [--features 8 16 32 64]
        [--threads 1] [--regions] [--work DIR] [--out benchmarks/results]

Builds (once per ``--work`` folder) 6 synthetic organ/tumour cases of 32³ with unannotated slabs (ignore label 3),
in nnU-Net's raw format (``data_scripts.nnunet_raw``), and runs ``nnUNetv2_plan_and_preprocess -c 3d_fullres``. Each
trainer then trains fold 0 (4 training / 2 validation cases) on CPU for ``--epochs`` epochs of ``--iters`` training
and ``--val-iters`` validation iterations, with the plan's architecture at ``--features`` features per stage
(``--features plan`` keeps the plan's). Prints one table: the training loss of the first and last epoch, the
validation loss and nnU-Net's pseudo Dice of the last epoch, and the wall time; writes ``nnunet_runs.json`` with
the per-epoch curves. Needs nnunetv2 (``make test`` installs it). The losses have different scales: compare each
trainer's start and end, not values across trainers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LABELS_ID, REGIONS_ID = 501, 502
CASES = [f"organ_tumour_{i:04d}" for i in range(6)]
NAMED = ("FocalTversky", "UnifiedFocal", "DiceFocal", "DiceTopK", "Blob", "DiceBoundary")


def ensure_tiny_dataset(root: str | os.PathLike) -> Path:
    """Unless ``root`` already holds it (``root/ready``): 6 synthetic organ/tumour cases of 32³ as two nnU-Net data
    sets, planned and preprocessed (3d_fullres): ``LABELS_ID`` (labels, every other slab of 4 slices unannotated:
    ignore label 3) and ``REGIONS_ID`` (nested regions organ ⊃ tumour, same ignore label), each with one fixed fold
    (4 training, 2 validation cases). Returns ``root``, holding nnU-Net's ``raw/``, ``pre/`` and ``results/``."""
    from data_scripts.nnunet_raw import to_nnunet_raw
    from data_scripts.synthetic import generate

    root = Path(root).resolve()
    if (root / "ready").is_file():
        return root
    generate(root / "msd", task="organ_tumour", num_cases=len(CASES), seed=0, shape=(32, 32, 32),
             foreground_fraction=0.03, empty_fraction=0.0, val_frac=0.0, test_frac=0.0, overwrite=True)
    # overwrite: without root/ready, what is there is the remainder of an interrupted build
    to_nnunet_raw(root / "msd", root / "raw", LABELS_ID, "TinyLabels", unannotated_slabs=4, overwrite=True)
    to_nnunet_raw(root / "msd", root / "raw", REGIONS_ID, "TinyRegions", regions=True, unannotated_slabs=4,
                  overwrite=True)
    cmd = [str(Path(sys.executable).parent / "nnUNetv2_plan_and_preprocess"), "-d", str(LABELS_ID), str(REGIONS_ID),
           "-c", "3d_fullres", "-np", "1", "-npfp", "1", "--verify_dataset_integrity", "--no_pbar"]
    # nnU-Net's planner calls torch.set_num_threads(nnUNet_n_proc_DA), which fails for 0: plan without it
    env = {k: v for k, v in os.environ.items() if k != "nnUNet_n_proc_DA"}
    env.update({k: v for k, v in nnunet_env(root).items() if k.endswith(("_raw", "_preprocessed", "_results"))})
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nnUNetv2_plan_and_preprocess failed ({done.returncode}):\n{done.stderr[-3000:]}")
    for d in root.glob("pre/Dataset*"):
        (d / "splits_final.json").write_text(json.dumps([{"train": CASES[:4], "val": CASES[4:]}]))
    (root / "ready").touch()
    return root


def nnunet_env(root: str | os.PathLike, results: str | os.PathLike | None = None) -> dict[str, str]:
    """nnU-Net's environment for the data set under ``root``: its three folders, augmentation in the main process
    (``nnUNet_n_proc_DA=0``), no torch.compile."""
    root = Path(root)
    return {"nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
            "nnUNet_results": str(results or root / "results"), "nnUNet_n_proc_DA": "0", "nnUNet_compile": "false"}


def make_trainer(cls: type, root: str | os.PathLike, dataset_id: int = LABELS_ID, features: list[int] | None = None,
                 batch_dice: bool | None = None, epochs: int = 1, iters: int = 2, val_iters: int = 1) -> Any:
    """A trainer of class ``cls`` for fold 0, 3d_fullres, on CPU, as ``nnUNetv2_train`` builds it (nnU-Net's
    environment variables must be set): ``features`` per stage replaces the plan's, ``batch_dice`` its flag."""
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json

    folder = next((Path(root) / "pre").glob(f"Dataset{dataset_id}_*"))
    plans = load_json(str(folder / "nnUNetPlans.json"))
    plans["continue_training"] = False
    config = plans["configurations"]["3d_fullres"]
    if features is not None:
        config["architecture"]["arch_kwargs"]["features_per_stage"] = list(features)
    if batch_dice is not None:
        config["batch_dice"] = batch_dice
    tr = cls(plans=plans, configuration="3d_fullres", fold=0, dataset_json=load_json(str(folder / "dataset.json")),
             device=torch.device("cpu"))
    tr.num_epochs, tr.num_iterations_per_epoch, tr.num_val_iterations_per_epoch = epochs, iters, val_iters
    return tr


def _run(name: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from monai_segloss.nnunet import trainers as T

    cls = nnUNetTrainer if name == "nnUNetTrainer" else getattr(T, f"nnUNetTrainerSegLoss_{name}")
    features = None if args.features == ["plan"] else [int(f) for f in args.features]
    dataset = REGIONS_ID if args.regions else LABELS_ID
    tr = make_trainer(cls, root, dataset, features, epochs=args.epochs, iters=args.iters, val_iters=args.val_iters)
    t0 = time.perf_counter()
    tr.run_training()
    seconds = time.perf_counter() - t0
    log = {k: [float(v) for v in tr.logger.get_value(k, step=None)]
           for k in ("train_losses", "val_losses", "mean_fg_dice")}
    return {"trainer": cls.__name__, "seconds": seconds, **log}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--iters", type=int, default=10, help="training iterations per epoch (default 10)")
    p.add_argument("--val-iters", type=int, default=2)
    p.add_argument("--features", nargs="+", default=["8", "16", "32", "64"],
                   help="features per stage of the plan's U-Net, or 'plan' (default 8 16 32 64)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--regions", action="store_true", help="region-based training (sigmoid) instead of label maps")
    p.add_argument("--trainers", nargs="+", default=["nnUNetTrainer", *NAMED])
    p.add_argument("--work", default="benchmarks/results/nnunet_tiny", help="data set and runs (reused)")
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)

    import torch

    import monai_segloss as M

    torch.set_num_threads(args.threads)
    root = ensure_tiny_dataset(args.work)
    os.environ.update(nnunet_env(root, root / f"results_{time.strftime('%Y%m%d_%H%M%S')}"))
    missing = {"DiceTopK": "topk_ce"}
    rows = []
    for name in args.trainers:
        if name in missing and missing[name] not in M.available_losses():
            print(f"skipped {name}: the {missing[name]} loss is not registered", file=sys.stderr)
            continue
        rows.append(_run(name, root, args))
    print(f"\n{args.epochs} epochs x {args.iters} iterations (batch 2, 32³), {'regions' if args.regions else 'labels'}"
          f" + ignore label, features {' '.join(args.features)}, {args.threads} thread(s)\n")
    print("| trainer | train loss epoch 0 | train loss last | val loss last | pseudo Dice last | wall (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['trainer']} | {r['train_losses'][0]:.4f} | {r['train_losses'][-1]:.4f} | "
              f"{r['val_losses'][-1]:.4f} | {r['mean_fg_dice'][-1]:.4f} | {r['seconds']:.1f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nnunet_runs.json").write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
