import ZeroMQ

/// What a stage's loop hands it: a message on one of its sockets, the end of a turn (every
/// wake-up: a batch of messages handled, or a poll that timed out), or a stop signal.
public enum StageInput {
    /// One whole multipart message that arrived on `socket`, one of the stage's own.
    case message(socket: ZMQSocket, frames: [[UInt8]])
    /// The end of a turn, at `now` (`Clock.monotonic`, seconds): time for periodic work.
    case turn(now: Double)
    /// SIGTERM or SIGINT arrived (handed over once; the loop goes on if the stage says so).
    case stop(signal: Int32)
}
