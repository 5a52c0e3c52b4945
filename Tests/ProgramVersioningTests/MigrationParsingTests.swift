import ProgramVersioning
import ProgramVersioningOps
import Testing

@Suite("Goose migration files are parsed as goose parses them")
struct MigrationParsingTests {
    @Test func statementsEndAtSemicolonsExceptInsideStatementBlocks() throws {
        let text = """
            -- a header comment
            -- +goose Up
            CREATE TABLE a (id int);
            INSERT INTO a
              VALUES (1);
            -- +goose StatementBegin
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN
              RETURN 1;
            END
            $$;
            -- +goose StatementEnd

            -- +goose Down
            DROP FUNCTION f();
            DROP TABLE a;
            """
        let migration = try Migration(fileName: "00042_example.sql", contents: text)
        #expect(migration.version == 42)
        #expect(migration.runsInTransaction)
        #expect(migration.up.count == 3)
        #expect(migration.up[1] == "INSERT INTO a\n  VALUES (1);")
        #expect(migration.up[2].hasPrefix("CREATE FUNCTION f()") && migration.up[2].hasSuffix("$$;"))
        #expect(migration.down == ["DROP FUNCTION f();", "DROP TABLE a;"])
    }

    @Test func noTransactionIsRecognized() throws {
        let migration = try Migration(fileName: "7_index.sql", contents: "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (c);\n-- +goose Down\nDROP INDEX CONCURRENTLY i;\n")
        #expect(!migration.runsInTransaction)
        #expect(migration.version == 7)
    }

    @Test(arguments: [
        ("nodigits.sql", "-- +goose Up\nSELECT 1;"),
        ("00001_x.sql", "SELECT 1;"),
        ("00001_x.sql", "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;"),
        ("00001_x.sql", "-- +goose Up\n-- +goose Sideways\nSELECT 1;"),
    ])
    func malformedFilesAreRefusedWithTheFileNamed(fileName: String, contents: String) {
        do {
            _ = try Migration(fileName: fileName, contents: contents)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .badFile)
            #expect(error.message.contains(fileName))
        }
    }

    @Test func theChecksumChangesWithTheFile() throws {
        let a = try Migration(fileName: "1_a.sql", contents: "-- +goose Up\nSELECT 1;\n")
        let b = try Migration(fileName: "1_a.sql", contents: "-- +goose Up\nSELECT 2;\n")
        #expect(a.checksum != b.checksum)
        #expect(a.checksum.count == 64)
    }
}
