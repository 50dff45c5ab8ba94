import Foundation
import PBTConfig
import PBTCore
import Testing

/// Experiment files: a full file, the defaults, and bad files whose error names the field and value.
@Suite("Experiment parsing")
struct ExperimentParsingTests {
    static let full = """
        name: toy-pbt.v2
        seed: 42
        workload: {kind: toy, step_size: 0.02}
        population: 4
        interval: 5
        stop: {max_steps: 200, target_score: 1.19, time_budget: 5m}
        objective: {metric: accuracy, mode: min}
        exploit: {strategy: truncation, fraction: 0.2, burn_in: 10, lineage_cap: {share: 0.5, until: 100}}
        explore: {strategy: noise, std: 0.1, resample_probability: 0.05}
        hyperparameters:
          h0: {uniform: [0, 1]}
          lr: {log_uniform: [1.0e-4, 0.1]}
          layers: {int: [1, 8]}
          opt: {choice: [adam, sgd, 32]}
        initial:
          - {h0: 1, lr: 0.01, layers: 3, opt: sgd}
          - {h0: 0.5}
        leases: {timeout: 90s, max_failures: 5}
        max_lead: 10
        """

    /// Unquoted scalars as YAML 1.2 reads them where YAML 1.1 differs, and text as written: a
    /// command's `010` reached the program as `8`, `yes` as `true` and `1e3` as `1000.0`.
    @Test func unquotedTextIsTakenAsWritten() throws {
        let experiment = try Experiment.parse(
            yaml: """
                name: 010
                workload: {kind: command, command: [python3, train.py, 010, yes, 1e3, 0x1F, True], environment: {PAD: 007}}
                population: 010
                stop: {max_steps: 20}
                hyperparameters:
                  flag: {choice: [yes, no, on, off]}
                  width: {choice: [32, 64]}
                """)
        #expect(experiment.name == "010")
        #expect(experiment.population == 10)
        #expect(experiment.writtenCommand == ["python3", "train.py", "010", "yes", "1e3", "0x1F", "True"])
        #expect(try experiment.workload.settings["environment"]?["PAD"]?.text() == "007")
        #expect(experiment.space.domain(of: "flag") == .choice([.text("yes"), .text("no"), .text("on"), .text("off")]))
        #expect(experiment.space.domain(of: "width") == .choice([.integer(32), .integer(64)]))
        // Digits past 64 bits are out of range, not "not a whole number".
        let huge = try #require(
            #expect(throws: ConfigError.self) {
                try Experiment.parse(
                    yaml:
                        "name: s\nworkload: {kind: noop}\npopulation: 99999999999999999999999\nstop: {max_steps: 20}\n"
                        + "hyperparameters: {x: {uniform: [0, 1]}}\n")
            })
        #expect(huge.description.contains("population: must be between 1 and 1000000"), "\(huge)")
        // Only true and false are booleans.
        let base =
            "name: s\nworkload: {kind: noop}\npopulation: 2\nstop: {max_steps: 20}\nhyperparameters: {x: {uniform: [0, 1]}}\n"
        #expect(throws: ConfigError.self) { try Experiment.parse(yaml: base + "synchronous: yes\n") }
        #expect(try Experiment.parse(yaml: base + "synchronous: True\n").synchronous)
    }

    @Test func mergeKeysJoinTheMapsTheyNameAndExplicitKeysWin() throws {
        let experiment = try Experiment.parse(
            yaml: """
                name: merged
                workload: {kind: toy}
                population: 4
                stop: {max_steps: 20}
                hyperparameters:
                  h0: &unit {uniform: [0, 1]}
                  h1: {<<: *unit}
                explore: {<<: [{strategy: noise, std: 0.2}, {strategy: perturb}], std: 0.1}
                """)
        #expect(experiment.space.domain(of: "h1") == .uniform(low: 0, high: 1))
        #expect(experiment.explore == .noise(std: 0.1, resampleProbability: ExperimentDefaults.resampleProbability))
        #expect(throws: ConfigError.self) {
            try Experiment.parse(yaml: "name: x\nworkload: {kind: toy, <<: 3}\n")
        }
    }

    @Test func controlCharactersInABadValueAreEscapedInTheMessage() {
        #expect {
            // YAML's escapes: \e is ESC, \u0007 the bell.
            try Experiment.parse(yaml: #"name: "\e[31mred\u0007""# + "\n")
        } throws: { error in
            let message = "\(error)"
            return message.contains("'\\u{1B}[31mred\\u{7}'") && !message.contains("\u{1B}")
        }
    }

    @Test(arguments: [
        ("hyperparameters:\n  \"h\\e[2J\": {uniform: [0, 1]}", "a key holds a control character (U+001B)"),
        ("hyperparameters:\n  h0: {choice: [\"a\\a\", b]}", "holds a control character (U+0007)"),
    ])
    func controlCharactersInNamesAndLabelsAreRefused(section: String, message: String) {
        let yaml = "name: x\nworkload: {kind: toy}\npopulation: 2\nstop: {max_steps: 4}\n" + section + "\n"
        #expect {
            try Experiment.parse(yaml: yaml)
        } throws: { error in
            "\(error)".contains(message) && !"\(error)".contains("\u{1B}") && !"\(error)".contains("\u{07}")
        }
    }

    @Test func aByteOrderMarkIsNotPartOfTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bom-\(UUID().uuidString).yml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data([0xEF, 0xBB, 0xBF] + Array(Self.full.utf8)).write(to: URL(fileURLWithPath: path))
        #expect(try Experiment.load(path: path).name == "toy-pbt.v2")
    }

    @Test func aFullFileParsesEveryField() throws {
        let experiment = try Experiment.parse(yaml: Self.full)
        #expect(experiment.name == "toy-pbt.v2")
        #expect(experiment.seed == 42)
        #expect(experiment.workload.kind == "toy")
        #expect(experiment.workload.settings["step_size"]?.value == .real(0.02))
        #expect(experiment.population == 4)
        #expect(experiment.interval == 5)
        #expect(experiment.stop == StopCondition(maxSteps: 200, targetScore: 1.19, timeBudget: 300))
        #expect(experiment.metric == "accuracy")
        #expect(experiment.objective == .minimize)
        #expect(experiment.exploit == .truncation(fraction: 0.2))
        #expect(experiment.burnIn == 10)
        #expect(experiment.lineageCap == LineageCap(share: 0.5, until: 100))
        #expect(experiment.explore == .noise(std: 0.1, resampleProbability: 0.05))
        #expect(
            experiment.space
                == SearchSpace([
                    Hyperparameter(name: "h0", domain: .uniform(low: 0, high: 1)),
                    Hyperparameter(name: "lr", domain: .logUniform(low: 1e-4, high: 0.1)),
                    Hyperparameter(name: "layers", domain: .integer(low: 1, high: 8)),
                    Hyperparameter(name: "opt", domain: .choice([.text("adam"), .text("sgd"), .integer(32)])),
                ]))
        #expect(
            experiment.initial == [
                Hyperparameters(["h0": .real(1), "lr": .real(0.01), "layers": .integer(3), "opt": .text("sgd")]),
                Hyperparameters(["h0": .real(0.5)]),
            ])
        #expect(experiment.leaseTimeout == 90)
        #expect(experiment.maxFailures == 5)
        #expect(experiment.maxLead == 10)
        #expect(experiment.selectorSettings().maxLead == 10)
        #expect(experiment.source == Self.full)
    }

    static let minimal = """
        name: minimal
        workload: {kind: toy}
        population: 2
        stop: {max_steps: 10}
        hyperparameters: {h0: {uniform: [0, 1]}}
        """

    @Test func omittedFieldsTakeTheirDefaults() throws {
        let experiment = try Experiment.parse(yaml: Self.minimal)
        #expect(experiment.seed == 0)
        #expect(experiment.interval == 1)
        #expect(experiment.stop == StopCondition(maxSteps: 10))
        #expect(experiment.metric == "score")
        #expect(experiment.objective == .maximize)
        #expect(experiment.exploit == .truncation(fraction: 0.25))
        #expect(experiment.burnIn == 0)
        #expect(experiment.lineageCap == nil)
        #expect(experiment.explore == .perturb(factors: [0.8, 1.2], resampleProbability: 0.25))
        #expect(experiment.explore == .defaultPerturb)
        #expect(experiment.initial.isEmpty)
        #expect(experiment.leaseTimeout == 30)
        #expect(experiment.maxFailures == 3)
    }

    /// The `leases` section: every setting, its default, and `max_duration: auto`.
    @Test(arguments: [
        ("", 30.0, 5.0, nil as Double?, 3, 30.0),
        ("leases: {timeout: 2s, silence: 1s, max_duration: 60s, max_failures: 1, bench: 5s}", 2, 1, 60, 1, 5),
        ("leases: {max_duration: auto}", 30, 5, nil, 3, 30),
        ("leases: {max_duration: 2m}", 30, 5, 120, 3, 30),
    ])
    func leaseSettings(
        line: String, timeout: Double, silence: Double, maxDuration: Double?, maxFailures: Int, bench: Double
    ) throws {
        let settings = try Experiment.parse(yaml: Self.minimal + "\n" + line).selectorSettings()
        #expect(settings.leaseTimeout == timeout)
        #expect(settings.silenceTimeout == silence)
        #expect(settings.maxTaskSeconds == maxDuration)
        #expect(settings.maxFailures == maxFailures)
        #expect(settings.benchSeconds == bench)
    }

    @Test func anUnknownLeaseSettingIsRefusedNamingIt() {
        #expect(throws: ConfigError.self) { try Experiment.parse(yaml: Self.minimal + "\nleases: {window: 8}") }
    }

    @Test(arguments: [
        ("exploit: {strategy: tournament}", ExploitStrategy.tournament), ("exploit: {strategy: none}", .none),
        ("exploit: {fraction: 0.5}", .truncation(fraction: 0.5)), ("exploit: {}", .truncation(fraction: 0.25)),
    ])
    func exploitStrategies(line: String, expected: ExploitStrategy) throws {
        #expect(try Experiment.parse(yaml: Self.minimal + "\n" + line).exploit == expected)
    }

    @Test(arguments: [
        ("explore: {strategy: none}", ExploreStrategy.none),
        ("explore: {factors: [0.5, 2]}", .perturb(factors: [0.5, 2], resampleProbability: 0.25)),
        ("explore: {resample_probability: 0}", .perturb(factors: [0.8, 1.2], resampleProbability: 0)),
        ("explore: {strategy: noise, std: 1}", .noise(std: 1, resampleProbability: 0.25)),
    ])
    func exploreStrategies(line: String, expected: ExploreStrategy) throws {
        #expect(try Experiment.parse(yaml: Self.minimal + "\n" + line).explore == expected)
    }

    @Test(arguments: [
        ("5m", 300.0), ("90s", 90), ("250ms", 0.25), ("2h", 7_200), ("45", 45), ("1.5", 1.5), ("'30'", 30),
        (" 10s", 10),
    ])
    func durations(text: String, seconds: Double) throws {
        let yaml = Self.minimal.replacingOccurrences(
            of: "{max_steps: 10}", with: "{max_steps: 10, time_budget: \(text)}")
        #expect(try Experiment.parse(yaml: yaml).stop.timeBudget == seconds)
    }

    struct BadFile: Sendable, CustomTestStringConvertible {
        let label: String
        let yaml: String
        /// The field the error must name.
        let path: String
        /// Text the message must contain: the bad value, or what is missing.
        let mentions: [String]
        var testDescription: String { label }
    }

    /// The minimal file with one top-level field replaced (nil: removed) or added.
    static func file(_ changes: [String: String?], extra: String = "") -> String {
        var fields: [(String, String)] = [
            ("name", "minimal"), ("workload", "{kind: toy}"), ("population", "2"), ("stop", "{max_steps: 10}"),
            ("hyperparameters", "{h0: {uniform: [0, 1]}, h1: {uniform: [0, 1]}}"),
        ]
        for (key, value) in changes.sorted(by: { $0.key < $1.key }) {
            if let index = fields.firstIndex(where: { $0.0 == key }) {
                if let value { fields[index].1 = value } else { fields.remove(at: index) }
            } else if let value {
                fields.append((key, value))
            }
        }
        return fields.map { "\($0.0): \($0.1)" }.joined(separator: "\n") + extra + "\n"
    }

    static let badFiles: [BadFile] = [
        .init(label: "missing name", yaml: file(["name": nil]), path: "name", mentions: ["is required"]),
        .init(label: "name with a space", yaml: file(["name": "'my exp!'"]), path: "name", mentions: ["'my exp!'"]),
        .init(label: "name with a slash", yaml: file(["name": "a/b"]), path: "name", mentions: ["'a/b'"]),
        .init(label: "empty name", yaml: file(["name": "''"]), path: "name", mentions: ["letters"]),
        .init(
            label: "missing workload kind", yaml: file(["workload": "{step_size: 1}"]), path: "workload.kind",
            mentions: ["is required"]),
        .init(label: "population 0", yaml: file(["population": "0"]), path: "population", mentions: ["got 0"]),
        .init(label: "population two", yaml: file(["population": "two"]), path: "population", mentions: ["'two'"]),
        .init(label: "population 2.5", yaml: file(["population": "2.5"]), path: "population", mentions: ["2.5"]),
        .init(
            label: "no population", yaml: file(["population": nil]), path: "population", mentions: ["is required"]),
        .init(label: "negative seed", yaml: file(["seed": "-1"]), path: "seed", mentions: ["-1"]),
        .init(label: "interval 0", yaml: file(["interval": "0"]), path: "interval", mentions: ["got 0"]),
        .init(label: "missing stop", yaml: file(["stop": nil]), path: "stop", mentions: ["is required"]),
        .init(
            label: "missing stop.max_steps", yaml: file(["stop": "{target_score: 1}"]), path: "stop.max_steps",
            mentions: ["is required"]),
        .init(
            label: "max_steps 0", yaml: file(["stop": "{max_steps: 0}"]), path: "stop.max_steps", mentions: ["got 0"]),
        .init(
            label: "unknown stop field", yaml: file(["stop": "{max_steps: 10, max_step: 5}"]), path: "stop.max_step",
            mentions: ["unknown field 'max_step'"]),
        .init(
            label: "time_budget in words", yaml: file(["stop": "{max_steps: 10, time_budget: 5 minutes}"]),
            path: "stop.time_budget", mentions: ["'5 minutes'"]),
        .init(
            label: "negative time_budget", yaml: file(["stop": "{max_steps: 10, time_budget: -1}"]),
            path: "stop.time_budget", mentions: ["-1"]),
        .init(
            label: "zero time_budget", yaml: file(["stop": "{max_steps: 10, time_budget: 0s}"]),
            path: "stop.time_budget", mentions: ["'0s'"]),
        .init(
            label: "target_score text", yaml: file(["stop": "{max_steps: 10, target_score: high}"]),
            path: "stop.target_score", mentions: ["'high'"]),
        .init(
            label: "objective mode up", yaml: file(["objective": "{mode: up}"]), path: "objective.mode",
            mentions: ["'up'", "max, min"]),
        .init(
            label: "fraction 0.7", yaml: file(["exploit": "{fraction: 0.7}"]), path: "exploit.fraction",
            mentions: ["0.7"]),
        .init(
            label: "fraction 0", yaml: file(["exploit": "{fraction: 0}"]), path: "exploit.fraction", mentions: ["got 0"]
        ),
        .init(
            label: "fraction with tournament", yaml: file(["exploit": "{strategy: tournament, fraction: 0.2}"]),
            path: "exploit.fraction", mentions: ["tournament"]),
        .init(
            label: "unknown exploit strategy", yaml: file(["exploit": "{strategy: genetic}"]), path: "exploit.strategy",
            mentions: ["'genetic'"]),
        .init(
            label: "negative burn_in", yaml: file(["exploit": "{burn_in: -4}"]), path: "exploit.burn_in",
            mentions: ["-4"]),
        .init(
            label: "lineage_cap share 1", yaml: file(["exploit": "{lineage_cap: {share: 1}}"]),
            path: "exploit.lineage_cap.share", mentions: ["got 1.0", "less than 1"]),
        .init(
            label: "lineage_cap without share", yaml: file(["exploit": "{lineage_cap: {until: 50}}"]),
            path: "exploit.lineage_cap.share", mentions: ["is required"]),
        .init(
            label: "lineage_cap until 0", yaml: file(["exploit": "{lineage_cap: {share: 0.5, until: 0}}"]),
            path: "exploit.lineage_cap.until", mentions: ["0"]),
        .init(
            label: "lineage_cap unknown field", yaml: file(["exploit": "{lineage_cap: {share: 0.5, from: 3}}"]),
            path: "exploit.lineage_cap.from", mentions: ["unknown field 'from'"]),
        .init(
            label: "lineage_cap without exploiting",
            yaml: file(["exploit": "{strategy: none, lineage_cap: {share: 0.5}}"]),
            path: "exploit.lineage_cap", mentions: ["strategy none"]),
        .init(
            label: "max_lead below 0", yaml: file(["max_lead": "-4"]), path: "max_lead", mentions: ["-4"]),
        .init(
            label: "max_lead not a number", yaml: file(["max_lead": "one"]), path: "max_lead", mentions: ["one"]),
        .init(
            label: "max_lead with synchronous", yaml: file(["max_lead": "4", "synchronous": "true"]),
            path: "max_lead", mentions: ["synchronous: true"]),
        .init(
            label: "unknown top-level field", yaml: file(["populaton": "4"]), path: "populaton",
            mentions: ["unknown field 'populaton'"]),
        .init(
            label: "unknown explore strategy", yaml: file(["explore": "{strategy: bandit}"]), path: "explore.strategy",
            mentions: ["'bandit'"]),
        .init(
            label: "noise without std", yaml: file(["explore": "{strategy: noise}"]), path: "explore.std",
            mentions: ["is required"]),
        .init(
            label: "noise std 0", yaml: file(["explore": "{strategy: noise, std: 0}"]), path: "explore.std",
            mentions: ["got 0"]),
        .init(
            label: "noise std 2", yaml: file(["explore": "{strategy: noise, std: 2}"]), path: "explore.std",
            mentions: ["got 2"]),
        .init(
            label: "std with perturb", yaml: file(["explore": "{strategy: perturb, std: 0.1}"]), path: "explore.std",
            mentions: ["noise", "perturb"]),
        .init(
            label: "factors with noise", yaml: file(["explore": "{strategy: noise, std: 0.1, factors: [2]}"]),
            path: "explore.factors", mentions: ["perturb", "noise"]),
        .init(
            label: "factor 1", yaml: file(["explore": "{factors: [1, 1.2]}"]), path: "explore.factors[0]",
            mentions: ["got 1"]),
        .init(
            label: "negative factor", yaml: file(["explore": "{factors: [0.8, -1.2]}"]), path: "explore.factors[1]",
            mentions: ["-1.2"]),
        .init(
            label: "no factors", yaml: file(["explore": "{factors: []}"]), path: "explore.factors",
            mentions: ["at least one factor"]),
        .init(
            label: "resample_probability 1.5", yaml: file(["explore": "{resample_probability: 1.5}"]),
            path: "explore.resample_probability", mentions: ["1.5"]),
        .init(
            label: "missing hyperparameters", yaml: file(["hyperparameters": nil]), path: "hyperparameters",
            mentions: ["is required"]),
        .init(
            label: "no hyperparameters", yaml: file(["hyperparameters": "{}"]), path: "hyperparameters",
            mentions: ["at least one"]),
        .init(
            label: "two domain kinds", yaml: file(["hyperparameters": "{lr: {uniform: [0, 1], int: [0, 3]}}"]),
            path: "hyperparameters.lr", mentions: ["{uniform: [0, 1], int: [0, 3]}"]),
        .init(
            label: "no domain kind", yaml: file(["hyperparameters": "{lr: {}}"]), path: "hyperparameters.lr",
            mentions: ["exactly one"]),
        .init(
            label: "unknown domain kind", yaml: file(["hyperparameters": "{lr: {normal: [0, 1]}}"]),
            path: "hyperparameters.lr.normal", mentions: ["unknown field 'normal'"]),
        .init(
            label: "uniform low = high", yaml: file(["hyperparameters": "{lr: {uniform: [1, 1]}}"]),
            path: "hyperparameters.lr.uniform", mentions: ["[1, 1]"]),
        .init(
            label: "uniform low > high", yaml: file(["hyperparameters": "{lr: {uniform: [2, 1]}}"]),
            path: "hyperparameters.lr.uniform", mentions: ["[2, 1]"]),
        .init(
            label: "uniform with one bound", yaml: file(["hyperparameters": "{lr: {uniform: [1]}}"]),
            path: "hyperparameters.lr.uniform", mentions: ["[1]"]),
        .init(
            label: "log_uniform low 0", yaml: file(["hyperparameters": "{lr: {log_uniform: [0, 1]}}"]),
            path: "hyperparameters.lr.log_uniform", mentions: ["[0, 1]"]),
        .init(
            label: "int with reals", yaml: file(["hyperparameters": "{layers: {int: [0.5, 3]}}"]),
            path: "hyperparameters.layers.int[0]", mentions: ["0.5"]),
        .init(
            label: "int low = high", yaml: file(["hyperparameters": "{layers: {int: [3, 3]}}"]),
            path: "hyperparameters.layers.int", mentions: ["[3, 3]"]),
        .init(
            label: "int bounds past 2^53", yaml: file(["hyperparameters": "{y: {int: [0, 9223372036854775807]}}"]),
            path: "hyperparameters.y.int", mentions: ["9007199254740992", "2^53"]),
        .init(
            label: "empty choice", yaml: file(["hyperparameters": "{opt: {choice: []}}"]),
            path: "hyperparameters.opt.choice", mentions: ["at least one option"]),
        .init(
            label: "duplicate choice option", yaml: file(["hyperparameters": "{opt: {choice: [adam, sgd, adam]}}"]),
            path: "hyperparameters.opt.choice[2]", mentions: ["'adam'", "twice"]),
        .init(
            label: "list as a choice option", yaml: file(["hyperparameters": "{opt: {choice: [[1, 2]]}}"]),
            path: "hyperparameters.opt.choice[0]", mentions: ["[1, 2]"]),
        .init(
            label: "initial names an unknown hyperparameter", yaml: file(["initial": "[{h0: 0.5, lr: 0.1}]"]),
            path: "initial[0].lr", mentions: ["unknown field 'lr'"]),
        .init(
            label: "initial value outside its domain", yaml: file(["initial": "[{h0: 0.5}, {h1: 2}]"]),
            path: "initial[1].h1", mentions: ["2", "uniform", "'h1'"]),
        .init(
            label: "initial text for a number", yaml: file(["initial": "[{h0: high}]"]), path: "initial[0].h0",
            mentions: ["'high'"]),
        .init(
            label: "more initial entries than members", yaml: file(["initial": "[{h0: 0}, {h0: 1}, {h0: 0.5}]"]),
            path: "initial", mentions: ["3 entries", "population is 2"]),
        .init(
            label: "initial not a list", yaml: file(["initial": "{h0: 0}"]), path: "initial",
            mentions: ["expected a list"]),
        .init(
            label: "lease timeout in words", yaml: file(["leases": "{timeout: soon}"]), path: "leases.timeout",
            mentions: ["'soon'"]),
        .init(
            label: "negative max_failures", yaml: file(["leases": "{max_failures: -1}"]), path: "leases.max_failures",
            mentions: ["-1"]),
        .init(label: "invalid YAML", yaml: "name: [unclosed\npopulation: 2\n", path: "", mentions: ["not valid YAML"]),
        .init(label: "a list at the top", yaml: "- name: x\n", path: "", mentions: ["expected a map"]),
    ]

    static let duplicateKeys: [BadFile] = [
        .init(
            label: "duplicate keys", yaml: file([:], extra: "\npopulation: 3"), path: "population",
            mentions: ["appears twice"]),
        .init(
            label: "duplicate nested keys", yaml: file(["stop": "{max_steps: 10, max_steps: 20}"]),
            path: "max_steps", mentions: ["appears twice"]),
    ]

    @Test("a duplicate key is refused, naming the key", arguments: duplicateKeys)
    func duplicateKeysAreRefused(row: BadFile) throws {
        let error = try #require(Self.parseError(row.yaml), "parsed without error:\n\(row.yaml)")
        let key = try #require(row.path.split(separator: ".").last)
        #expect(error.message.contains("'\(key)'"), "\(error)")
    }

    @Test("a duplicate key's error names the key and its line", arguments: duplicateKeys)
    func duplicateKeysNameTheFieldPath(row: BadFile) throws {
        try badFileNamesTheField(row: row)
    }

    @Test("bad files name the field and the bad value", arguments: badFiles)
    func badFileNamesTheField(row: BadFile) throws {
        let error = try #require(Self.parseError(row.yaml), "parsed without error:\n\(row.yaml)")
        #expect(error.path == row.path, "\(error)")
        for text in row.mentions {
            #expect(error.message.contains(text), "'\(error.message)' does not mention \(text)")
        }
        if !row.path.isEmpty {
            #expect(error.description.hasPrefix(row.path + ": "), "\(error.description)")
        }
    }

    /// `Double.random(in: -1e308...1e308)` traps ("no uniform distribution on an infinite range"),
    /// so such a file must be refused before the selector samples the starting population.
    @Test
    func aUniformDomainWhoseWidthOverflowsIsRefused() throws {
        let yaml = Self.file(["hyperparameters": "{w: {uniform: [-1.0e+308, 1.0e+308]}}"])
        let error = try #require(Self.parseError(yaml), "accepted; initialHyperparameters() would trap")
        #expect(error.path == "hyperparameters.w.uniform", "\(error)")
    }

    static func parseError(_ yaml: String) -> ConfigError? {
        do {
            _ = try Experiment.parse(yaml: yaml)
            return nil
        } catch {
            return error
        }
    }

    @Test func errorsCarryTheLine() throws {
        let error = try #require(Self.parseError(Self.file(["population": "0"])))
        #expect(error.line == 3)
        #expect(error.description == "population: must be between 1 and 1000000, got 0 (line 3)")
    }

    @Test func theBaseFileOfTheBadFileTableIsValid() throws {
        _ = try Experiment.parse(yaml: Self.file([:]))
        _ = try Experiment.parse(yaml: Self.file(["stop": "{max_steps: 10, time_budget: 5m}"]))
    }

    @Test func loadReadsAFileAndNamesAMissingOne() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("experiment-\(UUID().uuidString).yml")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.minimal.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Experiment.load(path: path) == Experiment.parse(yaml: Self.minimal))
        let missing = path + ".missing"
        do {
            _ = try Experiment.load(path: missing)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.message.contains(missing))
        }
    }
}

/// What an experiment derives: its id, the starting population, the selector's settings.
@Suite("Experiment")
struct ExperimentTests {
    static let text = """
        name: derive
        seed: 9
        workload: {kind: toy}
        population: 5
        stop: {max_steps: 10}
        hyperparameters:
          h0: {uniform: [0, 1]}
          layers: {int: [1, 8]}
          opt: {choice: [adam, sgd]}
        initial:
          - {h0: 0.25, layers: 2, opt: sgd}
          - {layers: 7}
        """

    @Test func theIDChangesWhenTheTextDoes() throws {
        let a = try Experiment.parse(yaml: Self.text)
        let b = try Experiment.parse(yaml: Self.text)
        let commented = try Experiment.parse(yaml: Self.text + "\n# a comment")
        let reseeded = try Experiment.parse(yaml: Self.text.replacingOccurrences(of: "seed: 9", with: "seed: 10"))
        #expect(a.id == b.id)
        #expect(a.id != commented.id)
        #expect(a.id != reseeded.id)
        #expect(a.id.hasPrefix("derive-"))
        let hash = a.id.dropFirst("derive-".count)
        #expect(hash.count == 16)
        #expect(hash.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    @Test func initialHyperparametersAreDeterministicAndUseTheFile() throws {
        let experiment = try Experiment.parse(yaml: Self.text)
        let first = experiment.initialHyperparameters()
        #expect(first == experiment.initialHyperparameters())
        #expect(first == (try Experiment.parse(yaml: Self.text)).initialHyperparameters())
        #expect(first.count == 5)
        #expect(first[0] == Hyperparameters(["h0": .real(0.25), "layers": .integer(2), "opt": .text("sgd")]))
        #expect(first[1]["layers"] == .integer(7))
        for (member, hyperparameters) in first.enumerated() {
            #expect(experiment.space.violation(in: hyperparameters) == nil, "member \(member): \(hyperparameters)")
        }
        #expect(Set(first.dropFirst(2)).count == 3, "sampled members differ")
    }

    @Test func initialHyperparametersDependOnTheSeed() throws {
        let a = try Experiment.parse(yaml: Self.text).initialHyperparameters()
        let b = try Experiment.parse(yaml: Self.text.replacingOccurrences(of: "seed: 9", with: "seed: 10"))
            .initialHyperparameters()
        #expect(a[0] == b[0], "given in the file")
        #expect(a[2...] != b[2...])
    }

    @Test func selectorSettingsCarryTheExperiment() throws {
        let experiment = try Experiment.parse(yaml: ExperimentParsingTests.full)
        let settings = experiment.selectorSettings(minTrainers: 3, startTimeout: 7)
        #expect(settings.experimentID == experiment.id)
        #expect(settings.seed == 42)
        #expect(settings.interval == 5)
        #expect(settings.stop == experiment.stop)
        #expect(settings.exploit == .truncation(fraction: 0.2))
        #expect(settings.explores)
        #expect(settings.objective == .minimize)
        #expect(settings.burnIn == 10)
        #expect(settings.lineageCap == LineageCap(share: 0.5, until: 100))
        #expect(settings.leaseTimeout == 90)
        #expect(settings.silenceTimeout == LeaseSettings.defaultSilence)
        #expect(settings.maxFailures == 5)
        #expect(settings.minTrainers == 3)
        #expect(settings.startTimeout == 7)
        #expect(settings.space == experiment.space)

        let plain = try Experiment.parse(yaml: ExperimentParsingTests.minimal + "\nexplore: {strategy: none}")
        #expect(!plain.selectorSettings().explores)
        #expect(plain.selectorSettings().maxTaskSeconds == nil)
    }
}
