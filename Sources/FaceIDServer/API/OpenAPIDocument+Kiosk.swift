/// The kiosk part of the OpenAPI document: the employees (HR) routes, the desktop app's contract and the delta feed
/// (`docs/face-sync-api.md` is the narrative), with their schemas. `OpenAPIDocument.yaml` splices both in.
extension OpenAPIDocument {
    static let kioskPaths = #"""
  /api/employees:
    post:
      summary: Create an employee (a person with a timekeeper id)
      requestBody: {required: true, content: {application/json: {schema: {$ref: "#/components/schemas/EmployeeInput"}}}}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, required: [employee], properties: {employee: {$ref: "#/components/schemas/Employee"}}}}}}
\#(errors(400, 401, 403, 409, 413, 415, 429))
    get:
      summary: Employees by id (include_deleted=true adds those who left; limit, cursor)
      parameters:
        - {name: include_deleted, in: query, schema: {type: boolean, default: false}}
        - {name: limit, in: query, schema: {$ref: "#/components/schemas/PageLimit"}}
        - {name: cursor, in: query, schema: {$ref: "#/components/schemas/IDCursor"}}
      responses:
        "200": {description: Employees, content: {application/json: {schema: {type: object, required: [employees], properties: {employees: {type: array, items: {$ref: "#/components/schemas/Employee"}}, next_cursor: {type: [string, "null"]}}}}}}
\#(errors(400, 401, 429))
  /api/employees/import:
    post:
      summary: Create or update (by timekeeper_id) many employees — a JSON array, or text/csv with a name,timekeeper_id[,external_id] header; all or nothing
      requestBody:
        required: true
        content:
          application/json: {schema: {type: array, minItems: 1, maxItems: 10000, items: {$ref: "#/components/schemas/EmployeeInput"}}}
          text/csv: {schema: {type: string}}
      responses:
        "200": {description: Imported, content: {application/json: {schema: {type: object, required: [created, updated, unchanged], properties: {created: {type: integer}, updated: {type: integer}, unchanged: {type: integer}}}}}}
\#(errors(400, 401, 403, 409, 413, 429))
  /api/employees/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: An employee (deleted ones too)
      responses:
        "200": {description: The employee, content: {application/json: {schema: {type: object, required: [employee], properties: {employee: {$ref: "#/components/schemas/Employee"}}}}}}
\#(errors(401, 404, 429))
    patch:
      summary: Change name, timekeeper_id, external_id; resigned true deletes (faces leave store, index and kiosks), false reinstates
      requestBody: {required: true, content: {application/json: {schema: {type: object, properties: {name: {$ref: "#/components/schemas/Name"}, timekeeper_id: {$ref: "#/components/schemas/TimekeeperID"}, external_id: {type: [string, "null"], maxLength: 100, description: "null clears it"}, resigned: {type: boolean}}}}}}
      responses:
        "200": {description: The employee, content: {application/json: {schema: {type: object, required: [employee], properties: {employee: {$ref: "#/components/schemas/Employee"}}}}}}
\#(errors(400, 401, 403, 404, 409, 413, 415, 429, 503))
    delete:
      summary: Delete (resign) an employee — the record stays for payroll, the faces are deleted everywhere (audited)
      responses:
        "204": {description: Deleted}
\#(errors(401, 403, 404, 429, 503))
  /api/employees/{id}/face:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    post:
      summary: "Kiosk: register the employee's face encoding (docs/face-sync-api.md); at most rateLimit.faceRegistrationsPerMinute (100) per company in any 60 s"
      security: [{token: [], appSecret: []}, {apiKey: [], appSecret: []}]
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [face_encoding], properties: {face_encoding: {description: "a JSON string holding an array of 128 finite numbers, or the array itself; stored as sent (float64)", oneOf: [{type: string, pattern: "^\\s*\\[[^\\]]*\\]\\s*$"}, {$ref: "#/components/schemas/Encoding"}]}, registered_at: {description: "when the kiosk registered it (RFC 3339 or Unix seconds, 2000…3000); older than the stored registration → 409 stale_registration", oneOf: [{type: string}, {type: number}]}}}}}}
      responses:
        "200": {description: Registered, content: {application/json: {schema: {type: object, required: [success, employee_id, registered_at], properties: {success: {const: true}, employee_id: {type: integer}, registered_at: {type: string, format: date-time}, message: {type: string}}}}}}
\#(errors(400, 401, 403, 404, 409, 413, 429, 503))
    delete:
      summary: "Kiosk: delete the employee's face data"
      security: [{token: [], appSecret: []}, {apiKey: [], appSecret: []}]
      responses:
        "200": {description: Deleted, content: {application/json: {schema: {type: object, required: [success, employee_id], properties: {success: {const: true}, employee_id: {type: integer}, message: {type: string}}}}}}
\#(errors(401, 403, 404, 429, 503))
  /api/employees/{id}/face/propagation:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: Which kiosks (devices) acknowledged the employee's latest change and which have not
      responses:
        "200": {description: Report, content: {application/json: {schema: {type: object, required: [employee_id, state, latest_change, devices, applied, pending], properties: {employee_id: {type: integer}, state: {type: string, enum: [face_registered, no_face, deleted]}, latest_change: {type: [object, "null"]}, devices: {type: array, items: {type: object}}, applied: {type: array, items: {type: integer}}, pending: {type: array, items: {type: integer}}}}}}}
\#(errors(401, 403, 404, 429))
  /api/employees/timekeeper:
    get:
      summary: "Kiosk: the active employees as a JSON array (face keys only with include_faces=true); without page and page_size the whole table, with either one page (Link rel=next); X-Total-Count; gzip"
      security: [{token: [], appSecret: []}, {apiKey: [], appSecret: []}]
      parameters:
        - {name: include_faces, in: query, schema: {type: boolean, default: false}}
        - {name: page, in: query, schema: {type: integer, minimum: 1, maximum: 1000000}}
        - {name: page_size, in: query, schema: {type: integer, minimum: 1, maximum: 1000}, description: "default 500 when page is sent; above 1000 → 400 (omit both for the whole table)"}
      responses:
        "200":
          description: Employees
          headers:
            X-Total-Count: {description: the number of active employees, schema: {type: string, pattern: "^[0-9]+$"}}
            X-Sync-Cursor: {description: "where the feed stood before the first row was read: continue with GET /api/employees/timekeeper/changes?cursor=", schema: {type: string}}
            Link: {description: "with page or page_size: <…?page=N+1…>; rel=next while more pages follow", schema: {type: string}}
          content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/TimekeeperEmployee"}}}}
\#(errors(400, 401, 403, 429))
  /api/employees/timekeeper/changes:
    get:
      summary: "Kiosk: changes since a cursor (none = a snapshot of every employee as upserts); 410 cursor_expired → full sync"
      security: [{token: [], appSecret: []}, {apiKey: [], appSecret: []}]
      parameters:
        - {name: cursor, in: query, schema: {type: string, maxLength: 100}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 500}}
      responses:
        "200": {description: Changes, content: {application/json: {schema: {type: object, required: [changes, next_cursor, has_more], properties: {changes: {type: array, items: {type: object, required: [op], properties: {op: {type: string, enum: [upsert, delete]}, employee: {$ref: "#/components/schemas/TimekeeperEmployee"}, employee_id: {type: integer}}}}, next_cursor: {type: string}, has_more: {type: boolean}}}}}}
\#(errors(400, 401, 403, 410, 429))
  /api/devices/{id}/ack:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    post:
      summary: "Kiosk: the device (its X-Device-Id; an admin for any device) applied the feed up to this cursor"
      security: [{token: [], appSecret: []}, {apiKey: [], appSecret: []}]
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [cursor], properties: {cursor: {type: string, maxLength: 100, pattern: "^[A-Za-z0-9_-]+$", description: a next_cursor of the changes feed (not a snapshot's)}}}}}}
      responses:
        "200": {description: Recorded, content: {application/json: {schema: {type: object, required: [device_id, acked_cursor, acked_at], properties: {device_id: {type: integer}, acked_cursor: {type: string}, acked_at: {type: string, format: date-time}}}}}}
\#(errors(400, 401, 403, 404, 413, 415, 429))
"""#

    static let kioskSchemas = #"""
    TimekeeperID: {type: string, minLength: 1, maxLength: 64, pattern: "\\S"}
    EmployeeInput:
      type: object
      required: [name, timekeeper_id]
      properties:
        name: {allOf: [{$ref: "#/components/schemas/Name"}], description: "as payroll writes it, e.g. Dela Cruz, Juan"}
        timekeeper_id: {$ref: "#/components/schemas/TimekeeperID"}
        external_id: {type: string, maxLength: 100}
    Employee:
      type: object
      required: [id, name, active, has_face_registration, face_count, created_at, updated_at]
      properties:
        id: {type: integer}
        name: {type: string}
        timekeeper_id: {type: [string, "null"]}
        external_id: {type: [string, "null"]}
        active: {type: boolean}
        deleted_at: {type: [string, "null"], format: date-time}
        has_face_registration: {type: boolean}
        face_registered_at: {type: [string, "null"], format: date-time}
        face_count: {type: integer}
        created_at: {type: string, format: date-time}
        updated_at: {type: string, format: date-time}
    TimekeeperEmployee:
      type: object
      required: [id, name, timekeeper_id]
      description: "face_encoding, face_registered_at and has_face_registration are present only with include_faces=true (always in the changes feed)"
      properties:
        id: {type: integer}
        name: {type: string}
        timekeeper_id: {type: [string, "null"]}
        face_encoding: {type: [string, "null"], description: "only with include_faces (always in the changes feed): a JSON string of 128 numbers, exactly as the kiosk sent them"}
        face_registered_at: {type: [string, "null"], format: date-time}
        has_face_registration: {type: boolean}
"""#
}
