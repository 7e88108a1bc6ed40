#!/usr/bin/env bash
# Set everything up and run the gateway on its embedded demo (simulated JK BMS, virtual CAN bus).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gateway demo "$@"
