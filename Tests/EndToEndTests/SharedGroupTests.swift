import Foundation
import Testing
import TestSupport

/// The install the README describes: the daemon's user and an application's user share group
/// `cancelq` in a setgid state directory. Needs root (to switch users with setpriv): CI runs as root.
@Suite("Daemon and application users in one group", .enabled(if: getuid() == 0, "needs root to switch users with setpriv"))
struct SharedGroupTests {
    static let group: gid_t = 47_000
    static let daemonUser: uid_t = 47_001
    static let applicationUser: uid_t = 47_002

    /// Runs `cancelq` as `uid`, with primary group `gid` and supplementary `groups`.
    func runAs(_ uid: uid_t, _ gid: gid_t, groups: [gid_t], _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try runProgram(
            "/usr/bin/setpriv",
            ["--reuid=\(uid)", "--regid=\(gid)", "--groups=\(groups.map(String.init).joined(separator: ","))", "--", cancelqExecutable()]
                + arguments)
    }

    func stateDirectory(in dir: String) -> String {
        let state = dir + "/state"
        mkdir(state, 0o700)
        chown(state, Self.daemonUser, Self.group)
        chmod(state, 0o2770)  // as StateDirectoryMode=2770 makes it
        chmod(dir, 0o755)
        return state
    }

    func daemon(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runAs(Self.daemonUser, Self.group, groups: [Self.group], arguments)
    }

    func application(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runAs(Self.applicationUser, Self.applicationUser, groups: [Self.group], arguments)
    }

    @Test("the daemon creates the files first: the application can insert, and so can the daemon after it")
    func daemonFirst() async throws {
        try await withTemporaryDirectory { dir in
            let db = stateDirectory(in: dir) + "/queue.db"
            #expect(try await daemon(["migrate", "--db", db]).status == 0)
            let inserted = try await application(["enqueue", "--db", db, "APP-1"])
            #expect(inserted.status == 0, "\(inserted.output)")
            let again = try await daemon(["enqueue", "--db", db, "DAEMON-1"])
            #expect(again.status == 0, "\(again.output)")
            var info = stat()
            #expect(stat(db, &info) == 0 && info.st_mode & 0o777 == 0o660 && info.st_gid == Self.group)
        }
    }

    @Test("the application creates the -wal and -shm first (daemon stopped): the daemon can still write them")
    func applicationFirst() async throws {
        try await withTemporaryDirectory { dir in
            let db = stateDirectory(in: dir) + "/queue.db"
            #expect(try await daemon(["migrate", "--db", db]).status == 0)
            #expect(!FileManager.default.fileExists(atPath: db + "-wal"), "a clean close removes the WAL")
            // An application's connection, held open: it created the -wal and -shm.
            let holder = try ApplicationConnection(path: db, uid: Self.applicationUser, groups: [Self.group])
            defer { holder.close() }
            #expect(await eventually(timeout: 5) { FileManager.default.fileExists(atPath: db + "-shm") })
            for suffix in ["-wal", "-shm"] {
                var info = stat()
                #expect(stat(db + suffix, &info) == 0)
                #expect(info.st_uid == Self.applicationUser && info.st_gid == Self.group && info.st_mode & 0o777 == 0o660,
                        "\(suffix): uid \(info.st_uid) gid \(info.st_gid) mode \(String(info.st_mode & 0o777, radix: 8))")
            }
            let written = try await daemon(["enqueue", "--db", db, "DAEMON-2"])
            #expect(written.status == 0, "\(written.output)")
        }
    }

    @Test("the running daemon is not dumpable: its /proc files belong to root, not to its user")
    func notDumpable() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            chown(h.directory, Self.daemonUser, Self.group)
            chmod(h.directory, 0o2770)
            for file in [h.database, h.keyFile] { chown(file, Self.daemonUser, Self.group) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(Self.daemonUser)", "--regid=\(Self.group)", "--clear-groups", "--", cancelqExecutable()]
                + h.runArguments()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            var info = stat()
            let started = await eventually(timeout: 10) {
                guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
                else { return false }
                return status.contains("Uid:\t\(Self.daemonUser)") && stat("/proc/\(process.processIdentifier)/environ", &info) == 0
                    && info.st_uid == 0
            }
            #expect(started, "the daemon's /proc/PID/environ is owned by uid \(info.st_uid), so it is still dumpable")
        }
    }
}

/// `sqlite3` as an application user, inserting one row and keeping its connection open.
struct ApplicationConnection {
    let process: Process
    let input: Pipe

    init(path: String, uid: uid_t, groups: [gid_t]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--groups=\(groups.map(String.init).joined(separator: ","))", "--",
                             "/usr/bin/sqlite3", path]
        input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(".timeout 5000\nINSERT INTO cancellations(order_number) VALUES ('APP-2');\n".utf8))
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
