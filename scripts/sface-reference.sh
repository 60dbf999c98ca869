#!/usr/bin/env bash
# Writes .build/sface_reference.jsonl: what OpenCV-Python 4.6 (the oracle, scripts/sface_reference.py) computes for a
# fixed sample of LFW and non-LFW photos of ../shared/faces. FaceEngineTests' SFace parity test compares our C++
# pipeline with it (≤ 1e-4). Creates .build/venv-opencv46 (opencv-python-headless 4.6 from PyPI) on first use;
# idempotent: skips when the output is newer than the oracle script and the models.
# Prints one line; with ../shared/faces absent it says so and writes nothing (the test then skips with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."

faces="${FACEID_FACES_DIR:-../shared/faces}"
out=".build/sface_reference.jsonl"
venv=".build/venv-opencv46"
if [ ! -f "$faces/README.md" ]; then
    echo "sface-reference: $faces is absent; the parity test will be skipped"
    exit 0
fi
if [ -s "$out" ] && [ "$out" -nt scripts/sface_reference.py ] && [ "$out" -nt models/face_recognition_sface_2021dec.onnx ] \
    && [ "$out" -nt "$0" ]; then
    echo "sface-reference: $out is up to date"
    exit 0
fi
if [ "$("$venv/bin/python" -c 'import cv2; print(cv2.__version__)' 2>/dev/null)" != "4.6.0" ]; then
    echo "sface-reference: installing opencv-python-headless 4.6.0.66 into $venv (first run only)"
    python3 -m venv "$venv" || { echo "sface-reference: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
    "$venv/bin/pip" install --disable-pip-version-check --progress-bar off opencv-python-headless==4.6.0.66 numpy==1.26.4 2>&1 \
        | grep -E "^(Collecting|Successfully installed|ERROR)" || true
fi
images=(
    lfw/images_deepfunneled/George_W_Bush/George_W_Bush_0001.jpg
    lfw/images_deepfunneled/George_W_Bush/George_W_Bush_0002.jpg
    lfw/images_deepfunneled/Colin_Powell/Colin_Powell_0001.jpg
    lfw/images_deepfunneled/Colin_Powell/Colin_Powell_0002.jpg
    lfw/images_deepfunneled/Tony_Blair/Tony_Blair_0001.jpg
    lfw/images_deepfunneled/Serena_Williams/Serena_Williams_0001.jpg
    dlib/examples/johns/John_Salley/000179_02159509.jpg
    dlib/examples/johns/John_Salley/000183_02159543.jpg
    dlib/examples/johns/John_Savage/000264_01099001.jpg
    deepface/tests/unit/dataset/img1.jpg
    deepface/tests/unit/dataset/img2.jpg
    face_recognition/examples/obama.jpg
)
paths=()
for image in "${images[@]}"; do paths+=("$(cd "$faces" && pwd)/$image"); done
"$venv/bin/python" scripts/sface_reference.py -o "$out.tmp" "${paths[@]}"
mv "$out.tmp" "$out"
echo "sface-reference: wrote $out (${#images[@]} photos)"
