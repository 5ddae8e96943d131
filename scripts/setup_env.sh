#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project's Python dependencies into it.
# Usage: scripts/setup_env.sh [requirements file]   (default: requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
req="${1:-requirements.txt}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch is pinned to 2.13.0 (CPU build); the other versions download gigabytes.
.venv/bin/python -m pip install --quiet -r "$req"
