"""Evaluate every trained run of the rerun that lacks its result.json (or shipped.json), at 1 thread."""
import sys
import time
from pathlib import Path

from monai_segloss.app import study as S
from monai_segloss.app.training import finished_training

S._limit_threads(1)
S.quiet_libraries()
ctx = S._read_plan(Path("/work/study-out"))
chosen = dict(ctx.setting.learning_rates)
specs = [S._spec(ctx, loss, seed, chosen[loss]) for seed in ctx.setting.seeds for loss in ctx.setting.losses]
evaluation = S._evaluation(ctx)
for kind, spec in S._evaluation_jobs(ctx, specs, evaluation):
    if finished_training(spec) is None:
        continue
    t = time.time()
    print(f"{time.strftime('%H:%M:%S')} {kind} {spec.label}", flush=True)
    S._job(kind, spec, evaluation, lambda n: None)
    print(f"  done in {time.time() - t:.0f} s", flush=True)
sys.exit(0)
