import PBTCore

extension Experiment {
    /// Every setting the experiment runs with, defaults included, one `section: values` line
    /// each, in the file's order of sections (`pbt validate` prints them).
    public var settingsDescription: [String] {
        var lines: [String] = []
        lines.append("name \(name), seed \(seed)")
        lines.append("workload: " + workloadDescription)
        lines.append("population \(population), ready every \(interval) step\(interval == 1 ? "" : "s")")
        var stopping = ["max_steps \(stop.maxSteps)"]
        if let target = stop.targetScore { stopping.append("target_score \(Self.number(target))") }
        if let budget = stop.timeBudget { stopping.append("time_budget \(Self.number(budget)) s") }
        if let total = stop.totalSteps { stopping.append("total_steps \(total)") }
        lines.append("stop: " + stopping.joined(separator: ", "))
        lines.append("objective: \(objective == .maximize ? "max" : "min") \(metric)")
        lines.append(
            "exploit: " + exploitDescription + (burnIn > 0 ? ", burn_in \(burnIn)" : ", no burn_in")
                + lineageCapDescription)
        lines.append("explore: " + exploreDescription)
        lines.append(
            "evaluation: \(evaluation.rawValue)" + (synchronous ? ", synchronous (a barrier at every ready step)" : "")
                + (maxLead.map { ", max_lead \($0) (a member starts a task at most \($0) steps ahead of the slowest)" }
                    ?? ""))
        let duration = leases.maxDuration.map { "\(Self.number($0)) s" } ?? "auto"
        lines.append(
            "leases: timeout \(Self.number(leases.timeout)) s, silence \(Self.number(leases.silence)) s, max_duration \(duration), "
                + "max_failures \(leases.maxFailures), bench \(Self.number(leases.bench)) s")
        lines.append(
            "checkpoints: "
                + (garbageCollection
                    ? "garbage collection every \(Self.number(collectionInterval)) s" : "kept (no garbage collection)")
                + ", transport \(checkpointTransport.rawValue)"
                + (checkpointTransport == .auto
                    ? " (the shared directory where a worker sees it, else over ZeroMQ)" : ""))
        lines.append(
            "security: " + (requiresCurve ? "CURVE on every socket" : "none required (pbt run --secure turns CURVE on)")
        )
        if let schedule { lines.append("schedule: \(schedule.entries.count) entries (a fixed schedule; no search)") }
        if !initial.isEmpty { lines.append("initial: \(initial.count) of \(population) members given") }
        return lines
    }

    var workloadDescription: String {
        if let argv = writtenCommand {
            let mode = (try? workload.settings["mode"]?.text()) ?? "once"
            let timeout = (try? workload.settings["timeout"]?.seconds()) ?? 600
            return "command " + argv.map { ConfigNode.quoted($0) }.joined(separator: " ")
                + ", mode \(mode), timeout \(Self.number(timeout)) s"
                + (directory.map { ", relative paths beside \($0)" } ?? "")
        }
        let settings = ((try? workload.settings.map()) ?? []).filter { $0.key != "kind" }.map {
            "\($0.key) \($0.value.shown)"
        }
        return workload.kind + (settings.isEmpty ? " (its defaults)" : ", " + settings.joined(separator: ", "))
    }

    /// `, lineage_cap: …` when the experiment has a cap, else nothing.
    var lineageCapDescription: String {
        guard let cap = lineageCap else { return "" }
        return ", lineage_cap: a lineage holds at most \(cap.limit(population: population)) of \(population) members"
            + (cap.until.map { " until step \($0)" } ?? "")
    }

    var exploitDescription: String {
        switch exploit {
        case .none: "none"
        case .tournament: "tournament"
        case .truncation(let fraction): "truncation, fraction \(Self.number(fraction))"
        case .tTest(let window, let pValue): "t_test, window \(window), p_value \(Self.number(pValue))"
        }
    }

    var exploreDescription: String {
        switch explore {
        case .none: "none"
        case .perturb(let factors, let resample):
            "perturb, factors [\(factors.map(Self.number).joined(separator: ", "))], resample_probability \(Self.number(resample))"
        case .noise(let std, let resample):
            "noise, std \(Self.number(std)), resample_probability \(Self.number(resample))"
        case .pb2(let points, let beta, let decay):
            "pb2, points \(points), beta \(Self.number(beta)), time_decay \(Self.number(decay))"
        }
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    /// Settings that run but probably do not do what the file means, one sentence each
    /// (`pbt validate`, `pbt run` and the selector print them as warnings).
    public var warnings: [String] {
        perturbationWarnings + lineageCapWarnings + neverExploitsWarnings
    }

    /// An exploit strategy that the stop condition never lets act.
    var neverExploitsWarnings: [String] {
        if case .none = exploit { return [] }
        var warnings: [String] = []
        if interval >= stop.maxSteps {
            warnings.append(
                "interval: \(interval) is not below stop.max_steps (\(stop.maxSteps)), so a member is ready only "
                    + "when it has finished and no member ever copies another (random search); lower interval")
        } else if burnIn >= stop.maxSteps {
            warnings.append(
                "exploit.burn_in: \(burnIn) is not below stop.max_steps (\(stop.maxSteps)), so no member ever "
                    + "copies another (random search); lower burn_in")
        }
        return warnings
    }

    var lineageCapWarnings: [String] {
        guard let cap = lineageCap else { return [] }
        var warnings: [String] = []
        let until = cap.until.map { "before step \($0)" } ?? "in the whole run"
        if cap.limit(population: population) < 2 {
            warnings.append(
                "exploit.lineage_cap: a share of \(Self.number(cap.share)) of \(population) members lets a lineage "
                    + "hold one member, so no member copies another \(until) (random search until then); "
                    + "raise share to at least \(Self.number(2 / Double(population)))")
        }
        if let step = cap.until, step >= stop.maxSteps {
            warnings.append(
                "exploit.lineage_cap.until: \(step) is not before stop.max_steps (\(stop.maxSteps)), so the cap "
                    + "holds for the whole run; leave until out to say so, or lift the cap earlier")
        }
        return warnings
    }

    var perturbationWarnings: [String] {
        guard case .perturb(let factors, _) = explore else { return [] }
        let shown = factors.map { "×" + Self.number($0) }.joined(separator: " or ")
        return explore.parametersPerturbationCannotStep(in: space).map { parameter in
            let ends = parameter.domain.numericBounds.map { "[\(Self.number($0.low)), \(Self.number($0.high))] " } ?? ""
            return "hyperparameters.\(parameter.name): every value of its \(parameter.domain.kind) domain \(ends)"
                + "multiplied by \(shown) lands outside it, so each perturbation is reflected onto or near a bound "
                + "(a jump between the ends, not a step); list the values to step through instead "
                + "({choice: [...]}: perturbation moves to a neighbour), widen the domain, or explore with noise"
        }
    }
}

extension Domain {
    /// The domain as an experiment file writes it: `uniform [0, 1]`, `int [1, 4]`, `choice [16, 32]`.
    public var described: String {
        switch self {
        case .uniform(let low, let high), .logUniform(let low, let high):
            "\(kind) [\(Experiment.number(low)), \(Experiment.number(high))]"
        case .integer(let low, let high):
            "int [\(low), \(high)]"
        case .choice(let options):
            "choice [\(options.map(\.description).joined(separator: ", "))]"
        }
    }
}
