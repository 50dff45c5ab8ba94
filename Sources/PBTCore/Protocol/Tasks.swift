/// The messages of a member's cycle, as values (their bytes are in PBTWire).
///
///     selector ──train──▶ trainer ──trained──▶ evaluator ──scored──▶ selector
///         ▲                  │ ready (credit; "handed m/v on")          │ exploit
///         └──────────────────┘                                          ▼
///     selector ◀──────────────────explored────────────────────────── mutator ◀──explore──
///
/// Train tasks and credits travel between the selector's ROUTER and a trainer's DEALER;
/// every other leg is PUSH → PULL straight to the next stage.

/// Train `member` from `checkpoint` (none: a fresh start) for `steps` steps.
public struct TrainTask: Sendable, Hashable {
    public var member: Int
    public var version: Int
    /// The step the checkpoint is at (absolute: steps the member's weights have trained).
    public var step: Int
    /// How many steps to train.
    public var steps: Int
    /// The checkpoint to restore (a sha256 in hex), or nil to initialise from `seed`.
    public var checkpoint: String?
    public var hyperparameters: Hyperparameters
    /// The member's seed: initialisation uses it as is, training derives from it and the step.
    public var seed: UInt64

    public init(
        member: Int, version: Int, step: Int, steps: Int, checkpoint: String?, hyperparameters: Hyperparameters,
        seed: UInt64
    ) {
        self.member = member
        self.version = version
        self.step = step
        self.steps = steps
        self.checkpoint = checkpoint
        self.hyperparameters = hyperparameters
        self.seed = seed
    }
}

/// Explore the hyperparameters `member` copied from `donor`: the selector's exploit decision,
/// pushed to a mutator.
public struct ExploreTask: Sendable, Hashable {
    public var member: Int
    public var version: Int
    public var donor: Int
    /// The step the member now stands at (the donor's, where they were compared).
    public var step: Int
    /// The donor's checkpoint at that step, which the member now trains on from.
    public var checkpoint: String
    /// The donor's hyperparameters, which the member copied.
    public var hyperparameters: Hyperparameters
    /// Seed for this decision's generator.
    public var seed: UInt64

    public init(
        member: Int, version: Int, donor: Int, step: Int, checkpoint: String, hyperparameters: Hyperparameters,
        seed: UInt64
    ) {
        self.member = member
        self.version = version
        self.donor = donor
        self.step = step
        self.checkpoint = checkpoint
        self.hyperparameters = hyperparameters
        self.seed = seed
    }
}

/// Where a trainer pushes what it trained: the evaluators' inlets (PULL sockets they bind),
/// as the selector knows them.
public struct EvaluatorRoutes: Sendable, Hashable {
    /// Grows with every change, so that a trainer can say which list it holds.
    public var generation: Int
    public var endpoints: [PeerEndpoint]

    public init(generation: Int, endpoints: [PeerEndpoint]) {
        self.generation = generation
        self.endpoints = endpoints
    }
}

/// A stage's inlet: where it binds its PULL socket, and its CURVE public key (empty without
/// CURVE), so that whoever pushes to it knows which server to expect.
public struct PeerEndpoint: Sendable, Hashable {
    public var endpoint: String
    public var publicKey: [UInt8]

    public init(endpoint: String, publicKey: [UInt8] = []) {
        self.endpoint = endpoint
        self.publicKey = publicKey
    }
}

/// What the selector tells a worker.
public enum WorkerCommand: Sendable, Hashable {
    /// The experiment the worker serves, sent when its `ready` names another one: the
    /// experiment file, where checkpoints are, the selector's inlet (where evaluators and
    /// mutators push their results), and the evaluators' inlets (where trainers push theirs).
    case welcome(Welcome)
    /// Train a member (to a trainer, for one credit).
    case train(TrainTask)
    /// Explore a member's copied hyperparameters (pushed to a mutator's inlet).
    case explore(ExploreTask)
    /// The evaluators' inlets changed (to trainers).
    case evaluators(EvaluatorRoutes)
    /// The experiment is over: no more work will come.
    case finished
}

/// The experiment a worker serves, and where the rest of the pipeline is.
public struct Welcome: Sendable, Hashable {
    public var experimentID: String
    /// The experiment file's bytes (YAML).
    public var experiment: [UInt8]
    /// The checkpoint directory, as the selector sees it.
    public var checkpointDirectory: String
    /// The selector's inlet. A wildcard host (`tcp://0.0.0.0:5558`) means "the host you
    /// reached the selector at".
    public var inlet: String
    /// Where trainers push what they trained.
    public var evaluators: EvaluatorRoutes
    /// The checkpoint service, for a worker that does not see `checkpointDirectory` (its
    /// endpoint, with the same wildcard rule as `inlet`, and its CURVE key), or nil.
    public var store: PeerEndpoint?
    /// The token the selector wrote in `checkpointDirectory/.pbt-store`: a worker that reads
    /// the same token there shares the selector's disk and needs no service.
    public var storeToken: String

    public init(
        experimentID: String, experiment: [UInt8], checkpointDirectory: String, inlet: String,
        evaluators: EvaluatorRoutes, store: PeerEndpoint? = nil, storeToken: String = ""
    ) {
        self.experimentID = experimentID
        self.experiment = experiment
        self.checkpointDirectory = checkpointDirectory
        self.inlet = inlet
        self.evaluators = evaluators
        self.store = store
        self.storeToken = storeToken
    }
}

/// A trainer's account of a finished (or interrupted) task: pushed to an evaluator, which
/// forwards it with the score; an interrupted one goes straight back to the selector.
public struct TrainResult: Sendable, Hashable {
    public var member: Int
    public var version: Int
    /// The step the member's checkpoint was at when training started.
    public var fromStep: Int
    /// The step the new checkpoint is at.
    public var step: Int
    public var checkpoint: String
    /// The hyperparameters it trained with.
    public var hyperparameters: Hyperparameters
    /// What the trainer measured (for example `score`, `loss`).
    public var metrics: [String: Double]
    /// Wall-clock seconds the training took.
    public var seconds: Double
    /// True when the trainer stopped early (for example on SIGTERM) and hands the member back.
    public var interrupted: Bool
    /// The trainer's name, for the event log.
    public var trainer: String

    public init(
        member: Int, version: Int, fromStep: Int, step: Int, checkpoint: String,
        hyperparameters: Hyperparameters = Hyperparameters(),
        metrics: [String: Double], seconds: Double, interrupted: Bool = false, trainer: String = ""
    ) {
        self.member = member
        self.version = version
        self.fromStep = fromStep
        self.step = step
        self.checkpoint = checkpoint
        self.hyperparameters = hyperparameters
        self.metrics = metrics
        self.seconds = seconds
        self.interrupted = interrupted
        self.trainer = trainer
    }
}

/// An evaluator's score for what a trainer trained, with the trainer's account.
public struct EvaluateResult: Sendable, Hashable {
    public var trained: TrainResult
    public var score: Double
    /// What the evaluator measured itself (with `evaluation: checkpoint`), beside the trainer's.
    public var metrics: [String: Double]
    /// The evaluator's name, for the event log.
    public var evaluator: String

    public var member: Int { trained.member }
    public var version: Int { trained.version }

    public init(trained: TrainResult, score: Double, metrics: [String: Double] = [:], evaluator: String = "") {
        self.trained = trained
        self.score = score
        self.metrics = metrics
        self.evaluator = evaluator
    }
}

/// A mutator's new hyperparameters for a member, with what it did to each.
public struct ExploreResult: Sendable, Hashable {
    public var member: Int
    public var version: Int
    public var hyperparameters: Hyperparameters
    public var changes: [String: ExploreChange]
    /// The mutator's name, for the event log.
    public var mutator: String

    public init(
        member: Int, version: Int, hyperparameters: Hyperparameters, changes: [String: ExploreChange],
        mutator: String = ""
    ) {
        self.member = member
        self.version = version
        self.hyperparameters = hyperparameters
        self.changes = changes
        self.mutator = mutator
    }
}

/// A worker's `ready`: for a trainer, one credit (it is free for one task, and may say which
/// member it just handed on); for an evaluator or a mutator, its registration and heartbeat,
/// with the inlet it binds.
public struct Ready: Sendable, Hashable {
    public var role: WorkerRole
    /// Tasks the worker has been given so far: a `ready` that counts fewer than the selector
    /// sent was sent before the latest task arrived, and is stale.
    public var received: Int
    public var name: String
    public var experimentID: String
    /// Where this worker binds its inlet (evaluators and mutators; empty for trainers).
    public var inlet: PeerEndpoint?
    /// The generation of the evaluator list the worker holds (trainers).
    public var routes: Int
    /// The member (and version) whose result the trainer just pushed to an evaluator.
    public var handed: HandedOn?

    public init(
        role: WorkerRole, received: Int, name: String, experimentID: String, inlet: PeerEndpoint? = nil,
        routes: Int = 0,
        handed: HandedOn? = nil
    ) {
        self.role = role
        self.received = received
        self.name = name
        self.experimentID = experimentID
        self.inlet = inlet
        self.routes = routes
        self.handed = handed
    }
}

/// A member a trainer has trained and pushed on to an evaluator.
public struct HandedOn: Sendable, Hashable {
    public var member: Int
    public var version: Int
    /// The step its new checkpoint is at.
    public var step: Int

    public init(member: Int, version: Int, step: Int) {
        self.member = member
        self.version = version
        self.step = step
    }
}

/// What a worker tells the selector: on its DEALER (credits, heartbeats, trainers' own
/// outcomes) or pushed to the selector's inlet (scores, explored hyperparameters, an
/// evaluator's or a mutator's failures).
public enum WorkerReport: Sendable, Hashable {
    /// The worker is idle (a trainer: one credit), and says again every heartbeat while idle.
    case ready(Ready)
    /// Still working on `member`; a heartbeat that extends its lease (never past its
    /// maximum duration).
    case progress(member: Int, version: Int, step: Int)
    /// A trainer stopped early: the steps it did, straight back to the selector.
    case trained(TrainResult)
    case scored(EvaluateResult)
    case explored(ExploreResult)
    /// The task failed; `reason` says why. The worker is idle again. `upstream`: the failure
    /// lies in what the stage before produced (an evaluator given a checkpoint that is not in
    /// the store, or no reported metric), so it counts against that stage's worker.
    case failed(member: Int, version: Int, reason: String, upstream: Bool = false)
    /// The worker hands `member` back untouched (it was stopped before doing any work).
    case released(member: Int, version: Int)
    /// The worker is leaving.
    case goodbye
}
