"""Does ``torch.compile`` (Inductor) speed a loss up on this CPU? Eager against compiled forward + backward of a few
losses, alternated, median of pairwise ratios (compiled / eager; below 1: compiling helps).

Usage: ``python benchmarks/bench_compile.py [--keys dice dice_ce focal] [--shape 2x3x64x64x64] [--threads 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_losses import LABEL_KW, _parse_shape, make_tensors  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", nargs="*", default=["dice", "dice_ce", "focal", "tversky"])
    p.add_argument("--shape", type=_parse_shape, default=(2, 64, 64, 64), help="BxS1xS2[xS3] (C from --channels)")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import monai_segloss

    b, *spatial = args.shape
    x, y = make_tensors(b, args.channels, spatial, "cpu")
    print(f"shape {(b, args.channels, *spatial)}, {torch.get_num_threads()} threads, load {os.getloadavg()}")
    for key in args.keys:
        eager = monai_segloss.get_loss(key, **LABEL_KW)
        t0 = time.perf_counter()
        compiled = torch.compile(eager)
        x.grad = None
        compiled(x, y).backward()
        compile_s = time.perf_counter() - t0
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for _ in range(args.reps):
            for name, fn in (("eager", eager), ("compiled", compiled)):
                x.grad = None
                t = time.perf_counter()
                fn(x, y).backward()
                times[name].append(time.perf_counter() - t)
        ratios = [c / e for c, e in zip(times["compiled"], times["eager"], strict=True)]
        print(f"{key:>12}: eager {1e3 * statistics.median(times['eager']):7.1f} ms, compiled "
              f"{1e3 * statistics.median(times['compiled']):7.1f} ms, ratio {statistics.median(ratios):.2f} "
              f"[{min(ratios):.2f}-{max(ratios):.2f}], first call (compile) {compile_s:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
