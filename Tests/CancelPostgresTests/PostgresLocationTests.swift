import CancelQueue
import CancelStore
import Testing

@testable import CancelPostgres

@Suite("PostgreSQL --db URLs")
struct PostgresLocationTests {
    @Test("an option that the URL's authority or path already gives is refused as given twice, not silently replaced")
    func authorityAndOptionTogetherRefused() {
        for (url, option) in [
            ("postgresql://cancelq@127.0.0.1:5432/shop?user=postgres", "user"),
            ("postgresql://cancelq@db.example/shop?host=other.example", "host"),
            ("postgresql://cancelq@db.example:6432/shop?port=5432", "port"),
            ("postgresql://cancelq@db.example/shop?dbname=other", "dbname"),
        ] {
            let error = #expect(throws: PostgresLocationError.self) { try PostgresLocation(url: url, defaultUser: "me") }
            #expect(error.map { "\($0)" }?.contains("\(option) is given twice") == true, "\(url): \(error.map { "\($0)" } ?? "accepted")")
        }
    }

    @Test("a URL gives host, port, user, database and sslmode; the defaults are libpq's")
    func parsesTheParts() throws {
        let full = try PostgresLocation(
            url: "postgresql://queue@db.example:6432/shop?sslmode=verify-full&sslrootcert=/etc/ca.pem", defaultUser: "me")
        #expect(full.host == "db.example" && full.port == 6432 && full.user == "queue" && full.database == "shop")
        #expect(full.sslMode == .verifyFull && full.sslRootCert == "/etc/ca.pem")
        let bare = try PostgresLocation(url: "postgres://", defaultUser: "me")
        #expect(bare.host == "localhost" && bare.port == 5432 && bare.user == "me" && bare.database == "me" && bare.sslMode == .prefer)
        let literal = try PostgresLocation(url: "postgresql://queue@[::1]:6432/shop", defaultUser: "me")
        #expect(literal.host == "::1" && literal.port == 6432 && literal.description == "postgresql://queue@[::1]:6432/shop")
        let socket = try PostgresLocation(url: "postgresql:///shop?host=/var/run/postgresql", defaultUser: "me")
        #expect(socket.socketDirectory == "/var/run/postgresql" && socket.database == "shop")
    }

    @Test("a password in the URL is kept apart and never shown", arguments: [
        "postgresql://queue:hunter2@db:5432/shop", "postgres://queue:hunter2@db/shop?sslmode=require",
        "postgresql://queue:hun%40ter2@db/shop", "postgresql://queue@db/shop?sslmode=disable&password=hunter2",
    ])
    func passwordRedacted(url: String) throws {
        let location = try PostgresLocation(url: url, defaultUser: "me")
        #expect(location.password?.hasPrefix("hun") == true)
        #expect(!location.description.contains("hun"))
        #expect(!PostgresLocation.redacted(url).contains("hun"))
        #expect(PostgresLocation.redacted(url).contains("***"))
    }

    @Test("errors name the problem and never the password", arguments: [
        ("postgresql://u:pw-secret@h/d?sslmode=verify", "sslmode=verify is not one of"),
        ("postgresql://u:pw-secret@h/d?sslrootcert=/ca.pem", "sslrootcert needs sslmode=verify-full"),
        ("postgresql://u:pw-secret@h/d?fancy=1", "unknown option fancy"),
        ("postgresql://u:pw-secret@h:70000/d", "out of range"),
        ("postgresql://u@h/d?sslmode=disable&password=pw-secret&fancy=1", "unknown option fancy"),
        ("postgresql://u@h/d?PASSWORD=pw-secret", "unknown option PASSWORD"),
        // Unencoded / ? # in a password make the URL malformed; the message still hides it.
        ("postgresql://u:pw-secret/x@h:5432/d", "percent-encode"),
        ("postgresql://u:pw-secret?x@h:5432/d", "percent-encode"),
        ("postgresql://u:pw-secret#x@h:5432/d", "percent-encode"),
        // A second password, or one whose option name is percent-encoded, is hidden too.
        ("postgresql://u@h/d?password=pw-secret1&password=pw-secret2", "a password is given twice"),
        ("postgresql://u:pw-secret1@h/d?password=pw-secret2", "a password is given twice"),
        ("postgresql://u@h/d?pass%77ord=pw-secret&sslmode=verify", "sslmode=verify is not one of"),
        ("postgresql://u@h/d?sslmode=disable&sslmode=verify-full&password=pw-secret", "sslmode is given twice"),
        // Accepted and ignored before: options= can set the session's search_path.
        ("postgresql://u:pw-secret@h/d?options=-csearch_path%3Devil", "options= is refused"),
        ("postgresql://u:pw-secret@h/d?target_session_attrs=read-write", "target_session_attrs is refused"),
        ("postgresql://u:pw-secret@h/d?connect_timeout=0", "connect_timeout=0 is not whole seconds from 1 to 10"),
        ("postgresql://u:pw-secret@h/d?connect_timeout=11", "connect_timeout=11 is not whole seconds"),
        ("postgresql://u:pw-secret@h/d?connect_timeout=2.5", "connect_timeout=2.5 is not whole seconds"),
    ])
    func refusals(url: String, problem: String) {
        let error = #expect(throws: PostgresLocationError.self) { try PostgresLocation(url: url, defaultUser: "me") }
        #expect(error?.description.contains(problem) == true, "\(String(describing: error))")
        #expect(error?.description.contains("pw-secret") == false)
    }

    @Test("every password= in a text is hidden, not only the first")
    func everyPasswordOptionRedacted() {
        let text = "cannot use --db postgresql://u@h/d?password=pw-one&sslmode=x&PASSWORD=pw-two password=pw-three"
        let shown = PostgresLocation.redacted(text)
        #expect(!shown.contains("pw-"), "\(shown)")
        #expect(shown.components(separatedBy: "***").count == 4, "\(shown)")
    }

    @Test("connect_timeout sets how long a connection attempt may take; 5 s without it")
    func connectTimeout() throws {
        let given = try PostgresLocation(url: "postgresql://u@h/d?connect_timeout=3", defaultUser: "me")
        #expect(given.connectTimeoutSeconds == 3)
        let session = PostgresSession(location: given, logger: .init(label: "t"))
        #expect(try session.configuration().options.connectTimeout == .seconds(3))
        #expect(try PostgresLocation(url: "postgresql://u@h/d", defaultUser: "me").connectTimeoutSeconds == 5)
    }

    @Test("only postgresql:// and postgres:// are PostgreSQL; anything else is a SQLite path")
    func whichStore() {
        #expect(PostgresLocation.isURL("postgresql://h/d") && PostgresLocation.isURL("POSTGRES://h/d"))
        #expect(!PostgresLocation.isURL("/var/lib/cancelq/queue.db") && !PostgresLocation.isURL("postgresql.db"))
    }
}

@Suite("Migration scripts split into statements")
struct SQLScriptTests {
    @Test("semicolons in strings, dollar-quoted bodies and comments do not split")
    func splits() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'a;b');
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
            CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 2; $body$;
            SELECT 1
            """
        #expect(SQLScript.statements(script) == [
            "CREATE TABLE a (x text DEFAULT 'a;b')",
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$",
            "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 2; $body$",
            "SELECT 1",
        ])
    }

    @Test("the embedded PostgreSQL migration splits into whole statements")
    func embeddedMigrationSplits() {
        let statements = SQLScript.statements(Migration.postgreSQL.first?.sql ?? "")
        #expect(statements.count > 20)
        #expect(statements.allSatisfy { !$0.isEmpty && !$0.hasPrefix("--") })
        #expect(statements.contains { $0.hasPrefix("CREATE FUNCTION cancellations_insert_guard()") && $0.hasSuffix("END $$") })
    }
}
