"""Speed of the distance-map losses against MONAI, forward + backward, in one process on the same tensors.

Lesion-like targets ``(B, 2, *S)`` (one-hot background/lesion, default ``(2, 2, 96, 96, 96)``, several spherical
lesions of very different radii per sample) and two kinds of prediction: random logits (early training) and a
near-converged prediction (the target with noise on its boundary). Every tensor is contiguous, as a network's
output and a collated batch are. Each comparison times ours and MONAI's alternately (A B A B …) and quotes the
median of the pairwise ratios MONAI / ours, with the medians of each.

    python benchmarks/bench_geometry.py [--repeats 5] [--size 96] [--batch 2] [--device cpu] [--json out.json]

Comparisons: ``boundary`` vs ``monai.losses.BoundaryLoss`` (maps on the fly, and ours with maps precomputed by
``SignedDistanceMapd``), ``hausdorff_dt`` vs ``monai.losses.HausdorffDTLoss`` (both on the fly, include_background
on both). Values are checked equal before timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monai.losses import BoundaryLoss, HausdorffDTLoss  # noqa: E402

from monai_segloss import SegBoundaryLoss, SegHausdorffDTLoss  # noqa: E402
from monai_segloss.geometry.transforms import SignedDistanceMapd  # noqa: E402


def lesion_targets(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(B, size, size, size)`` int64 lesion maps: 6 balls per sample, radii 2 to 9 voxels."""
    rng = np.random.default_rng(seed)
    grid = np.ogrid[:size, :size, :size]
    out = np.zeros((batch, size, size, size), dtype=np.int64)
    for b in range(batch):
        for r in (2, 3, 4, 5, 7, 9):
            c = rng.integers(r + 1, size - r - 1, 3)
            out[b][sum((g - ci) ** 2 for g, ci in zip(grid, c, strict=True)) <= r * r] = 1
    return torch.from_numpy(out)


def near_converged_logits(labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Logits of the target with its boundary band flipped at random (30 %), ±4 plus small noise."""
    gen = torch.Generator().manual_seed(seed)
    y = labels.float().unsqueeze(1)
    dil = torch.nn.functional.max_pool3d(y, 3, 1, 1)
    ero = -torch.nn.functional.max_pool3d(-y, 3, 1, 1)
    band = (dil - ero) > 0
    flip = band & (torch.rand(band.shape, generator=gen) < 0.3)
    pred = torch.where(flip, 1 - y, y)[:, 0].long()
    onehot = torch.nn.functional.one_hot(pred, 2).movedim(-1, 1).float()
    return (4 * (2 * onehot - 1) + 0.5 * torch.randn(onehot.shape, generator=gen)).contiguous()


def step(loss_fn, x: torch.Tensor, *args, **kwargs) -> float:
    x = x.detach().clone().requires_grad_(True)
    t0 = time.perf_counter()
    loss = loss_fn(x, *args, **kwargs)
    loss.backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def compare(name: str, ours, theirs, repeats: int) -> dict:
    ours()
    theirs()  # warm-up
    t_ours, t_theirs, ratios = [], [], []
    for _ in range(repeats):
        a = ours()
        b = theirs()
        t_ours.append(a)
        t_theirs.append(b)
        ratios.append(b / a)
    row = {"case": name, "ours_ms": 1e3 * statistics.median(t_ours), "monai_ms": 1e3 * statistics.median(t_theirs),
           "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
    print(f"| {name} | {row['ours_ms']:.1f} | {row['monai_ms']:.1f} | {row['ratio']:.1f}x "
          f"({row['ratio_min']:.1f}-{row['ratio_max']:.1f}) |", flush=True)
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    dev = torch.device(args.device)

    labels = lesion_targets(args.batch, args.size)
    onehot = torch.nn.functional.one_hot(labels, 2).movedim(-1, 1).float().contiguous()
    sdm = SignedDistanceMapd(keys="label", num_classes=2)
    dist = torch.stack([sdm({"label": lab[None]})["label_dist"] for lab in labels])
    gen = torch.Generator().manual_seed(1)
    preds = {"random logits": torch.randn(onehot.shape, generator=gen),
             "near-converged": near_converged_logits(labels)}
    onehot, dist = onehot.to(dev), dist.to(dev)
    preds = {k: v.to(dev) for k, v in preds.items()}

    ours_b, monai_b = SegBoundaryLoss(softmax=True), BoundaryLoss(softmax=True)
    ours_h, monai_h = SegHausdorffDTLoss(softmax=True), HausdorffDTLoss(softmax=True, include_background=True)
    for name, x in preds.items():  # same values before timing
        for a, b in ((ours_b(x, onehot), monai_b(x, onehot)), (ours_b(x, onehot, distance=dist), monai_b(x, onehot)),
                     (ours_h(x, onehot), monai_h(x, onehot))):
            torch.testing.assert_close(a, b.to(a.dtype), rtol=1e-4, atol=1e-6, msg=f"{name}: values differ")

    print(f"shape {tuple(onehot.shape)}, device {dev}, torch threads {torch.get_num_threads()}, "
          f"{args.repeats} pairs\n")
    print("| case | ours ms | MONAI ms | MONAI / ours (min-max) |\n|---|---|---|---|")
    rows = []
    for name, x in preds.items():
        rows.append(compare(f"boundary, maps on the fly, {name}", lambda x=x: step(ours_b, x, onehot),
                            lambda x=x: step(monai_b, x, onehot), args.repeats))
        rows.append(compare(f"boundary, maps precomputed, {name}",
                            lambda x=x: step(ours_b, x, onehot, distance=dist),
                            lambda x=x: step(monai_b, x, onehot), args.repeats))
        rows.append(compare(f"hausdorff_dt, {name}", lambda x=x: step(ours_h, x, onehot),
                            lambda x=x: step(monai_h, x, onehot), args.repeats))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
