import Foundation
import PBTConfig
import Testing

/// Documents that would be huge once built are refused from the parser's events, before any
/// tree exists; values quoted in error messages are cut short.
@Suite("YAML limits")
struct YAMLLimitsTests {
    static let minimal = """
        name: minimal
        workload: {kind: toy}
        population: 2
        stop: {max_steps: 10}
        hyperparameters: {h0: {uniform: [0, 1]}}
        """

    /// `levels` anchors, each a list of ten aliases of the one before: 10^levels values.
    static func aliasBomb(levels: Int) -> String {
        var text = minimal + "\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n"
        for level in 1..<levels {
            text +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ",") + "]\n"
        }
        return text
    }

    @Test func anAliasBombIsRefusedBeforeItIsBuilt() {
        let started = Date()
        #expect {
            try Experiment.parse(yaml: Self.aliasBomb(levels: 10))
        } throws: { error in
            "\(error)".contains("more than 100000 values") && "\(error)".contains("alias")
        }
        #expect(Date().timeIntervalSince(started) < 1)
    }

    @Test func aliasesThatStayWithinTheLimitsStillWork() throws {
        let yaml = Self.minimal.replacingOccurrences(
            of: "{h0: {uniform: [0, 1]}}", with: "{h0: &unit {uniform: [0, 1]}, h1: *unit}")
        let experiment = try Experiment.parse(yaml: yaml)
        #expect(experiment.space.names == ["h0", "h1"])
    }

    @Test func theLimitsAreCountedAsIfAliasesWereExpanded() throws {
        let limits = YAMLLimits(maximumBytes: 1 << 20, maximumNodes: 1_000, maximumAliases: 100, maximumDepth: 8)
        // a0 is 11 values (the list and its items), a1 1 + 10 × 11 = 111, a2 1,111: too many.
        try limits.check("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\na1: &a1 [*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0]\n")
        #expect(throws: ConfigError.self) {
            try limits.check(Self.aliasBomb(levels: 4))
        }
    }

    /// A text for a test, shown by its label.
    struct Sample: Sendable, CustomTestStringConvertible {
        let label: String
        let text: String
        /// What the error must say.
        let mentions: String
        var testDescription: String { label }
    }

    @Test(arguments: [
        Sample(
            label: "aliases", text: "- &a x\n" + String(repeating: "- *a\n", count: 101),
            mentions: "more than 100 YAML aliases"),
        Sample(
            label: "depth", text: String(repeating: "[", count: 9) + String(repeating: "]", count: 9),
            mentions: "nested more than 8 deep"),
        Sample(label: "bytes", text: String(repeating: "#", count: 5_000), mentions: "more than the 4096"),
        Sample(
            label: "nodes", text: "[" + Array(repeating: "1", count: 1_001).joined(separator: ",") + "]",
            mentions: "more than 1000 values"),
    ])
    func eachLimitIsNamed(_ sample: Sample) {
        let limits = YAMLLimits(maximumBytes: 4_096, maximumNodes: 1_000, maximumAliases: 100, maximumDepth: 8)
        #expect {
            try limits.check(sample.text)
        } throws: { error in
            "\(error)".contains(sample.mentions)
        }
    }

    @Test func textThatIsNotYAMLIsLeftToTheReader() throws {
        try YAMLLimits.experimentFile.check("name: [unclosed\n")
        #expect {
            try Experiment.parse(yaml: "name: [unclosed\n")
        } throws: { error in
            "\(error)".contains("not valid YAML")
        }
    }

    @Test(arguments: [
        Sample(label: "a long name", text: "name: " + String(repeating: "x", count: 300) + "!", mentions: "…"),
        Sample(
            label: "a long list as the name",
            text: "name: [" + Array(repeating: "word", count: 50_000).joined(separator: ", ") + "]", mentions: "…"),
        Sample(label: "a long unknown key", text: String(repeating: "k", count: 100_000) + ": 1", mentions: "…"),
        Sample(
            label: "a long line that is not YAML", text: "name: [" + String(repeating: "y", count: 100_000) + "}",
            mentions: "…"),
        Sample(
            label: "a long value outside its domain",
            text: "initial: [{h0: " + String(repeating: "z", count: 100_000) + "}]", mentions: "…"),
    ])
    func errorMessagesQuoteOnlyAShortPrefix(_ sample: Sample) throws {
        var fields = Self.minimal.split(separator: "\n").map(String.init)
        let key = sample.text.prefix { $0 != ":" }
        fields.removeAll { $0.hasPrefix(key + ":") }
        let yaml = ([sample.text] + fields).joined(separator: "\n")
        var message = ""
        do {
            let experiment = try Experiment.parse(yaml: yaml)
            Issue.record("\(sample.label) was accepted: \(experiment.name)")
        } catch {
            message = error.description
        }
        #expect(!message.isEmpty)
        #expect(message.count < 600, "\(message.count) characters: \(message.prefix(500))")
        #expect(message.contains(sample.mentions), "\(message)")
    }
}
