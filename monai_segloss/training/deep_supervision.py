"""Deep supervision: one loss applied to every output scale of a deeply supervised network, weighted and summed.

The target is given once, at full resolution, and resized to each output: a label map (integer or single-channel
target) by nearest neighbour (``nearest-exact``, as MONAI's ``DeepSupervisionLoss``), a one-hot/soft target by
area averaging (so it stays a distribution over the classes); a ``mask`` by nearest neighbour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses.registry import get_loss

__all__ = ["DeepSupervisionWrapper", "scale_weights", "WEIGHT_MODES", "RESIZE_MODES"]

WEIGHT_MODES = ("exp", "same", "halving")
RESIZE_MODES = ("auto", "nearest", "area")


def scale_weights(weights: str | Sequence[float], levels: int) -> list[float]:
    """The weight of each of ``levels`` scales (scale 0 is the full-resolution output).

    ``"exp"``: ``max(2^-k, 1/16)`` (MONAI's ``"exp"``); ``"same"``: 1 each; ``"halving"``: ``2^-k`` normalised to
    sum to 1 (nnU-Net); a sequence: its first ``levels`` values (it must have at least that many).
    """
    if weights == "exp":
        return [max(0.5 ** k, 0.0625) for k in range(levels)]
    if weights == "same":
        return [1.0] * levels
    if weights == "halving":
        raw = [0.5 ** k for k in range(levels)]
        return [w / sum(raw) for w in raw]
    if isinstance(weights, str):
        raise ValueError(f"weights must be one of {WEIGHT_MODES} or a sequence of numbers, got {weights!r}")
    if len(weights) < levels:
        raise ValueError(f"weights has {len(weights)} values but the input has {levels} scales")
    return [float(w) for w in weights[:levels]]


def _check_weights(weights: Any) -> str | tuple[float, ...]:
    if isinstance(weights, str):
        if weights not in WEIGHT_MODES:
            raise ValueError(f"weights must be one of {WEIGHT_MODES} or a sequence of numbers, got {weights!r}")
        return weights
    if isinstance(weights, torch.Tensor):
        weights = weights.tolist()
    if not isinstance(weights, Sequence) or not weights:
        raise TypeError(f"weights must be one of {WEIGHT_MODES} or a non-empty sequence of numbers, got {weights!r}")
    out = []
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ValueError(f"weights must hold finite numbers >= 0, got {list(weights)!r}")
        out.append(float(w))
    return tuple(out)


def _resize(t: torch.Tensor, size: Sequence[int], mode: str) -> torch.Tensor:
    """Resize ``(B, C, *S)`` to ``size``; nearest keeps the dtype, area gives floats."""
    if tuple(t.shape[2:]) == tuple(size):
        return t
    if mode == "nearest":
        dtype = t.dtype
        src = t if t.is_floating_point() else t.to(torch.float64 if t.dtype == torch.int64 else torch.float32)
        return F.interpolate(src, size=tuple(size), mode="nearest-exact").to(dtype)
    if not t.is_floating_point():
        t = t.float()
    return F.interpolate(t, size=tuple(size), mode="area")


class DeepSupervisionWrapper(nn.Module):
    """Deep-supervision loss ``Σ_k w_k·L(output_k, resize(target, size_k))``.

    Args:
        loss: the loss applied at every scale: a loss module, a registry key, or a mapping
            ``{"loss": key, "kwargs": {...}}``.
        weights: ``"exp"`` (default; ``max(2^-k, 1/16)`` as MONAI), ``"same"`` (1 each), ``"halving"`` (``2^-k``
            normalised to sum to 1, as nnU-Net) or an explicit sequence with at least one weight per scale.
        resize: how the target is resized: ``"auto"`` (default: nearest for a label map, i.e. an integer/bool
            target or a single-channel target when the output has several channels, or when the wrapped loss has
            ``to_onehot_y=True``; area averaging for a one-hot/soft target), ``"nearest"`` or ``"area"``.
        stacked: a tensor ``input`` is ``(B, L, C, *S)``, L scales of the same size stacked on dim 1 (as
            ``DynUNet``'s deep-supervision output); False: a tensor is a single output. Default True.
        **loss_kwargs: options of the loss when given by key.

    Forward: ``loss(input, target, mask=None, **extra)`` with ``input`` a list/tuple of ``(B, C, *S_k)`` outputs
    (finest first) or a stacked tensor; ``target`` at the finest resolution; ``mask`` (resized by nearest
    neighbour) and ``extra`` passed to the wrapped loss unchanged (``extra`` is not resized). ``last_terms``
    holds the (detached) loss of each scale, ``last_weights`` their weights.
    """

    def __init__(self, loss: nn.Module | str | Mapping[str, Any], weights: str | Sequence[float] = "exp",
                 resize: str = "auto", stacked: bool = True, **loss_kwargs: Any) -> None:
        super().__init__()
        if isinstance(loss, Mapping):
            unknown = sorted(set(loss) - {"loss", "kwargs"})
            if unknown or "loss" not in loss:
                raise ValueError(f"loss as a mapping takes 'loss' (a key) and 'kwargs', got keys {sorted(loss)}")
            loss_kwargs = {**(loss.get("kwargs") or {}), **loss_kwargs}
            loss = loss["loss"]
        if isinstance(loss, str):
            loss = get_loss(loss, **loss_kwargs)
        elif not isinstance(loss, nn.Module):
            raise TypeError(f"loss must be a loss module, a registry key or a mapping, got {type(loss).__name__}")
        elif loss_kwargs:
            raise ValueError(f"options {sorted(loss_kwargs)} apply to a loss given by key, not to a module")
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        if not isinstance(stacked, bool):
            raise TypeError(f"stacked must be a bool, got {stacked!r}")
        self.loss = loss
        self.weights = _check_weights(weights)
        self.resize = resize
        self.stacked = stacked
        self.last_terms: list[torch.Tensor] = []
        self.last_weights: list[float] = []

    def _target_mode(self, target: torch.Tensor, channels: int) -> str:
        if self.resize != "auto":
            return self.resize
        opts = getattr(self.loss, "options", None)
        label = (not target.is_floating_point()) or (target.shape[1] == 1 and channels > 1) \
            or bool(getattr(opts, "to_onehot_y", False))
        return "nearest" if label else "area"

    def forward(self, input: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor,
                mask: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        if isinstance(input, torch.Tensor):
            outputs = list(input.unbind(1)) if self.stacked else [input]
        elif isinstance(input, (list, tuple)) and input and all(isinstance(t, torch.Tensor) for t in input):
            outputs = list(input)
        else:
            raise TypeError("input must be a tensor or a non-empty list/tuple of tensors (one per scale)")
        if not isinstance(target, torch.Tensor):
            raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
        ndim = outputs[0].ndim
        if any(o.ndim != ndim for o in outputs):
            raise ValueError(f"every output must have the same number of dims, got {[o.ndim for o in outputs]}")
        squeeze = target.ndim == ndim - 1  # a (B, *S) label map
        tgt = target.unsqueeze(1) if squeeze else target
        if tgt.ndim != ndim:
            raise ValueError(f"target must be (B, C|1, *S) or (B, *S) for outputs of {ndim} dims, got shape "
                             f"{tuple(target.shape)}")
        mode = self._target_mode(tgt, outputs[0].shape[1])
        weights = scale_weights(self.weights, len(outputs))
        total: torch.Tensor | None = None
        terms = []
        for out, w in zip(outputs, weights, strict=True):
            size = out.shape[2:]
            t = _resize(tgt, size, mode)
            kw = dict(extra)
            if mask is not None:
                kw["mask"] = _resize(mask, size, "nearest")
            value = self.loss(out, t[:, 0] if squeeze else t, **kw)
            terms.append(value.detach())
            total = w * value if total is None else total + w * value
        self.last_terms, self.last_weights = terms, weights
        assert total is not None  # outputs is not empty (checked above)
        return total
