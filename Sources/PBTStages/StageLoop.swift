import PBTSystem
import ZeroMQ

/// The timing every stage shares, named in one place (the zguide's `ppqueue.c` names its
/// heartbeat and liveness at the top for the same reason). Timing that belongs to an
/// experiment (lease timeout, silence, maximum task duration) is in its `leases` section.
public enum StageTiming {
    /// Milliseconds one poll waits before the loop looks at the clock and the stop flag.
    public static let pollMilliseconds = 50
    /// Seconds between the selector's ticks: leases, silent workers, progress, benches.
    public static let tick = 0.05
    /// Seconds between a worker's heartbeats (`ready` while idle, `progress` while busy);
    /// `--heartbeat` changes it. The selector counts a worker gone after `leases.silence`.
    public static let heartbeat = 1.0
    /// ZMTP heartbeats on a worker's connections (milliseconds): a ping every interval; the
    /// connection is dropped after the timeout without traffic (libzmq then reconnects).
    public static let connectionPingMilliseconds: Int32 = 1_000
    public static let connectionTimeoutMilliseconds: Int32 = 5_000
    /// Milliseconds a closing socket may go on delivering what it queued.
    public static let lingerMilliseconds: Int32 = 500
    /// Milliseconds before libzmq retries a lost connection, and at most between retries.
    public static let reconnectMilliseconds: Int32 = 100
    public static let reconnectMaximumMilliseconds: Int32 = 1_000
    /// Seconds the selector answers `finished` after the experiment ends, so that workers hear it.
    public static let finishGrace = 0.5
    /// Messages one socket may hand the loop in one turn (the selector commits between turns).
    public static let messagesPerTurn = 1_000
    /// Messages a stage's sockets queue at most for one peer, each way.
    public static let highWaterMark: Int32 = 100_000
    /// Seconds between a stage's checks of its CURVE handshakes (it says why one fails).
    public static let handshakeCheck = 0.1
    /// Seconds under which a trainer's task counts as quick: the next one runs on the loop's
    /// thread, saving the hand-over to the work thread (its steps' callbacks heartbeat).
    public static let quickTask = 0.02
}

/// What a stage's loop hands it: a message on one of its sockets, the end of a turn (every
/// wake-up: a batch of messages handled, or a poll that timed out), or a stop signal.
enum StageInput {
    case message(socket: ZMQSocket, frames: [[UInt8]])
    case turn(now: Double)
    case stop(signal: Int32)
}

/// One stage's loop over the sockets it owns: poll, hand each waiting message to the stage
/// (at most `StageTiming.messagesPerTurn` a socket a turn), then the end of the turn; a
/// SIGTERM or SIGINT becomes one `.stop`. The stage returns false to end the loop.
///
///     ┌─▶ zmq_poll(sockets, poll interval) ─▶ .message × n ─▶ .turn(now) ─┐
///     └──────────────────────────── (stop flag? → .stop) ◀──────────────┘
///
/// Sockets are owned by the loop's thread: nothing here blocks inside a Swift task.
enum StageLoop {
    /// Runs until `handle` returns false. `sockets` says what to poll on each turn (a stage
    /// may open one later); `pollMilliseconds` may shorten the wait (a stage with work queued
    /// polls without waiting).
    static func run(
        sockets: () -> [ZMQSocket], pollMilliseconds: () -> Int = { StageTiming.pollMilliseconds },
        _ handle: (StageInput) throws -> Bool
    ) throws {
        var stopped = false
        while true {
            if !stopped, let signal = StopSignal.received {
                stopped = true
                if try !handle(.stop(signal: signal)) { return }
            }
            let polled = sockets()
            let readable = try ZMQPoll.readable(polled, timeoutMilliseconds: pollMilliseconds())
            for (index, socket) in polled.enumerated() where readable[index] {
                var handled = 0
                while handled < StageTiming.messagesPerTurn, let frames = try socket.receive(dontWait: true) {
                    handled += 1
                    if try !handle(.message(socket: socket, frames: frames)) { return }
                }
            }
            if try !handle(.turn(now: Clock.monotonic)) { return }
        }
    }
}
