import PBTCore

/// The JSON form of events: one object a line in `events.jsonl`, and the second frame of
/// each message on the event stream (the first is the topic).
///
/// Every object has `event` (the topic) and `time` (seconds since 1970, UTC); the other
/// fields are listed in the README's event table.
public enum EventJSON {
    public static func encode(_ event: PBTEvent, time: Double) -> String {
        var json = JSONWriter()
        json.object { o in
            o.field("event", event.topic.rawValue)
            o.field("time", (time * 1000).rounded() / 1000)
            switch event {
            case .experimentStarted, .progress, .experimentFinished, .experimentResumed, .checkpointsCollected:
                writeExperimentFields(event, to: &o)
            case .workerJoined, .workerLeft, .workerBenched, .stageStarted, .stageStopped, .frameDropped, .peerRefused:
                writeWorkerFields(event, to: &o)
            case .memberAssigned, .memberTrained, .memberScored, .memberDecided, .memberExploited, .memberFinished:
                writeMemberFields(event, to: &o)
            case .memberFailed, .leaseExpired, .leaseReleased, .resultDropped:
                writeTaskFields(event, to: &o)
            }
        }
        return json.text
    }

    /// The fields of the experiment's own events: its start, progress, end, resumption and collections.
    static func writeExperimentFields(_ event: PBTEvent, to o: inout JSONWriter.ObjectWriter) {
        switch event {
        case .experimentStarted(let name, let population, let hyperparameters):
            o.field("name", name)
            o.field("population", population)
            o.field("hyperparameters", hyperparameters)
        case .progress(let progress):
            o.field("seconds", progress.seconds)
            o.field("steps", progress.steps)
            o.field("steps_per_second", progress.stepsPerSecond)
            o.field("best_member", progress.bestMember)
            o.field("best_score", progress.bestScore)
            o.field("trainers", progress.trainers)
            o.field("busy_trainers", progress.busyTrainers)
            o.field("members_finished", progress.membersFinished)
            o.field("population", progress.population)
            o.field("exploits", progress.exploits)
            if !progress.experiment.isEmpty { o.field("experiment", progress.experiment) }
            if let evaluators = progress.evaluators { o.field("evaluators", evaluators) }
            if let mutators = progress.mutators { o.field("mutators", mutators) }
        case .experimentFinished(let reason, let best, let score, let steps, let seconds):
            o.field("reason", reason.rawValue)
            o.field("best_member", best)
            o.field("best_score", score)
            o.field("steps", steps)
            o.field("seconds", seconds)
        case .experimentResumed(let steps, let done, let leased):
            o.field("steps", steps)
            o.field("members_done", done)
            o.field("leased", leased)
        case .checkpointsCollected(let deleted, let freed, let kept, let keptBytes):
            o.field("deleted", deleted)
            o.field("freed_bytes", Int(freed))
            o.field("kept", kept)
            o.field("kept_bytes", Int(keptBytes))
        default:
            break
        }
    }

    /// The fields of the events about workers and stage processes.
    static func writeWorkerFields(_ event: PBTEvent, to o: inout JSONWriter.ObjectWriter) {
        switch event {
        case .workerJoined(let role, let worker):
            o.field("role", role.description)
            o.field("worker", worker)
        case .workerLeft(let role, let worker, let reason):
            o.field("role", role.description)
            o.field("worker", worker)
            o.field("reason", reason)
        case .workerBenched(let role, let worker, let failures, let seconds):
            o.field("role", role.description)
            o.field("worker", worker)
            o.field("failures", failures)
            o.field("seconds", seconds)
        case .stageStarted(let stage, let worker, let pid):
            o.field("stage", stage)
            o.field("worker", worker)
            o.field("pid", pid)
        case .stageStopped(let stage, let worker, let reason):
            o.field("stage", stage)
            o.field("worker", worker)
            o.field("reason", reason)
        case .frameDropped(let stage, let worker, let reason, let total, let count):
            o.field("stage", stage)
            o.field("worker", worker)
            o.field("reason", reason)
            o.field("total", total)
            o.field("count", count)
        case .peerRefused(let stage, let address, let key, let reason, let total):
            o.field("stage", stage)
            o.field("address", address)
            o.field("key", key)
            o.field("reason", reason)
            o.field("total", total)
        default:
            break
        }
    }

    /// The fields of a member's way through the pipeline: assigned, trained, scored, decided, exploited, finished.
    static func writeMemberFields(_ event: PBTEvent, to o: inout JSONWriter.ObjectWriter) {
        switch event {
        case .memberAssigned(let member, let version, let role, let worker, let step):
            o.field("member", member)
            o.field("version", version)
            o.field("role", role.description)
            o.field("worker", worker)
            o.field("step", step)
        case .memberTrained(let trained):
            o.field("member", trained.member)
            o.field("version", trained.version)
            o.field("trainer", trained.trainer)
            o.field("from_step", trained.fromStep)
            o.field("step", trained.step)
            o.field("seconds", trained.seconds)
            o.field("checkpoint", trained.checkpoint)
            o.field("hyperparameters", trained.hyperparameters)
            o.field("metrics", trained.metrics)
            o.field("interrupted", trained.interrupted)
            o.field("previous_score", trained.previousScore)
        case .memberScored(let member, let version, let step, let score, let evaluator):
            o.field("member", member)
            o.field("version", version)
            o.field("step", step)
            o.field("score", score)
            o.field("evaluator", evaluator)
        case .memberDecided(let member, let step, let comparedAt, let decision, let cohort, let rank):
            o.field("member", member)
            o.field("step", step)
            o.field("compared_at", comparedAt)
            o.field("decision", decision.name)
            switch decision {
            case .exploit(let donor), .capped(let donor): o.field("donor", donor)
            case .keep, .notEnoughData: break
            }
            o.field("cohort", cohort)
            o.field("rank", rank)
        case .memberExploited(let exploited):
            o.field("member", exploited.member)
            o.field("donor", exploited.donor)
            o.field("step", exploited.step)
            o.field("checkpoint", exploited.checkpoint)
            o.field("old", exploited.old)
            o.field("copied", exploited.copied)
            o.field("new", exploited.new)
            o.object("explore") { e in
                for (name, change) in exploited.changes.sorted(by: { $0.key < $1.key }) {
                    e.object(name) { c in
                        c.field("from", change.from)
                        c.field("to", change.to)
                        c.field("operation", change.operation)
                    }
                }
            }
            o.field("mutator", exploited.mutator)
        case .memberFinished(let member, let step, let score):
            o.field("member", member)
            o.field("step", step)
            o.field("score", score)
        default:
            break
        }
    }

    /// The fields of the events about tasks that went wrong: failures, leases, dropped results.
    static func writeTaskFields(_ event: PBTEvent, to o: inout JSONWriter.ObjectWriter) {
        switch event {
        case .memberFailed(let member, let version, let worker, let reason, let givenUp):
            o.field("member", member)
            o.field("version", version)
            o.field("worker", worker)
            o.field("reason", reason)
            o.field("given_up", givenUp)
        case .leaseExpired(let member, let version, let role, let worker):
            o.field("member", member)
            o.field("version", version)
            o.field("role", role.description)
            o.field("worker", worker)
        case .leaseReleased(let member, let version, let role, let worker, let reason):
            o.field("member", member)
            o.field("version", version)
            o.field("role", role.description)
            o.field("worker", worker)
            o.field("reason", reason)
        case .resultDropped(let member, let version, let worker, let reason, let detail, let count, let total):
            o.field("member", member)
            o.field("version", version)
            o.field("worker", worker)
            o.field("reason", reason)
            o.field("detail", detail)
            o.field("count", count)
            o.field("total", total)
        default:
            break
        }
    }

}

/// The JSON form of `summary.json`.
public enum SummaryJSON {
    public static func encode(
        _ summary: ExperimentSummary, experiment name: String, extra: (inout JSONWriter.ObjectWriter) -> Void = { _ in }
    ) -> String {
        var json = JSONWriter()
        json.object { o in
            o.field("experiment", name)
            o.field("reason", summary.reason.rawValue)
            o.field("seconds", summary.seconds)
            o.field("steps", summary.steps)
            o.field("steps_per_second", summary.seconds > 0 ? Double(summary.steps) / summary.seconds : 0)
            o.field("exploits", summary.exploits)
            if let best = summary.best {
                o.object("best") { b in
                    b.field("member", best.member)
                    b.field("score", best.score)
                    b.field("step", best.step)
                    b.field("hyperparameters", best.hyperparameters)
                    b.field("metrics", best.metrics)
                    b.array("schedule", best.schedule) { s, entry in
                        s.field("from_step", entry.fromStep)
                        s.field("to_step", entry.toStep)
                        s.field("trained_by", entry.member)
                        s.field("hyperparameters", entry.hyperparameters)
                    }
                    b.array("lineage", best.lineage) { l, entry in
                        l.field("member", entry.member)
                        l.field("from_step", entry.fromStep)
                        l.field("to_step", entry.toStep)
                    }
                }
            } else {
                o.null("best")
            }
            if let bestEver = summary.bestEver {
                o.object("best_ever") { b in
                    b.field("member", bestEver.member)
                    b.field("step", bestEver.step)
                    b.field("score", bestEver.score)
                    b.field("checkpoint", bestEver.checkpoint)
                    b.field("hyperparameters", bestEver.hyperparameters)
                    b.field("metrics", bestEver.metrics)
                }
            }
            o.array("members", summary.members) { m, member in
                m.field("member", member.member)
                m.field("step", member.step)
                m.field("score", member.score)
                m.field("hyperparameters", member.hyperparameters)
                m.field("exploits", member.exploits)
                m.field("failed", member.failed)
                m.field("metrics", member.metrics)
            }
            if let firstFailure = summary.firstFailure { o.field("first_failure", firstFailure) }
            extra(&o)
        }
        return json.text
    }
}
