import Foundation
import PostgresDriver
import Testing
import TestSupport

@Suite("Binds and decoding round-trip through a real PostgreSQL")
struct BindRoundTripTests {
    @Test func everySupportedTypeRoundTrips() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let id = UUID()
            let date = Date(timeIntervalSince1970: 1_767_225_600.123456)
            let decimal = Decimal(string: "-12345678901234567890.000123")!
            let json = PGJSONB(#"{"name": "Übung 🏋️", "n": [1, 2.5, null]}"#)
            let row = try await db.pool.query("""
                SELECT \(42)::int8, \(Int64.max), \(Int32(-7)), \("héllo ✓ 中文"), \(true), \(3.25),
                       \(decimal), \(id), \(date), \(json), \(Data([0, 1, 2, 255]))
                """).single()
            let (i, i64, i32, s, b, d, dec, u, t, j, bytes) =
                try row.decode((Int, Int64, Int32, String, Bool, Double, Decimal, UUID, Date, PGJSONB, Data).self)
            #expect(i == 42)
            #expect(i64 == .max)
            #expect(i32 == -7)
            #expect(s == "héllo ✓ 中文")
            #expect(b == true)
            #expect(d == 3.25)
            #expect(dec == decimal)
            #expect(u == id)
            #expect(abs(t.timeIntervalSince(date)) < 0.000_001)
            let decoded = try JSONSerialization.jsonObject(with: Data(j.bytes)) as? NSDictionary
            let original = try JSONSerialization.jsonObject(with: Data(json.bytes)) as? NSDictionary
            #expect(decoded == original)
            #expect(bytes == Data([0, 1, 2, 255]))
        }
    }

    @Test func nullsDecodeAsOptionalAndFailAsRequired() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let none: String? = nil
            let row = try await db.pool.query("SELECT \(none)::text, NULL::int, NULL::uuid, NULL::timestamptz").single()
            let (s, i, u, t) = try row.decode((String?, Int?, UUID?, Date?).self)
            #expect(s == nil && i == nil && u == nil && t == nil)
            #expect(throws: PGError.self) { try row.decode(String.self, at: 0) }
        }
    }

    @Test func numericKeepsEveryDigit() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let rows = try await db.pool.query("""
                SELECT v::text, v FROM (VALUES (0::numeric), (80), (80.5), (-0.0001), (1000000.000001),
                  (123456789012345678901234567890.12), (0.5), (10000), (NULL)) AS t(v)
                """)
            for row in rows {
                let (text, value) = try row.decode((String?, String?).self)
                #expect(text == value)
            }
        }
    }

    @Test func aMegabyteOfJSONBRoundTrips() async throws {
        try await TestDatabase.withFresh { db in
            let items = (0..<20_000).map { #"{"id": "e-\#($0)", "name": "Exercise \#($0) — ünïcødé", "reps": \#($0 % 100)}"# }
            let text = #"{"name": "big", "workouts": [\#(items.joined(separator: ", "))]}"#
            #expect(text.utf8.count > 1_000_000)
            let id = UUID(), user = UUID()
            try await db.pool.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(user), \(PGJSONB(text)))")
            let stored = try await db.pool.query("SELECT program_json FROM programs WHERE id = \(id)").single().decode(PGJSONB.self, at: 0)
            let original = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! NSDictionary
            let back = try JSONSerialization.jsonObject(with: Data(stored.bytes)) as! NSDictionary
            #expect(original == back)
        }
    }

    @Test(arguments: [
        "'; DROP TABLE programs; --",
        "Robert'); DELETE FROM programs WHERE ('1'='1",
        "\\'; SELECT pg_sleep(10); --",
        "$1 $2 $$ quoted $$",
        "\"double\" 'single' `back` \\ backslash \n newline \t tab",
    ])
    func injectionStringsAreStoredVerbatim(payload: String) async throws {
        try await TestDatabase.withFresh { db in
            let id = UUID()
            let json = PGJSON(["name": payload])
            try await db.pool.query("INSERT INTO programs (id, user_id, program_json) VALUES (\(id), \(UUID()), \(json))")
            try await db.pool.query("INSERT INTO logged_sets (id, session_id, user_id, exercise_id, set_index, reps) VALUES (\(UUID()), \(UUID()), \(UUID()), \(payload), 0, 1)")
            let name = try await db.pool.query("SELECT program_json->>'name' FROM programs WHERE id = \(id)").single().decode(String.self, at: 0)
            let exercise = try await db.pool.query("SELECT exercise_id FROM logged_sets").single().decode(String.self, at: 0)
            #expect(name == payload)
            #expect(exercise == payload)
            #expect(try await db.pool.query("SELECT count(*) FROM programs").single().decode(Int.self, at: 0) == 1)
        }
    }

    @Test func anEmbeddedNULIsRefusedNotTruncated() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            await #expect(throws: PGError.self) {
                try await db.pool.query("SELECT \("before\u{0}after")::text")
            }
        }
    }

    @Test func arraysBindAsPostgresArrays() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let ids = [UUID(), UUID()]
            let names = ["a\"b", "c\\d", "e,f", "{g}"]
            let row = try await db.pool.query("SELECT cardinality(\(ids)::uuid[]), \(names)::text[] = ARRAY['a\"b', 'c\\d', 'e,f', '{g}']").single()
            #expect(try row.decode(Int.self, at: 0) == 2)
            #expect(try row.decode(Bool.self, at: 1))
        }
    }

    @Test func arraysWithNullsAndUnicodeUnnestBackToTheSameValues() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let names: [String?] = ["NULL", nil, "Jambes 💪 \"x\"", "", " spaced "]
            let rows = try await db.pool.query("""
                SELECT n, n IS NULL FROM unnest(\(names)::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i
                """)
            let decoded = try rows.map { try $0.decode((String?, Bool).self) }
            #expect(decoded.map(\.0) == names)
            #expect(decoded.map(\.1) == [false, true, false, false, false])
        }
    }

    @Test func emptyArraysUUIDsIntegersAndJSONTextsRoundTripInBinary() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let ids = [UUID(), UUID(), UUID()]
            let numbers = [0, -1, Int.max, Int.min, 42]
            let documents = [#"{"name":"Push \"A\"","w":[1,2.50]}"#, #"{}"#, "[" + Array(repeating: #"{"k":"é💪\\n"}"#, count: 500).joined(separator: ",") + "]"]
            let row = try await db.pool.query("""
                SELECT \([UUID]())::uuid[] = '{}', cardinality(\([String]())::text[]),
                       (SELECT array_agg(i ORDER BY o) FROM unnest(\(ids)::uuid[]) WITH ORDINALITY AS t(i, o))::text,
                       (SELECT array_agg(n ORDER BY o) FROM unnest(\(numbers)::int8[]) WITH ORDINALITY AS t(n, o))::text,
                       (SELECT bool_and(d::jsonb = e::jsonb) FROM unnest(\(documents)::text[], \(documents)::text[]) AS t(d, e)),
                       (SELECT string_agg(d, '|' ORDER BY o) FROM unnest(\(documents)::text[]) WITH ORDINALITY AS t(d, o))
                """).single()
            let (emptyUUIDs, emptyTexts, uuidText, numberText, parsed, texts) = try row.decode((Bool, Int?, String, String, Bool, String).self)
            #expect(emptyUUIDs && emptyTexts == 0)
            #expect(uuidText == "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}")
            #expect(numberText == "{" + numbers.map(String.init).joined(separator: ",") + "}")
            #expect(parsed && texts == documents.joined(separator: "|"))
        }
    }

    @Test func oneDimensionalArraysDecodeWithTheirNullsAndEmptyOnes() async throws {
        try await TestDatabase.withFresh(migrated: false) { db in
            let ids = [UUID(), UUID(), UUID()]
            let row = try await db.pool.query("""
                SELECT \(ids)::uuid[], '{}'::uuid[], ARRAY['a', NULL, 'é💪']::text[], ARRAY[1, -2, 3]::int8[], NULL::uuid[]
                """).single()
            let (decoded, empty, texts, numbers, none) = try row.decode(([UUID], [UUID], [String?], [Int], [UUID]?).self)
            #expect(decoded == ids)
            #expect(empty.isEmpty)
            #expect(texts == ["a", nil, "é💪"])
            #expect(numbers == [1, -2, 3])
            #expect(none == nil)
            // A NULL element of a non-optional type and a 2-dimensional array are decoding errors.
            await #expect(throws: PGError.self) {
                try await db.pool.query("SELECT ARRAY[NULL]::uuid[]").single().decode([UUID].self, at: 0)
            }
            await #expect(throws: PGError.self) {
                try await db.pool.query("SELECT ARRAY[[1, 2], [3, 4]]::int8[]").single().decode([Int].self, at: 0)
            }
        }
    }
}
