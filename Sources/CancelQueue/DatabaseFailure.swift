/// A statement the database failed or refused, as its driver explains it: what `StoreError`
/// needs of it (is waiting worth it? is the disk full?) without knowing which database it was.
public struct DatabaseFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The driver's explanation, with its code and the statement.
    public let description: String
    /// Another connection held the lock past the busy timeout: retrying later can succeed.
    public let isLocked: Bool
    /// The disk holding the database is full: nothing was written.
    public let isDiskFull: Bool
    /// The driver's own code (SQLite: the extended result code).
    public let code: Int

    public init(description: String, isLocked: Bool, isDiskFull: Bool, code: Int) {
        self.description = description
        self.isLocked = isLocked
        self.isDiskFull = isDiskFull
        self.code = code
    }
}
