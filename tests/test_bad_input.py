"""The bad-input matrix of the region losses (docs/ARCHITECTURE.md §3): every kind of bad input raises ``TypeError`` or
``ValueError`` whose message names the argument, through both faces (module and functional form).

Nothing is clamped silently: out-of-range probabilities, targets and labels are errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from monai_segloss import functional as F
from monai_segloss import get_loss

REGION_FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "dice": F.dice_loss,
    "jaccard": F.jaccard_loss,
    "generalized_dice": F.generalized_dice_loss,
    "tversky": F.tversky_loss,
    "focal_tversky": F.focal_tversky_loss,
    "log_cosh_dice": F.log_cosh_dice_loss,
    "sensitivity_specificity": F.sensitivity_specificity_loss,
}
REGION_KEYS = sorted(REGION_FUNCTIONS)

B, C, S = 2, 3, (4, 4)
ML = {"softmax": True, "to_onehot_y": True}


def _x() -> torch.Tensor:
    return torch.randn(B, C, *S, generator=torch.Generator().manual_seed(0))


def _y() -> torch.Tensor:
    return torch.randint(0, C, (B, 1, *S), generator=torch.Generator().manual_seed(1))


def _onehot() -> torch.Tensor:
    return torch.nn.functional.one_hot(_y()[:, 0], C).movedim(-1, 1).float()


def _probs() -> torch.Tensor:
    return torch.softmax(_x(), 1)


@dataclass
class Bad:
    """One bad input: ``data()`` -> (input, target, mask) called with ``kwargs``, expected ``exc`` and ``match``."""

    exc: type[Exception]
    match: str
    kwargs: dict[str, Any] = field(default_factory=lambda: dict(ML))
    data: Callable[[], tuple[Any, Any, Any]] = lambda: (_x(), _y(), None)


def _with_label(y: torch.Tensor, value: float, dtype: torch.dtype | None = None) -> torch.Tensor:
    y = y.clone() if dtype is None else y.to(dtype)
    y[0, 0, 0, 0] = value
    return y


COMMON: dict[str, Bad] = {
    # --- tensors
    "input-not-tensor": Bad(TypeError, r"input must be a torch\.Tensor", data=lambda: (_x().tolist(), _y(), None)),
    "target-not-tensor": Bad(TypeError, r"target must be a torch\.Tensor", data=lambda: (_x(), _y().numpy(), None)),
    "input-integer-dtype": Bad(TypeError, r"input must be a floating-point", data=lambda: (_x().long(), _y(), None)),
    "target-complex": Bad(TypeError, r"target must be a real",
                          data=lambda: (_x(), _y().to(torch.complex64), None)),
    "input-ndim-too-small": Bad(ValueError, r"input must have shape \(B, C, \*S\)",
                                data=lambda: (_x()[:, :, 0, 0], _y()[:, :, 0, 0], None)),
    "input-ndim-too-large": Bad(ValueError, r"input must have shape \(B, C, \*S\)",
                                data=lambda: (_x()[..., None, None], _y()[..., None, None], None)),
    "input-empty": Bad(ValueError, r"input must not be empty", data=lambda: (_x()[:0], _y()[:0], None)),
    "batch-mismatch-label": Bad(ValueError, r"target must be a label map of shape",
                                data=lambda: (_x(), _y()[:1], None)),
    "batch-mismatch-onehot": Bad(ValueError, r"target must have the input's shape", kwargs={"softmax": True},
                                 data=lambda: (_x(), _onehot()[:1], None)),
    "spatial-mismatch-label": Bad(ValueError, r"target must be a label map",
                                  data=lambda: (_x(), _y()[..., :3], None)),
    "spatial-mismatch-onehot": Bad(ValueError, r"target must have the input's shape", kwargs={"softmax": True},
                                   data=lambda: (_x(), _onehot()[..., :3], None)),
    "label-map-without-to_onehot_y": Bad(ValueError, r"target must have the input's shape.*to_onehot_y",
                                         kwargs={"softmax": True}, data=lambda: (_x(), _y().float(), None)),
    "onehot-channel-mismatch": Bad(ValueError, r"target must have the input's shape", kwargs={"softmax": True},
                                   data=lambda: (_x(), _onehot()[:, :2], None)),
    "label-map-two-channels": Bad(ValueError, r"target must be a label map",
                                  data=lambda: (_x(), _onehot()[:, :2].long(), None)),
    # --- label values
    "label-out-of-range": Bad(ValueError, r"target holds label values outside \[0, 3\).*\[3\]",
                              data=lambda: (_x(), _with_label(_y(), 3), None)),
    "label-negative": Bad(ValueError, r"target holds label values outside \[0, 3\).*\[-1\]",
                          data=lambda: (_x(), _with_label(_y(), -1), None)),
    "label-out-of-range-with-ignore": Bad(ValueError, r"target holds label values.*ignore_index=255",
                                          kwargs={**ML, "ignore_index": 255},
                                          data=lambda: (_x(), _with_label(_y(), 7), None)),
    "label-non-integer": Bad(ValueError, r"target must hold integer class ids",
                             data=lambda: (_x(), _with_label(_y(), 0.5, torch.float32), None)),
    "onehot-out-of-unit-range": Bad(ValueError, r"target must hold values in \[0, 1\]", kwargs={"softmax": True},
                                    data=lambda: (_x(), 2 * _onehot(), None)),
    "onehot-negative": Bad(ValueError, r"target must hold values in \[0, 1\]", kwargs={"softmax": True},
                           data=lambda: (_x(), -_onehot(), None)),
    "probabilities-out-of-unit-range": Bad(ValueError, r"input must hold probabilities in \[0, 1\]",
                                           kwargs={"to_onehot_y": True}, data=lambda: (_x(), _y(), None)),
    # --- activations
    "two-activations": Bad(ValueError, r"sigmoid, softmax and other_act: at most one",
                           kwargs={"sigmoid": True, "softmax": True, "to_onehot_y": True}),
    "sigmoid-and-other_act": Bad(ValueError, r"at most one activation.*other_act",
                                 kwargs={"sigmoid": True, "other_act": torch.tanh, "to_onehot_y": True}),
    "other_act-not-callable": Bad(TypeError, r"other_act must be None or callable",
                                  kwargs={"other_act": 3, "to_onehot_y": True}),
    "other_act-wrong-shape": Bad(ValueError, r"other_act must return a tensor of the input's shape",
                                 kwargs={"other_act": lambda t: t.mean(1, keepdim=True), "to_onehot_y": True}),
    "softmax-one-channel": Bad(ValueError, r"softmax=True needs at least 2 channels", kwargs={"softmax": True},
                               data=lambda: (_x()[:, :1], (_y() > 0).float(), None)),
    "sigmoid-not-bool": Bad(TypeError, r"sigmoid must be a bool", kwargs={"sigmoid": "yes"}),
    "to_onehot_y-not-bool": Bad(TypeError, r"to_onehot_y must be a bool", kwargs={"softmax": True, "to_onehot_y": 1}),
    # --- channels and weights
    "include_background-one-channel": Bad(ValueError, r"include_background=False with a single-channel",
                                          kwargs={"sigmoid": True, "include_background": False},
                                          data=lambda: (_x()[:, :1], (_y() > 0).float(), None)),
    "include_background-not-bool": Bad(TypeError, r"include_background must be a bool",
                                       kwargs={**ML, "include_background": "no"}),
    "exclude_channels-out-of-range": Bad(ValueError, r"exclude_channels holds ids outside \[0, 3\): \[5\]",
                                         kwargs={**ML, "exclude_channels": [5]}),
    "exclude_channels-negative": Bad(ValueError, r"exclude_channels must hold non-negative int",
                                     kwargs={**ML, "exclude_channels": [-1]}),
    "exclude_channels-not-sequence": Bad(TypeError, r"exclude_channels must be a sequence",
                                         kwargs={**ML, "exclude_channels": 1}),
    "exclude_channels-everything": Bad(ValueError, r"no channel left to score.*exclude_channels=\[1, 2\]",
                                       kwargs={**ML, "include_background": False, "exclude_channels": [1, 2]}),
    "weight-bad-length": Bad(ValueError, r"weight must have length C=3 .* or 2 .*got length 4",
                             kwargs={**ML, "include_background": False, "weight": [1.0, 1.0, 1.0, 1.0]}),
    "weight-negative": Bad(ValueError, r"weight values must be finite and >= 0", kwargs={**ML, "weight": [1, -1, 1]}),
    "weight-nan": Bad(ValueError, r"weight values must be finite", kwargs={**ML, "weight": [1, math.nan, 1]}),
    "weight-empty": Bad(ValueError, r"weight must not be empty", kwargs={**ML, "weight": []}),
    "weight-string": Bad(TypeError, r"weight must be a number or a sequence", kwargs={**ML, "weight": "111"}),
    "weight-bool": Bad(TypeError, r"weight must be a number or a sequence", kwargs={**ML, "weight": True}),
    "weight-non-numeric": Bad(TypeError, r"weight must hold numbers", kwargs={**ML, "weight": [1, "a", 1]}),
    "weight-2d-tensor": Bad(ValueError, r"weight must be a 1-D", kwargs={**ML, "weight": torch.ones(3, 1)}),
    # --- ignore / mask
    "ignore_index-float": Bad(TypeError, r"ignore_index must be None or an int", kwargs={**ML, "ignore_index": 1.5}),
    "mask-wrong-shape": Bad(ValueError, r"mask must be broadcastable to \(B, 1, \*S\)",
                            data=lambda: (_x(), _y(), torch.ones(B, 1, 3, 3))),
    "mask-not-tensor": Bad(TypeError, r"mask must be a torch\.Tensor", data=lambda: (_x(), _y(), [[1.0]])),
    # --- options
    "unknown-keyword": Bad(ValueError, r"unexpected keyword argument\(s\) \['not_an_option'\]; valid keywords are",
                           kwargs={**ML, "not_an_option": 1}),
    "reduction-unknown": Bad(ValueError, r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'",
                             kwargs={**ML, "reduction": "avg"}),
    "empty-unknown": Bad(ValueError, r"empty must be one of \('smooth', 'skip', 'fp'\), got 'zero'",
                         kwargs={**ML, "empty": "zero"}),
    "smooth_dr-negative": Bad(ValueError, r"smooth_dr must be a finite number >= 0", kwargs={**ML, "smooth_dr": -1}),
    "smooth_nr-nan": Bad(ValueError, r"smooth_nr must be a finite number", kwargs={**ML, "smooth_nr": math.nan}),
    "batch-not-bool": Bad(TypeError, r"batch must be a bool", kwargs={**ML, "batch": 1}),
    "distributed-without-batch": Bad(ValueError, r"distributed=True needs batch=True",
                                     kwargs={**ML, "distributed": True}),
}

SPECIFIC: dict[str, dict[str, Bad]] = {
    "dice": {"squared_pred-not-bool": Bad(TypeError, r"squared_pred must be a bool", {**ML, "squared_pred": 1}),
             "jaccard-not-bool": Bad(TypeError, r"jaccard must be a bool", {**ML, "jaccard": "yes"})},
    "jaccard": {"squared_pred-not-bool": Bad(TypeError, r"squared_pred must be a bool", {**ML, "squared_pred": 1}),
                "jaccard-is-not-an-option": Bad(ValueError, r"unexpected keyword.*\['jaccard'\]",
                                                {**ML, "jaccard": True})},
    "log_cosh_dice": {"squared_pred-not-bool": Bad(TypeError, r"squared_pred must be a bool",
                                                   {**ML, "squared_pred": None})},
    "generalized_dice": {"w_type-unknown": Bad(ValueError, r"w_type must be one of .*'cubic'",
                                               {**ML, "w_type": "cubic"})},
    "tversky": {"alpha-negative": Bad(ValueError, r"alpha must be a finite number >= 0", {**ML, "alpha": -0.1}),
                "beta-nan": Bad(ValueError, r"beta must be a finite number", {**ML, "beta": math.nan}),
                "alpha-string": Bad(TypeError, r"alpha must be a finite number", {**ML, "alpha": "0.3"})},
    "focal_tversky": {"gamma-zero": Bad(ValueError, r"gamma must be a finite number > 0", {**ML, "gamma": 0}),
                      "gamma-inf": Bad(ValueError, r"gamma must be a finite number", {**ML, "gamma": math.inf}),
                      "beta-negative": Bad(ValueError, r"beta must be a finite number >= 0", {**ML, "beta": -1})},
    "sensitivity_specificity": {"r-above-one": Bad(ValueError, r"r must be a finite number in \[0, 1\]",
                                                   {**ML, "r": 1.5}),
                                "r-negative": Bad(ValueError, r"r must be a finite number in \[0, 1\]",
                                                  {**ML, "r": -0.5})},
}


def _call(key: str, face: str, bad: Bad) -> None:
    x, y, mask = bad.data()
    if face == "module":
        get_loss(key, **bad.kwargs)(x, y, mask=mask)
    else:
        REGION_FUNCTIONS[key](x, y, mask, **bad.kwargs)


def test_matrix_is_large_enough():
    assert len(COMMON) >= 10
    assert len({b.match.split(" ")[0] for b in COMMON.values()}) >= 10, "the matrix must name many arguments"


@pytest.mark.parametrize("face", ["module", "functional"])
@pytest.mark.parametrize("kind", sorted(COMMON))
@pytest.mark.parametrize("key", REGION_KEYS)
def test_bad_input_common(key, kind, face):
    bad = COMMON[kind]
    with pytest.raises(bad.exc, match=bad.match):
        _call(key, face, bad)


@pytest.mark.parametrize("face", ["module", "functional"])
@pytest.mark.parametrize("key,kind", [(k, n) for k in sorted(SPECIFIC) for n in sorted(SPECIFIC[k])])
def test_bad_input_specific(key, kind, face):
    bad = SPECIFIC[key][kind]
    with pytest.raises(bad.exc, match=bad.match):
        _call(key, face, bad)


@pytest.mark.parametrize("key", REGION_KEYS)
def test_the_good_inputs_of_the_matrix_pass(key):
    """The matrix's base data and options are valid: each error above comes from the one thing made bad."""
    for kwargs, (x, y, m) in [(ML, (_x(), _y(), None)), ({"softmax": True}, (_x(), _onehot(), None)),
                              ({"to_onehot_y": True}, (_probs(), _y(), None)),
                              ({"sigmoid": True}, (_x()[:, :1], (_y() > 0).float(), None)),
                              (ML, (_x(), _y(), torch.ones(B, 1, *S)))]:
        assert torch.isfinite(get_loss(key, **kwargs)(x, y, mask=m))
        assert torch.isfinite(REGION_FUNCTIONS[key](x, y, m, **kwargs))


@pytest.mark.parametrize("key", REGION_KEYS)
def test_unknown_keyword_lists_the_valid_ones(key):
    with pytest.raises(ValueError) as info:
        get_loss(key, sigmod=True)
    msg = str(info.value)
    assert "sigmod" in msg
    for name in ("sigmoid", "softmax", "include_background", "weight", "ignore_index", "reduction", "batch",
                 "empty", "smooth_nr", "smooth_dr"):
        assert f"'{name}'" in msg, name


@pytest.mark.parametrize("key", ["dice", "boundary", "cross_entropy"])
def test_range_checks_read_other_memory_layouts(key):
    """Channels-last inputs and one-hot views (``one_hot(y).movedim(-1, 1)``) are range-checked in their memory order:
    the same errors, and the same values as contiguous tensors."""
    y = torch.randint(0, C, (B, 5, 4, 3), generator=torch.Generator().manual_seed(2))
    onehot = torch.nn.functional.one_hot(y, C).movedim(-1, 1).float()
    x = torch.randn(B, 5, 4, 3, C, generator=torch.Generator().manual_seed(3)).movedim(-1, 1)
    assert not onehot.is_contiguous() and not x.is_contiguous()
    loss = get_loss(key, softmax=True)
    torch.testing.assert_close(loss(x, onehot), loss(x.contiguous(), onehot.contiguous()))
    bad = onehot.clone(memory_format=torch.preserve_format)
    bad[1, 2, 4, 3, 2] = 1.5
    assert not bad.is_contiguous()
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\].*1\.5"):
        loss(x, bad)
    probs = torch.softmax(x, 1).contiguous(memory_format=torch.channels_last_3d)
    probs[0, 0, 0, 0, 0] = -0.25
    assert not probs.is_contiguous()
    with pytest.raises(ValueError, match=r"input must hold probabilities in \[0, 1\].*-0\.25"):
        get_loss(key)(probs, onehot)
