#!/usr/bin/env python3
"""Three faceid-server nodes on loopback sharing one PostgreSQL, under concurrent writers and faults.

Run by scripts/postgres-tests.sh inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set; `pg_ctlcluster` reaches the
throw-away cluster). Precomputed encodings only: no photo, no face model. Standard library only.

Every acknowledged operation is recorded, and these faults run while writers write:
  kill -9 of a node (restarted), SIGSTOP/SIGCONT of a node with requests in flight (it may hold a company's lock),
  pg_terminate_backend of every LISTEN connection, a 60 s open transaction holding another company's row,
  pg_ctlcluster restart -m immediate.
Then it checks: every node's index at the feed head with the store's digest; no gap in the feed; an import acknowledged
on one node found by the next search on another; no search returns a face after its delete was acknowledged; identical
top-10 on every node (past the training size: one published IVF-PQ model, the same on every node); the audit chain intact and gapless; a quota held across nodes; no 500 and no deadlock; each
Idempotency-Key applied at most once; a kiosk following the delta feed through it all ends equal to the server.

Usage: multinode_test.py <faceid-server binary> [--seconds N] [--figures FILE]
"""
import base64
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from multinode_cluster import (Cluster, Node, encoding, index_status, log, psql, request, search, search_on,
                               setup_company, PASSWORD)


# Collections become IVF-PQ at this size (`index.trainAt`): the test seeds past it, so one node trains the model, all install it.
TRAIN_AT = 1000
SEEDED = 1100


def main():
    binary = sys.argv[1]
    seconds = 80
    if "--seconds" in sys.argv:
        seconds = int(sys.argv[sys.argv.index("--seconds") + 1])
    root = tempfile.mkdtemp(prefix="faceid-multinode-")
    database = "faceid_multinode"
    psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    psql(f"CREATE DATABASE {database}")
    password = os.environ.get("PGPASSWORD", "")
    store_url = (f"postgres://{os.environ['PGUSER']}:{password}@{os.environ['PGHOST']}:{os.environ.get('PGPORT', '5432')}/{database}"
                 "?pool=8")
    master_key = base64.b64encode(os.urandom(32)).decode()
    nodes = [Node(i, binary, store_url, master_key, root, {"FACEID_INDEX_TRAIN_AT": str(TRAIN_AT)}) for i in range(3)]
    failures = []
    try:
        # The first node migrates; the others start together.
        nodes[0].start()
        nodes[0].wait_ready()
        for node in nodes[1:]:
            node.start()
        for node in nodes[1:]:
            node.wait_ready()
        log(f"3 nodes up on ports {[n.port for n in nodes]} (logs in {root})")
        failures = run(nodes, database, seconds)
    finally:
        for node in nodes:
            node.stop()
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", check=False)
    if failures:
        for failure in failures:
            log("FAILED: " + failure)
        sys.exit(1)
    log("passed")


def run(nodes, database, seconds):
    cluster = Cluster(nodes)
    failures = []
    acme = setup_company(cluster, "Acme")
    other = setup_company(cluster, "Other")
    status, me, _, _ = cluster.call("GET", "/me", headers=acme["owner"])
    acme_id = me["company"]["id"]
    status, me, _, _ = cluster.call("GET", "/me", headers=other["owner"])
    other_id = me["company"]["id"]
    # Past the training size before the writers start: one node trains each collection's model and publishes it through the
    # feed; every node installs it. The rest of the test runs on IVF-PQ copies.
    seed_rng = random.Random(7)
    seeded = {}
    started = time.time()
    for chunk in range(0, SEEDED, 100):
        vectors = [encoding(seed_rng) for _ in range(100)]
        status, reply, _, _ = cluster.call("POST", "/faces/import", [
            {"external_id": f"seed-{chunk + i}", "full_name": f"Seed {chunk + i}", "encoding": v} for i, v in enumerate(vectors)],
            acme["admin"], start=chunk // 100)
        assert status == 201, reply
        seeded.update(zip(reply["face_ids"], vectors))
    while time.time() - started < 90:
        statuses = [index_status(n, acme) for n in nodes]
        if all(s and s["collections"][0]["model"] for s in statuses):
            break
        time.sleep(0.2)
    models = {n.name: (s["collections"][0]["kind"], s["collections"][0]["model"]) if s else None for n, s in zip(nodes, statuses)}
    if len(set(models.values())) != 1 or None in models.values() or not list(models.values())[0][1]:
        failures.append(f"the published model did not reach every node: {models}")
    log(f"seeded {SEEDED} faces; model {list(models.values())[0]} on every node {time.time() - started:.1f} s after the "
        f"first import")

    employees = []
    for index in range(30):
        status, reply, _, _ = cluster.call("POST", "/api/employees", {"name": f"Employee {index}", "timekeeper_id": f"TK-{index}"},
                                           acme["admin"])
        assert status == 201, reply
        employees.append(reply["employee"]["id"])

    lock = threading.Lock()
    stop = threading.Event()
    live = dict(seeded)  # face id → encoding: imports acknowledged and not deleted
    deleted = {}         # face id → encoding: deletes acknowledged
    keys = []            # every import's (external id, acknowledged?)
    expected_kiosk = {}  # employee id → encoding or None (what the last acknowledged kiosk call left)
    violations = []
    visible_checks = [0]
    answers_lost = [0]

    def writer(number):
        rng = random.Random(1000 + number)
        mine = []
        own_employees = employees[number::3]
        sequence = 0
        while not stop.is_set():
            sequence += 1
            choice = rng.random()
            start = rng.randrange(3)
            if choice < 0.5 or not mine:
                vector = encoding(rng)
                external = f"w{number}-{sequence}"
                key = {"Idempotency-Key": str(uuid.uuid4())}
                key.update(acme["admin"])
                status, reply, node, _ = cluster.call("POST", "/faces/import",
                                                      [{"external_id": external, "full_name": external, "encoding": vector}],
                                                      key, start=start)
                lost = status == 409 and isinstance(reply, dict) and reply.get("code") == "idempotent_request_applied"
                with lock:
                    keys.append((external, status == 201 or lost))
                if lost:
                    # Applied on a node that stopped before answering: the face is there; find it.
                    answers_lost[0] += 1
                    _, persons, _, _ = cluster.call("GET", f"/persons?external_id={external}", headers=acme["admin"])
                    _, faces, _, _ = cluster.call("GET", f"/persons/{persons['persons'][0]['id']}/faces", headers=acme["admin"])
                    face_id = faces["faces"][0]["id"]
                    with lock:
                        live[face_id] = vector
                    mine.append(face_id)
                    continue
                if status != 201:
                    violations.append(f"import {external}: {status} {reply}")
                    continue
                face_id = reply["face_ids"][0]
                with lock:
                    live[face_id] = vector
                mine.append(face_id)
                # The next search, on another node, finds it.
                found = search(cluster, acme, vector, start=node + 1, top_k=1)
                with lock:
                    visible_checks[0] += 1
                if found is None or not found or found[0][0] != face_id or found[0][1] != 0:
                    violations.append(f"face {face_id} acknowledged on node{node} not found on another node: {found}")
            elif choice < 0.7:
                face_id = mine.pop(rng.randrange(len(mine)))
                key = {"Idempotency-Key": str(uuid.uuid4())}
                key.update(acme["admin"])
                status, reply, node, _ = cluster.call("DELETE", f"/faces/{face_id}", None, key, start=start)
                if status not in (204, 409):
                    violations.append(f"delete {face_id}: {status} {reply}")
                    continue
                with lock:
                    deleted[face_id] = live.pop(face_id)
                found = search(cluster, acme, deleted[face_id], start=node + 1, top_k=5)
                if found and any(candidate == face_id for candidate, _ in found):
                    violations.append(f"face {face_id} deleted on node{node} still returned by another node")
            else:
                employee = rng.choice(own_employees)
                headers = {"Idempotency-Key": str(uuid.uuid4())}
                headers.update(acme["kiosk"])
                if choice < 0.9:
                    vector = encoding(rng)
                    status, reply, _, _ = cluster.call("POST", f"/api/employees/{employee}/face", {"face_encoding": vector},
                                                       headers, start=start)
                    if status == 200 or (status == 409 and reply.get("code") == "idempotent_request_applied"):
                        with lock:
                            expected_kiosk[employee] = vector
                    elif status == 429:
                        time.sleep(1)
                    elif status != 409:
                        violations.append(f"kiosk upload {employee}: {status} {reply}")
                else:
                    status, reply, _, _ = cluster.call("DELETE", f"/api/employees/{employee}/face", None, headers, start=start)
                    if status in (200, 404) or (status == 409 and reply.get("code") == "idempotent_request_applied"):
                        with lock:
                            expected_kiosk[employee] = None
                    elif status != 409:
                        violations.append(f"kiosk delete {employee}: {status} {reply}")

    kiosk_state = {"cursor": None, "table": {}, "full_syncs": 0}

    def kiosk_follower():
        rng = random.Random(7)
        while not stop.is_set():
            follow_feed(cluster, acme, kiosk_state, rng.randrange(3))
            time.sleep(0.5)

    fault_log = []

    def faults():
        begin = time.time()

        def at(offset):
            while time.time() - begin < offset and not stop.is_set():
                time.sleep(0.1)

        # Another company's transaction holds its row (its lock) for 60 s: Acme's writes and followers must not wait.
        holder = subprocess.Popen(["psql", "-X", "-d", database, "-c",
                                   f"BEGIN; SELECT id FROM companies WHERE id = {other_id} FOR UPDATE; SELECT pg_sleep(60); COMMIT;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        fault_log.append((time.time() - begin, "a 60 s open transaction on another company"))
        at(8)
        nodes[2].kill()
        fault_log.append((time.time() - begin, "kill -9 node2"))
        at(11)
        nodes[2].start()
        fault_log.append((time.time() - begin, "node2 restarted"))
        at(20)
        nodes[1].kill(signal.SIGSTOP)
        fault_log.append((time.time() - begin, "SIGSTOP node1"))
        at(25)
        nodes[1].kill(signal.SIGCONT)
        fault_log.append((time.time() - begin, "SIGCONT node1"))
        at(32)
        killed = psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%'", database)
        fault_log.append((time.time() - begin, f"pg_terminate_backend of {killed} LISTEN connections"))
        holder.wait()
        fault_log.append((time.time() - begin, "the open transaction ended"))
        at(max(64, time.time() - begin))
        cluster_name = os.environ.get("PG_CLUSTER_NAME", "regress")
        subprocess.run(["pg_ctlcluster", os.environ.get("PG_VERSION", "15"), cluster_name, "restart", "-m", "immediate"], check=True,
                       capture_output=True)
        fault_log.append((time.time() - begin, "pg_ctlcluster restart -m immediate"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=kiosk_follower))
    fault_thread = threading.Thread(target=faults)
    started = time.time()
    for thread in threads + [fault_thread]:
        thread.start()
    fault_thread.join()
    while time.time() - started < seconds:
        time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    for offset, what in fault_log:
        log(f"  t={offset:5.1f} s  {what}")
    log(f"writers done after {time.time() - started:.0f} s: {len(live)} live faces, {len(deleted)} deleted, "
        f"{visible_checks[0]} cross-node visibility checks, {cluster.retries} requests retried on another node "
        f"({answers_lost[0]} imports applied by a node that stopped before answering), "
        f"answers {dict(sorted(cluster.statuses.items(), key=str))}")
    failures += violations

    # Quiescence: every node's index reaches the feed head.
    heads = {}
    deadline = time.time() + 60
    while time.time() < deadline:
        heads = {n.name: index_status(n, acme) for n in nodes}
        if all(s and all(c["watermark"] == s["feed_head"] for c in s["collections"]) for s in heads.values()):
            break
        time.sleep(0.5)
    store_view = index_status(nodes[0], acme, verify=True)
    for name, status in heads.items():
        for mine, theirs in zip(status["collections"], store_view["store"]["collections"]):
            if mine["watermark"] != status["feed_head"]:
                failures.append(f"{name} {mine['space']} at {mine['watermark']}, feed head {status['feed_head']}")
            if (mine["digest"], mine["count"]) != (theirs["digest"], theirs["count"]):
                failures.append(f"{name} {mine['space']}: {mine['count']} vectors digest {mine['digest']}, "
                                f"the store {theirs['count']} digest {theirs['digest']}")
    # One model per collection on every node (the one published before the writers started: nobody trained again).
    for space_index, space in enumerate(store_view["store"]["collections"]):
        kinds = {name: (s["collections"][space_index]["kind"], s["collections"][space_index]["model"]) for name, s in heads.items()}
        if len(set(kinds.values())) != 1:
            failures.append(f"{space['space']}: different models on the nodes: {kinds}")
    models_now = {s["collections"][0]["model"] for s in heads.values()}
    if models_now != {list(models.values())[0][1]}:
        failures.append(f"all:dlib's model changed during the test: {models} then {models_now}")
    published = psql(f"SELECT count(*) FROM index_models WHERE company_id = {acme_id}", database)
    if published.strip() != "2":
        failures.append(f"{published.strip()} models published for Acme, expected 2 (all:dlib and only:dlib)")
    log("index copies: " + ", ".join(f"{name} {s['collections'][0]['count']} faces @ {s['collections'][0]['watermark']} "
                                    f"digest {s['collections'][0]['digest']}" for name, s in heads.items()))
    if heads and store_view["store"]["collections"][0]["count"] != len(live) + count_employee_faces(expected_kiosk):
        failures.append(f"the store holds {store_view['store']['collections'][0]['count']} faces, the writers acknowledged "
                        f"{len(live)} imports and {count_employee_faces(expected_kiosk)} kiosk faces")

    # The feed: numbered 1…head per company, no gap.
    for company, count, low, high in (row.split("|") for row in psql(
            "SELECT company_id, count(*), min(seq), max(seq) FROM changes GROUP BY company_id", database).splitlines()):
        if int(count) != int(high) - int(low) + 1 or int(low) != 1:
            failures.append(f"company {company}'s feed has gaps: {count} rows numbered {low}…{high}")
    audit = psql(f"SELECT count(*), min(audit_seq), max(audit_seq) FROM audit_events WHERE company_id = {acme_id}", database).split("|")
    if int(audit[0]) != int(audit[2]) - int(audit[1]) + 1:
        failures.append(f"the audit sequence has gaps: {audit}")
    for node in nodes:
        status, reply, _ = request(node, "GET", "/audit/verify", headers=acme["admin"])
        if status != 200 or not reply.get("intact"):
            failures.append(f"audit verify on {node.name}: {status} {reply}")
    log(f"feed gapless; audit chain: {audit[0]} events, sequence {audit[1]}…{audit[2]}, intact on every node")

    # Identical top-10 on every node for fixed probes.
    rng = random.Random(99)
    probes = [encoding(rng) for _ in range(10)] + [[x + rng.gauss(0, 0.01) for x in v] for v in list(live.values())[:10]]
    differing = 0
    for probe in probes:
        answers = [search_on(node, acme, probe, 10) for node in nodes]
        if any(answer != answers[0] for answer in answers):
            differing += 1
    if differing:
        failures.append(f"{differing} of {len(probes)} probes got different top-10s on different nodes")
    log(f"top-10 identical on the 3 nodes for {len(probes) - differing} of {len(probes)} probes")

    # Each Idempotency-Key's import applied at most once (exactly once when acknowledged).
    doubles = missing = 0
    for external, acknowledged in keys:
        status, reply, _, _ = cluster.call("GET", f"/persons?external_id={external}", headers=acme["admin"])
        persons = reply.get("persons", []) if isinstance(reply, dict) else []
        if len(persons) > 1:
            doubles += 1
        if acknowledged and len(persons) != 1:
            missing += 1
    if doubles or missing:
        failures.append(f"idempotent imports: {doubles} applied twice, {missing} acknowledged but absent")
    log(f"{len(keys)} imports with Idempotency-Keys: none applied twice, every acknowledged one present")

    # The kiosk that followed the delta feed through every fault ends where the server is.
    for _ in range(20):
        if follow_feed(cluster, acme, kiosk_state, 0):
            break
    table = kiosk_state["table"]
    wrong = [e for e, vector in expected_kiosk.items() if not same_encoding(table.get(e), vector)]
    if wrong:
        failures.append(f"the following kiosk disagrees with the acknowledged uploads for employees {wrong[:5]}")
    log(f"the following kiosk converged ({len(expected_kiosk)} employees touched, {kiosk_state['full_syncs']} full syncs)")

    # A quota across nodes: at most 100 kiosk registrations per company in any minute, however the requests spread.
    quota = setup_company(cluster, "Quota")
    status, reply, _, _ = cluster.call("POST", "/api/employees", {"name": "Q", "timekeeper_id": "Q-1"}, quota["admin"])
    employee = reply["employee"]["id"]
    accepted = refused = 0
    for index in range(150):
        node = nodes[index % 3]
        status, reply, _ = request(node, "POST", f"/api/employees/{employee}/face", {"face_encoding": encoding(rng)}, quota["kiosk"])
        if status == 200:
            accepted += 1
        elif status == 429:
            refused += 1
    if accepted != 100:
        failures.append(f"quota across nodes: {accepted} accepted of 150 (expected exactly 100), {refused} refused")
    log(f"quota across 3 nodes: {accepted} of 150 registrations accepted within the minute, {refused} refused with 429")

    # A photo kept through node0 is read through node1 and deleted through node2, for every node.
    faces_dir = os.environ.get("FACEID_FACES_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "faces"))
    photo_path = os.path.join(faces_dir, "lfw", "images_deepfunneled", "Aaron_Peirsol", "Aaron_Peirsol_0001.jpg")
    if os.path.exists(photo_path):
        photo = open(photo_path, "rb").read()
        status, reply, _, _ = cluster.call("PATCH", "/settings", {"store_images": True}, acme["owner"])
        status, reply, _ = request(nodes[0], "POST", "/face/enroll", {"image": base64.b64encode(photo).decode(), "full_name": "Aaron"},
                                   acme["admin"], timeout=120)
        if status != 201:
            failures.append(f"enroll with a kept photo: {status} {reply}")
        else:
            face_id = reply["face_id"]
            status, read, _ = request(nodes[1], "GET", f"/faces/{face_id}/image", headers=acme["admin"])
            if status != 200 or read != photo:
                failures.append(f"the photo kept through node0 read through node1: {status}")
            status, _, _ = request(nodes[2], "DELETE", f"/faces/{face_id}", headers=acme["admin"])
            gone = [request(n, "GET", f"/faces/{face_id}/image", headers=acme["admin"])[0] for n in nodes]
            if status != 204 or gone != [404, 404, 404]:
                failures.append(f"the photo deleted through node2: {status}, then {gone}")
            log("a photo kept through node0 was read through node1 and, deleted through node2, is gone on every node")
    else:
        log(f"photo check skipped: {photo_path} is absent (set FACEID_FACES_DIR)")

    # A company deleted through node0: the other nodes drop its index collections too (their follower, every 10 s).
    gone = setup_company(cluster, "Gone")
    rng = random.Random(18)
    vectors = [encoding(rng) for _ in range(5)]
    status, reply, _ = request(nodes[1], "POST", "/faces/import", [{"external_id": f"G{i}", "encoding": v} for i, v in enumerate(vectors)],
                               gone["admin"], timeout=60)
    if status != 201:
        failures.append(f"import into the company to delete: {status} {reply}")
    for node in nodes:
        search_on(node, gone, vectors[0], 1)  # every node catches the company up: it has collections everywhere
    status, reply, _ = request(nodes[0], "DELETE", "/company", {"password": PASSWORD, "confirmation": "delete Gone"}, gone["owner"])
    if status != 200:
        failures.append(f"DELETE /company through node0: {status} {reply}")
    else:
        deadline = time.time() + 40
        dropped = []
        while time.time() < deadline:
            dropped = [n.name for n in nodes[1:] if "dropped the index collections of deleted companies" in open(n.log_path, errors="replace").read()]
            if len(dropped) == 2:
                break
            time.sleep(1)
        if len(dropped) != 2:
            failures.append(f"the deleted company's collections were dropped on {dropped} only, not on both other nodes")
        else:
            log(f"a company deleted through node0 ({reply['index_collections']} collections there): node1 and node2 dropped theirs "
                f"{40 - (deadline - time.time()):.0f} s later at most")

    if cluster.server_errors:
        failures.append(f"{len(cluster.server_errors)} answers 5xx other than 503, e.g. {cluster.server_errors[:3]}")
    deadlocks = sum(open(n.log_path, errors="replace").read().count("40P01") for n in nodes)
    if deadlocks:
        failures.append(f"{deadlocks} deadlock errors in the node logs")
    return failures


def count_employee_faces(expected):
    return sum(1 for vector in expected.values() if vector is not None)


def same_encoding(stored, expected):
    if expected is None or stored is None:
        return expected is None and stored is None
    return len(stored) == len(expected) and all(abs(a - b) < 1e-9 for a, b in zip(stored, expected))


def follow_feed(cluster, company, state, start):
    """One round of the kiosk's delta sync; True when it read to the end."""
    path = "/api/employees/timekeeper/changes?limit=500" + (f"&cursor={state['cursor']}" if state["cursor"] else "")
    try:
        status, reply, _, _ = cluster.call("GET", path, headers=company["kiosk"], start=start, deadline=30)
    except RuntimeError:
        return False
    if status == 410:
        state["cursor"] = None
        state["table"] = {}
        return False
    if status == 429:
        return False
    if status != 200:
        return False
    if state["cursor"] is None:
        state["full_syncs"] += 1
    for change in reply["changes"]:
        if change["op"] == "upsert":
            employee = change["employee"]
            text = employee.get("face_encoding")
            state["table"][employee["id"]] = json.loads(text) if isinstance(text, str) else text
        else:
            state["table"].pop(change["employee_id"], None)
    state["cursor"] = reply["next_cursor"]
    return not reply["has_more"]


if __name__ == "__main__":
    main()
