"""Shared helpers of the reliability tests (issue 8): every registered loss, driven by the promise case tables.

The tests iterate ``monai_segloss.available_losses()`` and take each key's ways of being called from
``tests/cases`` (``CASES: dict[str, list[Case]]``), so a loss family that lands with its case file is covered
without touching these tests; a registered key without a case fails loudly here.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from monai_segloss import available_losses, get_loss
from tests.cases import Case, activation_of, collect_cases, make_input

__all__ = ["CASES", "Case", "activation_of", "call", "case_params", "make_input", "missing_keys"]

CASES: dict[str, list[Case]] = collect_cases()


def missing_keys() -> list[str]:
    """Registered keys without a case table entry."""
    return sorted(set(available_losses()) - set(CASES))


def case_params(filter_fn=None, first_dim_only: bool = True) -> list[Any]:
    """``pytest.param(key, case, dim)`` for every registered key and its cases (``case.dims[0]`` only by default)."""
    out = []
    for key in available_losses():
        for i, case in enumerate(CASES.get(key, [])):
            if filter_fn is not None and not filter_fn(case):
                continue
            for dim in case.dims[:1] if first_dim_only else case.dims:
                out.append(pytest.param(key, case, dim, id=f"{key}-{i}-{case.id}-{dim}d"))
    return out


def call(key: str, case: Case, x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
         loss: torch.nn.Module | None = None, **kwargs: Any) -> torch.Tensor:
    """``get_loss(key, **case.kwargs, **kwargs)(x, target, mask=mask, **case.extra(x, target))``."""
    loss = get_loss(key, **case.kwargs, **kwargs) if loss is None else loss
    extra = {} if case.extra is None else dict(case.extra(x, target))
    if mask is not None:
        extra["mask"] = mask
    return loss(x, target, **extra)
