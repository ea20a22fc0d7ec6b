"""MONAI's own test cases (``tests/monai_cases.py``, transcribed from MONAI's test suite) run on our counterparts.

Each case is ``[kwargs, {"input", "target"}, expected]``; our class gets the same kwargs and must give MONAI's
expected value (to MONAI's own tolerance, 1e-4), except where a documented difference applies:

- documented default differences, translated by passing MONAI's default explicitly: ``TverskyLoss``'s α = β = 0.5
  (ours 0.3 / 0.7); ``FocalLoss``'s sigmoid on logits when ``use_softmax`` is not given (ours: no activation unless
  one is set, so ``sigmoid=True`` is added);
- differences on purpose, where a test shows both values: the softmax focal mean (ours is C times MONAI's: a mean
  over voxels, so that γ = 0 is exactly the cross-entropy), ``DiceCELoss`` without an activation (MONAI's
  cross-entropy reads the input as logits while its Dice reads it as probabilities), a class weight with a single
  scored class (MONAI's Dice ignores it), and ``FocalLoss``'s ``"sum"`` (MONAI sums spatial means).

``"none"`` outputs are compared flattened: MONAI keeps size-1 spatial dims (``(B, C, 1, 1)``), ours is ``(B, K)``.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceCELoss, DiceFocalLoss, DiceLoss, FocalLoss

import monai_segloss as M
from tests import monai_cases as mc

TOL = {"atol": 1e-4, "rtol": 1e-4}


def _close(got: torch.Tensor, expected) -> None:
    want = torch.as_tensor(expected, dtype=got.dtype)
    assert got.numel() == want.numel(), (tuple(got.shape), tuple(want.shape))
    torch.testing.assert_close(got.flatten(), want.flatten(), **TOL)


def _ids(cases: list) -> list[str]:
    return [f"{i}-{'-'.join(f'{k}={v}' for k, v in kw.items() if not callable(v))[:60]}" for i, (kw, _, _)
            in enumerate(cases)]


@pytest.mark.parametrize("case", mc.DICE_CASES, ids=_ids(mc.DICE_CASES))
def test_dice_loss_cases(case):
    kw, data, expected = case
    _close(M.SegDiceLoss(**kw)(**data), expected)


@pytest.mark.parametrize("case", mc.GENERALIZED_DICE_CASES, ids=_ids(mc.GENERALIZED_DICE_CASES))
def test_generalized_dice_loss_cases(case):
    kw, data, expected = case
    _close(M.SegGeneralizedDiceLoss(**kw)(**data), expected)


@pytest.mark.parametrize("case", mc.TVERSKY_CASES, ids=_ids(mc.TVERSKY_CASES))
def test_tversky_loss_cases(case):
    kw, data, expected = case
    _close(M.SegTverskyLoss(**{"alpha": 0.5, "beta": 0.5, **kw})(**data), expected)  # MONAI's defaults


@pytest.mark.parametrize("case", mc.HAUSDORFF_CASES, ids=_ids(mc.HAUSDORFF_CASES))
def test_hausdorff_dt_loss_cases(case):
    kw, data, expected = case
    _close(M.SegHausdorffDTLoss(**kw)(**data), expected)


def test_generalized_dice_batch_zeros_keeps_a_graph():
    """MONAI's check: a batch of zero inputs and targets still gives a loss with a gradient."""
    x = torch.zeros(2, 3, 3, 3, requires_grad=True)
    loss = M.SegGeneralizedDiceLoss(batch=True)(x, torch.zeros(2, 3, 3, 3))
    assert loss.grad_fn is not None
    loss.backward()
    assert torch.isfinite(x.grad).all()


# ------------------------------------------------------------------------------------------------------- focal

_SIGMOID_CASES = [c for c in mc.FOCAL_CASES if "use_softmax" not in c[0]] + mc.FOCAL_FOREGROUND_CASES
_SOFTMAX_CASES = [c for c in mc.FOCAL_CASES if "use_softmax" in c[0]]


@pytest.mark.parametrize("case", _SIGMOID_CASES, ids=_ids(_SIGMOID_CASES))
def test_focal_loss_sigmoid_cases(case):
    """MONAI's FocalLoss applies a sigmoid to logits unless use_softmax=True: ours is told so (sigmoid=True), or
    gets it from MONAI's own flag (use_softmax=False)."""
    kw, data, expected = case
    _close(M.SegFocalLoss(sigmoid=True, **kw)(**data), expected)
    _close(M.SegFocalLoss(use_softmax=False, **kw)(**data), expected)


@pytest.mark.parametrize("case", _SOFTMAX_CASES, ids=_ids(_SOFTMAX_CASES))
def test_focal_loss_softmax_cases_are_c_times_monai(case):
    """Softmax focal: MONAI's mean runs over B·C·S elements of which one per voxel is non-zero, ours over the B·S
    voxels (so that γ = 0 is exactly the cross-entropy): ours is C = 3 times MONAI's value."""
    kw, data, expected = case
    ours = M.SegFocalLoss(**kw)(**data)
    c = data["input"].shape[1]
    _close(ours, c * expected)
    _close(FocalLoss(**kw)(**data), expected)  # MONAI's value, for the record: 0.16276 and 0.08138
    assert abs(float(ours) - expected) > 0.05


def test_focal_sum_is_the_sum_of_the_none_output():
    """MONAI's FocalLoss ``"sum"`` adds the spatial *means* of each (sample, class); ours adds every term (the sum of
    the ``"none"`` output, as ``BCEWithLogitsLoss(reduction="sum")`` at γ = 0): ours = MONAI's × voxels."""
    kw, data, _ = mc.FOCAL_CASES[0]
    ours = M.SegFocalLoss(sigmoid=True, reduction="sum", **kw)(**data)
    theirs = FocalLoss(reduction="sum", **kw)(**data)
    voxels = data["input"][0, 0].numel()
    torch.testing.assert_close(ours, M.SegFocalLoss(sigmoid=True, reduction="none", **kw)(**data).sum())
    torch.testing.assert_close(ours, voxels * theirs)
    assert float(theirs) == pytest.approx(1.0488, abs=1e-4) and float(ours) == pytest.approx(4.1950, abs=1e-4)


# ------------------------------------------------------------------------------------------------------ dice + CE

def _dice_ce_inputs(case):
    kw, data, expected = case
    return dict(kw), data["input"], data["target"], expected


@pytest.mark.parametrize("i", [0, 1, 2])
def test_dice_ce_cases_without_activation_differ_on_purpose(i):
    """No activation: MONAI's Dice reads the input as probabilities and its cross-entropy reads the same input as
    logits, so a one-hot prediction equal to the target scores ``log(1 + e) - 1 = 0.3133``. Ours reads it as
    probabilities in both terms: a perfect prediction scores 0. With ``softmax=True`` both agree."""
    kw, x, y, expected = _dice_ce_inputs(mc.DICE_CE_CASES[i])
    with pytest.warns(UserWarning, match="pass softmax=True"):  # no activation given: the fix is named
        assert float(M.SegDiceCELoss(**kw)(x, y)) == pytest.approx(0.0, abs=1e-6)
    _close(DiceCELoss(**kw)(x, y), expected)
    torch.testing.assert_close(M.SegDiceCELoss(softmax=True, **kw)(x, y), DiceCELoss(softmax=True, **kw)(x, y))


@pytest.mark.parametrize("i", [3, 4, 5])
def test_dice_ce_cases_on_raw_logits_are_refused(i):
    """These cases score raw logits (up to 100) with MONAI's activation-free Dice: ours refuses logits without an
    activation; with ``softmax=True`` ours equals MONAI's ``DiceCELoss(softmax=True)``, the cross-entropy scoring
    every class while ``include_background=False`` drops the background from the Dice term only."""
    kw, x, y, expected = _dice_ce_inputs(mc.DICE_CE_CASES[i])
    with pytest.raises(ValueError, match="input must hold probabilities"), pytest.warns(UserWarning):
        M.SegDiceCELoss(**kw)(x, y)
    _close(DiceCELoss(**kw)(x, y), expected)
    torch.testing.assert_close(M.SegDiceCELoss(softmax=True, **kw)(x, y), DiceCELoss(softmax=True, **kw)(x, y))


def test_dice_ce_single_class_weight_differs_on_purpose():
    """``weight=[0.5]``, sigmoid, C = 1: in both, the binary cross-entropy takes it as ``pos_weight`` (MONAI 1.6.1's
    ``BCEWithLogitsLoss(pos_weight=weight)``); MONAI's Dice ignores a weight when one class is scored, ours applies
    it (the weight is the user's): ours = MONAI's - 0.5 · Dice (1.1256 against MONAI's 1.4452)."""
    kw, x, y, expected = _dice_ce_inputs(mc.DICE_CE_CASES[6])
    ours = M.SegDiceCELoss(**kw)(x, y)
    _close(DiceCELoss(**kw)(x, y), expected)
    dice = DiceLoss(sigmoid=True)(x, y)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=torch.tensor([0.5]))
    torch.testing.assert_close(ours, 0.5 * dice + bce)
    torch.testing.assert_close(ours, DiceCELoss(**kw)(x, y) - 0.5 * dice)
    assert float(ours) == pytest.approx(1.1256, abs=1e-4)


# ----------------------------------------------------------------------------------------------- dice + focal

@pytest.mark.parametrize("weight", mc.DICE_FOCAL_WEIGHTS, ids=["none", "tensor", "tuple"])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_dice_focal_relation(weight, alpha):
    """MONAI's check, DiceFocal = Dice + λ·Focal, on sigmoid outputs (MONAI's focal term is a sigmoid focal loss
    whatever the activation; ours honours the activation, so both are given ``sigmoid=True``): ours equals MONAI's
    ``DiceFocalLoss`` for ``"mean"``; ``"sum"`` differs by the focal sum (see above); ``"none"`` is refused."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 5, 5, generator=gen)
    y = torch.randint(0, 2, (3, 3, 5, 5), generator=gen).float()
    for lam in mc.DICE_FOCAL_LAMBDAS:
        kw = dict(sigmoid=True, gamma=1.0, lambda_focal=lam, weight=weight, alpha=alpha, include_background=True)
        ours = M.SegDiceFocalLoss(**kw)(x, y)
        torch.testing.assert_close(ours, DiceFocalLoss(**kw)(x, y))
        focal_kw = dict(gamma=1.0, weight=weight, alpha=alpha)
        torch.testing.assert_close(ours, DiceLoss(sigmoid=True, weight=weight)(x, y)
                                   + lam * FocalLoss(**focal_kw)(x, y))
        ours_sum = M.SegDiceFocalLoss(reduction="sum", **kw)(x, y)
        theirs_sum = DiceFocalLoss(reduction="sum", **kw)(x, y)
        focal_sum = FocalLoss(reduction="sum", **focal_kw)(x, y)
        torch.testing.assert_close(ours_sum, theirs_sum + lam * (25 - 1) * focal_sum)
        with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum'\)"):
            M.SegDiceFocalLoss(reduction="none", **kw)
    with pytest.raises(ValueError, match="lambda_dice"):
        M.SegDiceFocalLoss(lambda_dice=-1.0)


def test_monai_enum_values_stand_for_their_strings():
    """MONAI code passes its ``StrEnum`` members (``LossReduction.SUM``, ``Weight.SIMPLE``): accepted as the plain
    strings they equal."""
    from monai.utils import LossReduction, Weight

    kw, data, _ = mc.GENERALIZED_DICE_CASES[6]
    loss = M.SegGeneralizedDiceLoss(**kw, reduction=LossReduction.SUM, w_type=Weight.SIMPLE)
    assert type(loss.options.reduction) is str and loss.options.w_type == "simple"
    torch.testing.assert_close(loss(**data), M.SegGeneralizedDiceLoss(**kw, reduction="sum", w_type="simple")(**data))
