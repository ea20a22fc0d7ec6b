"""Sphinx extension of the monai-segloss site: generates, before the build reads any page,

- the gallery (``_generated/gallery/<key>.png`` for every registry key and ``region_summary.png``;
  :mod:`loss_gallery`),
- one page per registry key (``_generated/losses/<key>.rst``: the class, its functional form and its figure),
- one API page per other public name (``_generated/api/<name>.rst``),
- the tables of the "Coming from MONAI" page (the translations and MONAI's test vectors run through ``from_monai``)
  and of the "Common mistakes" page (each mistake triggered, its real message shown).

Everything under ``_generated/`` is rebuilt on every ``make docs``; nothing there is committed.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import monai_segloss as M
import monai_segloss.functional as F
from monai_segloss.losses.from_monai import MONAI_NOT_TRANSLATED, MONAI_TRANSLATIONS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def loss_page_names() -> dict[str, str]:
    """Registry key -> its class name (the class and the functional form are documented on the key's page)."""
    return {key: M.loss_class(key).__name__ for key in M.available_losses()}


def api_page_names() -> list[str]:
    """The public names that get a page of their own: every name of ``monai_segloss.__all__`` and
    ``monai_segloss.functional.__all__`` not on a loss page."""
    on_loss_pages = set(loss_page_names().values()) | {M.loss_class(k).function.__name__  # type: ignore[attr-defined]
                                                        for k in M.available_losses()}
    return [n for n in [*M.__all__, *F.__all__] if n not in on_loss_pages]


def _title(text: str) -> str:
    return f"{text}\n{'=' * len(text)}\n"


def _loss_page(key: str, cls_name: str, caption: str) -> str:
    cls = M.loss_class(key)
    fn = cls.function.__name__  # type: ignore[attr-defined]
    return (f"{_title(f'{key} — {cls_name}')}\n"
            f"Registry key ``{key}``, class :class:`monai_segloss.{cls_name}`, functional form "
            f":func:`monai_segloss.functional.{fn}`.\n\n"
            f".. figure:: ../gallery/{key}.png\n   :alt: loss and gradient of {key}\n   :width: 100%\n\n"
            f"   {caption}\n\n"
            f".. autoclass:: monai_segloss.{cls_name}\n\n"
            f".. autofunction:: monai_segloss.functional.{fn}\n")


def _api_page(name: str) -> str:
    if name == "functional":
        links = "\n".join(f"- :func:`monai_segloss.functional.{n}`" for n in F.__all__)
        return f"{_title('functional')}\n.. module:: monai_segloss.functional\n\nThe functional forms:\n\n{links}\n"
    owner = "monai_segloss.functional" if name in F.__all__ and name not in M.__all__ else "monai_segloss"
    obj = getattr(sys.modules[owner], name)
    directive = "autoclass" if inspect.isclass(obj) else "autofunction"
    return f"{_title(name)}\n.. {directive}:: {owner}.{name}\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _monai_tables() -> str:
    sys.path.insert(0, str(ROOT))
    from tests import monai_vector_run as run

    results = list(run.run_all())
    lines = ["| MONAI class | ours (`from_monai` builds) | differences on purpose | refused when |",
             "|---|---|---|---|"]
    for name, row in MONAI_TRANSLATIONS.items():
        diffs = "; ".join(row.differences) or "—"
        lines.append(f"| `{name}` | `{row.call()}` | {diffs} | {row.refuses or '—'} |")
    for name, reason in MONAI_NOT_TRANSLATED.items():
        lines.append(f"| `{name}` | — | — | always: {reason} |")
    lines += ["", "MONAI 1.6.1's own test vectors run through `from_monai` (`tests/test_from_monai.py`; the "
              "reference is MONAI 1.6.1's value, computed when the site is built):", "",
              "| MONAI class | cases | equal | documented difference | refused |", "|---|---:|---:|---:|---:|"]
    lines += [f"| `{name}` | {n} | {eq} | {doc} | {ref} |" for name, n, eq, doc, ref in run.table(results)]
    reasons = sorted({(r.monai, r.outcome, r.detail) for r in results if r.outcome in ("documented", "refused")})
    lines += ["", "Why each case that is not equal differs:", ""]
    lines += [f"- `{m}` ({o}): {d}" for m, o, d in reasons]
    bad = [r for r in results if r.outcome == "undocumented"]
    if bad:
        raise RuntimeError(f"undocumented differences with MONAI: {bad}")
    return "\n".join(lines) + "\n"


def _mistakes_table() -> str:
    sys.path.insert(0, str(ROOT))
    from tests import common_mistakes as cm

    lines = ["| # | mistake | raises | message |", "|---:|---|---|---|"]
    for i, mistake in enumerate(cm.MISTAKES, 1):
        error = cm.trigger(mistake)
        message = str(error).replace("|", "\\|")
        lines.append(f"| {i} | {mistake.what} | `{type(error).__name__}` | {message} |")
    return "\n".join(lines) + "\n"


def generate(app: Any) -> None:
    sys.path.insert(0, str(HERE))
    import loss_gallery as gallery

    src = Path(app.srcdir)
    out = src / "_generated"
    for sub in ("losses", "api"):
        shutil.rmtree(out / sub, ignore_errors=True)
    if not (os.environ.get("SEGLOSS_DOCS_REUSE_GALLERY") and (out / "gallery" / "region_summary.png").exists()):
        gallery.draw_all(out / "gallery")  # (the variable is for working on the pages' text: figures kept as drawn)
    caption = (f"Left and middle: {gallery.CURVE_SETTING}. Right: {gallery.LESION_SETTING}. Binary case: one logit "
               "channel with sigmoid=True, or logits (0, z) with softmax=True where the loss needs two channels; "
               "dL/dp = dL/dz / (p(1 - p)).")
    for key, cls_name in loss_page_names().items():
        note = gallery.NOTES.get(key, "")
        _write(out / "losses" / f"{key}.rst", _loss_page(key, cls_name, f"{caption} {note}".rstrip()))
    for name in api_page_names():
        _write(out / "api" / f"{name}.rst", _api_page(name))
    _write(out / "monai_tables.md", _monai_tables())
    _write(out / "mistakes_table.md", _mistakes_table())


_LITERAL = re.compile(r"(``.+?``|:[a-z]+:`[^`]+`|`[^`]+`_?)")


def _escape(line: str) -> str:
    """Escape the characters reST reads as markup (``|``: substitutions, ``*``: emphasis) outside inline literals
    and roles: the docstrings write formulas in plain text (``|Y+|``, ``Σ p·g``, ``a*b``)."""
    if line.lstrip().startswith((">>>", "...")):
        return line
    parts = _LITERAL.split(line)
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
    return "".join(parts)


_FORWARD = re.compile(r"^(\s*)Forward (``.+``):\s*$")


_ENTRY = re.compile(r"^\s+\w+ \(")


def _join_wrapped_types(lines: list[str]) -> list[str]:
    """Join an ``Args:`` entry whose ``(type)`` wraps onto the next line (a long ``Literal[...]``), so that napoleon
    reads ``name (type): description``."""
    out: list[str] = []
    for line in lines:
        if out and _ENTRY.match(out[-1]) and out[-1].count("(") > out[-1].count(")") and line.strip():
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
        else:
            out.append(line)
    return out


def _process_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Before napoleon reads a docstring: escape the characters reST reads as markup outside literals and examples,
    and turn the generated "Forward ``loss(...)``:" heading into a "Forward" section napoleon knows."""
    out: list[str] = []
    in_example = False
    for line in _join_wrapped_types(lines):
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            in_example = True
        elif not stripped:
            in_example = False
        match = _FORWARD.match(line)
        if match:
            out += [f"{match.group(1)}Called as {match.group(2)}.", "", f"{match.group(1)}Forward:"]
            continue
        out.append(line if in_example else _escape(line))
    lines[:] = out


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)  # before napoleon (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
