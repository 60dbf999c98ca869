#!/usr/bin/env python3
"""How long a collection takes to become IVF-PQ once it crosses `index.trainAt`: starts a release faceid-server on a fresh
SQLite data folder, imports the first N face1m vectors into one company (requests of 1,000), searches 200 held-out
vectors just before the threshold (exact), waits until `/index/status` shows the published model, and searches again.
The server's log lines "trained and published an index model" / "installed the published index model" give the
training and install times.

Usage: model_publish_bench.py <faceid-server> <face1m base.fvecs> [--faces 51000] [--models DIR]
"""
import base64
import http.client
import json
import os
import struct
import subprocess
import sys
import tempfile
import time


def main():
    server, base = sys.argv[1], sys.argv[2]
    faces = int(sys.argv[sys.argv.index("--faces") + 1]) if "--faces" in sys.argv else 51000
    models = sys.argv[sys.argv.index("--models") + 1] if "--models" in sys.argv else "models"
    data = tempfile.mkdtemp(prefix="faceid-model-bench-")
    port = 18000 + os.getpid() % 1000
    env = dict(os.environ, FACEID_DATA_DIRECTORY=data, FACEID_HTTP_PORT=str(port), FACEID_HTTP_PLAINTEXT="true",
               FACEID_CRYPTO_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(), FACEID_LOG_LEVEL="notice",
               FACEID_AUTH_BCRYPT_COST="4", FACEID_MODELS_DIRECTORY=models, FACEID_RATE_LIMIT_COMPANY_PER_MINUTE="1000000")
    log_path = os.path.join(data, "server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([server], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        run(port, base, faces)
    finally:
        process.terminate()
        process.wait(timeout=30)
    for line in open(log_path, encoding="utf-8", errors="replace"):
        if "index model" in line:
            print(line.strip())


def run(port, base, n):
    def call(method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        return response.status, (json.loads(raw) if raw else None)

    deadline = time.time() + 60
    while True:
        try:
            if call("GET", "/readyz")[0] == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.2)
    status, reply = call("POST", "/register", {"company_name": "Big", "email": "owner@big.example",
                                               "password": "correct horse battery", "full_name": "Owner"})
    assert status == 201, reply
    token = {"Authorization": "Token " + reply["token"]}
    vectors = []
    with open(base, "rb") as f:
        for _ in range(n + 200):
            d = struct.unpack("<i", f.read(4))[0]
            vectors.append(list(struct.unpack(f"<{d}f", f.read(4 * d))))
    held_out = vectors[n:]

    def search_times():
        times = []
        for v in held_out:
            started = time.perf_counter()
            status, reply = call("POST", "/face/search/encoding", {"encoding": v, "top_k": 10}, token)
            assert status == 200, reply
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        return times[len(times) // 2], times[len(times) * 9 // 10]

    started = time.time()
    exact = None
    for start in range(0, n, 1000):
        chunk = vectors[start:start + 1000]
        status, reply = call("POST", "/faces/import", [{"external_id": f"e{start + i}", "encoding": [round(x, 6) for x in v]}
                                                       for i, v in enumerate(chunk)], token)
        assert status == 201, (status, reply)
        if exact is None and start + 2000 >= n:
            exact = (start + len(chunk), search_times())
    print(f"imported {n} faces in {time.time() - started:.1f} s; search at {exact[0]} faces (exact): "
          f"p50 {exact[1][0]:.2f} ms, p90 {exact[1][1]:.2f} ms (HTTP round trip)")
    waited = time.time()
    while True:
        status, reply = call("GET", "/index/status", None, token)
        collection = reply["collections"][0]
        if collection["model"]:
            break
        time.sleep(0.2)
    print(f"model {collection['kind']} {collection['model']} visible {time.time() - waited:.1f} s after the last import")
    p50, p90 = search_times()
    print(f"search at {n} faces (IVF-PQ): p50 {p50:.2f} ms, p90 {p90:.2f} ms (HTTP round trip)")


if __name__ == "__main__":
    main()
