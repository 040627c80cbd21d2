#!/usr/bin/env bash
# Install genai_widgets and what it needs on a fresh machine (Python 3.10+, pip, node + npm).
#   bash scripts/install.sh          # the package, PyTorch (CPU or CUDA wheel) and JupyterLab
#   bash scripts/install.sh --test   # + test tools and Debian's Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}  # in an activated virtualenv: its own python3, so it installs there
prefix=$($PY -c 'import sys; print(sys.prefix)')
echo "installing into $prefix ($($PY --version))"
if [ -n "${VIRTUAL_ENV:-}" ] && [ "$(cd "$prefix" && pwd -P)" != "$(cd "$VIRTUAL_ENV" && pwd -P)" ]; then
    echo "note: the virtualenv $VIRTUAL_ENV is active but $PY is not its python" >&2
fi
$PY -m pip install --quiet --upgrade pip
# Pinned to the versions this project is tested with; pyproject admits a range.
$PY -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
if [ "${1:-}" = "--test" ]; then
    $PY -m pip install --quiet -e ".[dev]"
    bash .ci/browser-deps.sh >/dev/null
else
    $PY -m pip install --quiet -e . "jupyterlab>=4.1,<5"
fi
$PY -c "import genai_widgets, torch; print('genai_widgets', genai_widgets.__version__, '| torch', torch.__version__)"
