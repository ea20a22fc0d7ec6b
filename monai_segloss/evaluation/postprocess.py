"""Post-processing of a lesion probability map: a probability threshold and a minimum lesion size.

``lesion_mask(prob, threshold, min_size_mm3, spacing)`` keeps the voxels with ``prob > threshold`` (strictly: with a
two-channel softmax, ``threshold=0.5`` is the argmax) and then drops every connected component (full connectivity:
26 neighbours in 3D, 8 in 2D) whose volume ``voxels × voxel volume`` is below ``min_size_mm3``. The study
(``monai-segloss study``) tunes both on the validation split; the bundles apply the chosen values with
:class:`LesionPostprocessd`, so training evaluation, the study and inference use the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from ..core.prepare import plain_tensor
from .lesion_metrics import connected_components

__all__ = ["lesion_mask", "LesionPostprocessd"]


def _check(threshold: float, min_size_mm3: float) -> tuple[float, float]:
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    if not isinstance(min_size_mm3, (int, float)) or isinstance(min_size_mm3, bool) or not (
        math.isfinite(min_size_mm3) and min_size_mm3 >= 0
    ):
        raise ValueError(f"min_size_mm3 must be a finite number >= 0, got {min_size_mm3!r}")
    return float(threshold), float(min_size_mm3)


def lesion_mask(
    prob: np.ndarray | torch.Tensor,
    threshold: float = 0.5,
    min_size_mm3: float = 0.0,
    spacing: float | Sequence[float] | None = None,
) -> np.ndarray:
    """Binary lesion mask of a probability map ``(*S)`` (2D or 3D): ``prob > threshold``, then components smaller
    than ``min_size_mm3`` (mm² in 2D) removed.

    Args:
        prob: foreground probability, values in [0, 1].
        threshold: probability threshold in [0, 1). Default 0.5 (the argmax of a two-class softmax).
        min_size_mm3: smallest kept component volume in mm³, >= 0. Default 0: keep all.
        spacing: voxel size in mm (one number or one per axis). Default None: 1 mm.

    Returns:
        bool array of the shape of ``prob``.
    """
    threshold, min_size = _check(threshold, min_size_mm3)
    p = plain_tensor(prob).detach().cpu().float().numpy() if isinstance(prob, torch.Tensor) else np.asarray(prob)
    if p.ndim not in (2, 3):
        raise ValueError(f"prob must be a 2D or 3D spatial array, got shape {p.shape}")
    mask = p > threshold
    if min_size <= 0 or not mask.any():
        return mask
    sp = np.broadcast_to(np.asarray(1.0 if spacing is None else spacing, dtype=np.float64), (p.ndim,))
    if not (np.isfinite(sp).all() and (sp > 0).all()):
        raise ValueError(f"spacing must be positive, got {spacing!r}")
    labels, n = connected_components(mask)
    volumes = np.bincount(labels.reshape(-1), minlength=n + 1) * float(np.prod(sp))
    keep = volumes >= min_size
    keep[0] = False
    return keep[labels]


class LesionPostprocessd(MapTransform):
    """Threshold a lesion probability and drop small lesions (:func:`lesion_mask`), for bundle post-processing.

    Input: a channel-first probability tensor ``(C, *S)`` under each key, e.g. after ``Activationsd(softmax=True)``;
    channel ``channel`` is the lesion probability. Output: a one-hot ``(2, *S)`` float tensor (background, lesion)
    when ``one_hot`` (what ``LesionWiseMetric`` and ``MeanDice`` read), else a ``(1, *S)`` label map. The spacing
    of the minimum size is the ``pixdim`` of a ``MetaTensor`` input (1 mm otherwise); metadata are kept.

    Args:
        keys: keys of the probability tensors.
        threshold: probability threshold in [0, 1). Default 0.5.
        min_size_mm3: smallest kept lesion in mm³. Default 0.
        channel: the lesion channel. Default 1.
        one_hot: output a two-channel one-hot mask. Default True.
        allow_missing_keys: as ``MapTransform``.
    """

    def __init__(self, keys: KeysCollection, threshold: float = 0.5, min_size_mm3: float = 0.0, channel: int = 1,
                 one_hot: bool = True, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.threshold, self.min_size_mm3 = _check(threshold, min_size_mm3)
        if not isinstance(channel, int) or isinstance(channel, bool) or channel < 0:
            raise ValueError(f"channel must be an integer >= 0, got {channel!r}")
        self.channel = channel
        self.one_hot = bool(one_hot)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4) or x.shape[0] <= self.channel:
            raise ValueError(f"expected a channel-first (C, *S) tensor with channel {self.channel}, got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        spatial = x.ndim - 1
        spacing = None
        if isinstance(x, MetaTensor):
            pixdim = x.pixdim
            spacing = [float(v) for v in (pixdim.tolist() if isinstance(pixdim, torch.Tensor) else pixdim)][:spatial]
        fg = torch.from_numpy(lesion_mask(x[self.channel], self.threshold, self.min_size_mm3, spacing))
        fg = fg.to(device=x.device, dtype=torch.float32)
        out = torch.stack([1.0 - fg, fg]) if self.one_hot else fg[None]
        if isinstance(x, MetaTensor):
            return MetaTensor(out, meta=x.meta, applied_operations=x.applied_operations)
        return out

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self._apply(d[key])
        return d
