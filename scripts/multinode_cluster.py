#!/usr/bin/env python3
"""Three (or more) faceid-server nodes on loopback sharing one PostgreSQL: starting and stopping them, calls that fail
over from node to node, and the few API calls the multi-node test (scripts/multinode_test.py) and the multi-node
benchmark (Benchmarks/multinode_bench.py) both make. Standard library only."""
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

APP_SECRET = "multinode-app-secret"
PASSWORD = "correct horse battery"


def log(message):
    print(f"multinode: {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql, database="postgres", check=True):
    result = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr}")
    return result.stdout.strip()


class Node:
    def __init__(self, index, binary, store_url, master_key, root, extra_env=None):
        self.index = index
        self.name = f"node{index}"
        self.port = free_port()
        self.binary = binary
        self.data = os.path.join(root, self.name)
        os.makedirs(self.data, mode=0o700, exist_ok=True)
        self.log_path = os.path.join(root, self.name + ".log")
        self.env = dict(os.environ, FACEID_STORE_URL=store_url, FACEID_DATA_DIRECTORY=self.data,
                        FACEID_HTTP_PORT=str(self.port), FACEID_HTTP_HOST="127.0.0.1", FACEID_HTTP_PLAINTEXT="true",
                        FACEID_CRYPTO_MASTER_KEY=master_key, FACEID_KIOSK_APP_SECRET=APP_SECRET, FACEID_NODE_ID=self.name,
                        FACEID_AUTH_BCRYPT_COST="4", FACEID_LOG_LEVEL="notice",
                        FACEID_RATE_LIMIT_COMPANY_PER_MINUTE="1000000", FACEID_RATE_LIMIT_CREDENTIAL_PER_MINUTE="1000000",
                        FACEID_RATE_LIMIT_REGISTER_PER_HOUR="1000",
                        FACEID_MODELS_DIRECTORY=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
        self.env.update(extra_env or {})
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen([self.binary], env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                status, _, _ = request(self, "GET", "/readyz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s; see {self.log_path}")

    def kill(self, sig=signal.SIGKILL):
        self.process.send_signal(sig)
        if sig == signal.SIGKILL:
            self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def request(node, method, path, body=None, headers=None, timeout=20):
    connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw
        return response.status, parsed, dict(response.getheaders())
    finally:
        connection.close()


class Cluster:
    """The nodes, and calls that fail over: a connection error, a timeout or a 503 moves to the next node; a write keeps its
    Idempotency-Key across the retries."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.lock = threading.Lock()
        self.statuses = {}
        self.retries = 0
        self.server_errors = []

    def count(self, status, what, code=None):
        with self.lock:
            label = f"{status} {code}" if code else status
            self.statuses[label] = self.statuses.get(label, 0) + 1
            if status >= 500 and status != 503:
                self.server_errors.append(what)

    def call(self, method, path, body=None, headers=None, start=0, deadline=90, accept=(200, 201, 204)):
        """(status, body, node index): the first answer that is not a transport failure, a 503 or an in-progress 409."""
        give_up = time.time() + deadline
        attempt = 0
        while True:
            node = self.nodes[(start + attempt) % len(self.nodes)]
            attempt += 1
            try:
                status, parsed, answer_headers = request(node, method, path, body, headers, timeout=15)
            except (OSError, http.client.HTTPException) as error:
                status, parsed, answer_headers = None, str(error), {}
            if status is not None:
                self.count(status, f"{method} {path} on {node.name}: {parsed}",
                           parsed.get("code") if isinstance(parsed, dict) and status >= 400 else None)
            retry = status is None or status == 503 or (
                status == 409 and isinstance(parsed, dict) and parsed.get("code") == "idempotency_in_progress")
            if not retry:
                if attempt > 1:
                    with self.lock:
                        self.retries += 1
                return status, parsed, node.index, answer_headers
            if time.time() > give_up:
                raise RuntimeError(f"{method} {path}: no answer in {deadline} s (last: {status} {parsed})")
            time.sleep(0.2)


def encoding(rng):
    return [round(rng.gauss(0, 0.09), 6) for _ in range(128)]


def setup_company(cluster, name):
    status, reply, _, _ = cluster.call("POST", "/register", {
        "company_name": name, "email": f"owner@{name.lower()}.example", "password": PASSWORD, "full_name": "Owner"})
    assert status == 201, reply
    token = {"Authorization": "Token " + reply["token"]}
    status, reply, _, _ = cluster.call("POST", "/api-keys", {"name": "admin", "scopes": ["admin"]}, token)
    assert status == 201, reply
    admin = {"X-API-Key": reply["key"]}
    status, reply, _, _ = cluster.call("POST", "/api-keys", {"name": "kiosk", "scopes": ["kiosk"]}, token)
    assert status == 201, reply
    kiosk_key = reply["key"]
    status, reply, _, _ = cluster.call("POST", "/devices", {"name": "Gate 1", "location": "Front desk"}, token)
    assert status == 201, reply
    kiosk = {"X-API-Key": kiosk_key, "X-App-Secret": APP_SECRET, "X-Device-Id": str(reply["device"]["id"]),
             "X-Timekeeper-Desktop": "true"}
    return {"owner": token, "admin": admin, "kiosk": kiosk}


def search(cluster, company, vector, start, top_k):
    status, reply, _, _ = cluster.call("POST", "/face/search/encoding", {"encoding": vector, "top_k": top_k}, company["admin"],
                                       start=start)
    if status != 200:
        return None
    return [(c["face_id"], c["distance"]) for c in reply["candidates"]]


def search_on(node, company, vector, top_k):
    status, reply, _ = request(node, "POST", "/face/search/encoding", {"encoding": vector, "top_k": top_k}, company["admin"])
    return (status, [(c["face_id"], c["distance"]) for c in reply["candidates"]] if status == 200 else reply)


def index_status(node, company, verify=False):
    try:
        status, reply, _ = request(node, "GET", "/index/status" + ("?verify=true" if verify else ""), headers=company["admin"])
    except OSError:
        return None
    return reply if status == 200 else None
