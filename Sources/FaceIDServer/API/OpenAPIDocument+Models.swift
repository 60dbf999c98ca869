/// The recognition models' part of the OpenAPI document: `GET /models/status`. `OpenAPIDocument.yaml` splices it in.
extension OpenAPIDocument {
    static let modelsPaths = #"""
  /models/status:
    get:
      summary: The company's recognition model, faces with and without each model's embedding, the re-embedding progress after a switch, and who must re-enroll
      responses:
        "200":
          description: Status
          content:
            application/json:
              schema:
                type: object
                required: [recognition_model, models]
                properties:
                  recognition_model: {$ref: "#/components/schemas/ModelID"}
                  models:
                    type: array
                    items:
                      type: object
                      required: [model, faces_with_embedding, faces_without_embedding]
                      properties:
                        model: {$ref: "#/components/schemas/ModelID"}
                        faces_with_embedding: {type: integer}
                        faces_without_embedding: {type: integer}
                  migration:
                    description: the last re-embedding of stored photos since the server started
                    type: object
                    required: [model, state, embedded, without_photo, no_face, started_at]
                    properties:
                      model: {$ref: "#/components/schemas/ModelID"}
                      state: {type: string, enum: [running, finished]}
                      embedded: {type: integer}
                      without_photo: {type: integer}
                      no_face: {type: integer}
                      started_at: {type: string, format: date-time}
                      finished_at: {type: string, format: date-time}
                  must_reenroll:
                    description: persons with faces lacking the company model's embedding (the first 100 by id; absent while stored photos are re-embedded)
                    type: object
                    required: [count, persons]
                    properties:
                      count: {type: integer}
                      persons:
                        type: array
                        items:
                          type: object
                          required: [id, full_name, faces_without_embedding]
                          properties:
                            id: {type: integer}
                            full_name: {type: string}
                            external_id: {type: [string, "null"]}
                            faces_without_embedding: {type: integer}
\#(errors(401, 403, 429))
"""#
}
