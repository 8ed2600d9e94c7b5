#!/usr/bin/env bash
# Benchmarks of `apply` (issue 6), for the `## apply` section of docs/benchmarks.md:
#
# 1. `apply` of an 8-region manifest (benches/apply-8-regions.toml) against an emulator that
#    injects 50 ms of latency into every API request, set against its critical path: per region
#    one ListProducts, then one CreateProductOrders, so two sequential round trips. The critical
#    path is T(the same apply with 0 ms latency) + 2 x 50 ms; the 1-region apply at 50 ms is
#    printed beside it as a cross-check.
# 2. `plan` and `apply` with nothing to do against benches/sdk_noop.py, a script making the same
#    ListProducts calls with the official Python SDK, at 0 ms and at 50 ms of latency.
#
# Whole processes, medians of RUNS runs (default 21), interleaved; peak RSS from GNU time. Every
# measured apply has a fresh emulator and a fresh state, and the emulator's ledger is checked
# after it. The measuring is in benches/apply_bench.py; this script builds the release binary and
# makes sure the SDK venv exists (the test script's `.venv`, or PAI_SDK_VENV).
#
#   bash benches/apply.sh
#   RUNS=31 LATENCY_MS=100 bash benches/apply.sh
#   BENCHES=noop bash benches/apply.sh        # only the no-op comparison
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-21}
latency=${LATENCY_MS:-50}
benches=${BENCHES:-apply,noop}

cargo build --release --quiet -p pai-provision
bin=$PWD/target/release/pai-provision

if [[ ! -x /usr/bin/time ]]; then
  echo "installing GNU time (Debian package \`time\`) for peak RSS" >&2
  sudo=$([[ $(id -u) = 0 ]] || echo sudo)
  $sudo apt-get install -y -qq time >/dev/null
fi

venv=${PAI_SDK_VENV:-.venv}
if ! "$venv/bin/python" -c "import alibabacloud_aiworkspace20210204" 2>/dev/null; then
  echo "setting up $venv with the official SDK (tests/requirements-sdk.txt)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements-sdk.txt
fi
# Not resolved through symlinks: the venv's own interpreter path is what selects its packages.
sdk_python="$PWD/$venv/bin/python"
[[ $venv = /* ]] && sdk_python="$venv/bin/python"

exec python3 benches/apply_bench.py --binary "$bin" --sdk-python "$sdk_python" --runs "$runs" \
  --latency-ms "$latency" --noop-latency-ms 0 "$latency" --benches "$benches"
