import PBTCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Experiment {
    static let fields = [
        "name", "seed", "workload", "population", "interval", "stop", "objective", "exploit", "explore",
        "hyperparameters", "initial", "leases", "evaluation", "checkpoints", "schedule", "synchronous", "max_lead",
        "security",
        "resources", "directory",
    ]

    /// Characters a `name` may have: it becomes part of file names (`runs/NAME-YYYYMMDD-HHMMSS`).
    public static let maximumNameLength = 100

    /// Reads and validates an experiment file. Every error names the field and the bad value.
    /// A `command` workload whose argv has relative paths gets the file's directory recorded
    /// (see `resolve(command:against:exists:)`).
    public static func load(path: String) throws(ConfigError) -> Experiment {
        guard let file = fopen(path, "r") else {
            throw ConfigError(
                path: "", message: "cannot read experiment file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var status = stat()
        if fstat(fileno(file), &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            throw ConfigError(path: "", message: "it is a directory, not an experiment file")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 {
                if ferror(file) != 0 {
                    throw ConfigError(
                        path: "", message: "cannot read experiment file \(path): \(String(cString: strerror(errno)))")
                }
                break
            }
            bytes.append(contentsOf: buffer[0..<count])
            let limit = YAMLLimits.experimentFile.maximumBytes
            if bytes.count > limit {
                throw ConfigError(
                    path: "", message: "\(path) is larger than \(limit >> 20) MiB; is it an experiment file?")
            }
        }
        // A byte order mark (some Windows editors write one) is not part of the YAML.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(path: "", message: "\(path) is not UTF-8 text")
        }
        let experiment = try parse(yaml: text)
        guard experiment.directory == nil, let argv = experiment.writtenCommand else { return experiment }
        let directory = absoluteDirectory(of: path)
        guard resolve(command: argv, against: directory, exists: exists) != argv else { return experiment }
        return try recording(directory: directory, in: text, as: experiment)
    }

    /// Parses and validates the text of an experiment file, section by section (each reader
    /// below takes its section's node, or nil when the file leaves it out, and applies the
    /// defaults named in `ExperimentDefaults`).
    public static func parse(yaml text: String) throws(ConfigError) -> Experiment {
        let root = try ConfigNode.parse(yaml: text)
        _ = try root.map(allowed: fields)
        let name = try readName(try root.require("name"))
        let seed =
            try root["seed"].map { node throws(ConfigError) in UInt64(try node.integer(in: 0...Int.max)) }
            ?? ExperimentDefaults.seed
        let workloadNode = try root.require("workload")
        _ = try workloadNode.map()
        let kind = try workloadNode.require("kind").text()
        let population = try root.require("population").integer(in: 1...PBTEvent.largestPopulation)
        let interval = try root["interval"]?.integer(in: 1...Int.max) ?? ExperimentDefaults.interval
        let stop = try readStop(try root.require("stop"))
        let (metric, objective) = try readObjective(root["objective"])
        let (exploit, burnIn, lineageCap) = try readExploit(root["exploit"])
        let explore = try readExplore(root["explore"])
        let space = try readSpace(try root.require("hyperparameters"))
        let initial = try readInitial(root["initial"], space: space, population: population)
        let schedule = try schedule(
            root["schedule"], space: space, maxSteps: stop.maxSteps, exploit: exploit, exploitNode: root["exploit"])
        let evaluation = Evaluation(
            rawValue: try root["evaluation"]?.choice(["reported", "checkpoint"])
                ?? ExperimentDefaults.evaluation.rawValue)!
        let leases = try readLeases(root["leases"])
        let synchronous = try root["synchronous"]?.bool() ?? ExperimentDefaults.synchronous
        let maxLead = try readMaxLead(root["max_lead"], synchronous: synchronous)
        let (garbageCollection, collectionInterval) = try readCheckpoints(root["checkpoints"])
        let directory = try root["directory"].map { node throws(ConfigError) -> String in
            let path = try node.text()
            guard path.hasPrefix("/") else { throw node.error("must be an absolute path, got \(node.shown)") }
            return path
        }
        let requiresCurve = try readSecurity(root["security"])
        let resources = try ResourceSettings.parse(root["resources"])

        var experiment = Experiment(
            name: name, seed: seed, workload: WorkloadSpec(kind: kind, settings: workloadNode), population: population,
            interval: interval, stop: stop, metric: metric, objective: objective, exploit: exploit, burnIn: burnIn,
            explore: explore, space: space, initial: initial, evaluation: evaluation, leases: leases,
            garbageCollection: garbageCollection, collectionInterval: collectionInterval, synchronous: synchronous,
            source: text, schedule: schedule)
        experiment.requiresCurve = requiresCurve
        experiment.lineageCap = lineageCap
        experiment.maxLead = maxLead
        experiment.directory = directory
        experiment.resources = resources
        experiment.checkpointTransport = try readTransport(root["checkpoints"]?["transport"])
        return experiment
    }

    /// `name`: letters, digits, `-`, `_`, `.`; it names the run directory.
    static func readName(_ node: ConfigNode) throws(ConfigError) -> String {
        let name = try node.text()
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw node.error("must be letters, digits, '-', '_' or '.', got \(node.shown)")
        }
        guard name.count <= maximumNameLength else {
            throw node.error(
                "must be at most \(maximumNameLength) characters (it names the run directory), got \(name.count): \(node.shown)"
            )
        }
        return name
    }

    /// `max_lead`: steps (≥ 0) a member may stand ahead of the live member furthest behind
    /// when it starts a task; meaningless with `synchronous: true`, which holds every member
    /// at every ready step.
    static func readMaxLead(_ node: ConfigNode?, synchronous: Bool) throws(ConfigError) -> Int? {
        guard let node else { return ExperimentDefaults.maxLead }
        let lead = try node.integer(in: 0...Int.max)
        if synchronous {
            throw node.error(
                "has no effect with synchronous: true (every member waits at every ready step); remove one")
        }
        return lead
    }

    /// `stop`: `max_steps` (required), and optionally `target_score`, `time_budget`, `total_steps`.
    static func readStop(_ node: ConfigNode) throws(ConfigError) -> StopCondition {
        _ = try node.map(allowed: ["max_steps", "target_score", "time_budget", "total_steps"])
        return StopCondition(
            maxSteps: try node.require("max_steps").integer(in: 1...Int.max),
            targetScore: try node["target_score"]?.real(),
            timeBudget: try node["time_budget"]?.seconds(),
            totalSteps: try node["total_steps"]?.integer(in: 1...Int.max))
    }

    /// `objective`: the metric that is the score, and whether more is better.
    static func readObjective(_ node: ConfigNode?) throws(ConfigError) -> (metric: String, objective: Objective) {
        guard let node else { return (ExperimentDefaults.metric, ExperimentDefaults.objective) }
        _ = try node.map(allowed: ["metric", "mode"])
        let metric = try node["metric"]?.text() ?? ExperimentDefaults.metric
        let objective = try node["mode"].map { mode throws(ConfigError) in
            Objective(rawValue: try mode.choice(["max", "min"]))!
        }
        return (metric, objective ?? ExperimentDefaults.objective)
    }

    /// `exploit`: the strategy and its settings, `burn_in` and `lineage_cap`; a setting of
    /// another strategy is an error.
    static func readExploit(
        _ node: ConfigNode?
    ) throws(ConfigError) -> (ExploitStrategy, burnIn: Int, lineageCap: LineageCap?) {
        guard let node else {
            return (.truncation(fraction: ExperimentDefaults.truncationFraction), ExperimentDefaults.burnIn, nil)
        }
        _ = try node.map(allowed: ["strategy", "fraction", "burn_in", "window", "p_value", "lineage_cap"])
        let strategy = try node["strategy"]?.choice(["truncation", "tournament", "t_test", "none"]) ?? "truncation"
        let exploit: ExploitStrategy
        switch strategy {
        case "tournament": exploit = .tournament
        case "none": exploit = .none
        case "t_test":
            let window = try node["window"]?.integer(in: 2...1000) ?? ExperimentDefaults.tTestWindow
            let p = try node["p_value"]?.real() ?? ExperimentDefaults.tTestPValue
            guard p > 0 && p < 1 else {
                throw try node.require("p_value").error("must be between 0 and 1 (exclusive), got \(p)")
            }
            exploit = .tTest(window: window, pValue: p)
        default:
            let fraction = try node["fraction"]?.real() ?? ExperimentDefaults.truncationFraction
            guard fraction > 0 && fraction <= 0.5 else {
                throw try node.require("fraction").error("must be more than 0 and at most 0.5, got \(fraction)")
            }
            exploit = .truncation(fraction: fraction)
        }
        if strategy != "truncation", let fraction = node["fraction"] {
            throw fraction.error("only applies to the truncation strategy, not \(strategy)")
        }
        for key in ["window", "p_value"] where strategy != "t_test" {
            if let field = node[key] { throw field.error("only applies to the t_test strategy, not \(strategy)") }
        }
        let burnIn = try node["burn_in"]?.integer(in: 0...Int.max) ?? ExperimentDefaults.burnIn
        guard let capNode = node["lineage_cap"] else { return (exploit, burnIn, nil) }
        guard exploit != .none else { throw capNode.error("only applies when members exploit, not with strategy none") }
        return (exploit, burnIn, try readLineageCap(capNode))
    }

    /// `exploit.lineage_cap`: `share` (required, between 0 and 1) and `until` (a step, optional).
    static func readLineageCap(_ node: ConfigNode) throws(ConfigError) -> LineageCap {
        _ = try node.map(allowed: ["share", "until"])
        let shareNode = try node.require("share")
        let share = try shareNode.real()
        guard share > 0 && share < 1 else {
            throw shareNode.error("must be more than 0 and less than 1 (a share of the population), got \(share)")
        }
        return LineageCap(share: share, until: try node["until"]?.integer(in: 1...Int.max))
    }

    /// `explore`: the strategy and its settings; a setting of another strategy is an error.
    static func readExplore(_ node: ConfigNode?) throws(ConfigError) -> ExploreStrategy {
        guard let node else { return .defaultPerturb }
        _ = try node.map(allowed: [
            "strategy", "factors", "std", "resample_probability", "points", "beta", "time_decay",
        ])
        let strategy = try node["strategy"]?.choice(["perturb", "noise", "pb2", "none"]) ?? "perturb"
        let resample = try node["resample_probability"]?.real(in: 0...1) ?? ExperimentDefaults.resampleProbability
        let explore: ExploreStrategy
        switch strategy {
        case "none":
            explore = .none
        case "pb2":
            explore = .pb2(
                points: try node["points"]?.integer(in: 2...5000) ?? ExperimentDefaults.pb2Points,
                beta: try node["beta"]?.real(in: 0...100) ?? ExperimentDefaults.pb2Beta,
                timeDecay: try node["time_decay"]?.real(in: 0...0.99) ?? ExperimentDefaults.pb2TimeDecay)
        case "noise":
            let std = try node.require("std")
            let value = try std.real()
            guard value > 0 && value <= 1 else {
                throw std.error(
                    "must be more than 0 and at most 1 (a fraction of each domain's width), got \(std.shown)")
            }
            explore = .noise(std: value, resampleProbability: resample)
        default:
            explore = .perturb(factors: try readFactors(node["factors"]), resampleProbability: resample)
        }
        if strategy != "noise", let std = node["std"] {
            throw std.error("only applies to the noise strategy, not \(strategy)")
        }
        if strategy != "perturb", let factors = node["factors"] {
            throw factors.error("only applies to the perturb strategy, not \(strategy)")
        }
        for key in ["points", "beta", "time_decay"] where strategy != "pb2" {
            if let field = node[key] { throw field.error("only applies to the pb2 strategy, not \(strategy)") }
        }
        if strategy == "pb2", let field = node["resample_probability"] {
            throw field.error("does not apply to pb2, whose bandit chooses every value")
        }
        return explore
    }

    /// `explore.factors`: positive, none of them 1.
    static func readFactors(_ node: ConfigNode?) throws(ConfigError) -> [Double] {
        guard let node else { return ExperimentDefaults.perturbFactors }
        var factors: [Double] = []
        for item in try node.list() {
            let factor = try item.real()
            guard factor > 0 && factor != 1 else {
                throw item.error("a factor must be positive and not 1, got \(item.shown)")
            }
            factors.append(factor)
        }
        guard !factors.isEmpty else { throw node.error("needs at least one factor") }
        return factors
    }

    /// `hyperparameters`: at least one, each with one domain.
    static func readSpace(_ node: ConfigNode) throws(ConfigError) -> SearchSpace {
        var parameters: [Hyperparameter] = []
        for (key, child) in try node.map() {
            parameters.append(Hyperparameter(name: key, domain: try domain(child)))
        }
        guard !parameters.isEmpty else { throw node.error("declare at least one hyperparameter") }
        return SearchSpace(parameters)
    }

    /// `initial`: at most one entry a member, each value inside its domain.
    static func readInitial(
        _ node: ConfigNode?, space: SearchSpace, population: Int
    ) throws(ConfigError) -> [Hyperparameters] {
        guard let node else { return [] }
        let items = try node.list()
        guard items.count <= population else {
            throw node.error("has \(items.count) entries but the population is \(population)")
        }
        var initial: [Hyperparameters] = []
        for item in items {
            var values = Hyperparameters()
            for (key, valueNode) in try item.map(allowed: space.names) {
                let domain = space.domain(of: key)!
                guard let raw = hyperparameterValue(valueNode), let value = domain.normalize(raw) else {
                    throw valueNode.error(
                        "\(valueNode.shown) is outside the \(domain.kind) domain of \(ConfigNode.quoted(key))")
                }
                values[key] = value
            }
            initial.append(values)
        }
        return initial
    }

    /// `leases`: timings and limits, each defaulting to `LeaseSettings`' named value.
    static func readLeases(_ node: ConfigNode?) throws(ConfigError) -> LeaseSettings {
        var leases = LeaseSettings()
        guard let node else { return leases }
        _ = try node.map(allowed: ["timeout", "silence", "max_duration", "max_failures", "bench"])
        leases.timeout = try node["timeout"]?.seconds() ?? leases.timeout
        leases.silence = try node["silence"]?.seconds() ?? leases.silence
        if let duration = node["max_duration"], (try? duration.text()) != "auto" {
            leases.maxDuration = try duration.seconds()
        }
        leases.maxFailures = try node["max_failures"]?.integer(in: 0...1000) ?? leases.maxFailures
        leases.bench = try node["bench"]?.seconds() ?? leases.bench
        return leases
    }

    /// `checkpoints`: garbage collection on or off, and how often.
    static func readCheckpoints(_ node: ConfigNode?) throws(ConfigError) -> (garbageCollection: Bool, interval: Double)
    {
        guard let node else { return (ExperimentDefaults.garbageCollection, ExperimentDefaults.collectionInterval) }
        _ = try node.map(allowed: ["garbage_collection", "interval", "transport"])
        return (
            try node["garbage_collection"]?.bool() ?? ExperimentDefaults.garbageCollection,
            try node["interval"]?.seconds() ?? ExperimentDefaults.collectionInterval
        )
    }

    /// `checkpoints.transport`: how workers reach the checkpoints.
    static func readTransport(_ node: ConfigNode?) throws(ConfigError) -> CheckpointTransport {
        guard let node else { return ExperimentDefaults.checkpointTransport }
        return CheckpointTransport(rawValue: try node.choice(CheckpointTransport.allCases.map(\.rawValue)))!
    }

    /// `security`: whether every socket must use CURVE.
    static func readSecurity(_ node: ConfigNode?) throws(ConfigError) -> Bool {
        guard let node else { return false }
        _ = try node.map(allowed: ["curve"])
        return try node["curve"]?.bool() ?? false
    }

    /// The largest magnitude of an `int` domain's bounds: 2^53, the last integer every double
    /// (and so every JSON reader) holds exactly.
    public static let largestIntegerBound = 1 << 53

    static func domain(_ node: ConfigNode) throws(ConfigError) -> Domain {
        let entries = try node.map(allowed: ["uniform", "log_uniform", "int", "choice"])
        guard entries.count == 1, let (kind, bounds) = entries.first.map({ ($0.key, $0.value) }) else {
            throw node.error("give exactly one of uniform, log_uniform, int or choice, got \(node.shown)")
        }
        if kind == "choice" {
            let options = try bounds.list()
            guard !options.isEmpty else { throw bounds.error("needs at least one option") }
            var values: [HyperparameterValue] = []
            for option in options {
                guard let value = hyperparameterValue(option) else {
                    throw option.error("an option must be a number or text, got \(option.shown)")
                }
                guard !values.contains(value) else { throw option.error("option \(option.shown) appears twice") }
                values.append(value)
            }
            return .choice(values)
        }
        let pair = try bounds.list()
        guard pair.count == 2 else { throw bounds.error("expected [low, high], got \(bounds.shown)") }
        if kind == "int" {
            let low = try pair[0].integer()
            let high = try pair[1].integer()
            guard low < high else { throw bounds.error("low must be below high, got \(bounds.shown)") }
            // Events and summaries carry values as JSON numbers, which readers hold as doubles.
            let limit = Self.largestIntegerBound
            guard (-limit...limit).contains(low), (-limit...limit).contains(high) else {
                throw bounds.error(
                    "int bounds must be within ±\(limit) (2^53: larger integers lose precision as JSON numbers), got \(bounds.shown)"
                )
            }
            return .integer(low: low, high: high)
        }
        let low = try pair[0].real()
        let high = try pair[1].real()
        guard low < high else { throw bounds.error("low must be below high, got \(bounds.shown)") }
        guard (high - low).isFinite else {
            throw bounds.error("the domain is too wide to sample (its width overflows), got \(bounds.shown)")
        }
        if kind == "log_uniform" {
            guard low > 0 else { throw bounds.error("a log-uniform domain needs 0 < low, got \(bounds.shown)") }
            return .logUniform(low: low, high: high)
        }
        return .uniform(low: low, high: high)
    }

    static func hyperparameterValue(_ node: ConfigNode) -> HyperparameterValue? {
        switch node.value {
        case .integer(let x): .integer(x)
        case .real(let x): .real(x)
        case .text(let x): .text(x)
        case .bool(let x): .text(String(x))
        default: nil
        }
    }
}
