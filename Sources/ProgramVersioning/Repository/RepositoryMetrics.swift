import Metrics

/// The repository's counters and timers (swift-metrics; the app bootstraps a backend).
struct RepositoryMetrics: Sendable {
    let legacyReads = Counter(label: "program_versioning_reads_total", dimensions: [("source", "legacy")])
    let versionReads = Counter(label: "program_versioning_reads_total", dimensions: [("source", "versions")])
    let missingVersionFallbacks = Counter(label: "program_versioning_read_fallbacks_total", dimensions: [("reason", "no_version")])
    let staleVersionFallbacks = Counter(label: "program_versioning_read_fallbacks_total", dimensions: [("reason", "stale_version")])
    let versionCacheHits = Counter(label: "program_versioning_version_cache_hits_total")
    let savesWithVersion = Counter(label: "program_versioning_saves_total", dimensions: [("result", "dual_write")])
    let legacyOnlySaves = Counter(label: "program_versioning_saves_total", dimensions: [("result", "legacy_only")])
    let unchangedSaves = Counter(label: "program_versioning_saves_total", dimensions: [("result", "unchanged")])
    let refusedSaves = Counter(label: "program_versioning_saves_total", dimensions: [("result", "invalid")])
    let conflicts = Counter(label: "program_versioning_save_conflicts_total")
    let saveDuration = Timer(label: "program_versioning_save_duration")
    let readDuration = Timer(label: "program_versioning_read_duration")
}
