"""The loss of an nnU-Net trainer as data: a small JSON spec of registry keys and options, validated once, completed
with the options that nnU-Net's data dictate.

A spec is one of::

    {"loss": "focal_tversky", "kwargs": {"alpha": 0.3, "beta": 0.7}}
    {"terms": [{"loss": "dice", "kwargs": {"include_background": false}},
               {"loss": "boundary", "kwargs": {"include_background": false},
                "schedule": {"start": 0.0, "end": 0.99, "length": 99}, "unit": "epoch"}]}

``"loss"`` + ``"kwargs"``: one registered loss (``monai_segloss.available_losses()``) and its options. ``"terms"``: a
:class:`monai_segloss.CompoundLoss` (each term: ``"loss"``, ``"weight"``, ``"kwargs"``, ``"schedule"``,
``"unit"``, ``"name"``); an ``"epoch"`` schedule reads nnU-Net's epoch. ``"comment"``: free text, ignored.

The trainer adds to every loss what nnU-Net's outputs and targets are (:class:`NNUNetTargets`), so a spec never
sets it: label maps (``softmax=True, to_onehot_y=True`` and ``ignore_index`` = the ignore label, never a one-hot
copy) or, in region-based training, sigmoid outputs (``sigmoid=True``; the ignore channel nnU-Net appends to the
region target becomes the ``mask``). A loss with batch statistics gets ``batch`` = the plan's ``batch_dice`` (a spec
may override it) and ``distributed=True`` under DDP when ``batch`` is on, so batch Dice is global across ranks as
in nnU-Net. ``include_background`` keeps the loss's default (True); in label-map mode nnU-Net's own Dice leaves the
background out, as the named trainers do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..core.options import option_names
from ..losses.compound import CompoundLoss
from ..losses.registry import get_loss, loss_class

__all__ = ["SPEC_ENV", "TRAINER_OPTIONS", "NNUNetTargets", "NNUNetLoss", "read_spec", "check_spec", "build_loss",
           "probe_loss"]

SPEC_ENV = "MONAI_SEGLOSS_NNUNET_LOSS"
# options the trainer sets from nnU-Net's data; a spec that sets one is refused
TRAINER_OPTIONS = ("sigmoid", "softmax", "other_act", "to_onehot_y", "ignore_index", "distributed")
_SPEC_KEYS = ("loss", "kwargs", "terms", "comment")


@dataclass(frozen=True)
class NNUNetTargets:
    """What nnU-Net hands to its loss, read from the plans and ``dataset.json`` by the trainer.

    Args:
        regions: region-based training: one sigmoid output per region, targets ``(B, R, *S)`` bool.
        ignore_label: the ignore label of ``dataset.json`` (None when there is none). In label-map mode it is a
            value of the target ``(B, 1, *S)``; in region mode nnU-Net appends its mask as the last target channel.
        batch_dice: the plan's ``batch_dice`` (statistics summed over the batch).
        ddp: the trainer runs under DistributedDataParallel.
    """

    regions: bool
    ignore_label: int | None
    batch_dice: bool
    ddp: bool = False

    def input_options(self) -> dict[str, Any]:
        """The options every loss gets: the activation, the target format and the ignore label."""
        if self.regions:
            return {"sigmoid": True}
        opts: dict[str, Any] = {"softmax": True, "to_onehot_y": True}
        if self.ignore_label is not None:
            opts["ignore_index"] = int(self.ignore_label)
        return opts


def read_spec(value: str) -> dict[str, Any]:
    """A spec from the value of :data:`SPEC_ENV`: an inline JSON object (``{...}``) or the path of a JSON file.

    Raises:
        ValueError: empty value, a missing file, or text that is not a JSON object.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{SPEC_ENV} must hold a JSON object or the path of a JSON file, got {value!r}")
    text, where = value, SPEC_ENV
    if not value.lstrip().startswith("{"):
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(f"{SPEC_ENV}={value!r}: no such file (give a JSON file or an inline JSON object)")
        text, where = path.read_text(), str(path)
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where} is not valid JSON: {err}") from err
    return check_spec(spec)


def _check_kwargs(kwargs: Any, where: str) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"{where}: kwargs must be an object of options, got {type(kwargs).__name__}")
    fixed = sorted(set(kwargs) & set(TRAINER_OPTIONS))
    if fixed:
        raise ValueError(f"{where}: {fixed} are set by the nnU-Net trainer from the plans and dataset.json "
                         f"(activation, label maps or regions, ignore label, DDP); remove them from the spec")
    return dict(kwargs)


def check_spec(spec: Any) -> dict[str, Any]:
    """Validate the structure of a spec and return it (a copy); the keys and options are checked when the loss is
    built (:func:`build_loss`), by the registry and the losses themselves.

    Raises:
        ValueError: not an object, unknown top-level keys, neither or both of ``"loss"`` and ``"terms"``, ``kwargs``
            with ``terms``, a term that is not an object with a ``"loss"`` key, or an option the trainer sets.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"the loss spec must be a JSON object, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(_SPEC_KEYS))
    if unknown:
        raise ValueError(f"the loss spec has unknown keys {unknown}; valid keys are {list(_SPEC_KEYS)}")
    if ("loss" in spec) == ("terms" in spec):
        raise ValueError('the loss spec needs exactly one of "loss" (a registry key) and "terms" (compound terms)')
    if "loss" in spec:
        if not isinstance(spec["loss"], str):
            raise ValueError(f'"loss" must be a registry key (a string), got {spec["loss"]!r}')
        return {"loss": spec["loss"], "kwargs": _check_kwargs(spec.get("kwargs"), "the loss spec")}
    if "kwargs" in spec:
        raise ValueError('"kwargs" goes inside each term of "terms", not beside it')
    terms = spec["terms"]
    if not isinstance(terms, list) or not terms:
        raise ValueError(f'"terms" must be a non-empty list of term objects, got {terms!r}')
    out = []
    for i, term in enumerate(terms):
        where = f"terms[{i}]"
        if not isinstance(term, Mapping) or not isinstance(term.get("loss"), str):
            raise ValueError(f'{where} must be an object with "loss" (a registry key), got {term!r}')
        out.append({**term, "kwargs": _check_kwargs(term.get("kwargs"), where)})
    return {"terms": out}


def _has_batch_statistics(key: str) -> bool:
    cls = loss_class(key)
    opts = getattr(cls, "options_cls", None)
    if opts is not None:
        return "batch" in option_names(opts)
    return issubclass(cls, CompoundLoss)  # the presets hold a region term (dice_ce, dice_focal, ...)


def _options(key: str, kwargs: Mapping[str, Any], targets: NNUNetTargets) -> dict[str, Any]:
    """The options of one loss: the spec's, then the trainer's input options and batch statistics."""
    opts = {**kwargs, **targets.input_options()}
    if _has_batch_statistics(key):
        batch = opts.setdefault("batch", targets.batch_dice)
        if batch is True and targets.ddp:
            opts["distributed"] = True
    return opts


class NNUNetLoss(nn.Module):
    """Hands nnU-Net's output and target of one deep-supervision scale to a monai-segloss loss.

    Label maps ``(B, 1, *S)`` go to the loss as they are (it was built with ``to_onehot_y`` and ``ignore_index``).
    In region-based training with an ignore label, nnU-Net's target is ``(B, R + 1, *S)``, its last channel True
    where the voxel is ignored: the loss gets the ``R`` region channels (a view) and ``mask`` = not ignored.

    Args:
        loss: the monai-segloss loss.
        ignore_channel: the target's last channel is nnU-Net's region ignore mask.
    """

    def __init__(self, loss: nn.Module, ignore_channel: bool = False) -> None:
        super().__init__()
        self.loss = loss
        self.ignore_channel = ignore_channel

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.ignore_channel:
            return self.loss(output, target[:, :-1], mask=torch.logical_not(target[:, -1:]))
        return self.loss(output, target)

    def extra_repr(self) -> str:
        return "region ignore channel -> mask" if self.ignore_channel else ""


def build_loss(spec: Mapping[str, Any], targets: NNUNetTargets) -> NNUNetLoss:
    """Build the loss of ``spec`` (see the module docstring) for nnU-Net's outputs and targets ``targets``.

    Raises:
        ValueError: a bad spec (:func:`check_spec`), an unknown registry key (the message lists the valid ones) or an
            unknown option (likewise); option values are checked by the losses (``ValueError``/``TypeError``).
    """
    spec = check_spec(spec)
    if "loss" in spec:
        loss = get_loss(spec["loss"], **_options(spec["loss"], spec["kwargs"], targets))
    else:
        terms = [{**t, "kwargs": _options(t["loss"], t["kwargs"], targets)} for t in spec["terms"]]
        loss = CompoundLoss(terms)
    return NNUNetLoss(loss, ignore_channel=targets.regions and targets.ignore_label is not None)


def probe_loss(spec: Mapping[str, Any], targets: NNUNetTargets, channels: int, spatial_dims: int) -> None:
    """Build the loss of ``spec`` and run it once on a small all-background batch in nnU-Net's format, so that a loss
    that cannot take nnU-Net's outputs (e.g. ``cross_entropy`` on sigmoid region outputs) stops training at start,
    not at the first step. Built without DDP (no collective call); raises the loss's own ``ValueError``/``TypeError``.

    Args:
        channels: the network's outputs (classes, or regions in region mode).
        spatial_dims: 2 or 3.
    """
    loss = build_loss(spec, replace(targets, ddp=False))
    spatial = (4,) * spatial_dims
    output = torch.zeros(1, channels, *spatial)
    if targets.regions:
        target = torch.zeros(1, channels + int(targets.ignore_label is not None), *spatial, dtype=torch.bool)
    else:
        target = torch.zeros(1, 1, *spatial, dtype=torch.int16)
    loss(output, target)
