/// A test's own failure with a message (a helper process that did not start, say).
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
