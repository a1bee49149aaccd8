import CancelQueue
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The database file on disk, before SQLite opens it: a path that is a directory or lacks its
/// parent gets a message that says so, and a new file is created group-writable (0660), whatever
/// the umask. SQLite gives the `-wal` and `-shm` files it creates the database file's mode, so
/// the applications of the group can insert whoever created which file first (README,
/// "Installing as a service": the state directory is setgid, so every file gets the group).
public enum DatabaseFile {
    public static let mode: mode_t = 0o660

    public static func requireExisting(_ path: String) throws(StoreError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT {
                try requireParent(path)
                throw .databaseMissing(path: path)
            }
            throw .cannotAccess(path: path, reason: String(cString: strerror(errno)))
        }
        try requireRegular(path, info)
    }

    /// Creates `path` with mode 0660 when it does not exist; returns whether it did.
    @discardableResult
    public static func createIfMissing(_ path: String) throws(StoreError) -> Bool {
        var info = stat()
        if stat(path, &info) == 0 {
            try requireRegular(path, info)
            return false
        }
        try requireParent(path)
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            if errno == EEXIST { return false }  // another process created it meanwhile
            throw .cannotAccess(path: path, reason: String(cString: strerror(errno)))
        }
        // The umask (022 in a shell) would leave the group read-only.
        _ = fchmod(descriptor, mode)
        close(descriptor)
        return true
    }

    static func requireRegular(_ path: String, _ info: stat) throws(StoreError) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw .isDirectory(path: path)
        default: throw .cannotAccess(path: path, reason: "not a regular file")
        }
    }

    static func requireParent(_ path: String) throws(StoreError) {
        let parent = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var info = stat()
        guard stat(parent.isEmpty ? "/" : parent, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .parentDirectoryMissing(path: path, directory: parent)
        }
    }

    /// Below this much free space the daemon's next commit may fail with SQLITE_FULL.
    public static let minimumFreeBytes: UInt64 = 1 << 20

    /// What `status --check` says when the file system holding `path` is (nearly) full: the
    /// daemon then keeps its answers in memory and claims nothing until space is freed.
    public static func spaceProblem(_ path: String) -> String? {
        var info = statvfs()
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard statvfs(directory.isEmpty ? "/" : directory, &info) == 0 else { return nil }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        guard free < minimumFreeBytes else { return nil }
        return "the file system holding \(path) is full (\(free / 1024) KiB free): the daemon cannot record answers or claim jobs; free space there"
    }
}
