#!/usr/bin/env bash
# The whole suite: lint, format, types, import contracts, tests. Run from the repo root.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VIRTUNA_VENV:-.venv}/bin
read -r -a TARGETS <<< "$(ls -d src tests bench 2>/dev/null | tr '\n' ' ')"
echo "== ruff"; "$BIN/ruff" check "${TARGETS[@]}"
echo "== ruff format"; "$BIN/ruff" format --check "${TARGETS[@]}"
echo "== mypy --strict"; "$BIN/mypy" "${TARGETS[@]}"
echo "== import-linter"; "$BIN/lint-imports"
echo "== pytest"; "$BIN/pytest" "$@"
