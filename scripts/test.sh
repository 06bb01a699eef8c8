#!/usr/bin/env bash
# Install what the tests need, then run every check and every test. CI runs exactly this.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/setup.sh --test
export PATH="$here/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
echo "== import contracts"; lint-imports --no-cache | tail -n 4
echo "== pytest"; pytest "$@"
