"""Write everything the project derives from the full study: ``python tools/sync_study.py
[docs/study/full/metrics.json]``.

- ``monai_segloss/app/study_evidence.json``: :func:`monai_segloss.app.evidence.evidence_summary` of the metrics;
- ``bundles/lesion_focal_tversky/configs/train.json``: its ``loss`` becomes the validation winner's override file's
  loss, its ``lesion_threshold`` and ``min_lesion_mm3`` the winner's operating point (the point with the highest mean
  validation lesion F1 over every seed's validation cases);
- ``configs/inference.json``: the same operating point;
- the pages that cite the study (:data:`PAGES`): what lies between ``<!-- study-table: NAME -->`` and
  ``<!-- /study-table -->`` becomes :func:`monai_segloss.app.report.summary_tables`'s table NAME (``test``,
  ``validation``), so no number on those pages is copied by hand.

The winner and its point are chosen on validation cases only; the study's report then scores exactly that
configuration on the test cases (``monai-segloss study report``: the shipped row), so run the tool again after the
report to refresh the evidence. Configs are edited in place, key by key, so their layout stays as written.
``tests/test_evidence.py`` fails when a file disagrees with the metrics; ``--check`` exits 1 instead of writing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from monai_segloss.app.evidence import evidence_summary
from monai_segloss.app.report import summary_tables

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "lesion_focal_tversky" / "configs"
EVIDENCE = ROOT / "monai_segloss" / "app" / "study_evidence.json"
PAGES = (ROOT / "docs" / "which_loss.md", ROOT / "bundles" / "lesion_focal_tversky" / "docs" / "README.md")
BLOCK = re.compile(r"(<!-- study-table: (\w+) -->\n).*?(\n<!-- /study-table -->)", re.DOTALL)


def _set_scalar(text: str, key: str, value: float) -> str:
    pattern = re.compile(rf'^(\s*"{key}":\s*)[^,\n]+(,?)$', re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"expected one top-level {key!r} line")
    return pattern.sub(lambda m: f"{m.group(1)}{json.dumps(value)}{m.group(2)}", text)


def _set_loss(text: str, loss: dict) -> str:
    """Replace the top-level ``"loss": {...}`` block (4-space indent) by ``loss``, indented the same way."""
    start = text.index('\n    "loss": {')
    end = text.index("\n    }", start) + len("\n    }")
    body = json.dumps(loss, indent=4).replace("\n", "\n    ")
    return text[:start] + f'\n    "loss": {body}' + text[end:]


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


def derive(metrics: dict) -> dict[Path, str]:
    """The new text of every file this tool writes."""
    evidence = evidence_summary(metrics)
    best = evidence["validation_best"]
    point = evidence["losses"][best]
    if point.get("degenerate_tuned"):
        raise ValueError(f"the validation winner {best!r} is degenerate at its tuned operating point: choose by hand")
    loss = json.loads((CONFIGS / f"{best}.json").read_text())["loss"]
    out = {EVIDENCE: json.dumps(evidence, indent=1, sort_keys=True) + "\n"}
    for name in ("train.json", "inference.json"):
        text = (CONFIGS / name).read_text()
        text = _set_scalar(text, "lesion_threshold", point["threshold"])
        text = _set_scalar(text, "min_lesion_mm3", point["min_size_mm3"])
        if name == "train.json":
            text = _set_loss(text, loss)
        json.loads(text)  # still JSON
        out[CONFIGS / name] = text
    tables = summary_tables(metrics)
    out.update({page: render(page.read_text(), tables) for page in PAGES})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", nargs="?", default=str(ROOT / "docs" / "study" / "full" / "metrics.json"))
    parser.add_argument("--check", action="store_true", help="exit 1 when a file would change; write nothing")
    args = parser.parse_args(argv)
    files = derive(json.loads(Path(args.metrics).read_text()))
    changed = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
    if args.check:
        for p in changed:
            print(f"out of date: {p.relative_to(ROOT)}", file=sys.stderr)
        return 1 if changed else 0
    for p in changed:
        p.write_text(files[p])
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
