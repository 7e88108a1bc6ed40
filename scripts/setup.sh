#!/usr/bin/env bash
# Create .venv and install battery-gateway with its test tools and the example plugin.
# Needs only python3 >= 3.11; idempotent (a second run only checks).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]" -e examples/const_source
