/// The API's numeric limits, declared once: the handlers check them, error details name them, and a test holds the
/// OpenAPI document (`openapi.yaml`) to the same numbers.
enum Limits {
    /// `limit` of the cursor-paged lists (`/persons`, `/logs`, `/audit`, `/api/employees`).
    static let listPage = 1...500
    static let listPageDefault = 100
    /// `top_k` of `POST /face/search`.
    static let topK = 1...100
    static let topKDefault = 5
    /// `limit` of the kiosk feed (`GET /api/employees/timekeeper/changes`).
    static let feedPage = 1...1000
    static let feedPageDefault = 500
    /// `page` and `page_size` of the kiosk employee table (`GET /api/employees/timekeeper`).
    static let tablePage = 1...1_000_000
    static let tablePageSize = 1...1000
    static let tablePageSizeDefault = 500
    /// Items of one `POST /faces/import` or `POST /api/employees/import`.
    static let importItems = 10_000
    /// A person's `metadata` object, encoded.
    static let metadataBytes = 16 * 1024
    /// Passwords: at least 10 characters; bcrypt reads at most 72 bytes.
    static let passwordLength = 10...72
}
