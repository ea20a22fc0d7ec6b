"""Lesion instances: connected components of binary masks, batched with SimpleITK's threads.

Two foreground voxels belong to the same lesion when they touch by a face, an edge or a corner (26-connectivity in
3D, 8 in 2D, 2 in 1D) with ``fully_connected=True`` (default), or by a face only (6 / 4 / 2) otherwise. Instances
are numbered 1, 2, … in raster order of their first voxel (SimpleITK ``ConnectedComponent``); 0 is background.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import SimpleITK as sitk
import torch

from .distance import default_num_threads

__all__ = ["lesion_instances"]


def _components(mask: np.ndarray, fully_connected: bool) -> np.ndarray:
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.int32)
    img = sitk.GetImageFromArray(mask.view(np.uint8))
    labels = sitk.ConnectedComponent(img, fully_connected)
    return sitk.GetArrayFromImage(labels).astype(np.int32, copy=False)


def lesion_instances(masks: torch.Tensor, fully_connected: bool = True, num_threads: int | None = None
                     ) -> torch.Tensor:
    """Instance labels of a stack of binary masks.

    Args:
        masks: ``(N, *S)``, nonzero = foreground, 1 to 3 spatial dims, any device.
        fully_connected: 26-connectivity in 3D (8 in 2D) when True (default), face connectivity otherwise.
        num_threads: masks processed concurrently. Default None: SimpleITK's global default number of threads.

    Returns:
        ``(N, *S)`` int32 on the masks' device: 0 background, 1..n_i the lesions of mask i.
    """
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks must be a torch.Tensor, got {type(masks).__name__}")
    if not 2 <= masks.ndim <= 4:
        raise ValueError(f"masks must have shape (N, *S) with 1 to 3 spatial dims, got {tuple(masks.shape)}")
    if not isinstance(fully_connected, bool):
        raise TypeError(f"fully_connected must be a bool, got {fully_connected!r}")
    n, shape = masks.shape[0], tuple(masks.shape[1:])
    arr = (masks.detach().to("cpu") != 0).numpy()
    if len(shape) == 1:  # SimpleITK has no 1D images
        arr = arr[:, None, :]
    workers = max(1, min(num_threads or default_num_threads(), n, os.cpu_count() or 1))
    if workers == 1:
        results = [_components(np.ascontiguousarray(a), fully_connected) for a in arr]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda a: _components(np.ascontiguousarray(a), fully_connected), arr))
    out = np.stack(results).reshape(n, *shape) if n else np.zeros((0, *shape), np.int32)
    return torch.from_numpy(out).to(masks.device)
