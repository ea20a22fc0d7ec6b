"""The ten most common mistakes with the losses, each with a call that makes it and what its error must say.

``tests/test_common_mistakes.py`` triggers each and checks the exception type and that the message names the
argument and the fix; the docs' "Common mistakes" page shows the real message of each (``docs/_ext``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import monai_segloss as M

LOGITS = torch.tensor([[[[2.5, -1.0], [0.5, 3.0]], [[-2.0, 1.5], [-0.5, -3.0]]]])  # (1, 2, 2, 2), outside [0, 1]
PROBS = torch.softmax(LOGITS, dim=1)
LABELS = torch.tensor([[[[0, 1], [0, 0]]]])  # (1, 1, 2, 2)
ONEHOT = torch.nn.functional.one_hot(LABELS[:, 0], 2).permute(0, 3, 1, 2).float()


@dataclass(frozen=True)
class Mistake:
    """A mistake: in words, a call making it, the exception type, and what the message must contain (the argument
    and the fix)."""

    what: str
    call: Callable[[], object]
    error: type[Exception]
    argument: str
    fix: str


MISTAKES: tuple[Mistake, ...] = (
    Mistake("logits without an activation", lambda: M.SegDiceLoss(to_onehot_y=True)(LOGITS, LABELS), ValueError,
            "input", "sigmoid=True or softmax=True"),
    Mistake("a one-hot target given with to_onehot_y=True", lambda: M.SegDiceLoss(softmax=True, to_onehot_y=True)(
        LOGITS, ONEHOT), ValueError, "to_onehot_y", "pass to_onehot_y=False"),
    Mistake("include_background=False with one channel", lambda: M.SegDiceLoss(sigmoid=True, include_background=False)(
        LOGITS[:, :1], ONEHOT[:, 1:]), ValueError, "include_background", "include_background=True"),
    Mistake("a class weight of the wrong length", lambda: M.SegDiceLoss(softmax=True, to_onehot_y=True,
                                                                          weight=[1.0, 2.0, 3.0])(LOGITS, LABELS),
            ValueError, "weight", "one weight per class"),
    Mistake("a target of the wrong shape", lambda: M.SegDiceLoss(softmax=True, to_onehot_y=True)(
        LOGITS, LABELS[..., :1]), ValueError, "target", "label map of shape (B, 1, *S) = (1, 1, 2, 2)"),
    Mistake("a label out of range", lambda: M.SegDiceLoss(softmax=True, to_onehot_y=True)(LOGITS, LABELS + 2),
            ValueError, "target", "one output channel per class"),
    Mistake("float labels that are not class ids", lambda: M.SegDiceLoss(softmax=True, to_onehot_y=True)(
        LOGITS, LABELS.float() + 0.5), ValueError, "target", "nearest-neighbour"),
    Mistake('reduction="none" on a preset', lambda: M.SegDiceCELoss(softmax=True, reduction="none"), ValueError,
            "reduction", "build a CompoundLoss"),
    Mistake("a loss set up for 2D given a 3D volume (MONAI's NACLLoss(dim=2) habit)", lambda: M.SegNACLLoss(
        dim=2, softmax=True, to_onehot_y=True)(LOGITS.unsqueeze(-1), LABELS.unsqueeze(-1)), ValueError, "dim",
            "pass dim=3"),
    Mistake("a misspelt option", lambda: M.SegDiceLoss(softmx=True), ValueError, "softmx",
            "did you mean 'softmax'"),
)


def trigger(mistake: Mistake) -> Exception:
    """The exception the mistake raises (``AssertionError`` if it raises none)."""
    try:
        mistake.call()
    except Exception as error:  # noqa: BLE001 - the caller checks the type
        return error
    raise AssertionError(f"{mistake.what}: no error raised")
