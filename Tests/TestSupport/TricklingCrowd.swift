import Foundation

/// Local clients that each send half a request and then a byte now and then, never completing it:
/// the attack on the metrics listener's connection cap. One that finds itself closed connects
/// again, as an attacker would.
public final class TricklingCrowd {
    private let port: Int
    private var connections: [LoopbackConnection]
    private var step = 0
    /// How many of the crowd's connections the listener has closed so far.
    public private(set) var closedByServer = 0

    public init(port: Int, size: Int) throws {
        self.port = port
        connections = try (0..<size).map { _ in try Self.connect(port: port) }
    }

    private static func connect(port: Int) throws -> LoopbackConnection {
        let connection = try LoopbackConnection(port: port)
        connection.send("GET /metr")
        return connection
    }

    /// One quarter of the crowd sends a byte; called every 0.25 s, each connection trickles about
    /// once a second.
    public func trickle() throws {
        defer { step += 1 }
        for index in connections.indices where index % 4 == step % 4 {
            if connections[index].receive(timeout: 0.001).closed || !connections[index].send("i") {
                closedByServer += 1
                connections[index] = try Self.connect(port: port)
            }
        }
    }

    /// Trickles for `seconds`.
    public func trickle(for seconds: Double) async throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            try trickle()
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Which of the crowd are closed now (reads nothing else: they never get an answer).
    public func closedNow() -> [Bool] { connections.map { $0.receive(timeout: 0.001).closed } }
}
