import PBTCore
import PBTWire

/// The population as the event stream tells it: members, workers, counters and the lineage
/// of every member's weights, built by folding events one at a time. No I/O, no clock: the
/// time of each event is the event's own.
///
///     events ──▶ PopulationModel.apply(_:) ──▶ members, workers, counters, lineage
///                        │
///                        ├─▶ pbt monitor   a table redrawn on the terminal
///                        ├─▶ pbt exporter  Prometheus metrics, read at each scrape
///                        └─▶ pbt report, pbt replay  series, lineage and schedule of a run
///
/// A model may start in the middle of an experiment (a monitor attached late): members
/// appear as events name them, and `experiment.progress` (every second) says the population.
/// `experiment.started` starts the model afresh, so it follows an experiment that restarts.
public struct PopulationModel: Sendable {
    /// What to keep besides the current state.
    public struct Options: Sendable, Hashable {
        /// Keep every score and every trained range of every member (for the report).
        public var recordSeries: Bool
        /// Keep the whole history of every member's weights (lineage, schedule). Without it a
        /// long-running watcher keeps only recent steps: what a copy needs (the copied score).
        public var trackLineage: Bool

        public init(recordSeries: Bool = false, trackLineage: Bool = true) {
            self.recordSeries = recordSeries
            self.trackLineage = trackLineage
        }
    }

    /// What a member is doing, as far as the events tell.
    public enum MemberState: Sendable, Hashable {
        /// Known to exist (from the population size), not yet named by an event.
        case unknown
        /// Queued for its next stage, or being decided on.
        case waiting
        case training(worker: String)
        case evaluating(worker: String)
        case exploring(worker: String)
        case finished
        case failed

        /// The state's name, as in the monitor and the `pbt_members{state=…}` metric.
        public var name: String {
            switch self {
            case .unknown: "unknown"
            case .waiting: "waiting"
            case .training: "training"
            case .evaluating: "evaluating"
            case .exploring: "exploring"
            case .finished: "finished"
            case .failed: "failed"
            }
        }

        /// Every state name, in the order the monitor and the exporter list them.
        public static let names = ["training", "evaluating", "exploring", "waiting", "finished", "failed", "unknown"]

        /// The worker holding the member, if one does.
        public var worker: String? {
            switch self {
            case .training(let worker), .evaluating(let worker), .exploring(let worker): worker
            default: nil
            }
        }
    }

    /// A member's latest exploit: whose weights it copied, at which step.
    public struct Exploit: Sendable, Hashable {
        public var time: Double
        public var donor: Int
        public var step: Int
        /// The donor's score at that step, which the member now has.
        public var copiedScore: Double?
        /// Per hyperparameter, what explore did (`×1.2`, `resampled`, …).
        public var operations: [String: String]
    }

    /// One row of the population table.
    public struct Member: Sendable, Hashable {
        public let id: Int
        public internal(set) var state: MemberState = .unknown
        /// The step its weights are at.
        public internal(set) var step: Int?
        /// The latest score of its weights, and the step it was measured at.
        public internal(set) var score: Double?
        public internal(set) var scoreStep: Int?
        public internal(set) var hyperparameters: [String: JSONValue] = [:]
        public internal(set) var lastExploit: Exploit?
        public internal(set) var exploits = 0
        public internal(set) var failures = 0
        /// What its trainer last reported.
        public internal(set) var metrics: [String: Double] = [:]

        init(id: Int) {
            self.id = id
        }
    }

    /// A worker the selector told of (`trainer.joined`, …) or that was handed a member.
    public struct Worker: Sendable, Hashable {
        public let name: String
        public internal(set) var role: String
        /// The members it holds, oldest first: one for a trainer; an evaluator or mutator of
        /// instant tasks may be handed several at once.
        public internal(set) var held: [Int] = []
        /// The member it works on, if any (the oldest it holds).
        public var member: Int? { held.first }
        /// When it last took or handed in a member.
        public internal(set) var since: Double
        /// Tasks it was handed.
        public internal(set) var tasks = 0
        /// Failed tasks charged to it: `member.failed` names the worker that reported the
        /// failure, or the trainer whose lease expired.
        public internal(set) var failures = 0
        /// Until when it gets no work, after failing too many tasks in a row (`ROLE.benched`).
        public internal(set) var benchedUntil: Double?

        /// Whether it is benched at `time`.
        public func isBenched(at time: Double) -> Bool { (benchedUntil ?? -.infinity) > time }
    }

    /// The latest `experiment.progress`.
    public struct Progress: Sendable, Hashable {
        public var time: Double
        public var seconds: Double
        public var steps: Int
        public var stepsPerSecond: Double
        public var bestMember: Int?
        public var bestScore: Double?
        public var trainers: Int
        public var busyTrainers: Int
        public var membersFinished: Int
        public var population: Int
        public var exploits: Int
        /// Nil from a selector that did not say.
        public var evaluators: Int?
        public var mutators: Int?
    }

    /// `experiment.finished`.
    public struct Finish: Sendable, Hashable {
        public var time: Double
        public var reason: String
        public var bestMember: Int?
        public var bestScore: Double?
        public var steps: Int
        public var seconds: Double
    }

    /// Counts of what happened since the model started (the experiment's, since it started).
    public struct Counters: Sendable, Hashable {
        /// Member-steps trained (`member.trained`: step − from_step).
        public var steps = 0
        public var exploits = 0
        public var leaseExpiries = 0
        public var leaseReleases = 0
        /// Results the selector dropped (`result.dropped`), and by reason (`stale_version`, …).
        /// The events are rate-limited at the source and carry running counts, which these follow.
        public var resultsDropped = 0
        public var resultsDroppedByReason: [String: Int] = [:]
        /// Workers benched for failing tasks (`trainer.benched`, …).
        public var benchings = 0
        /// `frame.dropped` events by reason.
        public var framesDropped: [String: Int] = [:]
        public var failures = 0
        public var givenUp = 0
    }

    /// Something measured while folding an event, for metrics.
    public enum Observation: Sendable, Hashable {
        /// Seconds a member spent between handing in a training task and getting the next
        /// one: its evaluation, decision, explore and time in queues.
        case turnaround(member: Int, seconds: Double)
        /// A new experiment started: what was known is forgotten.
        case restarted(name: String)
        /// Frames a stage dropped since the last report of that reason (drop events are
        /// rate-limited at the source and carry running counts).
        case framesDropped(stage: String, reason: String, count: Int)
        /// Results the selector dropped since the last report of that reason (likewise).
        case resultsDropped(reason: String, count: Int)
    }

    /// One score of a member in the series (`recordSeries`).
    public struct ScorePoint: Sendable, Hashable {
        public var time: Double
        public var step: Int
        public var score: Double
        /// Set when the point is a copy: the member took this donor's weights, with this score.
        public var donor: Int?
    }

    /// One training task's range and hyperparameters in the series (`recordSeries`).
    public struct TrainedRange: Sendable, Hashable {
        public var time: Double
        /// Its event's place among the events applied (events of one batch share a time).
        public var order: Int
        public var fromStep: Int
        public var toStep: Int
        public var hyperparameters: [String: JSONValue]
        public var trainer: String
    }

    /// One exploit in the series (`recordSeries`).
    public struct ExploitRecord: Sendable, Hashable {
        public var time: Double
        /// Its event's place among the events applied (events of one batch share a time).
        public var order: Int
        public var member: Int
        public var donor: Int
        public var step: Int
        public var old: [String: JSONValue]
        public var copied: [String: JSONValue]
        public var new: [String: JSONValue]
        public var operations: [String: String]
    }

    public let options: Options
    /// The experiment's name (from `experiment.started` or `experiment.progress`).
    public internal(set) var name: String?
    public internal(set) var population: Int?
    public internal(set) var hyperparameterNames: [String] = []
    public internal(set) var startTime: Double?
    public internal(set) var members: [Int: Member] = [:]
    public internal(set) var workers: [String: Worker] = [:]
    public internal(set) var progress: Progress?
    public internal(set) var finish: Finish?
    public internal(set) var counters = Counters()
    /// Every event folded, since the model was made (not reset by a restart).
    public internal(set) var eventsSeen = 0
    /// Events about a member (or from a donor) at or past the population size, ignored.
    public internal(set) var membersOutsidePopulation = 0
    /// The drop counts each worker reported so far, by reason (`worker/reason`).
    var droppedSoFar: [String: Int] = [:]
    /// The selector's result-drop counts reported so far, by reason (they start again from 0
    /// when the selector restarts).
    var resultDropsSoFar: [String: Int] = [:]
    public internal(set) var eventsByTopic: [String: Int] = [:]
    public internal(set) var lastEventTime: Double?
    /// Times the experiment started afresh (or resumed) under this model.
    public internal(set) var restarts = 0
    public internal(set) var resumes = 0
    /// Member-steps trained and exploits decided since the latest progress event: the selector's
    /// totals are its progress figures plus these (a watcher that attached late saw no earlier event).
    var stepsSinceProgress = 0
    var exploitsSinceProgress = 0
    /// Recent turnarounds in seconds, newest last (at most 512).
    public internal(set) var recentTurnarounds: [Double] = []
    public internal(set) var scoreSeries: [Int: [ScorePoint]] = [:]
    public internal(set) var trainedSeries: [Int: [TrainedRange]] = [:]
    public internal(set) var exploitLog: [ExploitRecord] = []

    // Lineage: each member's current weights as a persistent list of trained ranges.
    var heads: [Int: TraceNode] = [:]
    var headCheckpoint: [Int: String] = [:]
    var byCheckpoint: [String: TraceNode] = [:]
    /// Each member's last few checkpoints and the weights each held: an exploit copies the
    /// donor's, and two members' checkpoints can be byte-identical (one name: a workload whose
    /// state does not depend on its hyperparameters), so the name alone may point at another
    /// member's history.
    var heldCheckpoints: [Int: [(checkpoint: String, node: TraceNode)]] = [:]
    static let heldCheckpointsKept = 8
    var snapshots: [Int: [Int: TraceNode]] = [:]
    var pendingCopies: [Int: TraceNode] = [:]
    var handedIn: [Int: Double] = [:]

    public init(options: Options = Options()) {
        self.options = options
    }

    /// Members in id order, with a row for every member the population size implies.
    public var rows: [Member] { firstRows(Int.max) }

    /// The first `count` of `rows`, made without the others (a population of a million asks
    /// for a million rows).
    public func firstRows(_ count: Int) -> [Member] {
        let known = population.map { max($0, (members.keys.max() ?? -1) + 1) } ?? ((members.keys.max() ?? -1) + 1)
        return (0..<min(known, max(0, count))).map { members[$0] ?? Member(id: $0) }
    }

    /// How many members are in each state (every state named, zeros included).
    public var membersByState: [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: MemberState.names.map { ($0, 0) })
        for member in rows { counts[member.state.name, default: 0] += 1 }
        return counts
    }

    /// Connected workers of `role` and how many of them hold a member.
    public func workerCount(_ role: String) -> (all: Int, busy: Int) {
        let matching = workers.values.filter { $0.role == role }
        return (matching.count, matching.filter { $0.member != nil }.count)
    }

    /// Workers of `role` connected: those the stream told of, or the selector's own count in
    /// its last `experiment.progress` while the experiment runs (a watcher attached mid-run
    /// missed their `joined` events), whichever is more.
    public func connectedCount(_ role: WorkerRole) -> Int {
        let told = workerCount(role.description).all
        guard finish == nil, let progress else { return told }
        let counted =
            switch role {
            case .trainer: progress.trainers
            case .evaluator: progress.evaluators ?? 0
            case .mutator: progress.mutators ?? 0
            }
        return max(told, counted)
    }

    /// Trainers holding a member: the selector's count while the experiment runs, else those
    /// the stream told of.
    public var busyTrainers: Int {
        guard finish == nil, let progress else { return workerCount("trainer").busy }
        return progress.busyTrainers
    }

    /// Member-steps trained in the experiment: the selector's count where known.
    public var totalSteps: Int {
        if let finish { return finish.steps }
        guard let progress else { return counters.steps }
        return Self.saturatingSum(progress.steps, stepsSinceProgress)
    }

    /// Exploits decided in the experiment (as `summary.json` counts them).
    public var totalExploits: Int {
        guard let progress else { return max(counters.exploits, exploitsSinceProgress) }
        return Self.saturatingSum(progress.exploits, exploitsSinceProgress)
    }

    /// The best member and score: the selector's word (progress, finish) when there is one.
    public var best: (member: Int, score: Double)? {
        if let finish, let member = finish.bestMember, let score = finish.bestScore { return (member, score) }
        if let progress, let member = progress.bestMember, let score = progress.bestScore { return (member, score) }
        return nil
    }

    // MARK: Folding

    /// Folds one event into the model; returns what it measured.
    @discardableResult
    public mutating func apply(_ timed: TimedEvent) -> [Observation] {
        var observations: [Observation] = []
        let time = timed.time
        eventsSeen += 1
        eventsByTopic[timed.topic.rawValue, default: 0] += 1
        lastEventTime = time
        // Member ids run below the population: an event about another member (anyone may
        // publish to the proxy) would add rows that do not exist. (A dropped result may name
        // any member: it is counted, never a row.)
        if let population, timed.event.namesMemberOutside(population: population) {
            membersOutsidePopulation += 1
            return observations
        }
        switch timed.event {
        case .experimentStarted(let name, let population, let hyperparameters):
            restart(name: name, time: time)
            self.population = population
            hyperparameterNames = hyperparameters
            observations.append(.restarted(name: name))
        case .experimentResumed:
            resumes += 1
            resultDropsSoFar = [:]  // a new selector process counts its drops afresh
            finish = nil
            startTime = nil  // a resumed selector may count its seconds afresh
        case .progress(let progress):
            observations += progressed(progress, at: time)
        case .experimentFinished(let reason, let best, let score, let steps, let seconds):
            finish = Finish(
                time: time, reason: reason.rawValue, bestMember: best, bestScore: score, steps: steps, seconds: seconds)
            for id in members.keys where members[id]?.state.worker != nil { members[id]?.state = .waiting }
            for name in workers.keys { workers[name]?.held = [] }
        case .workerJoined(let role, let worker):
            workers[worker] = Worker(name: worker, role: role.description, since: time)
        case .workerLeft(_, let worker, _):
            workers[worker] = nil
        case .workerBenched(let role, let worker, _, let seconds):
            counters.benchings += 1
            var record = workers[worker] ?? Worker(name: worker, role: role.description, since: time)
            record.benchedUntil = time + max(0, seconds)
            workers[worker] = record
        case .memberAssigned(let member, _, let role, let worker, let step):
            observations += assigned(member, to: worker, role: role, step: step, at: time)
        case .memberTrained(let trained):
            self.trained(trained, at: time)
        case .memberScored(let member, _, let step, let score, let evaluator):
            scored(member, step: step, score: score, by: evaluator, at: time)
        case .memberDecided(let member, _, let comparedAt, let decision, _, _):
            // An exploit goes to a mutator (which one, its explore will say).
            if case .exploit(let donor) = decision {
                update(member) { $0.state = .exploring(worker: "") }
                pendingCopies[member] = snapshots[donor]?[comparedAt]
                exploitsSinceProgress += 1
            } else {
                update(member) { $0.state = .waiting }
            }
        case .memberExploited(let exploited):
            self.exploited(exploited, at: time)
        case .memberFinished(let member, let step, let score):
            update(member) {
                $0.state = .finished
                $0.step = step
                if let score { $0.score = score }
            }
            handedIn[member] = nil
        case .memberFailed(let member, _, let worker, _, let givenUp):
            failed(member, reportedBy: worker, givenUp: givenUp, at: time)
        case .leaseExpired(let member, _, _, let worker):
            counters.leaseExpiries += 1
            free(worker: worker, of: member, at: time)
            update(member) { $0.state = .waiting }
        case .leaseReleased(let member, _, _, let worker, _):
            counters.leaseReleases += 1
            free(worker: worker, of: member, at: time)
            update(member) { $0.state = .waiting }
        case .resultDropped(_, _, _, let reason, _, let count, _):
            observations += resultsDropped(reason: reason, count: count)
        case .frameDropped(let stage, let worker, let reason, _, let count):
            observations += framesDropped(stage: stage, worker: worker, reason: reason, count: count)
        case .stageStarted, .stageStopped, .checkpointsCollected, .peerRefused:
            break
        }
        return observations
    }

    mutating func restart(name: String, time: Double) {
        if self.name != nil || !members.isEmpty { restarts += 1 }
        let kept = (eventsSeen, eventsByTopic, lastEventTime, restarts, resumes)
        self = PopulationModel(options: options)
        (eventsSeen, eventsByTopic, lastEventTime, restarts, resumes) = kept
        self.name = name
        startTime = time
    }

    /// A progress event; it also tells of a new experiment whose `experiment.started` the
    /// stream lost (a publisher's first messages can go before its connection is up): another
    /// name, or a start time that moved.
    mutating func progressed(_ event: PBTEvent.Progress, at time: Double) -> [Observation] {
        var observations: [Observation] = []
        let started = time - event.seconds
        let name = event.experiment.isEmpty ? nil : event.experiment
        if let name, let current = self.name, current != name || (startTime.map { abs($0 - started) > 2 } ?? false) {
            restart(name: name, time: started)
            observations.append(.restarted(name: name))
        }
        let progress = Progress(
            time: time, seconds: event.seconds, steps: event.steps, stepsPerSecond: event.stepsPerSecond,
            bestMember: event.bestMember, bestScore: event.bestScore, trainers: event.trainers,
            busyTrainers: event.busyTrainers, membersFinished: event.membersFinished, population: event.population,
            exploits: event.exploits, evaluators: event.evaluators, mutators: event.mutators)
        self.progress = progress
        stepsSinceProgress = 0
        exploitsSinceProgress = 0
        population = progress.population
        if let name, self.name == nil { self.name = name }
        if startTime == nil { startTime = started }
        forgetPassedSteps()
        return observations
    }

    /// A worker was handed a member.
    mutating func assigned(
        _ member: Int, to worker: String, role: WorkerRole, step: Int, at time: Double
    )
        -> [Observation]
    {
        // A member is held by one worker at a time: whoever held it before (an event that
        // said so may have been lost) holds it no more.
        if let previous = members[member]?.state.worker, previous != worker,
            let index = workers[previous]?.held.firstIndex(of: member)
        {
            workers[previous]?.held.remove(at: index)
        }
        // A trainer asks for its next member once it has handed the last one on: that one
        // is at an evaluator now (which one, only its score will say).
        if role == .trainer, let last = workers[worker]?.held.first, last != member,
            members[last]?.state == .training(worker: worker)
        {
            update(last) { $0.state = .evaluating(worker: "") }
        }
        switch role {
        case .trainer: update(member) { $0.state = .training(worker: worker) }
        case .evaluator: update(member) { $0.state = .evaluating(worker: worker) }
        case .mutator: update(member) { $0.state = .exploring(worker: worker) }
        }
        update(member) { $0.step = step }
        var record = workers[worker] ?? Worker(name: worker, role: role.description, since: time)
        if role == .trainer {
            record.held = [member]  // a trainer holds one task
        } else if !record.held.contains(member) {
            record.held.append(member)
        }
        record.since = time
        record.tasks += 1
        workers[worker] = record
        guard role == .trainer, let handed = handedIn.removeValue(forKey: member) else { return [] }
        let seconds = max(0, time - handed)
        recentTurnarounds.append(seconds)
        if recentTurnarounds.count > 512 { recentTurnarounds.removeFirst(recentTurnarounds.count - 512) }
        return [.turnaround(member: member, seconds: seconds)]
    }

    mutating func trained(_ event: PBTEvent.MemberTrained, at time: Double) {
        let member = event.member
        let hyperparameters = event.hyperparameters.jsonValues
        // The totals stop at Int.max rather than trap, whatever a publisher put in the fields.
        let trained = event.stepsTrained
        counters.steps = Self.saturatingSum(counters.steps, trained)
        stepsSinceProgress = Self.saturatingSum(stepsSinceProgress, trained)
        update(member) {
            $0.step = event.step
            $0.hyperparameters = hyperparameters
            $0.metrics = event.metrics.filter { !$0.value.isNaN }  // a metric written as null is not known
            $0.state = .waiting
        }
        free(worker: event.trainer, of: member, at: time)
        handedIn[member] = time
        var previous = heads[member]
        if previous?.step != event.fromStep { previous = nil }
        let node = TraceNode(
            member: member, fromStep: event.fromStep, step: event.step, hyperparameters: hyperparameters, score: nil,
            previous: options.trackLineage ? previous : nil)
        heads[member] = node
        snapshots[member, default: [:]][event.step] = node
        headCheckpoint[member] = event.checkpoint
        byCheckpoint[event.checkpoint] = node
        hold(event.checkpoint, node, by: member)
        if options.recordSeries {
            trainedSeries[member, default: []].append(
                TrainedRange(
                    time: time, order: eventsSeen, fromStep: event.fromStep, toStep: event.step,
                    hyperparameters: hyperparameters,
                    trainer: event.trainer))
        }
    }

    mutating func scored(_ member: Int, step: Int, score: Double, by evaluator: String, at time: Double) {
        update(member) {
            $0.score = score
            $0.scoreStep = step
            $0.step = step
            $0.state = .waiting
        }
        free(worker: evaluator, of: member, at: time)
        if var head = heads[member], head.step == step {
            head = head.scored(score)
            heads[member] = head
            snapshots[member, default: [:]][step] = head
            if let checkpoint = headCheckpoint[member] {
                byCheckpoint[checkpoint] = head
                if let index = heldCheckpoints[member]?.lastIndex(where: { $0.checkpoint == checkpoint }) {
                    heldCheckpoints[member]?[index].node = head
                }
            }
        }
        if options.recordSeries {
            scoreSeries[member, default: []].append(ScorePoint(time: time, step: step, score: score, donor: nil))
        }
    }

    mutating func exploited(_ event: PBTEvent.MemberExploited, at time: Double) {
        let member = event.member
        // The donor's weights at the compared step as the decision saw them; else the donor's
        // own recent checkpoint of that name (not another member's: names of byte-identical
        // checkpoints are shared, and a donor may itself have copied at the same step since).
        let copy =
            pendingCopies[member]
            ?? heldCheckpoints[event.donor]?.last(where: { $0.checkpoint == event.checkpoint })?.node
            ?? byCheckpoint[event.checkpoint] ?? snapshots[event.donor]?[event.step]
        pendingCopies[member] = nil
        heads[member] = copy
        headCheckpoint[member] = event.checkpoint
        if let copy { hold(event.checkpoint, copy, by: member) }
        counters.exploits += 1
        let operations = event.changes.mapValues(\.operation)
        let new = event.new.jsonValues
        let copiedScore = copy?.score
        let holder = members[member]?.state.worker
        update(member) {
            $0.exploits += 1
            $0.step = event.step
            $0.hyperparameters = new
            $0.state = .waiting
            $0.lastExploit = Exploit(
                time: time, donor: event.donor, step: event.step, copiedScore: copiedScore, operations: operations)
            if let copiedScore {
                $0.score = copiedScore
                $0.scoreStep = event.step
            }
        }
        free(worker: holder, of: member, at: time)
        if options.recordSeries {
            exploitLog.append(
                ExploitRecord(
                    time: time, order: eventsSeen, member: member, donor: event.donor, step: event.step,
                    old: event.old.jsonValues,
                    copied: event.copied.jsonValues, new: new, operations: operations))
            if let copiedScore {
                scoreSeries[member, default: []].append(
                    ScorePoint(time: time, step: event.step, score: copiedScore, donor: event.donor))
            }
        }
    }

    mutating func failed(_ member: Int, reportedBy reporter: String, givenUp: Bool, at time: Double) {
        counters.failures += 1
        if givenUp { counters.givenUp += 1 }
        let holder = members[member]?.state.worker
        update(member) {
            $0.failures += 1
            $0.state = givenUp ? .failed : .waiting
        }
        free(worker: holder, of: member, at: time)
        // The worker that reported it (an evaluator, a mutator, or the trainer); empty for
        // an expired lease whose holder is unknown.
        if !reporter.isEmpty {
            free(worker: reporter, of: member, at: time)
            workers[reporter]?.failures += 1
        }
    }

    /// `result.dropped`, rate-limited at the source: `count` says how many of the reason so far.
    mutating func resultsDropped(reason: String, count: Int) -> [Observation] {
        let delta: Int
        if count > 0 {
            let before = resultDropsSoFar[reason] ?? 0
            delta = count >= before ? count - before : count  // fewer: the selector restarted
            resultDropsSoFar[reason] = count
        } else {
            delta = 1
        }
        counters.resultsDropped += delta
        counters.resultsDroppedByReason[reason, default: 0] += delta
        return delta > 0 ? [.resultsDropped(reason: reason, count: delta)] : []
    }

    /// `frame.dropped`, rate-limited at the source: `count` says how many of the reason so far.
    mutating func framesDropped(stage: String, worker: String, reason: String, count: Int) -> [Observation] {
        let key = "\(worker)/\(reason)"
        let delta = count > 0 ? max(count - (droppedSoFar[key] ?? 0), 0) : 1
        if count > 0 { droppedSoFar[key] = max(count, droppedSoFar[key] ?? 0) }
        counters.framesDropped[reason, default: 0] += delta
        return delta > 0 ? [.framesDropped(stage: stage, reason: reason, count: delta)] : []
    }

    /// `a + b`, or Int.max when that does not fit.
    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// Changes a member's row in place (no copy of its dictionaries).
    mutating func update(_ id: Int, _ change: (inout Member) -> Void) {
        func changeKnown(_ member: inout Member) {
            if member.state == .unknown { member.state = .waiting }
            change(&member)
        }
        changeKnown(&members[id, default: Member(id: id)])
    }

    /// The worker that held `member` holds it no more.
    mutating func free(worker name: String?, of member: Int, at time: Double) {
        guard let name, let index = workers[name]?.held.firstIndex(of: member) else { return }
        workers[name]?.held.remove(at: index)
        workers[name]?.since = time
    }

    /// Records that `member` holds `checkpoint`, with the weights `node` (its last few kept).
    mutating func hold(_ checkpoint: String, _ node: TraceNode, by member: Int) {
        var held = heldCheckpoints[member] ?? []
        held.removeAll { $0.checkpoint == checkpoint }
        held.append((checkpoint, node))
        if held.count > Self.heldCheckpointsKept { held.removeFirst(held.count - Self.heldCheckpointsKept) }
        heldCheckpoints[member] = held
    }

    /// Forgets lineage snapshots below every live member's step: nobody can copy them any more
    /// (the selector compares a member at its own step or where it last had company).
    mutating func forgetPassedSteps() {
        guard let population, members.count >= population else { return }
        let live = members.values.filter { $0.state != .finished && $0.state != .failed }
        guard let lowest = live.compactMap(\.step).min(), live.allSatisfy({ $0.step != nil }) else { return }
        for id in snapshots.keys {
            snapshots[id] = snapshots[id]?.filter { $0.key >= lowest }
        }
        byCheckpoint = byCheckpoint.filter { $0.value.step >= lowest }
    }
}
