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
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from ..core.options import InputOptions, option_names
from ..core.prepare import shared_preparation
from ..functional.distribution import BCEOptions, CrossEntropyOptions, FocalOptions
from ..functional.region import DiceOptions
from ..training.schedules import LinearRamp
from .registry import get_loss, register_loss

__all__ = ["CompoundLoss", "DiceFocalCompoundLoss", "DiceCECompoundLoss", "SCHEDULE_UNITS"]

SCHEDULE_UNITS = ("step", "epoch")
# terms that read the log-probabilities at the labels: with one of them, the region terms' fused statistics make them
_LABEL_LOG_PROB_TERMS = ("cross_entropy", "focal")
_TERM_KEYS = ("loss", "weight", "schedule", "kwargs", "name", "unit")


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


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
    params = list(inspect.signature(module.forward).parameters.values())
    names = {p.name for p in params[2:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


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
    distance maps) are passed to the terms whose ``forward`` accepts them. Every term must return a tensor of the
    same shape (a scalar with ``"mean"``/``"sum"``).
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
            self.weights.append(_finite(f"{where}: weight", spec.get("weight", 1.0)))
            self.schedules.append(_schedule(sched_spec, where))
            self.units.append(unit)
            self._accepts.append(_accepted_kwargs(module))
        self._fuse_label_log_probs = any(getattr(m, "registry_key", None) in _LABEL_LOG_PROB_TERMS
                                         for m in self.losses)
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
            for name, module, (accepts, var_kw) in zip(self.names, self.losses, self._accepts, strict=True):
                kw = {k: v for k, v in extra.items() if var_kw or k in accepts}
                if mask is not None:
                    if not (var_kw or "mask" in accepts):
                        raise ValueError(f"term {name!r} ({type(module).__name__}) does not accept a mask")
                    kw["mask"] = mask
                value = module(input, target, **kw)
                terms[name] = value
                contrib = weights[name] * value
                total = contrib if total is None else total + contrib
        self.last_terms = {k: v.detach() for k, v in terms.items()}
        self.last_weights = weights
        if self.auto_step and self.training:
            self.step += 1
        return total

    def extra_repr(self) -> str:
        parts = []
        for name, w, s, u in zip(self.names, self.weights, self.schedules, self.units, strict=True):
            parts.append(f"{name}: weight={w}" + ("" if s is None else f", schedule={s!r} per {u}"))
        return "; ".join(parts)


def _route(owner: str, options: Mapping[str, Any], targets: Mapping[str, type]) -> dict[str, dict[str, Any]]:
    """Split keyword options among terms by the fields of their options classes (common ones go to every term)."""
    common = set(option_names(InputOptions))
    valid = set().union(*(option_names(c) for c in targets.values()))
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(f"{owner} got unexpected keyword argument(s) {unknown}; valid keywords are "
                         f"{sorted(valid)} (and lambda_*)")
    out = {}
    for term, cls in targets.items():
        names = set(option_names(cls))
        out[term] = {k: v for k, v in options.items() if k in names or k in common}
    return out


@register_loss("dice_focal")
class DiceFocalCompoundLoss(CompoundLoss):
    """``lambda_dice·SoftDiceLoss + lambda_focal·SegFocalLoss`` on the same options.

    The focal term honours the activation: with ``softmax=True`` it is the categorical (softmax) focal loss, where
    MONAI's ``DiceFocalLoss`` always applies a sigmoid focal loss. Options are routed by name: the common input
    options (``sigmoid``, ``softmax``, ``to_onehot_y``, ``include_background``, ``exclude_channels``, ``weight``,
    ``ignore_index``, ``reduction``…) go to both terms, ``gamma``/``alpha`` to the focal term, the region options
    (``batch``, ``smooth_nr``, ``smooth_dr``, ``squared_pred``, ``empty``…) to the Dice term. ``last_terms`` holds
    ``{"dice", "focal"}``.

    Args:
        lambda_dice: weight of the Dice term. Default 1.
        lambda_focal: weight of the focal term. Default 1.
        **options: options of :class:`~monai_segloss.SoftDiceLoss` and :class:`~monai_segloss.SegFocalLoss`.
    """

    def __init__(self, lambda_dice: float = 1.0, lambda_focal: float = 1.0, **options: Any) -> None:
        lambda_dice, lambda_focal = _finite("lambda_dice", lambda_dice), _finite("lambda_focal", lambda_focal)
        kw = _route(type(self).__name__, options, {"dice": DiceOptions, "focal": FocalOptions})
        super().__init__([{"loss": "dice", "weight": lambda_dice, "kwargs": kw["dice"]},
                          {"loss": "focal", "weight": lambda_focal, "kwargs": kw["focal"]}])


@register_loss("dice_ce")
class DiceCECompoundLoss(CompoundLoss):
    """``lambda_dice·SoftDiceLoss + lambda_ce·(cross-entropy)`` on the same options.

    The cross-entropy term is :class:`~monai_segloss.SegCrossEntropyLoss` (softmax, identical to torch's, with
    ``label_smoothing``), or :class:`~monai_segloss.BinaryCrossEntropyLoss` (with ``pos_weight``) when
    ``sigmoid=True``. Options are routed by name as in :class:`DiceFocalCompoundLoss`. ``last_terms`` holds
    ``{"dice", "ce"}``.

    Args:
        lambda_dice: weight of the Dice term. Default 1.
        lambda_ce: weight of the cross-entropy term. Default 1.
        **options: options of :class:`~monai_segloss.SoftDiceLoss` and of the cross-entropy term.
    """

    def __init__(self, lambda_dice: float = 1.0, lambda_ce: float = 1.0, **options: Any) -> None:
        lambda_dice, lambda_ce = _finite("lambda_dice", lambda_dice), _finite("lambda_ce", lambda_ce)
        sigmoid = options.get("sigmoid", False)
        ce_key, ce_cls = ("bce", BCEOptions) if sigmoid is True else ("cross_entropy", CrossEntropyOptions)
        kw = _route(type(self).__name__, options, {"dice": DiceOptions, "ce": ce_cls})
        super().__init__([{"loss": "dice", "weight": lambda_dice, "kwargs": kw["dice"]},
                          {"loss": ce_key, "weight": lambda_ce, "kwargs": kw["ce"], "name": "ce"}])

