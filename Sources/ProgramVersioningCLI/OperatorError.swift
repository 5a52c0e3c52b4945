import ArgumentParser
import Foundation
import PostgresDriver
import ProgramVersioning
import ProgramVersioningOps

/// An error already phrased for the operator: what failed, why, what to do.
struct OperatorError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// Runs a subcommand's work; any error becomes one line on stderr and exit code 2
/// (never a stack dump, never a password).
func reportingErrors<T>(
    connection: ConnectionOptions? = nil, passing: (any Error.Type)? = nil, _ body: () async throws -> T
) async throws -> T {
    do {
        return try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch where passing.map({ type(of: error) == $0 }) == true {
        throw error  // the caller reports this kind itself
    } catch {
        var line = operatorMessage(for: error)
        if let connection {
            line = ConnectionString.redact(line, connectionString: connection.connectionString)
        }
        FileHandle.standardError.write(Data(("program-versioning: " + line + "\n").utf8))
        throw ExitCode(2)
    }
}

/// One line for any error the CLI can meet.
func operatorMessage(for error: any Error) -> String {
    switch error {
    case let error as OperatorError:
        return error.message
    case let error as MigrationError:
        return error.message
    case let error as BackfillError:
        return error.description
    case let error as TableBackup.Failure:
        return error.description
    case let error as CheckError:
        switch error {
        case .database(nil, let cause) where NotMigrated.message(for: cause) == nil:
            return message(for: cause)  // e.g. cannot connect: say so plainly
        default: return error.description
        }
    case let error as PGError:
        return message(for: error)
    default:
        return "unexpected error: \(String(describing: error).oneLine)"
    }
}

private func message(for error: PGError) -> String {
    switch error.code {
    case .connectionFailed:
        var why = error.message.oneLine
        var todo = "check --database-url or DATABASE_URL and that the server is running"
        if why.contains("password authentication failed") || why.contains("no password supplied") {
            todo = "check the user and password (in the URL, PGPASSWORD or ~/.pgpass)"
        } else if why.contains("does not exist") {
            todo = "check the database name, or create the database"
        }
        if why.isEmpty { why = "no reason given" }
        return "cannot connect to the database: \(why); \(todo)"
    case .connectionClosed:
        return "lost the connection to the database: \(error.message.oneLine); check the server and run the command again (it is safe to re-run)"
    case .poolTimeout:
        return "\(error.message.oneLine); the database is overloaded or the pool too small"
    default:
        if let notMigrated = NotMigrated.message(for: error) { return notMigrated }
        var line = "database error"
        if let sqlState = error.sqlState { line += " \(sqlState)" }
        line += ": \(error.message.oneLine)"
        if let hint = error.hint { line += " (hint: \(hint.oneLine))" }
        return line
    }
}

extension String {
    /// libpq messages span lines ("\n\tIs the server running..."); the CLI prints one.
    var oneLine: String {
        split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}
