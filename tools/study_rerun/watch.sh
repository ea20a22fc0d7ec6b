#!/usr/bin/env bash
# every 4 min until HH:MM (arg 1): evaluate finished runs, commit evaluated runs of docs/study/full_1600/runs
END="$1"
END_S=$(date -d "$END" +%s); [ "$END_S" -lt "$(date +%s)" ] && END_S=$((END_S+86400))  # past midnight
while [ "$(date +%s)" -lt "$END_S" ]; do
  /work/main/tools/study_rerun/eval_finished.sh
  cd /work/main
  new=""
  for d in docs/study/full_1600/runs/*/; do
    d=${d%/}
    [ -f "$d/result.json" ] || continue
    if [ -n "$(git status --porcelain -- "$d")" ]; then git add -- "$d"; new="$new $(basename "$d" | sed 's/-lr.*-seed/ s/; s/-[0-9a-f]*$//')"; fi
  done
  if [ -n "$new" ]; then
    n=$(ls docs/study/full_1600/runs/*/result.json | wc -l)
    git commit -q -m "Full study at 24,000 iterations:${new} trained and evaluated ($n of 50 runs)" -- docs/study/full_1600/runs && echo "$(date +%H:%M) committed:$new ($n)"
  fi
  sleep 240
done
echo "$(date +%H:%M) watch ends"
