import AsyncHTTPClient
import CancelCore
import Foundation
import NIOCore
import NIOPosix
import NIOHTTP1
import NIOSSL
import ZeusAPI

/// `Transport` over AsyncHTTPClient: POST, exactly `Content-Type: application/xml`, a
/// `Content-Length` (never chunked), TLS verified, no redirects, answers capped at 64 KiB, and one
/// deadline for the whole request.
public final class HTTPTransport: Transport {
    private let client: HTTPClient
    private let endpoint: String
    private let timeout: TimeAmount

    /// `additionalTrustRoots`: CAs trusted besides the system's (`--ca-file`).
    public init(
        endpoint: String, requestTimeout: Double, concurrency: Int, additionalTrustRoots: [NIOSSLCertificate] = []
    ) {
        var configuration = HTTPClient.Configuration()
        let total = TimeAmount.nanoseconds(Int64(requestTimeout * 1e9))
        // A connection that cannot be made fails before the request's deadline, with its own
        // error: the request provably never left (a deadline first would leave that unknown).
        let connect = TimeAmount.nanoseconds(Int64(requestTimeout * 0.8 * 1e9))
        configuration.timeout = .init(connect: min(connect, .seconds(10)), read: total)
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, concurrency))
        // A failed connection fails the requests waiting for it at once, with the connection's own
        // error: they were never written, and the run loop's gate decides when to try again (the
        // pool's own retries back off up to a minute, so after an outage it reconnected late, and its
        // queued requests timed out as if they had been sent).
        configuration.connectionPool.retryConnectionEstablishment = false
        // A redirect would resend the key somewhere else: never follow one.
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        configuration.tlsConfiguration = Self.tlsConfiguration(additionalTrustRoots: additionalTrustRoots)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.endpoint = endpoint
        timeout = total
    }

    /// The key travels in the body: the peer must prove it is the host named in the endpoint.
    static func tlsConfiguration(additionalTrustRoots: [NIOSSLCertificate]) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .default
        tls.additionalTrustRoots = additionalTrustRoots.isEmpty ? [] : [.certificates(additionalTrustRoots)]
        return tls
    }

    /// A request not tied to a claim (a check of the endpoint): the full request timeout from now.
    public func send(_ request: PaymentReturnRequest) async -> TransportOutcome {
        await send(request, deadline: .now + Duration.nanoseconds(timeout.nanoseconds))
    }

    public func send(_ request: PaymentReturnRequest, deadline claimDeadline: ContinuousClock.Instant) async -> TransportOutcome {
        var http = HTTPClientRequest(url: endpoint)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: ZeusLimits.contentType)
        // A body of known length makes AsyncHTTPClient send Content-Length instead of chunking.
        http.body = .bytes(ByteBuffer(bytes: request.body))
        // One deadline for connect, send, head and body, fixed at claim time: a gateway that
        // trickles its answer one byte at a time resets a read timeout on every byte, never this,
        // and a handshake it holds past the claim's lease never ends in a request.
        let remaining = ContinuousClock.now.duration(to: claimDeadline)
        guard remaining > .zero else { return .failed(.notSent("its send deadline had passed"), httpStatus: nil) }
        let deadline = NIODeadline.now() + min(timeout, TimeAmount(remaining))
        var status: Int?
        do {
            let response = try await client.execute(http, deadline: deadline)
            status = Int(response.status.code)
            guard response.status == .ok else {
                // Drained (bounded) so the connection can be reused; its content does not matter.
                _ = try? await Self.collect(response.body, before: deadline)
                return .failed(.httpStatus(Int(response.status.code)), httpStatus: status)
            }
            let body = try await Self.collect(response.body, before: deadline)
            do {
                let answer = try PaymentReturnResponse.decode(Array(buffer: body))
                return .answered(httpStatus: 200, answer)
            } catch {
                return .failed(.undecodableBody(error.description), httpStatus: status)
            }
        } catch is NIOTooManyBytesError {
            return .failed(.undecodableBody("answer larger than 64 KiB"), httpStatus: status)
        } catch {
            return .failed(Self.classify(error), httpStatus: status)
        }
    }

    /// The body, at most 64 KiB, or `deadlineExceeded` at `deadline`; reading it is then cancelled,
    /// which closes the connection. The deadline is a NIO scheduled task, removed when the body
    /// arrives first: a cancelled `Task.sleep` would still wake the process at its deadline, once
    /// per request, long after a backlog drained.
    static func collect(_ body: HTTPClientResponse.Body, before deadline: NIODeadline) async throws -> ByteBuffer {
        let reading = Task { try await body.collect(upTo: ZeusLimits.maximumResponseBytes) }
        let expiry = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(deadline: deadline) { reading.cancel() }
        defer { expiry.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await reading.value
            } onCancel: {
                reading.cancel()
            }
        } catch {
            if deadline <= NIODeadline.now() { throw HTTPClientError.deadlineExceeded }
            throw error
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Maps the many error types of the HTTP stack onto what the state machine distinguishes.
    static func classify(_ error: any Error) -> TransportFailure {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return .unreachable("connect timeout")
            case .tlsHandshakeTimeout: return .unreachable("TLS handshake timeout")
            case .getConnectionFromPoolTimeout: return .notSent("no connection to the gateway was free before the deadline")
            case .deadlineExceeded, .readTimeout:
                return .timeout
            case .remoteConnectionClosed:
                return .connectionReset
            default:
                return .other("HTTP client: \(error)")
            }
        }
        if error is NIOConnectionError { return .unreachable("could not connect: \(error)") }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout: return .unreachable("connect timeout")
            case .eof, .ioOnClosedChannel, .outputClosed, .alreadyClosed: return .connectionReset
            default: return .other("channel: \(error)")
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return .connectionRefused
            case ECONNRESET, EPIPE: return .connectionReset
            case ETIMEDOUT: return .timeout
            default: return .other("I/O: \(error)")
            }
        }
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return .tls(tlsDetail(error))
        }
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return .connectionRefused }
        return .other(text)
    }

    /// What an operator can act on. BoringSSL's own text is a code and source paths.
    static func tlsDetail(_ error: any Error) -> String {
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "the certificate is not for the endpoint's host name"
        }
        let text = String(describing: error)
        let meanings = [
            ("CERTIFICATE_VERIFY_FAILED",
             "certificate not trusted: unknown CA, expired or not yet valid (a private CA or TLS-inspecting proxy needs --ca-file)"),
            ("WRONG_VERSION_NUMBER", "the server does not speak TLS (is the endpoint a plain http port?)"),
            ("PROTOCOL_VERSION", "no TLS version in common: TLS 1.2 or later is required"),
            ("UNSUPPORTED_PROTOCOL", "no TLS version in common: TLS 1.2 or later is required"),
        ]
        for (code, meaning) in meanings where text.contains(code) { return "\(meaning) [\(code)]" }
        return text.replacing(#/ at \/[^ \])]*/#, with: "")
    }
}
