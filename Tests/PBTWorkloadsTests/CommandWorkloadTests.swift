import Foundation
import PBTCore
import PBTWorkloads
import Testing

/// A persistent command program answers one line a request; a line it prints besides its
/// answers must never make one member's answer another's.
@Suite("command workload")
struct CommandWorkloadTests {
    /// A program that answers with the member it was asked about (and its pid), and prints one
    /// stray line on stdout with the first request: `before` its answer (once in all), or
    /// `after` it (in the same write); or a blank line after every answer (`blank`).
    static func program(stray: String) throws -> String {
        let path = NSTemporaryDirectory() + "pbt-stray-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).py"
        try """
        import json, os, sys
        first = True
        for line in sys.stdin:
            request = json.loads(line)
            # Once, whichever process of the program gets the first request.
            if first and "\(stray)" == "before" and not os.path.exists(sys.argv[0] + ".said"):
                open(sys.argv[0] + ".said", "w").close()
                print("loading data...", flush=True)
            with open(request["save"], "w") as f:
                f.write(str(request["member"]))
            answer = json.dumps({"score": request["member"], "for_member": request["member"], "pid": os.getpid()})
            # After: in the same write as the answer, so that both are there when pbt reads it.
            print(answer + ("\\ndone." if first and "\(stray)" == "after" else ""), flush=True)
            if "\(stray)" == "blank":
                print("", flush=True)
            first = False
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func request(_ member: Int) -> TrainingRequest {
        TrainingRequest(member: member, step: 0, steps: 1, hyperparameters: Hyperparameters(), seed: 1)
    }

    @Test func aStrayLineBeforeAnAnswerFailsThatTaskAloneAndTheNextGetTheirOwnAnswers() throws {
        let path = try Self.program(stray: "before")
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".said")
        }
        let workload = CommandWorkload(command: ["python3", path], mode: .persistent, timeout: 60)
        let error = #expect(throws: (any Error).self) {
            try workload.train(Self.request(0), from: [], progress: { _ in true })
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("not a JSON object: 'loading data...'"))
        for member in 1...3 {
            let outcome = try workload.train(Self.request(member), from: [], progress: { _ in true })
            #expect(outcome.metrics["for_member"] == Double(member), "member \(member) got \(outcome.metrics)")
            #expect(outcome.state == Array(String(member).utf8))
        }
    }

    /// Python's `json.dumps` writes a diverged loss as `NaN` or `Infinity`, which JSON has no
    /// words for, and a number past a double's range overflows: each is read as the number it
    /// stands for (a non-finite score then becomes the worst score), and text in strings is
    /// left alone. They failed the task as "not a JSON object" until the member was given up.
    @Test func nonFiniteNumbersAsPythonWritesThemAreRead() throws {
        let path = NSTemporaryDirectory() + "pbt-nan-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).py"
        try #"""
        import json, sys
        request = json.loads(sys.stdin.readline())
        open(request["save"], "w").write("x")
        print(json.dumps({"score": float("nan"), "up": float("inf"), "down": float("-inf"), "note": "NaN, Infinity"})[:-1]
              + ', "big": 1e999, "small": -2e400, "plain": 3.5}', flush=True)
        """#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let workload = CommandWorkload(command: ["python3", path], mode: .once, timeout: 60)
        let outcome = try workload.train(Self.request(0), from: [], progress: { _ in true })
        #expect(outcome.metrics["score"]?.isNaN == true, "\(outcome.metrics)")
        #expect(outcome.metrics["up"] == .infinity && outcome.metrics["big"] == .infinity)
        #expect(outcome.metrics["down"] == -.infinity && outcome.metrics["small"] == -.infinity)
        #expect(outcome.metrics["plain"] == 3.5 && outcome.metrics["note"] == nil)
    }

    @Test func aStrayLineAfterAnAnswerIsNeverTakenForTheNextAnswer() throws {
        let path = try Self.program(stray: "after")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let workload = CommandWorkload(command: ["python3", path], mode: .persistent, timeout: 60)
        for member in 0...3 {
            let outcome = try workload.train(Self.request(member), from: [], progress: { _ in true })
            #expect(outcome.metrics["for_member"] == Double(member), "member \(member) got \(outcome.metrics)")
        }
    }
    @Test func blankLinesAfterAnswersKeepTheProgram() throws {
        let path = try Self.program(stray: "blank")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let workload = CommandWorkload(command: ["python3", path], mode: .persistent, timeout: 60)
        var pids: Set<Double> = []
        for member in 0...3 {
            let outcome = try workload.train(Self.request(member), from: [], progress: { _ in true })
            #expect(outcome.metrics["for_member"] == Double(member), "member \(member) got \(outcome.metrics)")
            if let pid = outcome.metrics["pid"] { pids.insert(pid) }
        }
        #expect(pids.count == 1, "the program was started \(pids.count) times")
    }
}
