#!/usr/bin/env bash
# PostgreSQL's half of the test matrix, inside `pg_virtualenv` (a throw-away PostgreSQL cluster for the command, removed
# afterwards — no server is left running): the store contract and feed tests (StoreContractTests, PostgresFeedTests,
# PostgresWakeupTests, PostgresIndexPositionTests, PostgresTLSTests), then the server suite on PostgreSQL (FACEID_TEST_ENGINE=postgres; the suites that read SQLite's
# own rows or files are SQLite-only and say so), then the multi-node fault test (scripts/multinode_test.py: three
# faceid-server processes sharing the cluster, kill -9, SIGSTOP, LISTEN connections terminated, a 60 s open
# transaction, `pg_ctlcluster restart -m immediate`). The tests are already built by `swift build --build-tests`. Installs Debian's PostgreSQL 15 on first use without creating or starting its default cluster.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v pg_virtualenv >/dev/null || [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "postgres-tests: installing postgresql-15 (no default cluster)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/faceid-tests.conf >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
fi

echo "postgres-tests: the store contract and the server suite on a throw-away PostgreSQL 15 (pg_virtualenv)"
log="$repo/.build/postgres-tests.log"
status=0
server="$(swift build --show-bin-path)/faceid-server"
# TLS on the throw-away cluster (a self-signed certificate made here, removed afterwards), so PostgresTLSTests checks
# `sslmode=require`; PostgreSQL needs its key owned by its own user, which only root can arrange.
ssl_options=()
ssl_on=""
if [ "$(id -u)" -eq 0 ] && command -v openssl >/dev/null; then
    ssl_dir="$(mktemp -d)"
    trap 'rm -rf "$ssl_dir"' EXIT
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$ssl_dir/key.pem" -out "$ssl_dir/cert.pem" 2>/dev/null
    chown postgres "$ssl_dir/key.pem" "$ssl_dir/cert.pem"
    chmod 600 "$ssl_dir/key.pem"
    chmod 755 "$ssl_dir"
    ssl_options=(-o "ssl_cert_file=$ssl_dir/cert.pem" -o "ssl_key_file=$ssl_dir/key.pem")
    # pg_virtualenv writes ssl = off after the options: turned on once the cluster runs.
    ssl_on='psql -XAtq -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null && sleep 0.5 &&'
fi
echo "postgres-tests: then three faceid-server nodes on one PostgreSQL under writers and faults (scripts/multinode_test.py, ~2 min)"
(cd /tmp && pg_virtualenv -v 15 "${ssl_options[@]}" sh -c "cd '$repo' && export FACEID_TEST_POSTGRES=1 && ${ssl_on:-} \
    swift test --skip-build --filter \"StoreContractTests|PostgresFeedTests|PostgresWakeupTests|PostgresIndexPositionTests|PostgresTLSTests\" ${SWIFT_TEST_FLAGS:-} && \
    FACEID_TEST_ENGINE=postgres swift test --skip-build --filter FaceIDServerTests ${SWIFT_TEST_FLAGS:-} && \
    python3 scripts/multinode_test.py '$server'") >"$log" 2>&1 || status=$?
grep -E '^(✔|✘) Test run|^✘ (Test|Suite)|^multinode: (  t=|seeded|writers|index|feed|top|[0-9]+ imports|the following|quota|a photo|photo check|a company deleted|passed|FAILED)' "$log" || true
if [ "$status" -ne 0 ]; then
    echo "postgres-tests: FAILED (exit $status; whole log: $log)" >&2
    tail -40 "$log" >&2
    exit 1
fi
echo "postgres-tests: passed"
