import PBTCore
import PBTWire
import Testing

/// `experiment.progress` names its experiment, so that a monitor attached mid-run knows it.
@Suite("Progress event")
struct ProgressEventTests {
    @Test func progressNamesTheExperiment() throws {
        let settings = SelectorSettings(
            experimentID: "x", seed: 1, interval: 4, stop: StopCondition(maxSteps: 4), exploit: .none, explores: false)
        var machine = SelectorMachine(settings: settings, name: "digits", initial: [Hyperparameters()])
        _ = machine.start(now: 0)
        let json = EventJSON.encode(.progress(machine.progress(now: 1)), time: 1)
        guard case .progress(let progress) = try EventJSON.decode(json).event else {
            Issue.record("not a progress event: \(json)")
            return
        }
        #expect(progress.experiment == "digits")
        #expect(progress.population == 1)
        #expect(progress.evaluators == 0 && progress.mutators == 0)
    }

    /// A trainer that was handed a member is busy until its credit says it handed it on.
    @Test func progressCountsTrainersAndBusyOnes() throws {
        let settings = SelectorSettings(
            experimentID: "x", seed: 1, interval: 4, stop: StopCondition(maxSteps: 8), exploit: .none, explores: false)
        var machine = SelectorMachine(
            settings: settings, name: "digits", initial: [Hyperparameters(), Hyperparameters()])
        _ = machine.start(now: 0)
        let trainer = WorkerID([1])
        _ = machine.handle(
            .ready(Ready(role: .trainer, received: 0, name: "t", experimentID: "x")), from: trainer, now: 0)
        _ = machine.handle(
            .ready(Ready(role: .trainer, received: 0, name: "t2", experimentID: "x")), from: WorkerID([2]), now: 0)
        // As a reader of the stream gets it: written, then read back through the contract.
        func progress(_ now: Double) throws -> PBTEvent.Progress {
            let json = EventJSON.encode(.progress(machine.progress(now: now)), time: now)
            guard case .progress(let progress) = try EventJSON.decode(json).event else {
                throw EventDecodingError("not a progress event: \(json)")
            }
            return progress
        }
        // No evaluator yet: nobody trains.
        var object = try progress(1)
        #expect(object.trainers == 2)
        #expect(object.busyTrainers == 0)
        let actions = machine.handle(
            .ready(
                Ready(
                    role: .evaluator, received: 0, name: "e", experimentID: "x",
                    inlet: PeerEndpoint(endpoint: "tcp://e:1"))),
            from: WorkerID([3]), now: 1)
        var tasks: [(WorkerID, TrainTask)] = []
        for case .send(let worker, .train(let task)) in actions { tasks.append((worker, task)) }
        #expect(tasks.count == 2)
        object = try progress(2)
        #expect(object.busyTrainers == 2)
        let (worker, task) = try #require(tasks.first { $0.0 == trainer })
        _ = machine.handle(
            .ready(
                Ready(
                    role: .trainer, received: 1, name: "t", experimentID: "x",
                    routes: machine.evaluatorRoutes.generation,
                    handed: HandedOn(member: task.member, version: task.version, step: task.step + task.steps))),
            from: worker, now: 3)
        object = try progress(3)
        #expect(object.busyTrainers == 1, "a member being scored holds no trainer")
        #expect(object.trainers == 2)
        #expect(object.population == 2)
    }

    @Test func aProgressWithoutANameLeavesTheFieldOut() throws {
        let progress = PBTEvent.Progress(
            seconds: 1, steps: 2, stepsPerSecond: 2, bestMember: nil, bestScore: nil, trainers: 1, busyTrainers: 0,
            membersFinished: 0, population: 2, exploits: 0)
        #expect(!EventJSON.encode(.progress(progress), time: 1).contains("\"experiment\""))
    }
}
