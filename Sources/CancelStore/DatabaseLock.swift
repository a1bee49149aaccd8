import CancelQueue
import Foundation

/// One daemon per database FILE: an exclusive `flock` on the database file itself, whatever path
/// reaches it (a symlink, a hard link, `..`), held for the life of the process and released by the
/// kernel even on SIGKILL. A lock on a name derived from the path (`DB.lock`) let a second daemon
/// in through another path and resend orders the first had already cancelled.
///
/// `flock` locks do not interact with SQLite's POSIX (`fcntl`) locks on Linux. The descriptor is
/// never closed while the process lives: closing ANY descriptor of the database file drops all of
/// the process's POSIX locks on it, SQLite's included (SQLite's "How To Corrupt" page, 2.2).
public final class DatabaseLock: Sendable {
    /// The path as given.
    public let path: String
    /// The file the lock is on, with symlinks and `..` resolved: what SQLite and the watcher use.
    public let realPath: String
    let descriptor: Int32
    let device: UInt64
    let inode: UInt64

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case heldByAnotherDaemon(database: String, pid: String)
        case cannotOpen(path: String, reason: String)

        public var description: String {
            switch self {
            case .heldByAnotherDaemon(let database, let pid):
                "another cancelq run (pid \(pid)) is already working on \(database) (whatever path reaches it); only one daemon may use a database"
            case .cannotOpen(let path, let reason):
                "cannot open \(path) to lock it: \(reason)"
            }
        }
    }

    private init(path: String, realPath: String, descriptor: Int32, device: UInt64, inode: UInt64) {
        self.path = path
        self.realPath = realPath
        self.descriptor = descriptor
        self.device = device
        self.inode = inode
    }

    /// Creates the database file when missing (0660, see `DatabaseFile`), then locks it.
    public static func acquire(database path: String) throws -> DatabaseLock {
        try DatabaseFile.createIfMissing(path)
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        fstat(descriptor, &info)
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let pid = holder(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) ?? "unknown"
            // Safe to close: this process has not opened the database with SQLite yet.
            close(descriptor)
            throw Failure.heldByAnotherDaemon(database: path, pid: pid)
        }
        guard let resolved = realpath(path, nil) else {
            throw Failure.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { free(resolved) }
        return DatabaseLock(
            path: path, realPath: String(cString: resolved), descriptor: descriptor, device: UInt64(info.st_dev),
            inode: UInt64(info.st_ino))
    }

    /// The pid holding a `flock` on the file, from /proc/locks ("1: FLOCK ADVISORY WRITE 123 08:01:456 0 EOF").
    static func holder(device: UInt64, inode: UInt64) -> String? {
        guard let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let major = ((device >> 8) & 0xFFF) | ((device >> 32) & ~0xFFF)
        let minor = (device & 0xFF) | ((device >> 12) & ~0xFF)
        let key = String(format: "%02llx:%02llx:%llu", major, minor, inode)
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 6, fields[1] == "FLOCK", fields[5] == key { return String(fields[4]) }
        }
        return nil
    }

    // No deinit that closes: see the type's comment. The kernel releases the lock at exit.
}
