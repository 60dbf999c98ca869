/// The OpenAPI 3.1 description of every route, served at `GET /openapi.yaml`.
///
/// A test walks the router and fails when a route is missing here.
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
    kiosks may add `X-Device-Id: <device id>`.
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
      summary: Readiness (the store answers)
      security: []
      responses:
        "200": {description: Ready}
        "503": {$ref: "#/components/responses/Error"}
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
        "200": {description: OpenAPI 3.1, content: {application/yaml: {schema: {type: string}}}}
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
                company_name: {type: string}
                email: {type: string, format: email}
                password: {type: string, minLength: 10, maxLength: 72}
                full_name: {type: string}
      responses:
        "201": {description: Created, content: {application/json: {schema: {$ref: "#/components/schemas/Session"}}}}
        "400": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
  /login:
    post:
      summary: Log in with email and password
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
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
  /logout:
    post:
      summary: Revoke the session token used
      responses:
        "204": {description: Revoked}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
  /me:
    get:
      summary: The caller (user or API key) and its company
      responses:
        "200": {description: The caller, content: {application/json: {schema: {type: object}}}}
        "401": {$ref: "#/components/responses/Error"}
  /users:
    get:
      summary: List the company's users
      responses:
        "200": {description: Users, content: {application/json: {schema: {type: object, properties: {users: {type: array, items: {$ref: "#/components/schemas/User"}}}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
    post:
      summary: Create a user with a role
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [email, password, role]
              properties:
                email: {type: string}
                password: {type: string, minLength: 10}
                full_name: {type: string}
                role: {$ref: "#/components/schemas/Role"}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, properties: {user: {$ref: "#/components/schemas/User"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /users/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    patch:
      summary: Change a user's role, disabled flag or name
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                role: {$ref: "#/components/schemas/Role"}
                disabled: {type: boolean}
                full_name: {type: string}
      responses:
        "200": {description: Updated, content: {application/json: {schema: {type: object, properties: {user: {$ref: "#/components/schemas/User"}}}}}}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
    delete:
      summary: Delete a user
      responses:
        "204": {description: Deleted}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /api-keys:
    get:
      summary: List API keys (never the secret)
      responses:
        "200": {description: Keys, content: {application/json: {schema: {type: object, properties: {api_keys: {type: array, items: {$ref: "#/components/schemas/APIKey"}}}}}}}
        "403": {$ref: "#/components/responses/Error"}
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
                name: {type: string}
                scopes: {type: array, items: {type: string, enum: [recognize, enroll, kiosk, admin]}}
      responses:
        "201": {description: Created; `key` is shown only here, content: {application/json: {schema: {type: object, properties: {key: {type: string}, api_key: {$ref: "#/components/schemas/APIKey"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
  /api-keys/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    delete:
      summary: Revoke an API key
      responses:
        "204": {description: Revoked}
        "404": {$ref: "#/components/responses/Error"}
  /devices:
    get:
      summary: List kiosks
      responses:
        "200": {description: Devices, content: {application/json: {schema: {type: object, properties: {devices: {type: array, items: {$ref: "#/components/schemas/Device"}}}}}}}
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
                name: {type: string}
                location: {type: string}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, properties: {device: {$ref: "#/components/schemas/Device"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
  /devices/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    delete:
      summary: Remove a kiosk
      responses:
        "204": {description: Removed}
        "404": {$ref: "#/components/responses/Error"}
  /settings:
    get:
      summary: Company settings
      responses:
        "200": {description: Settings, content: {application/json: {schema: {type: object, properties: {settings: {$ref: "#/components/schemas/Settings"}}}}}}
    patch:
      summary: Change company settings (absent fields keep their value)
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/Settings"}}}
      responses:
        "200": {description: Settings, content: {application/json: {schema: {type: object, properties: {settings: {$ref: "#/components/schemas/Settings"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
  /audit:
    get:
      summary: Audit events, newest first
      parameters:
        - {name: from, in: query, schema: {type: string, format: date-time}}
        - {name: to, in: query, schema: {type: string, format: date-time}}
        - {name: actor, in: query, schema: {type: string, examples: ["user:3", "api_key:7"]}}
        - {name: action, in: query, schema: {type: string, examples: [auth.login]}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
        - {name: cursor, in: query, schema: {type: string}, description: next_cursor of the previous page}
      responses:
        "200": {description: A page of events, content: {application/json: {schema: {type: object, properties: {events: {type: array, items: {type: object}}, next_cursor: {type: string}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
  /audit/verify:
    get:
      summary: Whether the company's audit hash chain is intact
      responses:
        "200": {description: Verification, content: {application/json: {schema: {type: object, properties: {intact: {type: boolean}, event_count: {type: integer}, first_broken_id: {type: integer}}}}}}
        "403": {$ref: "#/components/responses/Error"}
  /persons:
    get:
      summary: List persons (filters group, tag, external_id, name substring; ascending ids, paginated)
      parameters:
        - {name: group, in: query, schema: {type: string}}
        - {name: tag, in: query, schema: {type: string}}
        - {name: external_id, in: query, schema: {type: string}}
        - {name: name, in: query, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
        - {name: cursor, in: query, description: next_cursor of the previous page, schema: {type: string}}
      responses:
        "200": {description: A page of persons, content: {application/json: {schema: {type: object, properties: {persons: {type: array, items: {$ref: "#/components/schemas/Person"}}, next_cursor: {type: [string, "null"]}}}}}}
        "400": {$ref: "#/components/responses/Error"}
    post:
      summary: Create a person
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/PersonInput"}}}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, properties: {person: {$ref: "#/components/schemas/Person"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /persons/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: One person
      responses:
        "200": {description: The person, content: {application/json: {schema: {type: object, properties: {person: {$ref: "#/components/schemas/Person"}}}}}}
        "404": {$ref: "#/components/responses/Error"}
    patch:
      summary: Change a person (absent fields keep their value; external_id "" clears it; groups replaces the memberships)
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/PersonInput"}}}
      responses:
        "200": {description: The person, content: {application/json: {schema: {type: object, properties: {person: {$ref: "#/components/schemas/Person"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
    delete:
      summary: Delete a person (audited)
      responses:
        "204": {description: Deleted}
        "404": {$ref: "#/components/responses/Error"}
  /groups:
    get:
      summary: List groups with their member counts
      responses:
        "200": {description: Groups, content: {application/json: {schema: {type: object, properties: {groups: {type: array, items: {$ref: "#/components/schemas/Group"}}}}}}}
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
                name: {type: string, maxLength: 100}
                description: {type: string}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, properties: {group: {$ref: "#/components/schemas/Group"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /groups/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    delete:
      summary: Delete a group (its members stay)
      responses:
        "204": {description: Deleted}
        "404": {$ref: "#/components/responses/Error"}
  /faces/import:
    post:
      summary: Import precomputed 128-d encodings (a JSON array, or JSON lines) with their persons
      description: |
        Each item names its person by person_id, or by external_id (the person is created, named full_name,
        when the company has none with that external_id). At most 10,000 items per request. The faces are
        searchable when the answer arrives.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: array
              items: {$ref: "#/components/schemas/ImportItem"}
          application/x-ndjson:
            schema: {$ref: "#/components/schemas/ImportItem"}
      responses:
        "201": {description: Imported, content: {application/json: {schema: {type: object, properties: {imported: {type: integer}, face_ids: {type: array, items: {type: integer}}, person_ids: {type: array, items: {type: integer}}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
  /faces/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: A face's metadata; the encoding only with include_encoding=true and an admin or kiosk credential
      parameters:
        - {name: include_encoding, in: query, schema: {type: boolean, default: false}}
      responses:
        "200": {description: The face, content: {application/json: {schema: {type: object, properties: {face: {$ref: "#/components/schemas/Face"}}}}}}
        "404": {$ref: "#/components/responses/Error"}
    delete:
      summary: Delete a face (from the store, the index and, through the feed, every kiosk; audited)
      responses:
        "204": {description: Deleted}
        "404": {$ref: "#/components/responses/Error"}
  /faces/{id}/image:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: The enrollment photo (kept only while the company setting store_images is on; owner/admin; audited)
      responses:
        "200": {description: The photo, content: {image/jpeg: {}, image/png: {}}}
        "404": {$ref: "#/components/responses/Error"}
  /persons/{id}/faces:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: A person's faces
      responses:
        "200": {description: Faces, content: {application/json: {schema: {type: object, properties: {faces: {type: array, items: {$ref: "#/components/schemas/Face"}}}}}}}
        "404": {$ref: "#/components/responses/Error"}
  /face/enroll:
    post:
      summary: Enroll a face from a photo, for an existing person (person_id) or a new one (its fields)
      description: |
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
              properties:
                image: {type: string, contentEncoding: base64, description: JPEG or PNG (a data URL prefix is accepted)}
                person_id: {type: integer}
                external_id: {type: string}
                full_name: {type: string}
                tags: {type: array, items: {type: string}}
                groups: {type: array, items: {type: string}}
                metadata: {type: object}
                reference: {type: boolean, default: false}
                select: {type: string, enum: [largest]}
                allow_duplicate: {type: boolean, default: false}
      responses:
        "201": {description: Enrolled, content: {application/json: {schema: {type: object, properties: {face_id: {type: integer}, person: {$ref: "#/components/schemas/Person"}, box: {$ref: "#/components/schemas/Box"}, quality: {type: object}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "415": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
        "503": {$ref: "#/components/responses/Error"}
  /face/search:
    post:
      summary: Identify every face of a probe photo among the company's persons (1:N)
      description: |
        Per face, candidates ranked by distance (one per person) and a decision — match (best within max_distance
        and ahead of the next person by the company's match_margin), ambiguous (within, not ahead) or unknown.
        A probe without a face answers decision no_face.
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: {type: object, description: "the same fields as form fields (tags and groups repeated or a JSON array, metadata as JSON); image as a file part"}
          application/json:
            schema:
              type: object
              required: [image]
              properties:
                image: {type: string, contentEncoding: base64}
                group: {type: string, description: only persons of this group}
                top_k: {type: integer, minimum: 1, maximum: 100, default: 5}
                max_distance: {type: number, description: defaults to the company's match_threshold}
                min_similarity: {type: number, description: "instead of max_distance: 0–1, or a percentage above 1 (README: Thresholds and presets)"}
                faces: {type: string, enum: [all, largest], default: all}
                location: {type: string}
      responses:
        "200": {description: Results, content: {application/json: {schema: {type: object, properties: {decision: {type: [string, "null"], enum: [match, ambiguous, unknown, no_face, null]}, faces: {type: array, items: {type: object, properties: {box: {$ref: "#/components/schemas/Box"}, decision: {type: string}, candidates: {type: array, items: {type: object, properties: {person: {$ref: "#/components/schemas/Person"}, face_id: {type: integer}, distance: {type: number}, similarity: {type: number}}}}}}}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "415": {$ref: "#/components/responses/Error"}
        "503": {$ref: "#/components/responses/Error"}
  /logs:
    get:
      summary: The access log — every search, newest first (person_id, device_id, decision, from, to; paginated)
      parameters:
        - {name: person_id, in: query, schema: {type: integer}}
        - {name: device_id, in: query, schema: {type: integer}}
        - {name: decision, in: query, schema: {type: string, enum: [match, ambiguous, unknown, no_face]}}
        - {name: from, in: query, schema: {type: string, format: date-time}}
        - {name: to, in: query, schema: {type: string, format: date-time}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
        - {name: cursor, in: query, schema: {type: string}}
      responses:
        "200": {description: Entries, content: {application/json: {schema: {type: object, properties: {entries: {type: array, items: {type: object, properties: {id: {type: integer}, at: {type: string, format: date-time}, actor: {type: string}, device_id: {type: [integer, "null"]}, location: {type: string}, probe_sha256: {type: string}, decision: {type: string}, person_id: {type: [integer, "null"]}, distance: {type: [number, "null"]}, face_count: {type: integer}, latency_ms: {type: number}}}}, next_cursor: {type: [string, "null"]}}}}}}
        "400": {$ref: "#/components/responses/Error"}
  /face/verify:
    post:
      summary: Verify a probe photo against one person (1:1) — distance to their nearest face and the decision
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: {type: object, description: "the same fields as form fields (tags and groups repeated or a JSON array, metadata as JSON); image as a file part"}
          application/json:
            schema:
              type: object
              required: [image, person_id]
              properties:
                image: {type: string, contentEncoding: base64}
                person_id: {type: integer}
                max_distance: {type: number}
                min_similarity: {type: number}
                location: {type: string}
      responses:
        "200": {description: Result, content: {application/json: {schema: {type: object, properties: {decision: {type: string, enum: [match, unknown, no_face]}, distance: {type: [number, "null"]}, similarity: {type: [number, "null"]}, face_id: {type: [integer, "null"]}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
\#(kioskPaths)
components:
  securitySchemes:
    token: {type: http, scheme: bearer, description: "Also accepted as `Authorization: Token <t>`"}
    apiKey: {type: apiKey, in: header, name: X-API-Key}
  responses:
    Error:
      description: The error body, with a stable code
      content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
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
      properties: {success: {type: boolean}}
    Role: {type: string, enum: [owner, admin, staff, viewer]}
    User:
      type: object
      properties:
        id: {type: integer}
        email: {type: string}
        full_name: {type: string}
        role: {$ref: "#/components/schemas/Role"}
        disabled: {type: boolean}
        created_at: {type: string, format: date-time}
    Company:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        created_at: {type: string, format: date-time}
    Session:
      type: object
      properties:
        token: {type: string}
        expires_at: {type: string, format: date-time}
        user: {$ref: "#/components/schemas/User"}
        company: {$ref: "#/components/schemas/Company"}
    APIKey:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        prefix: {type: string}
        scopes: {type: array, items: {type: string}}
        created_at: {type: string, format: date-time}
        created_by: {type: string}
        last_used_at: {type: [string, "null"], format: date-time}
        revoked_at: {type: [string, "null"], format: date-time}
    Device:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        location: {type: string}
        created_at: {type: string, format: date-time}
    Settings:
      type: object
      properties:
        token_lifetime_minutes: {type: integer, minimum: 5, maximum: 43200}
        requests_per_minute: {type: integer, minimum: 10}
        match_preset: {type: string, enum: [strict, balanced, lenient, custom], default: balanced, description: "setting a preset sets match_threshold and match_margin (strict 0.42/0.06, balanced 0.50/0.04, lenient 0.55/0.04); setting either makes it custom"}
        match_threshold: {type: number, minimum: 0.2, maximum: 0.8, default: 0.5}
        match_margin: {type: number, minimum: 0, maximum: 0.3, default: 0.04}
        duplicate_distance: {type: number, minimum: 0, maximum: 0.8, default: 0.45}
        log_retention_days: {type: integer, minimum: 1, maximum: 3650, default: 365}
        store_images: {type: boolean, default: false, description: keep enrollment photos sealed on disk, readable by admins}
\#(kioskSchemas)
    PersonInput:
      type: object
      required: [full_name]
      properties:
        external_id: {type: string, maxLength: 100}
        full_name: {type: string, maxLength: 200}
        tags: {type: array, maxItems: 50, items: {type: string, maxLength: 64}}
        groups: {type: array, items: {type: string}, description: names of existing groups}
        metadata: {type: object, description: any JSON object up to 16 KiB, returned as sent}
    Person:
      type: object
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
      properties:
        person_id: {type: integer}
        external_id: {type: string}
        full_name: {type: string}
        encoding: {type: array, minItems: 128, maxItems: 128, items: {type: number}}
    Face:
      type: object
      properties:
        id: {type: integer}
        person_id: {type: integer}
        model_id: {type: string, const: dlib-resnet-v1}
        source: {type: string, enum: [photo, import]}
        reference: {type: boolean}
        created_at: {type: string, format: date-time}
        encoding: {type: array, items: {type: number}, description: only with include_encoding=true}
    Box:
      type: object
      properties:
        left: {type: integer}
        top: {type: integer}
        right: {type: integer}
        bottom: {type: integer}
    Group:
      type: object
      properties:
        id: {type: integer}
        name: {type: string}
        description: {type: string}
        person_count: {type: integer}
        created_at: {type: string, format: date-time}
"""#
}
