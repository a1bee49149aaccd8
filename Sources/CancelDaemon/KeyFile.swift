import ZeusAPI
import CancelCore
import Foundation

/// Reads the ZEUS key from a file (or systemd credential). Errors name the file, never its content.
public enum KeyFile {
    public struct Loaded: Sendable {
        public let key: AuthKey
        /// Set when the file is readable by group or others.
        public let warning: String?
    }

    public static func load(path: String) throws(ConfigurationError) -> Loaded {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .keyFile(path: path, problem: errno == ENOENT ? "does not exist" : "cannot be read (\(errnoText()))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .keyFile(path: path, problem: "is not a regular file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .keyFile(path: path, problem: "cannot be read (permission denied?)")
        }
        var bytes = Array(data)
        // One trailing line end, as editors and `echo` write it, is not part of the key.
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { throw .keyFile(path: path, problem: "is empty") }
        guard bytes.count <= AuthKey.maximumBytes else {
            throw .keyFile(
                path: path, problem: "holds \(bytes.count) bytes; a ZEUS key has at most \(AuthKey.maximumBytes) (is it the right file?)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .keyFile(path: path, problem: "is not text")
        }
        let key: AuthKey
        do {
            key = try AuthKey(validating: text)
        } catch {
            throw .keyFile(path: path, problem: "\(error)")
        }
        let mode = info.st_mode & 0o777
        let warning =
            (mode & 0o044) != 0
            ? "key file \(path) is readable by group or others (mode \(String(mode, radix: 8))); run chmod 600 on it"
            : nil
        return Loaded(key: key, warning: warning)
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
