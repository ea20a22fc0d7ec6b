"""Command line: ``monai-segloss demo``, ``profile``, ``bundle`` (list and export the shipped bundles) and
``nnunet-path`` (the folder of the nnU-Net trainers).

The benchmarks are development tools of the repository (``make bench``, ``python benchmarks/bench_peers.py``), not
commands of the installed package.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out_dir=args.out, losses=args.losses, quick=args.quick, seed=args.seed, cache_dir=args.cache_dir)
    return 0


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
    demo = sub.add_parser("demo", help="train the small-lesion bundle with several losses and compare them")
    demo.add_argument("--out", default="demo_report", help="report folder (default demo_report)")
    demo.add_argument("--quick", action="store_true", help="a smoke run of about 2 minutes")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--losses", nargs="+", default=["dice", "dice_ce", "focal_tversky", "unified_focal"],
                      help="registry keys of the losses to compare (each needs a bundle override file)")
    demo.add_argument("--cache-dir", default=".demo_cache", help="where the synthetic data are cached")
    demo.set_defaults(func=_demo)
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
