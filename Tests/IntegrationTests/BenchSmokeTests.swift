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
        for row in [
            "member-steps/s (population 64, 4 trainers; raw: 64 in flight, the same flow control)", "the same; raw: 64 in flight, queued at the workers",
            "one member in flight", "asynchronous pipeline", "synchronous (barrier)",
        ] {
            let line = try #require(output.split(separator: "\n").first { $0.hasPrefix(row) }, "no row \(row)")
            let numbers = line.dropFirst(row.count).split(separator: " ").compactMap { Double($0.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "×", with: "")) }
            #expect(numbers.count >= 2 && numbers.allSatisfy { $0 > 0 }, "\(line)")
        }
        #expect(output.contains("The flow control alone: the raw ring makes "), "\(output)")
    }

    @Test("pbt bench events reads an event log three ways and prints their rates", .timeLimit(.minutes(2)))
    func eventsBenchPrintsItsTable() throws {
        let directory = try TemporaryDirectory()
        var lines: [String] = []
        for index in 0..<300 {
            lines.append(#"{"event":"member.assigned","time":\#(1000 + Double(index) / 100),"member":\#(index % 8),"version":1,"role":"trainer","worker":"trainer-1","step":\#(index)}"#)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory.file("events.jsonl"), atomically: true, encoding: .utf8)
        let process = try PBTProcess(
            ["bench", "events", "--events", directory.file("events.jsonl"), "--seconds", "0.2", "--output", directory.file("bench")],
            output: directory.file("output.txt"))
        let end = try #require(process.finish(within: 100))
        #expect(end.succeeded, "\(process.log)")
        for row in ["Foundation JSONSerialization (baseline)", "EventRecord", "the exporter: EventRecord, population model, metrics"] {
            let line = try #require(process.log.split(separator: "\n").first { $0.hasPrefix(row) }, "no row \(row) in:\n\(process.log)")
            let rate = line.dropFirst(row.count).split(separator: " ").first.map { Double($0.replacingOccurrences(of: ",", with: "")) ?? 0 } ?? 0
            #expect(rate > 0, "\(line)")
        }
        #expect(process.log.contains("300 lines"), "\(process.log)")
    }
}
