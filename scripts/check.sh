#!/usr/bin/env bash
# The whole suite: lint, format, types, import contracts, tests. Run from the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VIRTUNA_VENV:-.venv}/bin
echo "== ruff"; "$BIN/ruff" check src tests bench
echo "== ruff format"; "$BIN/ruff" format --check src tests bench
echo "== mypy --strict"; "$BIN/mypy"
echo "== import-linter"; "$BIN/lint-imports"
echo "== pytest"; "$BIN/pytest" "$@"
