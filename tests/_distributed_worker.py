"""Worker of ``tests/test_distributed.py``: one rank of a 2-process gloo group on CPU that runs every check.

Run as ``python tests/_distributed_worker.py RANK WORLD PORT OUT_DIR`` (the test starts both ranks). Each rank writes
``OUT_DIR/rank<R>.json``: for every check name, ``{"loss_err": float, "grad_err": float, "info": str}`` or
``{"error": traceback}`` or ``{"skip": reason}``.

Every check builds the same global batch on both ranks (fixed seed), computes the single-process reference with
``batch=True, distributed=False`` on the concatenated batch, then the rank's loss on its slice with
``distributed=True``, and compares (see ``monai_segloss/core/distributed.py`` for the gradient convention):

- ``region:*`` (losses computed from the statistics alone, unequal split, mask and ignored voxels): each rank's
  loss equals the reference; the rank's input gradient divided by the world size equals the slice of the reference
  input gradient.
- ``objective:*`` (every loss with a ``distributed`` option, including the hybrids with a locally averaged voxel
  term, and the compound presets; equal split): the mean of the rank losses (the DDP objective) equals the
  reference, and the rank's input gradient divided by the world size equals the slice of the reference gradient.
- ``ddp:*``: a small convolution wrapped in ``DistributedDataParallel`` (which averages gradients over ranks) gets
  exactly the parameter gradients of the same model trained in one process on the concatenated batch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

WORLD = 2
BATCH_PER_RANK = (1, 3)  # unequal on purpose: region statistics do not care how the batch is split
EQUAL_SPLIT = (2, 2)  # a locally averaged voxel term (compound losses) needs equal batches, as DistributedSampler gives
SPATIAL = (5, 4)


@dataclass
class Check:
    name: str
    build: Callable[..., torch.nn.Module]  # build(distributed: bool) -> loss module
    mode: str  # "multiclass" (softmax, label map) or "multilabel" (sigmoid, one-hot)
    channels: int = 3
    masked: bool = False
    ignore: int | None = None
    kind: str = "region"  # "region", "objective" or "ddp"
    kwargs: dict[str, Any] = field(default_factory=dict)
    split: tuple[int, ...] = BATCH_PER_RANK  # samples per rank
    compound: str | None = None  # class name of a compound loss (skipped while not available)


ISSUE_REGION_KEYS = ("dice", "tversky", "generalized_dice", "focal_tversky", "log_cosh_dice", "jaccard",
                     "sensitivity_specificity")
COMPOUNDS = ("SegDiceCELoss", "SegDiceFocalLoss")
# statistics-only losses outside losses/region.py (their statistics are sums, global across ranks)
MORE_STATISTICS_KEYS = ("cldice", "dice_cldice")
# categorical losses (softmax only): no sigmoid checks
CATEGORICAL_KEYS = ("wasserstein_dice", "dice_topk")
# a TopK term selects its voxels on each rank's own batch, as nnU-Net: per sample, the DDP objective is the
# single-process loss
OPTIONS = {"dice_topk": {"per_image": True}}


def distributed_keys() -> list[str]:
    """Every registered loss whose options include ``distributed`` (the region family and its hybrids)."""
    import monai_segloss

    keys = []
    for key in monai_segloss.available_losses():
        opts = getattr(monai_segloss.loss_class(key), "options_cls", None)
        if opts is not None and dataclasses.is_dataclass(opts) and \
                "distributed" in {f.name for f in dataclasses.fields(opts)}:
            keys.append(key)
    return keys


def statistics_only(key: str) -> bool:
    """A loss computed from the (global) region statistics alone: the region family. Its hybrids (combo, exp_log,
    unified_focal …) add a voxel term averaged on each rank's own voxels, so their rank losses differ."""
    import monai_segloss

    return key in ISSUE_REGION_KEYS + MORE_STATISTICS_KEYS or \
        monai_segloss.loss_class(key).__module__ == "monai_segloss.losses.region"


def compound_cls(name: str) -> type | None:
    import monai_segloss

    return getattr(monai_segloss, name, None)


def checks() -> list[Check]:
    """The checks, identical in the test process and in both ranks.

    ``region``: statistics-only losses, on an unequal split with a mask and ignored voxels: each rank's loss is the
    single-process loss. ``objective``: every loss with a ``distributed`` option and the compound presets, on an
    equal split (as ``DistributedSampler`` gives) without ignored voxels: the mean of the rank losses (the DDP
    objective) is the single-process loss. Both: rank gradient / W is the slice of the single-process gradient.
    ``ddp``: parameter gradients of a model wrapped in ``DistributedDataParallel``.
    """
    import monai_segloss

    out: list[Check] = []
    label = {"softmax": True, "to_onehot_y": True}
    for key in distributed_keys():
        def build(distributed: bool, key: str = key, **kw: Any) -> torch.nn.Module:
            return monai_segloss.get_loss(key, batch=True, distributed=distributed, **kw)

        own = OPTIONS.get(key, {})
        sigmoid = key not in CATEGORICAL_KEYS
        if statistics_only(key):
            out.append(Check(f"region:{key}:softmax-label-ignore-mask", build, "multiclass", channels=3, masked=True,
                             ignore=255, kwargs={**label, "ignore_index": 255, "include_background": False, **own}))
            if sigmoid:
                out.append(Check(f"region:{key}:sigmoid-onehot-skip-empty", build, "multilabel", channels=4,
                                 kwargs={"sigmoid": True, "empty": "skip", **own}))
        out.append(Check(f"objective:{key}:softmax-label", build, "multiclass", kind="objective",
                         split=EQUAL_SPLIT, kwargs={**label, **own}))
        if sigmoid:
            out.append(Check(f"objective:{key}:sigmoid-onehot", build, "multilabel", kind="objective",
                             split=EQUAL_SPLIT, kwargs={"sigmoid": True, **own}))
        if key in ("dice", "tversky", "combo", "unified_focal"):
            split = BATCH_PER_RANK if statistics_only(key) else EQUAL_SPLIT
            out.append(Check(f"ddp:{key}", build, "multiclass", kind="ddp", split=split, kwargs=label))

    for name in COMPOUNDS:
        def build_compound(distributed: bool, name: str = name, **kw: Any) -> torch.nn.Module:
            return compound_cls(name)(**label, batch=True, distributed=distributed, **kw)

        out.append(Check(f"objective:{name}", build_compound, "multiclass", kind="objective", split=EQUAL_SPLIT,
                         compound=name))
        out.append(Check(f"ddp:{name}", build_compound, "multiclass", kind="ddp", split=EQUAL_SPLIT, compound=name))
    return out


def _data(check: Check, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Global (input, target, mask) of the check, the same on every rank."""
    g = torch.Generator().manual_seed(seed)
    b, c = sum(check.split), check.channels
    x = torch.randn(b, c, *SPATIAL, generator=g) * 2
    if check.mode == "multiclass":
        y = torch.randint(0, c, (b, 1, *SPATIAL), generator=g)
        y[0, :, 0] = 2  # class 2 present somewhere, class 1 absent from sample 0's first row
        if check.ignore is not None:
            y = torch.where(torch.rand(y.shape, generator=g) < 0.2, torch.full_like(y, check.ignore), y)
    else:
        y = (torch.rand(b, c, *SPATIAL, generator=g) < 0.3).float()
        y[:, -1] = 0  # an empty class in every sample: exercises the empty policy on global statistics
    mask = (torch.rand(b, 1, *SPATIAL, generator=g) < 0.8).float() if check.masked else None
    return x, y, mask


def _slice(check: Check, rank: int) -> slice:
    start = sum(check.split[:rank])
    return slice(start, start + check.split[rank])


def _call(loss: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return loss(x, y) if mask is None else loss(x, y, mask=mask)


def _run_region(check: Check, rank: int, seed: int) -> dict[str, Any]:
    import torch.distributed as dist

    x, y, mask = _data(check, seed)
    xr = x.clone().requires_grad_(True)
    ref = _call(check.build(False, **check.kwargs), xr, y, mask)
    ref.backward()
    s = _slice(check, rank)
    xl = x[s].clone().requires_grad_(True)
    loss = _call(check.build(True, **check.kwargs), xl, y[s], None if mask is None else mask[s])
    loss.backward()
    ref, loss = ref.detach(), loss.detach()
    grad = xl.grad / WORLD
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    mean_loss /= WORLD
    if check.kind == "region":
        loss_err = abs(float(loss) - float(ref)) / max(abs(float(ref)), 1e-12)
    else:  # objective: the rank losses may differ (local voxel terms); their mean is the DDP objective
        loss_err = abs(float(mean_loss) - float(ref)) / max(abs(float(ref)), 1e-12)
    grad_err = float((grad - xr.grad[s]).abs().max())
    return {"loss_err": loss_err, "grad_err": grad_err, "grad_scale": float(xr.grad[s].abs().max()),
            "info": f"ref={float(ref):.7g} rank_loss={float(loss):.7g} mean_loss={float(mean_loss):.7g} "
                    f"max|grad_ref|={float(xr.grad[s].abs().max()):.3g}"}


def _model(c: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Conv2d(2, c, kernel_size=3, padding=1)


def _run_ddp(check: Check, rank: int, seed: int) -> dict[str, Any]:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    _, y, mask = _data(check, seed)
    images = torch.randn(y.shape[0], 2, *SPATIAL, generator=torch.Generator().manual_seed(seed + 1))
    ref_model = _model(check.channels)
    ref = _call(check.build(False, **check.kwargs), ref_model(images), y, mask)
    ref.backward()
    ref = ref.detach()
    model = DistributedDataParallel(_model(check.channels))
    s = _slice(check, rank)
    loss = _call(check.build(True, **check.kwargs), model(images[s]), y[s], None if mask is None else mask[s])
    loss.backward()
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    mean_loss /= WORLD
    grad_err = max(float((p.grad - q.grad).abs().max())
                   for p, q in zip(model.module.parameters(), ref_model.parameters(), strict=True))
    loss_err = abs(float(mean_loss) - float(ref)) / max(abs(float(ref)), 1e-12)
    scale = max(float(q.grad.abs().max()) for q in ref_model.parameters())
    return {"loss_err": loss_err, "grad_err": grad_err, "grad_scale": scale,
            "info": f"ref={float(ref):.7g} mean_loss={float(mean_loss):.7g} max|grad_ref|={scale:.3g}"}


def run(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    results: dict[str, Any] = {}
    try:
        for i, check in enumerate(checks()):
            if check.compound is not None and compound_cls(check.compound) is None:
                results[check.name] = {"skip": f"monai_segloss.{check.compound} is not available (not merged yet)"}
                continue
            try:
                run_one = _run_ddp if check.kind == "ddp" else _run_region
                results[check.name] = run_one(check, rank, seed=1000 + i)
            except Exception:  # reported per check; the ranks stay in step as both fail alike
                results[check.name] = {"error": traceback.format_exc()}
            dist.barrier()
    finally:
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(results, fh)
        dist.destroy_process_group()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
