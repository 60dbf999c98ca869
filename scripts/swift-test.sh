#!/usr/bin/env bash
# `swift test` for `make test`: the whole output goes to the terminal and to .build/swift-test.log. When a test fails, its
# issues are printed again just above the summary, so a log read from its tail (CI's) names what failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build
log=.build/swift-test.log
"${SWIFT:-swift}" test --skip-build "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
    echo "== what failed (from $log) =="
    grep -E "✘|recorded an issue|Expectation failed|error:|Fatal error|Crash" "$log" | grep -v "Test run with" | head -80
    grep -E "Test run with|Executed [0-9]+ tests" "$log" | tail -1
fi
exit "$rc"
