"""The work of one forward + backward at the fixed-cost shapes, counted (issue 23, item 2): load-independent figures
for a machine where nothing can be timed, ours next to MONAI's peer.

Per loss and configuration, at :data:`benchmarks.bench_peers.SMALL_SHAPES`, after two warm-up calls:

- ``py``: Python function calls (``cProfile``'s total, builtins and the backward's own included);
- ``aten``: ATen operator calls seen by a ``TorchDispatchMode`` (forward and backward; views included);
- ``ops``: those that are not views (``detach``, ``view``, ``expand`` ... aside): about the kernels a GPU launches;
- ``reads``: host reads of a tensor's value outside a device assertion (``aten::_local_scalar_dense``, under
  ``item()`` / ``bool()``; ``nonzero``, ``unique``, ``masked_select``, ``bincount``; nested ones included, from the
  profiler). On CPU, ``F.one_hot`` and ``torch.bincount`` read values back that their CUDA kernels do not;
- ``asserts``: device-side assertions (``torch._assert_async``: on CPU it reads its flag, on a GPU it never waits).

Rows: every registered key with its benchmark options (:func:`benchmarks.bench_losses.resolve_kwargs`), the
losses of :mod:`benchmarks.bench_peers` in both its configurations with MONAI's peer, and the presets ``dice_ce`` /
``dice_focal`` with ``include_background`` and ``batch`` False/True against ``DiceCELoss`` / ``DiceFocalLoss``.

Usage::

    python benchmarks/count_work.py [--keys dice dice_ce] [--out benchmarks/results/work_cpu.md] [--json FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import pstats
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_peers as peers  # noqa: E402
from benchmarks.bench_losses import LABEL_KW, Counterpart, _MonaiLoss, make_tensors, resolve_kwargs  # noqa: E402

__all__ = ["count", "rows", "render", "main"]

# (``item``, ``is_nonzero`` and ``bool()`` end in ``_local_scalar_dense``: each read is counted once)
HOST_READS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::_unique2", "aten::unique_dim",
              "aten::unique_consecutive", "aten::masked_select", "aten::bincount")
PRESETS: tuple[tuple[str, str, dict[str, Any]], ...] = (("dice_ce", "DiceCELoss", {}),
                                                       ("dice_focal", "DiceFocalLoss", {"gamma": 2.0}))


class _Ops(TorchDispatchMode):
    """Counts the ATen operators dispatched inside the block (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.all = 0
        self.compute = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.all += 1
        if not func.is_view and func.overloadpacket.__name__ not in ("detach", "lift_fresh"):
            self.compute += 1
        return func(*args, **(kwargs or {}))


def _step(fn: Callable, x: torch.Tensor, y: torch.Tensor) -> None:
    fn(x, y).backward()
    x.grad = None


def _inside_assert(event: Any) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == "aten::_assert_async":
            return True
        parent = parent.cpu_parent
    return False


def count(fn: Callable, x: torch.Tensor, y: torch.Tensor) -> dict[str, int]:
    """``{py, aten, ops, reads, asserts}`` of one forward + backward of ``fn(x, y)`` (see the module's doc)."""
    for _ in range(2):  # lazy imports, per-signature plans and constants
        _step(fn, x, y)
    profiler = cProfile.Profile()
    profiler.enable()
    _step(fn, x, y)
    profiler.disable()
    py = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
    with _Ops() as ops:
        _step(fn, x, y)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        _step(fn, x, y)
    events = prof.events()
    names = Counter(e.name for e in events)
    reads = sum(1 for e in events if e.name in HOST_READS and not _inside_assert(e))
    return {"py": py, "aten": ops.all, "ops": ops.compute, "reads": reads,
            "asserts": names.get("aten::_assert_async", 0)}


def rows(keys: Sequence[str] | None = None, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every row (see the module's doc), for ``keys`` only when given."""
    import monai_segloss as msl

    out: list[dict[str, Any]] = []

    def add(shape: tuple[int, ...], key: str, config: str, impl: str, make: Callable[[], Callable]) -> None:
        if keys is not None and key not in keys:
            return
        b, c, *spatial = shape
        x, y = make_tensors(b, c, spatial, "cpu")
        row: dict[str, Any] = {"shape": "×".join(map(str, shape)), "key": key, "config": config, "impl": impl}
        try:
            row.update(count(make(), x, y))
        except Exception as err:  # noqa: BLE001 - reported in the row
            row["error"] = f"{type(err).__name__}: {err}"[:200]
        out.append(row)
        log(f"{row['shape']:<14} {key:<24} {config:<24} {impl:<6} "
            + " ".join(f"{k} {row[k]}" for k in ("py", "aten", "ops", "reads", "asserts") if k in row))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for shape in peers.SMALL_SHAPES:
            for key in msl.available_losses():
                kwargs, _, _ = resolve_kwargs(key, "cpu")
                add(shape, key, "benchmark options", "ours", functools.partial(msl.get_loss, key, **(kwargs or {})))
            for name, variant in peers.VARIANTS.items():
                for key in peers.LOSSES:
                    add(shape, key, f"bench_peers {name}", "ours", functools.partial(peers._ours, key, variant))
                    add(shape, key, f"bench_peers {name}", "monai", functools.partial(peers._monai, key, variant))
            for key, monai_name, extra in PRESETS:
                for include_background in (True, False):
                    for batch in (False, True):
                        kw = {**LABEL_KW, "include_background": include_background, "batch": batch, **extra}
                        config = f"include_background={include_background}, batch={batch}"
                        add(shape, key, config, "ours", functools.partial(msl.get_loss, key, **kw))
                        add(shape, key, config, "monai", functools.partial(_MonaiLoss, Counterpart(monai_name, kw)))
    return out


def render(table: list[dict[str, Any]]) -> str:
    """A markdown table: per row, ours and (where there is one) MONAI's peer side by side."""
    index = {(r["shape"], r["key"], r["config"], r["impl"]): r for r in table}
    lines = ["| shape | loss | config | ours py / aten / ops / reads / asserts | MONAI py / aten / ops / reads |",
             "|---|---|---|---|---|"]

    def cell(r: dict[str, Any] | None, fields: tuple[str, ...]) -> str:
        if r is None:
            return "–"
        return r["error"] if "error" in r else " / ".join(str(r[f]) for f in fields)

    for r in table:
        if r["impl"] != "ours":
            continue
        monai = index.get((r["shape"], r["key"], r["config"], "monai"))
        lines.append(f"| {r['shape']} | {r['key']} | {r['config']} | "
                     f"{cell(r, ('py', 'aten', 'ops', 'reads', 'asserts'))} | "
                     f"{cell(monai, ('py', 'aten', 'ops', 'reads'))} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/count_work.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", nargs="*", default=None, help="only these registry keys")
    p.add_argument("--out", default=None, help="write the markdown table here (default: print it)")
    p.add_argument("--json", default=None, help="write every row as JSON here")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    torch.set_num_threads(1)
    table = rows(args.keys, log=(lambda s: None) if args.out is None else print)
    text = render(table)
    if args.out:
        Path(args.out).write_text(text)
    else:
        print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
