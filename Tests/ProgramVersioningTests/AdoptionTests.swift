import Foundation
import ProgramVersioningOps
import Testing
import TestSupport

/// A new user's afternoon: docs/integration.md's "Complete example" is built as an app
/// package of its own, depending on a copy of this repository by path exactly as the guide
/// writes it, and run against a real database. A second package proves that postgres-nio's
/// names and ours live side by side, and that depending on the app runtime alone does not
/// bring the ops tooling. `scripts/test` runs this suite on its own: it builds two packages.
@Suite("Adoption: the guide's complete example as a package of its own", .serialized)
struct AdoptionTests {
    /// Where the packages are built: kept between runs (under .build, out of git), so a
    /// second run only rebuilds what changed.
    static let workspace = TestDatabase.repositoryRoot.appendingPathComponent(".build/adoption")

    @Test func theCompleteExampleBuildsAsItsOwnPackageAndRunsToTheEnd() async throws {
        try await Self.copyRepository()
        let app = Self.workspace.appendingPathComponent("fitness-app")
        let files = try Self.completeExampleFiles()
        #expect(files.keys.sorted() == ["Package.swift", "Sources/FitnessApp/main.swift"])
        for (path, text) in files {
            let url = app.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if (try? String(contentsOf: url, encoding: .utf8)) != text { try text.write(to: url, atomically: true, encoding: .utf8) }
        }
        let build = try await ExternalTool.run("swift", ["build"], in: app)
        #expect(build.status == 0, "\(build.stdout.suffix(3000))\(build.stderr.suffix(2000))")
        guard build.status == 0 else { return }
        try await TestDatabase.withFresh { db in
            // Phase 2: the app's saves write versions too.
            try await FlagStore(pool: db.pool).set(.writes, enabled: true, actor: "test", reason: nil, force: false)
            let started = Date()
            let run = try await ExternalTool.run(
                app.appendingPathComponent(".build/debug/FitnessApp").path, [], environment: ["DATABASE_URL": db.url])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            #expect(run.stdout.contains("saved version 2") && run.stdout.contains("program Strength A: 2 versions"), "\(run.stdout)")
            #expect(run.stdout.contains("session Upper: COMPLETED, 1 sets") && run.stdout.hasSuffix("done\n"), "\(run.stdout)")
            // Graceful shutdown closed every connection the app opened (the test's own pool's
            // connections are older than the app).
            let left = try await TestDatabase.admin { admin in
                try await admin.query("""
                    SELECT count(*) FROM pg_stat_activity WHERE datname = \(db.name) AND backend_start >= \(started)
                    """).single().decode(Int.self, at: 0)
            }
            #expect(left == 0)
        }
    }

    @Test func postgresNIOAndThisDriverLiveSideBySideAndTheAppRuntimeBringsNoOpsTooling() async throws {
        try await Self.copyRepository()
        let package = Self.workspace.appendingPathComponent("coexistence")
        try? FileManager.default.removeItem(at: package)
        try FileManager.default.copyItem(
            at: TestDatabase.repositoryRoot.appendingPathComponent("Tests/Adoption/Coexistence"), to: package)
        let both = try await ExternalTool.run("swift", ["build", "--product", "Coexistence"], in: package)
        #expect(both.status == 0, "\(both.stdout.suffix(3000))\(both.stderr.suffix(2000))")
        if both.status == 0 {
            let started = Date()
            let run = try await ExternalTool.run(package.appendingPathComponent(".build/debug/Coexistence").path, [])
            #expect(run.status == 0 && run.stdout.contains("SELECT $1, $2"), "\(run.stdout)\(run.stderr)")
        }
        let probe = try await ExternalTool.run("swift", ["build", "--product", "ProbeImportsOps"], in: package)
        #expect(probe.status != 0 && (probe.stdout + probe.stderr).contains("no such module 'ProgramVersioningOps'"),
                "\(probe.stdout.suffix(2000))\(probe.stderr.suffix(2000))")
    }

    /// The files the guide's "Complete example" section gives, each after a
    /// `<!-- file: PATH -->` line, by path.
    static func completeExampleFiles() throws -> [String: String] {
        let guide = try String(contentsOf: TestDatabase.repositoryRoot.appendingPathComponent("docs/integration.md"), encoding: .utf8)
        guard let start = guide.range(of: "\n## Complete example\n") else {
            Issue.record("docs/integration.md has no section titled \"Complete example\"")
            return [:]
        }
        var files: [String: String] = [:]
        let lines = guide[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < lines.count {
            let line = lines[index].trimmingCharacters(in: .whitespaces)
            index += 1
            guard line.hasPrefix("<!-- file: "), line.hasSuffix(" -->") else { continue }
            let path = String(line.dropFirst("<!-- file: ".count).dropLast(" -->".count))
            guard index < lines.count, lines[index].hasPrefix("```") else { continue }
            index += 1
            var body: [Substring] = []
            while index < lines.count, !lines[index].hasPrefix("```") {
                body.append(lines[index])
                index += 1
            }
            files[path] = body.joined(separator: "\n") + "\n"
        }
        return files
    }

    /// This repository as a user would have it beside their app: a folder named
    /// `program-versioning` (SwiftPM names a path dependency after its folder), without
    /// build products.
    static func copyRepository() async throws {
        let copy = workspace.appendingPathComponent("program-versioning")
        // Built products live in the apps' own .build folders, so a fresh copy costs no rebuild.
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        let root = TestDatabase.repositoryRoot.path
        let tar = try await ExternalTool.run("bash", [
            "-c", "tar -C \"$0\" --exclude=./.build --exclude=./.git --exclude=./Benchmarks/.build -cf - . | tar -C \"$1\" -xf -",
            root, copy.path,
        ])
        #expect(tar.status == 0, "\(tar.stderr)")
    }
}
