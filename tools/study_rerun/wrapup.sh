#!/usr/bin/env bash
# Steps 1-5 of wrapup.md, unattended: swap, demo patch, the study's report, the doubled-budget check, the defaults
# (sync_study), the shipped row, the re-reports and the demo. Usage: wrapup.sh REPO  (log: /work/logs/wrapup.log)
# Dry run on a clone beside training: WORKERS=1 THREADS=1 FORCE=1 (swap with fewer than 50 runs) SEEDS="0 1 2 3" (the trained seeds) SKIP_BUDGET=1.
set -euo pipefail
cd "$1"
PY=/work/main/.venv/bin/python
CACHE=/work/studycache
seg() { "$PY" -c "import sys; sys.argv[0]='monai-segloss'; import monai_segloss_cli; sys.exit(monai_segloss_cli.main())" "$@"; }
step() { echo; echo "== $(date +%H:%M:%S) $*"; }
step swap
bash tools/study_rerun/swap.sh .
git commit -qm "Study: the 24,000-iteration rerun becomes docs/study/full (50 runs); the 12,000-iteration study moves to docs/study/full_800; the rerun's doubled-budget check starts from the 800 study's 4x runs of the same losses"
step demo patch
git apply tools/study_rerun/demo_reuse.patch
git commit -qm "Demo: the full study's seed-0 runs of dice and dice_ce (reuse, 1600 epochs); a user's CPU study defaults to 1600 epochs" -- monai_segloss/app/study.py monai_segloss_cli.py docs/your_data.md tests/test_study.py
step full study report
seg study --setting full --runs-dir docs/study/full/runs --out docs/study/full --cache-dir "$CACHE" --workers ${WORKERS:-2} ${THREADS:+--threads $THREADS} ${SEEDS:+--seeds $SEEDS}
if [ "${SKIP_BUDGET:-0}" != 1 ]; then
  step budget check
  seg study budget docs/study/full --factor 2 --seeds 0 --workers 1 --threads 2
  seg study report docs/study/full
fi
step defaults
"$PY" tools/sync_study.py
git diff --stat -- bundles monai_segloss/app/study_evidence.json docs/which_loss.md
step shipped row of the new default
seg study --setting full --runs-dir docs/study/full/runs --out docs/study/full --cache-dir "$CACHE" --workers ${WORKERS:-2} ${THREADS:+--threads $THREADS} ${SEEDS:+--seeds $SEEDS}
"$PY" tools/sync_study.py
"$PY" tools/sync_study.py --check
step re-reports
for f in docs/study/full_800 docs/study/full_800/budget_x2 docs/study/full_800/budget_x4 docs/study/full/lr_check; do
  seg study report "$f"
done
step demo
before=$(git status --porcelain -- docs/study/full/runs)
seg demo --runs-dir docs/study/full/runs --out docs/study/demo --cache-dir "$CACHE" --workers ${WORKERS:-2} ${THREADS:+--threads $THREADS}
if [ "$(git status --porcelain -- docs/study/full/runs)" != "$before" ]; then echo "WARNING: the demo changed docs/study/full/runs"; git status --short -- docs/study/full/runs | head; fi
step done
git status --short | grep -v "^??" | head -40
