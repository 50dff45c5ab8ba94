import Foundation
import PBTSystem

/// One stage of a run whose stages share one process (`pbt run --in-process`): the stage's
/// `run()` on a thread of its own, its exit code (or the error it threw) kept for the run to
/// read, and its own stop.
///
///     pbt run --in-process ─┬─ thread: events proxy   ─┐
///                           ├─ thread: selector        ├─ one ZeroMQ context, inproc:// between them
///                           └─ thread: workers …      ─┘
final class StageThread: @unchecked Sendable {
    /// How the stage ended: its exit code, or the error it threw.
    enum Ending: CustomStringConvertible {
        case exited(Int32)
        case failed(String)

        var succeeded: Bool {
            if case .exited(0) = self { return true }
            return false
        }

        var description: String {
            switch self {
            case .exited(let code): "exit code \(code)"
            case .failed(let error): "error: \(error)"
            }
        }
    }

    let stop: StageStop
    private let lock = NSLock()
    private var ending: Ending?
    private let done = DispatchSemaphore(value: 0)

    /// Starts `body` on a new thread named `name`; `stop` is the stop the stage listens to.
    init(name: String, stop: StageStop, log: FileLog, _ body: @escaping @Sendable () throws -> Int32) {
        self.stop = stop
        let thread = Thread { [self] in
            ThreadName.set(name)
            let ending: Ending
            do {
                ending = .exited(try body())
            } catch {
                log.write("\(FileLog.timestamp()) error \(name): \(error)")
                ending = .failed("\(error)")
            }
            lock.withLock { self.ending = ending }
            done.signal()
        }
        thread.start()
    }

    /// How the stage ended, or nil while it runs.
    func poll() -> Ending? {
        lock.withLock { ending }
    }

    /// Waits up to `seconds` for the stage to end; true when it has.
    func wait(seconds: Double) -> Bool {
        if poll() != nil { return true }
        guard done.wait(timeout: .now() + seconds) == .success else { return false }
        done.signal()
        return true
    }
}
