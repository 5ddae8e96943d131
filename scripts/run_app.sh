#!/usr/bin/env bash
# Installs everything the dashboard needs and starts it on the embedded default data.
# The file watcher stays off (also set in .streamlit/config.toml): an idle tab then costs no CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh requirements.txt
exec .venv/bin/streamlit run app.py --server.fileWatcherType none --server.headless true "$@"
