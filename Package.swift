// swift-tools-version:6.1
import PackageDescription

// Built and tested on Linux (Debian 12, Swift 6.3.1) only: systemd, inotify, /proc and flock are
// what it is for. No Apple platform is listed because none is built or tested.
let package = Package(
    name: "cancelq",
    products: [
        .executable(name: "cancelq", targets: ["cancelq"]),
        // For the libFuzzer package in Fuzz/.
        .library(name: "ZeusAPI", targets: ["ZeusAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Tests only: a certificate authority made at test time (TestSupport).
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        // Pure: no Foundation, no I/O. Every decision of the daemon lives here.
        .target(name: "CancelCore", dependencies: ["ZeusAPI"]),
        // Pure: the wire format of ZEUS `payment_return`.
        .target(name: "ZeusAPI"),
        // The schema, embedded into the binary so it runs with no resource bundle beside it.
        .target(
            name: "CancelMigrations",
            path: "Migrations",
            resources: [
                // One line per migration, in order; EmbeddedMigrationsTests checks none is missing.
                .embedInCode("sqlite/0001_initial.sql"),
                .embedInCode("sqlite/0002_state_counts.sql"),
                .embedInCode("sqlite/0003_hardening.sql"),
                .embedInCode("sqlite/0004_guard_rails.sql"),
                .embedInCode("sqlite/0005_no_bypass.sql"),
                .embedInCode("postgresql/0001_postgresql_queue.sql"),
                .embedInCode("postgresql/0002_apply_write.sql"),
                .embedInCode("postgresql/0003_no_bypass.sql"),
                .embedInCode("postgresql/0004_plans_without_statistics.sql"),
            ]
        ),
        // The queue layer: what a queue is and does, whichever database holds it.
        .target(name: "CancelQueue", dependencies: ["CancelCore", "CancelMigrations", "ZeusAPI"]),
        // The SQLite driver.
        .target(
            name: "CancelStore",
            dependencies: ["SQLite", "CancelCore", "CancelQueue", "CancelMigrations", "ZeusAPI"]
        ),
        // The same queue in PostgreSQL: several daemons, applications on many hosts.
        .target(
            name: "CancelPostgres",
            dependencies: [
                "CancelQueue", "CancelCore", "CancelMigrations",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "GatewaySimulator",
            dependencies: [
                "ZeusAPI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // `--metrics-listen`: counters from the run loop, gauges from the store, the HTTP listener.
        .target(
            name: "CancelMetrics",
            dependencies: [
                "CancelCore", "CancelQueue",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // mallopt and prctl, which Swift cannot call (see HeapTuning.swift).
        .target(name: "CProcess"),
        .target(
            name: "CancelDaemon",
            dependencies: [
                "CancelCore", "ZeusAPI", "CancelQueue", "CProcess", "CancelMetrics",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // What operators read: the status table, an order's timeline.
        .target(
            name: "CancelConsole",
            dependencies: ["CancelQueue", "CancelCore", .product(name: "Logging", package: "swift-log")]
        ),
        // `cancelq demo`: the daemon against the simulator, self-contained.
        .target(
            name: "CancelDemo",
            dependencies: [
                "CancelDaemon", "CancelStore", "CancelQueue", "CancelConsole", "CancelCore", "ZeusAPI", "GatewaySimulator", "SQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // `cancelq bench`: throughput, idle cost, writer contention.
        // The copy from SQLite to PostgreSQL: the one place that sees both drivers.
        .target(
            name: "CancelCopy",
            dependencies: [
                "CancelQueue", "CancelStore", "CancelPostgres", "CancelCore", "SQLite",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(name: "CancelBench", dependencies: ["CancelStore", "CancelQueue", "CancelCore", "CancelPostgres", "SQLite", "GatewaySimulator"]),
        .executableTarget(
            name: "cancelq",
            dependencies: [
                "CancelDaemon", "CancelStore", "CancelQueue", "CancelPostgres", "CancelCopy", "CancelConsole", "CancelDemo", "CancelBench",
                "GatewaySimulator", "CancelCore", "ZeusAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Temporary directories, seeded randomness, running the built executable.
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "Tests/TestSupport"
        ),
        // The behaviour every QueueStore must show, run on SQLite and on PostgreSQL.
        .target(
            name: "QueueStoreConformance", dependencies: ["CancelQueue", "CancelCore", "ZeusAPI", "TestSupport"],
            path: "Tests/QueueStoreConformance"),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite", "TestSupport"]),
        .testTarget(name: "CancelCoreTests", dependencies: ["CancelCore", "ZeusAPI", "TestSupport"]),
        .testTarget(name: "ZeusAPITests", dependencies: ["ZeusAPI", "TestSupport"]),
        .testTarget(
            name: "CancelStoreTests",
            dependencies: ["CancelStore", "CancelQueue", "CancelCore", "ZeusAPI", "SQLite", "TestSupport", "QueueStoreConformance"]),
        .testTarget(
            name: "CancelPostgresTests",
            dependencies: [
                "CancelPostgres", "CancelCopy", "CancelStore", "CancelQueue", "CancelCore", "ZeusAPI", "TestSupport", "QueueStoreConformance",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "CancelConsoleTests", dependencies: ["CancelConsole", "CancelStore", "CancelQueue", "CancelCore", "TestSupport"]),
        .testTarget(
            name: "CancelMetricsTests",
            dependencies: [
                "CancelMetrics", "CancelStore", "CancelQueue", "CancelCore", "TestSupport", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "GatewaySimulatorTests", dependencies: ["GatewaySimulator", "ZeusAPI", "TestSupport"]),
        .testTarget(
            name: "CancelDaemonTests",
            dependencies: [
                "CancelDaemon", "CancelStore", "CancelQueue", "CancelCore", "GatewaySimulator", "ZeusAPI", "SQLite", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "GatewaySimulator", "SQLite", "ZeusAPI", "CancelBench", "TestSupport", "CancelCore", "CancelMetrics",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
