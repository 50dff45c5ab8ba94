import Foundation
import PBTCore
import PBTWire
import Testing

/// `experiment.progress` names its experiment, so that a monitor attached mid-run knows it.
@Suite("Progress event")
struct ProgressEventTests {
    @Test func progressNamesTheExperiment() throws {
        let settings = SelectorSettings(experimentID: "x", seed: 1, interval: 4, stop: StopCondition(maxSteps: 4), exploit: .none, explores: false)
        var machine = SelectorMachine(settings: settings, name: "digits", initial: [Hyperparameters()])
        _ = machine.start(now: 0)
        let json = EventJSON.encode(.progress(machine.progress(now: 1)), time: 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["experiment"] as? String == "digits")
        #expect(object["population"] as? Int == 1)
    }

    @Test func aProgressWithoutANameLeavesTheFieldOut() throws {
        let progress = PBTEvent.Progress(
            seconds: 1, steps: 2, stepsPerSecond: 2, bestMember: nil, bestScore: nil, trainers: 1, busyTrainers: 0,
            membersFinished: 0, population: 2, exploits: 0)
        #expect(!EventJSON.encode(.progress(progress), time: 1).contains("\"experiment\""))
    }
}
