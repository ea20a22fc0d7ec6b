"""Summing statistics across DDP ranks with autograd, so that batch statistics are global."""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist

__all__ = ["global_sum", "distributed_ready"]

_warned = False


def distributed_ready() -> bool:
    """True when a torch.distributed process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over every rank of the default process group, differentiably.

    The gradient of an all-reduce sum is the all-reduce sum of the incoming gradients, which
    ``torch.distributed.nn.functional.all_reduce`` provides: each rank's input gradient then equals the matching
    slice of the gradient of the same loss computed on the concatenated batch in one process.

    Without an initialised process group ``x`` is returned unchanged, with one warning per process.
    """
    global _warned
    if not distributed_ready():
        if not _warned:
            warnings.warn("distributed=True but torch.distributed is not initialised: using local statistics",
                          RuntimeWarning, stacklevel=3)
            _warned = True
        return x
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(x, op=dist.ReduceOp.SUM)
