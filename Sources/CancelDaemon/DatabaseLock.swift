import Foundation

/// One daemon per database: an exclusive `flock` on `DB.lock`, held for the life of the process
/// and released by the kernel even on SIGKILL. The file holds the holder's pid for the message.
public final class DatabaseLock: Sendable {
    public let path: String
    private let descriptor: Int32

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case heldByAnotherDaemon(database: String, pid: String)
        case cannotOpen(path: String, reason: String)

        public var description: String {
            switch self {
            case .heldByAnotherDaemon(let database, let pid):
                "another cancelq run (pid \(pid)) is already working on \(database); only one daemon may use a database"
            case .cannotOpen(let path, let reason):
                "cannot create the lock file \(path): \(reason)"
            }
        }
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    public static func acquire(database: String) throws(Failure) -> DatabaseLock {
        let path = database + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: errnoText()) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            close(descriptor)
            let pid = count > 0
                ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                : "unknown"
            throw .heldByAnotherDaemon(database: database, pid: pid.isEmpty ? "unknown" : pid)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
        return DatabaseLock(path: path, descriptor: descriptor)
    }

    deinit {
        // Unlock before close; the file stays, so a racing starter never locks an unlinked inode.
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
