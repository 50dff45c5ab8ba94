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
        let process = try PBTProcess(
            [
                "bench", "pipeline", "--smoke", "--output", directory.file("bench"), "--baseline", PBTBinary.path,
                "--rounds", "1",
            ], output: directory.file("output.txt"))
        let end = try #require(process.finish(within: 170))
        #expect(end.succeeded, "\(process.log)")
        let output = process.log
        for title in [
            "Throughput", "Turnaround", "Against another build", "Utilisation", "The selector's state machine alone",
            "Growth",
        ] {
            #expect(output.contains(title), "no \(title) table in:\n\(output)")
        }
        // Each table has its rows, with a figure for the pipeline and one for the baseline.
        for row in [
            "member-steps/s (population 64, 4 trainers; raw: 64 in flight, the same flow control)",
            "the same; raw: 64 in flight, queued at the workers",
            "one member in flight", "asynchronous pipeline", "synchronous (barrier)",
            // --baseline: this build given as the other one, so each row has a rate and a ratio.
            "baseline: \(PBTBinary.path)", "this build, a process a stage", "this build, in one process",
        ] {
            let line = try #require(output.split(separator: "\n").first { $0.hasPrefix(row) }, "no row \(row)")
            let numbers = line.dropFirst(row.count).split(separator: " ").compactMap {
                Double(
                    $0.replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "%", with: "")
                        .replacingOccurrences(of: "×", with: ""))
            }
            #expect(numbers.count >= 2 && numbers.allSatisfy { $0 > 0 }, "\(line)")
        }
        #expect(output.contains("The flow control alone: the raw ring makes "), "\(output)")
        // CPU a member-step: a rate and a CPU figure for each (the CPU is a difference of two
        // runs, so only its presence is checked here).
        #expect(output.contains("CPU a member-step"), "\(output)")
        for row in [
            "pipeline, a process a stage", "pipeline, in one process", "raw ring, the same flow control",
            "raw ring, queued at the workers",
        ] {
            let line = try #require(output.split(separator: "\n").first { $0.hasPrefix(row) }, "no row \(row)")
            let numbers = line.dropFirst(row.count).split(separator: " ").compactMap {
                Double($0.replacingOccurrences(of: ",", with: ""))
            }
            #expect(numbers.count >= 2 && numbers[0] > 0, "\(line)")
        }
    }

    @Test(
        "pbt bench transfer and pbt bench scale run and print a row of figures each", .timeLimit(.minutes(2)))
    func transferAndScaleBenchesRun() throws {
        let directory = try TemporaryDirectory()
        let transfer = try PBTProcess(
            ["bench", "transfer", "--sizes", "2", "--output", directory.file("transfer")],
            output: directory.file("transfer.txt"))
        let transferEnd = try #require(transfer.finish(within: 60))
        #expect(transferEnd.succeeded, "\(transfer.log)")
        let row = transfer.log.split(separator: "\n").first { $0.hasPrefix("2 MiB ") }
        #expect(row.map { $0.split(separator: " ").count >= 8 } == true, "\(transfer.log)")
        let scale = try PBTProcess(
            ["bench", "scale", "--trainers", "4", "--seconds", "2", "--output", directory.file("scale")],
            output: directory.file("scale.txt"))
        let scaleEnd = try #require(scale.finish(within: 90))
        #expect(scaleEnd.succeeded, "\(scale.log)")
        let line = try #require(
            scale.log.split(separator: "\n").first { $0.hasPrefix("4 ") && !$0.contains("trainers:") }, "\(scale.log)")
        // Decisions were made and the simulated trainers were given work.
        let decisions = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap {
            Double($0)
        }
        #expect((decisions ?? 0) > 0, "\(line)")
    }

    @Test(
        "the raw ring goes round the pipeline's path, with and without flow control, and every process leaves when the hub is done",
        .timeLimit(.minutes(2)), arguments: ["on", "off"])
    func rawRingGoesRoundAndEnds(flowControl: String) throws {
        let directory = try TemporaryDirectory()
        let hub = try PBTProcess(
            [
                "bench", "raw-hub", "--trainers", "3", "--evaluators", "2", "--in-flight", "16", "--seconds", "0.3",
                "--flow-control", flowControl,
                "--ready-file", directory.file("hub.json"),
            ],
            output: directory.file("hub.txt"))
        let hubEndpoints = try readyEndpoints(directory.file("hub.json"))
        let work = try #require(hubEndpoints["work"])
        let inlet = try #require(hubEndpoints["inlet"])
        // Evaluators bind first; trainers are told where.
        var evaluators: [PBTProcess] = []
        var evaluatorInlets: [String] = []
        for index in 0..<2 {
            evaluators.append(
                try PBTProcess(
                    [
                        "bench", "raw-worker", "--evaluator", "--connect", inlet, "--name", "e\(index)", "--ready-file",
                        directory.file("e\(index).json"),
                    ],
                    output: directory.file("e\(index).txt")))
            evaluatorInlets.append(try #require(try readyEndpoints(directory.file("e\(index).json"))["inlet"]))
        }
        var trainers: [PBTProcess] = []
        for index in 0..<3 {
            trainers.append(
                try PBTProcess(
                    [
                        "bench", "raw-worker", "--connect", work, "--evaluators",
                        evaluatorInlets.joined(separator: ","), "--flow-control", flowControl,
                        "--name", "t\(index)", "--turnaround-log", directory.file("t\(index).turnaround"),
                    ],
                    output: directory.file("t\(index).txt")))
        }
        let end = try #require(hub.finish(within: 60))
        #expect(end.succeeded, "\(hub.log)")
        let result = try #require(
            try JSONSerialization.jsonObject(with: Data(hub.log.utf8)) as? [String: Any], "\(hub.log)")
        #expect((result["laps"] as? Int ?? 0) > 0, "\(result)")
        #expect(result["dropped"] as? Int == 0, "\(result)")
        // The hub's quit reaches every trainer, and through them every evaluator.
        for worker in trainers + evaluators {
            let workerEnd = try #require(worker.finish(within: 10))
            #expect(workerEnd.succeeded, "\(worker.log)")
        }
        for index in 0..<3 {
            let samples = try String(contentsOfFile: directory.file("t\(index).turnaround"), encoding: .utf8).split(
                separator: "\n"
            ).compactMap { Double($0) }
            #expect(
                !samples.isEmpty && samples.allSatisfy { $0 >= 0 }, "trainer t\(index): \(samples.count) turnarounds")
        }
    }

    @Test("pbt bench events reads an event log three ways and prints their rates", .timeLimit(.minutes(2)))
    func eventsBenchPrintsItsTable() throws {
        let directory = try TemporaryDirectory()
        var lines: [String] = []
        for index in 0..<300 {
            lines.append(
                #"{"event":"member.assigned","time":\#(1000 + Double(index) / 100),"member":\#(index % 8),"version":1,"role":"trainer","worker":"trainer-1","step":\#(index)}"#
            )
        }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: directory.file("events.jsonl"), atomically: true, encoding: .utf8)
        let process = try PBTProcess(
            [
                "bench", "events", "--events", directory.file("events.jsonl"), "--seconds", "0.2", "--output",
                directory.file("bench"),
            ],
            output: directory.file("output.txt"))
        let end = try #require(process.finish(within: 100))
        #expect(end.succeeded, "\(process.log)")
        for row in [
            "Foundation JSONSerialization (baseline)", "EventJSON.decode: typed events",
            "the exporter: decode, population model, metrics",
        ] {
            let line = try #require(
                process.log.split(separator: "\n").first { $0.hasPrefix(row) }, "no row \(row) in:\n\(process.log)")
            let rate =
                line.dropFirst(row.count).split(separator: " ").first.map {
                    Double($0.replacingOccurrences(of: ",", with: "")) ?? 0
                } ?? 0
            #expect(rate > 0, "\(line)")
        }
        #expect(process.log.contains("300 lines"), "\(process.log)")
    }
}
