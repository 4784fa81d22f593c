#!/usr/bin/env bash
# The main job on a fresh machine: create .venv if missing, install, then run the quickstart in ./quickstart_output.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_venv.sh"
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/quickstart.py" "$@"
