"""Promise-harness cases of the topology losses (clDice and the Dice + clDice preset) and of the Lovász losses, on
binary, multi-label and multi-class inputs with label, one-hot and soft targets."""

from __future__ import annotations

from . import Case

SIG = {"sigmoid": True}
SOFT_LABEL = {"softmax": True, "to_onehot_y": True}

CASES: dict[str, list[Case]] = {
    # a perfect prediction scores ε / (2 + ε) = 5e-5 (the harmonic mean's ε, as MONAI), within the 1e-4 tolerance
    # gradcheck (float64 finite differences of ~60 small ops per skeleton) on two cases with one erosion
    "cldice": [
        Case({**SIG, "iter_": 1}, mode="binary", target="onehot", channels=1, name="binary-onehot-iter1"),
        Case({**SIG, "to_onehot_y": True}, mode="binary", target="label", channels=1, name="binary-label",
             gradcheck=False),
        Case({}, mode="binary", target="onehot", channels=1, name="binary-probs", gradcheck=False),
        Case(SIG, mode="multilabel", target="soft", channels=2, minimum=None, gradcheck=False),
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3, gradcheck=False),
        Case({"softmax": True, "include_background": False, "iter_": 1, "batch": True}, mode="multiclass",
             target="onehot", channels=3, name="nobg-iter1-batch"),
        Case({**SOFT_LABEL, "empty": "fp", "weight": [0.5, 1.0, 2.0], "reduction": "none", "iter_": 0},
             channels=3, name="fp-weight-none-iter0", gradcheck=False),
        Case({**SIG, "empty": "skip", "smooth_nr": 1e-5, "smooth_dr": 1e-5, "reduction": "sum"},
             mode="multilabel", target="onehot", channels=2, name="skip-small-smoothing-sum", gradcheck=False,
             min_atol=4e-4),  # a sum over 4 units of 5e-5
    ],
    "lovasz": [
        Case(SIG, mode="binary", target="onehot", channels=1, name="hinge"),
        Case({**SIG, "per_image": True, "to_onehot_y": True}, mode="binary", target="label", channels=1,
             name="hinge-per-image"),
        Case({**SIG, "reduction": "none"}, mode="multilabel", target="onehot", channels=3, name="hinge-none"),
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3),
        Case({"softmax": True, "per_image": True, "classes": "all", "weight": [0.5, 1.0, 2.0]},
             mode="multiclass", target="onehot", channels=3, name="all-per-image-weight"),
        Case({"softmax": True}, mode="multiclass", target="soft", channels=3, minimum=None),
        Case({"to_onehot_y": True, "include_background": False, "reduction": "sum"}, mode="multiclass",
             target="label", channels=3, name="probabilities-nobg-sum"),
        Case({}, mode="binary", target="onehot", channels=1, name="binary-probs"),
    ],
    "dice_cldice": [
        Case({**SIG, "iter_": 1}, mode="binary", target="onehot", channels=1),
        Case({**SOFT_LABEL, "alpha": 0.3, "include_background": False}, mode="multiclass", target="label",
             channels=3, gradcheck=False),
    ],
}
