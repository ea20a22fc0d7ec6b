"""Option sets shared by the losses, validated once.

Every loss takes its common options (activation, target format, channel selection, class weights, ignored voxels,
reduction and, for region losses, batch statistics, smoothing and the empty-target policy) as keyword arguments.
They are collected here into frozen dataclasses, validated in one place, and reported with the list of valid names
when a keyword is unknown.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["InputOptions", "RegionOptions", "parse_options", "REDUCTIONS", "EMPTY_POLICIES"]

REDUCTIONS = ("mean", "sum", "none")
EMPTY_POLICIES = ("smooth", "skip", "fp")


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
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must hold numbers, got {list(value)!r}") from err


def _as_weight(weight: Any) -> tuple[float, ...] | None:
    if weight is None:
        return None
    values = float_sequence("weight", weight,
                            "a sequence of per-class weights (length C or the number of kept channels)")
    if len(values) == 0:
        raise ValueError("weight must not be empty")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"weight values must be finite and >= 0, got {values}")
    return values


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} ({value!r})")


@dataclass(frozen=True)
class InputOptions:
    """Options of the preparation stage (DESIGN.md §3), common to every loss.

    Args:
        sigmoid: apply a sigmoid to ``input`` (per channel). Default False.
        softmax: apply a softmax over *all* channels of ``input``, before any channel is excluded. Default False.
        other_act: any other callable activation applied to ``input``. Default None.
        to_onehot_y: ``target`` is a label map ``(B, 1, *S)`` or ``(B, *S)`` of class ids in ``[0, C)``.
            Default False (``target`` is one-hot or soft, ``(B, C, *S)``).
        include_background: ``False`` drops channel 0 from what is scored. Default True.
        exclude_channels: further channel ids not scored. Default ``()``.
        weight: per-class weights, of length C (indexed by channel id) or of the number of kept channels.
            Default None.
        ignore_index: label value whose voxels count nowhere. With a label-map target a real class id is also
            removed from the scored channels (it has no valid voxel left); with a one-hot/soft target, a voxel is
            ignored when every channel equals ``ignore_index``. Default None.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``. Default ``"mean"``.
    """

    sigmoid: bool = False
    softmax: bool = False
    other_act: Callable[[torch.Tensor], torch.Tensor] | None = None
    to_onehot_y: bool = False
    include_background: bool = True
    exclude_channels: tuple[int, ...] = ()
    weight: tuple[float, ...] | None = None
    ignore_index: int | None = None
    reduction: str = "mean"

    def __post_init__(self) -> None:
        for name in ("sigmoid", "softmax", "to_onehot_y", "include_background"):
            _check_bool(name, getattr(self, name))
        if self.other_act is not None and not callable(self.other_act):
            raise TypeError(f"other_act must be None or callable, got {type(self.other_act).__name__}")
        if int(self.sigmoid) + int(self.softmax) + int(self.other_act is not None) > 1:
            raise ValueError("sigmoid, softmax and other_act: at most one activation may be set, got "
                             f"sigmoid={self.sigmoid}, softmax={self.softmax}, other_act={self.other_act!r}")
        excl = self.exclude_channels
        if isinstance(excl, (str, bytes)) or not isinstance(excl, (Sequence, torch.Tensor)):
            raise TypeError(f"exclude_channels must be a sequence of channel ids, got {type(excl).__name__}")
        if isinstance(excl, torch.Tensor) and excl.ndim != 1:
            raise TypeError(f"exclude_channels must be a sequence of channel ids, got a tensor of shape "
                            f"{tuple(excl.shape)}")
        ids = tuple(excl.tolist()) if isinstance(excl, torch.Tensor) else tuple(excl)
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids):
            raise ValueError(f"exclude_channels must hold non-negative int channel ids, got {list(ids)!r}")
        object.__setattr__(self, "exclude_channels", tuple(sorted(set(ids))))
        object.__setattr__(self, "weight", _as_weight(self.weight))
        if self.ignore_index is not None and (isinstance(self.ignore_index, bool)
                                              or not isinstance(self.ignore_index, int)):
            raise TypeError(f"ignore_index must be None or an int label value, got {self.ignore_index!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")

    @property
    def activation(self) -> str:
        """``"sigmoid"``, ``"softmax"``, ``"other"`` or ``"none"``."""
        if self.sigmoid:
            return "sigmoid"
        if self.softmax:
            return "softmax"
        return "other" if self.other_act is not None else "none"


@dataclass(frozen=True)
class RegionOptions(InputOptions):
    """Options of the region losses: :class:`InputOptions` plus

    Args:
        batch: sum the statistics over the batch before scoring. Default False.
        distributed: with ``batch=True``, also sum them over every DDP rank (autograd-aware all-reduce); without an
            initialised process group, local statistics are used and one warning is given. Default False.
        smooth_nr: added to the numerator of the score. Default 1e-5.
        smooth_dr: added to the denominator of the score. Default 1e-5.
        empty: policy for a (sample, class) with no target voxel: ``"smooth"`` (scored by the smoothing terms,
            as MONAI does), ``"skip"`` (left out of the mean) or ``"fp"`` (scored by its false-positive rate
            FP / (FP + TN) in place of ``1 - score``, through the loss's transform such as the focal power or
            log-cosh, which pushes every predicted voxel down). Default ``"smooth"``.
    """

    batch: bool = False
    distributed: bool = False
    smooth_nr: float = 1e-5
    smooth_dr: float = 1e-5
    empty: str = "smooth"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_bool("batch", self.batch)
        _check_bool("distributed", self.distributed)
        for name in ("smooth_nr", "smooth_dr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.empty not in EMPTY_POLICIES:
            raise ValueError(f"empty must be one of {EMPTY_POLICIES}, got {self.empty!r}")
        if self.empty == "smooth" and self.smooth_dr == 0:
            raise ValueError("smooth_dr must be > 0 with empty='smooth' (an empty target would give 0/0); "
                             "use empty='skip' or 'fp' for unsmoothed scores")
        if self.distributed and not self.batch:
            raise ValueError("distributed=True needs batch=True (only batch statistics are summed across ranks)")


def option_names(cls: type) -> tuple[str, ...]:
    """The keyword names accepted by an options dataclass."""
    return tuple(f.name for f in dataclasses.fields(cls))


def parse_options(cls: type, kwargs: Mapping[str, Any], owner: str, extra: Sequence[str] = ()) -> Any:
    """Build ``cls(**kwargs)``, or raise ``ValueError`` naming the unknown keyword and listing the valid ones.

    ``extra`` lists the loss-specific keywords, shown in the message.
    """
    valid = option_names(cls)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"{owner} got unexpected keyword argument(s) {unknown}; valid keywords are "
                         f"{sorted(set(valid) | set(extra))}")
    return cls(**kwargs)

