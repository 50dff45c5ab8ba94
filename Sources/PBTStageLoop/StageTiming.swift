/// The timing every stage shares, named in one place (the zguide's `ppqueue.c` names its
/// heartbeat and liveness at the top for the same reason). Timing that belongs to an
/// experiment (lease timeout, silence, maximum task duration) is in its `leases` section;
/// timing that belongs to one stage is a named setting at the top of that stage's type.
public enum StageTiming {
    /// Milliseconds one poll waits before the loop looks at the clock and the stop flag.
    public static let pollMilliseconds = 50
    /// Seconds between the selector's ticks: leases, silent workers, progress, benches.
    public static let tick = 0.05
    /// Seconds between a worker's heartbeats (`ready` while idle, `progress` while busy);
    /// `--heartbeat` changes it. The selector counts a worker gone after `leases.silence`.
    public static let heartbeat = 1.0
    /// ZMTP heartbeats on a worker's connection to the selector (milliseconds): a ping every
    /// interval; the connection is dropped after the timeout without traffic (libzmq then
    /// reconnects), and the selector's side drops it after the same time without a ping (TTL).
    public static let connectionPingMilliseconds: Int32 = 1_000
    /// Milliseconds without traffic after which a worker's connection is dropped (see above).
    public static let connectionTimeoutMilliseconds: Int32 = 5_000
    /// Milliseconds a closing socket may go on delivering what it queued.
    public static let lingerMilliseconds: Int32 = 500
    /// Milliseconds before libzmq retries a lost (or not yet listening) connection, doubling
    /// with each failure up to `reconnectMaximumMilliseconds`: a stage started a moment before
    /// the one it connects to is through within milliseconds of it, a dead peer costs one
    /// attempt a second.
    public static let reconnectMilliseconds: Int32 = 10
    /// Milliseconds at most between libzmq's retries of a lost connection.
    public static let reconnectMaximumMilliseconds: Int32 = 1_000
    /// Seconds the selector answers `finished` after the experiment ends, so that workers hear
    /// it; it stops sooner once every worker it told has said goodbye.
    public static let finishGrace = 0.5
    /// Messages one socket may hand the loop in one turn (the selector commits between turns).
    public static let messagesPerTurn = 1_000
    /// Messages a stage's sockets queue at most for one peer, each way.
    public static let highWaterMark: Int32 = 100_000
    /// Seconds between a stage's checks of its CURVE handshakes (it says why one fails).
    public static let handshakeCheck = 0.1
    /// Seconds a stopping worker waits for its work thread to finish a task's step and let go
    /// of the workload (a command workload's program gets SIGTERM, then SIGKILL a second later).
    public static let workThreadEnd = 5.0
    /// Seconds under which a trainer's task counts as quick: the next one runs on the loop's
    /// thread, saving the hand-over to the work thread (its steps' callbacks heartbeat).
    public static let quickTask = 0.02
}
