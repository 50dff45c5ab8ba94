import Foundation
import PBTCore
import PBTMonitor
import PBTTensorBoardProto
import PBTWire
import SwiftProtobuf

/// One TensorBoard event for one run (a directory under the log directory; "" is the log
/// directory itself).
public struct TensorBoardRecord: Sendable {
    public var run: String
    public var event: Tensorboard_Event

    public init(run: String, event: Tensorboard_Event) {
        self.run = run
        self.event = event
    }
}

/// The run's events as TensorBoard sees an experiment: one TensorBoard run a member, with
///
///     score                  the evaluator's score, at the step it was measured
///     metrics/NAME           what the trainer reported, at the step it trained to
///     hyperparameters/NAME   the value the member trained with from that step on (numbers
///                            only; a choice's label is in the HParams table): the schedule
///     exploits               text: whose weights the member copied, and what explore did
///     _hparams_/…            the HParams plugin: the member's first hyperparameters, its end
///
/// and at the log directory's top the HParams experiment (every hyperparameter, `score` and
/// the trainers' metrics) and `experiment/…` scalars from `experiment.progress`, at the
/// member-steps trained so far.
///
/// Pure: events in, records out; the same events give the same records, whether they come
/// from `events.jsonl` or live from the stream.
public struct TensorBoardProjection: Sendable {
    /// The experiment's name and population size (from `experiment.started`).
    public private(set) var experiment: String?
    public private(set) var population: Int?
    /// Members whose HParams session has started (their first `member.trained`).
    private var sessions: Set<Int> = []
    /// Whether the HParams experiment has been written (at the first `member.trained`, which
    /// is when the hyperparameters' types and the metrics' names are known).
    private var experimentWritten = false
    private var hyperparameterNames: [String] = []
    /// Tags already written a run (`run \0 tag`): the first value of a tag carries its metadata.
    private var tagged: Set<String> = []

    public init() {}

    /// A member's run: `member-007` (digits enough for the population, at least three).
    public func run(member: Int) -> String {
        let width = max(3, String(max((population ?? 0) - 1, 0)).count)
        let digits = String(member)
        return "member-" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The records one event makes (none for most topics).
    public mutating func apply(_ timed: TimedEvent) -> [TensorBoardRecord] {
        let time = timed.time
        // A member at or past the population has no run (anyone may publish to the stream; a
        // dropped result may name any member and makes no record anyway).
        if let population, timed.event.namesMemberOutside(population: population) { return [] }
        switch timed.event {
        case .experimentStarted(let name, let population, let hyperparameters):
            experiment = name
            self.population = population
            hyperparameterNames = hyperparameters
            return []
        case .progress(let progress):
            var values: [Tensorboard_Summary.Value] = []
            for (value, tag) in [
                (progress.stepsPerSecond, "experiment/steps_per_second"), (progress.bestScore, "experiment/best_score"),
                (Double(progress.busyTrainers), "experiment/busy_trainers"),
                (Double(progress.membersFinished), "experiment/members_finished"),
            ] {
                if let value, !value.isNaN { values.append(scalar(run: "", tag, value)) }
            }
            return values.isEmpty
                ? []
                : [TensorBoardRecord(run: "", event: Summaries.event(time: time, step: progress.steps, values: values))]
        case .memberTrained(let trained):
            return self.trained(trained, at: time)
        case .memberScored(let member, _, let step, let score, _):
            let run = run(member: member)
            return [
                TensorBoardRecord(
                    run: run, event: Summaries.event(time: time, step: step, values: [scalar(run: run, "score", score)])
                )
            ]
        case .memberExploited(let exploited):
            return self.exploited(exploited, at: time)
        case .memberFinished(let member, let step, _):
            return [sessionEnd(member: member, status: .success, time: time, step: step)]
        case .memberFailed(let member, _, _, _, let givenUp):
            return givenUp ? [sessionEnd(member: member, status: .failure, time: time, step: 0)] : []
        default:
            return []
        }
    }

    private mutating func trained(_ event: PBTEvent.MemberTrained, at time: Double) -> [TensorBoardRecord] {
        let run = run(member: event.member)
        let hyperparameters = event.hyperparameters.jsonValues
        let metrics = event.metrics.filter { !$0.value.isNaN }
        var records: [TensorBoardRecord] = []
        if !experimentWritten {
            experimentWritten = true
            records.append(
                experimentRecord(time: time, hyperparameters: hyperparameters, metrics: event.metrics.keys.sorted()))
        }
        if sessions.insert(event.member).inserted {
            var start = Tensorboard_Hparams_SessionStartInfo()
            start.hparams = hyperparameters.compactMapValues(Self.protobufValue)
            start.groupName = run
            start.startTimeSecs = time
            var data = Tensorboard_Hparams_HParamsPluginData()
            data.sessionStartInfo = start
            records.append(
                TensorBoardRecord(
                    run: run,
                    event: Summaries.event(
                        time: time, step: event.fromStep,
                        values: [Summaries.hparams(Summaries.HParamsTag.sessionStart, data)])))
        }
        let schedule = hyperparameters.keys.sorted().compactMap { name in
            hyperparameters[name]?.double.flatMap { $0.isNaN ? nil : scalar(run: run, "hyperparameters/" + name, $0) }
        }
        if !schedule.isEmpty {
            records.append(
                TensorBoardRecord(run: run, event: Summaries.event(time: time, step: event.fromStep, values: schedule)))
        }
        let measured = metrics.keys.sorted().compactMap { name in
            metrics[name].map { scalar(run: run, "metrics/" + name, $0) }
        }
        if !measured.isEmpty {
            records.append(
                TensorBoardRecord(run: run, event: Summaries.event(time: time, step: event.step, values: measured)))
        }
        return records
    }

    private mutating func exploited(_ event: PBTEvent.MemberExploited, at time: Double) -> [TensorBoardRecord] {
        let run = run(member: event.member)
        let old = event.old.jsonValues
        let copied = event.copied.jsonValues
        let new = event.new.jsonValues
        var text = "**Copied the weights of member \(event.donor)** at step \(event.step)"
        if !event.mutator.isEmpty { text += " (explored by \(event.mutator))" }
        text += ".\n\n| hyperparameter | before | copied | after | explore |\n|---|---|---|---|---|\n"
        for name in Set(old.keys).union(copied.keys).union(new.keys).sorted() {
            let operation = event.changes[name]?.operation ?? "-"
            text +=
                "| \(name) | \(old[name]?.shown ?? "-") | \(copied[name]?.shown ?? "-") | \(new[name]?.shown ?? "-") | \(operation) |\n"
        }
        let tag = "exploits"
        let value = Summaries.text(tag, text, withMetadata: tagged.insert(run + "\u{0}" + tag).inserted)
        return [TensorBoardRecord(run: run, event: Summaries.event(time: time, step: event.step, values: [value]))]
    }

    private func experimentRecord(
        time: Double, hyperparameters: [String: JSONValue], metrics: [String]
    ) -> TensorBoardRecord {
        var experiment = Tensorboard_Hparams_Experiment()
        experiment.name = self.experiment ?? ""
        experiment.timeCreatedSecs = time
        let names = hyperparameterNames.isEmpty ? hyperparameters.keys.sorted() : hyperparameterNames
        experiment.hparamInfos = names.map { name in
            var info = Tensorboard_Hparams_HParamInfo()
            info.name = name
            info.type = hyperparameters[name]?.string != nil ? .string : .float64
            return info
        }
        experiment.metricInfos = (["score"] + metrics.map { "metrics/" + $0 }).map { tag in
            var info = Tensorboard_Hparams_MetricInfo()
            info.name.tag = tag
            info.displayName = tag
            return info
        }
        var data = Tensorboard_Hparams_HParamsPluginData()
        data.experiment = experiment
        return TensorBoardRecord(
            run: "",
            event: Summaries.event(
                time: time, step: 0, values: [Summaries.hparams(Summaries.HParamsTag.experiment, data)]))
    }

    private func sessionEnd(
        member: Int, status: Tensorboard_Hparams_Status, time: Double, step: Int
    ) -> TensorBoardRecord {
        var end = Tensorboard_Hparams_SessionEndInfo()
        end.status = status
        end.endTimeSecs = time
        var data = Tensorboard_Hparams_HParamsPluginData()
        data.sessionEndInfo = end
        return TensorBoardRecord(
            run: run(member: member),
            event: Summaries.event(
                time: time, step: step, values: [Summaries.hparams(Summaries.HParamsTag.sessionEnd, data)]))
    }

    /// A scalar of `run`, with its metadata the first time the run has the tag.
    private mutating func scalar(run: String, _ tag: String, _ value: Double) -> Tensorboard_Summary.Value {
        Summaries.scalar(tag, value, withMetadata: tagged.insert(run + "\u{0}" + tag).inserted)
    }

    /// A hyperparameter's value as the HParams plugin holds it: a number or a string.
    static func protobufValue(_ value: JSONValue) -> Google_Protobuf_Value? {
        if let number = value.double { return Google_Protobuf_Value(numberValue: number) }
        if let text = value.string { return Google_Protobuf_Value(stringValue: text) }
        if let flag = value.bool { return Google_Protobuf_Value(boolValue: flag) }
        return nil
    }
}
