"""The registry: a stable key for every loss class, so a loss can be named by key in code and configs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch.nn as nn

__all__ = ["register_loss", "get_loss", "available_losses", "loss_class", "class_of"]

_REGISTRY: dict[str, type[nn.Module]] = {}
_BY_FUNCTION: dict[str, type[nn.Module]] = {}  # functional form's name -> its class
T = TypeVar("T", bound=type)


def register_loss(key: str) -> Callable[[T], T]:
    """Class decorator: register a loss class under ``key`` (each key once)."""

    def deco(cls: T) -> T:
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"loss key {key!r} is already registered to {_REGISTRY[key].__name__}")
        _REGISTRY[key] = cls
        cls.registry_key = key  # type: ignore[attr-defined]
        function = getattr(cls, "function", None)
        if function is not None:
            _BY_FUNCTION[function.__name__] = cls
        return cls

    return deco


def available_losses() -> list[str]:
    """The registered keys, sorted."""
    return sorted(_REGISTRY)


def loss_class(key: str) -> type[nn.Module]:
    """The class registered under ``key``; ``ValueError`` listing the valid keys otherwise."""
    if not isinstance(key, str) or key not in _REGISTRY:
        raise ValueError(f"unknown loss key {key!r}; available losses: {available_losses()}")
    return _REGISTRY[key]


def class_of(function: Any) -> type[nn.Module]:
    """The registered class of a functional form (``class_of(dice_loss)`` is :class:`SegDiceLoss`)."""
    name = getattr(function, "__name__", None)
    if name not in _BY_FUNCTION:
        raise ValueError(f"no registered loss class has the functional form {function!r}")
    return _BY_FUNCTION[name]


def get_loss(key: str, **kwargs: Any) -> nn.Module:
    """Build the loss registered under ``key`` with ``kwargs``.

    Raises:
        ValueError: unknown key (the message lists the valid ones) or unknown keyword (likewise).
    """
    return loss_class(key)(**kwargs)
