import Foundation
import Logging

/// The flag sources an app service runs with, layered. Precedence, highest first:
///
/// 1. the runtime store in PostgreSQL, once it has been read (the source of truth: ops flip
///    it with `program-versioning flags set`; every instance follows within a second);
/// 2. environment variables `PROGRAM_VERSIONING_WRITES` / `_READS` / `_READS_PERCENT`, each
///    overriding only its flag;
/// 3. `flags.json`, hot-reloaded;
/// 4. the safe default: both off (legacy).
///
/// A lower layer answers only while every layer above it has nothing: a store that was
/// read once keeps its last values through an outage rather than falling back.
public enum FlagSources {
    /// Builds and starts the layers. `databaseURL` nil skips the store; `flagsFile` nil
    /// skips the file.
    public static func standard(
        databaseURL: String?, flagsFile: String? = "flags.json",
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) -> any FlagSource {
        var layer: any FlagSource = FixedFlagSource(.legacy)
        if let flagsFile {
            let file = FileFlagSource(path: flagsFile, logger: logger, fallback: layer)
            file.start()
            layer = file
        }
        layer = EnvironmentFlagSource(environment: environment, fallback: layer)
        if let databaseURL {
            let database = DatabaseFlagSource(connectionString: databaseURL, logger: logger, fallback: layer)
            database.start()
            layer = database
        }
        return layer
    }
}
