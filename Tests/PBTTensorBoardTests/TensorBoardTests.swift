import Foundation
import PBTCore
import PBTMonitor
import PBTTensorBoard
import PBTTensorBoardProto
import PBTWire
import SwiftProtobuf
import Testing

@Suite("CRC-32C and TFRecord framing")
struct TFRecordTests {
    @Test func crc32cMatchesTheStandardCheckValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720, B.4: 32 bytes of zeros, of 0xFF, and counting up.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    }

    @Test func theMaskIsTensorFlows() {
        // TensorFlow's crc32c::Mask: rotate right by 15, add 0xa282ead8.
        #expect(CRC32C.masked(0) == 0xA282_EAD8)
        #expect(CRC32C.masked(0xE306_9283) == ((0xE306_9283 >> 15) | (0xE306_9283 << 17 & 0xFFFF_FFFF)) &+ 0xA282_EAD8)
    }

    @Test func aRecordIsLengthChecksumDataChecksum() throws {
        let record = TFRecord.frame(Array("hello".utf8))
        #expect(record.count == 8 + 4 + 5 + 4)
        #expect(Array(record[0..<8]) == [5, 0, 0, 0, 0, 0, 0, 0])
        let dataCRC = CRC32C.masked(CRC32C.checksum(Array("hello".utf8)))
        #expect(
            Array(record[17..<21]) == [
                UInt8(dataCRC & 0xFF), UInt8(dataCRC >> 8 & 0xFF), UInt8(dataCRC >> 16 & 0xFF), UInt8(dataCRC >> 24),
            ])
        #expect(
            try TFRecord.records(in: record + TFRecord.frame([]) + TFRecord.frame([1, 2])) == [
                Array("hello".utf8), [], [1, 2],
            ])
    }

    @Test func aRecordCutShortEndsTheListAndABadChecksumIsAnError() throws {
        let two = TFRecord.frame([1, 2, 3]) + TFRecord.frame([4, 5, 6])
        #expect(try TFRecord.records(in: Array(two.dropLast(2))) == [[1, 2, 3]])
        var damaged = two
        damaged[13] ^= 0xFF  // a data byte of the first record
        #expect(throws: TFRecordError.self) { try TFRecord.records(in: damaged) }
    }
}

/// Events as the selector writes them.
enum Line {
    static func event(_ topic: String, _ time: Double, _ fields: String) -> TimedEvent {
        // The fixtures are literals of this file; a broken one fails the test that uses it.
        (try? EventJSON.decode("{\"event\":\"\(topic)\",\"time\":\(time),\(fields)}"))
            ?? TimedEvent(time: 0, event: .stageStarted(stage: "broken fixture", worker: "", pid: 0))
    }

    static let started = event(
        "experiment.started", 1, "\"name\":\"toy\",\"population\":12,\"hyperparameters\":[\"lr\",\"net\"]")

    static func trained(_ member: Int, from: Int, to: Int, lr: Double, time: Double = 2) -> TimedEvent {
        event(
            "member.trained", time,
            "\"member\":\(member),\"version\":1,\"trainer\":\"trainer-1\",\"from_step\":\(from),\"step\":\(to),\"seconds\":0.1,\"checkpoint\":\"c\",\"hyperparameters\":{\"lr\":\(lr),\"net\":\"wide\"},\"metrics\":{\"loss\":0.25,\"accuracy\":0.875},\"interrupted\":false,\"previous_score\":null"
        )
    }

    static func scored(_ member: Int, step: Int, score: Double) -> TimedEvent {
        event(
            "member.scored", 3,
            "\"member\":\(member),\"version\":1,\"step\":\(step),\"score\":\(score),\"evaluator\":\"evaluator-1\"")
    }
}

/// The scalar values of records: run → tag → [(step, value)].
func scalars(_ records: [TensorBoardRecord]) -> [String: [String: [(Int, Float)]]] {
    var found: [String: [String: [(Int, Float)]]] = [:]
    for record in records {
        for value in record.event.summary.value
        where value.tensor.dtype == .dtFloat && value.tensor.tensorShape.dim.isEmpty {
            found[record.run, default: [:]][value.tag, default: []].append(
                (Int(record.event.step), value.tensor.floatVal.first ?? .nan))
        }
    }
    return found
}

@Suite("events as TensorBoard runs")
struct TensorBoardProjectionTests {
    @Test func aMemberIsARunNamedToSortInOrder() {
        var projection = TensorBoardProjection()
        #expect(projection.run(member: 7) == "member-007")
        _ = projection.apply(
            Line.event("experiment.started", 1, "\"name\":\"big\",\"population\":12000,\"hyperparameters\":[]"))
        #expect(projection.run(member: 7) == "member-00007")
        #expect(projection.run(member: 11999) == "member-11999")
    }

    @Test func aMemberPastThePopulationHasNoRun() {
        var projection = TensorBoardProjection()
        _ = projection.apply(
            Line.event("experiment.started", 1, "\"name\":\"small\",\"population\":4,\"hyperparameters\":[]"))
        #expect(projection.apply(Line.scored(999_999, step: 1, score: 0.5)).isEmpty)
        #expect(!projection.apply(Line.scored(3, step: 1, score: 0.5)).isEmpty)
    }

    @Test func scoresMetricsAndTheScheduleAreScalarsAtTheirSteps() {
        var projection = TensorBoardProjection()
        var records = projection.apply(Line.started)
        records += projection.apply(Line.trained(3, from: 0, to: 4, lr: 0.01))
        records += projection.apply(Line.scored(3, step: 4, score: 0.123456789012345))
        records += projection.apply(Line.trained(3, from: 4, to: 8, lr: 0.012))
        let found = scalars(records)
        #expect(found["member-003"]?["score"]?.map(\.0) == [4])
        #expect(found["member-003"]?["score"]?.map(\.1) == [Float(0.123456789012345)])
        #expect(found["member-003"]?["hyperparameters/lr"]?.map(\.0) == [0, 4])
        #expect(found["member-003"]?["hyperparameters/lr"]?.map(\.1) == [0.01, 0.012])
        #expect(found["member-003"]?["hyperparameters/net"] == nil)  // a label is not a scalar
        #expect(found["member-003"]?["metrics/loss"]?.map(\.0) == [4, 8])
        #expect(found["member-003"]?["metrics/accuracy"]?.map(\.1) == [0.875, 0.875])
    }

    @Test func onlyATagsFirstValueInARunCarriesItsMetadata() {
        var projection = TensorBoardProjection()
        let first = projection.apply(Line.scored(1, step: 1, score: 0.5))
        let second = projection.apply(Line.scored(1, step: 2, score: 0.6))
        let other = projection.apply(Line.scored(2, step: 1, score: 0.7))
        let firstValue = first.first?.event.summary.value.first
        #expect(firstValue?.metadata.pluginData.pluginName == "scalars")
        #expect(firstValue?.metadata.dataClass == .scalar)
        #expect(second.first?.event.summary.value.first?.hasMetadata == false)
        #expect(other.first?.event.summary.value.first?.hasMetadata == true)
    }

    @Test func theHParamsExperimentAndEachMembersSessionAreWrittenOnce() throws {
        var projection = TensorBoardProjection()
        var records = projection.apply(Line.started)
        records += projection.apply(Line.trained(0, from: 0, to: 1, lr: 0.01))
        records += projection.apply(Line.trained(1, from: 0, to: 1, lr: 0.02))
        records += projection.apply(Line.trained(0, from: 1, to: 2, lr: 0.03))
        records += projection.apply(Line.event("member.finished", 4, "\"member\":0,\"step\":2,\"score\":0.9"))
        records += projection.apply(
            Line.event(
                "member.failed", 4, "\"member\":1,\"version\":2,\"worker\":\"t\",\"reason\":\"x\",\"given_up\":true"))
        func plugin(_ tag: String) throws -> [(String, Tensorboard_Hparams_HParamsPluginData)] {
            try records.flatMap { record in
                try record.event.summary.value.filter { $0.tag == tag }.map {
                    #expect($0.metadata.pluginData.pluginName == "hparams")
                    return (
                        record.run,
                        try Tensorboard_Hparams_HParamsPluginData(serializedBytes: $0.metadata.pluginData.content)
                    )
                }
            }
        }
        let experiments = try plugin("_hparams_/experiment")
        #expect(experiments.count == 1)
        #expect(experiments.first?.0 == "")
        let experiment = try #require(experiments.first?.1.experiment)
        #expect(experiment.name == "toy")
        #expect(experiment.hparamInfos.map(\.name) == ["lr", "net"])
        #expect(experiment.hparamInfos.map(\.type) == [.float64, .string])
        #expect(experiment.metricInfos.map(\.name.tag) == ["score", "metrics/accuracy", "metrics/loss"])
        let sessions = try plugin("_hparams_/session_start_info")
        #expect(sessions.map(\.0) == ["member-000", "member-001"])
        #expect(sessions.first?.1.sessionStartInfo.hparams["lr"]?.numberValue == 0.01)
        #expect(sessions.first?.1.sessionStartInfo.hparams["net"]?.stringValue == "wide")
        #expect(sessions.first?.1.sessionStartInfo.groupName == "member-000")
        let ends = try plugin("_hparams_/session_end_info")
        #expect(ends.map(\.0) == ["member-000", "member-001"])
        #expect(ends.map(\.1.sessionEndInfo.status) == [.success, .failure])
    }

    @Test func anExploitIsATextSummaryOfWhatChanged() throws {
        var projection = TensorBoardProjection()
        let records = projection.apply(
            Line.event(
                "member.exploited", 5,
                "\"member\":4,\"donor\":9,\"step\":40,\"checkpoint\":\"c\",\"old\":{\"lr\":0.1},\"copied\":{\"lr\":0.02},\"new\":{\"lr\":0.024},\"explore\":{\"lr\":{\"from\":0.02,\"to\":0.024,\"operation\":\"×1.2\"}},\"mutator\":\"mutator-1\""
            ))
        let value = try #require(records.first?.event.summary.value.first)
        #expect(records.first?.run == "member-004")
        #expect(records.first?.event.step == 40)
        #expect(value.tag == "exploits")
        #expect(value.metadata.pluginData.pluginName == "text")
        #expect(value.tensor.dtype == .dtString)
        let text = String(decoding: try #require(value.tensor.stringVal.first), as: UTF8.self)
        #expect(text.contains("member 9"))
        #expect(text.contains("| lr | 0.1 | 0.02 | 0.024 | ×1.2 |"))
    }

    @Test func progressIsTheExperimentsRunAtTheStepsTrained() {
        var projection = TensorBoardProjection()
        let records = projection.apply(
            Line.event(
                "experiment.progress", 9,
                "\"experiment\":\"toy\",\"seconds\":3,\"steps\":1200,\"steps_per_second\":400.5,\"best_member\":2,\"best_score\":0.9,\"trainers\":2,\"busy_trainers\":2,\"members_finished\":0,\"population\":4,\"exploits\":0"
            ))
        let found = scalars(records)
        #expect(found[""]?["experiment/steps_per_second"]?.first?.0 == 1200)
        #expect(found[""]?["experiment/steps_per_second"]?.first?.1 == 400.5)
        #expect(found[""]?["experiment/best_score"]?.first?.1 == 0.9)
    }

    @Test func otherTopicsMakeNothing() throws {
        var projection = TensorBoardProjection()
        #expect(
            projection.apply(
                Line.event(
                    "member.assigned", 1, "\"member\":1,\"version\":1,\"role\":\"trainer\",\"worker\":\"t\",\"step\":0")
            ).isEmpty)
        #expect(
            projection.apply(
                Line.event(
                    "member.failed", 1,
                    "\"member\":1,\"version\":2,\"worker\":\"t\",\"reason\":\"boom\",\"given_up\":false")
            ).isEmpty)
        // An incomplete event never reaches the projection: the contract refuses it.
        #expect(throws: EventDecodingError.self) {
            try EventJSON.decode(#"{"event":"member.scored","time":1,"member":1,"step":"four","score":1}"#)
        }
    }
}

@Suite("TensorBoard files")
struct TensorBoardDirectoryTests {
    func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "pbt-tb-\(UUID().uuidString)"
        return path
    }

    func events(in file: String) throws -> [Tensorboard_Event] {
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: file)))
        return try TFRecord.records(in: bytes).map { try Tensorboard_Event(serializedBytes: $0) }
    }

    @Test func eachRunHasAFileThatStartsWithItsVersionAndEndsOnARecord() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = try TensorBoardDirectory(path: path)
        var projection = TensorBoardProjection()
        directory.add(projection.apply(Line.started))
        directory.add(projection.apply(Line.trained(2, from: 0, to: 1, lr: 0.5)))
        directory.add(projection.apply(Line.scored(2, step: 1, score: 0.25)))
        #expect(directory.waitingBytes > 0)
        try directory.flush()
        #expect(directory.waitingBytes == 0)
        #expect(directory.runs == ["", "member-002"])
        let member = try events(in: try #require(directory.file(of: "member-002")))
        #expect(member.first?.fileVersion == "brain.Event:2")
        #expect(member.last?.summary.value.first?.tag == "score")
        #expect(try #require(directory.file(of: "member-002")).hasPrefix(path + "/member-002/events.out.tfevents."))
        directory.add(projection.apply(Line.scored(2, step: 2, score: 0.5)))
        try directory.flush()
        #expect(try events(in: try #require(directory.file(of: "member-002"))).count == member.count + 1)
    }

    @Test func aSecondWriterAddsFilesBesideTheFirstsAndAConversionRefusesThem() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        for score in [0.25, 0.5] {
            let directory = try TensorBoardDirectory(path: path)
            var projection = TensorBoardProjection()
            directory.add(projection.apply(Line.scored(1, step: 1, score: score)))
            try directory.flush()
        }
        let files = TensorBoardDirectory.eventFiles(under: path)
        #expect(files.count == 2)
        for file in files { #expect(try events(in: file).count == 2) }
        let log = path + "/events.jsonl"
        try "{\"event\":\"member.scored\",\"time\":1,\"member\":1,\"step\":1,\"score\":1}\n".write(
            toFile: log, atomically: true, encoding: .utf8)
        #expect(throws: TensorBoardError.self) { try EventLogConversion.convert(events: log, output: path) }
    }

    @Test func aConversionReadsEveryLineAndCountsTheBrokenOnes() throws {
        let path = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var lines = [
            "{\"event\":\"experiment.started\",\"time\":1,\"name\":\"t\",\"population\":2,\"hyperparameters\":[\"lr\"]}"
        ]
        for step in 1...1000 {
            lines.append(
                "{\"event\":\"member.scored\",\"time\":\(step),\"member\":\(step % 2),\"version\":1,\"step\":\(step),\"score\":\(Double(step) / 1000),\"evaluator\":\"e\"}"
            )
        }
        // 9 MiB: no event.
        lines.insert("{\"event\":\"member.scored\",\"x\":\"" + String(repeating: "x", count: 9 << 20) + "\"}", at: 500)
        lines.append("{\"event\":\"member.scored\",\"ti")  // cut short by a crash
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: path + "/events.jsonl", atomically: true, encoding: .utf8)
        let outcome = try EventLogConversion.convert(events: path + "/events.jsonl", output: path + "/tb")
        #expect(outcome.events == 1001)
        #expect(outcome.unreadable == 2)
        #expect(outcome.runs == 2)
        let member = try events(
            in: try #require(TensorBoardDirectory.eventFiles(under: path + "/tb").first { $0.contains("member-001") }))
        #expect(member.count == 501)
        #expect(member.last?.step == 999)
        #expect(member.last?.summary.value.first?.tensor.floatVal == [0.999])
    }
}
