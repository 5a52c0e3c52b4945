// swift-tools-version:6.1
// Built by AdoptionTests, beside a copy of this repository named `program-versioning`:
// an app that uses postgres-nio too can import both drivers in one file, and a target that
// depends only on the app runtime cannot import the ops tooling.
import PackageDescription

let package = Package(
    name: "coexistence",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../program-versioning"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .executableTarget(
            name: "Coexistence",
            dependencies: [
                .product(name: "ProgramVersioning", package: "program-versioning"),
                .product(name: "PostgresDriver", package: "program-versioning"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // Must not build: the app runtime does not bring the ops side.
        .executableTarget(
            name: "ProbeImportsOps",
            dependencies: [.product(name: "ProgramVersioning", package: "program-versioning")]
        ),
    ]
)
