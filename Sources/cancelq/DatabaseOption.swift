import ArgumentParser
import CancelPostgres
import Foundation

/// `--db PATH|URL` (or `CANCELQ_DB`) and, for PostgreSQL, where its password comes from.
struct DatabaseOption: ParsableArguments {
    @Option(
        name: .customLong("db"),
        help: ArgumentHelp(
            "The queue: a SQLite database file, or postgresql://user@host:port/db (env: CANCELQ_DB).", valueName: "path|url"))
    var path: String?

    @Option(
        name: .customLong("db-password-file"),
        help: ArgumentHelp(
            "PostgreSQL: file holding the password (env: CANCELQ_DB_PASSWORD_FILE; under systemd: the credential db-password; else PGPASSWORD).",
            valueName: "path"))
    var passwordFile: String?

    /// Where the queue is.
    enum Target {
        case sqlite(path: String)
        case postgres(PostgresLocation)
    }

    func resolved() throws -> String {
        guard let path = try option(path, env: "CANCELQ_DB") else {
            throw CommandFailure("no database given: pass --db PATH (or a postgresql:// URL) or set CANCELQ_DB")
        }
        return path
    }

    func target() throws -> Target {
        let given = try resolved()
        guard PostgresLocation.isURL(given) else {
            if try option(passwordFile, env: "CANCELQ_DB_PASSWORD_FILE") != nil {
                throw CommandFailure("--db-password-file is for a postgresql:// database; \(given) is a SQLite file")
            }
            return .sqlite(path: given)
        }
        var location = try PostgresLocation(url: given, defaultUser: Self.loginName())
        if let password = try password() { location.password = password }
        return .postgres(location)
    }

    /// --db-password-file, else the systemd credential `db-password`, else PGPASSWORD; nil leaves
    /// the URL's own password (or none: trust, peer or certificate authentication).
    private func password() throws -> String? {
        if let file = try option(passwordFile, env: "CANCELQ_DB_PASSWORD_FILE") { return try Self.readPassword(file) }
        if let directory = try environment("CREDENTIALS_DIRECTORY") {
            let credential = directory + "/db-password"
            if FileManager.default.fileExists(atPath: credential) { return try Self.readPassword(credential) }
        }
        return try environment("PGPASSWORD")
    }

    /// The file's first line: its content is never shown, only its name.
    static func readPassword(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CommandFailure("password file \(path) does not exist")
        }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("password file \(path) cannot be read (a directory, or permission denied?)")
        }
        var bytes = Array(data)
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { throw CommandFailure("password file \(path) is empty") }
        guard !bytes.contains(0x0A), let text = String(validating: bytes, as: UTF8.self) else {
            throw CommandFailure("password file \(path) must hold one line of text: the password")
        }
        return text
    }

    /// The operating system's name for this user, libpq's default database user.
    static func loginName() -> String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "postgres"
    }
}
