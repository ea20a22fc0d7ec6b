"""Write the study's summary tables into the pages that cite it: ``python tools/sync_study_tables.py
[docs/study/full/metrics.json]``.

A page holds a table between two markers, ``<!-- study-table: NAME -->`` and ``<!-- /study-table -->``, NAME one of
:func:`monai_segloss.app.report.summary_tables`'s (``test``, ``validation``); the tool replaces what lies between them
with the table rendered from the full study's ``metrics.json``, so no number on those pages is copied by hand.
``tests/test_evidence.py`` fails when a page is out of date; ``--check`` exits 1 instead of writing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from monai_segloss.app.report import summary_tables

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "docs" / "which_loss.md", ROOT / "bundles" / "lesion_focal_tversky" / "docs" / "README.md")
BLOCK = re.compile(r"(<!-- study-table: (\w+) -->\n).*?(\n<!-- /study-table -->)", re.DOTALL)


def render(text: str, tables: dict[str, str]) -> str:
    """``text`` with every marked block holding its table.

    Raises:
        ValueError: a block names no table of ``tables``.
    """
    def fill(m: re.Match) -> str:
        if m.group(2) not in tables:
            raise ValueError(f"unknown study table {m.group(2)!r}; known: {sorted(tables)}")
        return m.group(1) + tables[m.group(2)] + m.group(3)

    return BLOCK.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", nargs="?", default=str(ROOT / "docs" / "study" / "full" / "metrics.json"))
    parser.add_argument("--check", action="store_true", help="exit 1 when a page would change; write nothing")
    args = parser.parse_args(argv)
    tables = summary_tables(json.loads(Path(args.metrics).read_text()))
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = render(text, tables)
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new)
                print(f"wrote {page.relative_to(ROOT)}")
    if args.check:
        for page in stale:
            print(f"out of date: {page.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
