#!/usr/bin/env bash
# Benchmark of `pai-provision validate examples/quickstart.toml`: the whole process (start,
# read, parse, check, exit), the median of RUNS runs, next to the median of a trivial process
# measured in the same run so that the numbers of different machines can be compared.
#
#   bash benches/validate.sh            # RUNS=200 by default
#   RUNS=1000 bash benches/validate.sh
#
# It prints a Markdown table for the `## validate` section of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-200}
manifest=${MANIFEST:-examples/quickstart.toml}
cargo build --release --quiet -p pai-provision
bin=target/release/pai-provision

"$bin" validate "$manifest" >/dev/null || {
  echo "validate failed on $manifest; nothing to measure" >&2
  exit 1
}

# Median wall time in microseconds of running "$@" $runs times (after 10 warm-up runs).
# EPOCHREALTIME (bash 5) reads the clock without forking, so the timer costs nothing.
median() {
  local i start end times=()
  for ((i = 0; i < 10; i++)); do "$@" >/dev/null 2>&1 || true; done
  for ((i = 0; i < runs; i++)); do
    start=${EPOCHREALTIME/[.,]/}
    "$@" >/dev/null 2>&1 || true
    end=${EPOCHREALTIME/[.,]/}
    times+=($((10#$end - 10#$start)))
  done
  printf '%s\n' "${times[@]}" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

validate=$(median "$bin" validate "$manifest")
version=$(median "$bin" --version)
true_=$(median /bin/true)

ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
echo "date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, ${cpu}, $(uname -sr), runs: $runs"
echo
echo "| process | median wall time | vs /bin/true |"
echo "|---|---|---|"
echo "| \`/bin/true\` | $(ms "$true_") | 1.00 |"
echo "| \`pai-provision --version\` | $(ms "$version") | $(ratio "$version" "$true_") |"
echo "| \`pai-provision validate $manifest\` | $(ms "$validate") | $(ratio "$validate" "$true_") |"
echo
echo "validate costs $(ratio "$validate" "$version")x a bare start of the same binary."
