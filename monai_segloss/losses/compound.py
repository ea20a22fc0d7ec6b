"""Compound losses: a weighted sum of registered losses with optional per-term weight schedules, reporting each
term for logging; the presets ``dice_focal`` and ``dice_ce`` built on it.

Everything here is a composition of the registered loss modules: no formula is repeated. The configuration is
plain data (keys, numbers, dicts), so a compound loss can be written in a MONAI bundle config::

    "loss": {
        "_target_": "monai_segloss.CompoundLoss",
        "shared": {"softmax": true, "to_onehot_y": true},
        "terms": [
            {"loss": "dice", "weight": 1.0},
            {"loss": "focal", "weight": 1.0, "kwargs": {"gamma": 2.0}},
            {"loss": "boundary", "schedule": {"start": 0.0, "end": 1.0, "length": 100, "unit": "epoch"}}
        ]
    }
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn as nn

from ..core import checks
from ..core.options import InputOptions
from ..core.prepare import shared_preparation
from ..functional.compound import (
    LABEL_LOG_PROB_TERMS,
    GeneralizedDiceFocalOptions,
    PresetOptions,
    dice_ce_loss,
    dice_cldice_loss,
    dice_focal_loss,
    dice_topk_loss,
    fuse_generalized_dice_focal,
    generalized_dice_focal_loss,
)
from ..training.schedules import LinearRamp
from .base import DocumentedByFunction, SegLoss, deprecated_alias
from .registry import class_of, get_loss, register_loss

__all__ = ["CompoundLoss", "SegDiceCELoss", "SegDiceFocalLoss", "DiceTopKLoss", "SegGeneralizedDiceFocalLoss",
           "DiceClDiceLoss", "DiceCECompoundLoss", "DiceFocalCompoundLoss", "SCHEDULE_UNITS"]

SCHEDULE_UNITS = ("step", "epoch")
_TERM_KEYS = ("loss", "weight", "schedule", "kwargs", "name", "unit")


def _schedule(spec: Any, where: str) -> Callable[[int], float] | None:
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"start", "end", "length", "delay", "unit"})
        if unknown:
            raise ValueError(f"{where}: unknown schedule keys {unknown}; a linear ramp takes start, end, length, "
                             f"delay (and unit)")
        try:
            return LinearRamp(**{k: v for k, v in spec.items() if k != "unit"})
        except (TypeError, ValueError) as err:
            raise type(err)(f"{where}: schedule: {err}") from err
    raise TypeError(f"{where}: schedule must be None, a callable step -> factor, or a dict "
                    f"{{start, end, length, delay, unit}}, got {type(spec).__name__}")


def _accepted_kwargs(module: nn.Module) -> tuple[set[str], bool]:
    """Keyword names ``module.forward`` accepts beyond (input, target), and whether it takes ``**kwargs``."""
    if isinstance(module, SegLoss):
        return {"mask", *module.function.maps}, False
    params = list(inspect.signature(module.forward).parameters.values())
    names = {p.name for p in params[2:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def _reduction_of(module: nn.Module) -> str | None:
    """A term's ``reduction``: its options' (our losses and presets), its attribute (MONAI's ``_Loss``), or None."""
    options = getattr(module, "options", None)
    value = getattr(options, "reduction", None) if options is not None else getattr(module, "reduction", None)
    return value if isinstance(value, str) else None


NoneShapeKey = tuple[str, bool, tuple]  # (none_shape, batch, the options that select the scored channels)
_CHANNEL_OPTIONS = ("include_background", "exclude_channels", "ignore_index")


def _none_shape_of(module: nn.Module) -> NoneShapeKey | None:
    """What the shape of a term's ``reduction="none"`` output depends on: its functional form's ``none_shape``, its
    ``batch`` (per-unit shapes only) and its channel options; None when it does not declare a shape."""
    if isinstance(module, CompoundLoss):
        return module.none_shape
    function = getattr(module, "function", None)
    shape = getattr(function, "none_shape", None)
    if shape is None:
        return None
    options = module.options
    channels = tuple(getattr(options, name) for name in _CHANNEL_OPTIONS)
    return shape, shape != "voxels" and bool(getattr(options, "batch", False)), channels


def _describe(key: NoneShapeKey | None) -> str:
    if key is None:
        return "undeclared"
    shape, batch, channels = key
    selected = ", ".join(f"{n}={v!r}" for n, v in zip(_CHANNEL_OPTIONS, channels, strict=True))
    return f"{shape}{' with batch' if batch else ''}" + ("" if channels == (True, (), None) else f" ({selected})")


def _common_reduction(names: Sequence[str],
                      modules: Sequence[nn.Module]) -> tuple[str | None, NoneShapeKey | None]:
    """The terms' common reduction and, with ``"none"``, what their common output shape depends on; ``ValueError``
    when the reductions differ, or when ``"none"`` terms would return tensors of different shapes."""
    given = {name: r for name, m in zip(names, modules, strict=True) if (r := _reduction_of(m)) is not None}
    if len(set(given.values())) > 1:
        raise ValueError(f"the terms' reductions differ ({given}): a weighted sum needs one reduction; give every "
                         "term the same reduction, 'mean' or 'sum' (or 'none' when their per-element shapes agree)")
    reduction = next(iter(given.values()), None)
    if reduction != "none":
        return reduction, None
    shapes = {name: _none_shape_of(m) for name, m in zip(names, modules, strict=True)}
    if None in shapes.values() or len(set(shapes.values())) > 1:
        described = {n: _describe(v) for n, v in shapes.items()}
        raise ValueError(f"reduction='none' needs terms whose outputs have one shape, got {described}; use "
                         "reduction 'mean' or 'sum' for this compound loss")
    return reduction, next(iter(shapes.values()))


class CompoundLoss(nn.Module):
    """Weighted sum of losses, ``Σ_i w_i·s_i(t)·L_i(input, target)``, with per-term schedules and term logging.

    Args:
        terms: sequence of term specs. A spec is a registry key (``"dice"``), a loss module, or a mapping with
            ``"loss"`` (key or module), ``"weight"`` (w_i, default 1), ``"kwargs"`` (options of a key, merged over
            ``shared``), ``"schedule"`` (s_i: None, a callable ``t -> factor``, or a dict
            ``{"start", "end", "length", "delay"}`` of a :class:`~monai_segloss.LinearRamp`), ``"unit"`` (``"step"``
            (default) or ``"epoch"``: which counter the schedule reads; a dict schedule may also carry it) and
            ``"name"`` (the logging name; default the key or class name, made unique).
        shared: options given to every term built from a key (e.g. ``{"softmax": True, "to_onehot_y": True}``).
            Default None.
        auto_step: advance the step counter after every forward call in training mode. Default False (call
            :meth:`set_step` / :meth:`advance` / :meth:`set_epoch` from the training loop or a handler).

    Attributes:
        last_terms: ``{name: value}`` of the last forward call, detached: the values that were summed.
        last_weights: ``{name: w_i·s_i(t)}`` used in the last forward call.
        step, epoch: the schedule counters (saved in ``state_dict``).

    Forward: ``loss(input, target, mask=None, **extra)``; ``mask`` and each entry of ``extra`` (e.g. precomputed
    distance maps) are passed to the terms whose ``forward`` accepts them.

    Reduction: the terms' ``reduction`` options must agree (``ValueError`` at construction otherwise). With
    ``"mean"`` or ``"sum"`` the result is a scalar. ``"none"`` is accepted when every term declares the same
    per-element shape (e.g. Dice and Tversky: ``(B, K)``; BCE and focal: ``(B, K, *S)``; see ``none_shape`` of the
    functional forms) with the same scored channels (``include_background``, ``exclude_channels``,
    ``ignore_index``) and, for per-unit terms, the same ``batch``; the result then has that shape. Mixing a region
    term ``(B, K)`` with a voxel term ``(B, K, *S)``, or a term of undeclared shape (a module of another library),
    is refused with ``"none"``. ``reduction`` (attribute): the terms' common reduction, None when no term declares
    one.
    """

    def __init__(self, terms: Sequence[Any], shared: Mapping[str, Any] | None = None, auto_step: bool = False) -> None:
        super().__init__()
        if isinstance(terms, (str, bytes, Mapping, nn.Module)) or not isinstance(terms, Sequence) or not terms:
            raise TypeError(f"terms must be a non-empty sequence of term specs, got {terms!r}")
        if shared is not None and not isinstance(shared, Mapping):
            raise TypeError(f"shared must be a mapping of options or None, got {type(shared).__name__}")
        if not isinstance(auto_step, bool):
            raise TypeError(f"auto_step must be a bool, got {auto_step!r}")
        shared = dict(shared or {})
        self.auto_step = auto_step
        self.step, self.epoch = 0, 0
        self.losses = nn.ModuleList()
        self.names: list[str] = []
        self.weights: list[float] = []
        self.schedules: list[Callable[[int], float] | None] = []
        self.units: list[str] = []
        self._accepts: list[tuple[set[str], bool]] = []
        for i, spec in enumerate(terms):
            where = f"terms[{i}]"
            if isinstance(spec, (str, nn.Module)):
                spec = {"loss": spec}
            if not isinstance(spec, Mapping):
                raise TypeError(f"{where} must be a key, a loss module or a mapping, got {type(spec).__name__}")
            unknown = sorted(set(spec) - set(_TERM_KEYS))
            if unknown:
                raise ValueError(f"{where}: unknown keys {unknown}; a term takes {list(_TERM_KEYS)}")
            if "loss" not in spec:
                raise ValueError(f"{where}: missing 'loss' (a registry key or a loss module)")
            loss, kwargs = spec["loss"], spec.get("kwargs") or {}
            if not isinstance(kwargs, Mapping):
                raise TypeError(f"{where}: kwargs must be a mapping, got {type(kwargs).__name__}")
            if isinstance(loss, str):
                module = get_loss(loss, **{**shared, **kwargs})
                default_name = loss
            elif isinstance(loss, nn.Module):
                if kwargs:
                    raise ValueError(f"{where}: kwargs apply to a loss given by key, not to a module")
                module = loss
                default_name = getattr(type(loss), "registry_key", type(loss).__name__)
            else:
                raise TypeError(f"{where}: loss must be a registry key or an nn.Module, got {type(loss).__name__}")
            name = spec.get("name", default_name)
            if not isinstance(name, str) or not name:
                raise TypeError(f"{where}: name must be a non-empty str, got {name!r}")
            base, k = name, 1
            while name in self.names:
                k += 1
                name = f"{base}_{k}"
            sched_spec = spec.get("schedule")
            unit = spec.get("unit", sched_spec.get("unit", "step") if isinstance(sched_spec, Mapping) else "step")
            if unit not in SCHEDULE_UNITS:
                raise ValueError(f"{where}: unit must be one of {SCHEDULE_UNITS}, got {unit!r}")
            self.losses.append(module)
            self.names.append(name)
            self.weights.append(checks.number()(f"{where}: weight", spec.get("weight", 1.0)))
            self.schedules.append(_schedule(sched_spec, where))
            self.units.append(unit)
            self._accepts.append(_accepted_kwargs(module))
        self._fuse_label_log_probs = any(getattr(m, "registry_key", None) in LABEL_LOG_PROB_TERMS
                                         for m in self.losses)
        self.reduction, self.none_shape = _common_reduction(self.names, list(self.losses))
        self.last_terms: dict[str, torch.Tensor] = {}
        self.last_weights: dict[str, float] = {}

    # ---- schedule counters
    def set_step(self, step: int) -> None:
        """Set the step counter read by ``"step"`` schedules."""
        self.step = int(step)

    def advance(self, n: int = 1) -> None:
        """Advance the step counter by ``n``."""
        self.step += int(n)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch counter read by ``"epoch"`` schedules."""
        self.epoch = int(epoch)

    def current_weights(self) -> dict[str, float]:
        """``{name: w_i·s_i(t)}`` at the current counters."""
        out = {}
        for name, w, sched, unit in zip(self.names, self.weights, self.schedules, self.units, strict=True):
            t = self.step if unit == "step" else self.epoch
            out[name] = w if sched is None else w * float(sched(t))
        return out

    def get_extra_state(self) -> dict[str, int]:
        return {"step": self.step, "epoch": self.epoch}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.step, self.epoch = int(state["step"]), int(state["epoch"])

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                **extra: Any) -> torch.Tensor:
        weights = self.current_weights()
        total: torch.Tensor | None = None
        terms: dict[str, torch.Tensor] = {}
        # terms on the same tensors and input options share one prepared input (and one fused softmax)
        with shared_preparation(label_log_probs=self._fuse_label_log_probs):
            self._prepare_shared(input, target, mask)
            for name, module, (accepts, var_kw) in zip(self.names, self.losses, self._accepts, strict=True):
                kw = {k: v for k, v in extra.items() if var_kw or k in accepts} if extra else {}
                if mask is not None:
                    if not (var_kw or "mask" in accepts):
                        raise ValueError(f"term {name!r} ({type(module).__name__}) does not accept a mask")
                    kw["mask"] = mask
                value = module(input, target, **kw)
                terms[name] = value
                w = weights[name]
                contrib = value if w == 1.0 else w * value  # (1.0 * value is value, bit for bit: no op for it)
                total = contrib if total is None else total + contrib
        # plain attributes, never a parameter, buffer or submodule: set without nn.Module.__setattr__'s bookkeeping
        object.__setattr__(self, "last_terms", {k: v.detach() for k, v in terms.items()})
        object.__setattr__(self, "last_weights", weights)
        if self.auto_step and self.training:
            self.step += 1
        assert total is not None  # a compound loss has at least one term (checked when built)
        return total

    def _prepare_shared(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        """Called inside the shared-preparation block before the terms run: a preset whose terms can read one fused
        pass makes it here (nothing by default)."""

    def extra_repr(self) -> str:
        parts = []
        for name, w, s, u in zip(self.names, self.weights, self.schedules, self.units, strict=True):
            parts.append(f"{name}: weight={w}" + ("" if s is None else f", schedule={s!r} per {u}"))
        return "; ".join(parts)


class _Preset(DocumentedByFunction, CompoundLoss):
    """A preset compound loss: the :class:`CompoundLoss` of the terms of its functional form's options (see
    :mod:`monai_segloss.functional.compound`), built from keyword options like any loss."""

    def __init__(self, **options: Any) -> None:
        opts = cast(PresetOptions, self.function.options_cls.parse(options, type(self).__name__))
        # the terms of a preset are single losses (SegLoss classes), never presets
        super().__init__([{"loss": cast("type[SegLoss]", class_of(t.function)).from_options(t.options),
                           "weight": t.weight, "name": t.name} for t in opts.terms()])
        self.options = opts


@register_loss("dice_ce")
class SegDiceCELoss(_Preset):
    """
    ``last_terms`` holds ``{"dice", "ce"}``.

    Example:
        >>> from monai_segloss import SegDiceCELoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> loss = SegDiceCELoss(softmax=True, to_onehot_y=True, batch=True, include_background=False)
        >>> print(f"{loss(logits, labels):.4f}")
        0.3035
        >>> sorted(loss.last_terms)
        ['ce', 'dice']
    """

    function = dice_ce_loss


@register_loss("dice_focal")
class SegDiceFocalLoss(_Preset):
    """
    ``last_terms`` holds ``{"dice", "focal"}``.

    Example:
        >>> from monai_segloss import SegDiceFocalLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> print(f"{SegDiceFocalLoss(softmax=True, to_onehot_y=True, gamma=2.0)(logits, labels):.4f}")
        0.1353
    """

    function = dice_focal_loss


@register_loss("dice_topk")
class DiceTopKLoss(_Preset):
    """
    ``last_terms`` holds ``{"dice", "topk"}``.

    Example:
        >>> from monai_segloss import DiceTopKLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [1, 0]]]])
        >>> loss = DiceTopKLoss(softmax=True, to_onehot_y=True, include_background=False, k=50)
        >>> print(f"{loss(logits, labels):.4f}")
        0.9948
        >>> sorted(loss.last_terms)
        ['dice', 'topk']
    """

    function = dice_topk_loss


@register_loss("generalized_dice_focal")
class SegGeneralizedDiceFocalLoss(_Preset):
    """
    ``last_terms`` holds ``{"generalized_dice", "focal"}``.

    Example:
        >>> from monai_segloss import SegGeneralizedDiceFocalLoss
        >>> logits = torch.tensor([[[[2.0, -1.0], [0.5, 3.0]], [[-2.0, 1.0], [-0.5, -3.0]]]])
        >>> labels = torch.tensor([[[[0, 1], [0, 0]]]])
        >>> loss = SegGeneralizedDiceFocalLoss(softmax=True, to_onehot_y=True, gamma=2.0)
        >>> print(f"{loss(logits, labels):.4f}")
        0.1672
        >>> sorted(loss.last_terms)
        ['focal', 'generalized_dice']
    """

    function = generalized_dice_focal_loss

    def _prepare_shared(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        """Under ``sigmoid=True`` with a label map the two terms read one fused pass over the logits
        (:func:`~monai_segloss.functional.compound.fuse_generalized_dice_focal`)."""
        o = cast(GeneralizedDiceFocalOptions, self.options)
        if o.sigmoid and o.to_onehot_y:
            dice_term = cast(SegLoss, self.losses[0])
            fuse_generalized_dice_focal(input, target, mask, cast(InputOptions, dice_term.options), o.gamma)


@register_loss("dice_cldice")
class DiceClDiceLoss(_Preset):
    """
    ``last_terms`` holds ``{"dice", "cldice"}``.

    Example:
        >>> from monai_segloss import DiceClDiceLoss
        >>> target = torch.zeros(1, 1, 9, 9)
        >>> target[..., 4, 1:8] = 1.0  # a thin vessel
        >>> logits = 8 * target - 4
        >>> logits[..., 4, 4] = -4.0  # predicted with a gap
        >>> loss = DiceClDiceLoss(sigmoid=True, alpha=0.5)
        >>> print(f"{loss(logits, target):.4f}")
        0.1160
        >>> sorted(loss.last_terms)
        ['cldice', 'dice']
    """

    function = dice_cldice_loss


DiceCECompoundLoss = deprecated_alias(SegDiceCELoss, "DiceCECompoundLoss")
DiceFocalCompoundLoss = deprecated_alias(SegDiceFocalLoss, "DiceFocalCompoundLoss")
