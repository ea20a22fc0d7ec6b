"""The ``empty`` policy of the region losses for a (sample, class) with no target voxel.

- ``"fp"``: the unit's ``1 - score`` is its false-positive rate FP / (FP + TN) = Σp / n (then the loss's own
  transform: focal power, log-cosh), so a false-positive blob on an empty sample gets a real gradient (under
  ``"smooth"`` it gets almost none: 1 - s/(Σp + s) is flat in p).
- ``"smooth"``: MONAI's behaviour, equal to MONAI's value and gradient.
- ``"skip"``: the unit is left out of the mean (and is 0 in ``reduction="none"``).
- ``"smooth"`` with ``smooth_dr=0`` (no smoothing term to score an empty unit): the unsmoothed score, a loss of 1
  when anything is predicted and 0 when nothing is; MONAI's value where MONAI's is finite, never NaN or inf.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceLoss, GeneralizedDiceLoss, TverskyLoss

from monai_segloss import get_loss

REGION_KEYS = ["dice", "jaccard", "generalized_dice", "tversky", "focal_tversky", "log_cosh_dice",
               "sensitivity_specificity", "mcc"]
# losses whose "smooth" score of an empty unit is flat in p (the ratio s/(Σp + s) with Σp >> s)
FLAT_WHEN_SMOOTH = [k for k in REGION_KEYS if k != "sensitivity_specificity"]


def _blob_batch():
    """Binary, B = 2, 8x8: sample 0 has a 3x3 target square predicted well; sample 1 has no target voxel and a
    2x2 false-positive blob (logit +3) on a background predicted at logit -4."""
    x = torch.full((2, 1, 8, 8), -4.0)
    y = torch.zeros(2, 1, 8, 8)
    y[0, 0, 2:5, 2:5] = 1
    x[0, 0, 2:5, 2:5] = 4.0
    x[1, 0, 5:7, 5:7] = 3.0
    blob = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    blob[1, 0, 5:7, 5:7] = True
    return x, y, blob


@pytest.mark.parametrize("key", REGION_KEYS)
def test_fp_policy_gives_the_false_positive_blob_a_gradient(key):
    x, y, blob = _blob_batch()
    grads = {}
    for policy in ("smooth", "fp"):
        xi = x.clone().requires_grad_(True)
        get_loss(key, sigmoid=True, empty=policy)(xi, y).backward()
        grads[policy] = xi.grad
    g_fp = grads["fp"][blob]
    assert torch.all(g_fp > 0), "raising a false positive must raise the loss"
    assert float(g_fp.abs().min()) > (1e-5 if key == "log_cosh_dice" else 1e-4)
    if key in FLAT_WHEN_SMOOTH:
        assert float(g_fp.abs().min()) > 100 * float(grads["smooth"][blob].abs().max()), (g_fp, grads["smooth"])


@pytest.mark.parametrize("key", [k for k in REGION_KEYS if k != "generalized_dice"])
def test_fp_policy_scores_the_empty_unit_by_its_false_positive_rate(key):
    x, y, _ = _blob_batch()
    p = torch.sigmoid(x)
    loss = get_loss(key, sigmoid=True, empty="fp", reduction="none")(x, y)  # (B, 1)
    assert loss.shape == (2, 1)
    rate = p[1].sum() / p[1].numel()  # FP / (FP + TN) = Σp / n
    transform = {"focal_tversky": lambda t: t ** 0.75, "log_cosh_dice": lambda t: torch.log(torch.cosh(t))}
    torch.testing.assert_close(loss[1, 0], transform.get(key, lambda t: t)(rate))
    smooth = get_loss(key, sigmoid=True, reduction="none")(x, y)
    torch.testing.assert_close(loss[0], smooth[0])  # a non-empty unit is untouched


def test_fp_policy_counts_only_valid_voxels_and_takes_the_weight():
    x, y, _ = _blob_batch()
    p = torch.sigmoid(x)
    mask = torch.ones(2, 1, 8, 8)
    mask[1, 0, :4] = 0  # half of sample 1 ignored: n = 32
    loss = get_loss("dice", sigmoid=True, empty="fp", reduction="none", weight=[2.0])(x, y, mask=mask)
    torch.testing.assert_close(loss[1, 0], 2.0 * p[1, 0, 4:].sum() / 32)


def test_fp_policy_generalized_dice_empty_sample_is_mean_false_positive_rate():
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (2, 1, 6, 6), generator=torch.Generator().manual_seed(1))
    y[1] = 0  # sample 1: classes 1 and 2 are empty; with include_background=False the sample is empty
    p = torch.softmax(x, 1)
    loss = get_loss("generalized_dice", softmax=True, to_onehot_y=True, include_background=False, empty="fp",
                    reduction="none")(x, y)
    torch.testing.assert_close(loss[1], p[1, 1:].sum() / (2 * 36))


def _empty_sample_batch():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 5, 6, generator=gen)
    y = torch.randint(0, 3, (2, 1, 5, 6), generator=gen)
    y[1][y[1] == 2] = 1  # sample 1 has no voxel of class 2
    y[0, 0, 0, :3] = torch.tensor([0, 1, 2])
    return x, y


@pytest.mark.parametrize("monai_cls,key,extra", [(DiceLoss, "dice", {}), (DiceLoss, "dice", {"batch": True}),
                                                 (TverskyLoss, "tversky", {"alpha": 0.3, "beta": 0.7}),
                                                 (GeneralizedDiceLoss, "generalized_dice", {})])
@pytest.mark.parametrize("inc", [True, False])
def test_smooth_policy_matches_monai(monai_cls, key, extra, inc):
    x, y = _empty_sample_batch()
    kw = {"softmax": True, "to_onehot_y": True, "include_background": inc, **extra}
    xo, xm = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours = get_loss(key, empty="smooth", **kw)(xo, y)
    theirs = monai_cls(**kw)(xm, y)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(xo.grad, xm.grad, rtol=1e-4, atol=1e-7)
    assert get_loss(key, **kw).options.empty == "smooth", "smooth is the default"


def test_smooth_policy_empty_unit_by_hand():
    x, y = _empty_sample_batch()
    p = torch.softmax(x.double(), 1)
    loss = get_loss("dice", softmax=True, to_onehot_y=True, reduction="none", smooth_nr=1e-2,
                    smooth_dr=1e-2)(x.double(), y)
    torch.testing.assert_close(loss[1, 2], 1 - 1e-2 / (p[1, 2].sum() + 1e-2))


def _dice_by_hand(p: torch.Tensor, g: torch.Tensor, s: float = 1e-5) -> torch.Tensor:
    """(B, C) soft Dice losses from probabilities and one-hot targets, by the catalogue's formula."""
    tp = (p * g).flatten(2).sum(2)
    fp = (p * (1 - g)).flatten(2).sum(2)
    fn = ((1 - p) * g).flatten(2).sum(2)
    return 1 - (2 * tp + s) / (2 * tp + fp + fn + s)


def test_skip_policy_leaves_the_empty_unit_out_of_the_mean():
    x, y = _empty_sample_batch()
    x = x.double()
    p = torch.softmax(x, 1)
    g = torch.nn.functional.one_hot(y[:, 0], 3).movedim(-1, 1).double()
    assert g[1, 2].sum() == 0 and (g.flatten(2).sum(2) > 0).sum() == 5
    units = _dice_by_hand(p, g)
    kept = [units[0, 0], units[0, 1], units[0, 2], units[1, 0], units[1, 1]]
    kw = {"softmax": True, "to_onehot_y": True, "empty": "skip"}
    torch.testing.assert_close(get_loss("dice", **kw)(x, y), sum(kept) / 5)
    torch.testing.assert_close(get_loss("dice", reduction="sum", **kw)(x, y), sum(kept))
    none = get_loss("dice", reduction="none", **kw)(x, y)
    assert none[1, 2] == 0
    torch.testing.assert_close(none[0], units[0])
    # under "smooth" the empty unit counts: the mean is over 6 units and includes its ~1 loss
    torch.testing.assert_close(get_loss("dice", softmax=True, to_onehot_y=True)(x, y), units.mean())
    # with weights, the weighted units are summed over the counted units only (MONAI's weighted mean)
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    weighted = get_loss("dice", weight=w.tolist(), **kw)(x, y)
    torch.testing.assert_close(weighted, ((units * w)[0].sum() + (units * w)[1, :2].sum()) / 5)


def test_skip_policy_with_batch_statistics():
    x, y = _empty_sample_batch()
    y[0][y[0] == 2] = 0  # now class 2 is absent from the whole batch
    x = x.double()
    p = torch.softmax(x, 1)
    g = torch.nn.functional.one_hot(y[:, 0], 3).movedim(-1, 1).double()
    tp, ps, gs = (p * g).sum((0, 2, 3)), p.sum((0, 2, 3)), g.sum((0, 2, 3))
    per_class = 1 - (2 * tp + 1e-5) / (ps + gs + 1e-5)
    loss = get_loss("dice", softmax=True, to_onehot_y=True, batch=True, empty="skip")(x, y)
    torch.testing.assert_close(loss, per_class[:2].mean())
    none = get_loss("dice", softmax=True, to_onehot_y=True, batch=True, empty="skip", reduction="none")(x, y)
    torch.testing.assert_close(none, torch.stack([per_class[0], per_class[1], per_class.new_zeros(())]))


@pytest.mark.parametrize("key", REGION_KEYS)
def test_skip_policy_all_empty_gives_zero_without_nan(key):
    x = torch.randn(2, 1, 4, 4, requires_grad=True)
    y = torch.zeros(2, 1, 4, 4)
    loss = get_loss(key, sigmoid=True, empty="skip")(x, y)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x.grad))


@pytest.mark.parametrize("key", REGION_KEYS)
def test_skip_policy_generalises(key):
    """For every region loss: skip == the mean of the non-empty units of the "none" output under "smooth"."""
    x, y = _empty_sample_batch()
    kw = {"softmax": True, "to_onehot_y": True}
    if key == "generalized_dice":  # the unit is the sample: make sample 1 empty in every kept class
        y[1] = 0
        kw["include_background"] = False
    none = get_loss(key, reduction="none", **kw)(x, y)
    present = torch.ones_like(none, dtype=torch.bool)
    if key == "generalized_dice":
        present[1] = False
    else:
        present[1, 2] = False
    torch.testing.assert_close(get_loss(key, empty="skip", **kw)(x, y), none[present].mean())


# ---------------------------------------------------------------------------------------------- zero smoothing

UNSMOOTHED_KEYS = REGION_KEYS + ["exp_log", "combo", "unified_focal"]


@pytest.mark.parametrize("key", UNSMOOTHED_KEYS)
@pytest.mark.parametrize("smooth_nr", [0.0, 1e-5])
def test_zero_smoothing_scores_an_empty_unit_unsmoothed(key, smooth_nr):
    """``smooth_dr=0`` under ``empty="smooth"``: the empty sample of the blob batch (a false-positive blob) scores the
    loss of a score of 0, an all-zero prediction of an empty target the loss of a perfect score; finite values and
    gradients even for a predicted mass of 1e-30, where ``s_nr / Σp`` would overflow."""
    x, y, _ = _blob_batch()
    kw = dict(sigmoid=True, smooth_nr=smooth_nr, smooth_dr=0.0, empty="smooth")  # mcc's default is "fp"
    xi = x.clone().requires_grad_(True)
    loss = get_loss(key, reduction="none", **kw)(xi, y)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(xi.grad).all()
    if key in FLAT_WHEN_SMOOTH and key != "generalized_dice":
        one = {"focal_tversky": 1.0, "log_cosh_dice": float(torch.log(torch.cosh(torch.tensor(1.0))))}.get(key, 1.0)
        assert float(loss[1, 0].detach()) == pytest.approx(one)  # anything predicted: the loss of a score of 0
        assert torch.equal(xi.grad[1], torch.zeros_like(xi.grad[1]))  # constant in p: no gradient
    probs = torch.sigmoid(x)
    probs[1] = 0.0  # nothing predicted on the empty sample (probabilities, no activation)
    tiny = probs.clone()
    tiny[1, 0, 0, 0] = 1e-30
    for p, expected in ((probs, 0.0), (tiny, 1.0)):
        p = p.requires_grad_(True)
        out = get_loss(key, reduction="none", smooth_nr=smooth_nr, smooth_dr=0.0, empty="smooth")(p, y)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(p.grad).all(), (key, out, p.grad)
        if key in ("dice", "jaccard", "tversky"):
            assert float(out[1, 0].detach()) == pytest.approx(expected)


@pytest.mark.parametrize("monai_cls,key,extra", [(DiceLoss, "dice", {}), (TverskyLoss, "tversky",
                                                  {"alpha": 0.5, "beta": 0.5})])
def test_zero_smoothing_equals_monai_where_monai_is_finite(monai_cls, key, extra):
    """MONAI computes 0 / FP for an empty unit: a loss of 1 when FP > 0 (ours too), NaN when FP = 0 (ours 0)."""
    x, y, _ = _blob_batch()
    kw = dict(sigmoid=True, smooth_nr=0.0, smooth_dr=0.0, reduction="none", **extra)
    torch.testing.assert_close(get_loss(key, **kw)(x, y).flatten(), monai_cls(**kw)(x, y).flatten())
    probs = torch.sigmoid(x)
    probs[1] = 0.0
    kw.pop("sigmoid")
    theirs = monai_cls(**kw)(probs, y).flatten()
    ours = get_loss(key, **kw)(probs, y).flatten()
    assert torch.isnan(theirs[1]) and float(ours[1]) == 0.0
    torch.testing.assert_close(ours[0], theirs[0])
