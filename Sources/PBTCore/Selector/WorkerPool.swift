/// A worker's routing id on the selector's ROUTER socket (the id an evaluator or a mutator
/// also puts in front of what it pushes to the selector's inlet).
public struct WorkerID: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The bytes in one go (the synthesized hash combines them one at a time, and every
    /// message the selector handles looks its worker up a few times).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public var description: String {
        "worker-"
            + bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }
}

/// What the selector knows of a connected worker.
public struct ConnectedWorker: Sendable {
    public let id: WorkerID
    public internal(set) var role: WorkerRole
    public internal(set) var name: String
    /// When the worker last said anything (any message counts as a heartbeat).
    public internal(set) var lastSeen: Double
    /// Tasks sent to this worker so far (trainers).
    public internal(set) var sent: Int
    /// The member it trains and the version it was given (a trainer holds at most one).
    public internal(set) var task: (member: Int, version: Int)?
    /// A trainer that said `ready` since its last task: it is owed one.
    public internal(set) var hasCredit = false
    /// Where an evaluator or a mutator binds its inlet.
    public internal(set) var inlet: PeerEndpoint?
    /// Tasks that failed in a row on this worker.
    public internal(set) var failuresInARow = 0
}

/// The connected workers: trainers and their credits, the evaluators' and mutators' inlets,
/// workers benched for failing, and the names of those that left (for the event log).
///
///     ready (credit) ──▶ trainer owed a task ──dispatch──▶ holds one task ──handed on / result──▶
///
/// A trainer gets exactly one task per credit, so a member never waits behind a busy trainer
/// while another is idle (invariant 2).
struct WorkerPool: Sendable {
    private(set) var workers: [WorkerID: ConnectedWorker] = [:]
    /// The connected workers of each role (a worker's role never changes): the selector asks
    /// for the mutators or the evaluators on every message, and a thousand trainers must not
    /// be walked through for it.
    private var byRole: [WorkerRole: Set<WorkerID>] = [:]
    /// Trainers in the order their credits came; entries without a credit any more are skipped.
    private var credits = FIFOQueue<WorkerID>()
    /// Workers that failed too many tasks in a row, and until when they get none.
    private(set) var benched: [WorkerID: Double] = [:]
    /// How many times each benched worker was benched (the bench time doubles each time).
    private var benchings: [WorkerID: Int] = [:]
    /// Names of workers that left, so that a late result still names its sender.
    private var departed: [WorkerID: String] = [:]
    private var departedOrder = FIFOQueue<WorkerID>()
    /// The evaluators' inlets as trainers last heard them.
    private(set) var routes: EvaluatorRoutes

    init(routesEpoch: Int) {
        routes = EvaluatorRoutes(generation: routesEpoch, endpoints: [])
    }

    subscript(_ id: WorkerID) -> ConnectedWorker? { workers[id] }

    /// Workers of `role` that are connected.
    func count(_ role: WorkerRole) -> Int {
        byRole[role]?.count ?? 0
    }

    /// The connected workers of `role`.
    func ids(_ role: WorkerRole) -> Set<WorkerID> {
        byRole[role] ?? []
    }

    /// Whether a worker of `role` is connected and not benched.
    func hasAvailable(_ role: WorkerRole, now: Double) -> Bool {
        guard let ids = byRole[role], !ids.isEmpty else { return false }
        return benched.isEmpty || ids.contains { !isBenched($0, now: now) }
    }

    /// Trainers holding a member.
    var busyTrainers: Int {
        workers.values.reduce(0) { $0 + ($1.role == .trainer && $1.task != nil ? 1 : 0) }
    }

    /// The connected mutators' inlets.
    var mutatorInlets: [PeerEndpoint] {
        ids(.mutator).compactMap { workers[$0]?.inlet }.sorted { $0.endpoint < $1.endpoint }
    }

    /// A name for `id`, whether connected, gone, or never seen.
    func name(of id: WorkerID) -> String {
        workers[id]?.name ?? departed[id] ?? id.description
    }

    func isBenched(_ id: WorkerID, now: Double) -> Bool {
        (benched[id] ?? -.infinity) > now
    }

    mutating func add(_ worker: ConnectedWorker) {
        if let old = workers[worker.id] { byRole[old.role]?.remove(worker.id) }
        workers[worker.id] = worker
        byRole[worker.role, default: []].insert(worker.id)
        if worker.role == .evaluator { refreshRoutes() }
    }

    /// Removes a worker; returns it.
    mutating func remove(_ id: WorkerID) -> ConnectedWorker? {
        guard let worker = workers.removeValue(forKey: id) else { return nil }
        byRole[worker.role]?.remove(id)
        departed[id] = worker.name
        departedOrder.append(id)
        while departedOrder.count > 4096 { departed[departedOrder.removeFirst()] = nil }
        if worker.role == .evaluator { refreshRoutes() }
        return worker
    }

    mutating func update(_ id: WorkerID, _ body: (inout ConnectedWorker) -> Void) {
        guard var worker = workers[id] else { return }
        let role = worker.role
        body(&worker)
        workers[id] = worker
        if worker.role != role {
            byRole[role]?.remove(id)
            byRole[worker.role, default: []].insert(id)
        }
    }

    mutating func heard(from id: WorkerID, now: Double) {
        workers[id]?.lastSeen = now
    }

    /// A trainer is owed one task.
    mutating func grantCredit(_ id: WorkerID) {
        guard let worker = workers[id], worker.role == .trainer, worker.task == nil, !worker.hasCredit else { return }
        workers[id]?.hasCredit = true
        credits.append(id)
    }

    /// The trainer owed a task longest, its credit spent, or nil.
    mutating func takeCredit(now: Double) -> WorkerID? {
        while !credits.isEmpty {
            let id = credits.removeFirst()
            guard let worker = workers[id], worker.hasCredit, worker.task == nil else { continue }
            if isBenched(id, now: now) {
                workers[id]?.hasCredit = false
                continue
            }
            workers[id]?.hasCredit = false
            return id
        }
        return nil
    }

    /// Whether any trainer is owed a task.
    var hasCredits: Bool {
        workers.values.contains { $0.hasCredit && $0.task == nil }
    }

    /// Benches `id` until `now + base × 2^(times benched before)`: it gets no task (a
    /// trainer) or is left out of the trainers' routes (an evaluator) meanwhile.
    mutating func bench(_ id: WorkerID, now: Double, base: Double) -> Double {
        let times = benchings[id, default: 0]
        benchings[id] = times + 1
        let until = now + base * Double(1 << min(times, 10))
        benched[id] = until
        workers[id]?.hasCredit = false
        if workers[id]?.role == .evaluator { refreshRoutes() }
        return until
    }

    /// Ends the benches that are over; returns the workers whose bench ended.
    mutating func endBenches(now: Double) -> [WorkerID] {
        let ended = benched.filter { $0.value <= now }.map(\.key)
        for id in ended { benched[id] = nil }
        if ended.contains(where: { workers[$0]?.role == .evaluator }) { refreshRoutes() }
        return ended
    }

    /// The evaluators' inlets trainers push to: every evaluator connected and not benched.
    private mutating func refreshRoutes() {
        let endpoints = ids(.evaluator)
            .filter { benched[$0] == nil }
            .compactMap { workers[$0]?.inlet }
            .sorted { $0.endpoint < $1.endpoint }
        guard endpoints != routes.endpoints else { return }
        routes = EvaluatorRoutes(generation: routes.generation + 1, endpoints: endpoints)
    }
}
