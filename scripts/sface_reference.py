#!/usr/bin/env python3
"""Reference SFace embeddings from OpenCV-Python 4.6: the oracle for the C++ engine's parity test.

For each image path given, prints one JSON line for the largest face found:
  {"path", "width", "height", "rgb_sha256", "n_faces", "box": [x, y, w, h], "landmarks": [10 floats],
   "score", "embedding": [128 floats, L2-normalised]}
("box", "landmarks", "score" and "embedding" are null when no face is found; "error" is set when the
file cannot be decoded). "rgb_sha256" is the SHA-256 of the decoded pixels as packed RGB rows
(height x width x 3 bytes), so a parity test can tell a decoder difference from an engine difference.

The pipeline (models from scripts/fetch-sface-models.sh: fp32, opset 11):
  decode    cv2.imread(path, IMREAD_COLOR): 8-bit BGR, EXIF orientation applied, grey replicated to 3
            channels.
  resize    when the longest side exceeds --max-side (640, YuNet's training size; a 4000x3000 photo would
            otherwise cost ~30x a 640x480 one), cv2.resize with INTER_LINEAR to
            (floor(w*s + 0.5), floor(h*s + 0.5)) with s = max_side / longest side; afterwards
            s = resized width / original width (the one factor used to map results back).
            Smaller images are used as they are (never enlarged).
  pad       zeros at the bottom and right up to multiples of 32 (cv2.copyMakeBorder, BORDER_CONSTANT 0),
            as OpenCV >= 4.8's FaceDetectorYN does with its input size set to the image size. The
            converted YuNet declares a 1x3x640x640 input but cv2.dnn runs it at any multiple of 32.
  blob      cv2.dnn.blobFromImage(padded): NCHW float32, BGR order, raw 0-255, no mean, scale 1.
  network   YuNet 2023mar; outputs read by name in this order: cls_8, cls_16, cls_32, obj_8, obj_16,
            obj_32, bbox_8, bbox_16, bbox_32, kps_8, kps_16, kps_32; shapes [1, N, 1] (cls, obj),
            [1, N, 4] (bbox), [1, N, 10] (kps) with N = (padH / stride) * (padW / stride), cells in
            row-major order (index = row * cols + col).
  decode    per cell: score = sqrt(clamp(cls, 0, 1) * clamp(obj, 0, 1)) in float32; cells with
            score < --score-threshold (0.6) are dropped; centre = ((col + bbox[0]) * stride,
            (row + bbox[1]) * stride), size = (exp(bbox[2]) * stride, exp(bbox[3]) * stride),
            box = (cx - w/2, cy - h/2, w, h); landmark n = ((kps[2n] + col) * stride,
            (kps[2n+1] + row) * stride): right eye, left eye, nose tip, right and left mouth corners.
            All arithmetic in float32, as the C++ decoder does.
  NMS       cv2.dnn.NMSBoxes on the float boxes (the Rect2d overload), score threshold as above,
            IoU threshold --nms-threshold (0.3), no top-k limit.
  map back  the 14 box/landmark values divided by s (in double, stored as float32).
  choose    the largest kept box by area w*h (ties: higher score, then detection order).
  embed     cv2.FaceRecognizerSF.create(sface, "").alignCrop(original BGR image, 1x15 float32 row
            [box, landmarks, score]) -> 112x112 crop (similarity transform of the five landmarks);
            .feature(crop) (it swaps to RGB; the network subtracts 127.5 and scales by 1/128 itself);
            cv2.normalize(NORM_L2) to unit length.

Requires opencv-python-headless 4.6.0.x and numpy (e.g. in .build/venv-opencv46):
  python3 -m venv .build/venv-opencv46
  .build/venv-opencv46/bin/pip install opencv-python-headless==4.6.0.66 'numpy<2'
Usage:
  .build/venv-opencv46/bin/python scripts/sface_reference.py [--models DIR] [--max-side N]
      [--score-threshold T] [--nms-threshold T] [-o OUT.jsonl] IMAGE...
"""

import argparse
import hashlib
import json
import math
import os
import sys

import cv2
import numpy as np

DETECTOR_FILE = "face_detection_yunet_2023mar.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec.onnx"
OUTPUT_NAMES = ["cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32",
                "bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32"]
STRIDES = [8, 16, 32]
PAD_DIVISOR = 32


def detect_faces(detector, bgr, max_side, score_threshold, nms_threshold):
    """Returns the kept faces as float32 rows [x, y, w, h, 10 landmark coordinates, score]."""
    height, width = bgr.shape[:2]
    scale = 1.0
    network_image = bgr
    longest = max(width, height)
    if max_side > 0 and longest > max_side:
        scale = max_side / longest
        new_size = (int(math.floor(width * scale + 0.5)), int(math.floor(height * scale + 0.5)))
        network_image = cv2.resize(bgr, new_size, interpolation=cv2.INTER_LINEAR)
        scale = network_image.shape[1] / width
    rows_in, cols_in = network_image.shape[:2]
    padded_height = ((rows_in - 1) // PAD_DIVISOR + 1) * PAD_DIVISOR
    padded_width = ((cols_in - 1) // PAD_DIVISOR + 1) * PAD_DIVISOR
    padded = cv2.copyMakeBorder(network_image, 0, padded_height - rows_in, 0, padded_width - cols_in,
                                cv2.BORDER_CONSTANT, value=0)
    blob = cv2.dnn.blobFromImage(padded)
    detector.setInput(blob)
    outputs = detector.forward(OUTPUT_NAMES)

    candidates = []
    for level, stride in enumerate(STRIDES):
        grid_cols, grid_rows = padded_width // stride, padded_height // stride
        cells = grid_cols * grid_rows
        cls = outputs[level].reshape(-1)
        obj = outputs[level + 3].reshape(-1)
        bbox = outputs[level + 6].reshape(-1, 4)
        kps = outputs[level + 9].reshape(-1, 10)
        if cls.size != cells or obj.size != cells or len(bbox) != cells or len(kps) != cells:
            raise RuntimeError(f"YuNet output at stride {stride} does not match a {grid_rows}x{grid_cols} grid")
        scores = np.sqrt(np.clip(cls, np.float32(0), np.float32(1)) * np.clip(obj, np.float32(0), np.float32(1)))
        stride_f = np.float32(stride)
        for index in np.flatnonzero(~(scores < np.float32(score_threshold))):
            row, col = divmod(int(index), grid_cols)
            col_f, row_f = np.float32(col), np.float32(row)
            center_x = (col_f + bbox[index, 0]) * stride_f
            center_y = (row_f + bbox[index, 1]) * stride_f
            # exp in double then rounded to float: what a correctly rounded expf gives (glibc's expf).
            box_w = np.float32(math.exp(float(bbox[index, 2]))) * stride_f
            box_h = np.float32(math.exp(float(bbox[index, 3]))) * stride_f
            face = np.empty(15, dtype=np.float32)
            face[0] = center_x - box_w / np.float32(2)
            face[1] = center_y - box_h / np.float32(2)
            face[2] = box_w
            face[3] = box_h
            for n in range(5):
                face[4 + 2 * n] = (kps[index, 2 * n] + col_f) * stride_f
                face[5 + 2 * n] = (kps[index, 2 * n + 1] + row_f) * stride_f
            face[14] = scores[index]
            candidates.append(face)
    if not candidates:
        return []
    boxes = [tuple(float(v) for v in face[:4]) for face in candidates]
    confidences = [float(face[14]) for face in candidates]
    keep = cv2.dnn.NMSBoxes(boxes, confidences, score_threshold, nms_threshold)
    kept = []
    for index in np.asarray(keep).reshape(-1):
        face = candidates[int(index)].copy()
        face[:14] = (face[:14].astype(np.float64) / scale).astype(np.float32)
        kept.append(face)
    return kept


def largest(faces):
    order = sorted(range(len(faces)),
                   key=lambda i: (-float(faces[i][2]) * float(faces[i][3]), -float(faces[i][14]), i))
    return faces[order[0]]


def describe(path, detector, recognizer, options):
    record = {"path": path}
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        record["error"] = "cannot decode"
        return record
    height, width = bgr.shape[:2]
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    record.update(width=width, height=height, rgb_sha256=hashlib.sha256(rgb.tobytes()).hexdigest())
    faces = detect_faces(detector, bgr, options.max_side, options.score_threshold, options.nms_threshold)
    record["n_faces"] = len(faces)
    if not faces:
        record.update(box=None, landmarks=None, score=None, embedding=None)
        return record
    face = largest(faces)
    aligned = recognizer.alignCrop(bgr, face.reshape(1, 15))
    feature = recognizer.feature(aligned)
    unit = cv2.normalize(feature.reshape(1, -1), None, 1.0, 0.0, cv2.NORM_L2, cv2.CV_32F).reshape(-1)
    record.update(box=[float(v) for v in face[:4]], landmarks=[float(v) for v in face[4:14]],
                  score=float(face[14]), embedding=[float(v) for v in unit])
    return record


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--models", default=os.environ.get("FACEID_MODELS_DIR", os.path.join(here, "..", "models")))
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--score-threshold", type=float, default=0.6)
    parser.add_argument("--nms-threshold", type=float, default=0.3)
    parser.add_argument("-o", "--output", help="write the JSON lines here instead of stdout")
    options = parser.parse_args()
    if not cv2.__version__.startswith("4.6."):
        sys.exit(f"sface_reference: needs OpenCV 4.6 (the engine's version), found {cv2.__version__}")
    cv2.setNumThreads(1)
    detector = cv2.dnn.readNet(os.path.join(options.models, DETECTOR_FILE))
    detector.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    detector.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    recognizer = cv2.FaceRecognizerSF.create(os.path.join(options.models, RECOGNIZER_FILE), "")
    out = open(options.output, "w") if options.output else sys.stdout
    try:
        for path in options.images:
            out.write(json.dumps(describe(path, detector, recognizer, options)) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    main()
