import Foundation
import Logging
import ServiceLifecycle

/// The flag sources an app service runs with, layered. Precedence, highest first:
///
/// 1. the runtime store in PostgreSQL, once it has been read (the source of truth: ops flip
///    it with `program-versioning flags set`; every instance follows within a second);
/// 2. environment variables `PROGRAM_VERSIONING_WRITES` / `_READS` / `_READS_PERCENT` /
///    `_LEGACY_READONLY`, each overriding only its flag;
/// 3. a flags file in `flags show --json`'s shape, hot-reloaded, when one is given;
/// 4. the safe default: all off (legacy).
///
/// A lower layer answers only while every layer above it has nothing: a store that was
/// read once keeps its last values through an outage rather than falling back.
public enum FlagSources {
    /// Builds the layers. Nothing runs in the background until the result's `run()` does
    /// (add it to the app's `ServiceGroup`); until then the store has not been read and
    /// the lower layers answer.
    ///
    /// - Parameters:
    ///   - databaseURL: the flag store's database; nil skips the store.
    ///   - flagsFile: a flags file to follow; nil (the default) skips it. A relative path
    ///     is relative to the working directory, so services should pass an absolute one.
    ///     A missing or unreadable file is logged once at warning and the layers below
    ///     answer.
    public static func standard(
        databaseURL: String?, flagsFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) -> LayeredFlagSource {
        var layer: any FlagSource = FixedFlagSource(.legacy)
        var background: [any Service] = []
        if let flagsFile {
            let file = FileFlagSource(path: flagsFile, logger: logger, fallback: layer)
            background.append(file)
            layer = file
        }
        layer = EnvironmentFlagSource(environment: environment, fallback: layer)
        if let databaseURL {
            let database = DatabaseFlagSource(connectionString: databaseURL, logger: logger, fallback: layer)
            background.append(database)
            layer = database
        }
        return LayeredFlagSource(top: layer, background: background, store: layer as? DatabaseFlagSource)
    }
}

/// Flag layers and the work that keeps them current: a `FlagSource` (answers from the top
/// layer) and a `Service` (its `run()` follows the store and the file until cancelled or
/// shut down gracefully).
public struct LayeredFlagSource: FlagSource, Service {
    private let top: any FlagSource
    private let background: [any Service]
    private let store: DatabaseFlagSource?

    init(top: any FlagSource, background: [any Service], store: DatabaseFlagSource?) {
        self.top = top
        self.background = background
        self.store = store
    }

    public func current() -> FlagSnapshot {
        top.current()
    }

    /// Whether the flag store has been read (always true without a store).
    public var isLoaded: Bool { store?.isLoaded ?? true }

    /// Waits (while `run()` runs) until the store has been read, at most `timeout`; returns
    /// whether it was. A service that must not serve a request under the lower layers'
    /// values calls it before it takes traffic; until then the lower layers answer.
    public func waitUntilLoaded(timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isLoaded, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isLoaded
    }

    /// Runs every layer that follows something, each in a child task, until all end.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for service in background {
                group.addTask { try await service.run() }
            }
        }
    }
}
