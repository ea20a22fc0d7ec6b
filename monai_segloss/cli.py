"""Command line: ``monai-segloss demo`` (and further subcommands as they land)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(steps=args.steps, seed=args.seed, losses=args.losses)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monai-segloss", description="Segmentation losses for MONAI.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small 3D network with several losses on synthetic lesions")
    demo.add_argument("--steps", type=int, default=300, help="training steps per loss (default 300)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--losses", nargs="+", default=["dice", "tversky", "focal_tversky"],
                      help="registry keys of the losses to compare")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
