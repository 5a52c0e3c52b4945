import Foundation
import PostgresDriver

/// The limit for `backfill programs` on schema v2 (issue 20): the same work done by
/// PostgreSQL alone, set-based, in one transaction. Every program without a version gets
/// version 1 with its workouts, exercises and schedule entries, the same rows and columns
/// the backfill writes (ids, `extra` holding the app's keys, checksums, `legacy_xmin`), read from `program_json` with jsonb functions and written by one
/// statement, so every check the schema has fires for it as for the backfill.
///
/// Its ids come from gen_random_uuid(), the cheapest id PostgreSQL makes (half the time of
/// a UUIDv7 made in SQL); with every key led by program_id, the order of ids within a
/// program changes nothing measurable, so the limit is not made slower by them.
///
/// What it leaves out, and why nothing cheaper would do: the backfill's canonical checksum
/// (SQL has no canonical form of a program; this hashes jsonb's own text with SHA-256, the
/// same work per byte), validation of messy data (the seeded programs are clean) and the
/// backfill's batching (one transaction is the cheapest way PostgreSQL takes these rows).
enum SetBasedBackfill {
    /// The statement, kept in `set-based-backfill.sql` beside this file (scripts/guarantee-costs
    /// runs the same text with one check switched off at a time).
    static func statement() throws -> PGQuery {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("set-based-backfill.sql")
        let text = try String(contentsOf: file, encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
            .trimmingCharacters(in: CharacterSet(charactersIn: ";\n"))
        return PGQuery(unsafeSQL: text)
    }

    /// Runs it in one transaction; returns the number of versions written.
    static func run(on connection: PGConnection) async throws -> Int {
        try await connection.transaction { connection in
            try await connection.query(try statement()).single().decode(Int.self, at: 0)
        }
    }
}
