"""Summing statistics across DDP ranks with autograd, so that batch statistics are global.

Gradient convention (the one ``torch.nn.parallel.DistributedDataParallel`` needs, verified by
``tests/test_distributed.py``): every rank computes the same loss ``L`` from the global statistics, so the DDP
objective (the mean of the rank losses) is ``L`` itself. The backward of the sum is the sum of the incoming
gradients over the ranks, so rank ``r``'s input gradient is ``W · ∂L/∂x_r`` (``W`` the world size); DDP then
averages the parameter gradients over the ranks, which divides by ``W`` and gives exactly the parameter gradient of
``L`` computed in one process on the concatenated batch. In terms of the input: ``grad_r / W`` equals the matching
slice of the single-process input gradient. The same factor ``W`` appears for the locally averaged voxel terms
of a compound loss (with equal batches per rank, the gradient of a rank's local mean is ``W`` times the slice of the
gradient of the global mean), so region and voxel terms stay in proportion under DDP.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist

__all__ = ["global_sum", "distributed_ready"]

_warned = False


def distributed_ready() -> bool:
    """True when a torch.distributed process group is initialised."""
    return dist.is_available() and dist.is_initialized()


class _AllReduceSum(torch.autograd.Function):
    """Differentiable all-reduce sum over the default process group.

    ``torch.distributed.nn.functional.all_reduce`` computes the same thing but is deprecated (a ``FutureWarning``
    on every call since torch 2.7); this is the same two lines of calculus: ``y = Σ_r x_r`` on every rank, hence
    ``∂L/∂x_r = Σ_r' ∂L_r'/∂y``, an all-reduce sum of the incoming gradients.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over every rank of the default process group, differentiably.

    Every rank must call it with a tensor of the same shape and dtype (the statistics of the same loss). See the
    module docstring for the gradient convention: rank ``r``'s input gradient is ``W`` times the slice of the
    single-process gradient, which DDP's gradient averaging turns into the single-process parameter gradient.

    Without an initialised process group ``x`` is returned unchanged, with one ``RuntimeWarning`` per process.
    """
    global _warned
    if not distributed_ready():
        if not _warned:
            warnings.warn("distributed=True but torch.distributed is not initialised: using local statistics",
                          RuntimeWarning, stacklevel=3)
            _warned = True
        return x
    return _AllReduceSum.apply(x)
