#!/usr/bin/env bash
# (re)start the 24k-iteration rerun: code from a worktree at main's HEAD, runs into main's docs/study/full_1600/runs
set -u
mkdir -p /work/logs
pkill -f "study-run.*monai_segloss_cli" 2>/dev/null; sleep 1
cd /work/main
git worktree remove --force /work/study-run 2>/dev/null; rm -rf /work/study-run; git worktree prune
git worktree add -q --detach /work/study-run HEAD
cd /work/study-run
nohup /work/main/.venv/bin/python -c "import sys; sys.argv[0]='monai-segloss'; import monai_segloss_cli; sys.exit(monai_segloss_cli.main())" \
  study --setting full --runs-dir /work/main/docs/study/full_1600/runs --out /work/study-out \
  --cache-dir /work/studycache --workers 2 --threads 1 > /work/logs/study.log 2>&1 &
echo started $!
