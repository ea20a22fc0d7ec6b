"""A short, real training example: a small 3D U-Net on synthetic small lesions, one run per loss.

Every loss trains the same network from the same seed on the same data for the same number of steps; the
held-out voxel Dice and the fraction of lesions touched by the prediction are printed side by side.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .registry import get_loss

__all__ = ["make_volumes", "run_demo"]


def make_volumes(n: int, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noisy volumes ``(n, 1, size, size, size)`` with 1-4 small bright spheres each, and their labels."""
    grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1).astype(np.float32)
    images = rng.normal(0.0, 1.0, (n, size, size, size)).astype(np.float32)
    labels = np.zeros((n, size, size, size), dtype=np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 5)):
            radius = rng.uniform(1.5, 3.5)
            centre = rng.uniform(radius + 1, size - radius - 1, 3)
            inside = np.linalg.norm(grid - centre, axis=-1) <= radius
            labels[i][inside] = 1
            images[i][inside] += rng.uniform(1.0, 2.5)
    return torch.from_numpy(images)[:, None], torch.from_numpy(labels)[:, None]


def _lesion_hit_rate(pred: np.ndarray, label: np.ndarray) -> float:
    from scipy import ndimage

    hits = total = 0
    for p, y in zip(pred, label, strict=True):
        comps, count = ndimage.label(y[0], structure=np.ones((3, 3, 3)))
        total += count
        hits += sum(bool(p[0][comps == k].any()) for k in range(1, count + 1))
    return hits / max(total, 1)


def run_demo(steps: int = 300, seed: int = 0, losses: tuple[str, ...] | list[str] = ("dice", "focal_tversky"),
             size: int = 24) -> dict[str, dict[str, float]]:
    """Train one small U-Net per loss and print/return held-out Dice, lesion hit rate and time."""
    from monai.networks.nets import UNet

    torch.set_num_threads(max(1, torch.get_num_threads()))
    rng = np.random.default_rng(seed)
    x_train, y_train = make_volumes(16, size, rng)
    x_test, y_test = make_volumes(8, size, rng)
    results: dict[str, dict[str, float]] = {}
    for key in losses:
        torch.manual_seed(seed)
        net = UNet(3, 1, 1, channels=(8, 16, 32), strides=(2, 2), num_res_units=1)
        loss_fn = get_loss(key, sigmoid=True)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        start = time.perf_counter()
        for step in range(steps):
            idx = torch.from_numpy(np.random.default_rng(seed + step).choice(len(x_train), 4, replace=False))
            opt.zero_grad()
            loss = loss_fn(net(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        elapsed = time.perf_counter() - start
        with torch.no_grad():
            pred = (torch.sigmoid(net(x_test)) > 0.5).float()
        inter = (pred * y_test).sum().item()
        dice = 2 * inter / max((pred.sum() + y_test.sum()).item(), 1.0)
        hit = _lesion_hit_rate(pred.numpy(), y_test.numpy())
        results[key] = {"final_loss": loss.item(), "dice": dice, "lesion_hit_rate": hit, "seconds": elapsed}
        print(f"{key:>24s}  loss {loss.item():.4f}  held-out Dice {dice:.3f}  lesions found {hit:.2f}  "
              f"{elapsed:.1f} s", flush=True)
    return results
