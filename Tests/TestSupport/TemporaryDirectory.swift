import Foundation

/// A fresh directory under the system's temporary directory, removed when the body ends.
public func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async rethrows -> T {
    let path = makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

public func makeTemporaryDirectory() -> String {
    var template = Array((NSTemporaryDirectory() + "/cancelq-test-XXXXXX").utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let result = mkdtemp(buffer.baseAddress!) else { fatalError("mkdtemp failed: \(errno)") }
        return String(cString: result)
    }
    return path
}
