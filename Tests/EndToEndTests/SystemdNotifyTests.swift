import Foundation
import Testing
import TestSupport

/// A unix datagram socket standing in for systemd's `$NOTIFY_SOCKET`.
final class NotifySocket {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw TestFailure("cannot bind \(path): errno \(errno)") }
        _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
    }

    deinit { close(descriptor) }

    /// Every datagram received so far.
    func receive() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[..<count], as: UTF8.self))
        }
    }
}

@Suite("systemd notify")
struct SystemdNotifyTests {
    @Test("the daemon sends READY=1 once locked and migrated, STATUS= with counts, WATCHDOG=1 and STOPPING=1")
    func notifyProtocol() async throws {
        try await DaemonHarness.withHarness { h in
            let socket = try NotifySocket(path: h.directory + "/notify.sock")
            try await h.migrate()
            try h.enqueue(["SD-1", "SD-2"])
            let daemon = try h.startDaemon(
                ["--exit-when-idle"], environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "200000"])
            #expect(await daemon.waitForExit(timeout: 15) == 0, "\(daemon.output)")
            let messages = socket.receive()
            let ready = messages.firstIndex { $0.hasPrefix("READY=1") }
            let stopping = messages.firstIndex { $0 == "STOPPING=1" }
            #expect(ready != nil, "\(messages)")
            #expect(stopping == messages.count - 1, "STOPPING=1 must be last: \(messages)")
            #expect(messages.contains("WATCHDOG=1"))
            #expect(messages.contains { $0.hasPrefix("STATUS=sending; in flight 0; this run: sent 2, succeeded 2, failed 0") }, "\(messages)")
        }
    }

    @Test("without NOTIFY_SOCKET nothing is sent and nothing fails")
    func noSocket() async throws {
        try await DaemonHarness.withHarness { h in
            try await h.migrate()
            try h.enqueue(["SD-3"])
            let daemon = try h.startDaemon(["--exit-when-idle"])
            #expect(await daemon.waitForExit(timeout: 15) == 0)
        }
    }
}
