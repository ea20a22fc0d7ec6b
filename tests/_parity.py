"""Parity with a peer library's loss: the same value and the same input gradient on the same input."""

from __future__ import annotations

from collections.abc import Callable

import torch

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def assert_parity(ours: Loss, peer: Loss, x: torch.Tensor, y: torch.Tensor, *, rtol: float = 1e-5,
                  atol: float = 1e-6, grad_rtol: float = 1e-4, grad_atol: float = 1e-7,
                  offset: float = 0.0) -> torch.Tensor:
    """``ours(x, y)`` equals ``peer(x, y) + offset`` (reshaped to our shape, cast to our dtype), and so do the
    gradients of their sums with respect to ``x``; returns our value."""
    xa, xb = x.detach().clone().requires_grad_(True), x.detach().clone().requires_grad_(True)
    a, b = ours(xa, y), peer(xb, y)
    torch.testing.assert_close(a, (b + offset).reshape(a.shape).to(a.dtype), rtol=rtol, atol=atol)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad.to(xa.grad.dtype), rtol=grad_rtol, atol=grad_atol)
    return a.detach()
