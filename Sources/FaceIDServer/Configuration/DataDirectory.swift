import Foundation
import Logging

/// Checks on the data folder that holds the store, the index, the keys and the photos.
enum DataDirectory {
    /// Whether other users of the machine may read or enter the folder (any group or other permission bit).
    static func isExposed(_ path: String) -> Bool {
        guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int else { return false }
        return mode & 0o077 != 0
    }

    /// Logs a warning when the folder is exposed: every file in it is 0600, but the folder should be 0700 as well
    /// (`make run` creates it so).
    static func warnIfExposed(_ path: String, logger: Logger) {
        guard isExposed(path) else { return }
        logger.warning("the data folder \(path) is accessible to other users of this machine; restrict it: chmod 700 \(path)")
    }
}
