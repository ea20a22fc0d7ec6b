"""Speed and peak memory of ``dice_focal`` and softmax ``focal`` against MONAI, side by side (issue 3).

Forward + backward on label-map targets:

- ``dice_focal`` (``SegDiceFocalLoss(softmax=True, to_onehot_y=True)``) vs
  ``monai.losses.DiceFocalLoss(softmax=True, to_onehot_y=True)``,
- ``focal`` (``SegFocalLoss(softmax=True, to_onehot_y=True)``) vs ``monai.losses.FocalLoss(use_softmax=True,
  to_onehot_y=True)``,

on (2, 3, 96, 96, 96) and (2, 14, 64, 64, 64) by default. Time: identical tensors, the two losses alternated
A B A B, the median of the pairwise ratios (and each side's median time); CPU time of the process on CPU (see
:func:`step`), wall time on CUDA. Memory: each loss in a fresh child
process with a fixed glibc mmap threshold (so that the resident set follows the live tensors), the peak resident set
(``VmHWM``, reset with ``/proc/self/clear_refs`` right before the loss) minus the resident set just before the loss;
the minimum over ``--mem-runs`` children. On CUDA, ``max_memory_allocated`` above the baseline.

Usage: ``python benchmarks/bench_distribution.py [--pairs 7] [--mem-runs 3] [--device cpu|cuda] [--threads N]
[--shapes 2,3,96,96,96 2,14,64,64,64] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SHAPES = ["2,3,96,96,96", "2,14,64,64,64"]
PAIRS = {"dice_focal": ("ours_dice_focal", "monai_dice_focal"), "focal": ("ours_focal", "monai_focal")}


def build(name: str) -> torch.nn.Module:
    sys.path.insert(0, ROOT)
    import monai.losses as ml

    import monai_segloss as ms

    if name == "ours_dice_focal":
        return ms.SegDiceFocalLoss(softmax=True, to_onehot_y=True)
    if name == "monai_dice_focal":
        return ml.DiceFocalLoss(softmax=True, to_onehot_y=True)
    if name == "ours_focal":
        return ms.SegFocalLoss(softmax=True, to_onehot_y=True)
    if name == "monai_focal":
        return ml.FocalLoss(use_softmax=True, to_onehot_y=True)
    raise ValueError(name)


def data(shape: tuple[int, ...], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g)
    y = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=g)
    return x.to(device), y.to(device)


def step(loss: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds of one forward + backward: wall time on CUDA; on CPU the process CPU time, which a machine shared
    with other jobs inflates far less than wall time (run with ``--threads 1`` so the two are the same work)."""
    xg = x.detach().clone().requires_grad_(True)
    if x.is_cuda:
        torch.cuda.synchronize()
        t = time.perf_counter()
        loss(xg, y).backward()
        torch.cuda.synchronize()
        return time.perf_counter() - t
    t = time.process_time()
    loss(xg, y).backward()
    return time.process_time() - t


def time_pair(a: str, b: str, shape: tuple[int, ...], pairs: int, device: str) -> dict:
    la, lb = build(a), build(b)
    x, y = data(shape, device)
    step(la, x, y), step(lb, x, y)  # warm-up
    ta, tb = [], []
    for _ in range(pairs):
        ta.append(step(la, x, y))
        tb.append(step(lb, x, y))
    ratios = [p / q for p, q in zip(ta, tb, strict=True)]
    return {"ours_s": statistics.median(ta), "monai_s": statistics.median(tb), "time_ratio": statistics.median(ratios)}


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def child_memory(name: str, shape: tuple[int, ...], device: str) -> int:
    """Run in a child: bytes of peak memory above the baseline taken right before the loss."""
    loss = build(name)
    x, y = data(shape, device)
    xg = x.detach().clone().requires_grad_(True)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        loss(xg, y).backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current resident set
        f.write("5")
    loss(xg, y).backward()
    return _status("VmHWM") - base


def memory(name: str, shape: tuple[int, ...], runs: int, device: str, threads: int) -> int:
    out = []
    for _ in range(runs):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--shape", ",".join(map(str, shape)),
               "--device", device, "--threads", str(threads)]
        # a fixed glibc mmap threshold: every tensor buffer is mapped on allocation and unmapped when freed, so the
        # resident set follows the live tensors (with glibc's dynamic threshold, freed 20 MB buffers stay in the
        # heap and the peak depends on the allocation history: ±40 % between identical runs here)
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        out.append(int(res.stdout.strip().splitlines()[-1]))
    return min(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--mem-runs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--shape", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(child_memory(args.child, tuple(int(s) for s in args.shape.split(",")), args.device))
        return 0
    rows = []
    print(f"device={args.device} threads={args.threads} torch={torch.__version__}")
    print(f"{'loss':<11} {'shape':<18} {'ours s':>8} {'MONAI s':>8} {'time ×':>7} {'ours MB':>8} {'MONAI MB':>9} "
          f"{'mem ×':>6}")
    for spec in args.shapes:
        shape = tuple(int(s) for s in spec.split(","))
        for key, (a, b) in PAIRS.items():
            row = {"loss": key, "shape": list(shape), **time_pair(a, b, shape, args.pairs, args.device)}
            ma, mb = (memory(n, shape, args.mem_runs, args.device, args.threads) for n in (a, b))
            row.update(ours_peak_mb=ma / 2 ** 20, monai_peak_mb=mb / 2 ** 20, mem_ratio=ma / mb)
            rows.append(row)
            print(f"{key:<11} {spec:<18} {row['ours_s']:8.3f} {row['monai_s']:8.3f} {row['time_ratio']:7.2f} "
                  f"{row['ours_peak_mb']:8.1f} {row['monai_peak_mb']:9.1f} {row['mem_ratio']:6.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
