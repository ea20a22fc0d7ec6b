"""The module face of the losses: thin ``nn.Module`` classes over the functional forms.

A loss class names its functional form (``function = F.dice_loss``); from it, :class:`SegLoss` takes the options
class (validated once, at construction), the computation (called on every forward) and the description. The class's
signature and ``Args:`` section are generated from the options (:mod:`monai_segloss.core.signature`): ``help``,
``inspect.signature`` and the type stubs show every option with its type, default and doc line.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn as nn

from ..core.options import Options
from ..core.signature import args_section, entries, option_parameters, split_example, with_sections
from ..functional.base import TENSOR_ARGS, LossFunction

__all__ = ["SegLoss", "DocumentedByFunction", "document_options", "document_function", "deprecated_alias",
           "description"]

T = TypeVar("T", bound=type[Any])
L = TypeVar("L", bound="SegLoss")


def description(doc: str | None) -> str:
    """The description of a docstring: everything before its ``Args:`` section (or its ``Example:``)."""
    return split_example(doc)[0].partition("\nArgs:")[0].rstrip()


def document_options(cls: T, options_cls: type[Options], describe: str, *sections: str) -> T:
    """Give ``cls`` (a loss class taking ``options_cls`` as keywords) its signature and docstring: ``describe``,
    the ``Args:`` of the options, ``sections`` (forward arguments, returns), then the class's own ``Example:``."""
    head, example = split_example(cls.__doc__)
    doc = "\n\n".join(p for p in (describe, head) if p) + (f"\n\nExample:{example}" if example else "")
    cls.__doc__ = with_sections(doc, args_section(options_cls), *sections)
    params = option_parameters(options_cls)
    cls.__signature__ = inspect.Signature(params)
    init = cls.__init__
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    init.__signature__ = inspect.Signature([self_param, *params], return_annotation=None)
    return cls


class DocumentedByFunction:
    """Mixin of the loss classes: a subclass that sets ``function`` (a functional form) gets its description,
    signature and ``Args:`` from it (:func:`document_function`) when the class is created."""

    function: ClassVar[LossFunction]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "function" in cls.__dict__:
            document_function(cls)


class SegLoss(DocumentedByFunction, nn.Module):
    """Base of the loss modules: validates its options once, then calls its functional form on each forward.

    A subclass sets ``function``, a functional form (:func:`monai_segloss.functional.base.loss_function`). Its
    docstring holds an ``Example:`` section; the description, signature and ``Args:`` come from ``function``.
    Forward: ``loss(input, target, mask=None)``, plus the keyword maps the function accepts (``distance``,
    ``instances``).
    """

    options_cls: ClassVar[type[Options]]  # the function's, set with it
    registry_key: ClassVar[str]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = self.function.options_cls.parse(options, type(self).__name__)

    @classmethod
    def from_options(cls: type[L], options: Options) -> L:
        """The loss on already validated ``options`` (an instance of its options class)."""
        if not isinstance(options, cls.function.options_cls):
            raise TypeError(f"{cls.__name__}.from_options needs {cls.function.options_cls.__name__}, "
                            f"got {type(options).__name__}")
        loss = cls.__new__(cls)
        nn.Module.__init__(loss)
        loss.options = options
        return loss

    def forward(self, input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
                **maps: torch.Tensor | None) -> torch.Tensor:
        if maps:
            unknown = sorted(set(maps) - set(self.function.maps))
            if unknown:
                raise TypeError(f"{type(self).__name__}.forward got unexpected keyword argument(s) {unknown}"
                                + (f"; it accepts {list(self.function.maps)}" if self.function.maps else ""))
        return self.function.apply(input, target, mask, self.options, **maps)

    def extra_repr(self) -> str:
        defaults = {f.name: f.default for f in dataclasses.fields(self.options)}
        return ", ".join(f"{name}={getattr(self.options, name)!r}" for name in defaults
                         if getattr(self.options, name) != defaults[name])


def document_function(cls: T) -> T:
    """Give a loss class with a ``function`` attribute (a :class:`SegLoss`, or a preset compound loss) its own
    ``__init__`` carrying the options' signature, and its docstring: the function's description, the options'
    ``Args:``, the forward arguments, the function's ``Returns:``, then the class's own ``Example:``."""
    parent_init = cls.__init__

    def __init__(self: Any, **options: Any) -> None:
        parent_init(self, **options)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__  # a per-class function, to carry a per-class signature
    fn = cls.function
    cls.options_cls = fn.options_cls
    call = "loss(input, target, mask=None" + "".join(f", {m}=None" for m in fn.maps) + ")"
    forward = entries(f"Forward ``{call}``", (*TENSOR_ARGS, *fn.map_docs))
    return document_options(cls, fn.options_cls, description(fn.__doc__), forward, _returns(fn.__doc__))


def _returns(doc: str | None) -> str:
    """The ``Returns:`` section of a generated functional docstring."""
    text = inspect.cleandoc(doc or "")
    _, sep, rest = text.partition("\nReturns:")
    return ("Returns:" + rest.partition("\nExample:")[0]).rstrip() if sep else ""


def deprecated_alias(cls: T, old_name: str, version: str = "0.2.0") -> T:
    """A subclass of ``cls`` named ``old_name`` that warns (``FutureWarning``) when built, so that configs and
    code using an old name keep working. The registry keeps ``cls``."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        warnings.warn(f"{old_name} is deprecated since monai-segloss {version}: use {cls.__name__}",
                      FutureWarning, stacklevel=2)
        cls.__init__(self, *args, **kwargs)

    alias = type(old_name, (cls,), {"__init__": __init__, "__module__": cls.__module__,
                                    "__doc__": f"Deprecated alias of :class:`{cls.__name__}` (same arguments)."})
    return alias  # type: ignore[return-value]
