import Foundation
import NIOSSL

/// Reads `--ca-file`: PEM certificates of authorities trusted besides the system's (a private CA, a
/// TLS-inspecting proxy, the simulator's test CA). Errors name the file and what is wrong with it.
public enum CAFile {
    public static func load(path: String) throws(ConfigurationError) -> [NIOSSLCertificate] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .caFile(path: path, problem: errno == ENOENT ? "does not exist" : "cannot be read (\(errnoText()))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .caFile(path: path, problem: "is not a regular file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .caFile(path: path, problem: "cannot be read (permission denied?)")
        }
        // BoringSSL reads up to the first block that is not a certificate and refuses a file with none.
        guard let certificates = try? NIOSSLCertificate.fromPEMBytes(Array(data)), !certificates.isEmpty else {
            throw .caFile(
                path: path, problem: "holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)")
        }
        return certificates
    }
}
