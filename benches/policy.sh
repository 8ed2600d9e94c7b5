#!/usr/bin/env bash
# The cost of `--policy` (issue 14): `fleet plan` of ACCOUNTS (default 1,000) accounts x 4
# regions with the starter policies of examples/policies against the same run without them,
# against a separate `pai-provision emulator --fleet` process with LATENCY_MS (default 0: the
# worst case for the ratio, the policies' time is not hidden behind round trips) injected into
# every API request. Each row is the median of RUNS (default 5) runs, alternated. Target: at
# most 1.2x.
#
#   bash benches/policy.sh
#   ACCOUNTS=200 RUNS=3 LATENCY_MS=50 bash benches/policy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-5}
accounts=${ACCOUNTS:-1000}
latency=${LATENCY_MS:-0}

cargo build --release --quiet -p pai-provision
bin=$PWD/target/release/pai-provision
gen="python3 $PWD/benches/fleet_gen.py"
policies=$PWD/examples/policies

work=$(mktemp -d)
emulator_pid=""
cleanup() {
  if [[ -n $emulator_pid ]]; then
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ALIBABA_CLOUD_ACCESS_KEY_ID=emulator ALIBABA_CLOUD_ACCESS_KEY_SECRET=emulator-secret
unset ALIBABA_CLOUD_SECURITY_TOKEN PAI_PROVISION_STATE
regions=(cn-hangzhou cn-shanghai cn-beijing cn-shenzhen)
# shellcheck source=benches/fleet_emulator.sh
source benches/fleet_emulator.sh

$gen manifest "$work" "${regions[@]/%/=http://127.0.0.1:1}" >/dev/null
$gen fleet "$work" "$accounts" >/dev/null
start_fleet_emulator "$work" "$work/fleet-$accounts.toml" "$latency"
emulator_pid=$fleet_emulator_pid
sts=$fleet_sts

# run [ARGS...] -> wall seconds of one `fleet plan` with a fresh state directory.
run() {
  rm -rf "$work/states"
  local start end code=0
  start=$(date +%s.%N)
  ALIBABA_CLOUD_STS_ENDPOINT=$sts "$bin" --state "$work/states" fleet plan --detailed-exitcode \
    --sts-rate 10000 "$work/fleet-$accounts.toml" "$@" >"$work/plan.out" 2>"$work/plan.err" || code=$?
  end=$(date +%s.%N)
  # 2: changes in every account; with --policy, 1 when a policy denies some (the plan is whole).
  if [[ $code != 2 ]] && ! [[ $code == 1 && $# -gt 0 ]] || { [[ $code == 1 ]] && ! grep -q "a policy denies" "$work/plan.err"; }; then
    echo "fleet plan $* exited $code:" >&2
    tail -20 "$work/plan.out" "$work/plan.err" >&2
    exit 1
  fi
  echo "$end - $start" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

without=()
with=()
for ((i = 0; i < runs; i++)); do
  without+=("$(run)")
  with+=("$(run --policy "$policies")")
done
w=$(printf '%s\n' "${without[@]}" | median)
p=$(printf '%s\n' "${with[@]}" | median)
echo "### fleet plan --policy: $accounts accounts x 4 regions, $latency ms, median of $runs"
echo
echo "| run | wall | ratio |"
echo "|---|---|---|"
printf '| `fleet plan` | %.2f s | |\n' "$w"
printf '| `fleet plan --policy examples/policies` | %.2f s | **%.2f** |\n' "$p" "$(echo "$p / $w" | bc -l)"
