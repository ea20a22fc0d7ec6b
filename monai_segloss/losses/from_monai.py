"""Coming from MONAI: :func:`from_monai` builds our loss configured to compute what a ``monai.losses`` class computes.

One row of :data:`MONAI_TRANSLATIONS` per MONAI 1.6.1 loss class we cover: our registry key, the arguments that
make our loss mean what MONAI's means (``fixed``: MONAI's behaviour has no switch there, e.g. ``NACLLoss`` always
reads logits; ``defaults``: MONAI's defaults where ours differ, applied unless given), the arguments dropped
(``dropped``: MONAI needs them, ours infers them), and the arguments refused (``refused``: a behaviour of MONAI's we
do not reproduce, with the reason and the fix). ``differences`` lists, in words, where the value still differs on
purpose; ``tests/test_from_monai.py`` runs MONAI's own test vectors through :func:`from_monai` and fails on any
difference not listed there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from .registry import get_loss

__all__ = ["MonaiTranslation", "MONAI_TRANSLATIONS", "MONAI_NOT_TRANSLATED", "from_monai", "monai_kwargs"]

Refusal = Callable[[Mapping[str, Any]], "str | None"]


@dataclass(frozen=True)
class MonaiTranslation:
    """How one MONAI loss class maps onto ours.

    Attributes:
        key: our registry key.
        fixed: arguments always passed (MONAI has no switch for this behaviour); a conflicting MONAI argument is an
            error.
        defaults: MONAI's defaults where ours differ, passed unless the MONAI call gives the argument.
        renamed: MONAI argument name -> ours.
        dropped: MONAI arguments ours does not need (inferred from the input), accepted and ignored.
        refused: checks on the MONAI arguments: each returns ``None`` or the message of the ``ValueError``
            (naming the argument and the fix).
        differences: where the value differs from MONAI's on purpose, in words (shown in the docs).
        refuses: when ``refused`` raises, in words (shown in the docs).
        forward: how MONAI's forward is called, when it differs from ``loss(input, target)``.
    """

    key: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()
    differences: tuple[str, ...] = ()
    refuses: str = ""
    forward: str = ""

    def call(self) -> str:
        """The constructor translation in words, for the docs table."""
        parts = [f"{k}={v!r}" for k, v in {**self.fixed, **self.defaults}.items()]
        return f"get_loss({self.key!r}" + "".join(f", {p}" for p in parts) + ", **kwargs)"


def _no_activation(monai_name: str, other_term: str = "cross-entropy",
                   fix: str = "pass softmax=True (or sigmoid=True) for logits") -> Refusal:
    def check(kw: Mapping[str, Any]) -> str | None:
        if not (kw.get("sigmoid") or kw.get("softmax") or kw.get("other_act") is not None):
            return (f"{monai_name} without an activation (sigmoid/softmax/other_act) reads the input as probabilities "
                    f"in its Dice term and as logits in its {other_term}; monai-segloss does not reproduce that mix: "
                    f"{fix}")
        return None
    return check


def _softmax_with_sigmoid_focal(monai_name: str) -> Refusal:
    no_activation = _no_activation(monai_name, "focal term", "pass sigmoid=True for logits (MONAI's value)")

    def check(kw: Mapping[str, Any]) -> str | None:
        if (refused := no_activation(kw)) is not None:
            return refused
        if kw.get("softmax") or kw.get("other_act") is not None:
            return (f"{monai_name}'s focal term is a sigmoid focal loss of the logits whatever softmax/other_act do to "
                    "its Dice term; monai-segloss applies one activation to both terms and does not reproduce that "
                    "mix: pass sigmoid=True (both terms sigmoid, MONAI's value), or build "
                    f"get_loss({'dice_focal' if monai_name == 'DiceFocalLoss' else 'generalized_dice_focal'!r}, "
                    "softmax=True) for the categorical loss")
        return None
    return check


def _batch_not_supported(monai_name: str) -> Refusal:
    def check(kw: Mapping[str, Any]) -> str | None:
        if kw.get("batch"):
            return (f"{monai_name}(batch=True) averages per-(sample, class) means over the batch; our boundary loss is "
                    "a voxel loss: drop batch (the mean over voxels of equal-size samples is the same number)")
        return None
    return check


_NO_ACT = ("no activation (MONAI's Dice reads probabilities, its cross-entropy logits): pass softmax=True or "
           "sigmoid=True")
_FOCAL_MIX = ("no activation, softmax=True or other_act (MONAI's focal term is always a sigmoid focal loss of the "
              "logits): pass sigmoid=True")
_FIXED = "softmax or to_onehot_y other than True (MONAI has no such switch)"
_CE_OR_FOCAL = "the softmax focal mean is C times MONAI's (a mean over voxels, so gamma=0 is the cross-entropy)"

MONAI_TRANSLATIONS: dict[str, MonaiTranslation] = {
    "DiceLoss": MonaiTranslation("dice", differences=(
        "weight also applies when one class is scored (MONAI ignores it)",)),
    "MaskedDiceLoss": MonaiTranslation("dice", differences=(
        "a masked-out voxel counts nowhere: the value is MONAI's DiceLoss on the voxels the mask keeps (MONAI 1.6.1's "
        "MaskedDiceLoss differs from that when the mask has batch size 1 and the input more)",),
        forward="loss(input, target, mask=mask)"),
    "GeneralizedDiceLoss": MonaiTranslation("generalized_dice", differences=(
        'reduction="none" is (B,) (MONAI: (B, 1, 1, ...)); compared flattened',)),
    "TverskyLoss": MonaiTranslation("tversky", defaults={"alpha": 0.5, "beta": 0.5}),
    "FocalLoss": MonaiTranslation("focal", defaults={"use_softmax": False}, differences=(
        _CE_OR_FOCAL, 'reduction="sum" adds every term (MONAI adds the spatial means)')),
    "DiceCELoss": MonaiTranslation("dice_ce", refused=(_no_activation("DiceCELoss"),), refuses=_NO_ACT,
                                   differences=(
        "a single class weight also weighs the Dice term (MONAI's Dice ignores it when one class is scored)",)),
    "DiceFocalLoss": MonaiTranslation("dice_focal", refused=(_softmax_with_sigmoid_focal("DiceFocalLoss"),),
                                      refuses=_FOCAL_MIX),
    "GeneralizedDiceFocalLoss": MonaiTranslation(
        "generalized_dice_focal", refused=(_softmax_with_sigmoid_focal("GeneralizedDiceFocalLoss"),),
        refuses=_FOCAL_MIX),
    "HausdorffDTLoss": MonaiTranslation("hausdorff_dt", defaults={"include_background": False}),
    "LogHausdorffDTLoss": MonaiTranslation("log_hausdorff_dt", defaults={"include_background": False}),
    "BoundaryLoss": MonaiTranslation("boundary", refused=(_batch_not_supported("BoundaryLoss"),),
                                     refuses="batch=True (ours is a voxel loss)", differences=(
        'reduction="none" is per voxel, (B, K, *S) (MONAI: per (sample, class), (B, K)); reduction="sum" adds every '
        "voxel term (MONAI's sum times the voxels per sample)",)),
    "MCCLoss": MonaiTranslation("mcc", defaults={"empty": "smooth"}),
    "NACLLoss": MonaiTranslation("nacl", fixed={"softmax": True, "to_onehot_y": True}, refuses=_FIXED,
                                 forward="loss(inputs=logits, targets=labels)"),
    "GeneralizedWassersteinDiceLoss": MonaiTranslation("wasserstein_dice", fixed={"softmax": True,
                                                                                  "to_onehot_y": True},
                                                       refuses=_FIXED),
    "SoftclDiceLoss": MonaiTranslation("cldice", differences=(
        "each class is scored (MONAI pools the channels of a sample into one score): equal on one kept channel",)),
    "SoftDiceclDiceLoss": MonaiTranslation("dice_cldice", differences=(
        "each class is scored (MONAI pools the channels of a sample into one score): equal on one kept channel",)),
}


MONAI_NOT_TRANSLATED: dict[str, str] = {
    "AsymmetricUnifiedFocalLoss": (
        "AsymmetricUnifiedFocalLoss is not reproduced: our unified_focal sums its focal term over the two classes, "
        "as the reference implementation of Yeung et al., where MONAI averages it; for the loss of the paper use "
        "get_loss('unified_focal', lambda_focal=weight, delta=delta, gamma=gamma) with MONAI's weight, delta and "
        "gamma"),
}


def monai_kwargs(name: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """The registry key and keyword arguments of our loss that computes what ``monai.losses.<name>(**kwargs)``
    computes (see :func:`from_monai`)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of a monai.losses class (a str), got {type(name).__name__}")
    short = name.rpartition(".")[2]
    if short in MONAI_NOT_TRANSLATED:
        raise ValueError(MONAI_NOT_TRANSLATED[short])
    if short not in MONAI_TRANSLATIONS:
        raise ValueError(f"name {name!r} is not a MONAI loss class monai-segloss translates; translated: "
                         f"{sorted(MONAI_TRANSLATIONS)}")
    row = MONAI_TRANSLATIONS[short]
    for check in row.refused:
        message = check(kwargs)
        if message:
            raise ValueError(message)
    for key, value in row.fixed.items():
        if key in kwargs and kwargs[key] != value:
            raise ValueError(f"MONAI's {short} has no {key} argument: it always behaves as {key}={value!r}; "
                             f"drop {key}={kwargs[key]!r}")
    ours = {row.renamed.get(k, k): v for k, v in kwargs.items() if k not in row.dropped}
    for key, value in row.defaults.items():
        ours.setdefault(key, value)
    ours.update(row.fixed)
    if "dist_matrix" in ours and hasattr(ours["dist_matrix"], "tolist"):
        ours["dist_matrix"] = ours["dist_matrix"].tolist()  # a numpy array or tensor, as MONAI takes it
    return row.key, ours


def from_monai(name: str, **kwargs: Any) -> nn.Module:
    """Our loss configured to compute ``monai.losses.<name>(**kwargs)``'s value, or ``ValueError`` naming the
    argument whose behaviour we do not reproduce and the fix.

    ``name`` is a MONAI 1.6.1 class name (``"DiceLoss"``, or ``"monai.losses.DiceLoss"``); ``kwargs`` are MONAI's
    constructor arguments, as written for MONAI. MONAI's defaults that differ from ours are passed explicitly
    (``TverskyLoss``'s α = β = 0.5, ``FocalLoss``'s sigmoid, ``HausdorffDTLoss``'s ``include_background=False``,
    ``MCCLoss``'s ``empty="smooth"``), and what MONAI does without a switch is switched on (``NACLLoss`` and
    ``GeneralizedWassersteinDiceLoss`` read logits and label maps: ``softmax=True, to_onehot_y=True``). Where the
    value still differs on purpose, :data:`MONAI_TRANSLATIONS` says so (``differences``). Shape mismatches raise
    ``ValueError`` where MONAI raises ``AssertionError``.

    Example:
        >>> import torch
        >>> from monai_segloss import from_monai
        >>> loss = from_monai("TverskyLoss", sigmoid=True)        # MONAI's alpha = beta = 0.5
        >>> (loss.options.alpha, loss.options.beta, loss.options.sigmoid)
        (0.5, 0.5, True)
        >>> try:
        ...     from_monai("DiceCELoss", to_onehot_y=True)
        ... except ValueError as error:
        ...     print(str(error)[:52])
        DiceCELoss without an activation (sigmoid/softmax/ot
    """
    key, ours = monai_kwargs(name, **kwargs)
    return get_loss(key, **ours)
