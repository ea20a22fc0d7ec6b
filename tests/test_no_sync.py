"""No host-device synchronisation in a loss call: on CPU, forward and backward never turn a tensor into a Python
value (``.item()``, ``bool()``, ``int()``, ``float()``, ``.tolist()``, ``.numpy()``, ...), the operations that wait
for a GPU; on CUDA, every loss runs under ``torch.cuda.set_sync_debug_mode("error")``.

Data checks are device-side assertions (:func:`monai_segloss.core.prepare.data_check`); constants are made once per
device. The geometry losses that build distance maps or lesion instances from the target on the host (SimpleITK,
connected components) synchronise by nature unless the maps are passed in (``distance=`` / ``instances=``, e.g. from
:class:`~monai_segloss.BatchMapsHandler`); they run here with precomputed maps. Two losses read the data on the host
by definition (:data:`HOST_BOUND`), and ``log_hausdorff_dt`` with them. ``topk_ce`` on the CPU with rows of
2^16 voxels or more reads its candidate counts (a CPU-only branch; these inputs are smaller, the CUDA test covers
its device path).
"""

from __future__ import annotations

import contextlib

import pytest
import torch

import monai_segloss as msl
from benchmarks.bench_losses import resolve_kwargs

HOST_READS = ("item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "__complex__")
# losses whose target-derived maps come from the host when not given: run with them precomputed
NEEDS_MAPS = {"boundary": "distance", "hausdorff_dt": "distance", "shape_aware": "distance",
              "distance_penalized_ce": "distance", "blob": "instances"}


@contextlib.contextmanager
def no_host_reads():
    """Every way of reading a tensor's value into Python raises inside the block."""
    saved = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def refuse(name):
        def f(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name} called inside a loss (a host-device synchronisation)")
        return f

    for name in HOST_READS:
        setattr(torch.Tensor, name, refuse(name))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)


def _extra(key: str, loss, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Precomputed maps for the losses that take them (computed outside the checked block)."""
    kind = NEEDS_MAPS.get(key)
    if kind is None:
        return {}
    from monai_segloss.core.options import InputOptions
    from monai_segloss.core.prepare import prepare_input

    prep = prepare_input(x.detach().cpu(), y.cpu(), InputOptions(softmax=True, to_onehot_y=True))
    g = prep.target_onehot() > 0.5
    if kind == "instances":
        from monai_segloss.geometry.instances import lesion_instances

        return {"instances": lesion_instances(g.flatten(0, 1)).view(g.shape).to(x.device)}
    from monai_segloss.geometry.distance import signed_distance

    return {"distance": signed_distance(g.flatten(0, 1), kind="level_set").view(g.shape).to(x.device)}


def _case(device, c=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, c, 12, 10, generator=g).to(device).requires_grad_()
    y = torch.randint(0, c, (2, 1, 12, 10), generator=g).to(device)
    mask = (torch.rand(2, 1, 12, 10, generator=g) > 0.2).float().to(device)
    return x, y, mask


# losses that read the data on the host by nature, each call (documented in their docstrings)
HOST_BOUND = {
    "hausdorff_dt": "distance maps of the prediction (p > 0.5), computed by SimpleITK on the host each call",
    "log_hausdorff_dt": "hausdorff_dt's distance maps of the prediction, computed by SimpleITK on the host each call",
    "blob": "one unit per lesion: the number of lesions (a data-dependent size) is read on the host",
}
DEVICE_LOSSES = [pytest.param(k, marks=pytest.mark.skip(reason=HOST_BOUND[k])) if k in HOST_BOUND else k
                 for k in msl.available_losses()]


def _warm(key: str, device: str):
    """The loss, its inputs and precomputed maps, after one call (lazy imports and per-device constants)."""
    kwargs, _, err = resolve_kwargs(key, device)
    assert err is None, err
    loss = msl.get_loss(key, **kwargs)
    x, y, mask = _case(device)
    extra = _extra(key, loss, x, y)
    loss(x, y, **extra).backward()
    x.grad = None
    return loss, x, y, mask, extra


@pytest.mark.parametrize("key", DEVICE_LOSSES)
def test_no_host_reads_on_cpu(key):
    loss, x, y, mask, extra = _warm(key, "cpu")
    with no_host_reads():
        out = loss(x, y, **extra)
        out.backward()
        loss(x, y, mask=mask, **extra).backward()
    assert torch.isfinite(x.grad).all()


def test_bad_labels_still_raise_value_error_on_cpu():
    x, y, _ = _case("cpu")
    y[0, 0, 0, 0] = 7
    with pytest.raises(ValueError, match=r"outside \[0, 3\).*\[7\]"):
        msl.get_loss("dice_ce", softmax=True, to_onehot_y=True)(x, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("key", DEVICE_LOSSES)
def test_no_sync_on_cuda(key):
    loss, x, y, mask, extra = _warm(key, "cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss(x, y, **extra).backward()
        loss(x, y, mask=mask, **extra).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert torch.isfinite(x.grad).all()
