#!/usr/bin/env python3
"""Figures of a faceid deployment on PostgreSQL: three release nodes on loopback sharing one throw-away cluster.

Run inside pg_virtualenv with the release server (Benchmarks/multinode.sh does both):
  - write-to-visible latency from node A to node B's index (p50/p99), with NOTIFY and with the 2 s poll alone;
  - catch-up of a new node per 100,000 faces: replaying the feed, and loading a snapshot (the feed purged);
  - the write outage while PostgreSQL restarts (`pg_ctlcluster restart -m fast`, then `-m immediate`);
  - optionally `faceid-bench load` and `faceid-bench sync` through one node and through the three in turn, with each
    node's CPU seconds (--bench <faceid-bench binary>).

Usage: multinode_bench.py <faceid-server> [--faces 100000] [--bench <faceid-bench>] [--photos DIR] [--models DIR] [--sqlite]
(--sqlite: the same on one node with the embedded store: import, restart with the index current and deleted, the benches.)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import base64
import random

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import multinode_cluster as m  # noqa: E402


# The quotas raised for the benches, as the README's single-node figures were measured.
BENCH_ENV = {"FACEID_LOG_LEVEL": "warning", "FACEID_RATE_LIMIT_FACE_REGISTRATIONS_PER_MINUTE": "100000",
             "FACEID_RATE_LIMIT_FULL_SYNCS_PER_HOUR": "100000"}


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(node):
    with open(f"/proc/{node.process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_on(node, company):
    status = m.index_status(node, company)
    return status["collections"][0]["count"] if status else None


def visible_latency(a, b, company, samples, rng):
    """ms from the import's answer on A until B's index holds it (B's own follower: nothing asks B to catch up)."""
    latencies = []
    for _ in range(samples):
        before = count_on(b, company)
        status, reply, _ = m.request(a, "POST", "/faces/import", [{"external_id": f"lat-{rng.random()}", "encoding": m.encoding(rng)}],
                                     company["admin"])
        assert status == 201, reply
        acknowledged = time.perf_counter()
        while count_on(b, company) == before:
            time.sleep(0.001)
        latencies.append((time.perf_counter() - acknowledged) * 1000)
    return latencies


def wait_ready(node, timeout=600):
    start = time.perf_counter()
    node.wait_ready(timeout)
    return time.perf_counter() - start


def outage(nodes, company, mode, cluster_name):
    """Longest gap between acknowledged imports (one writer per node) around a PostgreSQL restart."""
    stop = threading.Event()
    acks = {n.name: [] for n in nodes}
    errors = {n.name: 0 for n in nodes}

    def writer(node):
        rng = random.Random(node.port)
        while not stop.is_set():
            try:
                status, _, _ = m.request(node, "POST", "/faces/import", [{"external_id": f"o-{rng.random()}", "encoding": m.encoding(rng)}],
                                         company["admin"], timeout=10)
                if status == 201:
                    acks[node.name].append(time.perf_counter())
                else:
                    errors[node.name] += 1
                    time.sleep(0.05)
            except OSError:
                errors[node.name] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    time.sleep(3)
    restart = time.perf_counter()
    subprocess.run(["pg_ctlcluster", "15", cluster_name, "restart", "-m", mode], check=True, capture_output=True)
    restarted = time.perf_counter()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join()
    gaps = {}
    for name, times in acks.items():
        around = [b - a for a, b in zip(times, times[1:]) if b > restart - 1]
        gaps[name] = max(around) if around else float("nan")
    return (restarted - restart), gaps, errors


def sqlite_figures(server, faces, bench):
    """The same figures on the embedded SQLite store: one node."""
    root = tempfile.mkdtemp(prefix="faceid-sqlite-bench-")
    n = m.Node(0, server, "", base64.b64encode(os.urandom(32)).decode(), root)
    del n.env["FACEID_STORE_URL"]
    n.env.update(BENCH_ENV, FACEID_MODELS_DIRECTORY=option("--models", os.path.abspath("models")))
    try:
        n.start()
        n.wait_ready()
        company = m.setup_company(m.Cluster([n]), "Bench")
        rng = random.Random(5)
        t = time.perf_counter()
        for start in range(0, faces, 2000):
            items = [{"external_id": f"f{start + i}", "encoding": m.encoding(rng)} for i in range(min(2000, faces - start))]
            status, reply, _ = m.request(n, "POST", "/faces/import", items, company["admin"], timeout=300)
            assert status == 201, reply
        print(f"sqlite-bench: imported {faces} faces in {time.perf_counter() - t:.1f} s", flush=True)
        n.stop()
        n.start()
        current = wait_ready(n)
        n.stop()
        subprocess.run(["rm", "-rf", os.path.join(n.data, "index")], check=True)
        n.start()
        rebuilt = wait_ready(n)
        print(f"sqlite-bench: restart with a current index ready after {current:.1f} s; with the index deleted (rebuilt from "
              f"the feed) {rebuilt:.1f} s", flush=True)
        n.stop()
        n.start()
        n.wait_ready()
        if bench:
            run_benches(bench, [n], root)
    finally:
        n.stop()


def main():
    server = sys.argv[1]
    if "--sqlite" in sys.argv:
        sqlite_figures(server, int(option("--faces", "100000")), option("--bench", None))
        return
    # --skip-figures: only the benches (the nodes and a company, then faceid-bench).
    faces = int(option("--faces", "100000"))
    bench = option("--bench", None)
    root = tempfile.mkdtemp(prefix="faceid-multinode-bench-")
    database = "faceid_bench"
    cluster_name = os.environ.get("PG_CLUSTER_NAME", "regress")
    m.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    m.psql(f"CREATE DATABASE {database}")
    base_url = (f"postgres://{os.environ['PGUSER']}:{os.environ.get('PGPASSWORD', '')}@{os.environ['PGHOST']}:"
                f"{os.environ.get('PGPORT', '5432')}/{database}")
    master_key = base64.b64encode(os.urandom(32)).decode()
    models = option("--models", os.path.abspath("models"))
    started = []

    def node(index, url_suffix="?pool=8"):
        n = m.Node(index, server, base_url + url_suffix, master_key, root)
        n.env.update(BENCH_ENV, FACEID_MODELS_DIRECTORY=models)
        started.append(n)
        return n

    results = {}
    try:
        nodes = [node(0), node(1), node(2)]
        nodes[0].start()
        nodes[0].wait_ready()
        for n in nodes[1:]:
            n.start()
        for n in nodes[1:]:
            n.wait_ready()
        cluster = m.Cluster(nodes)
        company = m.setup_company(cluster, "Bench")
        rng = random.Random(5)
        if "--skip-figures" in sys.argv:
            run_benches(bench, nodes, root)
            return

        notify = visible_latency(nodes[0], nodes[1], company, 200, rng)
        results["visible_notify"] = (statistics.median(notify), percentile(notify, 99), len(notify))
        nodes[1].stop()
        polling = node(1, "?pool=8&notify=off")
        polling.port, polling.data = nodes[1].port, nodes[1].data
        polling.env = dict(nodes[1].env, FACEID_STORE_URL=base_url + "?pool=8&notify=off")
        polling.start()
        polling.wait_ready()
        nodes[1] = polling
        poll = visible_latency(nodes[0], nodes[1], company, 40, rng)
        results["visible_poll"] = (statistics.median(poll), percentile(poll, 99), len(poll))
        print("multinode-bench: A→B visible, NOTIFY p50 %.1f ms p99 %.1f ms (n=%d); poll alone p50 %.0f ms p99 %.0f ms (n=%d)"
              % (results["visible_notify"] + results["visible_poll"]), flush=True)

        # A hundred thousand faces, then new nodes catch up.
        batch = 2000
        t = time.perf_counter()
        for start in range(0, faces, batch):
            items = [{"external_id": f"f{start + i}", "encoding": m.encoding(rng)} for i in range(min(batch, faces - start))]
            status, reply, _ = m.request(nodes[start // batch % 3], "POST", "/faces/import", items, company["admin"], timeout=300)
            assert status == 201, reply
        results["import_seconds"] = time.perf_counter() - t
        print(f"multinode-bench: imported {faces} faces in {results['import_seconds']:.1f} s through the three nodes", flush=True)
        for n in nodes:  # every node current before the next phase
            while m.index_status(n, company)["collections"][0]["watermark"] < m.index_status(n, company)["feed_head"]:
                time.sleep(0.2)

        replaying = node(3)
        replaying.start()
        results["catch_up_replay"] = wait_ready(replaying)
        replaying.stop()
        replaying.start()  # its index current: what a start costs without catching up
        results["start_current"] = wait_ready(replaying)
        replaying.stop()
        company_id = m.psql(f"SELECT id FROM companies WHERE name = 'Bench'", database)
        m.psql(f"""BEGIN;
            INSERT INTO sync_state (company_id, purged_through_seq)
              SELECT {company_id}, last_seq FROM feed_heads WHERE company_id = {company_id}
              ON CONFLICT (company_id) DO UPDATE SET purged_through_seq = excluded.purged_through_seq;
            DELETE FROM changes WHERE company_id = {company_id};
            COMMIT;""", database)
        snapshot = node(4)
        snapshot.start()
        results["catch_up_snapshot"] = wait_ready(snapshot)
        snapshot.stop()
        print("multinode-bench: a new node ready after %.1f s replaying the feed, %.1f s loading the snapshot "
              "(a start with a current index: %.1f s), %d faces" % (
                  results["catch_up_replay"], results["catch_up_snapshot"], results["start_current"], faces), flush=True)

        for mode in ("fast", "immediate"):
            took, gaps, errors = outage(nodes, company, mode, cluster_name)
            results[f"outage_{mode}"] = (took, gaps, errors)
            print(f"multinode-bench: restart -m {mode} took {took:.2f} s; longest gap between acknowledged writes per node: "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in gaps.items()) + f"; failed writes {errors}", flush=True)

        if bench:
            run_benches(bench, nodes, root)
    finally:
        for n in started:
            n.stop()
        m.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", check=False)
    print(json.dumps(results, default=str))


def run_benches(bench, nodes, root):
    secret = os.path.join(root, "app.secret")
    with open(secret, "w") as f:
        f.write(m.APP_SECRET)
    photos = option("--photos", "../shared/faces/lfw/images_deepfunneled")
    one = f"http://127.0.0.1:{nodes[0].port}"
    three = ",".join(f"http://127.0.0.1:{n.port}" for n in nodes)
    for name, args in (("load", ["load", "--ca-cert", "", "--photos", photos, "--runs", "3"]),
                       ("sync", ["sync", "--ca-cert", "", "--app-secret-file", secret, "--runs", "3"])):
        for label, url in (("one node", one), ("three nodes in turn", three)) if len(nodes) > 1 else (("the node", one),):
            before = [cpu_seconds(n) for n in nodes]
            t = time.perf_counter()
            result = subprocess.run([bench] + args + ["--url", url], capture_output=True, text=True)
            wall = time.perf_counter() - t
            used = [cpu_seconds(n) - b for n, b in zip(nodes, before)]
            print(f"multinode-bench: faceid-bench {name} through {label}: {wall:.0f} s; CPU seconds per node "
                  + ", ".join(f"{n.name} {u:.1f}" for n, u in zip(nodes, used)), flush=True)
            print(result.stdout if result.returncode == 0 else result.stdout + result.stderr, flush=True)


if __name__ == "__main__":
    main()
