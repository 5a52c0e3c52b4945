import Dispatch
import Foundation
import ProgramVersioning
import ProgramVersioningOps

/// SIGINT and SIGTERM for a long run: the first asks it to finish the batch in hand and
/// stop (its run row says INTERRUPTED and the next invocation resumes it); the second exits
/// at once (the row stays RUNNING, shows as STALE, and is resumed all the same).
final class StopOnSignals {
    let stop = StopRequest()
    private let sources: [any DispatchSourceSignal]

    init(_ what: String) {
        let stop = self.stop
        sources = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { number, name in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if stop.requested == nil {
                    stop.request("\(name) received")
                    FileHandle.standardError.write(Data("""
                        \nprogram-versioning: \(name): finishing the current batch, then stopping \(what) (send it again to stop at once)\n
                        """.utf8))
                } else {
                    FileHandle.standardError.write(Data("""
                        \nprogram-versioning: \(name) again: stopping at once; the run shows as STALE until the same command resumes it\n
                        """.utf8))
                    exit(128 + number)
                }
            }
            source.resume()
            return source
        }
    }

    /// Back to the default handlers.
    func uninstall() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
