"""Parity with MONAI 1.6.1 (to 1e-5 relative) on every shared option combination of ``DiceLoss``,
``GeneralizedDiceLoss`` and ``TverskyLoss`` (``soft_label`` and zero smoothing included), in 2D and 3D with
C = 1, 2, 4; values and input gradients. MONAI's own test cases are run in ``test_monai_cases.py``.

The grid (activation x target format x include_background x C x dims) is parametrised; the options of each loss
(squared_pred, jaccard, batch, weight, smoothing, reduction, w_type, alpha/beta) are looped over inside each test.
Combinations MONAI ignores with a warning (softmax, to_onehot_y or include_background=False with C = 1; a class
weight with a single scored class) are left out — our losses raise an error for the first and last-but-one, and
apply the weight in the last. Our ``"none"`` shape is ``(B, K)`` (``(B,)`` for the generalised Dice), MONAI's is
broadcastable to the input: they are compared flattened.

Where MONAI is wrong (``ignore_index`` equal to a real class is kept in the mean), a test shows both values.
"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from monai.losses import DiceLoss, GeneralizedDiceLoss, TverskyLoss

from monai_segloss import JaccardLoss, SegDiceLoss, SegGeneralizedDiceLoss, SegTverskyLoss

SHAPES = {2: (5, 6), 3: (4, 3, 5)}
B = 2


def _other_act(t: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(2 * t)


ACTS = {"sigmoid": {"sigmoid": True}, "softmax": {"softmax": True}, "other": {"other_act": _other_act}, "none": {}}


def _grid():
    out = []
    for dim, c, act, tgt, inc in itertools.product((2, 3), (1, 2, 4), ACTS, ("label", "onehot", "soft"),
                                                   (True, False)):
        if c == 1 and (act == "softmax" or tgt == "label" or not inc):
            continue  # MONAI ignores these with a warning; ours raises for softmax / include_background=False
        out.append(pytest.param(dim, c, act, tgt, inc, id=f"{dim}d-C{c}-{act}-{tgt}-{'bg' if inc else 'nobg'}"))
    return out


def _data(dim: int, c: int, act: str, tgt: str, seed: int = 0):
    """``(input float64, target, common kwargs)``."""
    gen = torch.Generator().manual_seed(seed + 7 * c + dim)
    shape = (B, c, *SHAPES[dim])
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    if act == "none":
        x = torch.softmax(x, 1) if c > 1 else torch.sigmoid(x)
    labels = torch.randint(0, max(c, 2), (B, 1, *SHAPES[dim]), generator=gen)
    kw = dict(ACTS[act])
    if tgt == "label":
        y = labels
        kw["to_onehot_y"] = True
    elif tgt == "onehot":
        y = labels.double() if c == 1 else torch.nn.functional.one_hot(labels[:, 0], c).movedim(-1, 1).double()
    else:
        y = torch.rand(shape, generator=gen, dtype=torch.float64)
    return x, y, kw


def _compare(ours_cls, monai_cls, kw: dict, x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    xo = x.clone().requires_grad_(True)
    xm = x.clone().requires_grad_(True)
    ours = ours_cls(**kw)(xo, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a combination MONAI only warns about must not be compared
        theirs = monai_cls(**kw)(xm, y)
    torch.testing.assert_close(ours.flatten(), theirs.flatten().to(ours.dtype), rtol=1e-5, atol=1e-10,
                               msg=lambda m: f"{what}: {kw}\n{m}")
    if kw.get("reduction", "mean") == "none":
        return  # the gradients are compared through the "mean" and "sum" variants
    ours.sum().backward()
    theirs.sum().backward()
    # relative to the gradient's scale: single entries near 0 come out of a cancellation (MONAI's Sudre weights are
    # float32 whatever the input dtype)
    scale = float(xm.grad.abs().max())
    torch.testing.assert_close(xo.grad, xm.grad, rtol=1e-5, atol=1e-5 * scale + 1e-12,
                               msg=lambda m: f"{what} gradient: {kw}\n{m}")


def _subset(variants: list[dict], dim: int, c: int, act: str, tgt: str, inc: bool) -> list[dict]:
    """Every variant in 2D; in 3D (same code path, to save time) the base options and half of the others, the half
    alternating over the grid so that each variant still meets every activation, target format and C."""
    if dim == 2:
        return variants
    parity = (c + list(ACTS).index(act) + ("label", "onehot", "soft").index(tgt) + int(inc)) % 2
    return [variants[0]] + variants[1 + parity::2]


def _kept(c: int, inc: bool) -> int:
    return c if inc or c == 1 else c - 1


@pytest.mark.parametrize("dim,c,act,tgt,inc", _grid())
def test_dice_parity(dim, c, act, tgt, inc):
    x, y, base = _data(dim, c, act, tgt)
    base["include_background"] = inc
    k = _kept(c, inc)
    w = [0.5 + 0.5 * i for i in range(k)]
    variants = [{}, {"squared_pred": True}, {"jaccard": True}, {"squared_pred": True, "jaccard": True},
                {"batch": True}, {"batch": True, "reduction": "none"}, {"reduction": "sum"}, {"reduction": "none"},
                {"smooth_nr": 0.0, "smooth_dr": 1e-6}, {"smooth_nr": 1.0, "smooth_dr": 1.0},
                {"smooth_nr": 1e-3, "smooth_dr": 1e-2, "batch": True, "squared_pred": True, "reduction": "sum"},
                {"soft_label": True}, {"soft_label": True, "jaccard": True, "smooth_nr": 0.0, "smooth_dr": 0.0}]
    if k > 1:  # MONAI ignores the weight of a single scored class
        variants += [{"weight": w}, {"weight": w, "reduction": "none"}, {"weight": w, "batch": True},
                     {"weight": w, "jaccard": True, "reduction": "sum"}]
    for v in _subset(variants, dim, c, act, tgt, inc):
        _compare(SegDiceLoss, DiceLoss, {**base, **v}, x, y, "DiceLoss")


@pytest.mark.parametrize("dim,c,act,tgt,inc", _grid())
def test_jaccard_class_is_monai_dice_jaccard(dim, c, act, tgt, inc):
    x, y, base = _data(dim, c, act, tgt, seed=1)
    base["include_background"] = inc
    for v in [{}, {"squared_pred": True, "batch": True}, {"reduction": "none"}]:
        kw = {**base, **v}
        ours = JaccardLoss(**kw)(x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            theirs = DiceLoss(jaccard=True, **kw)(x, y)
        torch.testing.assert_close(ours.flatten(), theirs.flatten(), rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("dim,c,act,tgt,inc", _grid())
def test_generalized_dice_parity(dim, c, act, tgt, inc):
    x, y, base = _data(dim, c, act, tgt, seed=2)
    base["include_background"] = inc
    variants = [{"w_type": w, "batch": b, "reduction": r}
                for w, b, r in itertools.product(("square", "simple", "uniform"), (False, True), ("mean", "none"))]
    variants += [{"reduction": "sum"}, {"smooth_nr": 0.1, "smooth_dr": 0.5}, {"soft_label": True, "batch": True}]
    for v in _subset(variants, dim, c, act, tgt, inc):
        _compare(SegGeneralizedDiceLoss, GeneralizedDiceLoss, {**base, **v}, x, y, "GeneralizedDiceLoss")


@pytest.mark.parametrize("dim,c,act,tgt,inc", _grid())
def test_tversky_parity(dim, c, act, tgt, inc):
    x, y, base = _data(dim, c, act, tgt, seed=3)
    base["include_background"] = inc
    variants = [{"alpha": a, "beta": b, "batch": bt, "reduction": r}
                for (a, b), bt, r in itertools.product(((0.5, 0.5), (0.3, 0.7), (0.8, 0.2), (0.0, 1.0)),
                                                        (False, True), ("mean", "none"))]
    variants += [{"alpha": 0.3, "beta": 0.7, "reduction": "sum", "smooth_nr": 0.0, "smooth_dr": 1e-3},
                 {"alpha": 0.3, "beta": 0.7, "soft_label": True}]
    for v in _subset(variants, dim, c, act, tgt, inc):
        _compare(SegTverskyLoss, TverskyLoss, {**base, **v}, x, y, "TverskyLoss")


def test_tversky_defaults_differ_from_monai_on_purpose():
    """Ours defaults to α = 0.3, β = 0.7 (recall favoured, Salehi 2017); MONAI's to α = β = 0.5."""
    x, y, kw = _data(2, 3, "softmax", "label")
    torch.testing.assert_close(SegTverskyLoss(**kw)(x, y), TverskyLoss(alpha=0.3, beta=0.7, **kw)(x, y))
    assert not torch.allclose(SegTverskyLoss(**kw)(x, y), TverskyLoss(**kw)(x, y))


@pytest.mark.parametrize("dim", (2, 3))
@pytest.mark.parametrize("inc", (True, False))
def test_sentinel_ignore_index_parity(dim, inc):
    """``ignore_index`` outside [0, C) (padding): MONAI and ours both drop those voxels everywhere."""
    x, y, kw = _data(dim, 4, "softmax", "label", seed=4)
    y = y.clone()
    y[0, 0, :2] = 255
    y[1, 0, -1] = 255
    kw = {**kw, "include_background": inc, "ignore_index": 255}
    for v in [{}, {"batch": True}, {"reduction": "none"}]:
        _compare(SegDiceLoss, DiceLoss, {**kw, **v}, x, y, "DiceLoss ignore_index")
        _compare(SegTverskyLoss, TverskyLoss, {**kw, **v, "alpha": 0.4, "beta": 0.6}, x, y,
                 "TverskyLoss ignore_index")


def test_ignore_index_real_class_monai_keeps_it_in_the_mean():
    """``ignore_index`` equal to a real class id (here class 2 of C = 3, e.g. "unlabelled").

    MONAI masks the voxels of class 2 out of every channel, but still scores channel 2: its target is now empty
    while the (masked) prediction is not, so its Dice is ~0 and its loss ~1 — a constant that is averaged into the
    mean, shrinking the loss of the real classes by a factor 2/3 and adding a useless term. Ours leaves the class
    out of the mean (it has no valid voxel left to score): our value is the mean of MONAI's per-class losses over
    the other classes only.
    """
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 6, 6, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 1, 6, 6), generator=gen)
    kw = {"softmax": True, "to_onehot_y": True, "ignore_index": 2}
    ours = SegDiceLoss(**kw)(x, y)
    theirs = DiceLoss(**kw)(x, y)
    theirs_none = DiceLoss(reduction="none", **kw)(x, y).flatten(1)  # (B, 3)
    # MONAI scores the ignored class as (nearly) a full loss of 1 in every sample ...
    assert torch.all(theirs_none[:, 2] > 0.999), theirs_none
    torch.testing.assert_close(theirs, theirs_none.mean())
    # ... which ours leaves out: our mean is MONAI's over classes 0 and 1 only,
    torch.testing.assert_close(ours, theirs_none[:, :2].mean(), rtol=1e-5, atol=1e-10)
    # and the two disagree by that constant term.
    torch.testing.assert_close(theirs, (2 * ours + theirs_none[:, 2].mean()) / 3, rtol=1e-5, atol=1e-10)
    assert abs(float(theirs - ours)) > 0.05
    # ours does not depend on what is predicted for the ignored class on the ignored voxels
    x2 = x.clone()
    x2[:, 2] += 5.0 * (y[:, 0] == 2)
    torch.testing.assert_close(SegDiceLoss(**kw)(x2, y).detach(), ours)
    assert SegDiceLoss(reduction="none", **kw)(x, y).shape == (2, 2)


def test_weight_with_one_scored_class_monai_ignores_it():
    """MONAI ignores ``weight`` when a single class is scored; ours applies it (the weight is the user's)."""
    x, y, kw = _data(2, 1, "sigmoid", "onehot")
    ours = SegDiceLoss(weight=[3.0], **kw)(x, y)
    theirs = DiceLoss(weight=[3.0], **kw)(x, y)
    torch.testing.assert_close(theirs, DiceLoss(**kw)(x, y))
    torch.testing.assert_close(ours, 3 * theirs, rtol=1e-5, atol=1e-10)


def test_weight_by_channel_id_equals_monai_kept_weight():
    """A weight of length C (by channel id) with include_background=False equals MONAI's length C-1 weight."""
    x, y, kw = _data(3, 4, "softmax", "label")
    ours = SegDiceLoss(include_background=False, weight=[9.0, 1.0, 2.0, 3.0], **kw)(x, y)
    theirs = DiceLoss(include_background=False, weight=[1.0, 2.0, 3.0], **kw)(x, y)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-10)


def test_float32_parity():
    """The float32 path (label map, no one-hot) agrees with MONAI too."""
    x, y, kw = _data(3, 4, "softmax", "label", seed=9)
    x = x.float()
    for v in [{}, {"batch": True}, {"squared_pred": True}]:
        torch.testing.assert_close(SegDiceLoss(**kw, **v)(x, y), DiceLoss(**kw, **v)(x, y), rtol=1e-5, atol=1e-7)


def test_metatensor_input_and_target():
    """MONAI pipelines hand over ``MetaTensor``s: same values and gradients as plain tensors, plain output."""
    from monai.data import MetaTensor

    x, y, kw = _data(3, 3, "softmax", "label", seed=11)
    xm = MetaTensor(x.clone(), meta={"filename_or_obj": "case0"}).requires_grad_(True)
    xp = x.clone().requires_grad_(True)
    out_meta = SegDiceLoss(**kw)(xm, MetaTensor(y))
    out_plain = SegDiceLoss(**kw)(xp, y)
    assert type(out_meta) is torch.Tensor
    torch.testing.assert_close(out_meta, out_plain)
    out_meta.backward()
    out_plain.backward()
    torch.testing.assert_close(xm.grad.as_subclass(torch.Tensor), xp.grad)
    torch.testing.assert_close(out_plain, DiceLoss(**kw)(x, y), rtol=1e-5, atol=1e-10)
