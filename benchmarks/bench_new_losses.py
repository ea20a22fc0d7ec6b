"""The losses added for the peers (issue 15) against the peer that has each, in the same run: forward + backward
time, peak memory and the value at one shape (default ``2, 3, 96, 96, 96``: logits of two 3-class 96³ volumes and
their label maps).

Peers: MONAI (``cldice``, ``dice_cldice``, ``wasserstein_dice``, ``log_hausdorff_dt``, ``generalized_dice_focal``,
``mcc``, ``nacl``), nnU-Net v2 (``topk_ce``, ``dice_topk``; needs ``nnunetv2``), segmentation_models_pytorch
(``lovasz``; its ``losses`` folder is loaded on its own, as importing the package pulls torchvision and timm: set
``SMP_LOSSES_DIR`` to ``segmentation_models_pytorch/losses`` of a wheel fetched with ``pip download
segmentation-models-pytorch --no-deps`` and unzipped). A peer that is not installed is reported as missing.

Time: ours and the peer alternate (A B A B ...) after one warm-up call each; the ratio is the median of the pairwise
ratios ours / peer (with its min-max), so that a load change during the run hits both alike. Memory: peak resident
memory of one forward + backward above the resident size right before it (``VmHWM`` reset through
``/proc/self/clear_refs``), in a fresh child process per (loss, implementation), the minimum of ``--mem-runs`` runs;
``MALLOC_MMAP_THRESHOLD_`` is fixed so that freed tensor buffers leave the resident set. Value: the relative
difference of the two losses on the same input (``-`` where the quantities differ by design: see the notes).

Usage::

    python benchmarks/bench_new_losses.py [--keys topk_ce lovasz] [--shape 2,3,96,96,96] [--pairs 7]
        [--mem-runs 2] [--threads 2] [--quick] [--out benchmarks/results]

writes ``new_losses.json`` and ``new_losses.md`` under ``--out`` and prints the table (with the load average, as
other processes share the cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_peers import softmax_floor  # noqa: E402

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LABEL = {"softmax": True, "to_onehot_y": True}
DIST = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]


def _smp_losses() -> types.ModuleType:
    """segmentation_models_pytorch's ``losses`` package: imported normally, or loaded from ``SMP_LOSSES_DIR``."""
    try:
        import segmentation_models_pytorch.losses as smp_losses

        return smp_losses
    except ImportError:
        folder = os.environ.get("SMP_LOSSES_DIR")
        if not folder:
            raise
    spec = importlib.util.spec_from_file_location("smp_losses", Path(folder) / "__init__.py",
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["smp_losses"] = module
    spec.loader.exec_module(module)
    return module


def _ours(key: str, **kwargs) -> Loss:
    import monai_segloss

    return monai_segloss.get_loss(key, **kwargs)


def _monai(name: str, label_map: str = "channel", **kwargs) -> Loss:
    import monai.losses

    loss = getattr(monai.losses, name)(**kwargs)
    return (lambda x, y: loss(x, y[:, 0])) if label_map == "flat" else loss


def _nnunet(name: str) -> Loss:
    from nnunetv2.training.loss.compound_losses import DC_and_topk_loss
    from nnunetv2.training.loss.robust_ce_loss import TopKLoss

    if name == "TopKLoss":
        return TopKLoss(k=10)
    return DC_and_topk_loss({"batch_dice": False, "smooth": 1e-5, "do_bg": False, "ddp": False}, {"k": 10})


def _smp_lovasz() -> Loss:
    loss = _smp_losses().LovaszLoss("multiclass")
    return lambda x, y: loss(x, y[:, 0])


# key -> (ours, peer label, peer builder, the same quantity?, note)
PAIRS: dict[str, tuple[Callable[[], Loss], str, Callable[[], Loss], bool, str]] = {
    "topk_ce": (lambda: _ours("topk_ce", **LABEL), "nnU-Net TopKLoss(k=10)", lambda: _nnunet("TopKLoss"), True, ""),
    "dice_topk": (lambda: _ours("dice_topk", include_background=False, **LABEL), "nnU-Net DC_and_topk_loss + 1",
                  lambda: _nnunet("DC_and_topk_loss"), True, "nnU-Net's Dice term is -Dice: compared after + 1"),
    "cldice": (lambda: _ours("cldice", **LABEL), "MONAI SoftclDiceLoss", lambda: _monai("SoftclDiceLoss", **LABEL),
               False, "MONAI pools the 3 channels of a sample, ours scores each (equal on one channel)"),
    "dice_cldice": (lambda: _ours("dice_cldice", **LABEL), "MONAI SoftDiceclDiceLoss",
                    lambda: _monai("SoftDiceclDiceLoss", **LABEL), False, "as cldice"),
    "lovasz": (lambda: _ours("lovasz", **LABEL), "smp LovaszLoss(multiclass)", _smp_lovasz, True, ""),
    "wasserstein_dice": (lambda: _ours("wasserstein_dice", dist_matrix=DIST, **LABEL),
                         "MONAI GeneralizedWassersteinDiceLoss",
                         lambda: _monai("GeneralizedWassersteinDiceLoss", dist_matrix=np.array(DIST)), True, ""),
    "log_hausdorff_dt": (lambda: _ours("log_hausdorff_dt", **LABEL), "MONAI LogHausdorffDTLoss",
                         lambda: _monai("LogHausdorffDTLoss", include_background=True, **LABEL), True, ""),
    "generalized_dice_focal": (lambda: _ours("generalized_dice_focal", sigmoid=True, to_onehot_y=True),
                               "MONAI GeneralizedDiceFocalLoss",
                               lambda: _monai("GeneralizedDiceFocalLoss", sigmoid=True, to_onehot_y=True), True,
                               "sigmoid (MONAI's focal term ignores softmax)"),
    "mcc": (lambda: _ours("mcc", **LABEL), "MONAI MCCLoss", lambda: _monai("MCCLoss", **LABEL), True, ""),
    "nacl": (lambda: _ours("nacl", **LABEL), "MONAI NACLLoss", lambda: _monai("NACLLoss", "flat", classes=3, dim=3),
             True, "MONAI's NACLLoss needs classes and dim"),
}


def make_tensors(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(B, C, *S)`` (requires grad) and a label map ``(B, 1, *S)`` with blob-like classes."""
    g = torch.Generator().manual_seed(seed)
    b, c, *spatial = shape
    x = torch.randn(b, c, *spatial, generator=g).requires_grad_(True)
    coarse = torch.randint(0, c, (b, 1, *[max(1, s // 8) for s in spatial]), generator=g).float()
    y = torch.nn.functional.interpolate(coarse, size=spatial, mode="nearest").long()
    return x, y


def step(loss: Loss, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """One forward + backward: ``(seconds, value)``."""
    x.grad = None
    t = time.perf_counter()
    out = loss(x, y)
    out.backward()
    return time.perf_counter() - t, float(out)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_peak(key: str, impl: str, shape: tuple[int, ...]) -> int:
    """In a fresh child: the peak extra resident bytes of one forward + backward of ``impl`` (ours / peer)."""
    ours, _, peer, _, _ = PAIRS[key]
    loss = (ours if impl == "ours" else peer)()
    xs, ys = make_tensors((1, shape[1], *[4] * (len(shape) - 2)))
    step(loss, xs, ys)  # load the lazy code paths
    x, y = make_tensors(shape)
    Path("/proc/self/clear_refs").write_text("5")
    base = _status("VmRSS")
    step(loss, x, y)
    return _status("VmHWM") - base


def memory(key: str, impl: str, shape: tuple[int, ...], runs: int, threads: int) -> int | str:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH")]))}
    peaks = []
    for _ in range(runs):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", key, impl, ",".join(map(str, shape)),
               "--threads", str(threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            return (res.stderr.strip().splitlines() or ["child failed"])[-1][:200]
        peaks.append(int(res.stdout.strip().splitlines()[-1]))
    return min(peaks)


def bench(key: str, shape: tuple[int, ...], pairs: int, mem_runs: int, threads: int) -> dict:
    ours_fn, peer_label, peer_fn, same, note = PAIRS[key]
    row = {"key": key, "peer": peer_label, "note": note}
    try:
        peer = peer_fn()
    except ImportError as err:
        row["error"] = f"peer not installed ({err.name})"
        return row
    ours = ours_fn()
    x, y = make_tensors(shape)
    _, v_ours = step(ours, x, y)
    _, v_peer = step(peer, x, y)
    if key == "dice_topk":
        v_peer += 1.0
    row["value_ours"], row["value_peer"] = v_ours, v_peer
    row["rel_diff"] = abs(v_ours - v_peer) / max(abs(v_peer), 1e-12) if same else None
    t_ours, t_peer, t_floor = [], [], []
    step(softmax_floor, x, y)
    for _ in range(pairs):  # ours, the peer and the floor in turn
        t_ours.append(step(ours, x, y)[0])
        t_peer.append(step(peer, x, y)[0])
        t_floor.append(step(softmax_floor, x, y)[0])
    ratios = [a / b for a, b in zip(t_ours, t_peer, strict=True)]
    floor_ratios = [a / f for a, f in zip(t_ours, t_floor, strict=True)]
    row.update(ours_ms=1e3 * statistics.median(t_ours), peer_ms=1e3 * statistics.median(t_peer),
               time_ratio=statistics.median(ratios), time_ratio_range=(min(ratios), max(ratios)),
               floor_ms=1e3 * statistics.median(t_floor), floor_ratio=statistics.median(floor_ratios))
    del x, y
    mem = {impl: memory(key, impl, shape, mem_runs, threads) for impl in ("ours", "peer")}
    row["ours_mb"], row["peer_mb"] = (m / 2**20 if isinstance(m, int) else m for m in (mem["ours"], mem["peer"]))
    if all(isinstance(m, int) for m in mem.values()):
        row["mem_ratio"] = mem["ours"] / max(mem["peer"], 1)
    return row


def render(rows: list[dict], meta: dict) -> str:
    lines = [f"Shape {meta['shape']}, {meta['pairs']} alternated pairs, {meta['threads']} threads, torch "
             f"{meta['torch']}, load average {meta['load_before']} before / {meta['load_after']} after.", "",
             "| loss | peer | ours ms | peer ms | time ratio (min-max) | floor ms | ours / floor | ours MB | peer MB | "
             "memory ratio | value rel. diff | note |", "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| `{r['key']}` | {r['peer']} | | | | | | | | | | {r['error']} |")
            continue
        lo, hi = r["time_ratio_range"]
        mem = f"{r['mem_ratio']:.2f}" if "mem_ratio" in r else "-"
        mb = [f"{m:.0f}" if isinstance(m, float) else str(m) for m in (r["ours_mb"], r["peer_mb"])]
        diff = "-" if r["rel_diff"] is None else f"{r['rel_diff']:.1e}"
        lines.append(f"| `{r['key']}` | {r['peer']} | {r['ours_ms']:.0f} | {r['peer_ms']:.0f} | "
                     f"{r['time_ratio']:.2f} ({lo:.2f}-{hi:.2f}) | {r['floor_ms']:.0f} | {r['floor_ratio']:.1f} | "
                     f"{mb[0]} | {mb[1]} | {mem} | {diff} | {r['note']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--shape", default="2,3,96,96,96")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--mem-runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="shape 1,3,16,16,16, 2 pairs, 1 memory run")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--child", nargs=3, metavar=("KEY", "IMPL", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    if args.child:
        key, impl, shape = args.child
        print(child_peak(key, impl, tuple(int(s) for s in shape.split(","))))
        return 0
    shape = (1, 3, 16, 16, 16) if args.quick else tuple(int(s) for s in args.shape.split(","))
    pairs, mem_runs = (2, 1) if args.quick else (args.pairs, args.mem_runs)
    meta = {"shape": shape, "pairs": pairs, "threads": args.threads, "torch": torch.__version__,
            "load_before": round(os.getloadavg()[0], 1)}
    rows = []
    for i, key in enumerate(args.keys, 1):
        print(f"[{i}/{len(args.keys)}] {key} ...", file=sys.stderr, flush=True)
        rows.append(bench(key, shape, pairs, mem_runs, args.threads))
    meta["load_after"] = round(os.getloadavg()[0], 1)
    table = render(rows, meta)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "new_losses_quick" if args.quick else "new_losses"
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / f"{name}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
