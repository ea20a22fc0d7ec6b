"""Property tests (hypothesis) of the region losses over random shapes, class counts and options:

- the loss lies in its documented range ([0, 1]; [0, log cosh 1] for ``log_cosh_dice``, [0, 2] for ``mcc``) for
  class weights in [0, 1] and smoothing ``smooth_nr <= smooth_dr``;
- permuting the classes of input and target together with their weights leaves the loss unchanged;
- ``ignore_index`` (and a zero ``mask``) on a slab of voxels equals cropping those voxels away.

The examples are derandomised for a reproducible CI; ``SEGLOSS_HYPOTHESIS_EXAMPLES=500`` runs more, at random.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monai_segloss import get_loss

_N = os.environ.get("SEGLOSS_HYPOTHESIS_EXAMPLES")
PROPS = settings(max_examples=int(_N) if _N else 40, deadline=None, derandomize=_N is None,
                 suppress_health_check=[HealthCheck.too_slow], database=None)

REGION_KEYS = ["dice", "jaccard", "generalized_dice", "tversky", "focal_tversky", "log_cosh_dice",
               "sensitivity_specificity", "mcc", "wasserstein_dice", "cldice"]
UPPER = {k: 1.0 for k in REGION_KEYS} | {"log_cosh_dice": math.log(math.cosh(1.0)), "mcc": 2.0}
# losses over a distribution of classes: softmax logits or probabilities, C >= 2, soft targets summing to 1
CATEGORICAL = {"wasserstein_dice"}
# channel 0 is the background by definition (its α is 0): not invariant to moving it
NOT_PERMUTABLE = {"wasserstein_dice"}
# the soft skeleton is morphological: samples laid end to end erode across the seam
NOT_CONCATENABLE = {"cldice"}
IGNORE = 255


@dataclass
class Setup:
    """A random problem: shapes, target format and options."""

    batch: int
    channels: int
    spatial: tuple[int, ...]
    act: str  # sigmoid | softmax | none
    target: str  # label | onehot | soft
    options: dict[str, Any]
    seed: int
    categorical: bool = False  # probabilities and soft targets sum to 1 over the channels

    def data(self, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed)
        b, c, s = self.batch, self.channels, self.spatial
        x = 3 * torch.randn(b, c, *s, generator=gen, dtype=dtype)
        # some near-perfect and some confidently wrong voxels as well
        x = torch.where(torch.rand(x.shape, generator=gen) < 0.2, 20 * torch.sign(x), x)
        if self.act == "none":
            x = torch.softmax(x, 1) if self.target in ("label",) or (self.target == "onehot" and c > 1) \
                or self.categorical else torch.sigmoid(x)
        labels = torch.randint(0, max(c, 2), (b, 1, *s), generator=gen)
        if self.target == "label":
            y = labels
        elif self.target == "onehot":
            y = labels.to(dtype) if c == 1 else torch.nn.functional.one_hot(labels[:, 0], c).movedim(-1, 1).to(dtype)
        elif self.categorical:
            y = torch.softmax(2 * torch.randn(b, c, *s, generator=gen, dtype=dtype), 1)
        else:
            y = torch.rand(b, c, *s, generator=gen, dtype=dtype)
        return x, y


def _specific(key: str, draw) -> dict[str, Any]:
    if key in ("dice", "jaccard", "log_cosh_dice"):
        out = {"squared_pred": draw(st.booleans())}
        if key == "dice":
            out["jaccard"] = draw(st.booleans())
        return out
    if key == "generalized_dice":
        return {"w_type": draw(st.sampled_from(["square", "simple", "uniform"]))}
    if key == "mcc":  # a numerator smoothing lets an undefined unit score s_nr / sqrt(s_dr), far above 1
        return {"smooth_nr": 0.0}
    if key == "cldice":
        return {"iter_": draw(st.integers(0, 3))}
    if key == "wasserstein_dice":
        return {"weighting_mode": draw(st.sampled_from(["default", "GDL"]))}
    if key in ("tversky", "focal_tversky"):
        out = {"alpha": draw(st.floats(0, 1)), "beta": draw(st.floats(0, 1))}
        if key == "focal_tversky":
            out["gamma"] = draw(st.floats(0.5, 3.0))
        return out
    return {"r": draw(st.floats(0, 1))}


@st.composite
def setups(draw, key: str, min_channels: int = 1, include_background: bool | None = None) -> Setup:
    categorical = key in CATEGORICAL
    c = draw(st.integers(max(min_channels, 2) if categorical else min_channels, 4))
    ndim = draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    act = draw(st.sampled_from((["none"] if categorical else ["sigmoid", "none"]) + (["softmax"] if c > 1 else [])))
    target = draw(st.sampled_from(["onehot", "soft"] + (["label"] if c > 1 else [])))
    inc = draw(st.booleans()) if include_background is None else include_background
    inc = inc or c == 1
    smooth_dr = draw(st.sampled_from([1e-5, 1e-3, 1.0]))
    smooth_nr = draw(st.sampled_from([s for s in (0.0, 1e-5, 1e-3, 1.0) if s <= smooth_dr]))
    opts: dict[str, Any] = {"include_background": inc, "batch": draw(st.booleans()),
                            "empty": draw(st.sampled_from(["smooth", "skip", "fp"])),
                            "smooth_nr": smooth_nr, "smooth_dr": smooth_dr, **_specific(key, draw)}
    if act != "none":
        opts[act] = True
    if target == "label":
        opts["to_onehot_y"] = True
    kept = c if inc else c - 1
    if key != "generalized_dice" and draw(st.booleans()):
        n = draw(st.sampled_from([c, kept]))
        opts["weight"] = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    return Setup(draw(st.integers(1, 2)), c, spatial, act, target, opts, draw(st.integers(0, 2 ** 31)), categorical)


# ---------------------------------------------------------------- range

def _range_test(key: str, setup: Setup, dtype: torch.dtype) -> None:
    x, y = setup.data(dtype)
    for reduction in ("mean", "none"):
        loss = get_loss(key, reduction=reduction, **setup.options)(x, y)
        assert torch.isfinite(loss).all(), (setup, loss)
        tol = 1e-6 if dtype == torch.float64 else 1e-5
        assert float(loss.min()) >= -tol, (setup, loss)
        assert float(loss.max()) <= UPPER[key] + tol, (setup, loss)


@pytest.mark.parametrize("key", REGION_KEYS)
def test_loss_in_documented_range(key):
    @PROPS
    @given(setup=setups(key))
    def check(setup):
        _range_test(key, setup, torch.float64)

    check()


@pytest.mark.parametrize("key", REGION_KEYS)
def test_loss_in_documented_range_float32(key):
    @settings(PROPS, max_examples=max(PROPS.max_examples // 2, 10))
    @given(setup=setups(key))
    def check(setup):
        _range_test(key, setup, torch.float32)

    check()


# ---------------------------------------------------------------- permutation of classes

def _permute(setup: Setup, x: torch.Tensor, y: torch.Tensor, perm: list[int]):
    """Channel j of the permuted problem is channel perm[j] of the original."""
    p = torch.tensor(perm)
    xp = x[:, p]
    if setup.target == "label":
        inv = torch.argsort(p)  # old label l -> new channel inv[l]
        yp = inv[y]
    else:
        yp = y[:, p]
    opts = dict(setup.options)
    if "weight" in opts:
        w = opts["weight"]
        if len(w) == setup.channels:
            opts["weight"] = [w[i] for i in perm]
        else:  # weight of the kept channels 1..C-1 (perm fixes 0 then)
            opts["weight"] = [w[i - 1] for i in perm[1:]]
    return xp, yp, opts


@pytest.mark.parametrize("key", [k for k in REGION_KEYS if k not in NOT_PERMUTABLE])
def test_invariant_to_permuting_classes_with_their_weights(key):
    @PROPS
    @given(setup=setups(key, min_channels=2), data=st.data())
    def check(setup, data):
        c = setup.channels
        inc = setup.options["include_background"]
        rest = data.draw(st.permutations(list(range(c) if inc else range(1, c))))
        perm = list(rest) if inc else [0, *rest]
        x, y = setup.data()
        xp, yp, opts = _permute(setup, x, y, perm)
        ref = get_loss(key, **setup.options)(x, y)
        out = get_loss(key, **opts)(xp, yp)
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-12)
        if key != "generalized_dice":  # per-class "none" columns follow the permutation (not per-sample units)
            kept = list(range(c)) if inc else list(range(1, c))
            none_ref = get_loss(key, **{**setup.options, "reduction": "none"})(x, y)
            none_out = get_loss(key, **{**opts, "reduction": "none"})(xp, yp)
            col = {ch: i for i, ch in enumerate(kept)}
            expected = none_ref[..., [col[perm[ch]] for ch in kept]]
            torch.testing.assert_close(none_out, expected, rtol=1e-9, atol=1e-12)

    check()


# ---------------------------------------------------------------- ignore_index / mask == removing the voxels

def _ignored(setup: Setup, y: torch.Tensor, slab: tuple) -> torch.Tensor:
    y = y.clone()
    y[slab] = IGNORE
    return y


@pytest.mark.parametrize("key", REGION_KEYS)
def test_ignore_index_equals_removing_the_voxels(key):
    @PROPS
    @given(setup=setups(key), data=st.data())
    def check(setup, data):
        dims = [i for i, s in enumerate(setup.spatial) if s > 1]
        if not dims:
            return
        axis = data.draw(st.sampled_from(dims))
        k = data.draw(st.integers(1, setup.spatial[axis] - 1))
        x, y = setup.data()
        keep = [slice(None)] * 2 + [slice(None)] * len(setup.spatial)
        drop = list(keep)
        keep[2 + axis] = slice(0, k)
        drop[2 + axis] = slice(k, None)
        keep, drop = tuple(keep), tuple(drop)
        for reduction in ("mean", "none"):
            opts = {**setup.options, "reduction": reduction}
            cropped = get_loss(key, **opts)(x[keep], y[keep])
            ignored = get_loss(key, ignore_index=IGNORE, **opts)(x, _ignored(setup, y, drop))
            torch.testing.assert_close(ignored, cropped, rtol=1e-9, atol=1e-12)
            mask = torch.ones(x.shape[0], 1, *setup.spatial)
            mask[drop] = 0
            masked = get_loss(key, **opts)(x, y, mask=mask)
            torch.testing.assert_close(masked, cropped, rtol=1e-9, atol=1e-12)

    check()


@pytest.mark.parametrize("key", REGION_KEYS)
def test_ignore_index_gradient_is_zero_on_ignored_voxels(key):
    @PROPS
    @given(setup=setups(key))
    def check(setup):
        x, y = setup.data()
        if x.shape[-1] < 2:
            return
        x.requires_grad_(True)
        y_ign = y.clone()
        y_ign[..., -1] = IGNORE
        get_loss(key, ignore_index=IGNORE, **setup.options)(x, y_ign).backward()
        assert torch.isfinite(x.grad).all()
        assert torch.equal(x.grad[..., -1], torch.zeros_like(x.grad[..., -1]))

    check()


# ---------------------------------------------------------------- label map == one-hot; batch == one long sample

@pytest.mark.parametrize("key", REGION_KEYS)
def test_label_map_path_equals_one_hot_path(key):
    """The label-map statistics (no one-hot tensor) give the one-hot path's values and input gradients, with
    ignored voxels and masks."""

    @PROPS
    @given(setup=setups(key, min_channels=2), ignore=st.booleans(), use_mask=st.booleans())
    def check(setup, ignore, use_mask):
        if setup.target == "soft":
            return
        opts = {k: v for k, v in setup.options.items() if k != "to_onehot_y"}
        x, _ = setup.data()
        gen = torch.Generator().manual_seed(setup.seed + 1)
        labels = torch.randint(0, setup.channels, (setup.batch, 1, *setup.spatial), generator=gen)
        onehot = torch.nn.functional.one_hot(labels[:, 0], setup.channels).movedim(-1, 1).double()
        mask = (torch.rand(setup.batch, 1, *setup.spatial, generator=gen) > 0.3).double() if use_mask else None
        if ignore:
            drop = torch.rand(setup.batch, 1, *setup.spatial, generator=gen) < 0.3
            labels = labels.masked_fill(drop, IGNORE)
            onehot = onehot.masked_fill(drop, IGNORE)
            opts["ignore_index"] = IGNORE
        for reduction in ("mean", "none"):
            xa = x.clone().requires_grad_(True)
            xb = x.clone().requires_grad_(True)
            a = get_loss(key, to_onehot_y=True, reduction=reduction, **opts)(xa, labels, mask=mask)
            b = get_loss(key, reduction=reduction, **opts)(xb, onehot, mask=mask)
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
            a.sum().backward()
            b.sum().backward()
            torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-7, atol=1e-12)

    check()


@pytest.mark.parametrize("key", [k for k in REGION_KEYS if k not in NOT_CONCATENABLE])
def test_batch_statistics_equal_one_long_sample(key):
    """``batch=True`` on (B, C, *S) equals ``batch=False`` on the samples laid end to end as one sample."""

    @PROPS
    @given(setup=setups(key))
    def check(setup):
        x, y = setup.data()
        opts = {**setup.options, "batch": True}
        long_x = torch.cat(list(x), dim=-1).unsqueeze(0)
        long_y = torch.cat(list(y), dim=-1).unsqueeze(0)
        batched = get_loss(key, **opts)(x, y)
        single = get_loss(key, **{**opts, "batch": False})(long_x, long_y)
        torch.testing.assert_close(batched, single, rtol=1e-9, atol=1e-12)

    check()
