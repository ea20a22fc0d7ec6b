"""Published loss comparisons the study is read beside, and the sentences that place its ranking next to theirs.

Each anchor is a study that trained one network with several losses and reported one score per loss, named here by
our registry keys (``ce`` for plain cross-entropy, which the study does not train):

- Ma et al. 2021, "Loss odyssey in medical image segmentation", Med. Image Anal. 71:102035 — nnU-Net (v1), LiTS
  liver tumour, test Dice; and the same repository's rerun with nnU-Net v2's recipe.
- Abraham & Khan 2019, "A novel focal Tversky loss function with improved attention U-Net for lesion segmentation",
  ISBI — BUS 2017 dataset B and ISIC 2018, Dice, attention U-Net with the Dice loss against U-Net and attention
  U-Net (multi-input) with the focal Tversky loss (the networks differ between rows).

And claims without a per-loss table here (:data:`CLAIMS`):

- Yeung et al. 2022, "Unified Focal loss: Generalising Dice and cross entropy-based losses to handle class imbalanced
  medical image segmentation", Comput. Med. Imaging Graph. 95:102026 — the Unified Focal loss ahead of six Dice- and
  cross-entropy-based losses on five data sets. Its per-loss tables are in the paper's PDF only (arXiv 2102.04525v4),
  which this project could not read offline; the repository (mlyg/unified-focal-loss) holds only its own results and
  its defaults (λ 0.5, δ 0.6, γ 0.5), which our ``unified_focal`` override file follows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["Anchor", "ANCHORS", "Claim", "CLAIMS", "rank_agreement", "comparison_rows", "claim_rows"]


@dataclasses.dataclass(frozen=True)
class Anchor:
    """One published comparison: ``scores`` maps a registry key to the reported score (higher is better)."""

    name: str
    reference: str
    task: str
    metric: str
    scores: tuple[tuple[str, float], ...]
    note: str = ""


ANCHORS = (
    Anchor("Ma et al. 2021", "Loss odyssey, Med. Image Anal. 71:102035", "LiTS liver tumour, nnU-Net (v1)",
           "test Dice",
           (("dice", 0.619), ("focal_tversky", 0.619), ("dice_topk", 0.613), ("tversky", 0.612),
            ("dice_ce", 0.601), ("dice_focal", 0.595), ("ce", 0.564), ("focal", 0.468)),
           "region and compound losses within 0.03 of each other; focal alone far behind"),
    Anchor("Ma et al., nnU-Net v2 rerun", "SegLossOdyssey repository README", "LiTS liver tumour, nnU-Net v2",
           "test Dice", (("dice_topk", 0.669), ("ce", 0.642), ("dice", 0.620), ("dice_ce", 0.619)),
           "DiceTopK10 best; Dice and Dice + CE equal"),
    Anchor("Abraham & Khan 2019", "ISBI 2019", "BUS 2017 dataset B (breast ultrasound lesions)", "Dice",
           (("focal_tversky", 0.804), ("dice", 0.615)),
           "focal Tversky with a multi-input attention U-Net against the Dice loss with an attention U-Net"),
    Anchor("Abraham & Khan 2019", "ISBI 2019", "ISIC 2018 (skin lesions)", "Dice",
           (("focal_tversky", 0.856), ("dice", 0.806)),
           "focal Tversky with a multi-input attention U-Net against the Dice loss with an attention U-Net"),
)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A published comparison known only by its conclusion: ``best`` (a registry key) ahead of the other losses."""

    name: str
    reference: str
    tasks: str
    best: str
    claim: str


CLAIMS = (
    Claim("Yeung et al. 2022", "Comput. Med. Imaging Graph. 95:102026",
          "CVC-ClinicDB, DRIVE, BUS2017 (2D binary), BraTS20 (3D binary), KiTS19 (3D multi-class); U-Net",
          "unified_focal",
          "the Unified Focal loss outperforms cross entropy, focal, Dice, Tversky, focal Tversky and Combo losses "
          "on every data set (per-loss tables not transcribed: see the module docstring)"),
)


def claim_rows(ours: dict[str, float]) -> list[dict[str, Any]]:
    """Per claim: where its ``best`` loss ranks among ours (1 = best; None when we did not train it).

    Example:
        >>> claim_rows({"dice": 0.60, "unified_focal": 0.58, "tversky": 0.55})[0]["rank"]
        2
    """
    rows = []
    for claim in CLAIMS:
        finite = {k: v for k, v in ours.items() if math.isfinite(v)}
        rank = 1 + sum(v > finite[claim.best] for v in finite.values()) if claim.best in finite else None
        top = max(finite, key=finite.__getitem__) if finite else None
        rows.append({"claim": claim.name, "reference": claim.reference, "tasks": claim.tasks, "best": claim.best,
                     "text": claim.claim, "rank": rank, "of": len(finite), "ours": finite.get(claim.best),
                     "our_best": top})
    return rows


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def rank_agreement(theirs: dict[str, float], ours: dict[str, float]) -> dict[str, Any]:
    """The losses both report, and Spearman's rank correlation of the two orders (NaN with fewer than 3 losses or a
    constant order).

    Example:
        >>> rank_agreement({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 0.9, "b": 0.5, "c": 0.7, "d": 0.1})["spearman"]
        0.5
    """
    common = [k for k in theirs if k in ours and math.isfinite(ours[k])]
    if len(common) < 3:
        return {"common": common, "spearman": math.nan}
    a, b = _ranks([theirs[k] for k in common]), _ranks([ours[k] for k in common])
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    return {"common": common, "spearman": cov / math.sqrt(va * vb) if va and vb else math.nan}


def comparison_rows(ours: dict[str, float], metric: str) -> list[dict[str, Any]]:
    """Per anchor: its scores and ours on the common losses, the two orders and their rank correlation."""
    rows = []
    for anchor in ANCHORS:
        theirs = dict(anchor.scores)
        agreement = rank_agreement(theirs, ours)
        common = agreement["common"]
        rows.append({"anchor": anchor.name, "reference": anchor.reference, "task": anchor.task,
                     "metric": anchor.metric, "note": anchor.note, "ours_metric": metric,
                     "theirs": {k: theirs[k] for k in common}, "ours": {k: ours[k] for k in common},
                     "their_order": sorted(common, key=lambda k: -theirs[k]),
                     "our_order": sorted(common, key=lambda k: -ours[k]), "spearman": agreement["spearman"]})
    return rows
