"""Signatures and ``Args:`` sections generated from an options class (:mod:`.options`).

The loss classes and the functional forms take their options as keywords; what ``inspect.signature``, ``help`` and
the type stubs show of them is made here from the options' field declarations, so that no option is documented
twice. Options are listed as the reader needs them: the loss's own first, then the region options, then the input
options common to every loss.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import textwrap
import types
import typing
from collections.abc import Sequence

from .options import InputOptions, Options, RegionOptions

__all__ = ["type_text", "OptionDoc", "option_docs", "option_parameters", "entries", "args_section", "with_sections",
           "split_example"]


@dataclasses.dataclass(frozen=True)
class OptionDoc:
    """What is shown of one option: name, type (resolved annotation and its text), default and doc line."""

    name: str
    annotation: object
    type_text: str
    default: object
    doc: str

    def parameter(self) -> inspect.Parameter:
        """The option as a keyword-only parameter."""
        return inspect.Parameter(self.name, inspect.Parameter.KEYWORD_ONLY, default=self.default,
                                 annotation=self.annotation)


def _group(cls: type[Options], name: str) -> int:
    """0 for the loss's own options, 1 for the region options, 2 for the input options."""
    if name in InputOptions.names():
        return 2
    if issubclass(cls, RegionOptions) and name in RegionOptions.names():
        return 1
    return 0


def type_text(annotation: object) -> str:
    """An annotation as source text, in the names a stub imports (``Tensor``, ``Sequence``, ``Literal`` ...)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if annotation is Ellipsis:
        return "..."
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is collections.abc.Callable:
        params, ret = args
        return f"Callable[[{', '.join(type_text(a) for a in params)}], {type_text(ret)}]"
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_text(a) for a in args)}]"
    if annotation is typing.Any:
        return "Any"
    return getattr(annotation, "__name__", repr(annotation))


def _default_text(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def option_docs(cls: type[Options]) -> list[OptionDoc]:
    """One :class:`OptionDoc` per option of ``cls``: the loss's own first, then region, then input options."""
    hints = typing.get_type_hints(cls)
    docs = [OptionDoc(f.name, hints[f.name], type_text(hints[f.name]), f.default, f.metadata.get("doc", ""))
            for f in dataclasses.fields(cls)]
    return sorted(docs, key=lambda d: _group(cls, d.name))  # stable: declaration order within a group


def option_parameters(cls: type[Options]) -> list[inspect.Parameter]:
    """The options of ``cls`` as keyword-only parameters (see :func:`option_docs` for the order)."""
    return [d.parameter() for d in option_docs(cls)]


def entries(title: str, items: Sequence[tuple[str, str, str]], width: int = 116) -> str:
    """A Google-style section: ``title:`` then one wrapped entry ``name (type): doc`` per item."""
    lines = [f"{title}:"]
    for name, type_text, doc in items:
        lines.extend(textwrap.wrap(f"{name} ({type_text}): {doc}", width, initial_indent="    ",
                                   subsequent_indent="        ", break_on_hyphens=False))
    return "\n".join(lines)


def args_section(cls: type[Options], leading: Sequence[tuple[str, str, str]] = ()) -> str:
    """The ``Args:`` section: ``leading`` entries ``(name, type text, doc)`` (positional arguments such as
    ``input``), then one entry per option with its type, doc and default."""
    options = [(d.name, d.type_text, f"{d.doc} Default ``{_default_text(d.default)}``.") for d in option_docs(cls)]
    return entries("Args", [*leading, *options])


def split_example(doc: str | None) -> tuple[str, str]:
    """``(head, example body)`` of a docstring around its ``Example:`` section (body "" when there is none)."""
    text = "\n" + inspect.cleandoc(doc or "")
    head, sep, example = text.partition("\nExample:")
    return head.strip(), example if sep else ""


def with_sections(doc: str | None, *sections: str) -> str:
    """``doc`` with ``sections`` (``Args:``, ``Returns:`` ...) inserted before its ``Example:`` section, or appended
    when it has none."""
    head, example = split_example(doc)
    parts = [head, *(textwrap.dedent(s).strip() for s in sections if s.strip())]
    return "\n\n".join(p for p in parts if p) + "\n" + (f"\nExample:{example}\n" if example else "")
