/// The kiosk part of the OpenAPI document: the employees (HR) routes, the desktop app's contract and the delta feed
/// (`docs/face-sync-api.md` is the narrative), with their schemas. `OpenAPIDocument.yaml` splices both in.
extension OpenAPIDocument {
    static let kioskPaths = #"""
  /api/employees:
    post:
      summary: Create an employee (a person with a timekeeper id)
      requestBody: {required: true, content: {application/json: {schema: {$ref: "#/components/schemas/EmployeeInput"}}}}
      responses:
        "201": {description: Created, content: {application/json: {schema: {type: object, properties: {employee: {$ref: "#/components/schemas/Employee"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
    get:
      summary: Employees by id (include_deleted=true adds those who left; limit, cursor)
      parameters:
        - {name: include_deleted, in: query, schema: {type: boolean, default: false}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 100}}
        - {name: cursor, in: query, schema: {type: string}}
      responses:
        "200": {description: Employees, content: {application/json: {schema: {type: object, properties: {employees: {type: array, items: {$ref: "#/components/schemas/Employee"}}, next_cursor: {type: [string, "null"]}}}}}}
  /api/employees/import:
    post:
      summary: Create or update (by timekeeper_id) many employees — a JSON array, or text/csv with a name,timekeeper_id[,external_id] header; all or nothing
      requestBody:
        required: true
        content:
          application/json: {schema: {type: array, items: {$ref: "#/components/schemas/EmployeeInput"}}}
          text/csv: {schema: {type: string}}
      responses:
        "200": {description: Imported, content: {application/json: {schema: {type: object, properties: {created: {type: integer}, updated: {type: integer}, unchanged: {type: integer}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /api/employees/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: An employee (deleted ones too)
      responses:
        "200": {description: The employee, content: {application/json: {schema: {type: object, properties: {employee: {$ref: "#/components/schemas/Employee"}}}}}}
        "404": {$ref: "#/components/responses/Error"}
    patch:
      summary: Change name, timekeeper_id, external_id; resigned true deletes (faces leave store, index and kiosks), false reinstates
      requestBody: {required: true, content: {application/json: {schema: {type: object, properties: {name: {type: string}, timekeeper_id: {type: string}, external_id: {type: [string, "null"]}, resigned: {type: boolean}}}}}}
      responses:
        "200": {description: The employee, content: {application/json: {schema: {type: object, properties: {employee: {$ref: "#/components/schemas/Employee"}}}}}}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
    delete:
      summary: Delete (resign) an employee — the record stays for payroll, the faces are deleted everywhere (audited)
      responses:
        "204": {description: Deleted}
        "404": {$ref: "#/components/responses/Error"}
  /api/employees/{id}/face:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
      - {name: X-App-Secret, in: header, required: true, schema: {type: string}}
    post:
      summary: "Kiosk: register the employee's face encoding (docs/face-sync-api.md)"
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [face_encoding], properties: {face_encoding: {description: "a JSON string holding an array of 128 finite numbers, or the array itself"}, registered_at: {type: string, format: date-time, description: "when the kiosk registered it; older than the stored registration → 409 stale_registration"}}}}}}
      responses:
        "200": {description: Registered, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, employee_id: {type: integer}, registered_at: {type: string, format: date-time}, message: {type: string}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
    delete:
      summary: "Kiosk: delete the employee's face data"
      responses:
        "200": {description: Deleted, content: {application/json: {schema: {type: object, properties: {success: {type: boolean}, employee_id: {type: integer}, message: {type: string}}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /api/employees/{id}/face/propagation:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      summary: Which kiosks (devices) acknowledged the employee's latest change and which have not
      responses:
        "200": {description: Report, content: {application/json: {schema: {type: object, properties: {employee_id: {type: integer}, state: {type: string, enum: [face_registered, no_face, deleted]}, latest_change: {type: [object, "null"]}, devices: {type: array, items: {type: object}}, applied: {type: array, items: {type: integer}}, pending: {type: array, items: {type: integer}}}}}}}
        "404": {$ref: "#/components/responses/Error"}
  /api/employees/timekeeper:
    get:
      summary: "Kiosk: the active employees as a JSON array (face keys only with include_faces=true); X-Total-Count, Link rel=next; gzip"
      parameters:
        - {name: X-App-Secret, in: header, required: true, schema: {type: string}}
        - {name: include_faces, in: query, schema: {type: boolean, default: false}}
        - {name: page, in: query, schema: {type: integer, minimum: 1, default: 1}}
        - {name: page_size, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 500}}
      responses:
        "200": {description: Employees, content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/TimekeeperEmployee"}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
  /api/employees/timekeeper/changes:
    get:
      summary: "Kiosk: changes since a cursor (none = a snapshot of every employee as upserts); 410 cursor_expired → full sync"
      parameters:
        - {name: X-App-Secret, in: header, required: true, schema: {type: string}}
        - {name: cursor, in: query, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 500}}
      responses:
        "200": {description: Changes, content: {application/json: {schema: {type: object, properties: {changes: {type: array, items: {type: object, properties: {op: {type: string, enum: [upsert, delete]}, employee: {$ref: "#/components/schemas/TimekeeperEmployee"}, employee_id: {type: integer}}}}, next_cursor: {type: string}, has_more: {type: boolean}}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "410": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
  /api/devices/{id}/ack:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
      - {name: X-App-Secret, in: header, required: true, schema: {type: string}}
    post:
      summary: "Kiosk: the device applied the feed up to this cursor"
      requestBody: {required: true, content: {application/json: {schema: {type: object, required: [cursor], properties: {cursor: {type: string}}}}}}
      responses:
        "200": {description: Recorded, content: {application/json: {schema: {type: object, properties: {device_id: {type: integer}, acked_cursor: {type: string}, acked_at: {type: string, format: date-time}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
"""#

    static let kioskSchemas = #"""
    EmployeeInput:
      type: object
      required: [name, timekeeper_id]
      properties:
        name: {type: string, description: "as payroll writes it, e.g. Dela Cruz, Juan"}
        timekeeper_id: {type: string, maxLength: 64}
        external_id: {type: string, maxLength: 100}
    Employee:
      type: object
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
      properties:
        id: {type: integer}
        name: {type: string}
        timekeeper_id: {type: [string, "null"]}
        face_encoding: {type: [string, "null"], description: "only with include_faces (always in the changes feed): a JSON string of 128 numbers"}
        face_registered_at: {type: [string, "null"], format: date-time}
        has_face_registration: {type: boolean}
"""#
}
