"""Determinism (issue 8 item 4), for every registered loss and each of its promise cases, on CPU.

The same inputs give bitwise-identical losses and input gradients twice, with a ``mask`` and with a fresh module
each time; and the loss runs under ``torch.use_deterministic_algorithms(True)`` (no op of the pipeline is refused)
with the same bits as without it. Inputs are big enough (2 x C x 24 x 20, 2 x C x 10 x 9 x 8) for torch's
parallel CPU reductions to split the work when more than one thread is available.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from tests._reliability import call, case_params, make_input

SPATIAL = {1: (97,), 2: (24, 20), 3: (10, 9, 8)}


@contextlib.contextmanager
def deterministic_algorithms():
    """``torch.use_deterministic_algorithms(True)`` (errors, not warnings), restoring the previous setting."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def _loss_and_grad(key, case, dim, masked: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x, target, _ = make_input(case, 2, SPATIAL[dim], seed=123 + dim)
    x.requires_grad_(True)
    mask = None
    if masked:
        mask = torch.rand(x.shape[0], 1, *x.shape[2:], generator=torch.Generator().manual_seed(7)) < 0.8
    loss = call(key, case, x, target, mask=mask)
    loss.sum().backward()
    return loss.detach(), x.grad


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("key,case,dim", case_params(first_dim_only=False))
def test_bitwise_identical_twice_in_each_mode(key, case, dim, masked):
    loss1, grad1 = _loss_and_grad(key, case, dim, masked)
    loss2, grad2 = _loss_and_grad(key, case, dim, masked)
    assert torch.equal(loss1, loss2), f"loss differs between two runs: {loss1} vs {loss2}"
    assert torch.equal(grad1, grad2), f"gradient differs between two runs: max {float((grad1 - grad2).abs().max())}"
    with deterministic_algorithms():
        loss3, grad3 = _loss_and_grad(key, case, dim, masked)
        loss4, grad4 = _loss_and_grad(key, case, dim, masked)
    # deterministic mode may pick other kernels (another summation order), so across modes the results agree to
    # rounding; within the mode they are bitwise identical again
    assert torch.equal(loss3, loss4) and torch.equal(grad3, grad4), "not reproducible under deterministic mode"
    torch.testing.assert_close(loss3, loss1, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(grad3, grad1, rtol=1e-5, atol=1e-9)


def test_deterministic_mode_is_restored():
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic_algorithms():
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before
