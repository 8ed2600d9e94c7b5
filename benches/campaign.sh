#!/usr/bin/env bash
# The long fault campaign: RUNS seeded scenarios (1,000 by default) of the same test CI runs 50
# of (crates/cli/tests/fault_campaign.rs), in a release build. Each scenario applies a manifest
# against an emulator injecting latency, throttling, 5xx, dropped and late responses, kills
# applies with SIGKILL at random moments, applies again until one succeeds, and checks that the
# ledger holds exactly one order per product (with REALISM, OSS one order for the account, as the
# preset's oss_account_wide has it) and that the state agrees with it.
#
#   bash benches/campaign.sh                 # RUNS=1000, SEED=1, JOBS=4
#   RUNS=200 SEED=77 JOBS=2 bash benches/campaign.sh
#   REALISM=scaled RUNS=100 bash benches/campaign.sh   # the realistic preset, delays scaled down
#
# REALISM is passed as PAI_CAMPAIGN_REALISM: `scaled`, or a realism spec applied on top of the
# realistic preset (docs/emulator.md, "Realism"); unset, the kind emulator.
#
# It prints the campaign's totals (runs, applies, kills, faults seen, orders, duplicates) and
# exits non-zero if any scenario failed, naming the seed of each failure.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-1000}
seed=${SEED:-1}
jobs=${JOBS:-4}
realism=${REALISM:-}

cargo test --release --quiet -p pai-provision --test fault_campaign --no-run

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
echo "date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, ${cpu}, $(uname -sr); runs: $runs, first seed: $seed, jobs: $jobs, realism: ${realism:-none}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
realism_env=()
if [ -n "$realism" ]; then
  realism_env=(PAI_CAMPAIGN_REALISM="$realism")
fi
env "${realism_env[@]}" PAI_CAMPAIGN_RUNS=$runs PAI_CAMPAIGN_SEED=$seed PAI_CAMPAIGN_JOBS=$jobs \
  cargo test --release --quiet -p pai-provision --test fault_campaign -- \
  --exact exactly_one_order_per_product_under_faults_and_kills --nocapture >"$log" 2>&1 || status=$?

if ! grep '^campaign: ' "$log"; then
  cat "$log"
  echo "the campaign printed no totals" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  grep -E '^(seed |  )' "$log" || cat "$log"
  exit "$status"
fi
