"""MONAI's own test vectors of the loss classes that ``tests/monai_cases.py`` does not hold: reference DATA only.

Copied as data from the test suite of MONAI (Project-MONAI/MONAI, ``tests/losses/test_nacl_loss.py``,
``test_masked_dice_loss.py``, ``test_mcc_loss.py``, ``test_boundary_loss.py``, ``test_cldice_loss.py``,
``test_generalized_wasserstein_dice_loss.py``, ``test_generalized_dice_focal_loss.py``, ``test_dice_focal_loss.py``,
``test_unified_focal_loss.py``), Copyright MONAI
Consortium, Apache License 2.0. Each list holds ``[kwargs, data, expected]`` as MONAI writes them (``data`` with
MONAI's forward keywords; ``expected`` None where MONAI's test checks only that the loss runs, or a relation); the
code that runs them (``tests/test_from_monai.py``) is ours and compares with MONAI 1.6.1's value computed live.
``SoftclDiceLoss``'s vectors are written with 1.6.1's forward keywords (``input``, ``target``; older releases named
them ``y_pred``, ``y_true``). The Wasserstein and generalised-Dice-focal vectors are the inputs of MONAI's test
functions (a perfect and an inverted prediction, expected 0 and 1; random inputs compared with a relation).
"""

# ruff: noqa: E501
import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------- NACLLoss
inputs = torch.tensor(
    [
        [
            [
                [0.1498, 0.1158, 0.3996, 0.3730],
                [0.2155, 0.1585, 0.8541, 0.8579],
                [0.6640, 0.2424, 0.0774, 0.0324],
                [0.0580, 0.2180, 0.3447, 0.8722],
            ],
            [
                [0.3908, 0.9366, 0.1779, 0.1003],
                [0.9630, 0.6118, 0.4405, 0.7916],
                [0.5782, 0.9515, 0.4088, 0.3946],
                [0.7860, 0.3910, 0.0324, 0.9568],
            ],
            [
                [0.0759, 0.0238, 0.5570, 0.1691],
                [0.2703, 0.7722, 0.1611, 0.6431],
                [0.8051, 0.6596, 0.4121, 0.1125],
                [0.5283, 0.6746, 0.5528, 0.7913],
            ],
        ]
    ]
)
targets = torch.tensor([[[1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 1, 0], [0, 1, 0, 0]]])

NACL_CASES = [
    [{"classes": 3, "dim": 2}, {"inputs": inputs, "targets": targets}, 1.1442],
    [{"classes": 3, "dim": 2}, {"inputs": inputs.repeat(4, 1, 1, 1), "targets": targets.repeat(4, 1, 1)}, 1.1442],
    [{"classes": 3, "dim": 2, "kernel_ops": "gaussian"}, {"inputs": inputs, "targets": targets}, 1.1433],
    [{"classes": 3, "dim": 2, "kernel_ops": "gaussian", "sigma": 0.5}, {"inputs": inputs, "targets": targets}, 1.1469],
    [{"classes": 3, "dim": 2, "distance_type": "l2"}, {"inputs": inputs, "targets": targets}, 1.1269],
    [{"classes": 3, "dim": 2, "alpha": 0.2}, {"inputs": inputs, "targets": targets}, 1.1790],
    [
        {"classes": 3, "dim": 3, "kernel_ops": "gaussian"},
        {
            "inputs": torch.tensor(
                [
                    [
                        [
                            [
                                [0.5977, 0.2767, 0.0591, 0.1675],
                                [0.4835, 0.3778, 0.8406, 0.3065],
                                [0.6047, 0.2860, 0.9742, 0.2013],
                                [0.9128, 0.8368, 0.6711, 0.4384],
                            ],
                            [
                                [0.9797, 0.1863, 0.5584, 0.6652],
                                [0.2272, 0.2004, 0.7914, 0.4224],
                                [0.5097, 0.8818, 0.2581, 0.3495],
                                [0.1054, 0.5483, 0.3732, 0.3587],
                            ],
                            [
                                [0.3060, 0.7066, 0.7922, 0.4689],
                                [0.1733, 0.8902, 0.6704, 0.2037],
                                [0.8656, 0.5561, 0.2701, 0.0092],
                                [0.1866, 0.7714, 0.6424, 0.9791],
                            ],
                            [
                                [0.5067, 0.3829, 0.6156, 0.8985],
                                [0.5192, 0.8347, 0.2098, 0.2260],
                                [0.8887, 0.3944, 0.6400, 0.5345],
                                [0.1207, 0.3763, 0.5282, 0.7741],
                            ],
                        ],
                        [
                            [
                                [0.8499, 0.4759, 0.1964, 0.5701],
                                [0.3190, 0.1238, 0.2368, 0.9517],
                                [0.0797, 0.6185, 0.0135, 0.8672],
                                [0.4116, 0.1683, 0.1355, 0.0545],
                            ],
                            [
                                [0.7533, 0.2658, 0.5955, 0.4498],
                                [0.9500, 0.2317, 0.2825, 0.9763],
                                [0.1493, 0.1558, 0.3743, 0.8723],
                                [0.1723, 0.7980, 0.8816, 0.0133],
                            ],
                            [
                                [0.8426, 0.2666, 0.2077, 0.3161],
                                [0.1725, 0.8414, 0.1515, 0.2825],
                                [0.4882, 0.5159, 0.4120, 0.1585],
                                [0.2551, 0.9073, 0.7691, 0.9898],
                            ],
                            [
                                [0.4633, 0.8717, 0.8537, 0.2899],
                                [0.3693, 0.7953, 0.1183, 0.4596],
                                [0.0087, 0.7925, 0.0989, 0.8385],
                                [0.8261, 0.6920, 0.7069, 0.4464],
                            ],
                        ],
                        [
                            [
                                [0.0110, 0.1608, 0.4814, 0.6317],
                                [0.0194, 0.9669, 0.3259, 0.0028],
                                [0.5674, 0.8286, 0.0306, 0.5309],
                                [0.3973, 0.8183, 0.0238, 0.1934],
                            ],
                            [
                                [0.8947, 0.6629, 0.9439, 0.8905],
                                [0.0072, 0.1697, 0.4634, 0.0201],
                                [0.7184, 0.2424, 0.0820, 0.7504],
                                [0.3937, 0.1424, 0.4463, 0.5779],
                            ],
                            [
                                [0.4123, 0.6227, 0.0523, 0.8826],
                                [0.0051, 0.0353, 0.3662, 0.7697],
                                [0.4867, 0.8986, 0.2510, 0.5316],
                                [0.1856, 0.2634, 0.9140, 0.9725],
                            ],
                            [
                                [0.2041, 0.4248, 0.2371, 0.7256],
                                [0.2168, 0.5380, 0.4538, 0.7007],
                                [0.9013, 0.2623, 0.0739, 0.2998],
                                [0.1366, 0.5590, 0.2952, 0.4592],
                            ],
                        ],
                    ]
                ]
            ),
            "targets": torch.tensor(
                [
                    [
                        [[0, 1, 0, 1], [1, 2, 1, 0], [2, 1, 1, 1], [1, 1, 0, 1]],
                        [[2, 1, 0, 2], [1, 2, 0, 2], [1, 0, 1, 1], [1, 1, 0, 0]],
                        [[1, 0, 2, 1], [0, 2, 2, 1], [1, 0, 1, 1], [0, 0, 2, 1]],
                        [[2, 1, 1, 0], [1, 0, 0, 2], [1, 0, 2, 1], [2, 1, 0, 1]],
                    ]
                ]
            ),
        },
        1.15035,
    ],
]

# ---------------------------------------------------------------------------------------------- MaskedDiceLoss
MASKED_DICE_CASES = [
    [  # shape: (1, 1, 2, 2), (1, 1, 2, 2)
        {"include_background": True, "sigmoid": True, "smooth_nr": 1e-6, "smooth_dr": 1e-6},
        {
            "input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]),
            "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]]),
            "mask": torch.tensor([[[[0.0, 0.0], [1.0, 1.0]]]]),
        },
        0.500,
    ],
    [  # shape: (2, 1, 2, 2), (2, 1, 2, 2)
        {"include_background": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4},
        {
            "input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
            "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]]),
            "mask": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 1.0], [0.0, 0.0]]]]),
        },
        0.422969,
    ],
    [  # shape: (2, 2, 3), (2, 1, 3)
        {"include_background": False, "to_onehot_y": True, "smooth_nr": 0, "smooth_dr": 0},
        {
            "input": torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]),
            "target": torch.tensor([[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]]),
            "mask": torch.tensor([[[1.0, 1.0, 1.0]], [[0.0, 1.0, 0.0]]]),
        },
        0.0,
    ],
    [  # shape: (2, 2, 3), (2, 1, 3)
        {"include_background": True, "to_onehot_y": True, "sigmoid": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4},
        {
            "input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
            "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]]),
            "mask": torch.tensor([[[1.0, 1.0, 0.0]]]),
        },
        0.47033,
    ],
    [  # shape: (2, 2, 3), (2, 1, 3)
        {
            "include_background": True,
            "to_onehot_y": True,
            "sigmoid": True,
            "reduction": "none",
            "smooth_nr": 1e-4,
            "smooth_dr": 1e-4,
        },
        {
            "input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
            "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]]),
        },
        [[[0.296529], [0.415136]], [[0.599976], [0.428559]]],
    ],
    [  # shape: (2, 2, 3), (2, 1, 3)
        {"include_background": True, "to_onehot_y": True, "softmax": True, "smooth_nr": 1e-4, "smooth_dr": 1e-4},
        {
            "input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
            "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]]),
        },
        0.383713,
    ],
    [  # shape: (2, 2, 3), (2, 1, 3)
        {
            "include_background": True,
            "to_onehot_y": True,
            "softmax": True,
            "reduction": "sum",
            "smooth_nr": 1e-4,
            "smooth_dr": 1e-4,
        },
        {
            "input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
            "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]]),
        },
        1.534853,
    ],
    [  # shape: (1, 1, 2, 2), (1, 1, 2, 2)
        {"include_background": True, "sigmoid": True, "smooth_nr": 1e-6, "smooth_dr": 1e-6},
        {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])},
        0.307576,
    ],
    [  # shape: (1, 1, 2, 2), (1, 1, 2, 2)
        {"include_background": True, "sigmoid": True, "squared_pred": True, "smooth_nr": 1e-5, "smooth_dr": 1e-5},
        {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])},
        0.178337,
    ],
    [  # shape: (1, 1, 2, 2), (1, 1, 2, 2)
        {"include_background": True, "sigmoid": True, "jaccard": True, "smooth_nr": 1e-5, "smooth_dr": 1e-5},
        {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])},
        0.470451,
    ],
]


# ---------------------------------------------------------------------------------------------- MCCLoss
MCC_CASES = [
    [{"include_background": True, "sigmoid": True},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])}, 0.733197],
    [{"include_background": True, "sigmoid": True},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
      "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])}, 1.0],
    [{"include_background": True},
     {"input": torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])}, 0.0],
    [{"include_background": True},
     {"input": torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])}, 2.0],
    [{"include_background": False, "to_onehot_y": True},
     {"input": torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]),
      "target": torch.tensor([[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])}, 0.0],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, 0.836617],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "batch": True},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, 0.845961],
    [{"include_background": True, "to_onehot_y": True, "sigmoid": True, "reduction": "sum"},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, 3.346468],
    [{"include_background": True, "to_onehot_y": True, "softmax": True},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, 0.730736],
    [{"include_background": True, "to_onehot_y": True, "softmax": True, "reduction": "none"},
     {"input": torch.tensor([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]),
      "target": torch.tensor([[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]])}, [[0.461472, 0.461472], [1.0, 1.0]]],
    [{"include_background": True}, {"input": torch.ones(1, 1, 3, 3), "target": torch.ones(1, 1, 3, 3)}, 0.0],
    [{"include_background": True}, {"input": torch.zeros(1, 1, 3, 3), "target": torch.zeros(1, 1, 3, 3)}, 0.0],
    [{"include_background": True, "other_act": torch.tanh},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]),
      "target": torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]])}, 1.0],
]

# ---------------------------------------------------------------------------------------------- BoundaryLoss
# MONAI's cases check only that the loss runs (expected None): the reference is MONAI's value.
_BL = {"input": torch.tensor([[[[2.0, -2.0], [-2.0, 2.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])}
_BL_MC = {"input": torch.tensor([[[[2.0, 0.0], [0.0, 2.0]], [[-2.0, 0.0], [0.0, -2.0]]]]),
          "target": torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])}
BOUNDARY_CASES = [
    [{"include_background": True, "sigmoid": True}, _BL, None],
    [{"include_background": True, "sigmoid": True},
     {"input": torch.tensor([[[[[2.0, -2.0], [-2.0, 2.0]], [[2.0, -2.0], [-2.0, 2.0]]]]]),
      "target": torch.tensor([[[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]]])}, None],
    [{"include_background": True, "softmax": True}, _BL_MC, None],
    [{"include_background": True, "to_onehot_y": True, "softmax": True},
     {"input": _BL_MC["input"], "target": torch.tensor([[[[0, 0], [0, 1]]]])}, None],
    [{"include_background": True, "sigmoid": True, "reduction": "none"}, _BL, None],
    [{"include_background": True, "sigmoid": True, "reduction": "sum"}, _BL, None],
    [{"include_background": False, "sigmoid": True},
     {"input": torch.tensor([[[[2.0, -2.0], [-2.0, 2.0]], [[-2.0, 2.0], [2.0, -2.0]]]]),
      "target": torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])}, None],
    [{"include_background": True, "other_act": torch.tanh},
     {"input": torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]), "target": torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])}, None],
    # the inputs of MONAI's perfect-match, partial-overlap and empty-foreground checks (default options)
    [{}, {"input": torch.tensor([[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]),
          "target": torch.tensor([[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]])}, None],
    [{}, {"input": torch.tensor([[[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]),
          "target": torch.tensor([[[[0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]])}, None],
    [{"sigmoid": False}, {"input": torch.tensor([[[[0.9] * 3] * 3, [[0.1] * 3] * 3]]),
                          "target": torch.tensor([[[[1.0] * 3] * 3, [[0.0] * 3] * 3]])}, None],
]

# ---------------------------------------------------------------------------------------------- SoftclDiceLoss, SoftDiceclDiceLoss
CLDICE_CASES = [
    [{}, {"input": torch.ones((7, 3, 11, 10)), "target": torch.ones((7, 3, 11, 10))}, 0.0],
    [{}, {"input": torch.ones((2, 3, 13, 14, 5)), "target": torch.ones((2, 3, 13, 14, 5))}, 0.0],
]

# ---------------------------------------------------------------------------------------------- GeneralizedWassersteinDiceLoss
_GW_T2 = torch.tensor([[[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]])
_GW_E2 = torch.zeros(1, 4, 4, dtype=torch.long)
_GW_T3 = torch.tensor([[[[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]] * 3])
_GW_M = np.array([[0.0, 1.0], [1.0, 0.0]])


def _gw_cases(target: torch.Tensor) -> list:
    def pred(t: torch.Tensor) -> torch.Tensor:
        return 1000 * F.one_hot(t, num_classes=2).movedim(-1, 1).float()
    cases = []
    for mode in ("default", "GDL"):
        kw = {"dist_matrix": _GW_M, "weighting_mode": mode}
        cases += [[kw, {"input": pred(target), "target": target}, 0.0],
                  [kw, {"input": pred(target), "target": target.unsqueeze(1)}, 0.0],
                  [kw, {"input": pred(1 - target), "target": target}, 1.0]]
    return cases


WASSERSTEIN_CASES = _gw_cases(_GW_T2) + _gw_cases(_GW_E2) + _gw_cases(_GW_T3) + [
    [{"dist_matrix": _GW_M, "weighting_mode": "default"},
     {"input": 1000 * F.one_hot(_GW_T2, num_classes=2).movedim(-1, 1).float(), "target": _GW_T2.to(dtype)}, 0.0]
    for dtype in (torch.uint8, torch.int8, torch.short, torch.int)
]

# ---------------------------------------------------------------------------------------------- GeneralizedDiceFocalLoss
# MONAI checks GeneralizedDiceFocalLoss = GeneralizedDiceLoss + lambda_focal * FocalLoss on random inputs (no value).
_GEN = torch.Generator().manual_seed(0)
_GDF_PRED = torch.randn(3, 3, 5, 5, generator=_GEN)
_GDF_ONEHOT = torch.randint(0, 2, (3, 3, 5, 5), generator=_GEN)
_GDF_LABEL = torch.argmax(_GDF_ONEHOT, dim=1, keepdim=True)
GENERALIZED_DICE_FOCAL_CASES = [
    [{"include_background": True, "to_onehot_y": False, "reduction": r, "weight": w, "gamma": 1.0, "lambda_focal": lf},
     {"input": _GDF_PRED, "target": _GDF_ONEHOT}, None]
    for r in ("sum", "mean", "none") for w in (None, torch.tensor([1.0, 1.0, 2.0]), (3, 2.0, 1)) for lf in (0.5, 1.0, 1.5)
] + [
    [{"include_background": False, "to_onehot_y": True, "reduction": r, "weight": w, "lambda_focal": lf},
     {"input": _GDF_PRED, "target": _GDF_LABEL}, None]
    for r in ("sum", "mean", "none") for w in (2.0, torch.tensor([1.0, 2.0]), (2.0, 1)) for lf in (0.5, 1.0, 1.5)
]

# ---------------------------------------------------------------------------------------------- DiceFocalLoss
# MONAI checks DiceFocalLoss = DiceLoss + lambda_focal * FocalLoss on random inputs, without an activation (no value),
# then with alpha=0.25 for the focal term.
DICE_FOCAL_CASES = [
    [{"include_background": True, "to_onehot_y": False, "reduction": r, "weight": w, "gamma": 1.0, "lambda_focal": lf,
      **({"alpha": alpha} if alpha is not None else {})},
     {"input": _GDF_PRED, "target": _GDF_ONEHOT}, None]
    for alpha in (None, 0.25) for r in ("sum", "mean", "none") for w in (None, torch.tensor([1.0, 1.0, 2.0]), (3, 2.0, 1))
    for lf in (0.5, 1.0, 1.5)
]

# ---------------------------------------------------------------------------------------------- AsymmetricUnifiedFocalLoss
_UF = torch.tensor([[[[1.0, 0], [0, 1.0]]], [[[1.0, 0], [0, 1.0]]]])
UNIFIED_FOCAL_CASES = [
    [{}, {"y_pred": _UF, "y_true": _UF}, 0.0],
    [{}, {"y_pred": _UF, "y_true": _UF}, 0.0],
]
