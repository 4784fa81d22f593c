#!/usr/bin/env bash
# Create .venv at the repository root if it is missing and install rnan_basicsr into it.
# Order matters: torch first, then basicsr without build isolation (its setup.py imports torch), then this package.
# Choose another torch build (e.g. for your CUDA version) with:  TORCH_SPEC="torch==2.5.1 torchvision==0.20.1"
# Re-running is cheap: nothing is installed again unless setup.py or this script changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
STAMP="$VENV/.rnan_basicsr_installed"
WANT="$(cat "$ROOT/setup.py" "$ROOT/scripts/setup_venv.sh" | sha256sum | cut -d' ' -f1) $TORCH_SPEC"

if [ ! -x "$PY" ]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$PY" -c "import sys, rnan_basicsr
from rnan_basicsr.utils.environment import tensorboard_problem
sys.exit(1 if tensorboard_problem() else 0)" >/dev/null 2>&1; then
  exit 0
fi
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }
echo "[setup] installing into $VENV (torch, then basicsr, then rnan_basicsr[test]); this takes about a minute"
pip_install --upgrade pip setuptools wheel
# shellcheck disable=SC2086
pip_install $TORCH_SPEC
pip_install --no-build-isolation "basicsr==1.4.2"
pip_install -e "$ROOT[test]"
# One TensorBoard: basicsr 1.4.2 requires tb-nightly and this package tensorboard; both write the tensorboard/ package
# and the tensorboard command then fails ("Duplicate plugins for name projector"). Removing tb-nightly deletes files
# the two share, so tensorboard is reinstalled (same version, no dependencies) after it.
if "$PY" -c "import importlib.metadata as m; m.distribution('tb-nightly')" >/dev/null 2>&1; then
  echo "[setup] removing tb-nightly (basicsr's TensorBoard) so that only tensorboard provides the tensorboard package"
  "$PY" -m pip uninstall --quiet --disable-pip-version-check -y tb-nightly
  pip_install --force-reinstall --no-deps "tensorboard==$("$PY" -c "import importlib.metadata as m; print(m.version('tensorboard'))")"
fi
echo "$WANT" > "$STAMP"
echo "[setup] done"
