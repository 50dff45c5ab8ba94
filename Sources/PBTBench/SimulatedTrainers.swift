import Foundation
import PBTCore
import PBTStore
import PBTSystem
import PBTWire
import ZeroMQ

/// Many trainers in one process, for `pbt bench scale`: each a DEALER to the selector that
/// speaks the wire protocol as `pbt trainer` does (ready, welcome, train, trained pushed to the
/// evaluators, ready with the member handed on, progress heartbeats), with steps that take a
/// time drawn from [low, high] and do nothing. One `zmq_poll` over every DEALER; the trained
/// results go out on one PUSH to the evaluators' inlets. Each checkpoint named is one file
/// written once to the selector's store, so the evaluator's check of it passes.
public struct SimulatedTrainers {
    let connect: String
    let count: Int
    let stepRange: ClosedRange<Double>
    let checkpoints: String
    let seconds: Double
    let output: String
    let prefix: String

    public init(
        connect: String, count: Int, stepRange: ClosedRange<Double>, checkpoints: String, seconds: Double,
        output: String, prefix: String
    ) {
        self.connect = connect
        self.count = count
        self.stepRange = stepRange
        self.checkpoints = checkpoints
        self.seconds = seconds
        self.output = output
        self.prefix = prefix
    }

    private struct Trainer {
        let socket: ZMQSocket
        let name: String
        var experimentID = ""
        var received = 0
        var task: TrainTask?
        var due = 0.0
        var handed: HandedOn?
        var handedAt: Double?
        var lastSent = -Double.infinity
        var busySeconds = 0.0
        var stepSeconds = 0.0
    }

    /// Runs for `seconds` (or until the selector says the experiment finished), then writes the
    /// turnarounds (one a line, seconds) and the busy time to `output`.
    public func run() throws {
        let context = try ZMQContext()
        let reference = try CheckpointStore(directory: checkpoints).write(Array("pbt bench scale".utf8))
        let push = try ZMQSocket(context, .push, linger: 0)
        try push.setSendHighWaterMark(100_000)
        var routes = EvaluatorRoutes(generation: 0, endpoints: [])
        var trainers: [Trainer] = []
        for index in 0..<count {
            let socket = try ZMQSocket(context, .dealer, linger: 0)
            try socket.setRoutingID(Array("\(prefix)-\(index)#sim".utf8))
            try socket.connect(connect)
            trainers.append(Trainer(socket: socket, name: "\(prefix)-\(index)"))
        }
        var random = SplitMix64(seed: UInt64(truncatingIfNeeded: prefix.hashValue))
        var turnarounds: [Double] = []
        var finished = false
        let started = Clock.monotonic
        while !finished && Clock.monotonic - started < seconds {
            let now = Clock.monotonic
            // Steps that are due: push the result, hand the member on with the next credit.
            for index in trainers.indices {
                guard let task = trainers[index].task, trainers[index].due <= now else { continue }
                let result = TrainResult(
                    member: task.member, version: task.version, fromStep: task.step, step: task.step + task.steps,
                    checkpoint: reference, hyperparameters: task.hyperparameters,
                    metrics: ["score": task.hyperparameters.sorted.compactMap { $0.value.number }.reduce(0, +)],
                    seconds: trainers[index].stepSeconds, trainer: trainers[index].name)
                _ = try push.send([WireProtocol.encode(.trained(result))], dontWait: true)
                trainers[index].handed = HandedOn(member: task.member, version: task.version, step: result.step)
                trainers[index].task = nil
                send(&trainers[index], routes: routes.generation, now: now)
                trainers[index].handedAt = now
            }
            // Heartbeats: ready while idle, progress while busy.
            for index in trainers.indices where now - trainers[index].lastSent >= 1 {
                if let task = trainers[index].task {
                    _ = try? trainers[index].socket.send(
                        [WireProtocol.encode(.progress(member: task.member, version: task.version, step: task.step))],
                        dontWait: true)
                    trainers[index].lastSent = now
                } else {
                    send(&trainers[index], routes: routes.generation, now: now)
                }
            }
            // Steps end within a millisecond of their time: a wait of at least 1 ms keeps a process
            // of hundreds of trainers from spinning (a message still wakes the poll at once).
            let nextDue = trainers.compactMap { $0.task == nil ? nil : $0.due }.min() ?? now + 0.01
            let wait = max(1, min(10, Int((nextDue - Clock.monotonic) * 1000)))
            let readable = try ZMQPoll.readable(trainers.map(\.socket), timeoutMilliseconds: wait)
            for index in trainers.indices where readable[index] {
                while let frames = try trainers[index].socket.receive(dontWait: true) {
                    guard frames.count == 1, let command = try? WireProtocol.decodeCommand(frames[0]) else { continue }
                    let at = Clock.monotonic
                    switch command {
                    case .welcome(let welcome):
                        trainers[index].experimentID = welcome.experimentID
                        if welcome.evaluators.generation != routes.generation {
                            connectRoutes(push, from: routes, to: welcome.evaluators)
                            routes = welcome.evaluators
                        }
                        send(&trainers[index], routes: routes.generation, now: at)
                    case .evaluators(let new):
                        if new.generation != routes.generation {
                            connectRoutes(push, from: routes, to: new)
                            routes = new
                        }
                    case .train(let task):
                        trainers[index].received += 1
                        if let handedAt = trainers[index].handedAt { turnarounds.append(at - handedAt) }
                        trainers[index].handedAt = nil
                        let step = Double.random(in: stepRange, using: &random)
                        trainers[index].task = task
                        trainers[index].due = at + step * Double(task.steps)
                        trainers[index].busySeconds += step * Double(task.steps)
                        trainers[index].stepSeconds = step * Double(task.steps)
                    case .finished:
                        finished = true
                    case .explore:
                        break
                    }
                }
            }
        }
        let elapsed = Clock.monotonic - started
        let busy = trainers.reduce(0) { $0 + $1.busySeconds }
        for trainer in trainers {
            _ = try? trainer.socket.send([WireProtocol.encode(.goodbye)], dontWait: true)
            trainer.socket.close()
        }
        push.close()
        let lines = ["busy \(busy) \(elapsed) \(count)"] + turnarounds.map { String($0) }
        try lines.joined(separator: "\n").write(toFile: output, atomically: true, encoding: .utf8)
    }

    private func send(_ trainer: inout Trainer, routes: Int, now: Double) {
        let ready = Ready(
            role: .trainer, received: trainer.received, name: trainer.name, experimentID: trainer.experimentID,
            routes: routes, handed: trainer.handed)
        _ = try? trainer.socket.send([WireProtocol.encode(.ready(ready))], dontWait: true)
        trainer.handed = nil
        trainer.lastSent = now
    }

    private func connectRoutes(_ push: ZMQSocket, from old: EvaluatorRoutes, to new: EvaluatorRoutes) {
        let before = Set(old.endpoints.map(\.endpoint))
        let after = Set(new.endpoints.map(\.endpoint))
        for endpoint in before.subtracting(after) { try? push.disconnect(endpoint) }
        for endpoint in after.subtracting(before) { try? push.connect(endpoint) }
    }
}
