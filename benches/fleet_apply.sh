#!/usr/bin/env bash
# Benchmarks of `fleet apply` (issue 21), for the `## fleet apply` section of docs/benchmarks.md.
# Whole processes, every ratio between numbers of this one run:
#
# 1. `fleet apply --auto-approve FLEET` of ACCOUNTS (default 1,000) accounts x 4 regions, one
#    shared manifest (two products per region, nothing bought: 8 products, 4 orders per account),
#    against a separate `pai-provision emulator --fleet` process listening on the 4 regions, with
#    LATENCY_MS (50) injected into every API request, and with 0 ms (for the critical path).
#    Critical path for concurrency c: the run plans every account first (AssumeRole, then the
#    account's 4 ListProducts at once: 2 round trips), then applies each (its role is the one
#    the plan assumed, cached for the run; under its state's lock it is planned again, 4
#    ListProducts at once, then its 4 CreateProductOrders at once: 2 round trips), so
#    ceil(N / c) x 4 round trips x LATENCY_MS, plus the same run at 0 ms.
# 2. The same fleet applied as a script does it today: one `pai-provision apply --auto-approve`
#    process per account, JOBS (8) at a time (`xargs -P 8`), each with its own state file and its
#    account's aliyun CLI profile (mode RamRoleArn: the base key assumes that account's role):
#    AssumeRole, ListProducts, CreateProductOrders, 3 round trips per account.
# 3. The line count of `fleet plan`'s human output (stdout) for ACCOUNTS identical accounts.
#
# An apply buys: every measured run gets a fresh emulator (its ledger in memory) and fresh
# states, both set up outside the timed window. Each run is checked: it exits 0, and the
# emulator's ledger holds exactly one order per account and region, for both products, and
# nothing else. Each row is the median of RUNS runs (default 3), the rows run round by round.
# Besides wall time and peak RSS, it reports the CPU time of the measured process (`xargs` with
# its children) and of the emulator during it: where the emulator's CPU is close to the wall
# time, the emulator is the bound, not the client.
#
#   bash benches/fleet_apply.sh
#   ACCOUNTS=50 RUNS=1 bash benches/fleet_apply.sh          # a quick check of the script
#   BIN=target/release/pai-provision bash benches/fleet_apply.sh   # no build
#   CONCURRENCY=512 LATENCY_MS=20 JOBS=16 bash benches/fleet_apply.sh
#
# Environment: ACCOUNTS (1000), LATENCY_MS (50), RUNS (3), JOBS (8), CONCURRENCY (fleet apply's
# default, 128), STS_RATE (10000), BIN (the binary; built when not given).
# It prints Markdown tables for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-3}
latency=${LATENCY_MS:-50}
accounts=${ACCOUNTS:-1000}
jobs=${JOBS:-8}
# The emulator's STS has no rate limit; the real one answers 100 AssumeRole a second per caller
# account, and the fleet commands pace themselves to --sts-rate (default 50). These runs measure
# the tool, so the pace is set out of the way, as benches/fleet.sh does.
sts_rate=${STS_RATE:-10000}
((latency > 0)) || { echo "LATENCY_MS must be above 0: the 0 ms runs are measured anyway" >&2; exit 2; }

if [[ -n ${BIN:-} ]]; then
  bin=$(realpath "$BIN")
else
  cargo build --release --quiet -p pai-provision
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/pai-provision
  bin=$(realpath "$bin")
fi
[[ -x $bin ]] || { echo "no binary at $bin" >&2; exit 2; }
# `fleet apply`'s default --concurrency (crates/fleet/src/run/mod.rs, DEFAULT_CONCURRENCY), as
# its --help says it.
default_c=$("$bin" fleet apply --help | awk '/^ *--concurrency / { on = 1 } on && /\[default: [0-9]+\]/ { gsub(/[^0-9]/, ""); print; exit }')
concurrency=${CONCURRENCY:-$default_c}
((accounts > 0 && runs > 0 && jobs > 0 && concurrency > 0)) || { echo "ACCOUNTS, RUNS, JOBS and CONCURRENCY must be above 0" >&2; exit 2; }
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

# The base credentials: the emulator's documented default key, which every role trusts.
export ALIBABA_CLOUD_ACCESS_KEY_ID=emulator ALIBABA_CLOUD_ACCESS_KEY_SECRET=emulator-secret
unset ALIBABA_CLOUD_SECURITY_TOKEN PAI_PROVISION_STATE

regions=(cn-hangzhou cn-shanghai cn-beijing cn-shenzhen)
# start_fleet_emulator sets these.
fleet_emulator_pid='' fleet_sts=''
# shellcheck source=benches/fleet_emulator.sh disable=SC1091
source benches/fleet_emulator.sh

# start_emulator DIR LATENCY: a fresh emulator (an empty ledger, in memory) serving the fleet of
# $accounts accounts in DIR, whose manifest.toml then names its listeners. Sets `emulator_pid`
# and `sts` (its first listener).
start_emulator() {
  local dir=$1 lat=$2
  mkdir -p "$dir"
  # The fleet file needs its manifest to exist; the real endpoints are known once it listens.
  $gen manifest "$dir" "${regions[@]/%/=http://127.0.0.1:1}" >/dev/null
  $gen fleet "$dir" "$accounts" >/dev/null
  start_fleet_emulator "$dir" "$dir/fleet-$accounts.toml" "$lat"
  emulator_pid=$fleet_emulator_pid
  emulator_pids+=("$emulator_pid")
  sts=$fleet_sts
}

# emulator_cpu: the emulator's CPU time so far (user and system), in µs.
clk_tck=$(getconf CLK_TCK)
emulator_cpu() {
  awk -v hz="$clk_tck" '{ printf "%d", ($14 + $15) * 1e6 / hz }' "/proc/$emulator_pid/stat"
}

stop_emulator() {
  kill "$emulator_pid" 2>/dev/null || true
  wait "$emulator_pid" 2>/dev/null || true
}

# check_ledger WHAT: the emulator's ledger holds exactly one order per account and region, each
# for the region's two products, and no other order.
check_ledger() {
  local what=$1
  curl -fsS "$sts/_emulator/ledger" >"$dir/ledger.json"
  if ! python3 - "$dir/ledger.json" "$accounts" "${regions[@]}" <<'PY' >&2; then
import collections, json, sys
ledger = json.load(open(sys.argv[1]))
n, regions = int(sys.argv[2]), sys.argv[3:]
accounts = [str(2_000_000_000_000_000 + i) for i in range(1, n + 1)]
want = {(a, r) for a in accounts for r in regions}
orders = collections.Counter((o.get("Account"), o.get("Region")) for o in ledger["orders"])
bad = []
missing = want - set(orders)
extra = set(orders) - want
twice = {k: c for k, c in orders.items() if c > 1}
products = [o for o in ledger["orders"] if sorted(o["ProductCodes"]) != ["DataWorks_share", "PAI_share"]]
if missing: bad.append(f"{len(missing)} account/region pairs without an order, e.g. {sorted(missing)[:3]}")
if extra: bad.append(f"{len(extra)} orders outside the fleet's accounts and regions, e.g. {sorted(extra)[:3]}")
if twice: bad.append(f"{len(twice)} account/region pairs ordered more than once, e.g. {sorted(twice.items())[:3]}")
if products: bad.append(f"{len(products)} orders not for DataWorks_share and PAI_share")
if ledger.get("refusals"): bad.append(f"{len(ledger['refusals'])} refused orders")
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
    echo "$what: the ledger is not one order per account and region" >&2
    exit 1
  fi
}

# fleet_run ROUND LATENCY: one `fleet apply` on a fresh emulator and fresh states. Sets `wall`
# (µs), `rss` (KiB), `cpu` (µs, the measured process's) and `emu` (µs, the emulator's CPU).
fleet_run() {
  local round=$1 lat=$2
  dir=$work/fleet-$lat-$round
  start_emulator "$dir" "$lat"
  emu_start=$(emulator_cpu)
  ALIBABA_CLOUD_STS_ENDPOINT=$sts $rusage "$dir/measured" "$bin" --state "$dir/states" fleet apply --auto-approve \
    --concurrency "$concurrency" --sts-rate "$sts_rate" "$dir/fleet-$accounts.toml" 2>"$dir/apply.err" >"$dir/apply.out"
  local code
  read -r wall rss code cpu <"$dir/measured"
  emu=$(($(emulator_cpu) - emu_start))
  local totals="Fleet apply: $accounts accounts, $((accounts * 8)) products ordered, 0 failed, 0 not started."
  if [[ $code != 0 ]] || ! grep -qxF "$totals" "$dir/apply.out"; then
    echo "fleet apply of $accounts accounts at $lat ms (concurrency $concurrency) exited $code (want 0, and \"$totals\"):" >&2
    tail -5 "$dir/apply.out" >&2
    tail -20 "$dir/apply.err" >&2
    exit 1
  fi
  check_ledger "fleet apply at $lat ms"
  stop_emulator
  rm -rf "$dir"
}

# The scripted baseline's credentials, as a user scripts it: one aliyun CLI profile per account
# (mode RamRoleArn: the base key, and the role that account's apply acts in).
home=$work/home
mkdir -p "$home/.aliyun"
$gen accounts "$work" "$accounts" >"$work/ids"
python3 - "$work/ids" "$home/.aliyun/config.json" "$ALIBABA_CLOUD_ACCESS_KEY_ID" "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" <<'PY'
import json, sys
ids = open(sys.argv[1]).read().split()
profiles = [{"name": i, "mode": "RamRoleArn", "access_key_id": sys.argv[3], "access_key_secret": sys.argv[4],
             "ram_role_arn": f"acs:ram::{i}:role/pai-provision"} for i in ids]
json.dump({"current": ids[0], "profiles": profiles}, open(sys.argv[2], "w"))
PY

# scripted_run ROUND LATENCY: one `apply` process per account, $jobs at once, on a fresh emulator
# and fresh states. Sets `wall`, `rss` (the largest process), `cpu` (every process's) and `emu`,
# as fleet_run does.
scripted_run() {
  local round=$1 lat=$2
  dir=$work/scripted-$lat-$round
  start_emulator "$dir" "$lat"
  mkdir -p "$dir/states"
  emu_start=$(emulator_cpu)
  HOME=$home ALIBABA_CLOUD_STS_ENDPOINT=$sts ALIBABA_CLOUD_ACCESS_KEY_ID='' ALIBABA_CLOUD_ACCESS_KEY_SECRET='' \
    $rusage "$dir/measured" xargs -P "$jobs" -I{} "$bin" --state "$dir/states/{}.db" apply --auto-approve \
    --profile {} "$dir/manifest.toml" <"$work/ids" 2>"$dir/scripted.err" >/dev/null
  local code
  read -r wall rss code cpu <"$dir/measured"
  emu=$(($(emulator_cpu) - emu_start))
  if [[ $code != 0 ]]; then
    echo "the scripted applies of $accounts accounts at $lat ms exited $code:" >&2
    tail -20 "$dir/scripted.err" >&2
    exit 1
  fi
  check_ledger "the scripted applies at $lat ms"
  stop_emulator
  rm -rf "$dir"
}

# The output of `fleet plan` for $accounts identical accounts (nothing bought, the same
# manifest, empty states): its human text's lines on stdout. A plan buys nothing.
dir=$work/plan-output
start_emulator "$dir" 0
ALIBABA_CLOUD_STS_ENDPOINT=$sts "$bin" --state "$dir/states" fleet plan --concurrency "$concurrency" \
  --sts-rate "$sts_rate" "$dir/fleet-$accounts.toml" >"$dir/plan.out" 2>"$dir/plan.err" || {
  echo "fleet plan of $accounts accounts failed:" >&2
  tail -20 "$dir/plan.err" >&2
  exit 1
}
plan_lines=$(wc -l <"$dir/plan.out")
plan_bytes=$(wc -c <"$dir/plan.out")
stop_emulator

rows=("fleet 0" "fleet $latency" "scripted 0" "scripted $latency")
declare -A walls rsses cpus emus
load_start=$(cut -d' ' -f1 /proc/loadavg)
for ((round = 0; round < runs; round++)); do
  for ((i = 0; i < ${#rows[@]}; i++)); do
    row=${rows[(i + round) % ${#rows[@]}]}
    read -r kind lat <<<"$row"
    if [[ $kind = fleet ]]; then fleet_run "$round" "$lat"; else scripted_run "$round" "$lat"; fi
    walls[$row]+="$wall "
    rsses[$row]+="$rss "
    cpus[$row]+="$cpu "
    emus[$row]+="$emu "
    echo "round $((round + 1))/$runs: $row: $(awk -v us="$wall" 'BEGIN { printf "%.2f s", us / 1e6 }'), $((rss / 1024)) MiB, CPU $(awk -v us="$cpu" 'BEGIN { printf "%.2f s", us / 1e6 }'), emulator CPU $(awk -v us="$emu" 'BEGIN { printf "%.2f s", us / 1e6 }')" >&2
  done
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

median() {
  local values
  read -r -a values <<<"$1"
  printf '%s\n' "${values[@]}" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
wall_of() { median "${walls[$1]}"; }
rss_of() { median "${rsses[$1]}"; }
cpu_of() { median "${cpus[$1]}"; }
emu_of() { median "${emus[$1]}"; }
secs() { awk -v us="$1" 'BEGIN { printf "%.2f s", us / 1e6 }'; }
mb() { awk -v kib="$1" 'BEGIN { printf "%.1f MB", kib * 1024 / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

fleet_waves=$((((accounts + concurrency - 1) / concurrency) * 4))
scripted_waves=$((((accounts + jobs - 1) / jobs) * 3))
f0=$(wall_of "fleet 0")
fl=$(wall_of "fleet $latency")
s0=$(wall_of "scripted 0")
sl=$(wall_of "scripted $latency")
fleet_cp=$((f0 + fleet_waves * latency * 1000))
scripted_cp=$((s0 + scripted_waves * latency * 1000))

cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
echo "date: $(date -u +%Y-%m-%d), machine: $(nproc) cores, ${cpu_model}, $(uname -sr), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo) RAM; runs: $runs per row (median), load average $load_start at the start, $load_end at the end"
echo
echo "### fleet apply: $accounts accounts x 4 regions, $latency ms injected latency"
echo
echo "| process | median wall time | CPU (user + system) | emulator CPU | peak RSS | round-trip waves | critical path | wall / critical path |"
echo "|---|---|---|---|---|---|---|---|"
echo "| \`fleet apply --concurrency $concurrency\`, 0 ms | $(secs "$f0") | $(secs "$(cpu_of "fleet 0")") | $(secs "$(emu_of "fleet 0")") | $(mb "$(rss_of "fleet 0")") | | | |"
echo "| \`fleet apply --concurrency $concurrency\`, $latency ms | $(secs "$fl") | $(secs "$(cpu_of "fleet $latency")") | $(secs "$(emu_of "fleet $latency")") | $(mb "$(rss_of "fleet $latency")") | $fleet_waves | $(secs "$fleet_cp") | **$(ratio "$fl" "$fleet_cp")** |"
echo "| $accounts \`apply\` processes, $jobs at once, 0 ms | $(secs "$s0") | $(secs "$(cpu_of "scripted 0")") | $(secs "$(emu_of "scripted 0")") | $(mb "$(rss_of "scripted 0")") (largest process) | | | |"
echo "| $accounts \`apply\` processes, $jobs at once, $latency ms | $(secs "$sl") | $(secs "$(cpu_of "scripted $latency")") | $(secs "$(emu_of "scripted $latency")") | $(mb "$(rss_of "scripted $latency")") (largest process) | $scripted_waves | $(secs "$scripted_cp") | $(ratio "$sl" "$scripted_cp") |"
echo
echo "critical path = ceil(N / concurrency) x 4 waves x $latency ms + the same run at 0 ms for \`fleet apply\` (target: wall / critical path <= 1.30); ceil(N / $jobs) x 3 waves x $latency ms + the same at 0 ms for the script"
echo
echo "### fleet apply vs one \`apply\` process per account ($accounts accounts, $jobs at once)"
echo
echo "| latency | scripted | \`fleet apply\` | concurrency | scripted / fleet |"
echo "|---|---|---|---|---|"
echo "| 0 ms | $(secs "$s0") | $(secs "$f0") | $concurrency | $(ratio "$s0" "$f0")x |"
echo "| $latency ms | $(secs "$sl") | $(secs "$fl") | $concurrency | **$(ratio "$sl" "$fl")x** |"
echo
echo "target: the fleet command at least 10x faster at $latency ms"
echo
echo "### fleet plan output"
echo
echo "fleet plan output: $plan_lines lines for $accounts identical accounts (target < 200)"
echo
echo "($plan_bytes bytes on stdout)"
