import ArgumentParser
import Foundation
import ProgramVersioning
import ProgramVersioningOps

/// `roles show|apply`: least-privilege GRANTs for the app, the operator and the nightly job.
struct RolesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roles",
        abstract: "Show or apply the GRANTs of the three roles (app, operator, nightly); see docs/runbook.md.",
        subcommands: [Show.self, Apply.self]
    )

    struct Names: ParsableArguments {
        @Option(help: "The app services' login role.") var app = "pv_app"
        @Option(name: .customLong("operator"), help: "The operators' login role.") var operatorRole = "pv_operator"
        @Option(help: "The nightly check's login role.") var nightly = "pv_nightly"
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the GRANT statements (run them as the tables' owner).")
        @OptionGroup var names: Names

        func run() async throws {
            print(RoleGrants.script(app: names.app, operator: names.operatorRole, nightly: names.nightly), terminator: "")
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the GRANTs for existing login roles, in one transaction (connect as the tables' owner).")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var names: Names

        func run() async throws {
            try await reportingErrors(connection: connection) {
                try await withPool(connection) { pool in
                    try await RoleGrants.apply(app: names.app, operator: names.operatorRole, nightly: names.nightly, pool: pool)
                }
            }
            for kind in RoleKind.allCases {
                let name = switch kind {
                case .app: names.app
                case .operator: names.operatorRole
                case .nightly: names.nightly
                }
                print("\(kind.rawValue) \(name): \(RoleGrants.summary(kind))")
            }
        }
    }
}
