import Foundation
import PBTCore
import PBTStore
import Testing

/// Population-aware garbage collection: on a long run the store stays small, and no
/// checkpoint anyone may still load is ever deleted.
@Suite("checkpoint garbage collection", .serialized)
struct CheckpointCollectionTests {
    static func experiment(collect: Bool) -> String {
        """
        name: collection
        seed: 4
        workload: {kind: toy}
        population: 4
        interval: 2
        stop: {max_steps: 2400}
        exploit: {strategy: truncation, fraction: 0.25}
        explore: {strategy: noise, std: 0.05}
        hyperparameters:
          h0: {uniform: [0, 1]}
          h1: {uniform: [0, 1]}
        leases: {timeout: 0.5s}
        checkpoints: {garbage_collection: \(collect), interval: 0.2s}
        """
    }

    @Test("the store stays bounded and every checkpoint still needed survives", .timeLimit(.minutes(3)))
    func collectionKeepsWhatIsNeeded() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("collect.yml", Self.experiment(collect: true))
        let (_, run, summary, _) = try finishedRun(file, ["--quiet", "--trainers", "2"], in: directory, within: 150)
        let events = try runEvents(run)
        // Nothing failed: no task found its checkpoint gone.
        #expect(
            !events.contains { $0.topic == .memberFailed },
            "\(events.filter { $0.topic == .memberFailed })")
        try checkMemberHistories(events, population: 4, maxSteps: 2400)
        let collections = events.filter { $0.topic == .checkpointsCollected }
        #expect(!collections.isEmpty, "no collection ran")
        let written = Set(
            events.compactMap { $0.trained?.checkpoint })
        let store = try CheckpointStore(directory: run + "/checkpoints")
        let usage = CheckpointCollector(store: store).usage()
        #expect(written.count > 500)
        // What may remain: what the last grace period wrote (lease 0.5 s + 1 s, collections every
        // 0.2 s), and what is still referenced (4 members, the snapshots of the few steps the
        // population spans, the best ever). Everything older that nobody needs is gone.
        let trained = events.filter { $0.topic == .memberTrained }
        let lastTrained = trained.map(\.time).max() ?? 0
        let recent = Set(trained.filter { $0.time >= lastTrained - 2.5 }.compactMap { $0.trained?.checkpoint })
        #expect(
            usage.files <= recent.count + 200,
            "\(usage.files) files kept; \(recent.count) written in the last 2.5 s, \(written.count) in all")
        // Of what was written before that, only what is still referenced is kept.
        let older = written.subtracting(recent)
        #expect(
            older.count > 1000, "the run was too short to show collection: \(older.count) checkpoints older than 2.5 s")
        let olderKept = older.filter { store.contains($0) }.count
        #expect(olderKept <= 200, "\(olderKept) of \(older.count) checkpoints older than 2.5 s are still there")
        // What the outcome points at is still there and intact.
        let bestEver = try #require((summary["best_ever"] as? [String: Any])?["checkpoint"] as? String)
        #expect(throws: Never.self) { _ = try store.read(bestEver) }
        let last = Dictionary(
            grouping: events.filter { $0.topic == .memberTrained }, by: { $0.member ?? -1 })
        for (member, trained) in last {
            let checkpoint = try #require(trained.last?.trained?.checkpoint)
            #expect(throws: Never.self, "member \(member)'s last checkpoint") { _ = try store.read(checkpoint) }
        }
    }
}
