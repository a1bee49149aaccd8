/// What a driver checks after each commit, before any claimed request leaves: that the queue's
/// storage is still the one the daemon opened (SQLite: the database file and its `-wal` and
/// `-shm`, not deleted or replaced). The daemon knows only this; the driver knows the files.
public protocol StorageGuard: Sendable {
    /// nil when everything is where it was; otherwise what happened, for the closing message.
    mutating func check() -> String?
}
