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
        .library(name: "ProgramVersioning", targets: ["ProgramVersioning"]),
        .library(name: "PostgresDriver", targets: ["PostgresDriver"]),
        .library(name: "ProgramDomain", targets: ["ProgramDomain"]),
        .library(name: "RuntimeFlags", targets: ["RuntimeFlags"]),
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
            ],
            swiftSettings: swiftSettings
        ),
        // Pure domain: program types, legacy codec, invariants. No database code.
        .target(
            name: "ProgramDomain",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The rollout flags: snapshots, sources (database, environment, flags.json), the
        // store ops flip them in, the percentage rollout.
        .target(
            name: "RuntimeFlags",
            dependencies: [
                "PostgresDriver",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The library app services link: repository, migrator, seeding, backfill, checker.
        .target(
            name: "ProgramVersioning",
            dependencies: [
                "PostgresDriver",
                "ProgramDomain",
                "RuntimeFlags",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The ops CLI: thin, parses arguments and maps errors to exit codes.
        .executableTarget(
            name: "ProgramVersioningCLI",
            dependencies: [
                "ProgramVersioning",
                "RuntimeFlags",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Shared helpers for integration tests: a fresh database per test, cloned from a template.
        .target(
            name: "TestSupport",
            dependencies: ["PostgresDriver", "ProgramVersioning", "ProgramDomain", "RuntimeFlags"],
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
                "ProgramVersioning", "PostgresDriver", "ProgramDomain", "RuntimeFlags", "TestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
