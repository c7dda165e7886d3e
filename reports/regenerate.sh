#!/usr/bin/env bash
# Regenerates the committed tiny-scale leaderboard: every built-in method (base included) on hh,
# hhc, chat3 and chat10, seeds 0, 1 and 2, with every method's defaults, one torch thread per run.
#
#   bash reports/regenerate.sh            # runs under runs/leaderboard, JOBS=2 at a time
#
# Incremental: a run whose published result under reports/results is current (the modules it
# ran hash the same today, same threads and CPU kernels: mobench/run/published.py) is copied, not
# rerun; finished runs under runs/leaderboard are skipped and interrupted ones resumed, so the
# command can be started again after a kill. Each seed's runs are then published to
# reports/results (spec, metrics and records, compressed), and the tables, fronts and page are
# written from reports/results alone, so `mobench report reports/results ...` (below) rebuilds
# them byte for byte. Refused from a tree with uncommitted changes outside reports/ (which it rewrites as it goes): a committed number must come
# back from the commit that holds it. The runs are checked against reports/reference-metrics.json
# (rewrite it deliberately with UPDATE=1).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/leaderboard}
RESULTS=${RESULTS:-reports/results}
JOBS=${JOBS:-2}
DEFAULT_TASKS=hh,hhc,chat3,chat10
DEFAULT_SEEDS=0,1,2
TASKS=${TASKS:-hh,hhc,chat3,chat10}
SEEDS=${SEEDS:-0,1,2}
export CI=${CI:-true}

# (reports/ aside: the regeneration rewrites it as it goes, and may be run again after a stop)
if [ -n "$(git status --porcelain --untracked-files=no -- ':(top,exclude)reports')" ]; then
  echo "regenerate: the tree has uncommitted changes outside reports/; commit them first" >&2
  exit 1
fi
# One seed at a time, so that a regeneration stopped part-way already holds whole seeds; a failed
# run does not stop the other seeds, and the script stops before the report (run it again: the
# failed runs resume).
failed=0
for seed in ${SEEDS//,/ }; do
  mobench sweep --methods builtin --tasks "$TASKS" --seeds "$seed" --jobs "$JOBS" \
    --threads 1 --output "$RUNS" --reuse "$RESULTS" --publish "$RESULTS" || failed=1
done
if [ "$failed" != 0 ]; then
  echo "regenerate: some runs failed (see above); run this script again to retry them" >&2
  exit 1
fi
mobench report "$RESULTS" --csv reports --markdown reports --figures reports \
  --html reports/leaderboard.html
# The whole leaderboard is checked against the whole baseline (a baseline entry without a run
# fails); a regeneration of some seeds or tasks checks the runs it has against their entries.
given=()
if [ "$SEEDS" != "$DEFAULT_SEEDS" ] || [ "$TASKS" != "$DEFAULT_TASKS" ]; then
  given=(--given-only)
fi
if [ "${UPDATE:-0}" = "1" ]; then
  mobench check "$RESULTS" --baseline reports/reference-metrics.json --update "${given[@]}"
fi
mobench check "$RESULTS" --baseline reports/reference-metrics.json "${given[@]}"
