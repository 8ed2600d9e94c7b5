#!/usr/bin/env bash
# Benchmark of `pai-provision plan --refresh=false` on the quickstart (the whole process: start,
# read the manifest, open the state read-only, diff, render, exit) against a state whose history
# is empty and against one holding HISTORY (default 100,000) history events: planning must not
# read the history, so the two should cost the same. Also times `state history` on the large one.
# Medians of RUNS runs, next to /bin/true and `--version` measured in the same run.
#
#   bash benches/plan.sh                 # RUNS=200, HISTORY=100000
#   RUNS=500 HISTORY=1000000 bash benches/plan.sh
#
# It prints a Markdown table for the `## plan` section of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-200}
history=${HISTORY:-100000}
manifest=${MANIFEST:-examples/quickstart.toml}
cargo build --release --quiet -p pai-provision
cargo build --release --quiet -p pai-state --example seed_history
bin=target/release/pai-provision
seed=target/release/examples/seed_history

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$seed" "$manifest" "$work/small.db" 0 >/dev/null
"$seed" "$manifest" "$work/large.db" "$history" >/dev/null

for db in small large; do
  "$bin" --state "$work/$db.db" plan --refresh=false --detailed-exitcode "$manifest" >/dev/null || {
    echo "plan on the $db state did not report \"no changes\"; nothing comparable to measure" >&2
    exit 1
  }
done

# Median wall time in microseconds of running "$@" $runs times (after 10 warm-up runs).
# EPOCHREALTIME (bash 5) reads the clock without forking, so the timer costs nothing.
median() {
  local n=$1 i start end times=()
  shift
  for ((i = 0; i < 10 && i < n; i++)); do "$@" >/dev/null 2>&1 || true; done
  for ((i = 0; i < n; i++)); do
    start=${EPOCHREALTIME/[.,]/}
    "$@" >/dev/null 2>&1 || true
    end=${EPOCHREALTIME/[.,]/}
    times+=($((10#$end - 10#$start)))
  done
  printf '%s\n' "${times[@]}" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

true_=$(median "$runs" /bin/true)
version=$(median "$runs" "$bin" --version)
small=$(median "$runs" "$bin" --state "$work/small.db" plan --refresh=false "$manifest")
large=$(median "$runs" "$bin" --state "$work/large.db" plan --refresh=false "$manifest")
history_runs=$((runs / 10 > 5 ? runs / 10 : 5))
hist_addr=$(median "$history_runs" "$bin" --state "$work/large.db" state history pai)
hist_all=$(median "$history_runs" "$bin" --state "$work/large.db" state history --format json)

ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
events=$history

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
echo "date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, ${cpu}, $(uname -sr), runs: $runs ($history_runs for state history)"
echo
echo "| process | median wall time | vs /bin/true | vs plan, empty history |"
echo "|---|---|---|---|"
echo "| \`/bin/true\` | $(ms "$true_") | 1.00 | |"
echo "| \`pai-provision --version\` | $(ms "$version") | $(ratio "$version" "$true_") | |"
echo "| \`plan --refresh=false\`, empty history | $(ms "$small") | $(ratio "$small" "$true_") | 1.00 |"
echo "| \`plan --refresh=false\`, $events history events | $(ms "$large") | $(ratio "$large" "$true_") | $(ratio "$large" "$small") |"
echo "| \`state history pai\` ($events events, all about it) | $(ms "$hist_addr") | $(ratio "$hist_addr" "$true_") | |"
echo "| \`state history --format json\` ($events events) | $(ms "$hist_all") | $(ratio "$hist_all" "$true_") | |"
echo
echo "With $events history events, plan costs $(ratio "$large" "$small")x what it costs with none."
