#!/usr/bin/env bash
# Install what the browser tests (tests/browser/) need on a fresh Debian/Ubuntu machine.
# Run as root (or with sudo available). Python packages come from `pip install -e .[dev]`.
#
# Playwright cannot download its own browser here, so the tests use the distribution's
# Chromium (found on PATH as `chromium`; override with GW_CHROMIUM=/path/to/chrome).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "browser-deps.sh: run as root (apt-get needs it)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# Debian names the package `chromium` (Ubuntu's `chromium-browser` is a snap shim).
$SUDO apt-get install -y chromium

command -v chromium >/dev/null 2>&1 || { echo "browser-deps.sh: chromium not on PATH" >&2; exit 1; }
chromium --version || true
python -c "import playwright.sync_api" 2>/dev/null \
    || echo "note: the playwright Python package is missing: pip install -e '.[dev]'" >&2
