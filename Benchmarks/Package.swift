// swift-tools-version:6.1
import Foundation
import PackageDescription

// The root package is a path dependency; its identity is its folder's name, whatever the
// checkout is called.
let rootIdentity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // libpq for the baseline loops, under its own module name.
        .systemLibrary(name: "CLibPQBench", path: "Sources/CLibPQBench", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The limit: the same loops written directly against libpq's C API.
        .target(name: "RawLibPQ", dependencies: ["CLibPQBench"], path: "Sources/RawLibPQ", swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(
            name: "DriverBenchmarks",
            dependencies: [
                "RawLibPQ",
                .product(name: "PostgresDriver", package: rootIdentity),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/DriverBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DomainBenchmarks",
            dependencies: [
                .product(name: "ProgramDomain", package: rootIdentity),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/DomainBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "RepositoryBenchmarks",
            dependencies: [
                .product(name: "ProgramVersioning", package: rootIdentity),
                .product(name: "ProgramVersioningOps", package: rootIdentity),
                .product(name: "ProgramSeeding", package: rootIdentity),
                .product(name: "PostgresDriver", package: rootIdentity),
                .product(name: "ProgramDomain", package: rootIdentity),
                .product(name: "RuntimeFlags", package: rootIdentity),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/RepositoryBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "BackfillBenchmarks",
            dependencies: [
                .product(name: "ProgramVersioning", package: rootIdentity),
                .product(name: "ProgramVersioningOps", package: rootIdentity),
                .product(name: "ProgramSeeding", package: rootIdentity),
                .product(name: "PostgresDriver", package: rootIdentity),
                .product(name: "ProgramDomain", package: rootIdentity),
                .product(name: "RuntimeFlags", package: rootIdentity),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/BackfillBenchmarks",
            // Read at run time by the benchmark and by scripts/guarantee-costs.
            exclude: ["set-based-backfill.sql"],
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
