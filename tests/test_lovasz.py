"""Lovász losses (``lovasz``): the Jaccard loss on hard predictions, a reference written from Berman et al.'s
Algorithm 1 (per unit: sort, Jaccard increments, dot product) for the hinge and softmax forms over the batch and per
image, ignored voxels, the extension's properties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_segloss import LovaszLoss, get_loss
from monai_segloss.functional import jaccard_loss, lovasz_loss
from monai_segloss.functional.lovasz import lovasz_extension

LABEL = {"softmax": True, "to_onehot_y": True}


def _extension(errors: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
    """Berman's Alg. 1 on one flat unit, written plainly: sort, Jaccard loss of each prefix, increments, dot."""
    order = torch.argsort(errors, descending=True)
    e, g = errors[order], fg[order]
    total = g.sum()
    jac = torch.stack([1 - (total - g[:i + 1].sum()) / (total + (1 - g[:i + 1]).sum()) for i in range(len(g))])
    return torch.dot(e, torch.cat([jac[:1], jac[1:] - jac[:-1]]))


def _reference_softmax(p, y, per_image, classes="present", ignore=None):
    """Lovász-softmax over the batch or per image (Berman's per-image mean of the means over present classes)."""
    def flat(pi, yi):
        keep = (yi != ignore) if ignore is not None else torch.ones_like(yi, dtype=torch.bool)
        losses = []
        for c in range(pi.shape[0]):
            fg = (yi[keep] == c).double()
            if classes == "present" and fg.sum() == 0:
                continue
            losses.append(_extension((fg - pi[c][keep]).abs(), fg))
        return torch.stack(losses).mean()

    if per_image:
        return torch.stack([flat(p[i], y[i, 0]) for i in range(p.shape[0])]).mean()
    return flat(p.transpose(0, 1).reshape(p.shape[1], -1), y.transpose(0, 1).reshape(-1))


def _data(seed=0, b=3, c=3, spatial=(5, 6)):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (b, 1, *spatial), generator=g)
    y[1] = y[1].clamp(max=c - 2)  # sample 1 lacks the last class
    return 2 * torch.randn(b, c, *spatial, generator=g, dtype=torch.float64), y


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_softmax_equals_the_reference(per_image, classes):
    x, y = _data()
    ours = lovasz_loss(x, y, per_image=per_image, classes=classes, **LABEL)
    ref = _reference_softmax(torch.softmax(x, 1), y, per_image, classes)
    torch.testing.assert_close(ours, ref)


def test_ignored_voxels_are_left_out():
    x, y = _data(seed=1)
    y[:, :, :2] = 255
    for per_image in (False, True):
        ours = lovasz_loss(x, y, ignore_index=255, per_image=per_image, **LABEL)
        torch.testing.assert_close(ours, _reference_softmax(torch.softmax(x, 1), y, per_image, ignore=255))
        cropped = lovasz_loss(x[..., 2:, :], y[..., 2:, :], per_image=per_image, **LABEL)
        torch.testing.assert_close(ours, cropped)


@pytest.mark.parametrize("per_image", [False, True])
def test_hinge_equals_the_reference(per_image):
    g = torch.Generator().manual_seed(2)
    x = 2 * torch.randn(3, 1, 6, 7, generator=g, dtype=torch.float64)
    y = (torch.rand(3, 1, 6, 7, generator=g) < 0.3).double()

    def flat(xi, yi):
        return _extension(torch.relu(1 - xi.flatten() * (2 * yi.flatten() - 1)), yi.flatten())

    ref = torch.stack([flat(x[i], y[i]) for i in range(3)]).mean() if per_image else flat(x, y)
    torch.testing.assert_close(lovasz_loss(x, y, sigmoid=True, per_image=per_image), ref)


def test_hinge_scores_each_channel():
    g = torch.Generator().manual_seed(3)
    x = 2 * torch.randn(2, 3, 5, 5, generator=g)
    y = (torch.rand(2, 3, 5, 5, generator=g) < 0.4).float()
    per_channel = lovasz_loss(x, y, sigmoid=True, reduction="none")
    for c in range(3):
        torch.testing.assert_close(per_channel[c], lovasz_loss(x[:, c:c + 1], y[:, c:c + 1], sigmoid=True))


@pytest.mark.parametrize("per_image", [False, True])
def test_hard_predictions_give_the_jaccard_loss(per_image):
    """At an indicator vector of mistakes the Lovász extension is the Jaccard loss of that set (Berman et al.)."""
    x, y = _data(seed=4)
    hard = F.one_hot(x.argmax(1), 3).movedim(-1, 1).double()  # 0/1 probabilities
    jac = {"smooth_nr": 0.0, "smooth_dr": 0.0, "empty": "skip", "to_onehot_y": True}
    ours = lovasz_loss(hard, y, to_onehot_y=True, per_image=per_image, reduction="none")
    iou = jaccard_loss(hard, y, batch=not per_image, reduction="none", **jac)  # 0 for absent classes, like ours
    torch.testing.assert_close(ours, iou)
    if not per_image:
        torch.testing.assert_close(lovasz_loss(hard, y, to_onehot_y=True), jaccard_loss(hard, y, batch=True, **jac))
    # the hinge at logits ±1 has errors 0 or 2 at the same voxels: twice the Jaccard loss
    fg = (y == 1).double()
    logits = 2 * hard[:, 1:2] - 1
    torch.testing.assert_close(lovasz_loss(logits, fg, sigmoid=True, per_image=per_image, reduction="none"),
                               2 * jaccard_loss(hard[:, 1:2], fg, batch=not per_image, reduction="none",
                                                **{**jac, "to_onehot_y": False}))


def test_extension_is_positively_homogeneous_and_exact_at_zero():
    g = torch.Generator().manual_seed(5)
    e = torch.rand(4, 30, generator=g, dtype=torch.float64)
    fg = (torch.rand(4, 30, generator=g) < 0.3).double()
    torch.testing.assert_close(lovasz_extension(3 * e, fg), 3 * lovasz_extension(e, fg))
    assert torch.equal(lovasz_extension(torch.zeros_like(e), fg), torch.zeros(4, dtype=torch.float64))


def test_per_image_mean_is_bermans_two_stage_mean():
    x, y = _data(seed=6)
    none = lovasz_loss(x, y, per_image=True, reduction="none", **LABEL)  # (B, C), 0 for absent classes
    present = torch.stack([(y == c).flatten(1).any(1) for c in range(3)], 1)
    per_sample = none.sum(1) / present.sum(1)
    torch.testing.assert_close(lovasz_loss(x, y, per_image=True, **LABEL), per_sample.mean())
    torch.testing.assert_close(lovasz_loss(x, y, per_image=True, reduction="sum", **LABEL), none.sum())


def test_gradient_and_options():
    x, y = _data(seed=7)
    x = x.float().requires_grad_(True)
    get_loss("lovasz", **LABEL)(x, y).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="classes"):
        LovaszLoss(classes="some")
    with pytest.raises(TypeError, match="per_image"):
        LovaszLoss(per_image=1)


# ---- the units, a few at a time: the same values and gradients as the extension through autograd

def _autograd_units(x, y, per_image, hinge, ignore=None, keep=None):
    """The Lovász units as :func:`lovasz_extension` through autograd computes them (one sort of every unit at once),
    and the input's gradient of their weighted sum."""
    x = x.detach().clone().requires_grad_()
    c = x.shape[1]
    valid = None if ignore is None else (y[:, 0] != ignore)
    labels = y[:, 0].masked_fill(~valid, 0) if valid is not None else y[:, 0]
    g = F.one_hot(labels, c).movedim(-1, 1).to(x.dtype)
    if valid is not None:
        g = g * valid.unsqueeze(1)
    keep = list(range(c)) if keep is None else keep
    g = g[:, keep]
    errors = torch.relu(1 - x[:, keep] * (2 * g - 1)) if hinge else (g - torch.softmax(x, 1)[:, keep]).abs()
    b, k = g.shape[:2]
    v = None if valid is None else valid.unsqueeze(1).expand(b, k, *valid.shape[1:])

    def rows(t):
        return t.flatten(2).reshape(b * k, -1) if per_image else t.transpose(0, 1).reshape(k, -1)

    units = lovasz_extension(rows(errors), rows(g), None if v is None else rows(v))
    w = torch.linspace(0.5, 1.5, units.numel(), dtype=x.dtype)
    (units * w).sum().backward()
    return units.detach(), x.grad


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("hinge", [False, True])
@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("ignore", [None, 255])
def test_units_equal_the_extension_through_autograd(per_image, hinge, threads, ignore):
    """The loss's units (sorted a few at a time, as many as torch has threads) equal the extension of every unit
    through autograd, values and gradients, also with tied errors (quantised logits: the gradient of a tied error
    depends on the sort's order of ties, so equal gradients mean the same order) and ignored voxels."""
    from monai_segloss.functional.lovasz import _LovaszUnits

    g = torch.Generator().manual_seed(8)
    x = (4 * torch.randn(3, 4, 6, 7, generator=g)).round() / 4  # many ties
    y = torch.randint(0, 4, (3, 1, 6, 7), generator=g)
    if ignore is not None:
        y[:, :, :2] = ignore
    keep = [0, 1, 3]  # channel 2 not scored
    ref_units, ref_grad = _autograd_units(x, y, per_image, hinge, ignore, keep)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        xa = x.clone().requires_grad_()
        valid = None if ignore is None else (y[:, 0] != ignore).flatten(1)
        labels = y[:, 0].masked_fill(y[:, 0] == ignore, 0) if ignore is not None else y[:, 0]
        scores = xa if hinge else torch.softmax(xa, 1)
        units, _ = _LovaszUnits.apply(scores.flatten(2), labels.flatten(1), None, valid, torch.tensor(keep),
                                      per_image, hinge)
        w = torch.linspace(0.5, 1.5, units.numel())
        (units * w).sum().backward()
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(units, ref_units, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(xa.grad, ref_grad, rtol=1e-6, atol=1e-9)
    if hinge:  # a channel not scored gets no gradient (under softmax it gets one through the other channels)
        assert xa.grad[:, 2].abs().max() == 0


@pytest.mark.parametrize("per_image", [False, True])
def test_soft_target_and_retained_graph(per_image):
    """A soft target goes through the same units; a retained graph's second backward gives the same gradient."""
    g = torch.Generator().manual_seed(9)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64).requires_grad_()
    soft = torch.softmax(torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64), 1)
    loss = lovasz_loss(x, soft, softmax=True, per_image=per_image)
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)
    assert torch.equal(g1, g2)
    p = torch.softmax(x.detach(), 1)
    b, k = soft.shape[:2]

    def rows(t):
        return t.flatten(2).reshape(b * k, -1) if per_image else t.transpose(0, 1).reshape(k, -1)

    units = lovasz_extension(rows((soft - p).abs()), rows(soft))
    expected = units.view(b, k).mean(1).mean() if per_image else units.mean()
    torch.testing.assert_close(loss.detach(), expected)
