#!/usr/bin/env bash
# Regenerates the committed tiny-scale reference leaderboards from scratch: every built-in method
# (base included) on hh, hhc, chat3 and chat10, seeds 0, 1 and 2, with every method's defaults.
#
#   bash reports/regenerate.sh            # runs under runs/leaderboard, JOBS=2 at a time
#
# Finished runs are skipped and interrupted ones resumed, so the command can be started again
# after a kill. It then writes reports/: one CSV and one Markdown table per task, the fronts of
# each task as a PNG, and the self-contained page leaderboard.html; and it checks the runs
# against reports/reference-metrics.json (rewrite that deliberately with UPDATE=1). Every run uses
# one torch thread whatever the machine (the numbers depend on the count: mobench/core/threads.py).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/leaderboard}
JOBS=${JOBS:-2}
TASKS=${TASKS:-hh,hhc,chat3,chat10}
SEEDS=${SEEDS:-0,1,2}
export CI=${CI:-true}

# One seed at a time, so that a regeneration stopped part-way already holds whole seeds; a failed
# run does not stop the other seeds, and the script stops before the report (run it again: the
# failed runs resume).
failed=0
for seed in ${SEEDS//,/ }; do
  mobench sweep --methods builtin --tasks "$TASKS" --seeds "$seed" --jobs "$JOBS" \
    --threads 1 --output "$RUNS" || failed=1
done
if [ "$failed" != 0 ]; then
  echo "regenerate: some runs failed (see above); run this script again to retry them" >&2
  exit 1
fi
mobench report "$RUNS" --csv reports --markdown reports --figures reports \
  --html reports/leaderboard.html
if [ "${UPDATE:-0}" = "1" ]; then
  mobench check "$RUNS" --baseline reports/reference-metrics.json --update
fi
mobench check "$RUNS" --baseline reports/reference-metrics.json
