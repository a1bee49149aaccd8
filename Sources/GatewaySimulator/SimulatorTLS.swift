import Foundation
import NIOSSL

/// HTTPS for the simulator (`gateway-sim --tls-cert --tls-key`): a certificate chain and its key.
public struct SimulatorTLS: Sendable {
    let context: NIOSSLContext

    /// `maximumVersion` lets a test stand in for a server that offers only old protocols.
    public init(certificateFile: String, keyFile: String, maximumVersion: TLSVersion? = nil) throws(SimulatorTLSError) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw SimulatorTLSError(file: certificateFile, problem: Self.problem(certificateFile, "PEM certificate"))
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw SimulatorTLSError(file: keyFile, problem: Self.problem(keyFile, "PEM private key"))
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.maximumTLSVersion = maximumVersion
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw SimulatorTLSError(file: keyFile, problem: "is not the key of the certificate in \(certificateFile)")
        }
    }

    private static func problem(_ path: String, _ what: String) -> String {
        guard FileManager.default.fileExists(atPath: path) else { return "does not exist" }
        guard FileManager.default.isReadableFile(atPath: path) else { return "cannot be read" }
        return "holds no \(what)"
    }
}

/// A certificate or key file the simulator cannot serve HTTPS with.
public struct SimulatorTLSError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let problem: String
    public var description: String { "TLS file \(file): \(problem)" }
}
