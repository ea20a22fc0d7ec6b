"""MONAI's own test cases of the losses we mirror: reference DATA only (constructor kwargs, inputs, expected values).

Transcribed from the test suite of MONAI (Project-MONAI/MONAI, ``tests/losses/test_dice_loss.py``,
``test_generalized_dice_loss.py``, ``test_tversky_loss.py``, ``test_hausdorff_loss.py``, ``test_focal_loss.py``,
``test_dice_ce_loss.py``, ``test_dice_focal_loss.py``), Copyright MONAI Consortium, Apache License 2.0. Each list
holds ``[kwargs, {"input", "target"}, expected]`` as MONAI writes them; the test code that runs them on our losses is
ours (``tests/test_monai_cases.py``). Every expected value was checked against the installed MONAI 1.6.1.
"""

# ruff: noqa: E501, E702
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------- DiceLoss
DICE_CASES = [
    [{"include_background": True, "sigmoid": True, "smooth_nr": 1e-6, "smooth_dr": 1e-6},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])}, 0.307576],
    [{"include_background": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
      "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])}, 0.416657],
    [{"include_background": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4, "soft_label": True},
     {"input": torch.tensor([[[[0.3, 0.4], [0.7, 0.9]]], [[[1.0, 0.1], [0.5, 0.3]]]]),
      "target": torch.tensor([[[[0.3, 0.4], [0.7, 0.9]]], [[[1.0, 0.1], [0.5, 0.3]]]])}, 0.0],
    [{"include_background": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4, "soft_label": False},
     {"input": torch.tensor([[[[0.3, 0.4], [0.7, 0.9]]], [[[1.0, 0.1], [0.5, 0.3]]]]),
      "target": torch.tensor([[[[0.3, 0.4], [0.7, 0.9]]], [[[1.0, 0.1], [0.5, 0.3]]]])}, 0.307773],
    [{"include_background": False, "to_onehot_y": True, "smooth_nr": 0, "smooth_dr": 0},
     {"input": torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]),
      "target": torch.tensor([[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])}, 0.0],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, 0.435050],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "reduction": "none", "smooth_nr": 1e-4, "smooth_dr": 1e-4},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, [[[0.296529], [0.415136]], [[0.599976], [0.428559]]]],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, 0.383713],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "reduction": "sum", "smooth_nr": 1e-4, "smooth_dr": 1e-4},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, 1.534853],
    [{"include_background": True, "sigmoid": True, "squared_pred": True},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])}, 0.178337],
    [{"include_background": True, "sigmoid": True, "jaccard": True},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])}, 0.470451],
    [{"include_background": True, "other_act": torch.tanh, "smooth_nr": 1e-4, "smooth_dr": 1e-4},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
      "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])}, 0.999963],
    [{"include_background": True, "to_onehot_y": True, "other_act": lambda x: torch.log_softmax(x, dim=1), "smooth_nr": 1e-4, "smooth_dr": 1e-4},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, -8.522593],
    [{"include_background": True, "other_act": torch.tanh, "smooth_nr": 1e-4, "smooth_dr": 1e-4, "batch": True},
     {"input": torch.tensor([[[[1.0, -0.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
      "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])}, 0.774718],
    [{"include_background": True, "other_act": torch.tanh, "smooth_nr": 0, "smooth_dr": 1e-4, "batch": True},
     {"input": torch.tensor([[[[1.0, -0.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
      "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])}, 0.774733],
    [{"include_background": True, "other_act": torch.tanh, "smooth_nr": 0, "smooth_dr": 1e-4, "batch": False},
     {"input": torch.tensor([[[[1.0, -0.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
      "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])}, 0.840058],
    [{"include_background": True, "to_onehot_y": True, "other_act": lambda x: torch.log_softmax(x, dim=1), "smooth_nr": 1e-4, "smooth_dr": 1e-4, "weight": (0, 1)},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, -8.268515],
]
# Also in MONAI's file (newer than 1.6.1): ignore_index cases -- DiceLoss(to_onehot_y, softmax, ignore_index=2) equals
# the loss on the crop without the ignored row; one-hot target with ignore_index equals the index-target result;
# gradients at ignored pixels are exactly 0.


# ---------------------------------------------------------------------------------------------- GeneralizedDiceLoss
GD_A = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]); GD_A2 = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]])
GD_T1 = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]]); GD_T2 = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])
GD_S = torch.tensor([[[[0.3, 0.4], [0.7, 0.9]]], [[[1.0, 0.1], [0.5, 0.3]]]])
GD_B = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]); GD_BT = torch.tensor([[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
GD_L = torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]); GD_LT = torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])
GENERALIZED_DICE_CASES = [
    [{"include_background": True, "sigmoid": True, "smooth_nr": 1e-6, "smooth_dr": 1e-6}, {"input": GD_A, "target": GD_T1}, 0.307576],
    [{"include_background": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": GD_A2, "target": GD_T2}, 0.416597],
    [{"include_background": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4, "soft_label": True}, {"input": GD_S, "target": GD_S}, 0.0],
    [{"include_background": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4, "soft_label": False}, {"input": GD_S, "target": GD_S}, 0.307748],
    [{"include_background": False, "to_onehot_y": True, "smooth_nr": 0.0, "smooth_dr": 0.0}, {"input": GD_B, "target": GD_BT}, 0.0],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": GD_L, "target": GD_LT}, 0.469964],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": GD_L, "target": GD_LT}, 0.414507],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "reduction": "sum", "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": GD_L, "target": GD_LT}, 0.829015],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "reduction": "none", "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": GD_L, "target": GD_LT}, [[[0.273476]], [[0.555539]]]],
    [{"include_background": False, "to_onehot_y": True, "smooth_nr": 1e-8, "smooth_dr": 1e-8}, {"input": GD_B, "target": torch.tensor([[[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]]])}, 0.0],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "w_type": "simple", "smooth_nr": 0, "smooth_dr": 0},
     {"input": torch.tensor([[[0.0, 10.0, 10.0, 10.0], [10.0, 0.0, 0.0, 0.0]]]), "target": torch.tensor([[[1, 1, 0, 0]]])}, 0.250023],
    [{"include_background": True, "other_act": torch.tanh, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": GD_A2, "target": GD_T2}, 0.99970],
    [{"include_background": True, "to_onehot_y": True, "other_act": lambda x: torch.log_softmax(x, dim=1), "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": GD_L, "target": GD_LT}, -0.097833],
]
# MONAI also checks: GeneralizedDiceLoss(batch=True) on zeros(2,3,3,3) input/target has a grad_fn.


# ---------------------------------------------------------------------------------------------- TverskyLoss
TV_A = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]); TV_A2 = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]])
TV_T1 = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]]); TV_T2 = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])
TV_S = torch.tensor([[[[0.3, 0.4], [0.7, 0.9]]], [[[1.0, 0.1], [0.5, 0.3]]]])
TV_B = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]); TV_BT = torch.tensor([[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
TV_L = torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]); TV_LT = torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])
TVERSKY_CASES = [  # MONAI's TverskyLoss defaults: alpha = beta = 0.5
    [{"include_background": True, "sigmoid": True, "smooth_nr": 1e-6, "smooth_dr": 1e-6}, {"input": TV_A, "target": TV_T1}, 0.307576],
    [{"include_background": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": TV_A2, "target": TV_T2}, 0.416657],
    [{"include_background": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4, "soft_label": True}, {"input": TV_S, "target": TV_S}, 0.0],
    [{"include_background": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4, "soft_label": False}, {"input": TV_S, "target": TV_S}, 0.307773],
    [{"include_background": False, "to_onehot_y": True, "smooth_nr": 0, "smooth_dr": 0}, {"input": TV_B, "target": TV_BT}, 0.0],
    [{"include_background": False, "to_onehot_y": True, "smooth_nr": 0, "smooth_dr": 1e-3}, {"input": TV_B, "target": TV_BT}, 0.000999],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": TV_L, "target": TV_LT}, 0.435050],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "batch": True}, {"input": TV_L, "target": TV_LT}, 0.422979],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "reduction": "sum", "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": TV_L, "target": TV_LT}, 1.74013],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": TV_L, "target": TV_LT}, 0.383713],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "reduction": "none", "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": TV_L, "target": TV_LT}, [[0.210961, 0.295339], [0.599952, 0.428547]]],
    [{"include_background": True, "sigmoid": True, "alpha": 0.3, "beta": 0.7, "smooth_nr": 1e-6, "smooth_dr": 1e-6}, {"input": TV_A, "target": TV_T1}, 0.3589],
    [{"include_background": True, "sigmoid": True, "alpha": 0.7, "beta": 0.3, "smooth_nr": 1e-6, "smooth_dr": 1e-6}, {"input": TV_A, "target": TV_T1}, 0.247366],
    [{"include_background": True, "other_act": torch.tanh, "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": TV_A2, "target": TV_T2}, 0.999963],
    [{"include_background": True, "other_act": torch.tanh, "smooth_nr": 0, "smooth_dr": 1e-3, "batch": True}, {"input": TV_A2, "target": TV_T2}, 0.999963],
    [{"include_background": True, "to_onehot_y": True, "other_act": lambda x: torch.log_softmax(x, dim=1), "smooth_nr": 1e-4, "smooth_dr": 1e-4}, {"input": TV_L, "target": TV_LT}, -8.533317],
]


# ---------------------------------------------------------------------------------------------- HausdorffDTLoss
# LogHausdorffDTLoss is checked on the same cases with expected log(value + 1).
HD_A = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]); HD_T1 = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
HD_A2 = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]); HD_T2 = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])
HD_C2 = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]], [[1.0, -1.0], [-1.0, 1.0]]]]); HD_C2T = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]])
HD_L = torch.tensor([[[[-1.0], [0.0], [1.0]], [[1.0], [0.0], [-1.0]]], [[[0.0], [0.0], [0.0]], [[0.0], [0.0], [0.0]]]])
HD_LT = torch.tensor([[[[1.0], [0.0], [0.0]]], [[[1.0], [1.0], [0.0]]]])
HD_A3 = torch.tensor([[[[1.0, -0.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]])
HAUSDORFF_CASES = [
    [{"include_background": True, "sigmoid": True}, {"input": HD_A, "target": HD_T1}, 0.509329],
    [{"include_background": True, "sigmoid": True}, {"input": HD_A.unsqueeze(2), "target": HD_T1.unsqueeze(2)}, 0.509329],  # (1,1,1,2,2)
    [{"include_background": True, "sigmoid": True},
     {"input": torch.tensor([[[[[1.0, -1.0], [1.0, -1.0]], [[-1.0, 1.0], [-1.0, 1.0]]]]]),
      "target": torch.tensor([[[[[1.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]]]])}, 0.375718],
    [{"include_background": True, "sigmoid": True}, {"input": HD_C2, "target": HD_C2T}, 0.326994],
    [{"include_background": True, "sigmoid": True}, {"input": HD_A2, "target": HD_T2}, 0.455082],
    [{"include_background": False, "sigmoid": True}, {"input": HD_C2, "target": HD_C2T}, 0.144659],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "reduction": "none"}, {"input": HD_L, "target": HD_LT},
     [[[[0.407765]], [[0.407765]]], [[[0.5000]], [[0.5000]]]]],
    [{"include_background": True, "to_onehot_y": True, "softmax": True}, {"input": HD_L, "target": HD_LT}, 0.357016],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "reduction": "sum"}, {"input": HD_L, "target": HD_LT}, 1.428062],
    [{"include_background": True, "other_act": torch.tanh}, {"input": HD_A2, "target": HD_T2}, 1.870039],
    [{"include_background": True, "to_onehot_y": True, "other_act": lambda x: torch.log_softmax(x, dim=1)}, {"input": HD_L, "target": HD_LT}, 4.366613],
    [{"include_background": True, "other_act": torch.tanh, "batch": True}, {"input": HD_A3, "target": HD_T2}, 1.607137],
    [{"include_background": True, "other_act": torch.tanh, "batch": False}, {"input": HD_A3, "target": HD_T2}, 1.607137],
]
# MONAI: reduction="none" keeps the spatial dims as size-1 (B, C, 1, 1, ...) here; HausdorffDTLoss(sigmoid, softmax)
# and any two activations -> ValueError; reduction="unknown"/None -> ValueError.


# ---------------------------------------------------------------------------------------------- FocalLoss, DiceCELoss, DiceFocalLoss

B = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
BT = torch.tensor([[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
H = torch.tensor([[[100.0, 100.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
DICE_CE_CASES = [  # DiceCELoss(**kwargs)(**data) == expected (atol=rtol=1e-4)
    [{"to_onehot_y": True}, {"input": B, "target": BT}, 0.3133],  # = -1 + log(1 + e)
    [{"to_onehot_y": False}, {"input": B, "target": B}, 0.3133],
    [{"to_onehot_y": False}, {"input": B, "target": B.to(torch.uint8)}, 0.3133],
    [{"include_background": False, "to_onehot_y": True, "weight": torch.tensor([1.0, 1.0])}, {"input": H, "target": BT}, 0.2088],
    [{"include_background": False, "to_onehot_y": True, "weight": torch.tensor([1.0, 1.0]), "lambda_dice": 1.0, "lambda_ce": 2.0},
     {"input": H, "target": BT}, 0.4176],
    [{"include_background": False, "to_onehot_y": True, "weight": torch.tensor([0.0, 1.0])}, {"input": H, "target": BT}, 0.3133],
    [{"weight": torch.tensor([0.5]), "sigmoid": True},
     {"input": torch.tensor([[[0.8, 0.6, 0.0]], [[0.0, 0.0, 0.9]]]), "target": torch.tensor([[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])}, 1.445239],
]
# DiceCELoss errors: input (1,2,3) vs target (1,2,5) -> AssertionError in MONAI (ours: ValueError);
# input (1,2,3) vs target (1,1,2,3) -> ValueError; input (1,3,4,4) vs target (1,2,4,4) -> ValueError.

FI = torch.tensor([[[[1.0, 1.0], [0.5, 0.0]], [[1.0, 1.0], [0.5, 0.0]], [[1.0, 1.0], [0.5, 0.0]]]])  # (1, 3, 2, 2)
FT = torch.tensor([[[[0, 1], [2, 0]]]])  # (1, 1, 2, 2)
FOCAL_CASES = [  # FocalLoss(**kwargs)(**data) == expected (atol=rtol=1e-4); MONAI's FocalLoss has no activation flag:
    # it applies a sigmoid to the logits, or a softmax with use_softmax=True
    [{"to_onehot_y": True}, {"input": FI, "target": FT}, 0.34959],
    [{"to_onehot_y": False}, {"input": FI, "target": F.one_hot(FT.squeeze(1)).permute(0, 3, 1, 2)}, 0.34959],
    [{"to_onehot_y": True, "include_background": False}, {"input": FI, "target": FT}, 0.36498],
    [{"to_onehot_y": True, "alpha": 0.8}, {"input": FI, "target": FT}, 0.08423],
    [{"to_onehot_y": True, "reduction": "none"}, {"input": FI, "target": FT},
     [[[[0.02266, 0.70187], [0.37741, 0.17329]], [[0.70187, 0.02266], [0.37741, 0.17329]], [[0.70187, 0.70187], [0.06757, 0.17329]]]]],
    [{"to_onehot_y": True, "weight": torch.tensor([0.5, 0.1, 0.2]), "reduction": "none"}, {"input": FI, "target": FT},
     [[[[0.01133, 0.35093], [0.18871, 0.08664]], [[0.07019, 0.00227], [0.03774, 0.01733]], [[0.14037, 0.14037], [0.01352, 0.03466]]]]],
    [{"to_onehot_y": True, "use_softmax": True}, {"input": FI, "target": FT}, 0.16276],
    [{"to_onehot_y": True, "alpha": 0.8, "use_softmax": True}, {"input": FI, "target": FT}, 0.08138],
]
# FocalLoss test_foreground: background channel of ones, foreground of zeros, one voxel swapped in the target
FG_INPUT = torch.cat((torch.ones(1, 1, 5, 5), torch.zeros(1, 1, 5, 5)), dim=1)
FG_TARGET = FG_INPUT.clone()
FG_TARGET[:, 0, 2, 2] = 0
FG_TARGET[:, 1, 2, 2] = 1
FOCAL_FOREGROUND_CASES = [
    [{"include_background": True}, {"input": FG_INPUT, "target": FG_TARGET}, 0.1116],
    [{"include_background": False}, {"input": FG_INPUT, "target": FG_TARGET}, 0.1733],
]

# DiceFocalLoss (MONAI checks a relation, not values): on pred = randn(3, 3, 5, 5), label = randint(0, 2, (3, 3, 5, 5)),
# for every reduction, weight and lambda_focal below, DiceFocalLoss(gamma=1.0, lambda_focal=l, weight=w,
# reduction=r, include_background=True, to_onehot_y=False) == DiceLoss(...) + l * FocalLoss(gamma=1.0, ...), the
# same with alpha=0.25 for the focal term; DiceFocalLoss(lambda_dice=-1.0) raises ValueError.
DICE_FOCAL_WEIGHTS = [None, torch.tensor([1.0, 1.0, 2.0]), (3, 2.0, 1)]
DICE_FOCAL_LAMBDAS = [0.5, 1.0, 1.5]
