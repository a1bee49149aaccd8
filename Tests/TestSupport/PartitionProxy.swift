import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TCP relay on 127.0.0.1 in front of a server, that can cut the link the way a network partition
/// does: once armed, the first client chunk containing `trigger` (a COMMIT) still reaches the server,
/// but nothing comes back and nothing more goes through, on any connection, new ones included (they
/// are accepted and then hear nothing, like SYN-ACKs from a half-dead middlebox). `heal` closes the
/// dead connections (as the peers' TCP would time them out) and relays again.
public final class PartitionProxy: Sendable {
    public let port: Int
    private let listener: Int32
    private let upstreamPort: Int
    private struct State {
        var armedTrigger: [UInt8]?
        /// The trigger counts only after a client chunk containing this went through.
        var armedAfter: [UInt8]?
        var partitioned = false
        var triggeredAt: ContinuousClock.Instant?
        /// Cut off entirely: connections closed, new ones never answered (SYNs dropped).
        var cut = false
        /// Our own connection that fills the accept queue while cut, so the kernel drops SYNs.
        var filler: Int32?
        /// Connection pairs still relaying, and how many of each pair's two relays have ended.
        var open: [Int32: (peer: Int32, ended: Int)] = [:]
    }
    private let state = Mutex(State())

    public init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HeldPortError(call: "socket", errno: errno) }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 64) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else {
            let error = errno
            close(descriptor)
            throw HeldPortError(call: "bind", errno: error)
        }
        listener = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// The next client chunk containing `trigger` (once one containing `prerequisite` went through,
    /// when given) is the last thing through: the partition begins.
    public func arm(dropAnswerAfter trigger: String, once prerequisite: String? = nil) {
        state.withLock { state in
            state.armedTrigger = Array(trigger.utf8)
            state.armedAfter = prerequisite.map { Array($0.utf8) }
        }
    }

    /// When the armed trigger went through, if it has.
    public var partitionedAt: ContinuousClock.Instant? { state.withLock { $0.triggeredAt } }

    /// The link works again: connections made through the partition are closed, new ones relay.
    public func heal() {
        state.withLock { state in
            state.partitioned = false
            state.armedTrigger = nil
            // Shut down, not closed: each pair's relays close their descriptors when both have ended.
            for (client, pair) in state.open {
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(pair.peer, Int32(SHUT_RDWR))
            }
        }
    }

    /// The server vanishes from the network, as behind a firewall that drops everything: open
    /// connections end, and a new connection is never established (its SYNs are dropped: the
    /// listener's accept queue is shrunk to nothing and kept full), so a client's connect times out.
    public func cut() {
        let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        state.withLock { state in
            state.cut = true
            listen(listener, 0)
            for (client, pair) in state.open {
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(pair.peer, Int32(SHUT_RDWR))
            }
        }
        var address = Self.loopback(port: port)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        state.withLock { $0.filler = filler }
    }

    /// The server is reachable again after `cut`.
    public func restore() {
        let filler = state.withLock { state -> Int32? in
            state.cut = false
            listen(listener, 64)
            defer { state.filler = nil }
            return state.filler
        }
        if let filler { close(filler) }
    }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        heal()
    }

    private func acceptLoop() {
        defer { close(listener) }
        while true {
            // While cut, nothing is accepted: the queue stays full and the kernel drops SYNs.
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 && errno != EINTR { return }
            if poller.revents & Int16(POLLNVAL | POLLERR) != 0 { return }
            if ready <= 0 || state.withLock({ $0.cut }) {
                if ready > 0 { usleep(50_000) }
                continue
            }
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(client)
                close(upstream)
                continue
            }
            state.withLock { $0.open[client] = (upstream, 0) }
            Thread.detachNewThread { [self] in
                relay(from: client, to: upstream, watchForTrigger: true)
                ended(client)
            }
            Thread.detachNewThread { [self] in
                relay(from: upstream, to: client, watchForTrigger: false)
                ended(client)
            }
        }
    }

    /// The second relay of a pair to end closes both descriptors (never while one still reads them).
    private func ended(_ client: Int32) {
        state.withLock { state in
            guard let pair = state.open[client] else { return }
            if pair.ended == 0 {
                state.open[client] = (pair.peer, 1)
            } else {
                state.open[client] = nil
                close(client)
                close(pair.peer)
            }
        }
    }

    /// Copies bytes one way until either side closes; drops everything while partitioned.
    private func relay(from source: Int32, to destination: Int32, watchForTrigger: Bool) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        defer {
            shutdown(destination, Int32(SHUT_RDWR))
            shutdown(source, Int32(SHUT_RDWR))
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            let chunk = Array(buffer[0..<count])
            let forward = state.withLock { state -> Bool in
                if state.partitioned { return false }
                if watchForTrigger, let prerequisite = state.armedAfter, Self.contains(chunk, prerequisite) {
                    state.armedAfter = nil
                } else if watchForTrigger, state.armedAfter == nil, let trigger = state.armedTrigger, Self.contains(chunk, trigger) {
                    state.partitioned = true
                    state.armedTrigger = nil
                    state.triggeredAt = .now
                }
                return true
            }
            guard forward else { continue }
            var offset = 0
            while offset < chunk.count {
                let sent = chunk[offset...].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { return }
                offset += sent
            }
        }
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return true }
        }
        return false
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }
}
