"""Command line: ``monai-segloss study`` / ``demo``, ``profile``, ``bench`` and ``nnunet-path``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def repo_root() -> Path:
    """The monai-segloss source tree (holding ``bundles/``, ``data_scripts/`` and ``benchmarks/``), put on
    ``sys.path`` so its scripts import; searched from the working directory, then from the installed package."""
    starts = [Path.cwd(), Path(__file__).resolve().parent.parent]
    for start in starts:
        for d in (start, *start.parents):
            if (d / "data_scripts").is_dir() and (d / "bundles").is_dir() and (d / "benchmarks").is_dir():
                if str(d) not in sys.path:
                    sys.path.insert(0, str(d))
                return d
    raise SystemExit("error: this command needs the monai-segloss source tree (bundles/, data_scripts/, "
                     "benchmarks/); run it from a checkout of the repository")


def _bench(args: argparse.Namespace) -> int:
    repo_root()
    if args.bench_args[:1] == ["peers"]:  # the table against nnU-Net and MONAI (make bench)
        from benchmarks.bench_peers import main as peers_main

        return int(peers_main(args.bench_args[1:]) or 0)
    from benchmarks.bench_losses import main as bench_main

    return int(bench_main(args.bench_args) or 0)


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
    bench = sub.add_parser("bench", help="benchmark every loss against MONAI (benchmarks/bench_losses.py); "
                           "'bench peers': against nnU-Net and MONAI at every class count (bench_peers.py)",
                           add_help=False)
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments of benchmarks/bench_losses.py")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # everything after "bench" belongs to the benchmark's own parser
        return _bench(argparse.Namespace(bench_args=argv[1:]))
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
