/// What the matcher needs to know of a workout or an exercise.
struct MatchItem {
    var id: String
    var normalizedName: String
    var position: Int

    init(id: String, name: String, position: Int) {
        self.id = id
        self.normalizedName = MatchItem.normalize(name)
        self.position = position
    }

    /// The words of the name; built only when similarity has to be measured (rare: most
    /// items match by id or name first).
    var nameTokens: Set<String> { Set(normalizedName.utf8.split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }) }

    /// Lowercased, trimmed, inner whitespace runs collapsed: "  Bench  press" = "bench press".
    static func normalize(_ name: String) -> String {
        if let ascii = normalizeASCII(name) { return ascii }
        return name.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// The same for ASCII names (most of them), byte by byte: Unicode property lookups for
    /// every character cost more than the rest of reconciling a program.
    private static func normalizeASCII(_ name: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(name.utf8.count)
        var pendingSpace = false
        for byte in name.utf8 {
            guard byte < 0x80 else { return nil }
            if byte == 0x20 || (0x09...0x0D).contains(byte) {
                pendingSpace = !bytes.isEmpty
                continue
            }
            if pendingSpace {
                bytes.append(0x20)
                pendingSpace = false
            }
            bytes.append((0x41...0x5A).contains(byte) ? byte + 0x20 : byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Pairs the items of an edited list with the items of the previous list they continue.
///
/// In order of trust:
/// 1. the same id and the same name;
/// 2. the same id (a rename), unless the ids of this list are demonstrably crossed: some
///    edited item carries the id of one previous item and the name of another whose id is
///    also still in use, as when an AI renumbers its output. Then no id-only match is
///    trusted at this level;
/// 3. the same name (the nearest position wins among equals; content decides first when
///    `sameContent` tells two same-named candidates apart);
/// 4. content similarity of at least `minimumSimilarity`, best pairs first.
/// No previous item is matched twice.
struct ItemMatcher {
    var minimumSimilarity = 0.5

    /// For each edited item, the index of its previous item, or nil when it is new.
    func match(
        previous: [MatchItem], edited: [MatchItem],
        sameContent: (_ previous: Int, _ edited: Int) -> Bool,
        similarity: (_ previous: Int, _ edited: Int) -> Double
    ) -> [Int?] {
        var result = [Int?](repeating: nil, count: edited.count)
        var claimed = [Bool](repeating: false, count: previous.count)
        var previousByID: [String: Int] = [:]
        for (index, item) in previous.enumerated() where previousByID[item.id] == nil { previousByID[item.id] = index }
        let editedIDs = Set(edited.map(\.id))

        func claim(_ p: Int, _ e: Int) {
            result[e] = p
            claimed[p] = true
        }

        // 1. id and name agree.
        for (e, item) in edited.enumerated() {
            if let p = previousByID[item.id], !claimed[p], previous[p].normalizedName == item.normalizedName { claim(p, e) }
        }
        // 2. id agrees, names differ: a rename, unless the ids at this level are crossed.
        let crossed = edited.indices.contains { e in
            let item = edited[e]
            guard result[e] == nil, let p = previousByID[item.id], !claimed[p] else { return false }
            return previous.indices.contains { other in
                other != p && !claimed[other] && previous[other].normalizedName == item.normalizedName
                    && editedIDs.contains(previous[other].id)
            }
        }
        if !crossed {
            for (e, item) in edited.enumerated() where result[e] == nil {
                if let p = previousByID[item.id], !claimed[p] { claim(p, e) }
            }
        }
        // 3. name agrees.
        for (e, item) in edited.enumerated() where result[e] == nil {
            let candidates = previous.indices.filter { !claimed[$0] && previous[$0].normalizedName == item.normalizedName }
            guard !candidates.isEmpty else { continue }
            let best = candidates.min { a, b in
                let aSame = sameContent(a, e), bSame = sameContent(b, e)
                if aSame != bSame { return aSame }
                return abs(previous[a].position - item.position) < abs(previous[b].position - item.position)
            }!
            claim(best, e)
        }
        // 4. content similarity, best pairs first.
        var pairs: [(p: Int, e: Int, score: Double)] = []
        for e in edited.indices where result[e] == nil {
            for p in previous.indices where !claimed[p] {
                let score = similarity(p, e)
                if score >= minimumSimilarity { pairs.append((p, e, score)) }
            }
        }
        pairs.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            let aDistance = abs(previous[a.p].position - edited[a.e].position)
            let bDistance = abs(previous[b.p].position - edited[b.e].position)
            if aDistance != bDistance { return aDistance < bDistance }
            return (a.e, a.p) < (b.e, b.p)
        }
        for pair in pairs where result[pair.e] == nil && !claimed[pair.p] { claim(pair.p, pair.e) }
        return result
    }

    /// The common edit, most of all an app's: every item where it was, with its id and its
    /// exact name, no id empty or repeated. `match` pairs each such item with the previous
    /// item at its own position (rule 1 for every item), which this finds without
    /// normalizing a name or hashing an id list twice.
    static func keepsEveryItemInPlace<Item>(
        previous: [Item], edited: [Item], id: (Item) -> String, name: (Item) -> String
    ) -> Bool {
        guard previous.count == edited.count else { return false }
        for (p, e) in zip(previous, edited) where id(p).isEmpty || id(p) != id(e) || name(p) != name(e) {
            return false
        }
        // Few items (a workout's exercises): compared pairwise, cheaper than hashing each id.
        guard previous.count > 16 else {
            for i in previous.indices {
                for j in previous.indices where j < i && id(previous[j]) == id(previous[i]) { return false }
            }
            return true
        }
        var ids = Set<String>(minimumCapacity: previous.count)
        for item in previous where !ids.insert(id(item)).inserted { return false }
        return true
    }

    /// Jaccard similarity of two token sets (1 when both are empty).
    static func jaccard(_ a: Set<String>, _ b: Set<String>) -> Double {
        if a.isEmpty && b.isEmpty { return 1 }
        let union = a.union(b).count
        return union == 0 ? 0 : Double(a.intersection(b).count) / Double(union)
    }

    /// Positions (into `pairs`) of matched items that changed their relative order: those
    /// outside a longest run kept in the same order (so deleting one item does not count
    /// every later item as moved).
    static func movedPairs(_ pairs: [(previous: Int, edited: Int)]) -> Set<Int> {
        let ordered = pairs.indices.sorted { pairs[$0].edited < pairs[$1].edited }
        // Longest increasing subsequence of previous positions, O(n log n).
        var tails: [Int] = []  // indices into `ordered`
        var parent = [Int](repeating: -1, count: ordered.count)
        for (i, pairIndex) in ordered.enumerated() {
            let value = pairs[pairIndex].previous
            var low = 0, high = tails.count
            while low < high {
                let mid = (low + high) / 2
                if pairs[ordered[tails[mid]]].previous < value { low = mid + 1 } else { high = mid }
            }
            if low > 0 { parent[i] = tails[low - 1] }
            if low == tails.count { tails.append(i) } else { tails[low] = i }
        }
        var kept = Set<Int>()
        var cursor = tails.last ?? -1
        while cursor >= 0 {
            kept.insert(ordered[cursor])
            cursor = parent[cursor]
        }
        return Set(pairs.indices).subtracting(kept)
    }
}
