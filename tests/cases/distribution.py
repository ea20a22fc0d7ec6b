"""Promise cases (docs/ARCHITECTURE.md §3) of the distribution-based losses, their hybrids and the compound presets."""

from __future__ import annotations

from . import Case

SIG = {"sigmoid": True}
SOFT = {"softmax": True, "to_onehot_y": True}

CASES: dict[str, list[Case]] = {
    "bce": [
        Case(kwargs=SIG, mode="binary", target="label", channels=1),
        Case(kwargs={**SIG, "pos_weight": [2.0, 0.5, 1.0], "weight": [1.0, 2.0, 0.5]}, mode="multilabel",
             target="onehot", channels=3),
        Case(kwargs=SIG, mode="multilabel", target="soft", channels=2, minimum=None),
        Case(kwargs={}, mode="binary", target="onehot", channels=1, name="probabilities"),
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
    ],
    "balanced_ce": [
        Case(kwargs=SIG, mode="binary", target="label", channels=1),
        Case(kwargs={**SIG, "beta": 0.3}, mode="multilabel", target="onehot", channels=3),
    ],
    "cross_entropy": [
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={"softmax": True, "weight": [0.5, 1.0, 2.0], "include_background": False},
             mode="multiclass", target="onehot", channels=3),
        Case(kwargs={"softmax": True}, mode="multiclass", target="soft", channels=3, minimum=None),
        Case(kwargs={**SOFT, "label_smoothing": 0.1, "weight": [1.0, 2.0]}, mode="multiclass", target="label",
             channels=2, minimum=None),
    ],
    "focal": [
        Case(kwargs=SIG, mode="binary", target="label", channels=1),
        Case(kwargs={**SIG, "alpha": 0.25}, mode="multilabel", target="onehot", channels=3),
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={**SOFT, "include_background": False, "alpha": [0.2, 0.8], "gamma": 0.5}, mode="multiclass",
             target="label", channels=3),
        Case(kwargs={"to_onehot_y": True}, mode="multiclass", target="label", channels=3, name="probabilities"),
    ],
    "topk_ce": [
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={"softmax": True, "k": 50.0, "per_image": True, "weight": [0.5, 1.0, 2.0]}, mode="multiclass",
             target="onehot", channels=3),
        Case(kwargs={"softmax": True, "k": 100.0}, mode="multiclass", target="soft", channels=3, minimum=None),
        Case(kwargs={**SOFT, "label_smoothing": 0.1, "include_background": False, "reduction": "none"},
             mode="multiclass", target="label", channels=3, minimum=None),
        Case(kwargs={"to_onehot_y": True, "k": 30.0}, mode="multiclass", target="label", channels=3,
             name="probabilities"),
    ],
    "exp_log": [
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs=SIG, mode="binary", target="label", channels=1),
        Case(kwargs={**SIG, "frequency_weighting": False, "batch": True}, mode="multilabel", target="onehot",
             channels=2),
    ],
    "combo": [
        Case(kwargs=SIG, mode="binary", target="label", channels=1),
        Case(kwargs={**SIG, "alpha": 0.3, "ce_beta": 0.7}, mode="multilabel", target="onehot", channels=3),
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
    ],
    "unified_focal": [
        Case(kwargs=SIG, mode="binary", target="label", channels=1),
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={**SOFT, "variant": "symmetric", "rare_classes": [2]}, mode="multiclass", target="label",
             channels=3),
        Case(kwargs={**SIG, "variant": "symmetric"}, mode="multilabel", target="onehot", channels=2),
    ],
    "dice_focal": [
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={**SIG, "gamma": 1.0, "lambda_focal": 0.5}, mode="binary", target="label", channels=1),
    ],
    "dice_topk": [
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={**SOFT, "include_background": False, "batch": True, "k": 30.0, "per_image": True},
             mode="multiclass", target="label", channels=3),
    ],
    "generalized_dice_focal": [
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={**SIG, "gamma": 1.0, "lambda_focal": 0.5, "w_type": "simple"}, mode="binary", target="label",
             channels=1),
        Case(kwargs={**SIG, "include_background": False, "batch": True, "reduction": "sum"}, mode="multilabel",
             target="onehot", channels=3),
        # sigmoid with a label map: the fused pass (statistics and focal sums from one walk over the logits)
        Case(kwargs={**SIG, "to_onehot_y": True, "gamma": 1.5, "alpha": 0.25, "weight": [0.5, 1.0, 2.0]},
             mode="multiclass", target="label", channels=3, name="sigmoid-label-fused"),
    ],
    "dice_ce": [
        Case(kwargs=SOFT, mode="multiclass", target="label", channels=3),
        Case(kwargs={**SIG, "pos_weight": 2.0}, mode="binary", target="label", channels=1),
    ],
}
