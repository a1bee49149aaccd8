import CancelStore
import Foundation
import Testing
import TestSupport

/// The SQLite driver's lock: one daemon per database file, however the path is spelled.
@Suite("SQLite: the database file lock")
struct DatabaseLockTests {
    @Test("the lock is on the database file itself: a symlink, a hard link or `..` reach the same lock, naming the holder")
    func lockFollowsTheFile() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
            let first = try DatabaseLock.acquire(database: dir + "/q.db")
            #expect(first.realPath.hasSuffix("/q.db") && !first.realPath.contains("//"))
            try FileManager.default.createSymbolicLink(atPath: dir + "/link.db", withDestinationPath: dir + "/q.db")
            #expect(link(dir + "/q.db", dir + "/hard.db") == 0)
            for other in [dir + "/q.db", dir + "/link.db", dir + "/hard.db", dir + "/sub/../q.db"] {
                #expect(throws: DatabaseLock.Failure.heldByAnotherDaemon(database: other, pid: "\(getpid())")) {
                    try DatabaseLock.acquire(database: other)
                }
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/q.db.lock"), "no lock file beside the database")
            withExtendedLifetime(first) {}
        }
    }
}
