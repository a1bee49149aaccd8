import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority made at test time, and server certificates it signs. Made in-process
/// (swift-certificates, P-256): exact validity dates and names, nothing in the repository that
/// expires, and no dependence on an `openssl` binary.
public struct TestCertificateAuthority: Sendable {
    private let certificate: Certificate
    private let key: Certificate.PrivateKey

    public init(name: String = "cancelq test CA") throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName { CommonName(name) }
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: Date() - 3600, notValidAfter: Date() + 86_400, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: key)
        self.key = key
    }

    /// The CA certificate, PEM: what `--ca-file` gets.
    public func certificatePEM() throws -> String { try certificate.serializeAsPEM().pemString + "\n" }

    /// A server certificate for `hosts` (DNS names or IPv4 addresses, as subject alternative names)
    /// valid from `notValidBefore` to `notValidAfter`, with its new key.
    public func issue(
        hosts: [String] = ["127.0.0.1", "localhost"], notValidBefore: Date = Date() - 3600,
        notValidAfter: Date = Date() + 86_400
    ) throws -> (certificatePEM: String, keyPEM: String) {
        let serverKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let names: [GeneralName] = hosts.map { host in
            let octets = host.split(separator: ".").compactMap { UInt8($0) }
            return octets.count == 4 ? .ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets))) : .dnsName(host)
        }
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: serverKey.publicKey,
            notValidBefore: notValidBefore, notValidAfter: notValidAfter, issuer: certificate.subject,
            subject: try DistinguishedName { CommonName(hosts.first ?? "server") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: key)
        return (try server.serializeAsPEM().pemString + "\n", try serverKey.serializeAsPEM().pemString + "\n")
    }

    /// Writes `ca.pem`, and `NAME.pem` / `NAME-key.pem` for a server certificate, into `directory`.
    public func write(
        into directory: String, name: String, hosts: [String] = ["127.0.0.1", "localhost"],
        notValidBefore: Date = Date() - 3600, notValidAfter: Date = Date() + 86_400
    ) throws -> (ca: String, certificate: String, key: String) {
        let server = try issue(hosts: hosts, notValidBefore: notValidBefore, notValidAfter: notValidAfter)
        let paths = (ca: directory + "/ca.pem", certificate: directory + "/\(name).pem", key: directory + "/\(name)-key.pem")
        try Data(try certificatePEM().utf8).write(to: URL(fileURLWithPath: paths.ca))
        try Data(server.certificatePEM.utf8).write(to: URL(fileURLWithPath: paths.certificate))
        try Data(server.keyPEM.utf8).write(to: URL(fileURLWithPath: paths.key))
        return paths
    }
}
