#!/usr/bin/env bash
# run from /work/study-run so that the worktree's code is used
[ -f /work/study-out/study.json ] || exit 0
pgrep -f eval_finished.py >/dev/null && exit 0
cd /work/study-run && PYTHONPATH=/work/study-run OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /work/main/.venv/bin/python /work/main/tools/study_rerun/eval_finished.py >> /work/logs/eval_finished_py.log 2>&1
