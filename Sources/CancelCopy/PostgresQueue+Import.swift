import CancelCore
import CancelPostgres
import CancelQueue
import CancelStore
import PostgresNIO
import SQLite

/// Moving up: a SQLite queue with its whole audit trail and its sending gate copied into an empty
/// PostgreSQL queue, in one transaction (all or nothing), ids kept so the attempts still point at
/// their jobs, then compared on both sides. Jobs left `sent` by the last SQLite run are rescued by
/// the first daemon.
extension PostgresQueue {
    enum ColumnType { case bigint, integer, double, text, boolean }

    struct CopiedTable {
        let name: String
        let columns: [(String, ColumnType)]
    }

    static let copiedTables = [
        CopiedTable(
            name: "cancellations",
            columns: [
                ("id", .bigint), ("order_number", .text), ("paid_at", .double), ("state", .text), ("attempt_count", .integer),
                ("request_count", .integer), ("due_at", .double), ("outcome", .text), ("last_status", .text), ("last_code", .text),
                ("last_error", .text), ("created_at", .double), ("updated_at", .double), ("interruptions", .integer),
            ]),
        CopiedTable(
            name: "cancellation_attempts",
            columns: [
                ("id", .bigint), ("cancellation_id", .bigint), ("attempt", .integer), ("started_at", .double),
                ("completed_at", .double), ("http_status", .integer), ("result_status", .text), ("result_code", .text),
                ("error", .text), ("counted", .boolean),
            ]),
        CopiedTable(
            name: "operator_actions",
            columns: [
                ("id", .bigint), ("at", .double), ("action", .text), ("cancellation_id", .bigint), ("detail", .text),
                ("operator", .text),
            ]),
        CopiedTable(
            name: "cancellation_withdrawals",
            columns: [("id", .bigint), ("order_number", .text), ("reason", .text), ("at", .double)]),
    ]

    /// The application-facing guards the copy steps around: it brings the daemon's own columns,
    /// old times and ids, and jobs that are already withdrawn.
    static let triggersOffDuringCopy = [
        ("cancellations", "cancellations_insert_sets_only_order_number_and_paid_at"),
        ("cancellation_withdrawals", "cancellation_withdrawals_checked"),
        ("cancellation_withdrawals", "cancellation_withdrawals_withdraw_the_job"),
    ]

    /// What was copied: rows per table.
    public struct ImportReport: Sendable, Equatable {
        public var rows: [String: Int]
    }

    public enum ImportRefusal: Error, CustomStringConvertible {
        case targetNotEmpty(String, table: String, rows: Int)
        case countsDiffer(table: String, source: Int, target: Int)
        case gateDiffers(source: SendingGate.Mode, target: SendingGate.Mode)

        public var description: String {
            switch self {
            case .targetNotEmpty(let location, let table, let rows):
                "\(location) is not empty (\(table) holds \(rows) row(s)): the copy goes only into a freshly migrated database"
            case .countsDiffer(let table, let source, let target):
                "the copy of \(table) has \(target) row(s) where the SQLite queue has \(source); nothing was kept"
            case .gateDiffers(let source, let target):
                "the copy of the sending gate (\(target.rawValue)) differs from the SQLite queue's (\(source.rawValue)) or lost its last approval; nothing was kept"
            }
        }
    }

    /// Copies `source` (a SQLite queue no daemon is running on) into this empty, migrated queue.
    public func importQueue(from source: CancelStore, progress: (String, Int) -> Void = { _, _ in }) async throws -> ImportReport {
        for table in Self.copiedTables.map(\.name) + ["cancelq_daemons"] {
            let rows: Int64 = try await session.rows(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)")).first?.value(0) ?? 0
            if rows > 0 { throw ImportRefusal.targetNotEmpty(location, table: table, rows: Int(rows)) }
        }
        var report = ImportReport(rows: [:])
        try await session.rows("BEGIN")
        do {
            for (table, trigger) in Self.triggersOffDuringCopy {
                try await session.rows(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) DISABLE TRIGGER \(trigger)"))
            }
            for table in Self.copiedTables {
                report.rows[table.name] = try await copy(table, from: source, progress: progress)
            }
            for (table, trigger) in Self.triggersOffDuringCopy {
                try await session.rows(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) ENABLE TRIGGER \(trigger)"))
            }
            for table in Self.copiedTables.map(\.name) {
                try await session.rows(
                    PostgresQuery(
                        unsafeSQL: "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), coalesce((SELECT max(id) FROM \(table)), 0) + 1, false)"))
            }
            try await copyGate(from: source)
            for table in Self.copiedTables.map(\.name) {
                let target: Int64 = try await session.rows(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)")).first?.value(0) ?? 0
                let expected = try source.rowCount(table: table)
                guard Int(target) == expected else { throw ImportRefusal.countsDiffer(table: table, source: expected, target: Int(target)) }
            }
            try await session.rows("COMMIT")
        } catch {
            _ = try? await session.rows("ROLLBACK")
            throw error
        }
        return report
    }

    private func copy(_ table: CopiedTable, from source: CancelStore, progress: (String, Int) -> Void) async throws -> Int {
        let batch = 1000
        var after: Int64 = 0
        var copied = 0
        let names = table.columns.map(\.0)
        while true {
            let rows = try source.exportRows(table: table.name, columns: names, afterID: after, limit: batch)
            guard let last = rows.last, case .integer(let lastID) = last[0] else { break }
            var binds = PostgresBindings(capacity: rows.count * names.count)
            var tuples: [String] = []
            for row in rows {
                // One bind parameter per value: `($1, $2, …)`, numbered on across the rows.
                var parameters: [String] = []
                for (value, (_, type)) in zip(row, table.columns) {
                    try Self.bind(value, as: type, into: &binds)
                    parameters.append("$\(binds.count)")
                }
                tuples.append("(" + parameters.joined(separator: ", ") + ")")
            }
            try await session.rows(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(table.name) (\(names.joined(separator: ", "))) OVERRIDING SYSTEM VALUE VALUES \(tuples.joined(separator: ", "))",
                    binds: binds))
            copied += rows.count
            after = lastID
            progress(table.name, copied)
        }
        return copied
    }

    /// The whole gate: its mode with its fields (a hold, a halt, a pause and its streak) and the
    /// last approval, from which the next surge is counted: without it the first daemon would hold
    /// again on jobs an operator approved. The probe columns stay empty: they belong to a daemon of
    /// this cluster, and none has run yet.
    private func copyGate(from source: CancelStore) async throws {
        let exported = try source.exportGate()
        // An unknown mode (a newer binary's) is refused before anything is written.
        let gate = try exported.row.gate()
        try await writeCopiedGate(exported)
        let copied = try await readGate(lock: false)
        guard copied.gate == gate, copied.approvedAt == exported.approvedAt else {
            throw ImportRefusal.gateDiffers(source: gate.mode, target: copied.gate.mode)
        }
    }

    /// The row as SQLite holds it, column for column (not rebuilt from the gate it means).
    private func writeCopiedGate(_ exported: CancelStore.ExportedGate) async throws(StoreError) {
        let row = exported.row
        var binds = PostgresBindings()
        binds.append(row)
        binds.append(exported.approvedAt)
        binds.append(exported.updatedAt)
        let columns = GateRow.columns.split(separator: ", ").map(String.init) + ["approved_at", "updated_at"]
        let parameters = columns.indices.map { "$\($0 + 1)" }
        // The migration made the row; an upsert all the same, as `writeGate` does.
        try await session.rows(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO sending_gate (id, \(columns.joined(separator: ", "))) VALUES (1, \(parameters.joined(separator: ", ")))
                    ON CONFLICT (id) DO UPDATE SET \(columns.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", "))
                    """, binds: binds))
    }

    private static func bind(_ value: SQLiteValue, as type: ColumnType, into binds: inout PostgresBindings) throws {
        switch (value, type) {
        case (.null, _): binds.appendNull()
        case (.integer(let number), .bigint): binds.append(number)
        case (.integer(let number), .integer): binds.append(Int32(clamping: number))
        case (.integer(let number), .double): binds.append(Double(number))
        case (.integer(let number), .boolean): binds.append(number != 0)
        case (.real(let number), .double): binds.append(number)
        case (.text(let text), .text): binds.append(text)
        case (.integer(let number), .text): binds.append(String(number))
        case (.real(let number), .text): binds.append(String(number))
        default:
            throw StoreError.server(location: "the SQLite queue", message: "a value of an unexpected type (\(value)) for a \(type) column", constraint: nil)
        }
    }
}
