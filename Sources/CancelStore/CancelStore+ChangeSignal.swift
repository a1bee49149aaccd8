import CancelQueue
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-syscall hint that another process may have committed: in WAL mode every commit appends to
/// the `-wal` file, so an unchanged size and modification time means there is nothing to look at.
/// Cheaper than a `data_version` read, which takes SQLite's file locks; an idle daemon asks often.
extension CancelStore {
    public struct WALSignature: Equatable, Sendable {
        let size: Int64
        let modifiedSeconds: Int
        let modifiedNanoseconds: Int
    }

    /// nil while there is no WAL file (after a clean close); a later commit creates one.
    public func walSignature() -> WALSignature? {
        var info = stat()
        guard stat(path + "-wal", &info) == 0 else { return nil }
        return WALSignature(
            size: Int64(info.st_size), modifiedSeconds: Int(info.st_mtim.tv_sec), modifiedNanoseconds: Int(info.st_mtim.tv_nsec))
    }
}
