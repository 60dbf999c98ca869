#!/usr/bin/env bash
# `swift build` with visible progress: a line up front (the first build compiles every dependency: 900 steps for the
# release server, 2,800 for the debug build with tests — 5 to 7 minutes on an idle 2-core machine, much longer on a
# busy one), then one line per 5 % of the build steps with the elapsed time (swift build writes in bursts when piped),
# every error and every warning of our own code in full. Exits with swift build's status.
# Usage: scripts/swift-build.sh [swift build arguments…]
set -euo pipefail
cd "$(dirname "$0")/.."

what="${*:-debug}"
if [ -e .build/workspace-state.json ]; then
    echo "build: swift build $what (only what changed is compiled again)"
else
    echo "build: swift build $what — the first build compiles every dependency: several minutes (5–7 on an idle 2-core machine, far more on a busy one); progress follows"
fi
start=$SECONDS
set +e
swift build "$@" 2>&1 | awk '
    function elapsed() { "date +%s" | getline now; close("date +%s"); return now - startEpoch }
    BEGIN { "date +%s" | getline startEpoch; close("date +%s"); next_pct = 5 }
    /^\[[0-9]+\/[0-9]+\]/ {
        split(substr($1, 2, length($1) - 2), n, "/")
        # A new plan (a small one first, e.g. build tools, then the build) starts counting again; within one plan the
        # total grows a little and steps finish slightly out of order.
        if (n[1] + 0 < done / 2 || n[2] + 0 > 2 * total) next_pct = 5
        done = n[1] + 0
        total = n[2] + 0
        pct = int(100 * n[1] / n[2])
        if (pct >= next_pct && n[2] > 1) {  # not the one-step "Planning build"
            printf("build: %3d%% (%s of %s steps, %ds)\n", pct, n[1], n[2], elapsed()); fflush()
            next_pct = (int(pct / 5) + 1) * 5
        }
        next
    }
    /^(Fetching|Computing version|Creating working copy)/ {
        if (!resolving) { print "build: resolving the package dependencies"; fflush(); resolving = 1 }
        next
    }
    /error:|Sources\/.*warning:|Tests\/.*warning:|Build complete|Build of (target|product)/ { print "build: " $0; fflush() }
'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "build: FAILED (swift build exit $status) after $((SECONDS - start)) s" >&2
else
    echo "build: done in $((SECONDS - start)) s"
fi
exit "$status"
