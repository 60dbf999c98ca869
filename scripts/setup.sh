#!/usr/bin/env bash
# Installs what faceid needs on Debian 12: the system libraries (apt) and the dlib models (PyPI).
# Idempotent and quiet: a second run installs nothing and prints nothing but a one-line summary.
set -euo pipefail

packages=(libopenblas-dev liblapacke-dev libdlib-dev libdlib19.1 liblmdb-dev libjpeg-dev libpng-dev libsqlite3-dev libopencv-dev python3-venv pkg-config openssl curl)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: system packages present"
"$(dirname "$0")/fetch-models.sh"
"$(dirname "$0")/fetch-sface-models.sh"
