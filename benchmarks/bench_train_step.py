"""The split of one training step of the study, per loss: data, forward, loss, backward, optimiser.

Each loss of the full study setting trains the lesion bundle (its ``train.json`` plus ``configs/<loss>.json``, the
study's overrides: network, patch, batch, one thread) through the bundle's own ``SupervisedTrainer`` for a few
epochs; MONAI's iteration events time every stage of every iteration:

- data: ``GET_BATCH_STARTED`` → ``GET_BATCH_COMPLETED`` (sampling, crops and augmentation of the batch, without
  MetaTensor tracking as the study trains; ``--meta`` keeps it; the cached preprocessing is done once before
  timing);
- forward: ``ITERATION_STARTED`` → ``FORWARD_COMPLETED`` (moving the batch and the network's forward pass);
- loss: → ``LOSS_COMPLETED``; backward: → ``BACKWARD_COMPLETED``; optimiser: → ``MODEL_COMPLETED``.

The first ``--warmup`` epochs are not timed (``torch.compile``'s compilation, allocator warm-up). Reported: the
median of each stage over the timed iterations, the step (their sum), the loss's share of the step, and the cost of
the whole budget at that step. Run on a quiet machine: nothing else may use the cores.

    python benchmarks/bench_train_step.py                      # every loss of the full setting, compiled
    python benchmarks/bench_train_step.py --eager --losses dice dice_ce
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("data", "forward", "loss", "backward", "optimiser")
ISOLATED = "loss_fb"  # the loss's forward + backward on the step's own logits, timed apart after the step


def _time_loss(spec, warmup: int, no_meta: bool = False) -> dict[str, list[float]]:
    import torch
    from ignite.engine import Events
    from monai.bundle import ConfigWorkflow
    from monai.engines.utils import IterationEvents

    from monai_segloss.app.training import _CompiledForward, bundle_config

    wf = ConfigWorkflow(**bundle_config(spec), run=["$@train#trainer.run()"])
    wf.initialize()
    trainer = wf.parser.get_parsed_content("train#trainer")
    if spec.compile:
        trainer.network = _CompiledForward(wf.parser.get_parsed_content("network"))
    marks: dict[str, float] = {}
    times: dict[str, list[float]] = {s: [] for s in (*STAGES, ISOLATED)}

    def mark(name: str):
        def _handler(engine) -> None:
            marks[name] = time.perf_counter()
        return _handler

    for event, name in ((Events.GET_BATCH_STARTED, "batch0"), (Events.GET_BATCH_COMPLETED, "batch1"),
                        (Events.ITERATION_STARTED, "start"), (IterationEvents.FORWARD_COMPLETED, "forward"),
                        (IterationEvents.LOSS_COMPLETED, "loss"), (IterationEvents.BACKWARD_COMPLETED, "backward"),
                        (IterationEvents.MODEL_COMPLETED, "model")):
        trainer.add_event_handler(event, mark(name))

    stash: dict = {}

    @trainer.on(IterationEvents.FORWARD_COMPLETED)
    def _stash(engine) -> None:  # the step's logits and label (the output is decollated by the end of the step)
        stash["pred"], stash["label"] = engine.state.output["pred"], engine.state.output["label"]
        stash["batch"] = engine.state.batch  # the maps handlers read the batch, decollated later in the step

    @trainer.on(Events.ITERATION_COMPLETED)
    def _collect(engine) -> None:
        if engine.state.epoch <= warmup:
            return
        times["data"].append(marks["batch1"] - marks["batch0"])
        times["forward"].append(marks["forward"] - marks["start"])
        times["loss"].append(marks["loss"] - marks["forward"])
        times["backward"].append(marks["backward"] - marks["loss"])
        times["optimiser"].append(marks["model"] - marks["backward"])
        # the loss stage above is the loss's forward only (its backward runs inside the network's): time both on
        # the step's logits, detached, with the step's batch still current (maps handlers read it)
        pred = stash["pred"].as_tensor() if hasattr(stash["pred"], "as_tensor") else stash["pred"]
        pred = pred.detach().clone().requires_grad_(True)
        label, batch = stash["label"], engine.state.batch
        engine.state.batch = stash["batch"]
        try:
            t0 = time.perf_counter()
            engine.loss_function(pred, label).backward()
            times[ISOLATED].append(time.perf_counter() - t0)
        finally:
            engine.state.batch = batch
            stash.clear()

    torch.set_num_threads(1)
    if no_meta:
        from monai.data import set_track_meta

        set_track_meta(False)
    try:
        wf.run()
    finally:
        if no_meta:
            set_track_meta(True)
    wf.finalize()
    return times


def main(argv: list[str] | None = None) -> int:
    from monai_segloss.app.shipped import bundle_dir
    from monai_segloss.app.study import SETTINGS, _Context, _spec, quiet_libraries
    from monai_segloss.app.study_source import synthetic_source

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--losses", nargs="+", default=None, help="default: the full setting's losses")
    p.add_argument("--epochs", type=int, default=4, help="epochs per loss, warm-up included (default 4)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs (default 1)")
    p.add_argument("--eager", action="store_true", help="no torch.compile")
    p.add_argument("--meta", action="store_true",
                   help="random transforms with MetaTensor tracking (the study turns it off, as by default here)")
    p.add_argument("--cache-dir", default=".demo_cache", help="the study's data cache")
    p.add_argument("--out", default="benchmarks/results/train_step", help="writes OUT.md and OUT.json")
    args = p.parse_args(argv)

    quiet_libraries()
    full = SETTINGS["full"]
    setting = dataclasses.replace(full, epochs=args.epochs, val_points=2, compile=not args.eager,
                                  losses=tuple(args.losses or full.losses))
    bundle = bundle_dir("lesion_focal_tversky")
    source = synthetic_source(full, args.cache_dir)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "logging.conf"
        from monai_segloss.app.training import QUIET_LOGGING

        log.write_text(QUIET_LOGGING)
        ctx = _Context(setting, Path(tmp) / "runs", source, bundle, log)
        for loss in setting.losses:
            spec = _spec(ctx, loss, full.lr_seed, 3e-3)
            times = _time_loss(spec, args.warmup, no_meta=not args.meta)
            med = {s: statistics.median(v) * 1000 for s, v in times.items()}
            step = sum(med[s] for s in STAGES)
            rows[loss] = {**{f"{s}_ms": med[s] for s in STAGES}, "step_ms": step, "loss_share": med["loss"] / step,
                          "loss_fb_ms": med[ISOLATED], "loss_fb_share": med[ISOLATED] / step,
                          "iterations_timed": len(times["data"]),
                          "budget_minutes": step * full.epochs * spec.steps_per_epoch / 60000}
            print(f"{loss:<15} " + " ".join(f"{s} {med[s]:6.1f}" for s in STAGES) +
                  f"  step {step:6.1f} ms  loss {100 * med['loss'] / step:4.1f} %  loss fwd+bwd "
                  f"{med[ISOLATED]:5.1f} ms ({100 * med[ISOLATED] / step:4.1f} %)", file=sys.stderr)
    import torch

    meta = {"torch": torch.__version__, "threads": 1, "compile": not args.eager, "track_meta": args.meta,
            "cpu_count": os.cpu_count(),
            "load_average": [round(v, 2) for v in os.getloadavg()], "patch": list(full.patch),
            "batch": f"{full.batch_size}x{full.num_samples}", "channels": list(full.channels),
            "budget_iterations": full.epochs * spec.steps_per_epoch}
    head = ("| loss | " + " | ".join(f"{s} (ms)" for s in STAGES) +
            " | step (ms) | loss share | loss fwd+bwd (ms) | fwd+bwd share | budget (min) |")
    lines = [f"Training step of the study ({'torch.compile' if not args.eager else 'eager'}, "
             f"{'with' if args.meta else 'without'} MetaTensor tracking in the random transforms, 1 thread, patch "
             f"{full.patch}, batch {full.batch_size}x{full.num_samples}, channels {list(full.channels)}; median over "
             f"{args.epochs - args.warmup} epochs after {args.warmup} warm-up; load average "
             f"{meta['load_average']}). The loss stage is the loss's forward; its backward runs inside the backward "
             f"stage. Loss fwd+bwd: the loss's forward and backward timed apart on each step's logits (detached), "
             f"its share of the step beside it.", "", head, "|---|" + "---:|" * (len(STAGES) + 5)]
    for loss, r in rows.items():
        lines.append(f"| `{loss}` | " + " | ".join(f"{r[f'{s}_ms']:.1f}" for s in STAGES) +
                     f" | {r['step_ms']:.1f} | {100 * r['loss_share']:.1f} % | {r['loss_fb_ms']:.1f} | "
                     f"{100 * r['loss_fb_share']:.1f} % | {r['budget_minutes']:.1f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
