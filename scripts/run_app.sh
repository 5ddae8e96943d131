#!/usr/bin/env bash
# Installs everything the dashboard needs and starts it on the embedded default data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh requirements.txt
exec .venv/bin/streamlit run app.py "$@"
