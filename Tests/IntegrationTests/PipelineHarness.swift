import Foundation
import PBTCore
import PBTSystem
import PBTTestSupport
import Testing

/// A pipeline of stage processes started one by one, as a deployment would, so that tests
/// can kill and restart any of them. The selector listens on ipc:// endpoints in the test's
/// directory (its work endpoint and its inlet), which stay the same when it restarts; each
/// evaluator and mutator binds its inlet there too.
final class PipelineHarness {
    let directory: TemporaryDirectory
    let experiment: String
    let run: String
    let work: String
    /// The selector's inlet, where evaluators and mutators push their results.
    let inlet: String
    private(set) var publishers = ""
    private(set) var subscribers = ""
    private(set) var proxy: PBTProcess?
    private(set) var selector: PBTProcess?
    private(set) var workers: [String: PBTProcess] = [:]
    private var selectorStarts = 0
    private let follower: EventLogFollower

    /// With `stream` false there is no event proxy and stages publish nowhere (`--events none`):
    /// the selector's `events.jsonl` is the record the tests read either way.
    init(experiment text: String, stream: Bool = true) throws {
        directory = try TemporaryDirectory()
        experiment = try directory.write("experiment.yml", text)
        run = directory.file("run")
        follower = EventLogFollower(path: run + "/events.jsonl")
        work = "ipc://\(directory.path)/work"
        inlet = "ipc://\(directory.path)/inlet"
        guard stream else {
            publishers = "none"
            subscribers = "none"
            return
        }
        let proxy = try PBTProcess(
            [
                "events", "proxy", "--publishers", "tcp://127.0.0.1:*", "--subscribers", "tcp://127.0.0.1:*",
                "--ready-file", directory.file("events.json"),
            ],
            output: directory.file("events.log"))
        self.proxy = proxy
        let endpoints = try readyEndpoints(directory.file("events.json"))
        publishers = try #require(endpoints["publishers"])
        subscribers = try #require(endpoints["subscribers"])
    }

    /// Starts (or restarts) the selector and waits until it listens.
    func startSelector(minTrainers: Int = 1) throws {
        selectorStarts += 1
        let ready = directory.file("selector-\(selectorStarts).json")
        selector = try PBTProcess(
            [
                "selector", experiment, "--run-dir", run, "--bind", work, "--inlet-bind", inlet, "--events", publishers,
                "--min-trainers", String(minTrainers),
                "--ready-file", ready,
            ],
            output: directory.file("selector.log"))
        _ = try readyEndpoints(ready)
    }

    /// Starts a worker of `role` named `name` (an evaluator or a mutator binds its inlet at
    /// `inlet(of: name)`).
    func start(_ role: String, _ name: String, heartbeat: Double = 0.2, _ extra: [String] = []) throws {
        let inletArguments = role == "trainer" ? [] : ["--inlet-bind", inlet(of: name)]
        workers[name] = try PBTProcess(
            [role, "--connect", work, "--events", publishers, "--name", name, "--heartbeat", String(heartbeat)]
                + inletArguments + extra,
            output: directory.file("\(name).log"))
    }

    /// Where the evaluator or mutator `name` binds its inlet.
    func inlet(of name: String) -> String {
        "ipc://\(directory.path)/\(name).inlet"
    }

    /// SIGKILL to a worker.
    func kill(_ name: String) {
        workers[name]?.child.send(SIGKILL)
        _ = workers[name]?.child.wait(seconds: 10)
    }

    func killSelector() {
        selector?.child.send(SIGKILL)
        _ = selector?.child.wait(seconds: 10)
    }

    /// The selector's event log so far, as typed events.
    func events() -> [TimedEvent] {
        follower.refresh()
    }

    /// Waits until the event log satisfies `condition`: woken when the log grows, up to
    /// `seconds`.
    func waitForEvents(within seconds: Double, _ condition: ([TimedEvent]) -> Bool) -> Bool {
        follower.wait(within: seconds, until: condition)
    }

    /// Waits for the selector to finish the experiment.
    func finish(within seconds: Double, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let selector = try #require(selector)
        let end = try #require(selector.finish(within: seconds, sourceLocation: sourceLocation))
        #expect(end.succeeded, "selector: \(end)\n\(selector.log)", sourceLocation: sourceLocation)
        return try jsonObject(run + "/summary.json")
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: directory.file("\(name).log"), encoding: .utf8)) ?? ""
    }
}

/// Checks, member by member, that the event log tells a possible story: training continues
/// from where the member stood, an exploit moves it to its donor's state at the compared step,
/// no version of a member is applied twice, and every member finishes at the last step.
/// Returns the number of members that finished.
@discardableResult
func checkMemberHistories(
    _ log: [TimedEvent], population: Int, maxSteps: Int, sourceLocation: SourceLocation = #_sourceLocation
) throws -> Int {
    var finishedMembers = 0
    for member in 0..<population {
        var step = 0
        var finished = false
        var trainedVersions: Set<Int> = []
        for timed in log where timed.member == member {
            switch timed.event {
            case .memberTrained(let trained):
                #expect(
                    trained.fromStep == step, "member \(member) trained from \(trained.fromStep) but stood at \(step)",
                    sourceLocation: sourceLocation)
                #expect(
                    trainedVersions.insert(trained.version).inserted,
                    "member \(member): version \(trained.version) applied twice", sourceLocation: sourceLocation)
                step = trained.step
            case .memberScored(_, _, let at, _, _):
                #expect(
                    at == step, "member \(member) scored at \(at) but stood at \(step)", sourceLocation: sourceLocation)
            case .memberDecided(_, let at, let comparedAt, let decision, _, _):
                #expect(at == step, sourceLocation: sourceLocation)
                if case .exploit = decision { step = comparedAt }
            case .memberExploited(let exploited):
                #expect(exploited.step == step, sourceLocation: sourceLocation)
            case .memberFinished:
                #expect(step == maxSteps, "member \(member) finished at \(step)", sourceLocation: sourceLocation)
                finished = true
            default:
                break
            }
        }
        #expect(finished, "member \(member) never finished", sourceLocation: sourceLocation)
        if finished { finishedMembers += 1 }
    }
    return finishedMembers
}
