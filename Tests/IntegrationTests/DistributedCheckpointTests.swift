import Foundation
import PBTCore
import PBTStore
import PBTSystem
import PBTTestSupport
import Testing

/// Trainers and evaluators that share no disk with the selector: every checkpoint moves
/// through the selector's checkpoint service over ZeroMQ, in chunks, into each worker's own
/// cache directory.
@Suite("checkpoints over ZeroMQ", .serialized)
struct DistributedCheckpointTests {
    /// Every file in a store directory's fan-out folders is named by the sha256 of its bytes.
    static func checkStore(_ directory: String, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        var files = 0
        let manager = FileManager.default
        for folder in (try? manager.contentsOfDirectory(atPath: directory)) ?? [] where folder.count == 2 {
            for name in (try? manager.contentsOfDirectory(atPath: "\(directory)/\(folder)")) ?? [] {
                let bytes = [UInt8](
                    (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(folder)/\(name)"))) ?? Data())
                let hash = CheckpointStore.reference(of: bytes)
                #expect(
                    hash == name, "\(directory)/\(folder)/\(name) holds bytes that hash to \(hash)",
                    sourceLocation: sourceLocation)
                files += 1
            }
        }
        return files
    }

    static func incoming(_ directory: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory + "/.incoming")) ?? []
    }

    @Test("trainers and an evaluator with directories of their own finish with every member", .timeLimit(.minutes(2)))
    func separateDirectories() throws {
        let population = 4
        let maxSteps = 8
        // 3 MB checkpoints: three chunks each way; the evaluator loads every checkpoint it scores.
        let pipeline = try PipelineHarness(
            experiment: """
                name: distributed
                seed: 3
                workload: {kind: noop, step_seconds: 0.01, checkpoint_bytes: 3000000}
                population: \(population)
                interval: 2
                stop: {max_steps: \(maxSteps)}
                exploit: {strategy: truncation, fraction: 0.5}
                hyperparameters:
                  x: {uniform: [0, 1]}
                evaluation: checkpoint
                leases: {timeout: 10s, silence: 3s}
                """, stream: false)
        let directories = ["trainer-1", "trainer-2", "evaluator-1"].map { pipeline.directory.file("\($0)-disk") }
        try pipeline.startSelector(minTrainers: 2)
        try pipeline.start("evaluator", "evaluator-1", ["--checkpoints", directories[2]])
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1", ["--checkpoints", directories[0]])
        try pipeline.start("trainer", "trainer-2", ["--checkpoints", directories[1]])
        let summary = try pipeline.finish(within: 90)
        let events = pipeline.events()
        let finished = try checkMemberHistories(events, population: population, maxSteps: maxSteps)
        #expect(finished == population)
        let members = summary["members"] as? [[String: Any]] ?? []
        #expect(members.count == population && members.allSatisfy { ($0["step"] as? Int) == maxSteps }, "\(summary)")
        let exploits = events.filter { $0.topic == .memberExploited }.count
        #expect(exploits > 0, "no exploit: no checkpoint crossed from one trainer to another")
        for (name, directory) in zip(["trainer-1", "trainer-2", "evaluator-1"], directories) {
            #expect(
                pipeline.log(name).contains("checkpoints over ZeroMQ"),
                "\(name) did not use the service:\n\(pipeline.log(name))")
            // Each worker's cache holds what it wrote or fetched, every file whole.
            #expect(Self.checkStore(directory) > 0, "\(name)'s cache is empty")
            #expect(Self.incoming(directory).isEmpty)
        }
        // The selector's store got the members' checkpoints through the service, whole.
        let store = pipeline.run + "/checkpoints"
        #expect(Self.checkStore(store) >= population)
        #expect(Self.incoming(store).isEmpty, "left behind: \(Self.incoming(store))")
    }

    @Test(
        "a worker refuses to use another selector's checkpoint directory as its cache (it would trim that run's checkpoints)",
        .timeLimit(.minutes(3)))
    func anotherRunsStoreIsNoCache() throws {
        let pipeline = try PipelineHarness(
            experiment: """
                name: not-a-cache
                workload: {kind: noop}
                population: 1
                stop: {max_steps: 2}
                hyperparameters:
                  x: {uniform: [0, 1]}
                """, stream: false)
        let foreign = pipeline.directory.file("other-run-checkpoints")
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        _ = try pipeline.directory.write("other-run-checkpoints/.pbt-store", "token-of-another-selector\n")
        try pipeline.startSelector()
        try pipeline.start("trainer", "trainer-1", ["--checkpoints", foreign])
        let trainer = try #require(pipeline.workers["trainer-1"])
        let end = try #require(trainer.finish(within: 30))
        #expect(end.exitCode == 2, "\(end)\n\(trainer.log)")
        #expect(trainer.log.contains("is a selector's checkpoint directory"), "\(trainer.log)")
        #expect(FileManager.default.fileExists(atPath: foreign + "/.pbt-store"))
    }

    @Test(
        "a trainer SIGKILLed mid-upload leaves no half file, and its member is trained again", .timeLimit(.minutes(2)))
    func killedMidUpload() throws {
        let population = 2
        let maxSteps = 3
        // 8 MB checkpoints (8 chunks): an upload takes long enough to be caught in the middle.
        let pipeline = try PipelineHarness(
            experiment: """
                name: upload-killed
                seed: 4
                workload: {kind: noop, checkpoint_bytes: 8000000}
                population: \(population)
                interval: 1
                stop: {max_steps: \(maxSteps)}
                exploit: {strategy: none}
                hyperparameters:
                  x: {uniform: [0, 1]}
                leases: {timeout: 20s, silence: 2s}
                """, stream: false)
        try pipeline.startSelector(minTrainers: 1)
        try pipeline.start("evaluator", "evaluator-1", ["--checkpoints", pipeline.directory.file("evaluator-disk")])
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1", ["--checkpoints", pipeline.directory.file("trainer-1-disk")])
        let store = pipeline.run + "/checkpoints"
        let caught = eventually(within: 60, every: 0.002) { !Self.incoming(store).isEmpty }
        #expect(caught, "no upload was ever seen in progress\n\(pipeline.log("trainer-1"))")
        pipeline.kill("trainer-1")
        try pipeline.start("trainer", "trainer-2", ["--checkpoints", pipeline.directory.file("trainer-2-disk")])
        let summary = try pipeline.finish(within: 90)
        #expect(try checkMemberHistories(pipeline.events(), population: population, maxSteps: maxSteps) == population)
        let members = summary["members"] as? [[String: Any]] ?? []
        #expect(members.count == population && members.allSatisfy { ($0["step"] as? Int) == maxSteps }, "\(summary)")
        #expect(Self.checkStore(store) >= population)
        // The dead trainer's transfer was abandoned: nothing half-written is left, under any name.
        #expect(Self.incoming(store).isEmpty, "left behind: \(Self.incoming(store))")
    }
}
