/// The OpenAPI 3.1 description of every route, served at `GET /openapi.yaml`.
///
/// Each operation lists every status it can answer; the error answers are shared entries of `components/responses`
/// (`OpenAPIDocument+Errors.swift`). A test walks the router and fails when a route is missing here, and
/// `scripts/schemathesis.sh` (part of `make test`) fuzzes the live server and fails on any answer this document
/// does not describe.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: faceid
  version: 0.1.0
  description: |
    Self-hosted face recognition. Every error answers
    {"success": false, "error": "<message>", "code": "<stable_code>", "detail": "<optional>"}.
    Credentials: `Authorization: Token <t>`, `Authorization: Bearer <t>` or `X-API-Key: <key>`;
    kiosks may add `X-Device-Id: <device id>` (an id that is not one of the company's devices → 401 unknown_device).
    Every authenticated operation may answer 401 and, when the company's or the credential's rate limit is spent, 429;
    those that touch the face index answer 503 index_rebuilding while a damaged index is rebuilt from the store.
servers:
  - url: https://localhost:8443
security:
  - token: []
  - apiKey: []
paths:
  /healthz:
    get:
      summary: Liveness
      security: []
      responses:
        "200": {description: The process is up, content: {application/json: {schema: {$ref: "#/components/schemas/OK"}}}}
  /readyz:
    get:
      summary: Readiness (the store answers and the index is not being rebuilt; 503 index_rebuilding while it is)
      security: []
      responses:
        "200": {description: Ready, content: {application/json: {schema: {type: object, required: [success], properties: {success: {const: true}, store: {type: string}}}}}}
\#(errors(503))
  /metrics:
    get:
      summary: Prometheus metrics (requests and latencies by route and status)
      security: []
      responses:
        "200": {description: Prometheus text format, content: {text/plain: {schema: {type: string}}}}
  /openapi.yaml:
    get:
      summary: This document
      security: []
      responses:
        "200": {description: OpenAPI 3.1, content: {application/yaml: {schema: {type: object, required: [openapi, info, paths, components]}}}}
  /register:
    post:
      summary: Register a company and its owner
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [company_name, email, password]
              properties:
                company_name: {$ref: "#/components/schemas/Name"}
                email: {$ref: "#/components/schemas/Email"}
                password: {$ref: "#/components/schemas/Password"}
                full_name: {$ref: "#/components/schemas/OptionalName"}
      responses:
        "201": {description: Created, content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}}
\#(errors(400, 409, 413, 415, 429))
  /login:
    post:
      summary: Log in with email and password (failed attempts are limited per address and per email)
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [email, password]
              properties:
                email: {type: string}
                password: {type: string}
      responses:
        "200": {description: Logged in, content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}}
\#(errors(400, 401, 413, 415, 429))
  /logout:
    post:
      summary: Revoke the session token used (an API key → 400 session_required)
      responses:
        "204": {description: Revoked}
\#(errors(400, 401, 429))
  /me:
    get:
      summary: The caller (user or API key) and its company
      responses:
        "200": {description: The caller, content: {application/json: {schema: {type: object, required: [success, company], properties: {success: {const: true}, company: {$ref: "#/components/schemas/Company"}, user: {$ref: "#/components/schemas/User"}, api_key: {$ref: "#/components/schemas/APIKey"}, device_id: {type: integer}}}}}}
\#(errors(401, 429))
  /users:
    get:
      summary: List the company's users
      responses:
        "200": {description: Users, content: {application/json: {schema: {type: object, required: [users], properties: {users: {type: array, items: {$ref: "#/components/schemas/User"}}}}}}}
\#(errors(401, 403, 429))
    post:
      summary: Create a user with a role (only an owner creates an owner)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [email, password, role]
              properties:
                email: {$ref: "#/components/schemas/Email"}
                password: {$ref: "#/components/schemas/Password"}
                full_name: {$ref: "#/components/schemas/OptionalName"}
                role: {$ref: "#/components/schemas/Role"}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, required: [user], properties: {user: {$ref: "#/components/schemas/User"}}}}}}
\#(errors(400, 401, 403, 409, 413, 415, 429))
  /users/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    patch:
      summary: Change a user's role, disabled flag or name (only an owner changes or promotes to an owner)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                role: {$ref: "#/components/schemas/Role"}
                disabled: {type: boolean}
                full_name: {$ref: "#/components/schemas/Name"}
      responses:
        "200": {description: Updated, content: {application/json: {schema: {type: object, required: [user], properties: {user: {$ref: "#/components/schemas/User"}}}}}}
\#(errors(400, 401, 403, 404, 409, 413, 415, 429))
    delete:
      summary: Delete a user
      responses:
        "204": {description: Deleted}
\#(errors(401, 403, 404, 409, 429))
  /api-keys:
    get:
      summary: List API keys (never the secret)
      responses:
        "200": {description: Keys, content: {application/json: {schema: {type: object, required: [api_keys], properties: {api_keys: {type: array, items: {$ref: "#/components/schemas/APIKey"}}}}}}}
\#(errors(401, 403, 429))
    post:
      summary: Create an API key (shown once)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name, scopes]
              properties:
                name: {$ref: "#/components/schemas/Name"}
                scopes: {type: array, minItems: 1, items: {type: string, enum: [recognize, enroll, kiosk, admin]}}
      responses:
        "201": {description: Created; `key` is shown only here, content: {application/json: {schema: {type: object, required: [key, api_key], properties: {key: {type: string}, api_key: {$ref: "#/components/schemas/APIKey"}}}}}}
\#(errors(400, 401, 403, 413, 415, 429))
  /api-keys/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    delete:
      summary: Revoke an API key
      responses:
        "204": {description: Revoked}
\#(errors(401, 403, 404, 429))
  /devices:
    get:
      summary: List kiosks
      responses:
        "200": {description: Devices, content: {application/json: {schema: {type: object, required: [devices], properties: {devices: {type: array, items: {$ref: "#/components/schemas/Device"}}}}}}}
\#(errors(401, 403, 429))
    post:
      summary: Register a kiosk
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {$ref: "#/components/schemas/Name"}
                location: {$ref: "#/components/schemas/OptionalName"}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, required: [device], properties: {device: {$ref: "#/components/schemas/Device"}}}}}}
\#(errors(400, 401, 403, 413, 415, 429))
  /devices/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    delete:
      summary: Remove a kiosk
      responses:
        "204": {description: Removed}
\#(errors(401, 403, 404, 429))
  /settings:
    get:
      summary: Company settings
      responses:
        "200": {description: Settings, content: {application/json: {schema: {type: object, required: [settings], properties: {settings: {$ref: "#/components/schemas/Settings"}}}}}}
\#(errors(401, 403, 429))
    patch:
      summary: Change company settings (absent fields keep their value)
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/Settings"}}}
      responses:
        "200": {description: Settings, content: {application/json: {schema: {type: object, required: [settings], properties: {settings: {$ref: "#/components/schemas/Settings"}}}}}}
\#(errors(400, 401, 403, 413, 415, 429))
  /audit:
    get:
      summary: Audit events, newest first
      parameters:
        - {name: from, in: query, schema: {$ref: "#/components/schemas/Instant"}}
        - {name: to, in: query, schema: {$ref: "#/components/schemas/Instant"}}
        - {name: actor, in: query, schema: {type: string, examples: ["user:3", "api_key:7"]}}
        - {name: action, in: query, schema: {type: string, examples: [auth.login]}}
        - {name: limit, in: query, schema: {$ref: "#/components/schemas/PageLimit"}}
        - {name: cursor, in: query, schema: {$ref: "#/components/schemas/IDCursor"}, description: next_cursor of the previous page}
      responses:
        "200": {description: A page of events, content: {application/json: {schema: {type: object, required: [events], properties: {events: {type: array, items: {$ref: "#/components/schemas/AuditEvent"}}, next_cursor: {type: string}}}}}}
\#(errors(400, 401, 403, 429))
  /audit/verify:
    get:
      summary: Whether the company's audit hash chain is intact and ends at the published chain head
      responses:
        "200": {description: "Verification: intact only when every link holds and the newest event is the published head (anchored) or there are no events (empty)", content: {application/json: {schema: {type: object, required: [intact, event_count], properties: {intact: {type: boolean}, event_count: {type: integer}, first_broken_id: {type: [integer, "null"]}, head: {type: object, properties: {status: {type: string, enum: [anchored, empty, missing, invalid, truncated, mismatch]}, events_after_head: {type: integer}}}}}}}}
\#(errors(401, 403, 429))
  /persons:
    get:
      summary: List persons (filters group, tag, external_id, name substring; ascending ids, paginated)
      parameters:
        - {name: group, in: query, schema: {type: string}}
        - {name: tag, in: query, schema: {type: string}}
        - {name: external_id, in: query, schema: {type: string}}
        - {name: name, in: query, schema: {type: string}}
        - {name: limit, in: query, schema: {$ref: "#/components/schemas/PageLimit"}}
        - {name: cursor, in: query, description: next_cursor of the previous page, schema: {$ref: "#/components/schemas/IDCursor"}}
      responses:
        "200": {description: A page of persons, content: {application/json: {schema: {type: object, required: [persons], properties: {persons: {type: array, items: {$ref: "#/components/schemas/Person"}}, next_cursor: {type: [string, "null"]}}}}}}
\#(errors(400, 401, 429))
    post:
      summary: Create a person
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/PersonInput"}}}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, required: [person], properties: {person: {$ref: "#/components/schemas/Person"}}}}}}
\#(errors(400, 401, 403, 409, 413, 415, 429))
  /persons/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: One person
      responses:
        "200": {description: The person, content: {application/json: {schema: {type: object, required: [person], properties: {person: {$ref: "#/components/schemas/Person"}}}}}}
\#(errors(401, 404, 429))
    patch:
      summary: Change a person (absent fields keep their value; external_id "" clears it; groups replaces the memberships)
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/PersonPatch"}}}
      responses:
        "200": {description: The person, content: {application/json: {schema: {type: object, required: [person], properties: {person: {$ref: "#/components/schemas/Person"}}}}}}
\#(errors(400, 401, 403, 404, 409, 413, 415, 429))
    delete:
      summary: Delete a person (audited)
      responses:
        "204": {description: Deleted}
\#(errors(401, 403, 404, 429, 503))
  /groups:
    get:
      summary: List groups with their member counts
      responses:
        "200": {description: Groups, content: {application/json: {schema: {type: object, required: [groups], properties: {groups: {type: array, items: {$ref: "#/components/schemas/Group"}}}}}}}
\#(errors(401, 429))
    post:
      summary: Create a group
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {$ref: "#/components/schemas/GroupName"}
                description: {$ref: "#/components/schemas/OptionalName"}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, required: [group], properties: {group: {$ref: "#/components/schemas/Group"}}}}}}
\#(errors(400, 401, 403, 409, 413, 415, 429))
  /groups/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    delete:
      summary: Delete a group (its members stay)
      responses:
        "204": {description: Deleted}
\#(errors(401, 403, 404, 429))
  /faces/import:
    post:
      summary: Import precomputed 128-d encodings (a JSON array, or JSON lines) with their persons
      description: |
        Each item names its person by person_id, or by external_id (the person is created, named full_name,
        when the company has none with that external_id). At most 10,000 items per request. The faces are
        searchable when the answer arrives. model names the encoding's model (default dlib-resnet-v1, what
        face_recognition computes); an sface-2021dec encoding must be L2-normalised (400 invalid_field otherwise).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: array
              minItems: 1
              maxItems: 10000
              items: {$ref: "#/components/schemas/ImportItem"}
          application/x-ndjson:
            schema: {$ref: "#/components/schemas/ImportItem"}
      responses:
        "201": {description: Imported, content: {application/json: {schema: {type: object, required: [imported, face_ids, person_ids], properties: {imported: {type: integer}, face_ids: {type: array, items: {type: integer}}, person_ids: {type: array, items: {type: integer}}}}}}}
\#(errors(400, 401, 403, 404, 409, 413, 429, 503))
  /faces/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: A face's metadata; the encoding only with include_encoding=true, to the desktop app (a kiosk key, or an owner/admin/staff login, with X-App-Secret) or an admin-scoped API key (others → 403)
      parameters:
        - {name: include_encoding, in: query, schema: {type: boolean, default: false}}
        - {name: X-App-Secret, in: header, required: false, schema: {type: string}, description: the desktop app secret; needed with include_encoding=true unless the caller is an admin-scoped API key}
      responses:
        "200": {description: The face, content: {application/json: {schema: {type: object, required: [face], properties: {face: {$ref: "#/components/schemas/Face"}}}}}}
\#(errors(400, 401, 403, 404, 429))
    delete:
      summary: Delete a face (from the store, the index and, through the feed, every kiosk; audited)
      responses:
        "204": {description: Deleted}
\#(errors(401, 403, 404, 429, 503))
  /faces/{id}/image:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: The enrollment photo (kept only while the company setting store_images is on; owner/admin; audited)
      responses:
        "200": {description: The photo, content: {image/jpeg: {}, image/png: {}}}
\#(errors(401, 403, 404, 429))
  /persons/{id}/faces:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: A person's faces
      responses:
        "200": {description: Faces, content: {application/json: {schema: {type: object, required: [faces], properties: {faces: {type: array, items: {$ref: "#/components/schemas/Face"}}}}}}}
\#(errors(401, 404, 429))
  /face/enroll:
    post:
      summary: Enroll a face from a photo, for an existing person (person_id) or a new one (its fields)
      description: |
        The company's recognition_model finds the face; the embedding of every model is computed and stored.
        The photo must show one face passing the quality gate (422 no_face, multiple_faces unless select=largest,
        face_too_small, face_cut_off, low_detector_score). Duplicate guard: the nearest face of a different person
        within the company's duplicate_distance → 409 duplicate_face with that person, unless an owner or admin
        sends allow_duplicate=true.
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: {type: object, description: "the same fields as form fields (tags and groups repeated or a JSON array, metadata as JSON); image as a file part"}
          application/json:
            schema:
              type: object
              required: [image]
              anyOf: [{required: [person_id]}, {required: [full_name]}]
              properties:
                image: {$ref: "#/components/schemas/Photo"}
                person_id: {type: integer}
                external_id: {type: string, maxLength: 100}
                full_name: {$ref: "#/components/schemas/Name"}
                tags: {$ref: "#/components/schemas/Tags"}
                groups: {$ref: "#/components/schemas/GroupNames"}
                metadata: {$ref: "#/components/schemas/Metadata"}
                reference: {type: boolean, default: false}
                select: {type: string, enum: [largest]}
                allow_duplicate: {type: boolean, default: false}
      responses:
        "201": {description: "Enrolled; models lists the models whose embeddings were stored (the company's model always)", content: {application/json: {schema: {type: object, required: [face_id, person, box, quality, models], properties: {face_id: {type: integer}, person: {$ref: "#/components/schemas/Person"}, box: {$ref: "#/components/schemas/Box"}, quality: {type: object}, models: {type: array, items: {$ref: "#/components/schemas/ModelID"}}}}}}}
\#(errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 503))
  /face/search:
    post:
      summary: Identify every face of a probe photo among the company's persons (1:N)
      description: |
        Per face, candidates ranked by distance (one per person) and a decision — match (best within max_distance
        and ahead of the next person by the company's match_margin), ambiguous (within, not ahead) or unknown.
        A probe without a face answers decision no_face. Send max_distance or min_similarity, not both.
        The company's recognition_model is searched; faces without an embedding of it (kiosk-only employees in an
        sface-2021dec company) are searched with their own model and that model's preset, and each candidate
        names the model that matched it (distance and max_distance are in that model's units).
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: {type: object, description: "the same fields as form fields; image as a file part"}
          application/json:
            schema:
              type: object
              required: [image]
              not: {required: [max_distance, min_similarity]}
              properties:
                image: {$ref: "#/components/schemas/Photo"}
                group: {type: string, description: only persons of this group (an unknown group → 400 unknown_group)}
                top_k: {type: integer, minimum: 1, maximum: 100, default: 5}
                max_distance: {$ref: "#/components/schemas/MaxDistance"}
                min_similarity: {$ref: "#/components/schemas/MinSimilarity"}
                faces: {type: string, enum: [all, largest], default: all}
                location: {$ref: "#/components/schemas/OptionalName"}
      responses:
        "200": {description: Results, content: {application/json: {schema: {type: object, required: [faces, model], properties: {model: {$ref: "#/components/schemas/ModelID"}, decision: {type: [string, "null"], enum: [match, ambiguous, unknown, no_face, null]}, faces: {type: array, items: {type: object, required: [box, decision, candidates], properties: {box: {$ref: "#/components/schemas/Box"}, decision: {type: string, enum: [match, ambiguous, unknown]}, candidates: {type: array, items: {type: object, required: [person, face_id, model, distance, similarity], properties: {person: {$ref: "#/components/schemas/Person"}, face_id: {type: integer}, model: {$ref: "#/components/schemas/ModelID"}, distance: {type: number}, similarity: {type: number, minimum: 0, maximum: 1}}}}}}}}}}}}
\#(errors(400, 401, 403, 413, 415, 429, 503))
  /logs:
    get:
      summary: The access log — every search, newest first (person_id, device_id, decision, from, to; paginated)
      parameters:
        - {name: person_id, in: query, schema: {type: integer}}
        - {name: device_id, in: query, schema: {type: integer}}
        - {name: decision, in: query, schema: {type: string, enum: [match, ambiguous, unknown, no_face]}}
        - {name: from, in: query, schema: {$ref: "#/components/schemas/Instant"}}
        - {name: to, in: query, schema: {$ref: "#/components/schemas/Instant"}}
        - {name: limit, in: query, schema: {$ref: "#/components/schemas/PageLimit"}}
        - {name: cursor, in: query, schema: {$ref: "#/components/schemas/IDCursor"}}
      responses:
        "200": {description: Entries, content: {application/json: {schema: {type: object, required: [entries], properties: {entries: {type: array, items: {type: object, required: [id, at, actor, decision, face_count], properties: {id: {type: integer}, at: {type: string, format: date-time}, actor: {type: string}, device_id: {type: [integer, "null"]}, location: {type: string}, probe_sha256: {type: string}, decision: {type: string, enum: [match, ambiguous, unknown, no_face]}, person_id: {type: [integer, "null"]}, distance: {type: [number, "null"]}, face_count: {type: integer}, latency_ms: {type: number}}}}, next_cursor: {type: [string, "null"]}}}}}}
\#(errors(400, 401, 403, 429))
  /face/verify:
    post:
      summary: Verify a probe photo against one person (1:1) — distance to their nearest face and the decision
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: {type: object, description: "the same fields as form fields; image as a file part"}
          application/json:
            schema:
              type: object
              required: [image, person_id]
              not: {required: [max_distance, min_similarity]}
              properties:
                image: {$ref: "#/components/schemas/Photo"}
                person_id: {type: integer}
                max_distance: {$ref: "#/components/schemas/MaxDistance"}
                min_similarity: {$ref: "#/components/schemas/MinSimilarity"}
                location: {$ref: "#/components/schemas/OptionalName"}
      responses:
        "200": {description: Result, content: {application/json: {schema: {type: object, required: [decision], properties: {decision: {type: string, enum: [match, unknown, no_face]}, distance: {type: [number, "null"]}, similarity: {type: [number, "null"]}, face_id: {type: [integer, "null"]}, model: {oneOf: [{$ref: "#/components/schemas/ModelID"}, {type: "null"}]}}}}}}
\#(errors(400, 401, 403, 404, 413, 415, 429, 503))
\#(modelsPaths)
\#(kioskPaths)
components:
  securitySchemes:
    token: {type: http, scheme: bearer, description: "Also accepted as `Authorization: Token <t>`"}
    apiKey: {type: apiKey, in: header, name: X-API-Key}
    appSecret: {type: apiKey, in: header, name: X-App-Secret, description: "The desktop app secret (kiosk routes, on top of a token or an API key)"}
  responses:
\#(errorResponses)
  schemas:
    Error:
      type: object
      required: [success, error, code]
      properties:
        success: {const: false}
        error: {type: string}
        code: {type: string}
        detail: {type: string}
    OK:
      type: object
      required: [success]
      properties: {success: {const: true}}
    Name: {type: string, minLength: 1, maxLength: 200, pattern: "\\S", description: "trimmed; not blank, at most 200 characters"}
    OptionalName: {type: string, maxLength: 200, description: "trimmed; blank is the same as absent"}
    GroupName: {type: string, minLength: 1, maxLength: 100, pattern: "\\S", description: "an existing group's name; not blank, at most 100 characters"}
    GroupNames: {type: array, items: {$ref: "#/components/schemas/GroupName"}, description: names of existing groups (an unknown one → 400 unknown_group)}
    Tags: {type: array, maxItems: 50, items: {type: string, minLength: 1, maxLength: 64, pattern: "\\S"}}
    Metadata: {type: object, description: any JSON object up to 16 KiB encoded, returned as sent}
    Email: {type: string, format: email, maxLength: 254}
    Password: {type: string, minLength: 10, maxLength: 72, description: "at least 10 characters and at most 72 UTF-8 bytes (what bcrypt reads)"}
    Photo: {type: string, contentEncoding: base64, description: JPEG or PNG (a data URL prefix is accepted)}
    MaxDistance: {type: number, minimum: 0, maximum: 2, description: "defaults to the company's match_threshold; not with min_similarity"}
    MinSimilarity: {type: number, minimum: 0, maximum: 100, description: "instead of max_distance: 0–1, or a percentage above 1 (README: Thresholds and presets)"}
    PageLimit: {type: integer, minimum: 1, maximum: 500, default: 100}
    IDCursor: {type: string, pattern: "^[0-9]+$", description: next_cursor of the previous page}
    Instant: {type: string, description: "RFC 3339 (2025-01-13T10:30:45Z, fractional seconds allowed) or Unix seconds", examples: ["2025-01-13T10:30:45Z", "1736764245"]}
    Role: {type: string, enum: [owner, admin, staff, viewer]}
    User:
      type: object
      required: [id, email, role, disabled, created_at]
      properties:
        id: {type: integer}
        email: {type: string}
        full_name: {type: string}
        role: {$ref: "#/components/schemas/Role"}
        disabled: {type: boolean}
        created_at: {type: string, format: date-time}
    Company:
      type: object
      required: [id, name, created_at]
      properties:
        id: {type: integer}
        name: {type: string}
        created_at: {type: string, format: date-time}
    Session:
      type: object
      required: [token, expires_at, user, company]
      properties:
        token: {type: string}
        expires_at: {type: string, format: date-time}
        user: {$ref: "#/components/schemas/User"}
        company: {$ref: "#/components/schemas/Company"}
    APIKey:
      type: object
      required: [id, name, prefix, scopes, created_at]
      properties:
        id: {type: integer}
        name: {type: string}
        prefix: {type: string}
        scopes: {type: array, items: {type: string, enum: [recognize, enroll, kiosk, admin]}}
        created_at: {type: string, format: date-time}
        created_by: {type: string}
        last_used_at: {type: [string, "null"], format: date-time}
        revoked_at: {type: [string, "null"], format: date-time}
    Device:
      type: object
      required: [id, name, created_at]
      properties:
        id: {type: integer}
        name: {type: string}
        location: {type: string}
        created_at: {type: string, format: date-time}
    AuditEvent:
      type: object
      required: [id, at, actor, action]
      properties:
        id: {type: integer}
        at: {type: string, format: date-time}
        actor: {type: string}
        action: {type: string}
        target: {type: string}
        remote_address: {type: string}
        user_agent: {type: string}
        detail: {type: object, additionalProperties: {type: string}}
    Settings:
      type: object
      properties:
        token_lifetime_minutes: {type: integer, minimum: 5, maximum: 43200}
        requests_per_minute: {type: integer, minimum: 10, description: "at most the server's rateLimit.companyPerMinute (6000 unless configured)"}
        recognition_model: {allOf: [{$ref: "#/components/schemas/ModelID"}], description: "photo search, verification and the duplicate guard use this model (new companies sface-2021dec). Changing it moves the preset, threshold, margin and duplicate_distance to the new model's values and re-embeds stored photos in the background (GET /models/status)"}
        match_preset: {type: string, enum: [strict, balanced, lenient, custom], default: balanced, description: "setting a preset sets match_threshold and match_margin — sface-2021dec strict 1.00/0.05, balanced 1.02/0.04, lenient 1.06/0.03; dlib-resnet-v1 strict 0.42/0.06, balanced 0.50/0.04, lenient 0.55/0.04; setting either makes it custom"}
        match_threshold: {type: number, minimum: 0.2, maximum: 1.3, description: "in the model's units: dlib-resnet-v1 0.2…0.8, sface-2021dec 0.6…1.3"}
        match_margin: {type: number, minimum: 0, maximum: 0.3}
        duplicate_distance: {type: number, minimum: 0, maximum: 1.2, description: "dlib-resnet-v1 0…0.8 (default 0.45), sface-2021dec 0…1.2 (default 0.90)"}
        log_retention_days: {type: integer, minimum: 1, maximum: 3650, default: 365}
        store_images: {type: boolean, default: false, description: keep enrollment photos sealed on disk, readable by admins}
\#(kioskSchemas)
    PersonPatch:
      type: object
      properties:
        external_id: {type: string, maxLength: 100, description: "trimmed; empty means none"}
        full_name: {$ref: "#/components/schemas/Name"}
        tags: {$ref: "#/components/schemas/Tags"}
        groups: {$ref: "#/components/schemas/GroupNames"}
        metadata: {$ref: "#/components/schemas/Metadata"}
    PersonInput:
      allOf: [{$ref: "#/components/schemas/PersonPatch"}]
      required: [full_name]
    Person:
      type: object
      required: [id, full_name, tags, groups, metadata, created_at, updated_at]
      properties:
        id: {type: integer}
        external_id: {type: [string, "null"]}
        full_name: {type: string}
        tags: {type: array, items: {type: string}}
        groups: {type: array, items: {type: string}}
        metadata: {type: object}
        created_at: {type: string, format: date-time}
        updated_at: {type: string, format: date-time}
    ImportItem:
      type: object
      required: [encoding]
      anyOf: [{required: [person_id]}, {required: [external_id]}]
      properties:
        person_id: {type: integer}
        external_id: {type: string, minLength: 1, maxLength: 100, pattern: "\\S"}
        full_name: {$ref: "#/components/schemas/OptionalName"}
        encoding: {$ref: "#/components/schemas/Encoding"}
        model: {allOf: [{$ref: "#/components/schemas/ModelID"}], default: dlib-resnet-v1}
    ModelID: {type: string, enum: [dlib-resnet-v1, sface-2021dec]}
    Encoding: {type: array, minItems: 128, maxItems: 128, items: {type: number, exclusiveMinimum: -1000000, exclusiveMaximum: 1000000}}
    Face:
      type: object
      required: [id, person_id, model_id, source, reference, created_at]
      properties:
        id: {type: integer}
        person_id: {type: integer}
        model_id: {allOf: [{$ref: "#/components/schemas/ModelID"}], description: "the model of the face's main embedding (dlib-resnet-v1 whenever it has one); a photo face has every model's"}
        source: {type: string, enum: [photo, import, kiosk], description: "photo: POST /face/enroll; import: POST /faces/import; kiosk: POST /api/employees/{id}/face"}
        reference: {type: boolean}
        created_at: {type: string, format: date-time}
        encoding: {type: array, minItems: 128, maxItems: 128, items: {type: number}, description: only with include_encoding=true}
    Box:
      type: object
      required: [left, top, right, bottom]
      properties:
        left: {type: integer}
        top: {type: integer}
        right: {type: integer}
        bottom: {type: integer}
    Group:
      type: object
      required: [id, name, person_count, created_at]
      properties:
        id: {type: integer}
        name: {type: string}
        description: {type: string}
        person_count: {type: integer}
        created_at: {type: string, format: date-time}
"""#
}
