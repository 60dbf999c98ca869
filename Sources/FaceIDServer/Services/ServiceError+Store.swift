extension ServiceError {
    /// What a store refusal means to the caller.
    init(_ error: StoreError) {
        self = switch error {
        case .notFound(let entity, let id): .notFound(id.map { "\(entity.rawValue) \($0)" } ?? entity.rawValue)
        case .emailTaken: .emailTaken
        case .lastOwner: .lastOwner
        case .groupExists: .groupExists
        case .unknownGroup(let name): .unknownGroup(name)
        case .externalIDTaken(let personID): .externalIDTaken(personID: personID)
        case .timekeeperIDTaken(let employeeID): .timekeeperIDTaken(employeeID: employeeID)
        case .staleRegistration(let stored, let deleted): .staleRegistration(stored: stored, deleted: deleted)
        case .beyondFeedEnd: .invalidField("cursor", "beyond the end of the feed")
        case .inconsistent(let reason): .serverFault(reason)
        case .idempotencyTakenOver: .idempotencyInProgress
        case .unavailable(let reason): .storeUnavailable(reason)
        }
    }
}
