"""Cross-entropy family and focal loss: parity with torch and MONAI, the Lin et al. formula, MONAI's known wrong
cases shown next to ours, numerical robustness."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from monai.losses import DiceFocalLoss, DiceLoss, FocalLoss

import monai_segloss as M
from monai_segloss import functional as MF

D64 = torch.float64


def _logits(*shape, seed=0, dtype=D64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype) * 2


def _labels(b, c, *spatial, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, c, (b, *spatial), generator=g)


def _close(a, b, tol=1e-6):
    a, b = torch.as_tensor(a, dtype=D64), torch.as_tensor(b, dtype=D64)
    assert torch.allclose(a, b, rtol=tol, atol=tol), (a, b)


# ---------------------------------------------------------------- torch parity

@pytest.mark.parametrize("ignore", [None, 255, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_equals_torch(ignore, weighted, smoothing):
    x = _logits(2, 4, 5, 3)
    y = _labels(2, 4, 5, 3)
    if ignore is not None:
        y[0, :2] = ignore
    w = [0.5, 1.0, 2.0, 0.25] if weighted else None
    kw = {"weight": torch.tensor(w, dtype=D64) if weighted else None, "label_smoothing": smoothing}
    if ignore is not None:
        kw["ignore_index"] = ignore
    ours_kw = {"softmax": True, "to_onehot_y": True, "weight": w, "ignore_index": ignore, "label_smoothing": smoothing}
    for red in ("mean", "sum"):
        _close(MF.cross_entropy_loss(x, y.unsqueeze(1), reduction=red, **ours_kw), F.cross_entropy(x, y, reduction=red,
                                                                                                   **kw))
    none = M.SegCrossEntropyLoss(reduction="none", **ours_kw)(x, y.unsqueeze(1))
    if ignore != 2 or smoothing == 0:  # "none" reports the kept channels only (see the class docs)
        _close(none.sum(1), F.cross_entropy(x, y, reduction="none", **kw))
    # focal with gamma=0 is the same loss (without label smoothing)
    if smoothing == 0:
        focal = MF.focal_loss(x, y.unsqueeze(1), softmax=True, to_onehot_y=True, gamma=0.0, weight=w,
                              ignore_index=ignore)
        _close(focal, F.cross_entropy(x, y, **kw))


def test_cross_entropy_soft_target_equals_torch():
    x = _logits(2, 3, 4, 4)
    p = torch.softmax(_logits(2, 3, 4, 4, seed=5), 1)
    w = [0.3, 1.0, 2.5]
    _close(MF.cross_entropy_loss(x, p, softmax=True, weight=w, label_smoothing=0.1),
           F.cross_entropy(x, p, weight=torch.tensor(w, dtype=D64), label_smoothing=0.1))
    onehot = F.one_hot(_labels(2, 3, 4, 4), 3).movedim(-1, 1).to(D64)
    _close(MF.cross_entropy_loss(x, onehot, softmax=True), F.cross_entropy(x, onehot))


@pytest.mark.parametrize("pos_weight", [None, 3.0, [1.0, 2.0, 0.5]])
def test_bce_equals_bce_with_logits(pos_weight):
    x = _logits(2, 3, 4, 5)
    t = (_logits(2, 3, 4, 5, seed=3) > 0).to(D64)
    w = [0.2, 1.0, 4.0]
    pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=D64).reshape(-1, 1, 1)
    ref = F.binary_cross_entropy_with_logits(x, t, weight=torch.tensor(w, dtype=D64).view(3, 1, 1), pos_weight=pw)
    _close(MF.bce_loss(x, t, sigmoid=True, weight=w, pos_weight=pos_weight), ref)
    # ignored voxels: torch on the valid voxels only
    t_ign = t.clone()
    t_ign[1, :, 0] = -1
    valid = torch.ones(2, 4, 5, dtype=torch.bool)
    valid[1, 0] = False
    ours = MF.bce_loss(x, t_ign, sigmoid=True, ignore_index=-1, reduction="sum")
    ref = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none")
    _close(ours, (ref * valid.unsqueeze(1)).sum() if pos_weight is None else ours)  # pos_weight path checked above
    ref_mean = F.binary_cross_entropy_with_logits(x.movedim(1, -1)[valid], t.movedim(1, -1)[valid])
    _close(MF.bce_loss(x, t_ign, sigmoid=True, ignore_index=-1), ref_mean)


def test_bce_softmax_is_per_channel_binary_on_softmax_probabilities():
    x = _logits(2, 3, 5)
    t = F.one_hot(_labels(2, 3, 5), 3).movedim(-1, 1).to(D64)
    p = torch.softmax(x, 1)
    _close(MF.bce_loss(x, t, softmax=True), F.binary_cross_entropy(p, t), 1e-12)
    _close(MF.combo_loss(x, t, softmax=True, alpha=1.0, ce_beta=0.5), 0.5 * F.binary_cross_entropy(p, t), 1e-12)


def test_focal_gamma0_equals_bce_and_cross_entropy():
    x = _logits(2, 3, 6)
    t = (_logits(2, 3, 6, seed=2) > 0).to(D64)
    _close(MF.focal_loss(x, t, sigmoid=True, gamma=0.0), F.binary_cross_entropy_with_logits(x, t))
    y = _labels(2, 3, 6)
    _close(MF.focal_loss(x, y.unsqueeze(1), softmax=True, to_onehot_y=True, gamma=0.0), F.cross_entropy(x, y))


def test_balanced_ce_auto_beta_by_hand():
    # one sample, one channel, 4 voxels: 1 positive, 3 negatives -> beta = 3/4
    p = torch.tensor([[[0.8, 0.3, 0.1, 0.6]]], dtype=D64)
    g = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]], dtype=D64)
    beta = 0.75
    expected = -(beta * math.log(0.8) + (1 - beta) * (math.log(0.7) + math.log(0.9) + math.log(0.4))) / 4
    _close(MF.balanced_ce_loss(p, g), expected, 1e-12)
    fixed = -(0.3 * math.log(0.8) + 0.7 * (math.log(0.7) + math.log(0.9) + math.log(0.4))) / 4
    _close(MF.balanced_ce_loss(p, g, beta=0.3), fixed, 1e-12)



def test_balanced_ce_auto_beta_keeps_false_positives_on_empty_targets_penalised():
    """A (sample, channel) without target voxel: Xie & Tu's β = 1 would weigh every negative 0, so a false positive
    on a lesion-free case would cost nothing. ``"auto"`` counts |Y+| as at least 1: 1 - β = 1/|Y|, the weight of the
    negatives of a unit with a single target voxel."""
    p = torch.tensor([[[0.8, 0.3, 0.1, 0.6]], [[0.9, 0.2, 0.1, 0.1]]], dtype=D64)  # sample 1: no target voxel
    g = torch.tensor([[[1.0, 0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]], dtype=D64)
    p = p.requires_grad_(True)
    loss = MF.balanced_ce_loss(p, g, reduction="none")
    neg = -torch.log1p(-p.detach())
    torch.testing.assert_close(loss[1], 0.25 * neg[1])  # 1 - β = 1/4 on each negative voxel
    torch.testing.assert_close(loss[0, 0, 1:], 0.25 * neg[0, 0, 1:])  # = the sample with one target voxel
    loss.sum().backward()
    assert float(p.grad[1, 0, 0]) > 0  # the false positive (0.9 on an empty target) is pushed down
    soft = torch.tensor([[[0.3, 0.0, 0.0, 0.0]]], dtype=D64)  # less than one voxel of target mass counts as one
    torch.testing.assert_close(MF.balanced_ce_loss(p[:1].detach(), soft, reduction="none")[0, 0, 1:],
                               0.25 * neg[0, 0, 1:])


@pytest.mark.parametrize("softmax", [False, True])
def test_balanced_ce_auto_beta_per_sample_and_channel(softmax):
    """beta is a (B, K) constant (the negative fraction of each sample's channel): B > 1 and a label map under
    softmax used to be broadcast as if it were (K,)."""
    b, c = 2, 3
    x = _logits(b, c, 5, 4)
    y = _labels(b, c, 5, 4)
    g = F.one_hot(y, c).movedim(-1, 1).to(D64)
    if softmax:
        lp, l1p = torch.log_softmax(x, 1), torch.log1p(-torch.softmax(x, 1))
        got = MF.balanced_ce_loss(x, y.unsqueeze(1), softmax=True, to_onehot_y=True)
    else:
        lp, l1p = F.logsigmoid(x), F.logsigmoid(-x)
        got = MF.balanced_ce_loss(x, g, sigmoid=True)
    beta = 1 - g.mean(dim=(2, 3), keepdim=True)
    expected = -(beta * g * lp + (1 - beta) * (1 - g) * l1p).mean()
    _close(got, expected, 1e-10)


# ---------------------------------------------------------------- focal: Lin et al. and MONAI

def _lin_sigmoid_focal(x, t, gamma, alpha):
    """Lin et al. 2017, eq. (5) with α_t: FL = -α_t (1 - p_t)^γ log(p_t), p_t = p if y = 1 else 1 - p."""
    p = torch.sigmoid(x)
    p_t = torch.where(t == 1, p, 1 - p)
    a_t = torch.ones_like(p) if alpha is None else torch.where(t == 1, torch.full_like(p, alpha),
                                                                 torch.full_like(p, 1 - alpha))
    return (-a_t * (1 - p_t) ** gamma * torch.log(p_t)).mean()


@pytest.mark.parametrize("gamma,alpha", [(2.0, None), (2.0, 0.25), (0.5, 0.75), (3.0, None)])
def test_sigmoid_focal_lin_formula_and_monai(gamma, alpha):
    x = _logits(2, 3, 4, 3)
    t = (_logits(2, 3, 4, 3, seed=7) > 0).to(D64)
    ours = MF.focal_loss(x, t, sigmoid=True, gamma=gamma, alpha=alpha)
    _close(ours, _lin_sigmoid_focal(x, t, gamma, alpha), 1e-10)
    monai = FocalLoss(gamma=gamma, alpha=alpha)(x.float(), t.float())
    _close(ours, monai, 1e-5)
    w = [0.5, 2.0, 1.0]
    _close(MF.focal_loss(x.float(), t.float(), sigmoid=True, gamma=gamma, alpha=alpha, weight=w),
           FocalLoss(gamma=gamma, alpha=alpha, weight=w)(x.float(), t.float()), 1e-5)


@pytest.mark.parametrize("kw", [{"gamma": 2.0}, {"gamma": 1.5, "alpha": 0.25},
                                {"gamma": 2.0, "alpha": [0.2, 0.3, 0.5]}])
def test_softmax_focal_is_monai_times_c(kw):
    x = _logits(2, 3, 5, 4, dtype=torch.float32)
    y = _labels(2, 3, 5, 4).unsqueeze(1)
    ours = MF.focal_loss(x, y, softmax=True, to_onehot_y=True, **kw)
    monai = FocalLoss(use_softmax=True, to_onehot_y=True, **kw)(x, y)
    _close(ours, 3 * monai, 1e-5)


def test_monai_softmax_focal_renormalises_after_dropping_background():
    x = _logits(2, 3, 5, 4)
    y = _labels(2, 3, 5, 4)
    ours = MF.focal_loss(x, y.unsqueeze(1), softmax=True, to_onehot_y=True, include_background=False, gamma=2.0)
    # ours: softmax over ALL channels, then the terms of the kept classes (1, 2), mean over voxels
    p = torch.softmax(x, 1)
    g = F.one_hot(y, 3).movedim(-1, 1).to(D64)
    by_hand = (-(1 - p) ** 2 * torch.log(p) * g)[:, 1:].sum(1).mean()
    _close(ours, by_hand, 1e-10)
    # MONAI drops channel 0 first and renormalises the softmax over channels 1, 2
    monai_loss = FocalLoss(use_softmax=True, to_onehot_y=True, include_background=False, gamma=2.0)
    monai = monai_loss(x.float(), y.unsqueeze(1))
    p_renorm = torch.softmax(x[:, 1:], 1)
    monai_by_hand = (-(1 - p_renorm) ** 2 * torch.log(p_renorm) * g[:, 1:]).mean()
    _close(monai, monai_by_hand, 1e-5)
    assert abs(float(monai) * 2 - float(ours)) > 1e-2  # not merely a scale factor: a different quantity


def test_monai_sigmoid_focal_mean_times_c_with_ignore_index():
    x = _logits(2, 3, 6, 5, dtype=torch.float32)
    y = _labels(2, 3, 6, 5)
    y[:, :2] = 255  # ignored voxels
    ours = MF.focal_loss(x, y.unsqueeze(1), sigmoid=True, to_onehot_y=True, ignore_index=255)
    valid = y != 255
    onehot = F.one_hot(y.clamp_max(2), 3).movedim(-1, 1).double()
    lin = _lin_sigmoid_focal(x.movedim(1, -1)[valid].double(), onehot.movedim(1, -1)[valid], 2.0, None)
    _close(ours, lin, 1e-5)  # mean over valid voxels and channels
    monai = FocalLoss(to_onehot_y=True, ignore_index=255)(x, y.unsqueeze(1))
    _close(monai, 3 * ours, 1e-5)  # MONAI divides by the number of valid voxels only: C times too large
    # without ignored voxels MONAI agrees with us: its ignore_index mean is inconsistent with its own mean
    x2, y2 = x[:, :, 2:], y[:, 2:].unsqueeze(1)
    _close(FocalLoss(to_onehot_y=True)(x2, y2), MF.focal_loss(x2, y2, sigmoid=True, to_onehot_y=True), 1e-5)


def test_monai_dice_focal_ignores_softmax():
    x = _logits(2, 3, 5, 4, dtype=torch.float32)
    y = _labels(2, 3, 5, 4).unsqueeze(1)
    monai = DiceFocalLoss(softmax=True, to_onehot_y=True)(x, y)
    dice = DiceLoss(softmax=True, to_onehot_y=True)(x, y)
    onehot = F.one_hot(y[:, 0], 3).movedim(-1, 1).float()
    _close(monai, dice + FocalLoss()(x, onehot), 1e-5)  # its focal term is the sigmoid focal loss
    ours = M.get_loss("dice_focal", softmax=True, to_onehot_y=True)
    value = ours(x, y)
    _close(value, dice + 3 * FocalLoss(use_softmax=True, to_onehot_y=True)(x, y), 1e-5)
    _close(ours.last_terms["focal"], MF.focal_loss(x, y, softmax=True, to_onehot_y=True), 1e-6)
    assert abs(float(value) - float(monai)) > 1e-2


def test_focal_alpha_per_class_binary_is_lin_per_channel():
    x = _logits(2, 2, 7)
    t = (_logits(2, 2, 7, seed=9) > 0).to(D64)
    a = [0.25, 0.8]
    ours = MF.focal_loss(x, t, sigmoid=True, alpha=a, reduction="none")
    for c in range(2):
        p = torch.sigmoid(x[:, c])
        p_t = torch.where(t[:, c] == 1, p, 1 - p)
        a_t = torch.where(t[:, c] == 1, torch.tensor(a[c], dtype=D64), torch.tensor(1 - a[c], dtype=D64))
        _close(ours[:, c], -a_t * (1 - p_t) ** 2 * torch.log(p_t), 1e-10)


# ---------------------------------------------------------------- numerical robustness

@pytest.mark.parametrize("key,kw", [
    ("focal", {"sigmoid": True}), ("focal", {"softmax": True}), ("focal", {"softmax": True, "gamma": 0.5}),
    ("bce", {"sigmoid": True}), ("balanced_ce", {"sigmoid": True}), ("cross_entropy", {"softmax": True}),
    ("unified_focal", {"softmax": True}), ("unified_focal", {"sigmoid": True}), ("exp_log", {"softmax": True}),
    ("combo", {"sigmoid": True}), ("combo", {"softmax": True}), ("bce", {"softmax": True}),
])
def test_finite_at_logits_100(key, kw):
    x = torch.tensor([[100.0, -100.0, 100.0, -100.0], [-100.0, 100.0, -100.0, 100.0]]).view(1, 2, 4)
    y = torch.tensor([[0, 1, 1, 0]])
    target = F.one_hot(y, 2).movedim(-1, 1).float()
    x = x.clone().requires_grad_(True)
    loss = M.get_loss(key, **kw)(x, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # two voxels are confidently right, two confidently wrong: the loss is large but finite
    assert float(loss.detach()) > 1.0


def test_log1m_softmax_is_exact_at_saturation():
    from monai_segloss.core.options import InputOptions
    from monai_segloss.core.prepare import prepare_input
    from monai_segloss.functional.distribution import log_prob_pair

    x = torch.tensor([[[100.0], [-100.0], [0.0]]])
    prep = prepare_input(x, torch.zeros(1, 1, 1, dtype=torch.long), InputOptions(softmax=True, to_onehot_y=True))
    lp, l1p = log_prob_pair(prep)
    ref = torch.log1p(-torch.softmax(x.double(), 1))
    ref[0, 0] = torch.logsumexp(x[0, 1:].double(), 0) - torch.logsumexp(x[0].double(), 0)
    _close(l1p, ref, 1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("key,kw", [("focal", {"softmax": True, "to_onehot_y": True}),
                                    ("cross_entropy", {"softmax": True, "to_onehot_y": True})])
def test_autocast_finite_and_close(dtype, key, kw):
    x = _logits(2, 3, 8, 8, dtype=torch.float32) * 20
    y = _labels(2, 3, 8, 8).unsqueeze(1)
    loss = M.get_loss(key, **kw)
    ref = loss(x, y)
    with torch.autocast("cpu", dtype=dtype):
        low = loss(x.to(dtype), y)
    assert low.dtype == torch.float32 and torch.isfinite(low)
    _close(low, ref, 2e-2 * max(1.0, float(ref)))


# ---------------------------------------------------------------- options and errors

def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="gamma"):
        M.SegFocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        M.SegFocalLoss(alpha=1.5)
    with pytest.raises(ValueError, match="beta"):
        M.BalancedCELoss(beta=2.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        M.SegCrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="pos_weight"):
        M.SegBCELoss(pos_weight=-1.0)
    with pytest.raises(ValueError, match="use_softmax=True means softmax=True"):
        M.SegFocalLoss(use_softmax=True, sigmoid=True)
    x = _logits(1, 3, 4)
    y = _labels(1, 3, 4).unsqueeze(1)
    with pytest.raises(ValueError, match="alpha must have length"):
        M.SegFocalLoss(softmax=True, to_onehot_y=True, alpha=[0.1, 0.2])(x, y)
    with pytest.raises(ValueError, match="bce"):
        M.SegCrossEntropyLoss(sigmoid=True)(x, F.one_hot(y[:, 0], 3).movedim(-1, 1).to(D64))
    with pytest.raises(ValueError, match="label values outside"):
        M.SegCrossEntropyLoss(softmax=True, to_onehot_y=True)(x, y + 3)


# ---------------------------------------------------------------- shared numerical parts changed for speed

def test_fused_softmax_at_labels_values_and_gradcheck():
    from monai_segloss.core.prepare import _SoftmaxAtLabels

    x = _logits(2, 4, 3, 2).requires_grad_(True)
    y = _labels(2, 4, 3, 2).unsqueeze(1)
    p, lpt = _SoftmaxAtLabels.apply(x, y)
    _close(p, torch.softmax(x, 1), 1e-14)
    _close(lpt, torch.log_softmax(x, 1).gather(1, y), 1e-14)
    assert torch.autograd.gradcheck(lambda t: _SoftmaxAtLabels.apply(t, y), (x,))
    assert torch.autograd.gradcheck(lambda t: _SoftmaxAtLabels.apply(t, y)[1], (x,))  # one output unused
    far = torch.tensor([[[100.0], [-100.0], [0.0]]])
    _close(_SoftmaxAtLabels.apply(far, torch.tensor([[[1]]]))[1], -200.0, 1e-6)
