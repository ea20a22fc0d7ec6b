"""Command line: ``monai-segloss study`` / ``demo`` (the loss comparison), ``profile``, ``bundle`` (list and
export the shipped bundles) and ``nnunet-path`` (the folder of the nnU-Net trainers).

The benchmarks are development tools of the repository (``make bench``, ``python benchmarks/bench_peers.py``), not
commands of the installed package.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _study(args: argparse.Namespace) -> int:
    from .study import main_exit_code, run_study

    setting = "quick" if args.quick else args.setting
    return main_exit_code(lambda: run_study(setting, out_dir=args.out, cache_dir=args.cache_dir, workers=args.workers,
                                            losses=args.losses, seeds=args.seeds))


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


def _bundle_list(args: argparse.Namespace) -> int:
    from .shipped import available_bundles, bundle_dir

    for name in available_bundles():
        print(f"{name}\t{bundle_dir(name)}")
    return 0


def _bundle_export(args: argparse.Namespace) -> int:
    from .shipped import export_bundle

    try:
        out = export_bundle(args.name, args.dest, overwrite=args.overwrite)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"exported {args.name} to {out}; run it with (data: --dataset_dir, see {out / 'docs' / 'README.md'}):\n"
          f"  python -m monai.bundle run --config_file {out / 'configs' / 'train.json'} --bundle_root {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monai-segloss", description="Segmentation losses for MONAI.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, out, text in (
        ("study", "study_report", "compare losses on small brain lesions: several seeds, intervals, FROC, "
                                  "validation-tuned operating points"),
        ("demo", "demo_report", "the study's default setting (the same as `study`, report in demo_report/)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--setting", choices=["quick", "default", "full"], default="default",
                         help="quick: a smoke run of about 2 minutes; default: 4 losses x 3 seeds, at most 15 "
                              "minutes on 2 CPU cores; full: 8 losses x 5 seeds (the bundles' evidence)")
        cmd.add_argument("--quick", action="store_true", help="the same as --setting quick")
        cmd.add_argument("--out", default=out, help=f"report folder, also holds the runs for resuming (default {out})")
        cmd.add_argument("--losses", nargs="+", default=None,
                         help="registry keys replacing the setting's losses (each needs a bundle override file)")
        cmd.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds replacing the setting's seeds")
        cmd.add_argument("--workers", type=int, default=None,
                         help="worker processes (default: the number of CPU cores, at most 8); 1: in this process")
        cmd.add_argument("--cache-dir", default=".demo_cache", help="where the synthetic data are cached")
        cmd.set_defaults(func=_study)
    prof = sub.add_parser("profile", help="profile a label data set and recommend a loss")
    prof.add_argument("dataset", help="dataset.json, a folder with one, or a folder of label NIfTIs")
    prof.add_argument("--json", action="store_true", help="print the profile and recommendation as JSON")
    prof.add_argument("--write-override", metavar="PATH", help="write a bundle override file for the loss")
    prof.add_argument("--overwrite", action="store_true", help="replace an existing override file")
    prof.set_defaults(func=_profile)
    nn = sub.add_parser("nnunet-path", help="print the folder to put in nnU-Net's nnUNet_extTrainer variable "
                        "(export nnUNet_extTrainer=$(monai-segloss nnunet-path))")
    nn.set_defaults(func=_nnunet_path)
    bundle = sub.add_parser("bundle", help="list the shipped MONAI bundles or copy one out to run it")
    bundle_sub = bundle.add_subparsers(dest="bundle_command", required=True)
    bundle_sub.add_parser("list", help="names of the shipped bundles").set_defaults(func=_bundle_list)
    export = bundle_sub.add_parser("export", help="copy a bundle (configs, docs, licence) into a folder")
    export.add_argument("name", help="bundle name (monai-segloss bundle list)")
    export.add_argument("dest", help="folder to copy it into (the bundle root of `python -m monai.bundle run`)")
    export.add_argument("--overwrite", action="store_true", help="replace the bundle's files in a non-empty folder")
    export.set_defaults(func=_bundle_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
