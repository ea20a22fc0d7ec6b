"""Promise-harness cases of the region losses (issue 2): binary, multi-label and multi-class inputs with label,
one-hot and soft targets, and the region options (batch statistics, weights, channel exclusion, empty policies)."""

from __future__ import annotations

from . import Case

SIG = {"sigmoid": True}
SOFT_LABEL = {"softmax": True, "to_onehot_y": True}


def _common() -> list[Case]:
    """Cases every region loss runs."""
    return [
        Case(SIG, mode="binary", target="onehot", channels=1),
        Case({**SIG, "to_onehot_y": True}, mode="binary", target="label", channels=1, name="binary-label-onehot_y"),
        Case({}, mode="binary", target="onehot", channels=1, name="binary-probs"),
        Case(SIG, mode="multilabel", target="onehot", channels=3),
        Case(SIG, mode="multilabel", target="soft", channels=2, minimum=None),
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3),
        Case({"softmax": True, "include_background": False}, mode="multiclass", target="onehot", channels=3,
             name="multiclass-onehot-nobg"),
        Case({}, mode="multiclass", target="onehot", channels=3, name="multiclass-probs"),
        Case({"softmax": True}, mode="multiclass", target="soft", channels=3, minimum=None),
        Case({**SOFT_LABEL, "batch": True, "weight": [0.2, 1.0, 2.0, 0.5]}, channels=4, name="label-batch-weight"),
        Case({**SOFT_LABEL, "exclude_channels": [1], "empty": "skip"}, channels=3, name="label-exclude-skip"),
        Case({**SOFT_LABEL, "empty": "fp", "include_background": False, "weight": [1.0, 3.0]}, channels=3,
             name="label-fp-weight"),
        Case({**SOFT_LABEL, "reduction": "none"}, channels=2, name="label-none"),
        Case({**SIG, "reduction": "sum", "batch": True}, mode="multilabel", target="onehot", channels=2,
             name="multilabel-sum-batch"),
    ]


CASES: dict[str, list[Case]] = {
    "dice": _common() + [
        Case({**SOFT_LABEL, "squared_pred": True}, name="squared"),
        Case({**SOFT_LABEL, "jaccard": True}, name="jaccard-form"),
        Case({"sigmoid": True, "squared_pred": True, "smooth_nr": 0.0, "smooth_dr": 1e-3, "empty": "fp"},
             mode="binary", target="onehot", channels=1, name="squared-binary-unsmoothed-fp"),
    ],
    "jaccard": _common() + [Case({**SOFT_LABEL, "squared_pred": True}, name="squared")],
    "generalized_dice": _common() + [
        Case({**SOFT_LABEL, "w_type": "simple"}, name="simple"),
        Case({**SOFT_LABEL, "w_type": "uniform", "batch": True}, name="uniform-batch"),
    ],
    "tversky": _common() + [
        Case({**SOFT_LABEL, "alpha": 0.7, "beta": 0.3}, name="alpha-beta"),
        Case({**SIG, "alpha": 0.0, "beta": 1.0}, mode="binary", target="onehot", channels=1, name="recall"),
    ],
    "focal_tversky": _common() + [
        Case({**SOFT_LABEL, "gamma": 1.0}, name="gamma1"),
        Case({**SIG, "gamma": 3.0, "alpha": 0.5, "beta": 0.5}, mode="binary", target="onehot", channels=1,
             name="gamma3"),
    ],
    "log_cosh_dice": _common() + [Case({**SOFT_LABEL, "squared_pred": True}, name="squared")],
    "mcc": _common() + [
        Case({**SOFT_LABEL, "empty": "skip", "batch": True}, name="skip-batch"),
        Case({**SIG, "smooth_nr": 0.0, "smooth_dr": 0.0, "empty": "fp"}, mode="binary", target="onehot", channels=1,
             name="unsmoothed"),
    ],
    # categorical: softmax logits or probabilities, C >= 2
    "wasserstein_dice": [
        Case(SOFT_LABEL, mode="multiclass", target="label", channels=3),
        Case({"softmax": True, "dist_matrix": [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]},
             mode="multiclass", target="onehot", channels=3, name="matrix-onehot"),
        Case({"softmax": True}, mode="multiclass", target="soft", channels=3, minimum=None),
        Case({**SOFT_LABEL, "weighting_mode": "GDL", "batch": True}, channels=4, name="gdl-batch"),
        Case({"to_onehot_y": True, "include_background": False, "weight": [1.0, 2.0], "empty": "skip"},
             mode="multiclass", target="label", channels=3, name="probabilities-nobg-weight-skip"),
        Case({**SOFT_LABEL, "reduction": "none", "empty": "fp"}, channels=4, name="label-none-fp"),
    ],
    "sensitivity_specificity": _common() + [
        Case({**SOFT_LABEL, "r": 0.5}, name="r0.5"),
        Case({**SIG, "r": 1.0}, mode="binary", target="onehot", channels=1, name="r1"),
    ],
}
