"""Run MONAI's own test vectors through :func:`monai_segloss.from_monai` and classify each case.

Each case ``[kwargs, data, expected]`` (``tests/monai_cases.py``, ``tests/monai_vectors.py``: MONAI's data) is built
twice: MONAI 1.6.1's class with ``kwargs`` (the reference, computed live; where MONAI's test gives a value, the
reference must equal it, which checks the transcription) and ``from_monai(name, **kwargs)``, called with MONAI's
forward keywords. The outcome is

- ``equal``: the values agree to MONAI's tolerance (1e-4), compared flattened (MONAI keeps size-1 dims in ``"none"``);
- ``documented``: they differ and a row of :data:`DOCUMENTED` names the case, its reason, and a relation between the
  two values that holds (e.g. the softmax focal loss is C times MONAI's);
- ``refused``: ``from_monai`` (or our loss, at construction) raises ``ValueError`` naming the argument and the fix;
- ``undocumented``: anything else, which fails ``tests/test_from_monai.py``.

The docs render the per-class table from :func:`run_all` (``docs/coming_from_monai``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import monai.losses as ml
import torch

import monai_segloss as M
from tests import monai_cases as mc
from tests import monai_vectors as mv

TOL = 1e-4
Relation = Callable[[torch.Tensor, torch.Tensor, dict, dict], bool]


def _close(a: torch.Tensor, b: Any) -> bool:
    a = torch.as_tensor(a, dtype=torch.float32).flatten()
    b = torch.as_tensor(b, dtype=torch.float32).flatten()
    return a.numel() == b.numel() and bool(torch.allclose(a, b, atol=TOL, rtol=TOL))


def _focal_softmax_is_c_times(ours: torch.Tensor, theirs: torch.Tensor, kw: dict, data: dict) -> bool:
    return _close(ours, data["input"].shape[1] * theirs)


def _single_weight_dice(ours: torch.Tensor, theirs: torch.Tensor, kw: dict, data: dict) -> bool:
    dice = ml.DiceLoss(sigmoid=True)(data["input"], data["target"])
    return _close(ours, theirs - float(kw["weight"][0]) * dice)


def _voxel_mean_is_monai(ours: torch.Tensor, theirs: torch.Tensor, kw: dict, data: dict) -> bool:
    return _close(ours.flatten(2).mean(-1), theirs)


def _voxel_sum_is_monai_times_voxels(ours: torch.Tensor, theirs: torch.Tensor, kw: dict, data: dict) -> bool:
    return _close(ours, theirs * data["input"][0, 0].numel())


def _mask_is_a_crop(ours: torch.Tensor, theirs: torch.Tensor, kw: dict, data: dict) -> bool:
    """Ours equals MONAI's DiceLoss on the voxels the mask keeps (a mask shared by the batch)."""
    x, y = data["input"], data["target"]
    mask = data["mask"].expand(x.shape[0], 1, *x.shape[2:])
    if not bool((mask == mask[:1]).all()):
        return False
    keep = mask[0, 0].flatten().bool()
    return _close(ours, ml.DiceLoss(**kw)(x.flatten(2)[..., keep], y.flatten(2)[..., keep]))


@dataclass(frozen=True)
class Documented:
    """A difference on purpose: which cases (``applies``), why, and the relation that must hold between the values."""

    monai: str
    applies: Callable[[dict], bool]
    reason: str
    relation: Relation


DOCUMENTED: tuple[Documented, ...] = (
    Documented("FocalLoss", lambda kw: bool(kw.get("use_softmax")),
               "softmax focal: ours is C times MONAI's (a mean over voxels, so gamma=0 is the cross-entropy)",
               _focal_softmax_is_c_times),
    Documented("DiceCELoss", lambda kw: kw.get("sigmoid") is True and len(kw.get("weight", ())) == 1,
               "a single class weight also weighs the Dice term (MONAI's Dice ignores it): ours = MONAI's - w * Dice",
               _single_weight_dice),
    Documented("BoundaryLoss", lambda kw: kw.get("reduction") == "none",
               'reduction="none" is per voxel (B, K, *S); its spatial mean is MONAI\'s (B, K)', _voxel_mean_is_monai),
    Documented("BoundaryLoss", lambda kw: kw.get("reduction") == "sum",
               'reduction="sum" adds every voxel term (MONAI adds per-(sample, class) means): MONAI\'s x voxels',
               _voxel_sum_is_monai_times_voxels),
    Documented("MaskedDiceLoss", lambda kw: True,
               "a masked-out voxel counts nowhere: ours is MONAI's DiceLoss on the voxels the mask keeps (MONAI "
               "1.6.1's MaskedDiceLoss differs from that when the mask's batch size is 1)", _mask_is_a_crop),
)


VECTORS: dict[str, list] = {
    "DiceLoss": mc.DICE_CASES,
    "MaskedDiceLoss": mv.MASKED_DICE_CASES,
    "GeneralizedDiceLoss": mc.GENERALIZED_DICE_CASES,
    "TverskyLoss": mc.TVERSKY_CASES,
    "FocalLoss": mc.FOCAL_CASES + mc.FOCAL_FOREGROUND_CASES,
    "DiceCELoss": mc.DICE_CE_CASES,
    "DiceFocalLoss": mv.DICE_FOCAL_CASES,
    "GeneralizedDiceFocalLoss": mv.GENERALIZED_DICE_FOCAL_CASES,
    "HausdorffDTLoss": mc.HAUSDORFF_CASES,
    "LogHausdorffDTLoss": [[kw, data, None] for kw, data, _ in mc.HAUSDORFF_CASES],
    "BoundaryLoss": mv.BOUNDARY_CASES,
    "MCCLoss": mv.MCC_CASES,
    "NACLLoss": mv.NACL_CASES,
    "GeneralizedWassersteinDiceLoss": mv.WASSERSTEIN_CASES,
    "SoftclDiceLoss": mv.CLDICE_CASES,
    "SoftDiceclDiceLoss": mv.CLDICE_CASES,
    "AsymmetricUnifiedFocalLoss": mv.UNIFIED_FOCAL_CASES,
}


@dataclass(frozen=True)
class CaseResult:
    monai: str
    index: int
    outcome: str  # equal | documented | refused | undocumented
    detail: str
    note: str = ""  # where MONAI 1.6.1 does not give the value of the test file the vector comes from


def _reference(name: str, kw: dict, data: dict, expected: Any) -> tuple[torch.Tensor, str]:
    """MONAI 1.6.1's value, and a note where it is not the value its test file gives (the file may be of another
    release)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns on single-channel options; the value is what counts
        theirs = getattr(ml, name)(**kw)(**data)
    if expected is not None and not _close(theirs, expected):
        return theirs, f"MONAI 1.6.1 gives {float(theirs.sum()):.6g}, its test file {expected}; "
    return theirs, ""


def run_case(name: str, index: int, kw: dict, data: dict, expected: Any) -> CaseResult:
    theirs, note = _reference(name, kw, data, expected)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a translation never leaves a warning to the user
            loss = M.from_monai(name, **kw)
    except ValueError as error:
        return CaseResult(name, index, "refused", str(error), note)
    ours = loss(**data)
    if _close(ours, theirs):
        return CaseResult(name, index, "equal", f"{float(theirs.sum()):.6g}", note)
    for doc in DOCUMENTED:
        if doc.monai == name and doc.applies(kw):
            if doc.relation(ours, theirs, kw, data):
                return CaseResult(name, index, "documented", doc.reason, note)
            return CaseResult(name, index, "undocumented", f"{doc.reason}, but the relation fails: ours "
                              f"{ours.flatten().tolist()}, MONAI {theirs.flatten().tolist()}", note)
    return CaseResult(name, index, "undocumented", f"ours {ours.flatten().tolist()}, MONAI {theirs.flatten().tolist()}",
                      note)


def run_all() -> Iterator[CaseResult]:
    for name, cases in VECTORS.items():
        for i, (kw, data, expected) in enumerate(cases):
            yield run_case(name, i, kw, data, expected)


def table(results: list[CaseResult]) -> list[tuple[str, int, int, int, int]]:
    """(class, cases, equal, documented, refused) per MONAI class, in :data:`VECTORS` order."""
    rows = []
    for name in VECTORS:
        mine = [r for r in results if r.monai == name]
        rows.append((name, len(mine), *(sum(r.outcome == o for r in mine) for o in ("equal", "documented",
                                                                                      "refused"))))
    return rows
