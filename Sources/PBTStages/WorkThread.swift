import Foundation
import PBTCore
import PBTSystem
import Synchronization
import ZeroMQ

/// Runs a worker's long tasks (training, evaluating a checkpoint) on a thread of its own, so
/// that the stage's loop keeps its sockets and heartbeats while a member trains, however long
/// a step takes. It says a task is done with one message on an inproc PAIR socket that the
/// loop polls beside its others (czmq's actor pattern):
///
///     loop thread:  start(task) … poll [dealer, inlet, done] … done readable → takeOutcome()
///     work thread:  wait for a task → handler.handle(task) → outcome → "done" on its PAIR
final class WorkThread: @unchecked Sendable {
    /// The loop's end of the PAIR: readable when a task is done.
    let done: ZMQSocket
    private let condition = NSCondition()
    private var job: (task: WorkerTask, handler: any TaskHandler)?
    private var outcome: WorkerReport?
    private var ending = false
    private let stopRequested = Atomic<Bool>(false)
    private let steps = Atomic<Int>(0)
    /// Signalled when the thread has returned (and let go of the last task's handler).
    private let exited = DispatchSemaphore(value: 0)
    private static let numbers = Atomic<Int>(0)

    /// Starts the thread; its PAIR connects to the loop's before this returns.
    init(context: ZMQContext) throws {
        let endpoint = "inproc://pbt.work.\(Self.numbers.wrappingAdd(1, ordering: .relaxed).newValue)"
        done = try ZMQSocket(context, .pair)
        try done.bind(endpoint)
        let ready = NSCondition()
        nonisolated(unsafe) var connected: Result<Void, any Error>?
        let thread = Thread { [self] in
            ThreadName.set("pbt-work")
            defer { exited.signal() }
            let signal: ZMQSocket
            do {
                signal = try ZMQSocket(context, .pair)
                try signal.connect(endpoint)
                ready.lock()
                connected = .success(())
                ready.signal()
                ready.unlock()
            } catch {
                ready.lock()
                connected = .failure(error)
                ready.signal()
                ready.unlock()
                return
            }
            serve(signal)
        }
        thread.start()
        ready.lock()
        while connected == nil { ready.wait() }
        ready.unlock()
        if case .failure(let error) = connected { throw error }
    }

    /// Starts `task`; the loop hears `done` when it is over.
    func start(_ task: WorkerTask, with handler: any TaskHandler) {
        condition.lock()
        defer { condition.unlock() }
        stopRequested.store(false, ordering: .relaxed)
        steps.store(0, ordering: .relaxed)
        outcome = nil
        job = (task, handler)
        condition.signal()
    }

    /// Asks the running task to stop at its next step boundary.
    func requestStop() {
        stopRequested.store(true, ordering: .relaxed)
    }

    /// Steps the running task has done so far.
    var stepsDone: Int { steps.load(ordering: .relaxed) }

    /// The finished task's outcome (after `done` said so), taken once.
    func takeOutcome() -> WorkerReport? {
        condition.lock()
        defer { condition.unlock() }
        let taken = outcome
        outcome = nil
        return taken
    }

    /// Ends the thread once its task (if any) is over, and waits up to `seconds` for it to
    /// return. A handler the thread held last goes with it, on that thread: a command workload
    /// then stops its program and removes its scratch directory before this returns, rather
    /// than while the process exits. Returns whether the thread ended in time.
    func end(waitingAtMost seconds: Double) -> Bool {
        condition.lock()
        ending = true
        condition.signal()
        condition.unlock()
        guard exited.wait(timeout: .now() + seconds) == .success else { return false }
        exited.signal()  // a second call returns at once
        return true
    }

    private func serve(_ signal: ZMQSocket) {
        while true {
            condition.lock()
            while job == nil && !ending { condition.wait() }
            guard let (task, handler) = job else {
                condition.unlock()
                return
            }
            job = nil
            condition.unlock()
            let report = handler.handle(task) { [self] done in
                steps.store(done, ordering: .relaxed)
                return !stopRequested.load(ordering: .relaxed)
            }
            condition.lock()
            outcome = report
            condition.unlock()
            _ = try? signal.send([[1]])
        }
    }
}
