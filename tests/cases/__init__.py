"""Case tables for the promise harness (docs/ARCHITECTURE.md §3) (``tests/test_promises.py``).

Every loss family adds a module ``tests/cases/<family>.py`` exposing ``CASES: dict[str, list[Case]]`` (registry key
-> cases). The harness imports every module of this package, so a new family only adds its file.

A :class:`Case` says how to build a loss (``kwargs`` for ``get_loss(key, **kwargs)``) and what kind of data it
expects; :func:`make_target` and :func:`make_input` build that data for any batch size and spatial shape.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Case", "MODES", "TARGETS", "activation_of", "collect_cases", "make_target", "make_input",
           "perfect_input", "random_input"]

MODES = ("binary", "multilabel", "multiclass")
TARGETS = ("label", "onehot", "soft")

#: logit magnitude of a "perfect" prediction: sigmoid(-60) ~ 1e-26 keeps even (1 - TI)^(1/3) far below 1e-4
#: (with 30, the 1e-13 leftovers give 5e-3 there); a softmax then leaves exact zeros.
PERFECT_LOGIT = 60.0


@dataclass(frozen=True)
class Case:
    """One way of calling a loss, run by every promise test in 2D and 3D.

    Args:
        kwargs: module keyword arguments, e.g. ``{"softmax": True, "to_onehot_y": True}``.
        mode: ``"binary"`` (C = 1, sigmoid or probabilities), ``"multilabel"`` (C > 1, independent channels,
            multi-hot or soft target) or ``"multiclass"`` (C > 1, exactly one class per voxel, softmax or
            probabilities summing to 1).
        target: ``"label"`` (a ``(B, 1, *S)`` int64 label map, needs ``to_onehot_y=True`` when C > 1; for C = 1 a
            binary label map), ``"onehot"`` (``(B, C, *S)`` float one-hot / multi-hot / binary) or ``"soft"``
            (``(B, C, *S)`` float in [0, 1]; summing to 1 over channels in multiclass mode).
        channels: C.
        extra: optional ``(input, target) -> dict`` of extra forward keyword arguments (e.g. precomputed distance
            maps); called with the tensors passed to the loss (with the un-ignored target in the ignore tests).
        minimum: the loss at a perfect prediction, or None when not defined (e.g. soft targets).
        gradcheck: run the float64 ``torch.autograd.gradcheck``. Default True.
        name: optional short id shown in the test name.
        dims: spatial dimensionalities to run. Default (2, 3).
        min_atol: absolute tolerance of the minimum check. Default 1e-4.
    """

    kwargs: dict[str, Any] = field(default_factory=dict)
    mode: str = "multiclass"
    target: str = "label"
    channels: int = 3
    extra: Callable[[torch.Tensor, torch.Tensor], dict[str, Any]] | None = None
    minimum: float | None = 0.0
    gradcheck: bool = True
    name: str = ""
    dims: tuple[int, ...] = (2, 3)
    min_atol: float = 1e-4

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Case.mode must be one of {MODES}, got {self.mode!r}")
        if self.target not in TARGETS:
            raise ValueError(f"Case.target must be one of {TARGETS}, got {self.target!r}")
        if (self.mode == "binary") != (self.channels == 1):
            raise ValueError(f"Case: mode 'binary' goes with channels=1 (got mode={self.mode!r}, "
                             f"channels={self.channels})")
        if self.target == "label" and self.channels > 1 and not self.kwargs.get("to_onehot_y", False):
            raise ValueError("Case: a label target with C > 1 needs to_onehot_y=True in kwargs")
        if self.target == "label" and self.mode == "multilabel":
            raise ValueError("Case: a multilabel case has a multi-hot ('onehot') or 'soft' target, not a label map")

    @property
    def id(self) -> str:
        return self.name or f"{self.mode}-{self.target}-C{self.channels}"


def activation_of(kwargs: dict[str, Any]) -> str:
    """``"sigmoid"``, ``"softmax"``, ``"other"`` or ``"none"`` for a loss's keyword arguments."""
    if kwargs.get("sigmoid"):
        return "sigmoid"
    if kwargs.get("softmax"):
        return "softmax"
    return "other" if kwargs.get("other_act") is not None else "none"


def make_target(case: Case, batch: int, spatial: tuple[int, ...], gen: torch.Generator, empty_last: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """A random target for ``case``: ``(target passed to the loss, dense (B, C, *S) float version of it)``.

    ``empty_last``: the last sample has no foreground (all background in multiclass mode, all zeros otherwise), so
    that every foreground class of it is an empty unit. Ignored for soft targets.
    """
    c = case.channels
    if case.target == "soft":
        if case.mode == "multiclass":
            dense = torch.softmax(2 * torch.randn(batch, c, *spatial, generator=gen), dim=1)
        else:
            dense = torch.rand(batch, c, *spatial, generator=gen)
        return dense, dense
    if case.mode == "multiclass":
        labels = torch.randint(0, c, (batch, 1, *spatial), generator=gen)
        if empty_last:
            labels[-1] = 0
        dense = torch.nn.functional.one_hot(labels[:, 0], c).movedim(-1, 1).float()
        return (labels if case.target == "label" else dense), dense
    dense = (torch.rand(batch, c, *spatial, generator=gen) < 0.4).float()
    if empty_last:
        dense[-1] = 0
    return (dense.long() if case.target == "label" else dense), dense


def random_input(case: Case, dense: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random prediction of ``dense``'s shape: logits with an activation, probabilities otherwise."""
    x = 1.5 * torch.randn(dense.shape, generator=gen)
    if activation_of(case.kwargs) != "none":
        return x
    return torch.softmax(x, dim=1) if case.mode == "multiclass" else torch.sigmoid(x)


def perfect_input(case: Case, dense: torch.Tensor) -> torch.Tensor:
    """A perfect prediction of ``dense``: ±``PERFECT_LOGIT`` logits with an activation (the inverse activation for
    soft targets), the target itself as probabilities otherwise."""
    act = activation_of(case.kwargs)
    if act == "none":
        return dense.clone()
    if case.target == "soft":
        d = dense.clamp(1e-6, 1 - 1e-6)
        return torch.log(d) if act == "softmax" else torch.logit(d)
    return (2 * dense - 1) * PERFECT_LOGIT


def make_input(case: Case, batch: int, spatial: tuple[int, ...], seed: int = 0, perfect: bool = False,
               empty_last: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input, target, dense target)`` for ``case``; float32, deterministic in ``seed``.

    ``perfect``: the input is a perfect prediction of the target; ``empty_last``: see :func:`make_target`.
    """
    gen = torch.Generator().manual_seed(seed)
    target, dense = make_target(case, batch, spatial, gen, empty_last)
    x = perfect_input(case, dense) if perfect else random_input(case, dense, gen)
    return x, target, dense


def collect_cases() -> dict[str, list[Case]]:
    """Every ``CASES`` table of the modules of this package, merged (key -> cases)."""
    merged: dict[str, list[Case]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for key, cases in getattr(module, "CASES", {}).items():
            merged.setdefault(key, []).extend(cases)
    return merged
