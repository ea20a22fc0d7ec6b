"""MONAI dictionary transforms that precompute, in the data pipeline, what the geometry losses need from the target,
so a training step does no CPU distance transform or connected-component labelling of the target:

- :class:`SignedDistanceMapd`: signed distance maps (mm) of each class, for ``hausdorff_dt``, ``boundary``,
  ``shape_aware`` and ``distance_penalized_ce`` (forward keyword ``distance``);
- :class:`LesionInstancesd`: lesion instance labels of each class (connected components, 26-connectivity in 3D),
  for ``blob`` (forward keyword ``instances``).

Apply them last, after every spatial transform (crops, flips, resampling), so the maps describe the label the loss
sees; the loss then gives exactly the value it computes on the fly. Both accept a channel-first label, either a label
map ``(1, *S)`` with ``num_classes`` set, or one-hot/binary ``(C, *S)`` channels (``> 0.5`` is foreground).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from ..core import checks
from .distance import resolve_spacing, signed_distance
from .instances import lesion_instances

__all__ = ["SignedDistanceMapd", "LesionInstancesd", "class_masks"]


def class_masks(label: Any, num_classes: int | None, name: str = "label") -> torch.Tensor:
    """``(C, *S)`` bool class masks of a channel-first label: a label map ``(1, *S)`` of ids in ``[0, num_classes)``
    when ``num_classes`` is given, else ``(C, *S)`` one-hot/binary channels (``> 0.5``)."""
    t = torch.as_tensor(np.asarray(label) if not isinstance(label, torch.Tensor) else label)
    t = t.as_subclass(torch.Tensor) if isinstance(t, torch.Tensor) else t
    if not 2 <= t.ndim <= 4:
        raise ValueError(f"{name} must be channel-first (C, *S) with 1 to 3 spatial dims, got shape {tuple(t.shape)}")
    if num_classes is None:
        return t > 0.5
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be None or an int >= 1, got {num_classes!r}")
    if t.shape[0] != 1:
        raise ValueError(f"{name} must be a label map of shape (1, *S) with num_classes set, got {tuple(t.shape)}")
    if t.is_floating_point() and not torch.equal(t, t.round()):
        raise ValueError(f"{name} must hold integer class ids with num_classes set")
    ids = t[0].long()
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= num_classes):
        raise ValueError(f"{name} holds label values outside [0, {num_classes})")
    return torch.stack([ids == c for c in range(num_classes)])


def _like(label: Any, data: torch.Tensor) -> torch.Tensor:
    """``data`` as a MetaTensor carrying ``label``'s affine and meta (so the loss can read the spacing)."""
    if isinstance(label, MetaTensor):
        return MetaTensor(data, meta=dict(label.meta))  # the meta holds the affine
    return data


class _LabelTransform(MapTransform):
    def __init__(self, keys: KeysCollection, num_classes: int | None, output_postfix: str,
                 allow_missing_keys: bool) -> None:
        super().__init__(keys, allow_missing_keys)
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(f"num_classes must be None or an int >= 1, got {num_classes!r}")
        if not isinstance(output_postfix, str) or not output_postfix:
            raise ValueError(f"output_postfix must be a non-empty str, got {output_postfix!r}")
        self.num_classes = num_classes
        self.output_postfix = output_postfix

    def compute(self, label: Any, masks: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            label = d[key]
            masks = class_masks(label, self.num_classes, name=str(key))
            d[f"{key}_{self.output_postfix}"] = _like(label, self.compute(label, masks))
        return d


class SignedDistanceMapd(_LabelTransform):
    """Signed Euclidean distance map (mm) of each class of a label, for the distance-map losses.

    Writes ``data[f"{key}_{output_postfix}"]``: ``(C, *S)`` float32, the boundary level set φ of each class:
    positive outside class c (distance to its nearest voxel), ``-(d - δ)`` inside with d the distance to the nearest
    voxel outside and δ the smallest spacing (so the innermost layer is 0, as in Kervadec 2019 and
    ``monai.losses.BoundaryLoss``), 0 everywhere for a class that is absent or fills the image; a MetaTensor with
    the label's affine when the label is one. Pass it to the loss as ``distance`` (batched by the data loader to
    ``(B, C, *S)``).

    Args:
        keys: label keys.
        num_classes: the label is a map ``(1, *S)`` of class ids in ``[0, num_classes)``; None (default): the label
            is ``(C, *S)`` one-hot or binary channels.
        spacing: mm per voxel along each spatial axis, or one value for all. Default None: from the label's
            MetaTensor affine, else 1 mm.
        output_postfix: suffix of the output key. Default ``"dist"``.
        allow_missing_keys: do not raise for a missing key. Default False.
    """

    def __init__(self, keys: KeysCollection, num_classes: int | None = None,
                 spacing: Sequence[float] | float | None = None, output_postfix: str = "dist",
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, num_classes, output_postfix, allow_missing_keys)
        self.spacing = checks.spacing("spacing", spacing)

    def compute(self, label: Any, masks: torch.Tensor) -> torch.Tensor:
        ndim = masks.ndim - 1
        sp = resolve_spacing(self.spacing, 1, ndim, label)[0]
        return signed_distance(masks, sp, kind="level_set")


class LesionInstancesd(_LabelTransform):
    """Lesion instance labels of each class of a label (connected components), for the blob loss.

    Writes ``data[f"{key}_{output_postfix}"]``: ``(C, *S)`` int32, 0 outside class c and 1..n on its n lesions
    (26-connectivity in 3D, 8 in 2D with ``fully_connected=True``). Pass it to the loss as ``instances``.

    Args:
        keys: label keys.
        num_classes: as in :class:`SignedDistanceMapd`. Default None.
        fully_connected: 26-/8-connectivity (True, default) or face connectivity.
        output_postfix: suffix of the output key. Default ``"instances"``.
        allow_missing_keys: do not raise for a missing key. Default False.
    """

    def __init__(self, keys: KeysCollection, num_classes: int | None = None, fully_connected: bool = True,
                 output_postfix: str = "instances", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, num_classes, output_postfix, allow_missing_keys)
        if not isinstance(fully_connected, bool):
            raise TypeError(f"fully_connected must be a bool, got {fully_connected!r}")
        self.fully_connected = fully_connected

    def compute(self, label: Any, masks: torch.Tensor) -> torch.Tensor:
        return lesion_instances(masks, self.fully_connected)
