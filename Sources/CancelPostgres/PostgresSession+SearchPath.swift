import CancelQueue
import Logging
import PostgresNIO

/// Which schema a session works in. cancelq's statements name its tables without a schema, so the
/// role's search_path decides: PostgreSQL's default `"$user", public` puts a schema named after the
/// login role first, and such a schema, empty, made `status` and `migrate` see another, empty
/// queue beside the real one. Each connection resolves it once and then keeps to it.
extension PostgresSession {
    /// The first schema of the search_path (`current_schema()`) must be the queue's when a queue
    /// is anywhere on the path: otherwise the connection is refused, naming both schemas. Then the
    /// session's search_path becomes that schema alone, with pg_temp last, so that neither a schema
    /// created later nor a temporary table can take cancelq's table names. Names are compared and
    /// shown quoted as identifiers, ready for the `ALTER ROLE` the refusal suggests.
    static func settleSearchPath(on connection: PostgresConnection, location: PostgresLocation, logger: Logger) async throws {
        let rows = try await connection.query(
            """
            SELECT quote_ident(current_schema()), quote_ident(current_user), current_setting('search_path'),
                array(SELECT quote_ident(u.s) FROM unnest(current_schemas(false)) WITH ORDINALITY AS u(s, i)
                      WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                                    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
                                    WHERE n.nspname = u.s AND c.relname = 'schema_migrations'
                                    AND a.attname = 'checksum' AND NOT a.attisdropped)
                      ORDER BY u.i)
            """, logger: logger)
        var first: String?
        var role = ""
        var path = ""
        var queues: [String] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            first = try cells[0].decode(String?.self)
            role = try cells[1].decode(String.self)
            path = try cells[2].decode(String.self)
            queues = try cells[3].decode([String].self)
        }
        // No schema on the path exists: `migrate` says so when it creates its first table.
        guard let first else { return }
        if let queue = queues.first, !queues.contains(first) {
            throw StoreError.server(
                location: location.description,
                message: "schema \(first) comes first in the search_path of role \(role) (\(path)) and holds no cancelq queue, "
                    + "while schema \(queue) does: cancelq would work on another, empty queue. Drop or rename schema \(first) "
                    + "if nothing needs it, or point the role at the queue: ALTER ROLE \(role) SET search_path = \(queue)",
                constraint: "queue_schema_shadowed")
        }
        _ = try await connection.query(
            "SELECT set_config('search_path', quote_ident(current_schema()) || ', pg_temp', false)", logger: logger)
    }
}
