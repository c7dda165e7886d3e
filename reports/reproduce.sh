#!/usr/bin/env bash
# Re-runs a sample of the committed runs from scratch with the committed protocol (defaults, one
# torch thread per run) and requires the committed numbers: CI's proof that the code it tests
# still makes the committed leaderboard. Default sample: the six cheapest methods on hh, seed 0.
#
#   bash reports/reproduce.sh                                   # into runs/reproduce
#   METHODS=dps,modpo TASKS=hhc SEEDS=1 bash reports/reproduce.sh
#
# The tolerance is reports/reference-metrics.json's (float64 rounding: see its "about" note).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/reproduce}
METHODS=${METHODS:-base,panacea,rewarded-soups,ric,pama,best-of-n}
TASKS=${TASKS:-hh}
SEEDS=${SEEDS:-0}
JOBS=${JOBS:-2}
export CI=${CI:-true}

mobench sweep --methods "$METHODS" --tasks "$TASKS" --seeds "$SEEDS" --jobs "$JOBS" --threads 1 \
  --output "$OUT"
mobench check "$OUT" --baseline reports/reference-metrics.json --given-only
