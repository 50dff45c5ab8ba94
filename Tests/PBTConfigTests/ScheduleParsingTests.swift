import PBTConfig
import PBTCore
import Testing

/// The experiment file's `schedule` field: a good one, and bad ones whose error names the field.
@Suite("Schedule parsing")
struct ScheduleParsingTests {
    static func file(exploit: String = "{strategy: none}", schedule: String) -> String {
        """
        name: replay
        seed: 7
        workload: {kind: toy}
        population: 1
        interval: 4
        stop: {max_steps: 20}
        exploit: \(exploit)
        hyperparameters:
          lr: {log_uniform: [1.0e-4, 0.1]}
          batch: {choice: [16, 32, 64]}
        schedule:
        \(schedule)
        """
    }

    @Test func aScheduleParsesIntoSettings() throws {
        let experiment = try Experiment.parse(
            yaml: Self.file(
                schedule: """
                      - {from_step: 0, seed_of: 3, hyperparameters: {lr: 0.01, batch: 32}}
                      - {from_step: 8, hyperparameters: {lr: 0.02, batch: 64}}
                    """))
        let expected = HyperparameterSchedule([
            .init(
                fromStep: 0, hyperparameters: Hyperparameters(["lr": .real(0.01), "batch": .integer(32)]), seedOf: 3),
            .init(fromStep: 8, hyperparameters: Hyperparameters(["lr": .real(0.02), "batch": .integer(64)])),
        ])
        #expect(experiment.schedule == expected)
        #expect(experiment.selectorSettings().schedule == expected)
    }

    @Test func noScheduleIsNil() throws {
        let text = Self.file(schedule: "").replacingOccurrences(of: "schedule:\n", with: "")
        #expect(try Experiment.parse(yaml: text).schedule == nil)
    }

    static let bad: [(exploit: String, schedule: String, error: String)] = [
        (
            "{strategy: none}", "  - {from_step: 4, hyperparameters: {lr: 0.01, batch: 32}}",
            "schedule[0].from_step: the first entry must start at step 0, got 4"
        ),
        (
            "{strategy: none}",
            "  - {from_step: 0, hyperparameters: {lr: 0.01, batch: 32}}\n  - {from_step: 0, hyperparameters: {lr: 0.01, batch: 32}}",
            "schedule[1].from_step: must be after the previous entry's from_step (0), got 0"
        ),
        (
            "{strategy: none}",
            "  - {from_step: 0, hyperparameters: {lr: 0.01, batch: 32}}\n  - {from_step: 20, hyperparameters: {lr: 0.01, batch: 32}}",
            "schedule[1].from_step: must be below stop.max_steps (20), got 20"
        ),
        (
            "{strategy: none}", "  - {from_step: 0, hyperparameters: {lr: 0.01}}",
            "schedule[0].hyperparameters: gives no value for 'batch'"
        ),
        (
            "{strategy: none}", "  - {from_step: 0, hyperparameters: {lr: 5, batch: 32}}",
            "schedule[0].hyperparameters.lr: 5 is outside the log_uniform domain of 'lr'"
        ),
        (
            "{strategy: none}", "  - {from_step: 0, hyperparameters: {lr: 0.01, batch: 32, momentum: 1}}",
            "unknown field 'momentum'"
        ),
        (
            "{strategy: none}", "  - {from_step: 0, hyperparameters: {lr: 0.01, batch: 32}, seed_of: -1}",
            "schedule[0].seed_of"
        ),
        (
            "{strategy: none}", "  - {from_step: 0, hyperparameters: {lr: 0.01, batch: 32}, when: 3}",
            "unknown field 'when'"
        ),
        ("{strategy: none}", "  []", "schedule: needs at least one entry"),
        (
            "{strategy: truncation}", "  - {from_step: 0, hyperparameters: {lr: 0.01, batch: 32}}",
            "exploit: a schedule fixes the hyperparameters: set exploit: {strategy: none}"
        ),
    ]

    @Test("a bad schedule names the field", arguments: bad)
    func aBadScheduleNamesTheField(exploit: String, schedule: String, error: String) {
        #expect {
            try Experiment.parse(yaml: Self.file(exploit: exploit, schedule: schedule))
        } throws: { thrown in
            let text = "\(thrown)"
            let matches = text.contains(error)
            if !matches { Issue.record("got: \(text)") }
            return matches
        }
    }
}
