# Sourced by the scripts that test a live debug faceid-server (schemathesis.sh, console-tests.sh): a throw-away data
# folder, a free loopback port, the server started with a fresh master key and app secret, waited for, and stopped with
# its log kept when the script exits. Not run on its own.
#
#   test_server_prepare NAME            → $data (the folder, removed at exit), $port, $kept_log (.build/NAME-server.log)
#   test_server_rate_limits             → the "rateLimit" JSON member with every limit raised (tests send bursts)
#   test_server_start NAME URL [curl…]  → starts "$server" on "$data/config.json", waits for URL/readyz (extra curl
#                                         arguments, e.g. -k or --cacert); exits 1 with the log's tail if it dies

test_server_prepare() {
    data="$(mktemp -d "${TMPDIR:-/tmp}/faceid-$1.XXXXXX")"
    kept_log="$repo/.build/$1-server.log"
    server_pid=""
    trap test_server_stop EXIT
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
}

test_server_stop() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 10); do kill -0 "$server_pid" 2>/dev/null || break; sleep 1; done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    cp "$data/server.log" "$kept_log" 2>/dev/null || true
    rm -rf "$data"
}

test_server_rate_limits() {
    cat <<'JSON'
"rateLimit": {"registerPerHour": 100000, "companyPerMinute": 100000, "credentialPerMinute": 100000,
                "loginFailuresPerAddress": 100000, "loginFailuresPerEmail": 100000,
                "faceRegistrationsPerMinute": 100000, "fullSyncsPerHour": 100000}
JSON
}

test_server_start() {
    local name="$1" url="$2"
    shift 2
    FACEID_CRYPTO_MASTER_KEY="$(head -c 32 /dev/urandom | base64)" \
        FACEID_KIOSK_APP_SECRET="${app_secret:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}" \
        "$server" --data-directory "$data" --config-file "$data/config.json" > "$data/server.log" 2>&1 &
    server_pid=$!
    echo "$name: waiting for $url/readyz"
    for _ in $(seq 1 90); do
        if curl -fsS "$@" --max-time 2 "$url/readyz" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$name: faceid-server exited during startup:" >&2
            tail -20 "$data/server.log" >&2
            exit 1
        fi
        sleep 1
    done
    curl -fsS "$@" --max-time 2 "$url/readyz" >/dev/null
}
