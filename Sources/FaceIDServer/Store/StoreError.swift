import Foundation

/// What the store refuses, in its own terms: a missing row, a uniqueness or ownership rule it keeps inside the same
/// transaction as the change, or a stored row that breaks an invariant. Never an HTTP answer: `ServiceError(_:)` says
/// what each means to a caller.
public enum StoreError: Error, Sendable, Equatable {
    /// What kind of row was not found.
    public enum Entity: String, Sendable {
        case company = "Company", user = "User", apiKey = "API key", device = "Device", group = "Group", person = "Person"
        case face = "Face", employee = "Employee"
    }

    /// No such row of the company (another company's id finds nothing too); `id` when the caller named several.
    case notFound(Entity, id: Int64? = nil)
    case emailTaken
    /// The change would leave the company without an enabled owner.
    case lastOwner
    case groupExists
    case unknownGroup(String)
    case externalIDTaken(personID: Int64)
    case timekeeperIDTaken(employeeID: Int64)
    /// A kiosk upload older than the stored registration (`deleted` false) or than the deletion of the face data.
    case staleRegistration(stored: Date, deleted: Bool)
    /// An acknowledgement past the end of the company's feed.
    case beyondFeedEnd
    /// A call or a stored row that breaks an invariant the store keeps (a programming error or damage).
    case inconsistent(String)
    /// The store cannot answer for a moment (PostgreSQL restarting or out of reach): nothing was changed; retry.
    case unavailable(String)
    /// The write ran under an `Idempotency-Key` another attempt has taken over (this one counted as dead): rolled back.
    case idempotencyTakenOver
}
