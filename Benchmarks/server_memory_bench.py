#!/usr/bin/env python3
"""A server's memory and start time with large companies: imports N face1m vectors into each of C companies of a
release faceid-server on a SQLite data folder (skipped when the folder already holds them), waits until every company's
collection has its published IVF-PQ model, then restarts the server and measures the time from spawn to `/readyz` 200
(every collection opened and caught up), the resident memory split into anonymous (heap, stacks) and file-backed (the
LMDB map's pages, the OS's to drop) from /proc, and the HTTP round trip of encoding searches.

The folder keeps its master key (`bench.key`), so another binary can be measured on it (or on a copy of it): the
before/after figures of issue 16 were taken that way.

Usage: server_memory_bench.py <faceid-server> <face1m base.fvecs> <data folder> [--companies 1] [--faces 1000000]
       [--models DIR] [--restarts 3]
"""
import base64
import http.client
import json
import os
import struct
import subprocess
import sys
import threading
import time


def option(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main():
    server, base, data = sys.argv[1], sys.argv[2], sys.argv[3]
    companies, faces = option("--companies", 1), option("--faces", 1000000)
    models, restarts = option("--models", "models"), option("--restarts", 3)
    os.makedirs(data, exist_ok=True)
    key_path = os.path.join(data, "bench.key")
    if not os.path.exists(key_path):
        with open(key_path, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode())
    node = Node(server, data, open(key_path).read().strip(), models)
    tokens_path = os.path.join(data, "bench-tokens.json")
    if not os.path.exists(tokens_path):
        node.start()
        try:
            tokens = populate(node, base, companies, faces)
            wait_for_models(node, tokens)
            print(f"populated: {memory(node.process.pid)}")
        finally:
            node.stop()
        with open(tokens_path, "w") as f:
            json.dump(tokens, f)
    tokens = json.load(open(tokens_path))
    # Probes: the set's held-out queries (query.fvecs beside base.fvecs), else the first base vectors.
    queries = os.path.join(os.path.dirname(base), "query.fvecs")
    probes = read_vectors(queries, 0, 200) if os.path.exists(queries) else read_vectors(base, 0, 200)
    for run in range(restarts):
        started = time.perf_counter()
        node.start()
        try:
            ready = time.perf_counter() - started
            after_start = memory(node.process.pid)
            times = []
            for token in tokens:
                for v in probes:
                    t = time.perf_counter()
                    status, reply = node.call("POST", "/face/search/encoding", {"encoding": v, "top_k": 10}, token)
                    assert status == 200, reply
                    times.append((time.perf_counter() - t) * 1000)
            times.sort()
            result = {"run": run, "companies": len(tokens), "faces_per_company": faces, "start_to_ready_s": round(ready, 2),
                      **after_start, "after_searches": memory(node.process.pid),
                      "search_p50_ms": round(times[len(times) // 2], 2), "search_p99_ms": round(times[len(times) * 99 // 100], 2)}
            print(json.dumps(result))
        finally:
            node.stop()


class Node:
    def __init__(self, server, data, key, models):
        self.server, self.data = server, data
        self.port = 18500 + os.getpid() % 500
        self.env = dict(os.environ, FACEID_DATA_DIRECTORY=data, FACEID_HTTP_PORT=str(self.port),
                        FACEID_HTTP_PLAINTEXT="true", FACEID_CRYPTO_MASTER_KEY=key, FACEID_LOG_LEVEL="notice",
                        FACEID_AUTH_BCRYPT_COST="4", FACEID_MODELS_DIRECTORY=models,
                        FACEID_RATE_LIMIT_COMPANY_PER_MINUTE="100000000",
                        FACEID_RATE_LIMIT_FACE_REGISTRATIONS_PER_MINUTE="100000000",
                        FACEID_RATE_LIMIT_REGISTER_PER_HOUR="1000")
        self.process = None

    def start(self):
        log = open(os.path.join(self.data, "bench-server.log"), "ab")
        self.process = subprocess.Popen([self.server], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 1800
        while True:
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}); see {self.data}/bench-server.log")
            if time.time() > deadline:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=120)

    def call(self, method, path, body=None, token=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=900)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Token " + token
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        return response.status, (json.loads(raw) if raw else None)


def read_vectors(path, skip, count):
    out = []
    with open(path, "rb") as f:
        d = struct.unpack("<i", f.read(4))[0]
        f.seek(skip * (4 + 4 * d))
        for _ in range(count):
            d = struct.unpack("<i", f.read(4))[0]
            out.append(list(struct.unpack(f"<{d}f", f.read(4 * d))))
    return out


def populate(node, base, companies, faces):
    tokens = []
    vectors = read_vectors(base, 0, faces)
    for c in range(companies):
        status, reply = node.call("POST", "/register", {"company_name": f"Large {c}", "email": f"owner{c}@large.example",
                                                        "password": "correct horse battery", "full_name": "Owner"})
        assert status == 201, reply
        token = reply["token"]
        tokens.append(token)
        started = time.time()
        batches = list(range(0, faces, 2000))
        failures = []

        def worker(mine):
            for start in mine:
                body = [{"external_id": f"c{c}-{start + i}", "encoding": [round(x, 6) for x in v]}
                        for i, v in enumerate(vectors[start:start + 2000])]
                status, reply = node.call("POST", "/faces/import", body, token)
                if status != 201:
                    failures.append((status, reply))

        threads = [threading.Thread(target=worker, args=(batches[i::2],)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures[:2]
        print(f"company {c}: imported {faces} faces in {time.time() - started:.0f} s", flush=True)
    return tokens


def wait_for_models(node, tokens):
    started = time.time()
    for token in tokens:
        while True:
            status, reply = node.call("GET", "/index/status", None, token)
            assert status == 200, reply
            if any(c["model"] and c["count"] > 0 for c in reply["collections"]):
                break
            time.sleep(1)
    print(f"every company's model published and installed {time.time() - started:.0f} s after the last import", flush=True)


def memory(pid):
    """Resident memory from /proc/<pid>/status, MiB: total, anonymous (heap, stacks) and file-backed (mapped files)."""
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return {"rss_mib": fields["VmRSS"], "anon_mib": fields["RssAnon"], "file_mib": fields["RssFile"],
            "peak_rss_mib": fields["VmHWM"]}


if __name__ == "__main__":
    main()
