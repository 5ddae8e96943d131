#!/usr/bin/env bash
# Installs everything the tests need (Python packages and Debian's Chromium) and runs the whole suite.
# Extra arguments go to pytest, e.g. scripts/run_tests.sh -m "not e2e".
# scripts/run_tests.sh --fast [pytest args]: only the fast tier (-m "not slow and not e2e", no Chromium needed),
# for the edit-test loop; the tests marked slow (pyproject.toml) and the end-to-end tests are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=()  # --fast: the marker expression of the fast tier, put before the other arguments (a later -m wins)
if [ "${1:-}" = --fast ]; then
  shift
  tier=(-m "not slow and not e2e")
fi
scripts/setup_env.sh requirements-dev.txt
if [ ${#tier[@]} -eq 0 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; end-to-end tests will be skipped" >&2
  else
    echo "warning: /usr/bin/chromium missing and not root; end-to-end tests will be skipped" >&2
  fi
fi
mkdir -p test-artifacts
# Shuffled test order (pytest-randomly) so hidden dependencies between tests show up. The default seed
# is fixed so CI is reproducible; HYDROCAST_TEST_SEED=<n> picks another order, HYDROCAST_TEST_SEED=random a new one.
seed="${HYDROCAST_TEST_SEED:-1}"
if [ "$seed" = random ]; then seed=$(( (RANDOM << 15) | RANDOM )); fi
echo "test order seed: ${seed} (replay: HYDROCAST_TEST_SEED=${seed} scripts/run_tests.sh ${tier:+--fast }$*)"
# --durations: the slowest tests in the log, to see where the suite's time goes on a slower machine
exec .venv/bin/python -m pytest -p randomly --randomly-seed="${seed}" --durations=15 "${tier[@]}" "$@"
