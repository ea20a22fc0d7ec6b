"""The ``monai-segloss`` command's parser, outside the package so that ``--help`` and ``bundle list`` import neither
torch nor MONAI (importing ``monai_segloss`` loads both, several seconds). Every other command runs a function of
:mod:`monai_segloss.app.cli`, imported when the command runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

__all__ = ["main", "build_parser", "bundles_root", "shipped_bundles"]


def bundles_root() -> Path:
    """The folder of ``monai_segloss.bundles`` (the wheel's package data; the repository's ``bundles/`` in an
    editable install), found through the import system without importing ``monai_segloss``."""
    top = importlib.util.find_spec("monai_segloss")
    if top is None or not top.submodule_search_locations:
        raise ModuleNotFoundError("monai_segloss is not installed")
    for finder in sys.meta_path:  # the finders (setuptools' editable finder among them) by the package's path
        find = getattr(finder, "find_spec", None)
        spec = find("monai_segloss.bundles", list(top.submodule_search_locations)) if find is not None else None
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
    raise ModuleNotFoundError("monai_segloss.bundles is not installed")


def shipped_bundles() -> list[str]:
    """Names of the shipped bundles (folders with ``configs/metadata.json``)."""
    return sorted(d.name for d in bundles_root().iterdir() if (d / "configs" / "metadata.json").is_file())


def _bundle_list(args: argparse.Namespace) -> int:
    root = bundles_root()
    for name in shipped_bundles():
        print(f"{name}\t{root / name}")
    return 0


def _app(name: str):
    """The handler ``monai_segloss.app.cli._<name>``, imported on demand."""

    def run(args: argparse.Namespace) -> int:
        from monai_segloss.app import cli

        return getattr(cli, f"_{name}")(args)

    return run


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.replace(",", " ").split())


def _user_data_options(cmd: argparse.ArgumentParser) -> None:
    """``study``'s options for a user's data set, a device, the budget and a job array; and ``study report DIR``."""
    cmd.add_argument("action", nargs="?", choices=["run", "report", "budget"], default="run",
                     help="run (default) the study; report: merge the finished runs in FOLDER (the --out of a "
                          "study or of its shards) into its report and list the missing ones; budget: retrain the "
                          "losses the budget rule checks in the finished study FOLDER with --factor times the budget "
                          "(on --seeds, default its first two) into FOLDER/budget_x<factor>, then study report "
                          "FOLDER compares them")
    cmd.add_argument("folder", nargs="?", help="with report or budget: the study's --out folder")
    cmd.add_argument("--factor", type=int, default=2, help="with budget: how many times the budget (default 2)")
    data = cmd.add_argument_group("your data (monai-segloss study --dataset PATH)")
    data.add_argument("--dataset", metavar="PATH",
                      help="compare the losses on your data: a dataset.json (MSD layout, as the data scripts write "
                           "it) or an nnU-Net raw dataset folder; checked case by case before anything trains")
    data.add_argument("--lesion-labels", type=_ints, default=(), metavar="L,L",
                      help="label values scored lesion by lesion, a report each (default: every declared label "
                           "but the background)")
    data.add_argument("--test-frac", type=float, default=0.2,
                      help="fraction held out for test when the data set has no labelled test list (default 0.2)")
    data.add_argument("--device", choices=["cpu", "cuda"], default=None,
                      help="default: cuda when a GPU is visible; each worker process trains on a GPU of its own")
    data.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                      help="mixed precision (default: on with cuda)")
    data.add_argument("--epochs", type=int, help="training epochs (default: the bundle's 300 on cuda, 1600 on cpu)")
    data.add_argument("--patch", type=_ints, metavar="X,Y,Z", help="training patch (default: the bundle's on cuda)")
    data.add_argument("--batch-size", type=int, help="cases per batch (default: the bundle's)")
    data.add_argument("--num-samples", type=int, help="patches per case and iteration")
    data.add_argument("--channels", type=_ints, metavar="C,C,...", help="U-Net channels per level")
    data.add_argument("--res-units", type=int, help="residual units per U-Net level")
    data.add_argument("--lr-grid", type=lambda t: tuple(float(v) for v in t.replace(",", " ").split()),
                      metavar="R,R,...", help="learning rates tried per loss (default 1e-3,3e-3,1e-2)")
    data.add_argument("--val-points", type=int, help="points of the validation learning curve (default 16)")
    data.add_argument("--num-workers", type=int,
                      help="data loader processes per run (default 0: loading in the training process)")
    data.add_argument("--cache-rate", type=float,
                      help="fraction of the preprocessed training cases kept in memory (default 1.0)")
    cmd.add_argument("--shard", metavar="I/N",
                     help="run only the I-th of N disjoint sets of losses into --out (a job array: sbatch "
                          "--array=0-N-1 ... --shard $SLURM_ARRAY_TASK_ID/N); then: study report OUT")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monai-segloss", description="Segmentation losses for MONAI.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, out, text in (
        ("study", "study_report", "compare losses on small brain lesions: learning rate per loss, learning curves, "
                                  "several seeds, fixed test cases, intervals, FROC, validation-tuned operating "
                                  "points"),
        ("demo", "demo_report", "the study's default setting (the same as `study`, report in demo_report/)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--setting", choices=["quick", "default", "full"], default="default",
                         help="quick: a smoke run of a few minutes; default: dice against dice_ce at the full "
                              "budget on seed 0; full: 10 losses x 5 seeds at 24,000 iterations, each loss at the "
                              "learning rate its grid chose (the bundles' evidence; hours on a CPU)")
        cmd.add_argument("--quick", action="store_true", help="the same as --setting quick")
        cmd.add_argument("--out", default=out, help=f"report folder (default {out})")
        cmd.add_argument("--losses", nargs="+", default=None,
                         help="registry keys replacing the setting's losses (each needs a bundle override file)")
        cmd.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds replacing the setting's seeds")
        cmd.add_argument("--workers", type=int, default=None,
                         help="worker processes (default: the number of CPU cores, at most 8); 1: in this process")
        cmd.add_argument("--threads", type=int, default=None,
                         help="torch threads per worker process (default: CPU cores // workers)")
        cmd.add_argument("--retrain", action="store_true",
                         help="train every run here, also those the setting takes from the full study's committed "
                              "runs (the default setting takes both: retraining them takes about 25 min on 2 cores)")
        cmd.add_argument("--cache-dir", default=".demo_cache",
                         help="where the synthetic data are cached (and the runs, unless --runs-dir)")
        cmd.add_argument("--runs-dir", default=None,
                         help="where the trained runs are kept and resumed from (default: OUT/runs with "
                              "--dataset or --shard, else CACHE_DIR/runs)")
        if name == "study":
            _user_data_options(cmd)
        cmd.set_defaults(func=_app("study"))
    prof = sub.add_parser("profile", help="check and profile a label data set and recommend a loss")
    prof.add_argument("dataset", help="dataset.json, a folder with one, or a folder of label NIfTIs")
    prof.add_argument("--json", action="store_true", help="print the profile and recommendation as JSON")
    prof.add_argument("--write-override", metavar="PATH",
                      help="write a bundle override file for the loss (merge it after configs/train.json)")
    prof.add_argument("--overwrite", action="store_true", help="replace an existing override file")
    prof.set_defaults(func=_app("profile"))
    nn = sub.add_parser("nnunet-path", help="print the folder to put in nnU-Net's nnUNet_extTrainer variable "
                        "(export nnUNet_extTrainer=$(monai-segloss nnunet-path))")
    nn.set_defaults(func=_app("nnunet_path"))
    text = ("train an nnU-Net v2 trainer by name with nnU-Net's own pipeline, then run nnU-Net's final validation "
            "(as nnUNetv2_train; works on a CPU-only torch without timm)")
    nt = sub.add_parser("nnunet-train", help=text, description=text)
    nt.add_argument("dataset", help="data set id or name, preprocessed by nnUNetv2_plan_and_preprocess")
    nt.add_argument("configuration", help="e.g. 3d_fullres")
    nt.add_argument("fold", help="0-4 or all")
    nt.add_argument("-tr", default="nnUNetTrainerSegLoss", help="trainer class name (default nnUNetTrainerSegLoss)")
    nt.add_argument("-p", default="nnUNetPlans", help="plans identifier (default nnUNetPlans)")
    nt.add_argument("-device", "--device", choices=["cpu", "cuda", "mps"], default=None,
                    help="default: cuda when available, else cpu")
    nt.add_argument("--epochs", type=int, default=None, help="number of epochs (default: the trainer's, 1000)")
    nt.add_argument("--iterations", type=int, default=None, help="training iterations per epoch (default 250)")
    nt.add_argument("--val-iterations", type=int, default=None, help="validation iterations per epoch (default 50)")
    nt.add_argument("--c", action="store_true", help="continue from the fold's latest checkpoint")
    nt.add_argument("--val", action="store_true", help="only run the final validation of a finished training")
    nt.add_argument("--npz", action="store_true", help="also save the validation's softmax outputs")
    nt.add_argument("--disable_checkpointing", action="store_true", help="write no checkpoint")
    nt.set_defaults(func=_app("nnunet_train"))
    bundle = sub.add_parser("bundle", help="list the shipped MONAI bundles or copy one out to run it")
    bundle_sub = bundle.add_subparsers(dest="bundle_command", required=True)
    bundle_sub.add_parser("list", help="names of the shipped bundles").set_defaults(func=_bundle_list)
    export = bundle_sub.add_parser("export", help="copy a bundle (configs, docs, licence) into a folder")
    export.add_argument("name", help="bundle name (monai-segloss bundle list)")
    export.add_argument("dest", help="folder to copy it into (the bundle root of `python -m monai.bundle run`)")
    export.add_argument("--overwrite", action="store_true", help="replace the bundle's files in a non-empty folder")
    export.set_defaults(func=_app("bundle_export"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the command; its exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
