#!/usr/bin/env bash
# Real-browser tests of the web console (/console/): starts the debug faceid-server (already built by
# `swift build --build-tests`) over HTTPS with a throw-away self-signed certificate on a temporary data folder and a
# free loopback port, and drives headless Chromium through scripts/console_test.py (Selenium 4 + pytest): register,
# sign in and out, people, enrollment from a file and from a (fake) camera, identification, the access log, deletion,
# a viewer's read-only pages, CSRF, the security headers, no face encoding in any answer, and a screenshot of every
# page at desktop and phone size. Exit 1 when a test fails.
#
# First use installs Debian's chromium and chromium-driver (apt-get, as root or with sudo) and the pinned Python
# packages into .build/venv-console; without apt-get (not Debian) the run is skipped with a message and exit 0.
# Traffic goes to 127.0.0.1 only. The server's log of the last run is kept in .build/console-server.log.
# Environment: FACEID_SERVER (default .build/debug/faceid-server), CONSOLE_SCREENSHOTS (the screenshot folder, default
# .build/console-screenshots; it also gets console-metrics.txt, the page timings and transfer sizes), CONSOLE_PYTEST_ARGS
# (extra pytest arguments split on spaces, e.g. "-x -k viewer", or "-rA" to see every test's printed findings).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

# The newest 4.x selenium the package index here can install (4.52+ require a certifi release it does not carry).
selenium_version="4.51.0"
pytest_version="9.2.0"
requests_version="2.34.2"
pyyaml_version="6.0.4"
pillow_version="13.0.0"   # turns a face photo into the fake camera's video file
requirements="selenium==$selenium_version pytest==$pytest_version requests==$requests_version PyYAML==$pyyaml_version Pillow==$pillow_version"

venv="$repo/.build/venv-console"
server="${FACEID_SERVER:-.build/debug/faceid-server}"
shots="${CONSOLE_SCREENSHOTS:-$repo/.build/console-screenshots}"

if [ ! -x "$server" ]; then
    echo "console-tests: $server is missing; run 'swift build --build-tests' first" >&2
    exit 1
fi

# Chromium and its WebDriver from Debian (the same version by construction: one source package).
missing=()
for p in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "console-tests: skipped — ${missing[*]} not installed and no apt-get to install them (Debian only)"
        exit 0
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "console-tests: installing ${missing[*]} needs root (or sudo)" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "console-tests: installing ${missing[*]} with apt-get (first run only; a few minutes)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
chrome="$(command -v chromium)"
chromedriver="$(command -v chromedriver)"

# The venv is (re)built when the pinned list changes; the list is stamped into it.
stamp="$venv/console-requirements.txt"
if [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
    echo "console-tests: installing $requirements into $venv (first run only)"
    python3 -m venv "$venv" || { echo "console-tests: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
    # grep finds nothing when everything is already there; pip's own failure still fails the pipeline.
    # shellcheck disable=SC2086 # the list is split on purpose
    "$venv/bin/pip" install --disable-pip-version-check --progress-bar off $requirements 2>&1 \
        | { grep -E "^(Collecting|Successfully installed|ERROR)" || true; }
    "$venv/bin/python" -c "import selenium, pytest, requests, yaml, PIL"
    echo "$requirements" > "$stamp"
fi

# shellcheck source=scripts/test-server.sh
. "$repo/scripts/test-server.sh"
test_server_prepare console

# A certificate for this run only (the tests check it: requests verifies against it; Chromium accepts it as insecure).
mkdir -p "$data/tls"
(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$data/tls/key.pem" -out "$data/tls/cert.pem" 2>/dev/null)

url="https://127.0.0.1:$port"
# HTTPS, not plaintext: the session cookie is Secure and the page must be a secure context (camera). bcrypt at its
# cheapest and the limits raised: the tests sign in a few times and enroll and search in quick succession.
cat > "$data/config.json" <<EOF
{
  "http": {"host": "127.0.0.1", "port": $port},
  "tls": {"certificatePath": "$data/tls/cert.pem", "keyPath": "$data/tls/key.pem"},
  "auth": {"bcryptCost": 4},
  "models": {"directory": "$repo/models"},
  "log": {"level": "warning"},
  $(test_server_rate_limits)
}
EOF
test_server_start console-tests "$url" -k

mkdir -p "$shots"
# Only what this run writes: the folder may be one the caller chose.
rm -f "$shots"/*-desktop.png "$shots"/*-phone.png "$shots"/failure-*.png "$shots/console-metrics.txt"
echo "console-tests: driving $("$chrome" --version 2>/dev/null | head -1) against $url (screenshots: $shots)"
status=0
# No cache folder and no __pycache__ in scripts/; plain asserts (every check writes its own message, with the page's
# state); a hard ceiling so that a hung browser cannot stall `make`. TMPDIR inside the run's folder: Chromium leaves
# its profile-lock folders behind in /tmp otherwise.
mkdir -p "$data/tmp"
# shellcheck disable=SC2086 # CONSOLE_PYTEST_ARGS is split on purpose
FACEID_URL="$url" FACEID_CA_CERT="$data/tls/cert.pem" CONSOLE_SCREENSHOTS="$shots" \
    CHROME_BINARY="$chrome" CHROMEDRIVER="$chromedriver" PYTHONDONTWRITEBYTECODE=1 TMPDIR="$data/tmp" \
    timeout 1200 "$venv/bin/python" -m pytest "$repo/scripts/console_test.py" -p no:cacheprovider \
    -v -rfE --tb=short --assert=plain --color=no ${CONSOLE_PYTEST_ARGS:-} || status=$?

echo "console-tests: summary"
if [ -s "$shots/console-metrics.txt" ]; then sed 's/^/  /' "$shots/console-metrics.txt"; fi
echo "  screenshots: $(find "$shots" -maxdepth 1 -name '*.png' | wc -l) in $shots; server log: $kept_log"
if [ "$status" -ne 0 ]; then
    echo "console-tests: FAILED (pytest exit $status); the server's errors (whole log: $kept_log):" >&2
    grep -E -m 20 "error|Fatal|fault|Crash" "$data/server.log" >&2 || true
    exit 1
fi
echo "console-tests: passed"
