#!/usr/bin/env bash
# Compares this tree's pai-provision with the one of an earlier commit (a refactor must not slow
# `validate`, `plan` or `apply`): builds BASE's release binary in a temporary git worktree, this
# tree's beside it, and measures both in one interleaved run (benches/compare.py). It prints a
# Markdown table of the medians and their ratio new / base.
#
#   bash benches/compare.sh BASE            # e.g. bash benches/compare.sh 900a900
#   RUNS=41 bash benches/compare.sh BASE
set -euo pipefail
cd "$(dirname "$0")/.."

base_rev=${1:?usage: bash benches/compare.sh BASE_COMMIT}
runs=${RUNS:-21}

if [[ ! -x /usr/bin/time ]]; then
  echo "installing GNU time (Debian package \`time\`) for peak RSS" >&2
  sudo=$([[ $(id -u) = 0 ]] || echo sudo)
  $sudo apt-get install -y -qq time >/dev/null
fi

base_tree=${BASE_TREE:-$PWD/target/compare-base}
if [[ ! -d $base_tree ]]; then
  git worktree add --detach --quiet "$base_tree" "$base_rev"
fi
git -C "$base_tree" checkout --detach --quiet "$base_rev"
echo "building $base_rev in $base_tree" >&2
(cd "$base_tree" && cargo build --release --quiet -p pai-provision)
# The example that seeds a state moved from pai-planner to pai-state; build it wherever it is.
(cd "$base_tree" && { cargo build --release --quiet -p pai-state --example seed_history 2>/dev/null ||
  cargo build --release --quiet -p pai-planner --example seed_history; })
echo "building this tree" >&2
cargo build --release --quiet -p pai-provision
cargo build --release --quiet -p pai-state --example seed_history

echo "base: $(git -C "$base_tree" log -1 --format='%h %s' | cut -c1-80)"
echo "new:  $(git log -1 --format='%h %s' | cut -c1-80) $(git diff --quiet || echo '(with uncommitted changes)')"
exec python3 benches/compare.py --base "$base_tree/target/release/pai-provision" \
  --new "$PWD/target/release/pai-provision" --base-seed "$base_tree/target/release/examples/seed_history" \
  --new-seed "$PWD/target/release/examples/seed_history" --runs "$runs"
