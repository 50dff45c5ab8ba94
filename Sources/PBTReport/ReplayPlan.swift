import PBTConfig
import PBTCore
import PBTMonitor
import PBTWire

/// `pbt replay`: a member's hyperparameter schedule rebuilt from a run's event log, written
/// as an experiment file that retrains that member alone on it (as Ray Tune's PBT replay does
/// from its policy files).
///
///     events.jsonl ──fold──▶ the member's weights: trained by whom, from which step, with what
///                                   │
///     experiment.yml ──────────────▶ same workload, seed and space; population 1; exploit and
///                                    explore none; schedule: [{from_step, seed_of, hyperparameters}, …]
///
/// Each schedule entry carries `seed_of`, the member that trained those steps in the original
/// run, so the replay trains them with that member's seed: with the original `seed`, a workload
/// whose randomness comes from the seed and the step (`toy`, `mlp`) sees the same data and
/// reaches the same weights.
public enum ReplayPlan {
    /// What `make` produced.
    public struct Plan: Sendable {
        /// The experiment file's text.
        public var yaml: String
        /// The schedule it holds (ranges trained by one member with one set of values).
        public var schedule: [ScheduleSegment]
        /// The step the member's weights were at: the replay trains this many steps.
        public var steps: Int
        /// The member's score at that step in the original run, if the log has it.
        public var originalScore: Double?
        /// The replay experiment's name.
        public var name: String
        /// Lines of the event log that are not events (skipped).
        public var unreadable: [(line: Int, problem: String)] = []
    }

    /// Builds the replay of `member` from a run's `events.jsonl` and `experiment.yml` texts.
    public static func make(
        member: Int, events: String, experiment text: String, runDirectory: String
    ) throws(ReportError) -> Plan {
        let experiment: Experiment
        do {
            experiment = try Experiment.parse(yaml: text)
        } catch {
            throw ReportError("\(runDirectory)/experiment.yml: \(error)")
        }
        let log = EventLog(text: events)
        guard !log.events.isEmpty else { throw ReportError("\(runDirectory)/events.jsonl holds no event") }
        var model = PopulationModel()
        for event in log.events { model.apply(event) }
        let population = max(experiment.population, model.rows.count)
        guard (0..<population).contains(member) else {
            throw ReportError("there is no member \(member) in \(runDirectory): its members are 0 to \(population - 1)")
        }
        let history = model.history(of: member)
        guard let last = history.last else {
            throw ReportError("member \(member) never trained in \(runDirectory) (no member.trained event for it)")
        }
        guard history.first?.fromStep == 0 else {
            throw ReportError(
                "the event log of \(runDirectory) does not hold member \(member)'s history from step 0 (it starts at step \(history.first?.fromStep ?? 0)); is events.jsonl complete?"
            )
        }
        let schedule = model.schedule(of: member)
        let names = experiment.space.names
        var entries: [String] = []
        for segment in schedule {
            var values: [String] = []
            for name in names {
                guard let value = segment.hyperparameters[name] else {
                    throw ReportError(
                        "steps \(segment.fromStep)–\(segment.toStep) of member \(member) have no value for '\(name)' in the event log"
                    )
                }
                values.append("\(name): \(yaml(value, domain: experiment.space.domain(of: name)))")
            }
            entries.append(
                "{from_step: \(segment.fromStep), seed_of: \(segment.trainedBy), hyperparameters: {\(values.joined(separator: ", "))}}"
            )
        }
        // The experiment's name cut so that the replay's stays within the limit on names.
        let suffix = "-replay-m\(member)"
        let name = String(experiment.name.prefix(max(1, Experiment.maximumNameLength - suffix.count))) + suffix
        let derived: String
        do {
            derived = try ExperimentVariant.make(
                from: text,
                [
                    .set("name", yaml: name),
                    .set("population", yaml: "1"),
                    .remove("initial"),
                    .set("stop", yaml: "{max_steps: \(last.step)}"),
                    .set("exploit", yaml: "{strategy: none}"),
                    .set("explore", yaml: "{strategy: none}"),
                    .set("schedule", yaml: "[" + entries.joined(separator: ", ") + "]"),
                ])
        } catch {
            throw ReportError("cannot write the replay experiment: \(error)")
        }
        let original = model.members[member].flatMap { $0.scoreStep == last.step ? $0.score : nil }
        let header = """
            # pbt replay: member \(member) of \(runDirectory), retrained alone on the hyperparameters
            # its weights were trained with (\(schedule.count) range\(schedule.count == 1 ? "" : "s"), \(last.step) steps)\(original.map { "; it scored \(NumberFormat.score($0)) at step \(last.step)" } ?? "").
            # seed_of: the member that trained those steps, whose seed the replay trains them with.
            # Run it with: pbt run THIS_FILE

            """
        let yamlText = header + derived
        // What is written must load, and hold the schedule meant.
        do {
            let check = try Experiment.parse(yaml: yamlText)
            guard check.schedule?.entries.count == schedule.count, check.population == 1 else {
                throw ReportError("the replay experiment did not read back as written")
            }
        } catch let error as ReportError {
            throw error
        } catch {
            throw ReportError("the replay experiment does not load: \(error)")
        }
        return Plan(
            yaml: yamlText, schedule: schedule, steps: last.step, originalScore: original, name: name,
            unreadable: log.problems)
    }

    /// A value as YAML that reads back as the same value in `domain`.
    static func yaml(_ value: JSONValue, domain: Domain?) -> String {
        switch (value, domain) {
        case (.string(let text), _):
            return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
        case (_, .integer?):
            return value.int.map(String.init) ?? NumberFormat.exact(value.double ?? 0)
        case (.integer(let whole), .choice?):
            return String(whole)
        case (_, _):
            guard let number = value.double else { return value.shown }
            return NumberFormat.exact(number)
        }
    }
}
