import Foundation
import PBTCore
import PBTMonitor
import PBTSecurity
import PBTStageLoop
import PBTSystem
import PBTWire
import ZeroMQ

/// `pbt monitor`: a live view of an experiment, fed only by the event stream.
///
///     event proxy ── SUB ──▶ PopulationModel ──▶ MonitorScreen ──▶ the terminal, 4 times a second
///
/// It attaches to a running experiment (what it has not seen yet fills in as events arrive),
/// and stays attached when the experiment finishes or restarts: ZeroMQ reconnects to a proxy
/// that comes back, and `experiment.started` begins a fresh view. On a terminal it draws on
/// the alternate screen and leaves the last frame behind when it exits; elsewhere it prints a
/// plain frame every `--interval` seconds.
public final class MonitorStage {
    public struct Options: Sendable {
        /// The event proxy's subscriber endpoint.
        public var endpoint: String
        /// Seconds between frames (default: `terminalInterval` on a terminal, `plainInterval` elsewhere).
        public var interval: Double?
        /// Plain frames even on a terminal.
        public var plain: Bool
        /// Exit once an experiment finishes (after drawing it).
        public var exitWhenFinished: Bool
        /// CURVE: subscribe to the proxy as a client with these keys.
        public var security: CurveSecurity? = nil

        public init(endpoint: String, interval: Double? = nil, plain: Bool = false, exitWhenFinished: Bool = false) {
            self.endpoint = endpoint
            self.interval = interval
            self.plain = plain
            self.exitWhenFinished = exitWhenFinished
        }
    }

    /// Seconds between frames on a terminal, unless `--interval` says otherwise.
    public static let terminalInterval = 0.25
    /// Seconds between plain frames (not a terminal, or `--plain`), unless `--interval` says otherwise.
    public static let plainInterval = 5.0
    /// Events read at most between two looks at the clock (a busy pipeline publishes tens of
    /// thousands a second; the frame is drawn on time all the same).
    static let eventsPerTurn = 10_000

    private let options: Options

    public init(options: Options) {
        self.options = options
    }

    /// Runs until a signal (or, with `exitWhenFinished`, the experiment's end); returns 0.
    public func run(write: (String) -> Void) throws -> Int32 {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .sub)
        try socket.setReceiveHighWaterMark(StageTiming.highWaterMark)
        try socket.setMaximumMessageSize(2 << 20)  // an event is at most 1 MiB
        try socket.subscribe()
        if let security = options.security { try socket.secureClient(security) }
        // Why the proxy does not let us in, shown under the frame (the screen is ours).
        var problem: String?
        let keeper = try ConnectionKeeper(
            context, socket: socket, endpoint: options.endpoint, peer: "the event proxy", curve: options.security
        ) { line, isProblem in
            problem = isProblem ? line : nil
        }
        try socket.connect(options.endpoint)
        let terminal = !options.plain && isatty(1) == 1
        let interval = options.interval ?? (terminal ? Self.terminalInterval : Self.plainInterval)
        var model = PopulationModel(options: .init(trackLineage: false))
        var lastFrame = -Double.infinity
        var finished = false
        if terminal { write(Terminal.enterAlternateScreen) }
        defer {
            if terminal {
                // Back to the normal screen, the last frame left there (one write: nothing between).
                let size = Terminal.size()
                let lines = MonitorScreen.render(
                    model, now: Clock.wall, endpoint: options.endpoint, width: size.width, height: 1_000)
                write(Terminal.leaveAlternateScreen + "\r" + lines.joined(separator: "\r\n") + "\r\n")
            }
        }
        // The signal that stopped it, if one did: the exit code is then 128 + it.
        var stoppedBy: Int32?
        try StageLoop.run(sockets: { [socket] }, messagesPerTurn: Self.eventsPerTurn) { input in
            switch input {
            case .message(_, let frames):
                guard frames.count == 2, let event = try? EventJSON.decode(frames[1]) else { return true }
                model.apply(event)
                if event.topic == .experimentFinished { finished = true }
                if event.topic == .experimentStarted { finished = false }
                return true
            case .turn(let now):
                keeper.check()
                guard now - lastFrame >= interval || (finished && options.exitWhenFinished) else { return true }
                lastFrame = now
                let size = terminal ? Terminal.size() : (width: 160, height: 1_000)
                var lines = MonitorScreen.render(
                    model, now: Clock.wall, endpoint: options.endpoint, width: size.width, height: size.height)
                if let problem { lines += ["", "! " + problem] }
                write(terminal ? Terminal.frame(lines) : lines.joined(separator: "\n") + "\n\n")
                return !(finished && options.exitWhenFinished)
            case .stop(let signal):
                stoppedBy = signal
                return false
            }
        }
        return stoppedBy.map { 128 + $0 } ?? 0
    }
}
