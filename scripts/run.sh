#!/usr/bin/env bash
# Runs faceid-server on its embedded default: SQLite in ./data, HTTPS with a self-signed
# certificate for localhost. First start generates the master key, the certificate and the kiosk
# app secret into the data folder; later starts reuse them. Extra arguments go to the server
# (e.g. `make run ARGS="--http-port 9443"`); FACEID_* environment variables work too.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
data="${FACEID_DATA_DIRECTORY:-data}"
mkdir -p "$data/tls"
chmod 700 "$data"

if [ ! -s "$data/master.key" ] && [ -z "${FACEID_CRYPTO_MASTER_KEY:-}" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > "$data/master.key")
    echo "run: generated the master key $data/master.key — back it up apart from the data; without it the biometric data cannot be read"
fi
if [ ! -s "$data/tls/cert.pem" ] || [ ! -s "$data/tls/key.pem" ]; then
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
        -keyout "$data/tls/key.pem" -out "$data/tls/cert.pem" 2>/dev/null)
    echo "run: generated a self-signed certificate $data/tls/cert.pem (curl --cacert $data/tls/cert.pem …)"
fi
if [ ! -s "$data/app.secret" ] && [ -z "${FACEID_KIOSK_APP_SECRET:-}" ] && [ -z "${DESKTOP_APP_SECRET:-}" ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' > "$data/app.secret")
    echo "run: generated the kiosk app secret $data/app.secret"
fi

./scripts/swift-build.sh -c release --product faceid-server
exec .build/release/faceid-server --data-directory "$data" "$@"
