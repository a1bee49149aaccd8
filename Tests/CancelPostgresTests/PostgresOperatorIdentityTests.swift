import CancelCore
import CancelQueue
import CancelStore
import Foundation
import Testing
import TestSupport

@testable import CancelPostgres

/// Issue 18, point 7 on PostgreSQL: an operator action names the database role that wrote it
/// beside the host's user, whatever name the command passed.
@Suite("PostgreSQL: operator actions name the database role", .serialized, .enabled(if: PostgresServer.shouldRun, "\(PostgresServer.skipNote)"))
struct PostgresOperatorIdentityTests {
    @Test("a withdrawal recorded by cancelq withdraw says the host's user and the session's role")
    func roleRecorded() async throws {
        try await PostgresTestDatabase.with { database in
            try await database.withQueues(["operator"]) { queues in
                try database.psql("INSERT INTO cancellations(order_number) VALUES ('ROLE-1')")
                let results = try await queues[0].withdraw(orderNumbers: ["ROLE-1"], reason: nil, by: "alice (as cancelq)")
                #expect(results == [.withdrawn(orderNumber: "ROLE-1", previousState: .pending)])
                let role = try database.psql("SELECT current_user")
                #expect(try database.psql("SELECT operator FROM operator_actions") == "alice (as cancelq), role \(role)")
            }
        }
    }
}
