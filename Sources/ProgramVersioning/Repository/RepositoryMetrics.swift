import Metrics

/// The repository's counters and timers (swift-metrics). Apps bootstrap a backend once;
/// tests pass their own factory so their counts stay their own.
struct RepositoryMetrics: Sendable {
    let legacyReads: Counter
    let versionReads: Counter
    let missingVersionFallbacks: Counter
    let staleVersionFallbacks: Counter
    let versionCacheHits: Counter
    let savesWithVersion: Counter
    /// Phase 5: a version written, legacy left as it was.
    let versionOnlySaves: Counter
    let legacyOnlySaves: Counter
    let unchangedSaves: Counter
    let refusedSaves: Counter
    let conflicts: Counter
    let shadowComparisons: Counter
    let shadowMismatches: Counter
    let shadowSkipped: Counter
    let saveDuration: Timer
    let readDuration: Timer

    init(factory: any MetricsFactory) {
        func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
            Counter(label: label, dimensions: dimensions, factory: factory)
        }
        legacyReads = counter("program_versioning_reads_total", [("source", "legacy")])
        versionReads = counter("program_versioning_reads_total", [("source", "versions")])
        missingVersionFallbacks = counter("program_versioning_read_fallbacks_total", [("reason", "no_version")])
        staleVersionFallbacks = counter("program_versioning_read_fallbacks_total", [("reason", "stale_version")])
        versionCacheHits = counter("program_versioning_version_cache_hits_total")
        savesWithVersion = counter("program_versioning_saves_total", [("result", "dual_write")])
        versionOnlySaves = counter("program_versioning_saves_total", [("result", "versions_only")])
        legacyOnlySaves = counter("program_versioning_saves_total", [("result", "legacy_only")])
        unchangedSaves = counter("program_versioning_saves_total", [("result", "unchanged")])
        refusedSaves = counter("program_versioning_saves_total", [("result", "invalid")])
        conflicts = counter("program_versioning_save_conflicts_total")
        shadowComparisons = counter("program_versioning_shadow_reads_total", [("result", "compared")])
        shadowMismatches = counter("program_versioning_shadow_reads_total", [("result", "mismatch")])
        shadowSkipped = counter("program_versioning_shadow_reads_total", [("result", "skipped")])
        saveDuration = Timer(label: "program_versioning_save_duration", factory: factory)
        readDuration = Timer(label: "program_versioning_read_duration", factory: factory)
    }
}
