import PBTSystem
import ZeroMQ

/// One stage's loop over the sockets it owns: poll, hand each waiting message to the stage
/// (at most `messagesPerTurn` a socket a turn), then the end of the turn; a SIGTERM or
/// SIGINT (or a request on the stage's `StageStop`) becomes one `.stop`. The stage returns
/// false to end the loop.
///
///     ┌─▶ zmq_poll(sockets, poll interval; 0 the first time) ─▶ .message × n ─▶ .turn(now) ─┐
///     └──────────────────────────── (stop flag? → .stop) ◀──────────────┘
///
/// Sockets are owned by the loop's thread: nothing here blocks inside a Swift task.
public enum StageLoop {
    /// Runs until `handle` returns false. `sockets` says what to poll on each turn (a stage
    /// may open one later); `pollMilliseconds` says how long this turn's poll may wait (a
    /// stage with work queued polls without waiting); `messagesPerTurn` bounds what one socket
    /// hands over before the turn ends (`StageTiming.messagesPerTurn` unless the stage says);
    /// `stop`, when given, says when this loop stops (otherwise the process's signals do);
    /// `descriptors` are plain file descriptors the poll also wakes for (the stage tries them
    /// without blocking at the end of the turn).
    public static func run(
        sockets: () -> [ZMQSocket], descriptors: () -> [ZMQPollDescriptor] = { [] },
        pollMilliseconds: () -> Int = { StageTiming.pollMilliseconds },
        messagesPerTurn: Int = StageTiming.messagesPerTurn, stop: StageStop? = nil,
        _ handle: (StageInput) throws -> Bool
    ) throws {
        var stopped = false
        // The first turn comes at once (a worker's first `ready` goes out without waiting a poll).
        var first = true
        while true {
            if !stopped, let signal = stop.map({ $0.received }) ?? StopSignal.received {
                stopped = true
                if try !handle(.stop(signal: signal)) { return }
            }
            let polled = sockets()
            let readable = try ZMQPoll.readable(
                polled, descriptors: descriptors(), timeoutMilliseconds: first ? 0 : pollMilliseconds())
            first = false
            for (index, socket) in polled.enumerated() where readable[index] {
                var handled = 0
                while handled < messagesPerTurn, let frames = try socket.receive(dontWait: true) {
                    handled += 1
                    if try !handle(.message(socket: socket, frames: frames)) { return }
                }
            }
            if try !handle(.turn(now: Clock.monotonic)) { return }
        }
    }
}
