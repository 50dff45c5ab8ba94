import Foundation
import Testing

/// `pbt bench pipeline --smoke`: every part of the pipeline benchmark runs and prints its
/// table (the figures themselves belong to the README, measured on a release build; nothing
/// here asserts a timing).
@Suite("bench smoke")
struct BenchSmokeTests {
    @Test("pbt bench pipeline --smoke runs every part and prints every table", .timeLimit(.minutes(3)))
    func pipelineBenchPrintsItsTables() throws {
        let directory = try TemporaryDirectory()
        let process = try PBTProcess(["bench", "pipeline", "--smoke", "--output", directory.file("bench")], output: directory.file("output.txt"))
        let end = try #require(process.finish(within: 170))
        #expect(end.succeeded, "\(process.log)")
        let output = process.log
        for title in ["Throughput", "Turnaround", "Utilisation", "The selector's state machine alone", "Growth"] {
            #expect(output.contains(title), "no \(title) table in:\n\(output)")
        }
        // Each table has its rows, with a figure for the pipeline and one for the baseline.
        for row in ["member-steps/s (population 64, 4 trainers; raw: 64 in flight)", "one member in flight", "asynchronous pipeline", "synchronous (barrier)"] {
            let line = try #require(output.split(separator: "\n").first { $0.hasPrefix(row) }, "no row \(row)")
            let numbers = line.dropFirst(row.count).split(separator: " ").compactMap { Double($0.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "×", with: "")) }
            #expect(numbers.count >= 2 && numbers.allSatisfy { $0 > 0 }, "\(line)")
        }
    }
}
