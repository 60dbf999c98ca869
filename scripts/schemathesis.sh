#!/usr/bin/env bash
# Checks the served OpenAPI document against the live server: starts the debug faceid-server (already built by
# `swift build --build-tests`) on a temporary data folder and a free loopback port over plain HTTP, and runs
# schemathesis over every operation with the response-conformance checks. Any undeclared status, content type
# or header, any body outside its schema, and any 5xx fails the run (exit 1).
#
# The pinned schemathesis lives in .build/venv-schemathesis (created on first use). Traffic goes to 127.0.0.1 only.
# About a minute on two cores (plus half a minute for the install on first use). The server's log of the last run is
# kept in .build/schemathesis-server.log. Credentials and seeded ids: scripts/schemathesis_hooks.py.
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 50 per operation), SCHEMATHESIS_SEED (default: a fixed seed, so that `make test` is repeatable; `random` for a new one),
# FACEID_SERVER (default .build/debug/faceid-server), SCHEMATHESIS_SCHEMA (a document file to check instead of
# the served one, e.g. an older version).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

schemathesis_version="4.32.5"
venv="$repo/.build/venv-schemathesis"
server="${FACEID_SERVER:-.build/debug/faceid-server}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
seed="${SCHEMATHESIS_SEED:-20261205}"
[ "$seed" = "random" ] && seed=""

if [ ! -x "$server" ]; then
    echo "schemathesis: $server is missing; run 'swift build --build-tests' first" >&2
    exit 1
fi

if [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version $schemathesis_version" ]; then
    echo "schemathesis: installing schemathesis $schemathesis_version into $venv (first run only)"
    python3 -m venv "$venv" || { echo "schemathesis: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
    "$venv/bin/pip" install --disable-pip-version-check --progress-bar off "schemathesis==$schemathesis_version" 2>&1 \
        | grep -E "^(Collecting|Successfully installed|ERROR)"
    "$venv/bin/st" --version >/dev/null
fi

# shellcheck source=scripts/test-server.sh
. "$repo/scripts/test-server.sh"
test_server_prepare schemathesis
url="http://127.0.0.1:$port"
app_secret="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
# Fuzzing registers a company after every 401 or 429 (the hooks) and sends thousands of requests: the limits are
# raised so that they do not answer 429 to most of them (the document declares 429 wherever a limit applies).
cat > "$data/config.json" <<EOF
{
  "http": {"host": "127.0.0.1", "port": $port, "plaintext": true},
  "auth": {"bcryptCost": 4},
  "models": {"directory": "$repo/models"},
  "log": {"level": "warning"},
  $(test_server_rate_limits)
}
EOF
test_server_start schemathesis "$url"

# Loaded from a file rather than the URL: schemathesis leaves out the operation that serves the schema it loaded.
if [ -n "${SCHEMATHESIS_SCHEMA:-}" ]; then
    schema="$(realpath "$SCHEMATHESIS_SCHEMA")"
else
    schema="$data/openapi.yaml"
    curl -fsS --max-time 5 "$url/openapi.yaml" -o "$schema"
fi
echo "schemathesis: fuzzing every operation of $schema ($max_examples examples each, seed ${seed:-random})"
status=0
# Run inside the temporary folder: schemathesis leaves a .schemathesis/ cache in its working directory.
(cd "$data" && PYTHONPATH="$repo/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks FACEID_SCHEMATHESIS_URL="$url" \
    FACEID_SCHEMATHESIS_APP_SECRET="$app_secret" timeout 420 "$venv/bin/st" run "$schema" --url "$url" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --mode all --max-examples "$max_examples" --workers 1 --request-timeout 30 \
    --header "X-App-Secret: $app_secret" \
    --suppress-health-check all --generation-database none --no-color ${seed:+--seed "$seed"}) \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "schemathesis: FAILED (exit $status); the server's errors (whole log: $kept_log):" >&2
    grep -E -m 20 "error|Fatal|fault|Crash" "$data/server.log" >&2 || true
    exit 1
fi
echo "schemathesis: passed"
