#!/usr/bin/env python3
"""Kiosk-sized probe photos for `faceid-bench load`: each photo of the first N LFW identities that have two or
more photos (sorted by name, as the benchmark picks them), scaled to 480×480 and centred on a 640×480 grey
canvas, saved as JPEG quality 90 under OUT/<identity>/. Needs Pillow (Debian: python3-pil).

    python3 Benchmarks/make_probes.py ../shared/faces/lfw/images_deepfunneled DATA/probes640 --identities 200
"""
import argparse
import os

from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("source")
parser.add_argument("out")
parser.add_argument("--identities", type=int, default=200)
args = parser.parse_args()

names = sorted(n for n in os.listdir(args.source) if os.path.isdir(os.path.join(args.source, n)))
done = 0
for name in names:
    photos = sorted(f for f in os.listdir(os.path.join(args.source, name)) if f.endswith(".jpg"))
    if len(photos) < 2:
        continue
    os.makedirs(os.path.join(args.out, name), exist_ok=True)
    for photo in photos:
        face = Image.open(os.path.join(args.source, name, photo)).convert("RGB").resize((480, 480), Image.BICUBIC)
        canvas = Image.new("RGB", (640, 480), (128, 128, 128))
        canvas.paste(face, (80, 0))
        canvas.save(os.path.join(args.out, name, photo), quality=90)
    done += 1
    if done == args.identities:
        break
print(f"{done} identities written to {args.out}")
