import Foundation
import Logging
import PBTCore
import PBTMonitor
import PBTSecurity
import PBTStageLoop
import PBTSystem
import PBTWire
import PBTTensorBoard
import ZeroMQ

/// `pbt tensorboard --events ENDPOINT`: subscribes to the event stream and writes TensorBoard
/// event files as the experiment goes (the same files `pbt tensorboard RUN_DIR` makes from the
/// run's log afterwards).
///
///     event proxy ── SUB ──▶ TensorBoardProjection ──▶ DIR/member-NNN/events.out.tfevents.…
///
/// Records are appended every `flushSeconds`, so TensorBoard shows a running experiment a
/// second behind at most. On SIGTERM or SIGINT the writer reads what is still on its way
/// (until `experiment.finished`, or a quiet moment) before its last flush, so `pbt run`
/// stopping it at the end loses nothing that reached it. The stream is a PUB socket, which
/// drops past its high-water mark: for a record that holds every event, convert the run's
/// `events.jsonl` afterwards.
public final class TensorBoardStage {
    public struct Options: Sendable {
        /// The event proxy's subscriber endpoint.
        public var events: String
        /// The TensorBoard log directory.
        public var output: String
        /// Write this JSON file once subscribed (`pbt run` waits for it).
        public var readyFile: String?
        /// CURVE: subscribe to the proxy as a client with these keys.
        public var security: CurveSecurity? = nil

        public init(events: String, output: String, readyFile: String? = nil) {
            self.events = events
            self.output = output
            self.readyFile = readyFile
        }
    }

    /// Seconds between flushes: how far behind the stream TensorBoard's files may be.
    public static let flushSeconds = 1.0
    /// How long a writer with a ready file waits to connect to the proxy before it says it is ready.
    static let connectSeconds = 5.0
    /// After a stop signal: read on until this long passes without an event…
    static let drainQuietSeconds = 0.3
    /// …or this long in all.
    static let drainMostSeconds = 3.0

    private let options: Options
    private let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Writes until a signal stops it; returns 0. Throws `TensorBoardError` when a file cannot be written.
    public func run() throws -> Int32 {
        let directory = try TensorBoardDirectory(path: options.output)
        let context = try ZMQContext()
        let stream = try StreamSubscriber(
            context: context, endpoint: options.events, security: options.security, logger: logger)
        let (subscriber, keeper) = (stream.socket, stream.keeper)
        logger.info(
            "writing TensorBoard files",
            metadata: ["pbt.output": "\(options.output)", "pbt.events": "\(options.events)"])
        if let readyFile = options.readyFile {
            // Ready once connected to the proxy (the subscription follows the handshake at
            // once), so that `pbt run` starts the selector only when its first events will
            // reach this writer.
            let deadline = Clock.monotonic + Self.connectSeconds
            while !keeper.isConnected, Clock.monotonic < deadline, StopSignal.received == nil {
                keeper.check()
                usleep(5_000)
            }
            if !keeper.isConnected {
                logger.warning(
                    "not connected to the event proxy at \(options.events) after \(Self.connectSeconds) s; going on")
            }
            let json = "{\"stage\":\"tensorboard\",\"endpoints\":{\"tensorboard\":\"\(options.output)\"}}"
            try OutputFile.write(json, to: readyFile)
        }

        var projection = TensorBoardProjection()
        var events = 0
        var unreadable = 0
        var lastFlush = Clock.monotonic
        var lastEvent = Clock.monotonic
        var finished = false
        var drainingSince: Double?
        var failure: TensorBoardError?
        func flush(now: Double) -> Bool {
            do {
                try directory.flush()
            } catch {
                failure = error
                return false
            }
            lastFlush = now
            return true
        }
        // The signal that stopped it, if one did: the exit code is then 128 + it.
        var stoppedBy: Int32?
        try StageLoop.run(sockets: { [subscriber] }, pollMilliseconds: { StageTiming.pollMilliseconds }) { input in
            switch input {
            case .message(_, let frames):
                lastEvent = Clock.monotonic
                guard frames.count == 2, let event = try? EventJSON.decode(frames[1]) else {
                    unreadable += 1
                    return true
                }
                events += 1
                if event.topic == .experimentFinished { finished = true }
                directory.add(projection.apply(event))
                return true
            case .turn(let now):
                keeper.check()
                if let since = drainingSince {
                    // Stopping: end the loop (and flush below) once nothing more is on its way.
                    return
                        !(finished || now - lastEvent >= Self.drainQuietSeconds || now - since >= Self.drainMostSeconds)
                }
                if now - lastFlush >= Self.flushSeconds, directory.waitingBytes > 0 { return flush(now: now) }
                return true
            case .stop(let signal):
                stoppedBy = signal
                drainingSince = Clock.monotonic
                lastEvent = Clock.monotonic
                return true
            }
        }
        if failure == nil { _ = flush(now: Clock.monotonic) }
        if let failure { throw failure }
        logger.info(
            "tensorboard writer stopping; \(events) events, \(unreadable) unreadable, \(directory.recordsWritten) records, \(directory.bytesWritten) bytes in \(directory.runs.count) runs"
        )
        return stoppedBy.map { 128 + $0 } ?? 0
    }
}
