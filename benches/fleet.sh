#!/usr/bin/env bash
# Benchmarks of `fleet plan` (issue 13), for the `## fleet` section of docs/benchmarks.md. Whole
# processes, every ratio between numbers of this one run:
#
# 1. `fleet plan` of ACCOUNTS (default 1,000) accounts x 4 regions, one shared manifest (one
#    ListProducts per region: 4,000 ListProducts and 1,000 AssumeRole), against a separate
#    `pai-provision emulator --fleet` process listening on the 4 regions, with LATENCY_MS (50)
#    injected into every API request and with 0 ms. Critical path for concurrency c:
#    ceil(N / c) x 2 round trips (AssumeRole, then the account's 4 ListProducts at once) x
#    LATENCY_MS, plus the same run at 0 ms. With the default --concurrency 128 and with each of
#    CONCURRENCY (default "32 512").
# 2. The same fleet planned as a script does it today: one `pai-provision plan` process per
#    account, 8 at a time (`xargs -P 8`), each with its own state file and its account's aliyun
#    CLI profile (mode RamRoleArn: the base key assumes that account's role).
# 3. Growth: SIZES (100, 1,000, 10,000) accounts at 0 ms, and GROWTH_LATENCY_SIZES (100, 1,000)
#    at LATENCY_MS: wall time and peak RSS, and per account.
#
# Each fleet row is the median of RUNS runs (default 3), the rows run round by round; the
# scripted rows run once per round too. Peak RSS is the process's (benches/rusage.py, wait4).
# Every run must plan every account (`--detailed-exitcode` 2: changes, none unplanned).
#
#   bash benches/fleet.sh
#   RUNS=5 SIZES="100 1000" bash benches/fleet.sh
#   ACCOUNTS=200 SCRIPTED=200 LATENCY_MS=50 bash benches/fleet.sh
#   STS_RATE=50 bash benches/fleet.sh      # the default pace of AssumeRole (see docs/fleet.md)
#
# It prints Markdown tables for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
latency=${LATENCY_MS:-50}
accounts=${ACCOUNTS:-1000}
concurrency=${CONCURRENCY:-32 512}
# `fleet plan`'s default --concurrency (crates/fleet/src/run/mod.rs, DEFAULT_CONCURRENCY).
default_c=128
scripted=${SCRIPTED:-$accounts}
sizes=${SIZES:-100 1000 10000}
growth_latency_sizes=${GROWTH_LATENCY_SIZES:-100 1000}
jobs=${JOBS:-8}
# The emulator's STS has no rate limit; the real one answers 100 AssumeRole a second per caller
# account, and `fleet plan` paces itself to --sts-rate (default 50). These runs measure the tool,
# so the pace is set out of the way; at the default, N accounts cost at least N / 50 seconds.
sts_rate=${STS_RATE:-10000}
((latency > 0)) || { echo "LATENCY_MS must be above 0: the 0 ms runs are measured anyway" >&2; exit 2; }

cargo build --release --quiet -p pai-provision
bin=$PWD/target/release/pai-provision
gen="python3 $PWD/benches/fleet_gen.py"
rusage="python3 $PWD/benches/rusage.py"

work=$(mktemp -d)
emulator_pids=()
cleanup() {
  for pid in "${emulator_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

largest=$accounts
for n in $sizes $growth_latency_sizes $scripted; do ((n > largest)) && largest=$n; done

# The base credentials: the emulator's documented default key, which every role trusts.
export ALIBABA_CLOUD_ACCESS_KEY_ID=emulator ALIBABA_CLOUD_ACCESS_KEY_SECRET=emulator-secret
unset ALIBABA_CLOUD_SECURITY_TOKEN PAI_PROVISION_STATE

regions=(cn-hangzhou cn-shanghai cn-beijing cn-shenzhen)
# shellcheck source=benches/fleet_emulator.sh
source benches/fleet_emulator.sh

# start_emulator LATENCY: an emulator serving the largest fleet in $work/lat$LATENCY, whose
# manifest.toml then names its listeners. Sets sts_$LATENCY to its first listener.
start_emulator() {
  local lat=$1 dir=$work/lat$1
  mkdir -p "$dir"
  # The fleet file needs its manifest to exist; the real endpoints are known once it listens.
  $gen manifest "$dir" "${regions[@]/%/=http://127.0.0.1:1}" >/dev/null
  $gen fleet "$dir" "$largest" >/dev/null
  start_fleet_emulator "$dir" "$dir/fleet-$largest.toml" "$lat"
  emulator_pids+=("$fleet_emulator_pid")
  eval "emulator_pid_$lat=$fleet_emulator_pid"
  eval "sts_$lat=$fleet_sts"
  local served=$fleet_served
  echo "emulator ($lat ms): $served" >&2
}

# fleet_run LATENCY N CONCURRENCY -> "wall_us rss_kib"
fleet_run() {
  local lat=$1 n=$2 c=$3 dir=$work/lat$1 sts
  sts=$(eval "echo \$sts_$lat")
  [[ -f $dir/fleet-$n.toml ]] || $gen fleet "$dir" "$n" >/dev/null
  local states=$dir/states-$n-$c
  rm -rf "$states"
  ALIBABA_CLOUD_STS_ENDPOINT=$sts $rusage "$dir/measured" "$bin" --state "$states" fleet plan --detailed-exitcode \
    --concurrency "$c" --sts-rate "$sts_rate" "$dir/fleet-$n.toml" 2>"$dir/plan.err" >"$dir/plan.out"
  set -- $(cat "$dir/measured")
  if [[ $3 != 2 ]]; then
    echo "fleet plan of $n accounts at $lat ms (concurrency $c) exited $3, not 2 (changes, all planned):" >&2
    tail -20 "$dir/plan.out" "$dir/plan.err" >&2
    exit 1
  fi
  echo "$1 $2"
}

# scripted_run LATENCY N -> "wall_us rss_kib": one `plan` process per account, $jobs at once.
scripted_run() {
  local lat=$1 n=$2 dir=$work/lat$1
  local states=$dir/scripted-$n
  rm -rf "$states"
  mkdir -p "$states"
  $gen accounts "$dir" "$n" >"$dir/ids-$n"
  # As a user scripts it: each account's role assumed by its own aliyun CLI profile (mode
  # RamRoleArn: the base key, and the role that account's plan acts in).
  local home=$dir/home-$n sts
  sts=$(eval "echo \$sts_$lat")
  mkdir -p "$home/.aliyun"
  python3 - "$dir/ids-$n" "$home/.aliyun/config.json" "$ALIBABA_CLOUD_ACCESS_KEY_ID" "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" <<'PY'
import json, sys
ids = open(sys.argv[1]).read().split()
profiles = [{"name": i, "mode": "RamRoleArn", "access_key_id": sys.argv[3], "access_key_secret": sys.argv[4],
             "ram_role_arn": f"acs:ram::{i}:role/pai-provision"} for i in ids]
json.dump({"current": ids[0], "profiles": profiles}, open(sys.argv[2], "w"))
PY
  HOME=$home ALIBABA_CLOUD_STS_ENDPOINT=$sts ALIBABA_CLOUD_ACCESS_KEY_ID= ALIBABA_CLOUD_ACCESS_KEY_SECRET= \
    $rusage "$dir/measured" xargs -P "$jobs" -I{} "$bin" --state "$states/{}.db" plan --profile {} "$dir/manifest.toml" \
    <"$dir/ids-$n" 2>"$dir/scripted.err" >/dev/null
  set -- $(cat "$dir/measured")
  if [[ $3 != 0 ]]; then
    echo "the scripted plans of $n accounts at $lat ms exited $3:" >&2
    tail -20 "$dir/scripted.err" >&2
    exit 1
  fi
  echo "$1 $2"
}

start_emulator 0
start_emulator "$latency"

# The rows: key = "kind latency N concurrency".
rows=()
for n in $sizes; do rows+=("fleet 0 $n $default_c"); done
rows+=("fleet 0 $accounts $default_c")
for c in $concurrency; do rows+=("fleet 0 $accounts $c"); done
for n in $growth_latency_sizes; do rows+=("fleet $latency $n $default_c"); done
rows+=("fleet $latency $accounts $default_c")
for c in $concurrency; do rows+=("fleet $latency $accounts $c"); done
rows+=("scripted 0 $scripted $jobs" "scripted $latency $scripted $jobs")
# Each row once, in this order.
mapfile -t rows < <(printf '%s\n' "${rows[@]}" | awk '!seen[$0]++')

declare -A walls rsses
load_start=$(cut -d' ' -f1 /proc/loadavg)
for ((round = 0; round < runs; round++)); do
  for ((i = 0; i < ${#rows[@]}; i++)); do
    row=${rows[(i + round) % ${#rows[@]}]}
    set -- $row
    if [[ $1 = fleet ]]; then result=$(fleet_run "$2" "$3" "$4"); else result=$(scripted_run "$2" "$3"); fi
    set -- $result
    walls[$row]+="$1 "
    rsses[$row]+="$2 "
    echo "round $((round + 1))/$runs: $row: $(awk -v us="$1" 'BEGIN { printf "%.2f s", us / 1e6 }'), $(($2 / 1024)) MiB" >&2
  done
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

median() { printf '%s\n' $1 | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
wall() { median "${walls[$1]}"; }
rss() { median "${rsses[$1]}"; }
secs() { awk -v us="$1" 'BEGIN { printf "%.2f s", us / 1e6 }'; }
mb() { awk -v kib="$1" 'BEGIN { printf "%.1f MB", kib * 1024 / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
waves() { echo $(((($1 + $2 - 1) / $2) * 2)); }
emulator_rss() { awk '/VmHWM/ { printf "%.1f MB", $2 * 1024 / 1e6 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
echo "date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, ${cpu}, $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo) RAM; runs: $runs per row (median), load average $load_start at the start, $load_end at the end"
echo
echo "### fleet plan: $accounts accounts x 4 regions, $latency ms injected latency"
echo
echo "| process | median wall time | peak RSS | round-trip waves | critical path | wall / critical path |"
echo "|---|---|---|---|---|---|"
for c in $default_c $concurrency; do
  t0=$(wall "fleet 0 $accounts $c")
  tl=$(wall "fleet $latency $accounts $c")
  w=$(waves "$accounts" "$c")
  cp=$((t0 + w * latency * 1000))
  echo "| \`fleet plan --concurrency $c\`, 0 ms | $(secs "$t0") | $(mb "$(rss "fleet 0 $accounts $c")") | | | |"
  echo "| \`fleet plan --concurrency $c\`, $latency ms | $(secs "$tl") | $(mb "$(rss "fleet $latency $accounts $c")") | $w | $(secs "$cp") | **$(ratio "$tl" "$cp")** |"
done
for lat in 0 "$latency"; do
  ts=$(wall "scripted $lat $scripted $jobs")
  echo "| $scripted \`plan\` processes, $jobs at once, $lat ms | $(secs "$ts") | $(mb "$(rss "scripted $lat $scripted $jobs")") (largest process) | | | |"
done
echo
echo "critical path = ceil(N / concurrency) x 2 waves x $latency ms + the same run at 0 ms (target: wall / critical path <= 1.30)"
echo
echo "### fleet plan vs one \`plan\` process per account ($scripted accounts, $jobs at once)"
echo
echo "| latency | scripted | \`fleet plan\` | concurrency | scripted / fleet |"
echo "|---|---|---|---|---|"
for lat in 0 "$latency"; do
  ts=$(wall "scripted $lat $scripted $jobs")
  for c in $default_c $concurrency; do
    row="fleet $lat $scripted $c"
    [[ -n ${walls[$row]:-} ]] || { echo "| $lat ms | $(secs "$ts") | (not measured at $scripted accounts) | $c | |"; continue; }
    echo "| $lat ms | $(secs "$ts") | $(secs "$(wall "$row")") | $c | **$(ratio "$ts" "$(wall "$row")")x** |"
  done
done
echo
echo "target: the fleet command at least 10x faster"
echo
echo "### fleet plan: growth (--concurrency $default_c, the default)"
echo
echo "| accounts | latency | median wall time | per account | peak RSS | per account | wall / critical path |"
echo "|---|---|---|---|---|---|---|"
for lat in 0 "$latency"; do
  for n in $(printf '%s\n' $sizes $growth_latency_sizes $accounts | sort -n | uniq); do
    row="fleet $lat $n $default_c"
    [[ -n ${walls[$row]:-} ]] || continue
    t=$(wall "$row")
    m=$(rss "$row")
    cpcol=""
    if ((lat > 0)) && [[ -n ${walls["fleet 0 $n $default_c"]:-} ]]; then
      cp=$(($(wall "fleet 0 $n $default_c") + $(waves "$n" "$default_c") * lat * 1000))
      cpcol=$(ratio "$t" "$cp")
    fi
    echo "| $n | $lat ms | $(secs "$t") | $(awk -v us="$t" -v n="$n" 'BEGIN { printf "%.2f ms", us / n / 1000 }') | $(mb "$m") | $(awk -v kib="$m" -v n="$n" 'BEGIN { printf "%.1f KB", kib * 1.024 / n }') | $cpcol |"
  done
done
echo
echo "emulator peak RSS (serving $largest accounts, after every run): $(emulator_rss "$emulator_pid_0") at 0 ms, $(emulator_rss "$(eval "echo \$emulator_pid_$latency")") at $latency ms"
