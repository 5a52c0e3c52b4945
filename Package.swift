// swift-tools-version:6.1
import PackageDescription

/// One set of settings for every target: Swift 6 mode with strict concurrency.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ProgramVersioning",
    platforms: [.macOS(.v15)],
    products: [
        // What app services link: the repository, sessions and flag reading, with the
        // driver, the domain and the flag sources it is built on.
        .library(name: "ProgramVersioning", targets: ["ProgramVersioning"]),
        .library(name: "PostgresDriver", targets: ["PostgresDriver"]),
        .library(name: "ProgramDomain", targets: ["ProgramDomain"]),
        .library(name: "RuntimeFlags", targets: ["RuntimeFlags"]),
        // Ops tooling, for the CLI and for tools of one's own: migrator, backfill, check,
        // repair, flag writer and audit, roles. Apps do not need it.
        .library(name: "ProgramVersioningOps", targets: ["ProgramVersioningOps"]),
        // Synthetic legacy data for demos, tests and benchmarks.
        .library(name: "ProgramSeeding", targets: ["ProgramSeeding"]),
        .executable(name: "program-versioning", targets: ["ProgramVersioningCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // SHA-256 with the CPU's SHA instructions: the canonical checksum of every program
        // is on the backfill's and the nightly check's hot path.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Background work (flag sources, the pool, shadow reads) as `Service`s that an app
        // runs in its ServiceGroup, with graceful shutdown.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // libpq, found with pkg-config; `apt-get install libpq-dev` on Debian.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // The Postgres driver: knows SQL and libpq, nothing of programs.
        .target(
            name: "PostgresDriver",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // JSON values, parser and writer, with the unsafe fast paths (small-string layout,
        // pointer cursors) behind this module's boundary; its invariants are at the top of
        // ProgramJSON.swift. Internal to the package: ProgramDomain re-exports its public types.
        .target(
            name: "ProgramJSON",
            swiftSettings: swiftSettings
        ),
        // Pure domain: program types, legacy codec, invariants. No database code.
        .target(
            name: "ProgramDomain",
            dependencies: ["ProgramJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The rollout flags: snapshots, sources (database, environment, flags.json), the
        // store ops flip them in, the percentage rollout.
        .target(
            name: "RuntimeFlags",
            dependencies: [
                "PostgresDriver",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The app runtime: repository, sessions, shadow reads. Nothing of the ops side.
        .target(
            name: "ProgramVersioning",
            dependencies: [
                "PostgresDriver",
                "ProgramDomain",
                "RuntimeFlags",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The ops side: migrator (the SQL files ship as resources, so it runs from any
        // directory), backfill, check, repair, pacing, flag store writer and audit, roles.
        .target(
            name: "ProgramVersioningOps",
            dependencies: [
                "PostgresDriver",
                "ProgramDomain",
                "RuntimeFlags",
                "ProgramVersioning",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Migrations/SQL")],
            swiftSettings: swiftSettings
        ),
        // The seeder: synthetic legacy programs, messy ones included.
        .target(
            name: "ProgramSeeding",
            dependencies: ["PostgresDriver", "ProgramDomain", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // The ops CLI: thin, parses arguments and maps errors to exit codes.
        .executableTarget(
            name: "ProgramVersioningCLI",
            dependencies: [
                "ProgramVersioning",
                "ProgramVersioningOps",
                "ProgramSeeding",
                "RuntimeFlags",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Shared helpers for integration tests: a fresh database per test, cloned from a template.
        .target(
            name: "TestSupport",
            dependencies: [
                "PostgresDriver", "ProgramVersioning", "ProgramVersioningOps", "ProgramSeeding", "ProgramDomain", "RuntimeFlags",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresDriverTests",
            dependencies: ["PostgresDriver", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProgramDomainTests",
            dependencies: [
                "ProgramDomain",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProgramVersioningTests",
            dependencies: [
                "ProgramVersioning", "ProgramVersioningOps", "ProgramSeeding", "PostgresDriver", "ProgramDomain", "RuntimeFlags", "TestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
