#!/usr/bin/env bash
# The whole test suite. It installs and starts what the tests need (a venv with the official
# Alibaba Cloud Python SDK for the conformance tests; a throwaway PostgreSQL server on loopback
# for the PostgreSQL state backend) and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${PAI_SDK_VENV:-.venv}
if ! "$venv/bin/python" -c "import alibabacloud_aiworkspace20210204, alibabacloud_sts20150401" 2>/dev/null; then
  echo "setting up $venv with the official SDK (tests/requirements-sdk.txt)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements-sdk.txt
fi
export PAI_SDK_PYTHON="$PWD/$venv/bin/python"

if [ -z "${PAI_TEST_POSTGRES_URL:-}" ]; then
  # A server someone started before (eval "$(scripts/postgres.sh)") is used and left running.
  if bash scripts/postgres.sh running; then
    eval "$(bash scripts/postgres.sh url)"
  else
    eval "$(bash scripts/postgres.sh start)"
    trap 'bash scripts/postgres.sh stop 2>/dev/null || true' EXIT
  fi
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
