"""Views that make a small tensor broadcast against a ``(B, C, *S)`` one: per-channel vectors and per-unit values.

Written once here instead of ``v.view(1, -1, *([1] * (ndim - 2)))`` at every use.
"""

from __future__ import annotations

import torch

__all__ = ["channel_view", "unit_view"]


def channel_view(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """A ``(K,)`` per-channel vector viewed as ``(1, K, 1, …)`` for an ``ndim``-dim ``(B, K, *S)`` tensor.

    A tensor that already has ``ndim`` dims (per-sample coefficients ``(B, K, 1, …)``) is returned as it is.
    """
    return values if values.ndim == ndim else values.view(1, -1, *([1] * (ndim - 2)))


def unit_view(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """``values`` with trailing singleton dims up to ``ndim`` dims: ``(B,)`` -> ``(B, 1, …)`` per sample,
    ``(B, K)`` -> ``(B, K, 1, …)`` per (sample, channel)."""
    return values.view(*values.shape, *([1] * (ndim - values.ndim)))
