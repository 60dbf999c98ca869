"""Schemathesis hooks for scripts/schemathesis.sh: the credential every generated request carries, and real ids.

A fuzzed `POST /logout` revokes the session it is sent with, a fuzzed `PATCH /users/{id}` may disable or
demote the owner, and a fuzzed `PATCH /settings` may lower the company's requests_per_minute to 10, so one
token set at the start would turn the rest of the run into 401s and 429s. Instead, after any 401 or 429 (and
every `REFRESH_SECONDS`) a fresh company is registered (the run raises `rateLimit.registerPerHour`) and its
owner's session token is used from then on.

Each fresh company is seeded with one resource of every kind (a person with an imported face, an employee with a
kiosk face, a group, a device, a user, an API key), and every other request to an `{id}` path gets the seeded id
instead of the generated one, so that those operations answer from their logic and not always 404.
"""

import itertools
import json
import os
import secrets
import urllib.request

import schemathesis

BASE_URL = os.environ["FACEID_SCHEMATHESIS_URL"]
APP_SECRET = os.environ["FACEID_SCHEMATHESIS_APP_SECRET"]
REFRESH_SECONDS = 60

# Path template → the seeded id of the current company for its `{id}`.
seeded_ids = {}
# Alternates generated and seeded ids (deterministic, unlike a random choice).
use_seeded_id = itertools.cycle([True, False])


def call(method, path, body, token=None):
    """One JSON request to the server under test; the decoded answer."""
    headers = {"Content-Type": "application/json", "X-App-Secret": APP_SECRET}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(BASE_URL + path, data=json.dumps(body).encode(), method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def seed(token):
    """One resource of every kind in the token's company; their ids by the path templates that take them."""
    encoding = [round(0.01 * (index % 17) - 0.08, 6) for index in range(128)]
    person = call("POST", "/persons", {"full_name": "Seed Person", "tags": ["seed"]}, token)["person"]["id"]
    face = call("POST", "/faces/import", [{"person_id": person, "encoding": encoding}], token)["face_ids"][0]
    employee = call("POST", "/api/employees", {"name": "Dela Cruz, Juan", "timekeeper_id": "T-1"}, token)["employee"]["id"]
    call("POST", f"/api/employees/{employee}/face", {"face_encoding": json.dumps(encoding)}, token)
    group = call("POST", "/groups", {"name": "Seed Group"}, token)["group"]["id"]
    device = call("POST", "/devices", {"name": "Seed Kiosk"}, token)["device"]["id"]
    user = call("POST", "/users", {"email": f"staff-{secrets.token_hex(6)}@schemathesis.test",
                                   "password": "correct horse battery staple", "role": "staff"}, token)["user"]["id"]
    api_key = call("POST", "/api-keys", {"name": "Seed Key", "scopes": ["recognize"]}, token)["api_key"]["id"]
    return {
        "/persons/{id}": person, "/persons/{id}/faces": person,
        "/faces/{id}": face, "/faces/{id}/image": face,
        "/api/employees/{id}": employee, "/api/employees/{id}/face": employee,
        "/api/employees/{id}/face/propagation": employee,
        "/groups/{id}": group, "/devices/{id}": device, "/api/devices/{id}/ack": device,
        "/users/{id}": user, "/api-keys/{id}": api_key,
    }


@schemathesis.auth(refresh_interval=REFRESH_SECONDS, retry_on=[401, 429])
class FreshOwnerSession:
    """The session token of the owner of a newly registered, seeded company, sent as `Authorization: Bearer`."""

    def get(self, case, context):
        suffix = secrets.token_hex(6)
        token = call("POST", "/register", {
            "company_name": f"Schemathesis {suffix}",
            "email": f"owner-{suffix}@schemathesis.test",
            "password": "correct horse battery staple",
        })["token"]
        seeded_ids.clear()
        seeded_ids.update(seed(token))
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, kwargs):
    """Every other request to an `{id}` path names a resource that exists in the caller's company."""
    seeded = seeded_ids.get(case.operation.path)
    if seeded is not None and case.path_parameters and "id" in case.path_parameters and next(use_seeded_id):
        case.path_parameters["id"] = seeded


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """`POST /faces/import` as JSON lines: one object per line (a generated array gives one line per element)."""
    items = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(item) for item in items).encode("utf-8")
