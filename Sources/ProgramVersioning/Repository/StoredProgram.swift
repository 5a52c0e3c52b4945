import Foundation
import ProgramDomain

/// An opaque token naming the state of a program's row when it was read. Pass it back to
/// `save` so a concurrent change is detected instead of overwritten. (It is the row's
/// `xmin`, which changes with every write, the app's own legacy writes included.)
public struct Revision: Sendable, Hashable, CustomStringConvertible {
    public let token: String

    public init(_ token: String) {
        self.token = token
    }

    public var description: String { token }
}

/// Where a read was served from.
public enum ReadSource: String, Sendable {
    case legacy
    case versions
}

/// A program as read: its content, owner, revision, and version when one exists.
public struct StoredProgram: Sendable, Hashable {
    public var id: UUID
    public var userID: UUID
    public var program: Program
    /// Pass to `save` as `expectedRevision`.
    public var revision: Revision
    /// The current version number, when the program has versions.
    public var version: Int?
    public var source: ReadSource
}

/// What a save did.
public struct SaveResult: Sendable {
    /// The program as stored, with reconciled ids.
    public var stored: StoredProgram
    /// What changed compared with the program before the save.
    public var changes: ProgramChanges
    /// A new immutable version was written (WRITES on, content changed).
    public var createdVersion: Bool
    /// The legacy JSON was rewritten (content changed).
    public var wroteLegacy: Bool
    /// True when this is the recorded outcome of an earlier attempt with the same
    /// idempotency key (nothing was written now; `changes` is empty).
    public var replayed = false
}

/// One entry of a program's history.
public struct VersionSummary: Sendable, Hashable {
    public var version: Int
    public var id: UUID
    public var createdAt: Date
    public var createdBy: String
    public var checksum: String
}
