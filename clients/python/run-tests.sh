#!/usr/bin/env bash
# Make the test virtualenv (idempotent) and run the faceid-kiosk tests. The tests start their own faceid-server
# (the debug binary .build/debug/faceid-server; they skip when it is absent — this script does not build it).
#
#   clients/python/run-tests.sh                 # everything
#   clients/python/run-tests.sh -m "not slow"   # without the 3,000-employee sync and the rate-limit wait
#   clients/python/run-tests.sh -k conflict     # any pytest arguments
#
# Before starting it waits while a Swift build runs on the machine (every 20 s, up to 30 minutes):
# FACEID_KIOSK_NO_BUILD_WAIT=1 skips the wait.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
stamp="$venv/.installed"
want="$(sha256sum < "$here/pyproject.toml" | cut -d" " -f1)"

if [ ! -x "$venv/bin/python" ]; then
    echo "run-tests: creating $venv"
    python3 -m venv "$venv" || { echo "run-tests: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "run-tests: installing faceid-kiosk (editable) with its test extra"
    if ! "$venv/bin/pip" install --disable-pip-version-check --progress-bar off -e "$here[test]" > "$venv/pip.log" 2>&1; then
        tail -20 "$venv/pip.log" >&2
        exit 1
    fi
    grep -E "^Successfully installed" "$venv/pip.log" || true
    echo "$want" > "$stamp"
fi

if [ -z "${FACEID_KIOSK_NO_BUILD_WAIT:-}" ]; then
    waited=0
    while pgrep -f "swift-build|swift-frontend|swiftc" > /dev/null; do
        if [ "$waited" -ge 1800 ]; then
            echo "run-tests: a Swift build has been running for 30 minutes; not starting the tests" >&2
            exit 1
        fi
        echo "run-tests: a Swift build is running; waiting (${waited} s so far)"
        sleep 20
        waited=$((waited + 20))
    done
fi

cd "$here"
echo "run-tests: $("$venv/bin/python" --version), pytest $("$venv/bin/python" -c 'import pytest; print(pytest.__version__)')"
started=$(date +%s)
status=0
"$venv/bin/python" -m pytest -v -rfEsx --durations=10 "$@" || status=$?
echo "run-tests: finished in $(( $(date +%s) - started )) s with status $status (server logs: $here/.pytest-server-logs/)"
exit "$status"
