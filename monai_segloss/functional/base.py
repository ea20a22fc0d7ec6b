"""How a functional form is made: one computation on validated options, one options class, one description.

:func:`loss_function` turns ``apply(input, target, mask, options, **maps)`` into the public function
``loss(input, target, mask=None, **options)``: it validates the keywords into the options class, and carries the
signature and ``Args:`` section generated from the options (:mod:`monai_segloss.core.signature`). The module face
(:mod:`monai_segloss.losses`) builds its classes on the same objects: ``options_cls`` to validate once at
construction, ``apply`` to compute on every call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import torch

from ..core.options import Options
from ..core.signature import args_section, option_parameters, with_sections

__all__ = ["LossFunction", "loss_function", "TENSOR_ARGS", "NoneShape", "none_shape_of"]

Tensor = torch.Tensor

TENSOR_ARGS: tuple[tuple[str, str, str], ...] = (
    ("input", "Tensor", "``(B, C, *S)`` with 1 to 3 spatial dims: logits when an activation is set, probabilities "
                        "in [0, 1] otherwise."),
    ("target", "Tensor", "label map ``(B, 1, *S)`` or ``(B, *S)`` with ``to_onehot_y=True``, else one-hot or soft "
                         "``(B, C, *S)``."),
    ("mask", "Tensor | None", "broadcastable to ``(B, 1, *S)``: voxels where it is 0 count nowhere. Default None."),
)


class LossFunction(Protocol):
    """A functional form: ``loss(input, target, mask=None, **options) -> Tensor``, with

    - ``options_cls``: the options class its keywords are validated into;
    - ``apply(input, target, mask, options, **maps)``: the computation on validated options (what a loss module
      calls on each forward, having validated its options once);
    - ``maps``: the names of the precomputed maps it accepts as keywords (``distance``, ``instances``), and
      ``map_docs`` their ``(name, type text, doc)``;
    - ``none_shape``: what ``reduction="none"`` returns (:data:`NoneShape`), or None where it is not declared.
    """

    __name__: str
    options_cls: type[Options]
    maps: tuple[str, ...]
    map_docs: tuple[tuple[str, str, str], ...]
    none_shape: NoneShape | None

    def __call__(self, input: Tensor, target: Tensor, mask: Tensor | None = None, **options: Any) -> Tensor: ...

    def apply(self, input: Tensor, target: Tensor, mask: Tensor | None, options: Any, **maps: Any) -> Tensor: ...


NoneShape = Literal["voxels", "units", "samples"]
"""What ``reduction="none"`` returns: ``"voxels"`` ``(B, K, *S)``, one term per voxel and kept channel;
``"units"`` ``(B, K)``, one per (sample, kept class), ``(K,)`` with ``batch=True``; ``"samples"`` ``(B,)``, one per
sample, a 0-d tensor with ``batch=True`` (see :func:`none_shape_of`)."""


def none_shape_of(shape: NoneShape, input_shape: Sequence[int], kept: int, batch: bool = False) -> tuple[int, ...]:
    """The shape ``reduction="none"`` gives for an input of ``input_shape`` ``(B, C, *S)`` with ``kept`` scored
    channels, for a loss whose ``none_shape`` is ``shape``."""
    b, spatial = input_shape[0], tuple(input_shape[2:])
    if shape == "voxels":
        return (b, kept, *spatial)
    if shape == "units":
        return (kept,) if batch else (b, kept)
    return () if batch else (b,)


def loss_function(options_cls: type[Options], apply: Callable[..., Tensor], name: str, doc: str,
                  maps: Sequence[tuple[str, str, str]] = (), returns: str = "",
                  none_shape: NoneShape | None = None) -> LossFunction:
    """Make the public functional form ``name`` of the computation ``apply``.

    Args:
        options_cls: the options class of the loss.
        apply: ``apply(input, target, mask, options, **maps) -> Tensor`` on validated options.
        name: the function's name (``<registry key>_loss``).
        doc: its description: formula, reference, and an ``Example:`` section with ``>>>`` lines.
        maps: ``(name, type text, doc)`` of each precomputed map ``apply`` accepts as a keyword (default None).
        returns: the ``Returns:`` section.
        none_shape: what ``reduction="none"`` returns (:data:`NoneShape`); None when the loss does not
            declare it (a :class:`~monai_segloss.CompoundLoss` then refuses ``"none"`` for it).
    """
    map_names = tuple(m[0] for m in maps)

    def loss(input: Tensor, target: Tensor, mask: Tensor | None = None, **kwargs: Any) -> Tensor:
        given = {k: kwargs.pop(k) for k in map_names if k in kwargs}
        return apply(input, target, mask, options_cls.parse(kwargs, name), **given)

    tensor_params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Tensor)
                     for n in ("input", "target")]
    tensor_params.append(inspect.Parameter("mask", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                           annotation=Tensor | None))
    map_params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Tensor | None)
                  for n in map_names]
    loss.__name__ = loss.__qualname__ = name
    loss.__module__ = apply.__module__
    loss.__doc__ = with_sections(doc, args_section(options_cls, (*TENSOR_ARGS, *maps)), returns)
    loss.__dict__.update(
        __signature__=inspect.Signature([*tensor_params, *map_params, *option_parameters(options_cls)],
                                        return_annotation=Tensor),
        options_cls=options_cls, apply=apply, maps=map_names, map_docs=tuple(maps), none_shape=none_shape)
    return loss  # type: ignore[return-value]  # a function with the LossFunction attributes set above
