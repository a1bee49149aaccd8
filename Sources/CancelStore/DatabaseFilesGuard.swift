import CancelQueue
import Foundation

/// Notices the database, its `-wal` or its `-shm` being deleted or replaced under the running
/// daemon. SQLite keeps writing to the files it has open: after `rm queue.db-wal` every commit
/// lands in an unlinked file and is gone at exit, and a replaced database is a different queue.
/// Checked after every commit, before any claimed request leaves.
public struct DatabaseFilesGuard: StorageGuard {
    struct Identity: Equatable {
        let device: UInt64
        let inode: UInt64
    }

    let lock: DatabaseLock
    private var companions: [String: Identity] = [:]

    public init(lock: DatabaseLock) {
        self.lock = lock
        _ = check()
    }

    static func identity(_ path: String) -> Identity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// nil when everything is where it was; otherwise what happened, for the closing message.
    public mutating func check() -> String? {
        var info = stat()
        if fstat(lock.descriptor, &info) == 0, info.st_nlink == 0 {
            return "the database file \(lock.realPath) was deleted"
        }
        guard Self.identity(lock.realPath) == Identity(device: lock.device, inode: lock.inode) else {
            return "the database file \(lock.realPath) was replaced or moved"
        }
        for suffix in ["-wal", "-shm"] {
            let path = lock.realPath + suffix
            let now = Self.identity(path)
            // The daemon's connection keeps both open, so SQLite never removes them while it runs.
            switch (companions[suffix], now) {
            case (nil, let seen?): companions[suffix] = seen
            case (let known?, let seen?) where known != seen: return "\(path) was replaced"
            case (.some, nil): return "\(path) was deleted"
            default: break
            }
        }
        return nil
    }
}
