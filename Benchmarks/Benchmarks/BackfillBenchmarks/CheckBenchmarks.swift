import Benchmark
import Foundation
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps

// `check` on migrated databases of exactly 100k and 400k programs (every session linked) with
// 150 differences planted behind the library's back, run as the operator runs it (the
// release CLI), against its limit measured in the same run: streaming the same legacy JSON,
// version rows and session links out of PostgreSQL, page by page, without comparing them.

/// Differences planted in each check database.
let plantedStale = 100, plantedMismatch = 50

/// A migrated copy of the legacy template with differences planted, made once and kept.
func checkTemplate(programs: Int) async throws -> String {
    let name = "pv_bench_check_\(programs)"
    let marker = "pv bench check: from \(try await legacyTemplate(programs: programs)), \(plantedStale) stale + \(plantedMismatch) mismatched, \(programs) programs, v2"
    if try await kept(name, marker: marker) { return name }
    let url = try await freshCopy(of: try await legacyTemplate(programs: programs), as: name)
    let pool = PGPool(.init(connectionString: url, maxConnections: 2))
    _ = try await Backfill(pool: pool).run(.programs, options: .init())
    _ = try await Backfill(pool: pool).run(.sessions, options: .init())
    try await pool.withConnection { try await trim($0, toPrograms: programs) }
    try await pool.query("""
        UPDATE programs SET program_json = jsonb_set(program_json, '{name}', '"Edited behind the library''s back"')
         WHERE id IN (SELECT id FROM programs ORDER BY id LIMIT \(plantedStale))
        """)
    try await pool.withConnection { connection in
        try await connection.query("ALTER TABLE program_version_exercises DISABLE TRIGGER program_version_exercises_immutable")
        try await connection.query("""
            UPDATE program_version_exercises SET reps = reps % 100 + 1
             WHERE id IN (SELECT DISTINCT ON (program_id) id FROM program_version_exercises
                           WHERE program_id IN (SELECT id FROM programs ORDER BY id DESC LIMIT \(plantedMismatch))
                           ORDER BY program_id, id)
            """)
        try await connection.query("ALTER TABLE program_version_exercises ENABLE TRIGGER program_version_exercises_immutable")
    }
    try await pool.query("VACUUM ANALYZE")
    try await pool.query(PGQuery(unsafeSQL: "COMMENT ON TABLE programs IS '\(marker)'"))
    await pool.close()
    return name
}

/// Deletes programs (with their versions, sessions and sets) from the middle of the key
/// range until `count` are left: the legacy template also holds the 20k programs versioned
/// before the backfill, and the scaling goal compares exactly 100k with 400k programs.
func trim(_ connection: PGConnection, toPrograms count: Int) async throws {
    // In one transaction; as a replica, so neither the immutability triggers nor the
    // foreign-key checks (unindexed on the referencing side) run: what refers to a deleted
    // row is deleted first.
    try await connection.executeScript(unsafeSQL: """
        BEGIN;
        SET LOCAL session_replication_role = replica;
        CREATE TEMP TABLE trimmed ON COMMIT DROP AS
          SELECT id FROM programs ORDER BY id OFFSET 1000 LIMIT greatest((SELECT count(*) FROM programs) - \(count), 0);
        CREATE TEMP TABLE trimmed_versions ON COMMIT DROP AS
          SELECT id FROM program_versions WHERE program_id IN (SELECT id FROM trimmed);
        DELETE FROM logged_sets WHERE session_id IN (SELECT id FROM workout_sessions WHERE program_id IN (SELECT id FROM trimmed));
        DELETE FROM workout_sessions WHERE program_id IN (SELECT id FROM trimmed);
        DELETE FROM user_program_states WHERE program_id IN (SELECT id FROM trimmed);
        DELETE FROM program_version_schedule WHERE program_version_id IN (SELECT id FROM trimmed_versions);
        DELETE FROM program_version_exercises WHERE program_version_id IN (SELECT id FROM trimmed_versions);
        DELETE FROM program_version_workouts WHERE program_version_id IN (SELECT id FROM trimmed_versions);
        DELETE FROM program_versions WHERE id IN (SELECT id FROM trimmed_versions);
        DELETE FROM programs WHERE id IN (SELECT id FROM trimmed);
        COMMIT;
        """)
}

/// Runs the CLI's `check` and checks it found exactly what was planted.
func check(_ url: String) async throws -> MeasuredProcess {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("pv-bench-check-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: output) }
    // As fast as the database allows (fixed pages, no throttle): the defaults are measured in GentleBackfillBenchmarks.
    let run = try await MeasuredProcess.run(
        cli(), ["check", "--format", "json", "--output", output.path, "--page-size", "500", "--no-throttle", "--database-url", url])
    let json = (try? Data(contentsOf: output)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    guard run.status == 1, let json, json["differenceCount"] as? Int == plantedStale + plantedMismatch else {
        fatalError("check did not find what was planted: status \(run.status), \(run.stderr.prefix(300)) \(String(describing: json?["countsByKind"]))")
    }
    return run
}

/// The limit: the rows the check reads, streamed page by page and dropped, on one
/// connection.
func streamCheckRows(_ connection: PGConnection) async throws -> Int {
    try await streamPrograms(connection, from: nil, to: nil) + streamSessions(connection)
}

/// The same rows on three connections at once, split as the check splits its walks: the
/// programs in two halves of the key space, the sessions on their own.
func streamCheckRowsConcurrently(_ url: String) async throws -> Int {
    let middle = UUID(uuid: (0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    let connections = [
        try await PGConnection.connect(to: url), try await PGConnection.connect(to: url),
        try await PGConnection.connect(to: url),
    ]
    async let first = streamPrograms(connections[0], from: nil, to: middle)
    async let second = streamPrograms(connections[1], from: middle, to: nil)
    async let sessions = streamSessions(connections[2])
    let bytes = try await first + second + sessions
    for connection in connections { await connection.close() }
    return bytes
}

/// Programs with `from <= id < to`, their legacy JSON and every column of their latest
/// version's rows.
func streamPrograms(_ connection: PGConnection, from: UUID?, to: UUID?) async throws -> Int {
    // Without JIT, as the check reads: compiling these short statements costs more than it saves.
    try await connection.query("SET jit = off")
    var bytes = 0
    var cursor: UUID?
    while true {
        let page = try await connection.query("""
            SELECT p.id, p.program_json, v.id, v.source_checksum, v.content_checksum
              FROM programs p
              LEFT JOIN LATERAL (SELECT id, source_checksum, content_checksum FROM program_versions
                                  WHERE program_id = p.id ORDER BY version DESC LIMIT 1) v ON true
             WHERE (\(cursor)::uuid IS NULL OR p.id > \(cursor))
               AND (\(from)::uuid IS NULL OR p.id >= \(from)) AND (\(to)::uuid IS NULL OR p.id < \(to))
             ORDER BY p.id LIMIT 500
            """)
        guard !page.isEmpty else { break }
        var versions: [UUID] = []
        for row in page {
            let (id, json, version) = try row.decode((UUID, PGJSONB, UUID?).self)
            bytes += json.bytes.count
            if let version { versions.append(version) }
            cursor = id
        }
        // Every column of every version row the check reads, in one statement, unsorted.
        let rows = try await connection.query("""
            SELECT v.id, NULL::uuid, 0, NULL::uuid, NULL::text, v.name, v.extra::text, NULL::int, NULL::int, NULL::int, NULL::text, NULL::int
              FROM program_versions v WHERE v.id = ANY(\(versions))
            UNION ALL SELECT w.program_version_id, NULL, w.position, w.id, w.workout_id, w.name, w.extra::text, NULL, NULL, NULL, NULL, NULL
              FROM program_version_workouts w WHERE w.program_version_id = ANY(\(versions))
            UNION ALL SELECT e.program_version_id, e.workout_version_id, e.position, NULL, e.exercise_id, e.name, e.extra::text, e.sets,
                             e.reps, e.rest_seconds, e.weight_kg::text, NULL
              FROM program_version_exercises e WHERE e.program_version_id = ANY(\(versions))
            UNION ALL SELECT s.program_version_id, NULL, s.position, NULL, s.workout_id, NULL, s.extra::text, NULL, NULL, NULL, NULL, s.day_index
              FROM program_version_schedule s WHERE s.program_version_id = ANY(\(versions))
            """)
        bytes += rows.count
        if page.count < 500 { break }
    }
    return bytes
}

/// Every session's link columns, then its sets'.
func streamSessions(_ connection: PGConnection) async throws -> Int {
    try await connection.query("SET jit = off")
    var bytes = 0
    var cursor: UUID?
    while true {
        // The sessions' link columns, then their sets' link columns. Walked by session key:
        // for plain streaming that is faster than the check's program-by-program walk (which
        // pays off only for the version rows the check also looks up), so the limit stays
        // the faster of the two.
        let page = try await connection.query("""
            SELECT s.id, s.program_id, s.workout_id, s.program_version_id, s.workout_version_id
              FROM workout_sessions s WHERE \(cursor)::uuid IS NULL OR s.id > \(cursor) ORDER BY s.id LIMIT 500
            """)
        guard let last = page.last else { break }
        cursor = try last.decode(UUID.self, at: 0)
        let ids = try page.map { try $0.decode(UUID.self, at: 0) }
        let sets = try await connection.query("""
            SELECT l.id, l.session_id, l.exercise_id, l.exercise_version_id FROM logged_sets l WHERE l.session_id = ANY(\(ids))
            """)
        bytes += page.count + sets.count
        if page.count < 500 { break }
    }
    return bytes
}

func checkBenchmarks() {
    // Each side once unmeasured first, so both are measured with the database's caches
    // warm for their own rows, whatever ran before them.
    let warm = Benchmark.Configuration(metrics: [.wallClock], warmupIterations: 1)
    let warmWithMemory = Benchmark.Configuration(metrics: [.wallClock, peakMemory], warmupIterations: 1)

    for programs in [100_000, 400_000] {
        let size = "\(programs / 1000)k programs"

        Benchmark("check: limit, streaming the same rows without comparing, \(size)", configuration: warm) { benchmark in
            let connection = try await PGConnection.connect(to: databaseURL(try await checkTemplate(programs: programs)))
            benchmark.startMeasurement()
            blackHole(try await streamCheckRows(connection))
            benchmark.stopMeasurement()
            await connection.close()
        }

        Benchmark("check: limit, three streams at once, \(size)", configuration: warm) { benchmark in
            let url = databaseURL(try await checkTemplate(programs: programs))
            benchmark.startMeasurement()
            blackHole(try await streamCheckRowsConcurrently(url))
            benchmark.stopMeasurement()
        }

        Benchmark("check: \(size)", configuration: warmWithMemory) { benchmark in
            let url = databaseURL(try await checkTemplate(programs: programs))
            benchmark.startMeasurement()
            let run = try await check(url)
            benchmark.stopMeasurement()
            benchmark.measurement(peakMemory, run.peakResidentKiB)
        }
    }
}
