/// Options every subcommand takes, accepted before the subcommand too
/// (`program-versioning --database-url URL migrate up`, DESIGN.md §5).
enum GlobalOptions {
    static let valued = ["--database-url"]

    /// `arguments` with the global options found before the first subcommand moved to the
    /// end, where the subcommand that declares them parses them.
    static func movedAfterSubcommand(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if valued.contains(first), rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if valued.contains(where: { first.hasPrefix($0 + "=") }) {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        // After a "--" everything is positional: the options go before it.
        if let terminator = rest.firstIndex(of: "--") {
            return Array(rest[..<terminator]) + leading + Array(rest[terminator...])
        }
        return Array(rest) + leading
    }
}
