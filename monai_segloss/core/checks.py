"""Value checks of the options, written once.

Each check is a function ``check(name, value) -> normalised value`` that raises ``TypeError`` when ``value`` has the
wrong type and ``ValueError`` when it has the right type but an invalid value, with a message that names the option
and what was expected. The options classes (:mod:`.options`) attach one check to each field.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["Check", "flag", "optional_flag", "number", "one_of", "float_sequence", "number_or_per_class", "channel_ids",
           "optional_channel_ids", "class_weights", "spacing", "optional_int", "optional_callable", "mapping",
           "is_number", "integer", "optional_integer", "odd_integer", "distance_matrix"]

Check = Callable[[str, Any], Any]


def is_number(value: Any) -> bool:
    """True for a real number (``int``, ``float``, a NumPy scalar); a ``bool`` is not a number here."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def flag(name: str, value: Any) -> bool:
    """A ``bool`` (``TypeError`` otherwise: 0 and 1 are not accepted for a flag)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r})")
    return value


def optional_flag(name: str, value: Any) -> bool | None:
    """None or a ``bool`` (:func:`flag`)."""
    return None if value is None else flag(name, value)


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False) -> Check:
    """A check for a finite real number in the interval from ``low`` to ``high`` (closed ends unless ``*_open``);
    the value is returned as a ``float``."""
    lo_b, hi_b = "(" if low_open else "[", ")" if high_open else "]"
    if math.isinf(low) and math.isinf(high):
        expected = "a finite number"
    elif math.isinf(high):
        expected = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif math.isinf(low):
        expected = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        expected = f"a finite number in {lo_b}{low:g}, {high:g}{hi_b}"

    def check(name: str, value: Any) -> float:
        if not is_number(value):
            raise TypeError(f"{name} must be {expected}, got {type(value).__name__} ({value!r})")
        v = float(value)
        if not math.isfinite(v) or v < low or v > high or (low_open and v == low) or (high_open and v == high):
            raise ValueError(f"{name} must be {expected}, got {value!r}")
        return v

    check.expected = expected  # type: ignore[attr-defined]
    return check


def one_of(choices: Sequence[Any]) -> Check:
    """A check for one of ``choices`` (the values of a ``Literal`` annotation)."""
    allowed = tuple(choices)

    def check(name: str, value: Any) -> Any:
        for c in allowed:  # a str subclass (MONAI's LossReduction.MEAN, Weight.SQUARE) stands for its plain value
            if value == c and (type(value) is type(c) or isinstance(value, str) and isinstance(c, str)):
                return c
        hint = ""
        if name == "reduction" and value == "none" and "none" not in allowed:
            hint = ("; a preset's terms have different shapes: for per-unit values build a CompoundLoss of its "
                    "terms, each with reduction=\"none\", or call each term's loss")
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}{hint}")

    return check


def float_sequence(name: str, value: Any, expected: str) -> tuple[float, ...]:
    """``value`` (a sequence of numbers or a 1-D tensor) as a tuple of floats.

    Raises:
        TypeError: not a sequence (``f"{name} must be {expected}"``), or an entry that is not a number.
        ValueError: a tensor of more than one dim.
    """
    if isinstance(value, torch.Tensor):
        if value.ndim > 1:
            raise ValueError(f"{name} must be a 1-D sequence, got a tensor of shape {tuple(value.shape)}")
        value = value.detach().cpu().reshape(-1).tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if not all(is_number(v) for v in value):
        raise TypeError(f"{name} must hold numbers, got {list(value)!r}")
    return tuple(float(v) for v in value)


def number_or_per_class(low: float, high: float) -> Check:
    """A check for None, a number in ``[low, high]``, or a non-empty sequence of them (one per class)."""
    each = number(low, high)

    def check(name: str, value: Any) -> float | tuple[float, ...] | None:
        if value is None:
            return None
        if isinstance(value, torch.Tensor) and value.ndim == 0:
            value = float(value)
        if is_number(value):
            return each(name, value)
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().reshape(-1).tolist()
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
            raise TypeError(f"{name} must be a number or a non-empty sequence of per-class numbers, got {value!r}")
        return tuple(each(f"{name}[{i}]", v) for i, v in enumerate(value))

    return check


def channel_ids(name: str, value: Any) -> tuple[int, ...]:
    """A sequence (or 1-D tensor) of non-negative int channel ids, returned sorted without repeats."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, torch.Tensor)):
        raise TypeError(f"{name} must be a sequence of channel ids, got {type(value).__name__}")
    if isinstance(value, torch.Tensor) and value.ndim != 1:
        raise TypeError(f"{name} must be a sequence of channel ids, got a tensor of shape {tuple(value.shape)}")
    ids = tuple(value.tolist()) if isinstance(value, torch.Tensor) else tuple(value)
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
        raise ValueError(f"{name} must hold non-negative int channel ids, got {list(ids)!r}")
    return tuple(sorted(set(ids)))


def optional_channel_ids(name: str, value: Any) -> tuple[int, ...] | None:
    """None, or :func:`channel_ids`."""
    return None if value is None else channel_ids(name, value)


def class_weights(name: str, value: Any) -> float | tuple[float, ...] | None:
    """None, one finite weight >= 0 for every class (a number or a 0-d tensor, as ``monai.losses`` accepts), or a
    non-empty sequence of them (length C or the number of kept channels)."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = value.item()
    if is_number(value):
        values: tuple[float, ...] = (float(value),)
    else:
        values = float_sequence(name, value, "a number or a sequence of per-class weights (length C or the number "
                                "of kept channels)")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{name} values must be finite and >= 0, got {values}")
    return values[0] if is_number(value) else values


def spacing(name: str, value: Any, ndim: int | None = None) -> tuple[float, ...] | None:
    """A voxel spacing: None, a positive number or 1-sequence (isotropic), or a sequence of positive numbers, one
    per spatial dim. Returns a tuple (of length ``ndim`` when ``ndim`` is given), or None."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        value = float(value)
    scalar = is_number(value)
    if scalar:
        values: tuple[float, ...] = (float(value),) * (ndim or 1)
    else:
        values = float_sequence(name, value, "None, a positive number or a sequence of positive numbers (mm per "
                                "voxel along each spatial axis)")
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"{name} values must be finite and > 0, got {values}")
    if ndim is not None and len(values) == 1:  # one value for every axis
        return values * ndim
    if ndim is not None and not scalar and len(values) != ndim:
        raise ValueError(f"{name} must have one value per spatial dim ({ndim}), got {len(values)}: {values}")
    return values


def optional_int(name: str, value: Any) -> int | None:
    """None or an ``int`` (not a ``bool``)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be None or an int, got {value!r}")
    return value


def optional_callable(name: str, value: Any) -> Any:
    """None or a callable."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be None or callable, got {type(value).__name__}")
    return value


def mapping(name: str, value: Any) -> dict[str, Any]:
    """None (as ``{}``) or a mapping with string keys, returned as a new dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name} must be None or a mapping of option names to values, got {value!r}")
    return dict(value)


def integer(low: int, high: int | None = None) -> Check:
    """A check for an ``int`` (not a ``bool``) in ``[low, high]`` (no upper bound when ``high`` is None)."""
    expected = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be {expected}, got {type(value).__name__} ({value!r})")
        if value < low or (high is not None and value > high):
            raise ValueError(f"{name} must be {expected}, got {value!r}")
        return value

    return check


def optional_integer(low: int, high: int | None = None) -> Check:
    """None, or :func:`integer`."""
    each = integer(low, high)
    return lambda name, value: None if value is None else each(name, value)


def odd_integer(low: int) -> Check:
    """A check for an odd ``int`` >= ``low`` (a window side with a centre voxel)."""
    each = integer(low)

    def check(name: str, value: Any) -> int:
        if each(name, value) % 2 == 0:
            raise ValueError(f"{name} must be an odd int >= {low} (a window with a centre voxel), got {value!r}")
        return value

    return check


def distance_matrix(name: str, value: Any) -> tuple[tuple[float, ...], ...] | None:
    """None, or a square matrix (nested sequence, NumPy array or 2-D tensor) of finite numbers >= 0, not all 0,
    returned as a tuple of row tuples."""
    if value is None:
        return None
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):  # a tensor or a NumPy array
        if getattr(value, "ndim", 2) != 2:
            raise ValueError(f"{name} must be a square C x C matrix, got an array of shape {tuple(value.shape)}")
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise TypeError(f"{name} must be None or a square C x C matrix of class distances, got {value!r}")
    rows = tuple(float_sequence(f"{name}[{i}]", row, "a sequence of numbers") for i, row in enumerate(value))
    if any(len(r) != len(rows) for r in rows):
        raise ValueError(f"{name} must be a square C x C matrix, got rows of lengths {[len(r) for r in rows]}")
    flat = [v for r in rows for v in r]
    if any(not math.isfinite(v) or v < 0 for v in flat) or max(flat) == 0:
        raise ValueError(f"{name} must hold finite distances >= 0, not all 0, got {rows}")
    return rows
