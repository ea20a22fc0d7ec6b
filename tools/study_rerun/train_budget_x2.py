"""Train one run of the rerun's doubled-budget check (seed 0, twice the full setting's epochs) before the study is
complete, exactly as ``monai-segloss study budget docs/study/full --factor 2 --seeds 0`` would (the same spec, so
the same fingerprint and folder), into docs/study/full_1600/budget_x2/runs; swap.sh moves it with the study.

Usage (from the worktree /work/study-run, PYTHONPATH=.): python tools/study_rerun/train_budget_x2.py LOSS [--check]
--check only prints the folder names of LOSS and of dice / dice_focal (these two must equal those in
docs/study/full_800/budget_x4/runs).
"""
import dataclasses
import sys
from pathlib import Path

from monai_segloss.app import study as S
from monai_segloss.app.training import train_run

S._limit_threads(int(__import__("os").environ.get("THREADS", "1")))
S.quiet_libraries()
ctx = S._read_plan(Path("/work/study-out"))
setting = ctx.setting
rates = dict(setting.learning_rates)
out = Path("/work/main/docs/study/full_1600/budget_x2")
out.mkdir(parents=True, exist_ok=True)
(out / ".logging.conf").write_text(S.QUIET_LOGGING)
loss = sys.argv[1]
losses = (loss, "dice", "dice_focal") if "--check" in sys.argv else (loss,)
for name in losses:
    longer = dataclasses.replace(setting, name=f"{setting.name}_x2", losses=(name,), seeds=(0,), lr_seed=0,
                                 epochs=setting.epochs * 2, learning_rates=((name, rates[name]),))
    lctx = S._Context(longer, out / "runs", ctx.source, ctx.bundle, out / ".logging.conf")
    spec = S._spec(lctx, name, 0, rates[name])
    print(Path(spec.run_dir).name, flush=True)
    if "--check" not in sys.argv:
        train_run(spec)
        print("trained", spec.run_dir, flush=True)
