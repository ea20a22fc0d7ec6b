"""Options of the losses: declared once, validated once.

A loss's options are a frozen dataclass deriving from :class:`Options`, each field declared with :func:`option`:
its type annotation, its default, one line of doc and (where the annotation does not say it all) its check from
:mod:`.checks`. Everything else comes from that one declaration:

- validation when the options are built (a ``bool`` annotation is checked as a flag, a ``Literal[...]`` as one of
  its values, anything else by the field's check; cross-option rules live in :meth:`Options.validate`);
- the signature and the ``Args:`` section of the loss class and of its functional form (:mod:`.signature`);
- the message listing the valid keywords when one is unknown (:meth:`Options.parse`).

:class:`InputOptions` are the options of the preparation stage, common to every loss; :class:`RegionOptions` add
those of the region losses (batch statistics, smoothing, the empty-target policy).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import torch

from . import checks

__all__ = ["option", "Options", "InputOptions", "RegionOptions", "parse_options", "option_names", "REDUCTIONS",
           "EMPTY_POLICIES", "Reduction", "EmptyPolicy"]

Reduction = Literal["mean", "sum", "none"]
EmptyPolicy = Literal["smooth", "skip", "fp"]
REDUCTIONS: tuple[str, ...] = typing.get_args(Reduction)
EMPTY_POLICIES: tuple[str, ...] = typing.get_args(EmptyPolicy)

O = TypeVar("O", bound="Options")


def option(default: Any, doc: str, check: checks.Check | None = None, *, compare: bool = True) -> Any:
    """Declare a field of an options class: its ``default``, its one line of ``doc`` (shown in the ``Args:``
    section and by ``help``) and its ``check`` (``check(name, value) -> value``; derived from a ``bool`` or
    ``Literal`` annotation when None). ``compare=False`` leaves an unhashable field (a mapping) out of ``==`` and
    ``hash``."""
    return dataclasses.field(default=default, compare=compare, hash=None if compare else False,
                             metadata={"doc": doc, "check": check})


_CHECKS: dict[type, dict[str, checks.Check]] = {}


def field_checks(cls: type[Options]) -> dict[str, checks.Check]:
    """``{name: check}`` of every field of ``cls`` (resolved once per class)."""
    found = _CHECKS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = {}
        for f in dataclasses.fields(cls):
            check = f.metadata.get("check")
            hint = hints[f.name]
            if check is None and hint is bool:
                check = checks.flag
            elif check is None and typing.get_origin(hint) is Literal:
                check = checks.one_of(typing.get_args(hint))
            if check is None:
                raise TypeError(f"{cls.__name__}.{f.name}: an option of type {f.type} needs a check")
            found[f.name] = check
        _CHECKS[cls] = found
    return found


@dataclass(frozen=True)
class Options:
    """Base of the options classes: runs each field's check on construction (values are stored normalised, e.g.
    numbers as ``float``), then :meth:`validate`."""

    def __post_init__(self) -> None:
        for name, check in field_checks(type(self)).items():
            object.__setattr__(self, name, check(name, getattr(self, name)))
        self.validate()

    def validate(self) -> None:
        """Rules that involve several options; ``ValueError`` naming them when broken. Subclasses extend it."""

    def memo(self) -> dict[Any, Any]:
        """This object's memo: what a loss resolves once from these options (and, under a key naming them, from an
        input's shapes, dtypes and device) instead of on every call, e.g. the preparation plan of
        :func:`~monai_segloss.core.prepare.prepare_input`. The options are frozen, so nothing in it goes stale: a
        module given other options (``loss.options = ...``, ``dataclasses.replace``) gets a new, empty memo, and a
        functional call, whose options are new each call, starts from an empty one. Not pickled or copied."""
        memo = self.__dict__.get("_memo")
        if memo is None:
            memo = self.__dict__["_memo"] = {}
        return memo

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_memo", None)  # derived values (tensors on a device among them): rebuilt on first use
        return state

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The keyword names these options accept."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def parse(cls: type[O], kwargs: Mapping[str, Any], owner: str) -> O:
        """``cls(**kwargs)``, or ``ValueError`` naming the unknown keywords of ``owner`` and listing the valid ones."""
        unknown = sorted(set(kwargs) - set(cls.names()))
        if unknown:
            close = {u: difflib.get_close_matches(u, cls.names(), n=1) for u in unknown}
            guesses = "; ".join(f"did you mean {m[0]!r} for {u!r}?" for u, m in close.items() if m)
            raise ValueError(f"{owner} got unexpected keyword argument(s) {unknown}; "
                             + (f"{guesses} " if guesses else "") + f"valid keywords are {sorted(cls.names())}")
        return cls(**kwargs)

    def part(self, cls: type[O], **values: Any) -> O:
        """The options of ``cls`` taken from these (``values`` override them; a field of ``cls`` that neither has
        keeps its default): how a compound loss hands each term its own options. Cached per (class, values)."""
        cache: dict[tuple, Options] = self.__dict__.setdefault("_parts", {})
        key = (cls, tuple(sorted(values.items())))
        if key not in cache:
            mine = set(self.names())
            cache[key] = cls(**{name: values[name] if name in values else getattr(self, name) for name in cls.names()
                                if name in values or name in mine})
        return typing.cast(O, cache[key])


def option_names(cls: type[Options]) -> tuple[str, ...]:
    """The keyword names accepted by an options class."""
    return cls.names()


def parse_options(cls: type[O], kwargs: Mapping[str, Any], owner: str) -> O:
    """``cls.parse(kwargs, owner)``: build validated options or name the unknown keywords."""
    return cls.parse(kwargs, owner)


@dataclass(frozen=True)
class InputOptions(Options):
    """Options of the preparation stage, common to every loss."""

    sigmoid: bool = option(False, "apply a sigmoid to ``input`` (per channel).")
    softmax: bool = option(False, "apply a softmax over all channels of ``input``, before any channel is excluded "
                                  "(needs C >= 2).")
    other_act: Callable[[torch.Tensor], torch.Tensor] | None = option(
        None, "another activation applied to ``input``; at most one activation may be set.",
        checks.optional_callable)
    to_onehot_y: bool = option(False, "``target`` is a label map ``(B, 1, *S)`` or ``(B, *S)`` of class ids in "
                                      "[0, C), never expanded to one-hot where the loss does not need it; "
                                      "otherwise it is one-hot or soft, ``(B, C, *S)``.")
    include_background: bool = option(True, "False drops channel 0 from what is scored.")
    exclude_channels: Sequence[int] = option((), "further channel ids not scored.", checks.channel_ids)
    weight: Sequence[float] | float | None = option(
        None, "per-class weights, of length C (by channel id) or the number of kept channels, or one number for every "
              "class.", checks.class_weights)
    ignore_index: int | None = option(None, "label value whose voxels count nowhere; with a label map a real class "
                                            "id is also left unscored; with a one-hot/soft target a voxel is "
                                            "ignored when every channel holds it.", checks.optional_int)
    reduction: Reduction = option("mean", "``\"mean\"`` over the units that count, ``\"sum\"``, or ``\"none\"``.")

    def validate(self) -> None:
        super().validate()
        if int(self.sigmoid) + int(self.softmax) + int(self.other_act is not None) > 1:
            raise ValueError("sigmoid, softmax and other_act: at most one activation may be set, got "
                             f"sigmoid={self.sigmoid}, softmax={self.softmax}, other_act={self.other_act!r}")

    @functools.cached_property
    def activation(self) -> str:
        """``"sigmoid"``, ``"softmax"``, ``"other"`` or ``"none"`` (resolved once: the options are frozen)."""
        if self.sigmoid:
            return "sigmoid"
        if self.softmax:
            return "softmax"
        return "other" if self.other_act is not None else "none"


@dataclass(frozen=True)
class RegionOptions(InputOptions):
    """Options of the region losses: :class:`InputOptions` plus batch statistics, smoothing and the empty policy."""

    batch: bool = option(False, "sum the statistics over the batch before scoring.")
    distributed: bool = option(False, "with ``batch=True``, also sum them over every DDP rank (autograd-aware "
                                      "all-reduce); without a process group, local statistics and one warning.")
    smooth_nr: float = option(1e-5, "added to the numerator of the score.", checks.number(0))
    smooth_dr: float = option(1e-5, "added to the denominator of the score; 0 is allowed (see ``empty``).",
                              checks.number(0))
    empty: EmptyPolicy = option("smooth", "a (sample, class) with no target voxel: scored by the smoothing terms "
                                          "(``\"smooth\"``, as MONAI; with ``smooth_dr=0`` it is scored unsmoothed: a "
                                          "loss of 1 when anything is predicted, 0 when nothing is, never 0/0), left "
                                          "out of the mean (``\"skip\"``), or scored by its false-positive rate "
                                          "FP / (FP + TN) in place of ``1 - score`` (``\"fp\"``), which pushes every "
                                          "predicted voxel down.")
    soft_label: bool = option(False, "score soft targets with the decoupled statistics of Wang et al. 2023: "
                                     "TP = (Σ|p| + Σ|g| - Σ|p - g|) / 2, so that a prediction equal to a soft target "
                                     "scores a perfect 0 (as MONAI's ``soft_label``); the same as the default for "
                                     "hard targets and predictions in [0, 1].")

    def validate(self) -> None:
        super().validate()
        if self.distributed and not self.batch:
            raise ValueError("distributed=True needs batch=True (only batch statistics are summed across ranks)")

    @functools.cached_property
    def unsmoothed_empty(self) -> bool:
        """An empty unit has no smoothing term to score it: ``empty="smooth"`` with ``smooth_dr=0`` (resolved once)."""
        return self.empty == "smooth" and self.smooth_dr == 0

    @functools.cached_property
    def reads_empty(self) -> bool:
        """Whether the empty units (no target voxel) are looked at: ``"skip"`` and ``"fp"`` replace or drop them, and
        so does ``"smooth"`` without smoothing (:attr:`unsmoothed_empty`); otherwise their smoothed score stands
        (resolved once)."""
        return self.empty != "smooth" or self.unsmoothed_empty
