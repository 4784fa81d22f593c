#!/usr/bin/env bash
# Run the checks: lint (flake8, isort) and the test suite, in .venv (created and installed if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_venv.sh"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
echo "[test] flake8"; "$PY" -m flake8 rnan_basicsr scripts tests setup.py
echo "[test] isort"; "$PY" -m isort --check-only --diff rnan_basicsr scripts tests setup.py
echo "[test] pytest"; "$PY" -m pytest -q "$@"
