/// The error answers of the OpenAPI document: one shared entry per status in `components/responses`, each the
/// error body of `APIError` (the 429 also with its `Retry-After`), and the lines by which an operation lists the
/// statuses it can answer.
extension OpenAPIDocument {
    /// Every error status some operation answers, with what it means on this API.
    static let errorStatuses: [(status: Int, meaning: String)] = [
        (400, "The request is malformed or a field is invalid (invalid_json, invalid_field, missing_field, invalid_query, …)"),
        (401, "Missing, invalid, expired or revoked credentials (missing_credentials, invalid_token, unknown_device, invalid_app_secret)"),
        (403, "The caller's role or API key scope does not allow this (forbidden)"),
        (404, "No such resource in the caller's company (not_found); a non-numeric id is a 404 too"),
        (409, "The change conflicts with the stored state (email_taken, last_owner, external_id_taken, duplicate_face, …)"),
        (410, "The sync cursor is expired or unknown (cursor_expired): run a full sync"),
        (413, "The request body is larger than http.maxBodySize, or the image is too large (payload_too_large)"),
        (415, "The body or the image has a media type the operation does not take (unsupported_media_type)"),
        (422, "The photo does not pass the quality gate (no_face, multiple_faces, face_too_small, face_cut_off, low_detector_score)"),
        (429, "A rate limit is spent (rate_limited); retry after Retry-After seconds"),
        (503, "The service is not ready: the store does not answer, the index is being rebuilt, or the face models are missing"),
    ]

    /// An operation's error answers, as lines of its `responses` map, each referring to the shared entry.
    ///
    /// - Parameter statuses: the statuses the operation can answer; each must be in `errorStatuses`.
    static func errors(_ statuses: Int...) -> String {
        statuses.map { ##"        "\##($0)": {$ref: "#/components/responses/Error\##($0)"}"## }.joined(separator: "\n")
    }

    /// The `components/responses` entries named `Error<status>`, one per element of `errorStatuses`.
    static var errorResponses: String {
        errorStatuses.map { status, meaning in
            var lines = [
                "    Error\(status):",
                "      description: \"\(meaning)\"",
                ##"      content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}"##,
            ]
            if status == 429 {
                lines.append(#"      headers: {Retry-After: {required: true, description: seconds to wait, schema: {type: string, pattern: "^[0-9]+$"}}}"#)
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
