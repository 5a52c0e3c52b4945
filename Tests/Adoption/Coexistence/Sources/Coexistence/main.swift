import PostgresDriver
import PostgresNIO
import ProgramVersioning

// Both drivers' types, by their plain names, in one file.
let ours: PGQuery = "SELECT \(42), \("text")"
let theirs: PostgresQuery = "SELECT \(42), \("text")"
let errors: (PGError?, PSQLError?) = (nil, nil)
let connections: (PGConnection?, PostgresConnection?) = (nil, nil)

// Standard types conform to both drivers' protocols without a clash.
func bothWays<Value: PGEncodable & PostgresEncodable>(_ value: Value) -> String {
    "\(value.postgresBind.typeOID) / \(value.psqlType)"
}
print(ours.sql, theirs.sql, errors.0 == nil, connections.0 == nil)
print(bothWays(7), bothWays("seven"), bothWays(true))
