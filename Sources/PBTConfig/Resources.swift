/// The `resources` section: what each trainer's training may use.
///
///     resources:
///       threads: auto       BLAS and OpenMP threads a trainer's program may use: a number, auto
///                           (the machine's cores ÷ the trainers on it, at least 1) or inherit
///                           (the environment passes through untouched)
///       gpus: 0             GPUs each trainer gets from the device list (pbt run --gpus 0,1;
///                           PBT_GPUS or --gpus for a trainer started by hand)
///       share_gpus: false   more trainers than devices share them instead of being refused
public struct ResourceSettings: Sendable, Hashable {
    /// How many threads a trainer's numerical libraries may start.
    public enum Threads: Sendable, Hashable, CustomStringConvertible {
        /// Decided where the trainer runs: `pbt run` divides the cores by its trainers; a trainer
        /// started by hand reads `--threads`/`PBT_THREADS`, else its CPU quota, else the cores.
        case auto
        /// Leave the environment alone (each library starts as many threads as it likes).
        case inherit
        /// Exactly this many.
        case count(Int)

        public var description: String {
            switch self {
            case .auto: "auto"
            case .inherit: "inherit"
            case .count(let count): String(count)
            }
        }

        /// Reads `auto`, `inherit` or a whole number of at least 1 (`--threads`, `PBT_THREADS`).
        public init?(_ text: String) {
            switch text {
            case "auto": self = .auto
            case "inherit": self = .inherit
            default:
                guard let count = Int(text), (1...ResourceSettings.maximumThreads).contains(count) else { return nil }
                self = .count(count)
            }
        }
    }

    public var threads: Threads
    /// GPUs a trainer gets; 0 leaves `CUDA_VISIBLE_DEVICES` as the environment has it.
    public var gpus: Int
    /// Whether trainers may share devices when there are fewer devices than trainers need.
    public var shareGPUs: Bool

    /// 1,024: more threads than any machine this runs on has cores.
    public static let maximumThreads = 1_024
    /// 16 GPUs a trainer at most.
    public static let maximumGPUs = 16

    public init(threads: Threads = .auto, gpus: Int = 0, shareGPUs: Bool = false) {
        self.threads = threads
        self.gpus = gpus
        self.shareGPUs = shareGPUs
    }

    /// Reads the section; every error names the field.
    static func parse(_ node: ConfigNode?) throws(ConfigError) -> ResourceSettings {
        var settings = ResourceSettings()
        guard let node else { return settings }
        _ = try node.map(allowed: ["threads", "gpus", "share_gpus"])
        if let threads = node["threads"] {
            if case .integer = threads.value {
                settings.threads = .count(try threads.integer(in: 1...maximumThreads))
            } else {
                let text = try threads.text()
                guard let parsed = Threads(text), parsed != .count(0) else {
                    throw threads.error(
                        "must be auto, inherit or a number of threads from 1 to \(maximumThreads), got \(threads.shown)"
                    )
                }
                settings.threads = parsed
            }
        }
        settings.gpus = try node["gpus"]?.integer(in: 0...maximumGPUs) ?? 0
        settings.shareGPUs = try node["share_gpus"]?.bool() ?? false
        return settings
    }
}

/// The thread budget of one trainer, and the environment it gives the programs it runs.
///
/// Numerical libraries start a thread per core by default, so two trainers on two cores each
/// running numpy start four busy threads: both go slower and burn more CPU. The budget caps
/// every common library's pool; a variable the user sets in `workload.environment` wins.
public struct ThreadBudget: Sendable, Hashable {
    /// Threads the trainer's training may use.
    public let threads: Int
    /// Where the figure came from, for logs and `pbt validate` ("cores 2 ÷ 2 trainers").
    public let source: String

    /// The variables the budget sets: OpenMP, the BLAS libraries (OpenBLAS, MKL, BLIS, Apple's
    /// vecLib), numexpr, PyTorch's inter-op pool and TensorFlow's, and `PBT_THREADS` for a
    /// program that sizes its own pool.
    public static let variables = [
        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS", "TORCH_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS",
        "TF_NUM_INTEROP_THREADS", "PBT_THREADS",
    ]

    public init(threads: Int, source: String) {
        self.threads = max(1, threads)
        self.source = source
    }

    /// The machine's cores shared by the trainers on it: at least one thread each.
    public static func shared(cores: Int, trainers: Int) -> ThreadBudget {
        let cores = max(1, cores)
        let trainers = max(1, trainers)
        return ThreadBudget(
            threads: cores / trainers, source: "\(cores) cores ÷ \(trainers) trainer\(trainers == 1 ? "" : "s")")
    }

    /// A trainer's budget: the experiment's number, else the one it was given (`--threads`,
    /// `PBT_THREADS`; `pbt run` gives its share of the cores), else its CPU quota (a container's
    /// cgroup), else the machine's cores. Nil: `inherit`, the environment is left alone.
    public static func resolve(
        experiment: ResourceSettings.Threads, given: ResourceSettings.Threads?, quota: Int?, cores: Int
    ) -> ThreadBudget? {
        switch experiment {
        case .inherit: return nil
        case .count(let count): return ThreadBudget(threads: count, source: "the experiment's resources.threads")
        case .auto: break
        }
        switch given {
        case .inherit: return nil
        case .count(let count): return ThreadBudget(threads: count, source: "--threads or PBT_THREADS")
        case .auto, nil: break
        }
        if let quota { return ThreadBudget(threads: quota, source: "the CPU quota of this trainer's cgroup") }
        return ThreadBudget(threads: cores, source: "the \(max(1, cores)) cores of this machine")
    }

    /// The variables a trainer's program gets: the budget's, the GPU devices', and then the
    /// user's own (`workload.environment`), which win over both.
    public static func environment(
        budget: ThreadBudget?, devices: [String]?, user: [String: String]
    ) -> [String: String] {
        var environment: [String: String] = [:]
        if let budget {
            for variable in variables { environment[variable] = String(budget.threads) }
        }
        if let devices { environment["CUDA_VISIBLE_DEVICES"] = devices.joined(separator: ",") }
        for (key, value) in user { environment[key] = value }
        return environment
    }
}

/// Which GPU devices each trainer gets.
public enum DeviceAssignment {
    /// Reads a device list such as `0,1,2,3` (or device UUIDs): comma-separated, no empties,
    /// no repeats. An error says what is wrong with it.
    public static func parse(_ text: String) -> Result<[String], DeviceListError> {
        let devices = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed }
        if devices.contains(where: \.isEmpty) {
            return .failure(
                DeviceListError("a device list is ids separated by commas, like 0,1,2; got '\(text.prefix(80))'"))
        }
        guard
            devices.allSatisfy({
                $0.utf8.count <= 64 && $0.allSatisfy { $0.isLetter || $0.isNumber || "-_:".contains($0) }
            })
        else {
            return .failure(
                DeviceListError(
                    "device ids are letters, digits, '-', '_' or ':' (an index or a GPU UUID); got '\(text.prefix(80))'"
                ))
        }
        guard Set(devices).count == devices.count else {
            return .failure(DeviceListError("a device is listed twice in '\(text.prefix(80))'"))
        }
        return .success(devices)
    }

    /// Deals `perTrainer` devices to each of `trainers` trainers from `devices`, in order and
    /// without overlap; when there are not enough, round-robin if `share` allows it, else an
    /// error that says how many are needed.
    public static func assign(
        devices: [String], trainers: Int, perTrainer: Int, share: Bool
    ) -> Result<[[String]], DeviceListError> {
        guard perTrainer > 0, trainers > 0 else { return .success(Array(repeating: [], count: max(trainers, 0))) }
        guard !devices.isEmpty else {
            return .failure(
                DeviceListError(
                    "the experiment asks for \(perTrainer) GPU\(perTrainer == 1 ? "" : "s") a trainer (resources.gpus): give the devices, e.g. --gpus 0,1"
                ))
        }
        guard perTrainer <= devices.count else {
            return .failure(
                DeviceListError(
                    "the experiment asks for \(perTrainer) GPUs a trainer (resources.gpus), but only \(devices.count) devices were given (\(devices.joined(separator: ",")))"
                ))
        }
        let needed = trainers * perTrainer
        if needed > devices.count && !share {
            return .failure(
                DeviceListError(
                    "\(trainers) trainers × \(perTrainer) GPU\(perTrainer == 1 ? "" : "s") need \(needed) devices, but \(devices.count) were given (\(devices.joined(separator: ","))): start fewer trainers, give more devices, or let trainers share them with resources.share_gpus: true"
                ))
        }
        return .success(
            (0..<trainers).map { trainer in
                (0..<perTrainer).map { slot in devices[(trainer * perTrainer + slot) % devices.count] }
            })
    }
}

extension String {
    fileprivate var trimmed: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// A device list that cannot be used, with what is wrong with it.
public struct DeviceListError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
