#!/usr/bin/env bash
# Promote the 1600-epoch rerun (docs/study/full_1600, all 50 runs trained and evaluated) to docs/study/full; the
# 800-epoch study becomes docs/study/full_800 (its report then reads as "what changed with the budget").
# Usage: swap.sh [REPO]   (then: study run, study budget, sync_study, report re-generation: see wrapup.md)
set -euo pipefail
cd "${1:-.}"
n=$(ls docs/study/full_1600/runs/*/result.json | wc -l)
[ "$n" -ge 50 ] || { echo "only $n of 50 runs evaluated"; [ "${FORCE:-0}" = 1 ] || exit 1; }
git mv docs/study/full docs/study/full_800
git mv docs/study/full_1600 docs/study/full
# runs of the doubled-budget check trained ahead (train_budget_x2.py), if git mv left them behind
if [ -d docs/study/full_1600/budget_x2/runs ]; then
  mkdir -p docs/study/full/budget_x2/runs && mv docs/study/full_1600/budget_x2/runs/* docs/study/full/budget_x2/runs/
  rm -rf docs/study/full_1600
fi
# the 1600 study's doubled budget (3200 epochs, seed 0) is the 800 study's x4: the same runs (same fingerprints)
mkdir -p docs/study/full/budget_x2/runs
# the losses the budget rule checks (baseline + the two best by final validation lesion F1, mean over the seeds)
checked=$(/work/main/.venv/bin/python - <<'PY'
import collections, glob, json
from monai_segloss.app.curves import budget_check, loss_curve
runs = collections.defaultdict(list)
for f in sorted(glob.glob("docs/study/full/runs/*/training.json")):
    r = json.load(open(f))
    runs[r["loss"]].append(r)
print(" ".join(budget_check({k: loss_curve(v) for k, v in runs.items()}, "dice")["checked"]))
PY
)
echo "budget check losses: $checked"
for loss in $checked; do
  for d in docs/study/full_800/budget_x4/runs/${loss}-lr*; do [ -d "$d" ] && cp -r "$d" docs/study/full/budget_x2/runs/; done
done
printf '{\n "folders": ["../full_800"]\n}\n' > docs/study/full/shorter_budgets.json
# paths that named the 800 study or the rerun's folder
python3 - <<'PY'
from pathlib import Path
p = Path("docs/conf.py")
old = 'exclude_patterns = ["_build", "study/full/metrics.json", "study/full/runs", "study/full_1600"]  # a study in progress'
new = ('exclude_patterns = ["_build", "study/full/metrics.json", "study/full/runs", "study/full_800/metrics.json",\n'
       '                    "study/full_800/runs"]')
assert old in p.read_text()
p.write_text(p.read_text().replace(old, new))
PY
sed -i 's|docs/study/full/budget_x2)|docs/study/full_800/budget_x2)|; s|docs/study/full/budget_x4)|docs/study/full_800/budget_x4)|; s|(docs/study/full/runs: dice 0.941|(docs/study/full_800/runs: dice 0.941|; s|study (docs/study/full/runs: 37 grid|study (docs/study/full_800/runs: 37 grid|; s|docs/study/full_1600/lr_check|docs/study/full/lr_check|' monai_segloss/app/study.py
sed -i 's|(docs/study/full_1600/runs/)|(docs/study/full/runs/)|' tests/test_study.py
cat > docs/study.md <<'MD'
# The small-lesion study

The loss comparison behind the bundle defaults (`monai-segloss study --setting full`: 10 losses x 5 seeds at 24,000
iterations), rendered from the committed report in `docs/study/full/` (`report.md`, its figures and `metrics.json`);
the doubled-budget check of its baseline and its two best losses (`docs/study/full/budget_x2/`); the check of
`dice_ce`'s learning rate at this budget (`docs/study/full/lr_check/`); and the demo's report, read from the full
study's seed-0 runs of `dice` and `dice_ce` (`docs/study/demo/`).

What changed with the budget: the same study at 12,000 iterations (`docs/study/full_800/`), which failed the
doubled-budget check (its `budget_x2`) and whose losses at four times that budget (its `budget_x4`) showed that
24,000 iterations suffice.

```{toctree}
:maxdepth: 1

study/full/report
study/full/budget_x2/report
study/full/lr_check/report
study/demo/report
study/full_800/report
study/full_800/budget_x2/report
study/full_800/budget_x4/report
```
MD
git add -A docs/study docs/conf.py docs/study.md monai_segloss/app/study.py tests/test_study.py
echo "swapped: now run the study, the budget check, sync_study (wrapup.md)"
